-- A hostile writer of project sec_p against materialized views: the SECURITY DEFINER functions
-- (create_view, refresh_view, alter_view, drop_view, _view_watermark, _view_recompute) and every
-- read path (cache, incremental, realtime with and without unmerged rows, realtime after a
-- DELETE, the hidden objects). The superuser of this file reads everything the writer made.
-- The project's reader cannot see or run the hidden objects (internal schema _pulse_sec_p).
\ir lib.sql
DROP SCHEMA IF EXISTS sec_w_own CASCADE;
CREATE SCHEMA sec_w_own AUTHORIZATION sec_w;
-- a function the writer may use (owned by a superuser, hence trusted) that reveals which role
-- evaluates it: declared IMMUTABLE so views accept it
CREATE OR REPLACE FUNCTION sec.who(anyelement) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT current_user::text $$;
GRANT EXECUTE ON FUNCTION sec.who(anyelement) TO PUBLIC;
DROP SCHEMA IF EXISTS sec_open CASCADE;
CREATE SCHEMA sec_open;
GRANT USAGE, CREATE ON SCHEMA sec_open TO PUBLIC;
CREATE FUNCTION sec_open.pfn(anyelement) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
SELECT plan(88);

SELECT sec.as_role('sec_w', $$
  CREATE FUNCTION pg_temp.evil(double precision) RETURNS double precision LANGUAGE plpgsql IMMUTABLE AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('temp function', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN $1;
  END $f$;
  CREATE FUNCTION pg_temp.evil_text(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('temp text function', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN $1;
  END $f$;
  CREATE DOMAIN pg_temp.evil_dom AS double precision CHECK (pg_temp.evil(VALUE) IS NOT NULL);
  CREATE OPERATOR pg_temp.=~= (LEFTARG = double precision, RIGHTARG = double precision, FUNCTION = pg_catalog.float8pl);
  CREATE FUNCTION pg_temp.plus(double precision, double precision) RETURNS double precision LANGUAGE plpgsql IMMUTABLE AS $f$
  BEGIN RETURN pg_temp.evil($1) + $2; END $f$;
  CREATE OPERATOR pg_temp.### (LEFTARG = double precision, RIGHTARG = double precision, FUNCTION = pg_temp.plus);
  CREATE TEMP TABLE scratch (x double precision);
  CREATE FUNCTION sec_w_own.evil(double precision) RETURNS double precision LANGUAGE plpgsql IMMUTABLE AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('schema function', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN $1;
  END $f$;
  CREATE VIEW sec_w_own.ev_view AS SELECT _user, sec_w_own.evil(x) AS x FROM sec_p.ev;
  CREATE AGGREGATE sec_w_own.total(double precision) (SFUNC = pg_catalog.float8pl, STYPE = double precision);
  CREATE COLLATION pg_temp.mine (provider = libc, locale = 'C');
  CREATE TEMP VIEW tv AS SELECT now() + make_interval(secs => pg_temp.evil(1)) AS _time;
$$);

-- 1. objects of the writer in view queries are refused, for every strategy
SELECT throws_ok(format($$SELECT sec.as_role('sec_w', %L)$$, format('SELECT pulse.create_view(''sec_p'', ''v'', %L, %L)', q, st)),
                 '42501', NULL, format('%s view: %s', st, what))
  FROM (VALUES ('a temporary function', 'SELECT _user, sum(pg_temp.evil(x)) AS s FROM ev GROUP BY _user'),
               ('a temporary function in WHERE', 'SELECT count(*) AS n FROM ev WHERE pg_temp.evil(x) > 0'),
               ('a temporary function as group key', 'SELECT pg_temp.evil_text(_user) AS u, count(*) AS n FROM ev GROUP BY 1'),
               ('a temporary domain cast', 'SELECT count(*) AS n FROM ev WHERE x::pg_temp.evil_dom > 0'),
               ('a temporary operator (on a built-in function)', 'SELECT count(*) AS n FROM ev WHERE x OPERATOR(pg_temp.=~=) 1 > 0'),
               ('a temporary operator', 'SELECT count(*) AS n FROM ev WHERE x OPERATOR(pg_temp.###) 1 > 0'),
               ('a function in a schema of the writer', 'SELECT count(*) AS n FROM ev WHERE sec_w_own.evil(x) > 0'),
               ('an aggregate of the writer', 'SELECT sec_w_own.total(x) AS t FROM ev'),
               ('a temporary collation', 'SELECT min(s COLLATE pg_temp.mine) AS m FROM ev')) AS a(what, q),
       (VALUES ('cache'), ('incremental'), ('realtime')) AS s(st);
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_view(''sec_p'', ''v'', ''SELECT count(*) AS n FROM sec_w_own.ev_view'', ''cache'')')$$,
                 '42501', NULL, 'cache view: a view of the writer in FROM');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_view(''sec_p'', ''v'', ''SELECT count(*) AS n FROM scratch'', ''cache'')')$$,
                 '42501', NULL, 'cache view: a temporary table in FROM');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_view(''sec_p'', ''v'', ''SELECT count(*) AS n FROM ev WHERE EXISTS (SELECT FROM sec_p.ev e2 WHERE pg_temp.evil(e2.x) > 0)'', ''cache'')')$$,
                 '42501', NULL, 'cache view: a temporary function inside a subquery');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_view(''sec_p'', ''v'', ''WITH c AS (SELECT pg_temp.evil(x) AS x FROM ev) SELECT count(*) AS n FROM c'', ''cache'')')$$,
                 '42501', NULL, 'cache view: a temporary function inside a CTE');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_view(''sec_p'', ''v'', ''SELECT rolname FROM pg_authid'', ''cache'')')$$,
                 '42501', NULL, 'cache view: a catalog the writer may not read (the query runs as the writer)');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_view(''sec_p'', ''v'', ''SELECT count(*) AS n FROM sec_q.secret'', ''cache'')')$$,
                 '42501', NULL, 'cache view: another project''s collection');
