-- Failures inside pg_pulse's C++ code: every C++ allocation may fail (the test hook
-- pulse.debug_fail_allocation makes the Nth allocation of each pg_pulse call throw
-- std::bad_alloc); the call then fails with SQLSTATE 53200, the backend lives on, nothing is
-- half-stored, and the same call works once the hook is off. Run over ingestion, a view
-- refresh and the single-pass reports.
CREATE EXTENSION pg_pulse;
SET client_min_messages = warning;
SELECT pulse.create_project('regress_faults');
SELECT pulse.create_collection('regress_faults', 'ev', '{"n": "int", "s": "text"}');
SELECT pulse.collect_batch('regress_faults', (SELECT string_agg(format('{"_user": "u%s", "n": %s, "s": "x%s", "_time": "2024-01-0%sT00:00:00Z"}', k % 37, k, k % 5, 1 + k % 7), E'\n') FROM generate_series(1, 2000) k), 'ev') IS NOT NULL AS seeded;
SELECT pulse.create_view('regress_faults', 'per_s', 'SELECT s, count(*) AS c, sum(n) AS total FROM ev GROUP BY s', 'incremental');
RESET client_min_messages;

-- q run with the Nth allocation failing: 'ok' or the SQLSTATE it failed with
CREATE FUNCTION pg_temp.with_failing_allocation(q text, n int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('pulse.debug_fail_allocation', n::text, true);
  EXECUTE q;
  PERFORM set_config('pulse.debug_fail_allocation', '0', true);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;

-- every N from 1 to 400 for each kind of call: only 'ok' or 53200, and both happen
CREATE TEMP TABLE calls(kind text, q text);
INSERT INTO calls VALUES
  ('collect_batch', $q$SELECT pulse.collect_batch('regress_faults', (SELECT string_agg(format('{"_user": "v%s", "n": %s, "new_field": %s, "bad": "%s"}', k, k, k, CASE WHEN k % 3 = 0 THEN 'x' ELSE '1' END), E'\n') FROM generate_series(1, 50) k) || E'\n{broken', 'ev')$q$),
  ('collect', $q$SELECT pulse.collect('regress_faults', 'ev', '{"_user": "w", "n": 1, "other": [1, 2]}')$q$),
  ('refresh_view', $q$SELECT pulse.refresh_view('regress_faults', 'per_s', "full" => true)$q$),
  ('funnel', $q$SELECT count(*) FROM pulse.funnel('regress_faults', '[{"collection": "ev", "filter": "n % 2 = 0"}, {"collection": "ev"}]', '2024-01-01', '2024-02-01')$q$),
  ('retention', $q$SELECT count(*) FROM pulse.retention('regress_faults', '{"collection": "ev"}', '{"collection": "ev"}', '2024-01-01', '2024-01-08')$q$),
  ('trends', $q$SELECT count(*) FROM pulse.trends('regress_faults', '{"collection": "ev"}', '2024-01-01', '2024-01-08', measure => 'unique_users')$q$);
CREATE TEMP TABLE results AS
SELECT kind, n, r FROM calls, generate_series(1, 400) n, LATERAL pg_temp.with_failing_allocation(q, n) r;
SELECT kind, bool_and(r IN ('ok', '53200')) AS only_ok_or_53200, bool_or(r = '53200') AS some_failed,
       bool_or(r = 'ok') AS some_succeeded
  FROM results GROUP BY kind ORDER BY kind;

-- nothing half-stored: the failed calls stored nothing, each successful one all of its rows
SELECT (SELECT count(*) FROM regress_faults.ev WHERE _user LIKE 'v%')
     = 50 * (SELECT count(*) FROM results WHERE kind = 'collect_batch' AND r = 'ok') AS whole_batches_only;
SELECT (SELECT count(*) FROM regress_faults.ev WHERE _user = 'w')
     = (SELECT count(*) FROM results WHERE kind = 'collect' AND r = 'ok') AS whole_events_only;
SELECT (SELECT count(*) FROM pulse.dead_letters WHERE project = 'regress_faults')
     = (SELECT count(*) FROM results WHERE kind = 'collect_batch' AND r = 'ok') AS dead_letters_of_successful_calls_only;
SELECT pulse.refresh_view('regress_faults', 'per_s', "full" => true) > 0 AS refreshed;
SELECT count(*) AS differences FROM (
  (SELECT s, c, total FROM regress_faults.per_s EXCEPT SELECT s, count(*), sum(n) FROM regress_faults.ev GROUP BY s)
  UNION ALL
  (SELECT s, count(*), sum(n) FROM regress_faults.ev GROUP BY s EXCEPT SELECT s, c, total FROM regress_faults.per_s)) d;

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_faults', force => true);
DROP EXTENSION pg_pulse;
