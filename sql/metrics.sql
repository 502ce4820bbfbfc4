-- pulse.metrics: ingestion counters per collection, counted when the transaction commits (a
-- ROLLBACK, a rolled-back savepoint or the failed half of an isolated batch counts nothing),
-- shown to the project's readers only, reset by pulse_admin.
CREATE EXTENSION IF NOT EXISTS pg_pulse;
SET client_min_messages = warning;
SELECT pulse.create_project('regress_met');
SELECT pulse.create_collection('regress_met', 'ev', '{"n": "int"}');
RESET client_min_messages;
CREATE VIEW pg_temp.m AS
SELECT coalesce(collection, '(none)') AS collection, events_stored, rejected_fields, dead_letters, batches,
       last_event_at IS NOT NULL AS has_last, since <= now() AS since_ok
  FROM pulse.metrics WHERE project = 'regress_met' ORDER BY 1;

-- a batch: 2 stored, a rejected field, a dead letter
SELECT stored, rejected_fields, dead_lettered FROM pulse.collect_batch('regress_met', E'{"n": 1}\n{"n": "x"}\n{broken', 'ev');
SELECT * FROM pg_temp.m;
-- rolled back: nothing
BEGIN;
SELECT stored FROM pulse.collect('regress_met', 'ev', '{"n": 2}');
ROLLBACK;
-- a savepoint rolled back inside a committed transaction: only the rest
BEGIN;
SELECT stored FROM pulse.collect('regress_met', 'ev', '{"n": 3}');
SAVEPOINT s;
SELECT stored FROM pulse.collect('regress_met', 'ev', '{"n": 4}');
ROLLBACK TO s;
SAVEPOINT t;
SELECT stored FROM pulse.collect('regress_met', 'other', '{"n": 5}');
RELEASE t;
COMMIT;
SELECT * FROM pg_temp.m;
-- envelopes route to collections; an invalid collection name dead-letters without one
SELECT stored, dead_lettered FROM pulse.collect_batch('regress_met', E'{"collection": "ev", "properties": {"n": 6}}\n{"collection": "1bad", "properties": {}}');
SELECT * FROM pg_temp.m;
-- a batch whose one event cannot be stored (adding its column fails): bisected, the others
-- stored; only what committed counts
SET pulse.debug_fail_column = 'boom';
SELECT stored, dead_lettered FROM pulse.collect_batch('regress_met', E'{"n": 7}\n{"n": 8, "boom": 1}\n{"n": 9}', 'ev');
RESET pulse.debug_fail_column;
SELECT * FROM pg_temp.m;
-- readers only
CREATE ROLE regress_met_stranger;
SET ROLE regress_met_stranger;
SELECT count(*) AS seen_by_a_stranger FROM pulse.metrics;
SELECT pulse.metrics_reset('regress_met');
RESET ROLE;
SET ROLE regress_met_reader;
SELECT count(*) AS seen_by_the_reader FROM pulse.metrics WHERE project = 'regress_met';
RESET ROLE;
-- reset: zero, since restarted
SELECT pulse.metrics_reset('regress_met');
SELECT * FROM pg_temp.m;
DROP ROLE regress_met_stranger;
SET client_min_messages = warning;
SELECT pulse.drop_project('regress_met', force => true);