-- a relation named by a value: pulse.last_event_time(regclass) returns a time but reads the
-- relation it is given (the writer's temporary view would run the writer's function as
-- whoever aggregates the realtime view's tail: a superuser reading it)
SELECT sec.value_as('sec_w', 'SELECT ''pg_temp.tv''::regclass::oid::text') AS tv_oid \gset
SELECT throws_ok(format($$SELECT sec.as_role('sec_w', %L)$$, format('SELECT pulse.create_view(''sec_p'', ''v'', %L, %L)', q, st)),
                 '0A000', NULL, format('%s view: %s (a stable function of another schema than pg_catalog)', st, what))
  FROM (VALUES ('a regclass constant naming a temporary view',
                format('SELECT _user, count(*) AS n, max(pulse.last_event_time(%s::regclass)) AS m FROM ev GROUP BY _user', :tv_oid)),
               ('a regclass computed from an oid',
                format('SELECT _user, count(*) AS n, max(pulse.last_event_time((%s::int8 + 0)::oid::regclass)) AS m FROM ev GROUP BY _user', :tv_oid))) AS a(what, q),
       (VALUES ('incremental'), ('realtime')) AS s(st);
SELECT throws_ok(format($$SELECT sec.as_role('sec_w', %L)$$,
                        format('SELECT pulse.create_view(''sec_p'', ''v'', ''SELECT max(pulse.last_event_time(''''%s''''::regclass)) AS m FROM ev'', ''cache'')', :tv_oid)),
                 '42501', NULL, 'cache view: a regclass constant naming a temporary view (an object used through a value is checked like one used directly)');
-- a superuser's polymorphic function in a schema where others may create objects: the view's
-- stored SQL names it, and an exact-type overload the writer creates there later would run
-- instead when the tail is read (by the reader, by a superuser)
SELECT throws_ok(format($$SELECT sec.as_role('sec_w', %L)$$, format('SELECT pulse.create_view(''sec_p'', ''v'', %L, %L)',
                        'SELECT _user, sum(sec_open.pfn(s)) AS n FROM ev GROUP BY _user', st)),
                 '42501', NULL, format('%s view: a superuser''s function in a schema where other roles may create objects', st))
  FROM (VALUES ('incremental'), ('realtime')) AS s(st);
SELECT is(pulse.last_event_time(:tv_oid::oid::regclass), NULL,
          'pulse.last_event_time reads no temporary view (nor any relation a superuser does not own)');
SELECT is((SELECT count(*)::int FROM pulse.view_registry WHERE project = 'sec_p'), 0, 'no view was created by the refused calls');
-- had one of them been accepted, this is where the superuser's read would have run its code
SELECT pulse.collect('sec_p', 'ev', '{"_user": "u4", "x": 5, "s": "c"}');
DO $$ BEGIN IF to_regclass('sec_p.v') IS NOT NULL THEN PERFORM count(*) FROM sec_p.v; END IF; END $$;
DELETE FROM sec_p.ev WHERE _user = 'u4';
DO $$ BEGIN IF to_regclass('sec_p.v') IS NOT NULL THEN PERFORM count(*) FROM sec_p.v; END IF; END $$;

-- 2. the accepted views: a trusted function that reports its evaluator
SELECT lives_ok(format($$SELECT sec.value_as('sec_w', %L)$$, format('SELECT pulse.create_view(''sec_p'', %L, %L, %L)', n, q, st)), 'created ' || n)
  FROM (VALUES ('v_cache', 'SELECT sec.who(_user) AS who, count(*) AS n FROM ev GROUP BY 1', 'cache'),
               ('v_inc', 'SELECT sec.who(_user) AS who, count(*) AS n FROM ev GROUP BY 1', 'incremental'),
               ('v_rt', 'SELECT sec.who(_user) AS who, count(*) AS n, sum(x) AS s FROM ev GROUP BY 1', 'realtime'),
               ('v_rt1', 'SELECT count(*) AS n, max(sec.who(_user)) AS who FROM ev', 'realtime')) AS v(n, q, st);

-- 3. the writer owns none of the hidden objects, so it cannot plant rules, grants or code there
SELECT is((SELECT count(*)::int FROM pg_class c WHERE c.relnamespace IN ('sec_p'::regnamespace, '_pulse_sec_p'::regnamespace)
            AND pg_has_role('sec_w', c.relowner, 'MEMBER')), 0, 'the writer owns no relation of its project');
SELECT is((SELECT count(*)::int FROM pg_proc p WHERE p.pronamespace IN ('sec_p'::regnamespace, '_pulse_sec_p'::regnamespace)
            AND pg_has_role('sec_w', p.proowner, 'MEMBER')), 0, 'nor any function');
SELECT is((SELECT count(*)::int FROM pg_namespace n WHERE n.nspname IN ('sec_p', '_pulse_sec_p')
            AND pg_has_role('sec_w', n.nspowner, 'MEMBER')), 0, 'nor the project''s schemas');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'CREATE OR REPLACE RULE "_RETURN" AS ON SELECT TO _pulse_sec_p._pulse_def_v_cache DO INSTEAD SELECT rolname::text AS who, 1::bigint AS n FROM pg_authid')$$,
                 '42501', NULL, 'no rule on the defining query');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'CREATE RULE r AS ON INSERT TO _pulse_sec_p._pulse_state_v_inc DO ALSO SELECT 1')$$,
                 '42501', NULL, 'nor on the state table');
