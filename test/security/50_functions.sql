-- Who may execute what: every function of schema pulse against the table in docs/security.md
-- (a new function, a changed grant or a SECURITY DEFINER flag fails here until the page says
-- so), every SECURITY DEFINER function pins its search_path and is one the suite attacks, and a
-- role with no grant cannot execute any internal function.
\ir lib.sql
SELECT plan(8);

CREATE TEMP TABLE documented (line text);
\copy documented FROM PROGRAM 'sed -n "/<!-- function-acl:begin -->/,/<!-- function-acl:end -->/p" docs/security.md | grep "^| .pulse\\."'
CREATE TEMP TABLE doc AS
SELECT trim(both '` ' FROM split_part(line, '|', 2)) AS fn, trim(split_part(line, '|', 3)) AS who,
       trim(split_part(line, '|', 4)) AS runs_as
  FROM documented;

SET search_path = pulse, pg_catalog;
CREATE TEMP TABLE actual AS
SELECT 'pulse.' || p.oid::regprocedure::text AS fn,
       coalesce((SELECT string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                            WHEN r.rolname = 'pulse_admin' THEN 'pulse_admin'
                                            WHEN EXISTS (SELECT FROM pulse.projects pr WHERE pr.reader_role = r.rolname)
                                              THEN 'project readers'
                                            ELSE r.rolname END, ', ')
                 FROM aclexplode(p.proacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
                WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner), 'nobody') AS who,
       CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END AS runs_as
  FROM pg_proc p WHERE p.pronamespace = 'pulse'::regnamespace;
RESET search_path;

SELECT cmp_ok((SELECT count(*)::int FROM doc), '>', 90, 'docs/security.md lists the functions of schema pulse');
SELECT is((SELECT string_agg(a.fn, ', ' ORDER BY a.fn) FROM actual a WHERE NOT EXISTS (SELECT FROM doc d WHERE d.fn = a.fn)),
          NULL, 'every function of schema pulse is in the table of docs/security.md');
SELECT is((SELECT string_agg(d.fn, ', ' ORDER BY d.fn) FROM doc d WHERE NOT EXISTS (SELECT FROM actual a WHERE a.fn = d.fn)),
          NULL, 'every function in the table exists');
SELECT is((SELECT string_agg(format('%s: documented %s / %s, actual %s / %s', a.fn, d.who, d.runs_as, a.who, a.runs_as), '; ' ORDER BY a.fn)
             FROM actual a JOIN doc d USING (fn) WHERE (a.who, a.runs_as) IS DISTINCT FROM (d.who, d.runs_as)),
          NULL, 'who may execute each function, and as whom it runs, is as documented');

-- every SECURITY DEFINER function pins search_path and is attacked by this suite (a new one
-- must be added to a test file and here)
SELECT is((SELECT string_agg(p.proname, ', ' ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'pulse'::regnamespace AND p.prosecdef
              AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pulse, pg_temp'], false)),
          NULL, 'every SECURITY DEFINER function pins search_path = pg_catalog, pulse, pg_temp');
SELECT is((SELECT string_agg(DISTINCT p.proname, ', ' ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'pulse'::regnamespace AND p.prosecdef),
          '_kafka_set, _view_recompute, _view_watermark, _views_invalidate, alias, alter_cohort, alter_view, collect, collect_batch, '
          'create_cohort, create_collection, create_project, create_view, drop_cohort, drop_project, drop_view, erase_person, identify, '
          'kafka_alter, kafka_subscribe, partition_collection, person_update, refresh_cohort, refresh_view, register_avro_schema, '
          'replay_dead_letters, set_enrichment, set_event_spec, set_project_defaults, set_retention, set_track_persons',
          'the SECURITY DEFINER functions are the ones test/security attacks');

-- a login role with no grant at all reaches no internal function (for example the Avro schema
-- check, which a crafted schema once made allocate gigabytes)
SELECT is(sec.value_as('sec_nobody', $$SELECT string_agg(p.proname, ', ') FROM pg_proc p
            WHERE p.pronamespace = 'pulse'::regnamespace AND p.proname LIKE '\_%'
              AND has_function_privilege(p.oid, 'EXECUTE')$$), NULL,
          'a role without project or admin roles can execute no internal function');

-- the upgrade scripts' escape from the extension-script state runs nowhere else, not even for a
-- superuser
SELECT throws_ok($$SELECT pulse._outside_extension_script('CREATE TABLE public.escaped ()')$$, '55000',
                 'pulse._outside_extension_script runs only inside pg_pulse''s own extension scripts',
                 'pulse._outside_extension_script refuses to run outside pg_pulse''s extension scripts');

SELECT * FROM finish();
SELECT sec.disconnect_all();
