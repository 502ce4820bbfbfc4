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
SELECT plan(16);
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

-- the verdict
SELECT is(sec.escalated(), NULL, 'no role of the suite gained SUPERUSER or another attribute');

SELECT * FROM finish();
SELECT sec.disconnect_all();
DROP SCHEMA sec_w_own CASCADE;