SELECT sec.as_role('sec_w', 'SET client_min_messages = error; GRANT SELECT ON _pulse_sec_p._pulse_def_v_cache TO PUBLIC; RESET client_min_messages');
SELECT is(has_table_privilege('sec_nobody', '_pulse_sec_p._pulse_def_v_cache', 'SELECT'), false,
          'no grant of the hidden objects (GRANT without the grant option gives nothing)');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'CREATE OR REPLACE FUNCTION _pulse_sec_p._pulse_full_v_rt() RETURNS SETOF _pulse_sec_p._pulse_def_v_rt LANGUAGE sql AS ''SELECT NULL::text, 1::bigint, 1::float8''')$$,
                 '42501', NULL, 'no replaced recompute function');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'ALTER FUNCTION _pulse_sec_p._pulse_delta_v_rt(pg_snapshot, timestamptz, xid8) SECURITY DEFINER')$$,
                 '42501', NULL, 'no altered delta function');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'CREATE TRIGGER t AFTER INSERT ON _pulse_sec_p._pulse_state_v_inc EXECUTE FUNCTION pulse._views_invalidate()')$$,
                 '42501', NULL, 'no trigger on the state table');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'CREATE TABLE _pulse_sec_p._pulse_state_planted (x int)')$$,
                 '42501', NULL, 'no object of its own in the internal schema');
SELECT sec.as_role('sec_w', 'SET client_min_messages = error; GRANT USAGE ON SCHEMA _pulse_sec_p TO sec_r, sec_p_reader; RESET client_min_messages');

