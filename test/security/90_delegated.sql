-- A hostile writer of project sec_p calls pg_pulse's own SECURITY DEFINER functions from code
-- that someone more privileged runs for it: the query of a cache view and of a cohort (run by
-- the scheduler, or by a superuser's refresh, as the writer) and an index expression on the
-- writer's table (run by a superuser's ANALYZE, as the writer). pg_pulse must take the writer
-- for the caller there (or refuse), never the session's superuser: erasing another project's
-- person, or subscribing with a setting that runs a command, is refused. Also the project's
-- reader against pulse._view_recompute: a column list of other types is refused (its rows
-- would be read as those types).
\ir lib.sql
DROP SCHEMA IF EXISTS sec_w_own CASCADE;
CREATE SCHEMA sec_w_own AUTHORIZATION sec_w;
SELECT plan(34);
-- the file a command run by librdkafka would write (left by an earlier run of a broken build)
COPY (SELECT 1) TO PROGRAM 'rm -f /tmp/pg_pulse_sec_delegated';

-- 1. dormant payloads (they call pg_pulse only for events with s = 'arm'): the first refreshes,
--    run by the writer's own calls, find none
SELECT lives_ok($$SELECT sec.as_role('sec_w', $q$DO $d$ BEGIN
  PERFORM pulse.create_view('sec_p', 'erase_q', 'SELECT _user, pulse.erase_person(''sec_q'', _user) AS n FROM ev WHERE s = ''arm''', 'cache');
  PERFORM pulse.create_view('sec_p', 'kinit', 'SELECT _user, pulse.kafka_subscribe(''sec_p'', ARRAY[''t''], ''localhost:1'', ''json'', NULL, NULL,
    ''{"security.protocol": "sasl_plaintext", "sasl.mechanisms": "GSSAPI", "sasl.kerberos.kinit.cmd": "id > /tmp/pg_pulse_sec_delegated"}''::jsonb) AS sid
    FROM ev WHERE s = ''arm''', 'cache');
  PERFORM pulse.create_cohort('sec_p', 'erasers', 'SELECT _user FROM ev WHERE s = ''arm'' AND pulse.erase_person(''sec_q'', _user) >= 0');
  PERFORM pulse.create_view('sec_p', 'by_s', 'SELECT s, count(*) AS n FROM ev GROUP BY s', 'cache');
END $d$;
$q$)$$, 'the writer makes a cache view, a cohort and a view whose queries call pg_pulse (dormant)');
SELECT lives_ok($$SELECT sec.value_as('sec_w', $q$SELECT (pulse.collect('sec_p', 'ev', '{"_user": "q1", "s": "arm"}')).stored::text$q$)$$,
                'the writer arms them');

-- 2. the superuser refreshes them: the queries run as the writer, and so do the pg_pulse
--    functions they call (the scheduler runs them the same way)
SELECT throws_ok($$SELECT pulse.refresh_view('sec_p', 'erase_q')$$, '42501', NULL,
                 'a cache view''s query calling erase_person on another project is refused at the superuser''s refresh');
SELECT throws_ok($$SELECT pulse.refresh_view('sec_p', 'kinit')$$, '42501', NULL,
                 'a cache view''s query calling kafka_subscribe with a command setting is refused at the superuser''s refresh');
SELECT throws_ok($$SELECT pulse.refresh_cohort('sec_p', 'erasers')$$, '42501', NULL,
                 'a cohort''s query calling erase_person on another project is refused at the superuser''s refresh');
SELECT is((SELECT count(*)::int FROM pulse.kafka_subscriptions WHERE project = 'sec_p'), 0, 'no subscription was made');
SELECT is(pg_stat_file('/tmp/pg_pulse_sec_delegated', true), NULL, 'no command ran');

-- 3. an index expression of the writer's table calling pg_pulse, evaluated by the superuser's
--    ANALYZE as the writer (a security-restricted operation): refused
SELECT lives_ok($$SELECT sec.as_role('sec_w', $q$
  CREATE FUNCTION sec_w_own.erase(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
  BEGIN
    IF current_setting('sec.arm', true) = 'on' THEN PERFORM pulse.erase_person('sec_q', $1); END IF;
    RETURN $1;
  END $f$;
  CREATE TABLE sec_w_own.t (x text);
  CREATE INDEX ON sec_w_own.t (sec_w_own.erase(x));
  INSERT INTO sec_w_own.t VALUES ('q1');
$q$)$$, 'the writer makes a table with an index expression that calls erase_person (dormant)');
SET sec.arm = 'on';
SELECT throws_ok($$ANALYZE sec_w_own.t$$, '42501', NULL,
                 'the superuser''s ANALYZE evaluating it: pg_pulse refuses to run inside a security-restricted operation');
RESET sec.arm;

SELECT is((SELECT count(*)::text FROM sec_q.secret WHERE _user = 'q1') || '/' || (SELECT count(*) FROM sec_q._persons WHERE _person = 'q1'),
          '1/1', 'the other project''s events and person are intact');

-- 4. pulse._view_recompute hands out the view query's rows as they are: the caller's column
--    types must be theirs
SELECT is(sec.value_as('sec_r', format('SELECT string_agg(s || ''='' || n, '','' ORDER BY s) FROM pulse._view_recompute(%s) AS t(s text, n bigint)',
                                       (SELECT id FROM pulse.view_registry WHERE project = 'sec_p' AND name = 'by_s'))),
          'a=2,arm=1,b=1', 'the reader recomputes the view with its column types');
SELECT throws_ok(format($$SELECT sec.value_as('sec_r', 'SELECT count(*) FROM pulse._view_recompute(%s) AS t(s bigint, n bigint)')$$,
                        (SELECT id FROM pulse.view_registry WHERE project = 'sec_p' AND name = 'by_s')),
                 '42804', NULL, 'a column list with a text column declared bigint is refused');
SELECT throws_ok(format($$SELECT sec.value_as('sec_r', 'SELECT count(*) FROM pulse._view_recompute(%s) AS t(s text, n text)')$$,
                        (SELECT id FROM pulse.view_registry WHERE project = 'sec_p' AND name = 'by_s')),
                 '42804', NULL, 'a column list with a bigint column declared text is refused');

-- 5. pg_pulse called from the writer's own session is still the writer's call
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.erase_person(''sec_q'', ''q1'')')$$, '42501', NULL,
                 'the writer erasing another project''s person directly is refused');
SELECT is(sec.value_as('sec_w', $$SELECT (pulse.collect('sec_p', 'ev', '{"_user": "u9", "s": "c"}')).stored::text$$), '1',
          'the writer still ingests');

-- 6. settings a writer's query changes for the session (set_config(..., false)) end with the
--    refresh that ran it: the superuser's (or the scheduler's) next statements keep their own
--    search_path, which would otherwise resolve operators in a schema the writer chose
SELECT lives_ok($$SELECT sec.value_as('sec_w', $q$SELECT pulse.create_view('sec_p', 'setter',
  'SELECT count(*) AS n, pg_catalog.set_config(''search_path'', ''sec_w_own, pg_catalog'', false) AS sp,
          pg_catalog.set_config(''work_mem'', ''77kB'', false) AS wm FROM ev', 'cache')::text$q$)$$,
                'the writer makes a cache view whose query changes session settings');
SELECT current_setting('search_path') AS sp_before, current_setting('work_mem') AS wm_before \gset
SELECT lives_ok($$SELECT pulse.refresh_view('sec_p', 'setter')$$, 'the superuser refreshes it');
SELECT is(current_setting('search_path') || ' / ' || current_setting('work_mem'), :'sp_before' || ' / ' || :'wm_before',
          'the superuser''s search_path and work_mem are unchanged after the refresh');
SELECT is((SELECT sp || ' / ' || wm FROM sec_p.setter), 'sec_w_own, pg_catalog / 77kB', '(the query did change them while it ran)');

-- 7. pg_pulse's locks are its own: a role without any grant holding the advisory locks of the
--    same keys (pg_advisory_lock takes any key) stalls no ingestion and no identity link
SELECT lives_ok($$SELECT sec.value_as('sec_nobody', $q$SELECT pg_advisory_lock(x'70756c73'::int, hashtext('sec_p.lockme'))::text
  || pg_advisory_lock(hashtext('pulse.person_link'), hashtext('sec_p'))::text
  || pg_advisory_lock(hashtext('pulse.persons'), hashtext('sec_p'))::text$q$)$$, 'a role with no grant holds advisory locks');
SELECT lives_ok($$SELECT sec.as_role('sec_w', $q$SET statement_timeout = '10s'$q$)$$, '(the writer gives up after 10 s)');
SELECT is(sec.value_as('sec_w', $$SELECT (pulse.collect('sec_p', 'lockme', '{"_user": "u5"}')).stored::text$$), '1',
          'the writer creates and fills a new collection meanwhile');
SELECT is(sec.value_as('sec_w', $$SELECT pulse.identify('sec_p', 'anon-5', 'u5')$$), 'u5', 'and links two ids meanwhile');
SELECT lives_ok($$SELECT sec.value_as('sec_nobody', 'SELECT pg_advisory_unlock_all()::text')$$, '(the locks released)');

-- 8. numeric aggregate states (views' var_pop and kin) are checked before Postgres reads them:
--    a reader's forged bytes (a negative digit count) are an error, not a crash
SELECT throws_ok($$SELECT sec.value_as('sec_r', $q$SELECT pulse._numeric_state_final('\x000000000000000000000003000000640000f000ffffffff270f8000000000000003800000000000d000000000018000ffff270f000000000000000000000001000000000000000000000000000000000000000000000000'::bytea, 'var_pop')::text$q$)$$,
                 'XX001', NULL, 'a forged state to _numeric_state_final is refused');
SELECT throws_ok($$SELECT sec.value_as('sec_r', $q$SELECT pulse._numeric_state_union('\xffffffff'::bytea, '\xffffffff'::bytea)::text$q$)$$,
                 'XX001', NULL, 'a forged state to _numeric_state_union is refused');
SELECT is((SELECT pulse._numeric_state_final(pulse._numeric_state_union(s, s), 'var_pop')::text
             FROM (SELECT pulse._numeric_accum(v) AS s FROM (VALUES (2::numeric), (4::numeric)) t(v)) x),
          '1.00000000000000000000', '(genuine states still work)');
SELECT is((SELECT (pulse._numeric_state_final(pulse._numeric_accum(v), 'stddev_samp') = stddev_samp(v))::text
             FROM (VALUES (round(1.5, 9000)), (round(2.5, 9000)), (round(-7.25, 9000))) t(v)), 'true',
          '(and those of values of scale 9000, whose sum of squares has scale 18000)');

-- 9. the catalog views filter their rows before any function of the caller sees them
--    (security_barrier): a cheap function of a role with no grant sees no row of sec_p
SELECT lives_ok($$SELECT sec.as_role('sec_nobody', $q$
  CREATE TEMP TABLE seen (v text);
  CREATE FUNCTION pg_temp.leak(VARIADIC text[]) RETURNS boolean LANGUAGE plpgsql COST 0.0000001
    AS $f$BEGIN INSERT INTO pg_temp.seen SELECT unnest($1); RETURN true; END$f$;
$q$)$$, 'a role with no grant makes a leaking function');
SELECT is(sec.value_as('sec_nobody', $$SELECT ((SELECT count(*) FROM pulse.views WHERE pg_temp.leak(project, name, query))
  + (SELECT count(*) FROM pulse.cohorts WHERE pg_temp.leak(project, name, query))
  + (SELECT count(*) FROM pulse.job_history WHERE pg_temp.leak(project, object, error))
  + (SELECT count(*) FROM pulse.collections WHERE pg_temp.leak(project, collection))
  + (SELECT count(*) FROM pulse.enrichment WHERE pg_temp.leak(project, options::text))
  + (SELECT count(*) FROM pg_temp.seen WHERE v LIKE 'sec_p%' OR v LIKE '%erase_person%'))::text$$), '0',
          'the views, cohorts, job history, collections and enrichment settings of sec_p reach no function of its');

-- 10. a Postgres materialized view over a realtime view runs its read in a security-restricted
--     operation: refused (docs/views.md#caveats), while a plain read works
SELECT lives_ok($$SELECT sec.value_as('sec_w', $q$SELECT pulse.create_view('sec_p', 'rt', 'SELECT s, count(*) AS n FROM ev GROUP BY s', 'realtime')::text$q$)$$,
                'the writer makes a realtime view');
SELECT throws_ok($$CREATE MATERIALIZED VIEW public.sec_rt_copy AS SELECT * FROM sec_p.rt$$, '42501', NULL,
                 'a materialized view over it is refused (security-restricted operation)');
SELECT is((SELECT sum(n)::text FROM sec_p.rt), (SELECT count(*)::text FROM sec_p.ev), 'a plain read of it works');

-- the verdict
SELECT is(sec.escalated(), NULL, 'no role of the suite gained SUPERUSER or another attribute');

SELECT * FROM finish();
SELECT sec.disconnect_all();
DROP SCHEMA sec_w_own CASCADE;