-- 4. every read path, by the superuser: the writer's query only ever evaluates as the writer
SELECT is((SELECT string_agg(DISTINCT who, ',') FROM sec_p.v_cache), 'sec_p_writer', 'cache view: computed by the writer');
SELECT is((SELECT string_agg(DISTINCT who, ',') FROM sec_p.v_inc), 'sec_p_writer', 'incremental view: computed by the writer');
SELECT is((SELECT string_agg(DISTINCT who, ',') FROM sec_p.v_rt), 'sec_p_writer', 'realtime view, nothing unmerged');
SELECT pulse.collect('sec_p', 'ev', '{"_user": "u3", "x": 4}');
-- the unmerged tail is aggregated by the reader (here the superuser) with the query's trusted
-- functions only; the stored groups were computed by the writer
SELECT is((SELECT sum(n)::int FROM sec_p.v_rt), 4, 'realtime view with an unmerged event');
DELETE FROM sec_p.ev WHERE _user = 'u3';
SELECT is((SELECT string_agg(DISTINCT who, ',') FROM sec_p.v_rt), 'sec_p_writer',
          'realtime view after a DELETE (recomputed): evaluated as the writer, not as the reading superuser');
SELECT is((SELECT who FROM sec_p.v_rt1), 'sec_p_writer', 'the same for a view without GROUP BY');
SELECT is(sec.value_as('sec_r', 'SELECT string_agg(DISTINCT who, '','') FROM sec_p.v_rt'), 'sec_p_writer',
          'and when the project''s reader reads it');
SELECT throws_ok($$SELECT sec.value_as('sec_r', 'SELECT count(*) FROM _pulse_sec_p._pulse_def_v_rt')$$, '42501', NULL,
                 'the reader cannot run the defining query itself');
SELECT throws_ok(format($$SELECT sec.value_as('sec_qw', 'SELECT count(*) FROM pulse._view_recompute(%s) AS f(who text, n bigint, s float8)')$$,
                        (SELECT id FROM pulse.view_registry WHERE project = 'sec_p' AND name = 'v_rt')),
                 '42501', NULL, 'another project''s writer cannot recompute the view');
SELECT throws_ok($$SELECT sec.value_as('sec_nobody', 'SELECT count(*) FROM sec_p.v_rt')$$, '42501', NULL,
                 'a role without the reader role cannot read it');
SELECT is(sec.value_as('sec_w', $$SELECT pulse.refresh_view('sec_p', 'v_rt', "full" => true)::text$$), '1', 'the writer refreshes');
SELECT is((SELECT string_agg(DISTINCT who, ',') FROM sec_p.v_rt), 'sec_p_writer', 'a full refresh computes as the writer');

-- 5. the hidden objects are out of the reader's sight: they live in the project's internal
-- schema, where the reader has no USAGE, so catalog browsers (which list the objects of schemas
-- the role may use) do not show them, and the reader can neither select them nor call them
-- (a delta from -infinity, or the defining query, would recompute the whole view)
SELECT is((SELECT string_agg(n.nspname || '.' || c.relname, ', ' ORDER BY n.nspname = 'sec_p' DESC, c.relname COLLATE "C")
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('sec_p', '_pulse_sec_p') AND c.relkind IN ('r', 'v') AND c.relname ~ 'v_(cache|inc|rt|rt1)$'),
          'sec_p.v_cache, sec_p.v_inc, sec_p.v_rt, sec_p.v_rt1, _pulse_sec_p._pulse_def_v_cache, _pulse_sec_p._pulse_def_v_inc, '
          '_pulse_sec_p._pulse_def_v_rt, _pulse_sec_p._pulse_def_v_rt1, _pulse_sec_p._pulse_state_v_cache, '
          '_pulse_sec_p._pulse_state_v_inc, _pulse_sec_p._pulse_state_v_rt, _pulse_sec_p._pulse_state_v_rt1',
          'the views are in the project''s schema, their hidden objects in the internal one');
SELECT is(has_schema_privilege('sec_r', '_pulse_sec_p', 'USAGE'), false,
          'the reader has no USAGE on the internal schema (the writer''s GRANT in 3. gave nothing)');
SELECT is(has_schema_privilege('sec_p_reader', '_pulse_sec_p', 'USAGE'), false, 'nor has the reader role');
SELECT is(has_schema_privilege('sec_w', '_pulse_sec_p', 'USAGE'), true, 'the writer has (refreshes use the hidden objects)');
SELECT is(has_schema_privilege('sec_w', '_pulse_sec_p', 'CREATE'), false, 'but may not create anything there');
SELECT is(sec.value_as('sec_r', $$SELECT coalesce(string_agg(c.relname, ', '), 'none') FROM pg_class c
                                  WHERE c.relname LIKE '\_pulse\_%' AND has_schema_privilege(c.relnamespace, 'USAGE')$$),
          'none', 'the reader sees no hidden relation in the schemas it may use');
SELECT is(sec.value_as('sec_r', $$SELECT coalesce(string_agg(p.proname, ', '), 'none') FROM pg_proc p
                                  WHERE p.proname LIKE '\_pulse\_%' AND has_schema_privilege(p.pronamespace, 'USAGE')$$),
          'none', 'nor a hidden function');
SELECT is(sec.value_as('sec_r', $$SELECT coalesce(string_agg(t.typname, ', '), 'none') FROM pg_type t
                                  WHERE t.typname LIKE '\_pulse\_%' AND has_schema_privilege(t.typnamespace, 'USAGE')$$),
          'none', 'nor a hidden type');
SELECT is(sec.value_as('sec_r', $$SELECT coalesce(string_agg(table_schema || '.' || table_name, ', '), 'none')
                                    FROM information_schema.tables
                                   WHERE table_schema = '_pulse_sec_p' OR table_name LIKE '\_pulse\_%'$$),
          'none', 'information_schema.tables shows the reader no hidden relation');
SELECT is(sec.value_as('sec_r', $$SELECT coalesce(string_agg(routine_schema || '.' || routine_name, ', '), 'none')
                                    FROM information_schema.routines WHERE has_schema_privilege(routine_schema, 'USAGE')
                                     AND routine_name LIKE '\_pulse\_%'$$),
          'none', 'information_schema.routines shows it no hidden function in a schema it may use');
SELECT throws_ok($$SELECT sec.value_as('sec_r', 'SELECT count(*) FROM _pulse_sec_p._pulse_state_v_inc')$$, '42501', NULL,
                 'the reader cannot select a state table');
SELECT throws_ok($$SELECT sec.value_as('sec_r', 'SELECT count(*) FROM _pulse_sec_p._pulse_def_v_cache')$$, '42501', NULL,
                 'nor a defining query');
SELECT throws_ok($$SELECT sec.value_as('sec_r', $q$SELECT count(*) FROM _pulse_sec_p._pulse_delta_v_rt('1:1:', '-infinity')$q$)$$, '42501', NULL,
                 'nor recompute a view through its delta function (from -infinity)');
SELECT throws_ok($$SELECT sec.value_as('sec_r', 'SELECT count(*) FROM _pulse_sec_p._pulse_full_v_rt()')$$, '42501', NULL,
                 'nor through its recompute function');
SELECT pulse.collect('sec_p', 'ev', '{"_user": "u5", "x": 6}');
SELECT is(sec.value_as('sec_r', 'SELECT sum(n)::text FROM sec_p.v_rt'), (SELECT count(*)::text FROM sec_p.ev),
          'the reader still reads the realtime view, with its unmerged rows (the read calls the delta function)');

-- 6. a reader whose session has standard_conforming_strings off: the realtime view's delta
--    function parses the stored text of the writer's WHERE again, and a backslash and a quote
--    in a string literal must not end that literal early (the rest would run as the reader)
SELECT lives_ok(format($$SELECT sec.value_as('sec_w', %L)$$,
                       format('SELECT pulse.create_view(%L, %L, %L, %L)::text', 'sec_p', 'v_scs',
                              $q$SELECT count(*) AS n FROM ev WHERE s = E'\\'' OR pg_catalog.pg_advisory_lock(777, 777) IS NULL)) --'$q$,
                              'realtime')),
                'created a realtime view with a backslash and a quote in a string literal');
SELECT pulse.collect('sec_p', 'ev', '{"_user": "u9", "x": 1, "s": "q"}');
SET standard_conforming_strings = off;
SET escape_string_warning = off;
SELECT n AS scs_n FROM sec_p.v_scs \gset
RESET escape_string_warning;
RESET standard_conforming_strings;
SELECT is(:scs_n::bigint, 0::bigint, 'read with standard_conforming_strings off, the literal is still the literal');
SELECT is((SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objid = 777), 0,
          'and nothing of it ran as the reader');
SELECT pg_advisory_unlock_all();

-- the verdict
SELECT is(sec.escalated(), NULL, 'no role of the suite gained SUPERUSER or another attribute');
SELECT is((SELECT string_agg(DISTINCT what || ' as ' || role, ', ') FROM sec.ran_as WHERE role NOT IN ('sec_w', 'sec_p_writer')), NULL,
          'the writer''s code never ran as anyone but the writer');

SELECT * FROM finish();
SELECT sec.disconnect_all();
DROP SCHEMA sec_w_own CASCADE;
DROP SCHEMA sec_open CASCADE;
