-- Retention (docs/lifecycle.md#retention): pulse.set_retention (collection, project default,
-- removal), whole partitions dropped, plain collections trimmed without invalidating views,
-- views keeping the history of dropped events, full rebuilds refused unless forced, the job
-- history, rejected_fields / dead_letters retention, who may do what. Retention is set and
-- applied in one transaction so that the scheduler (which applies it every minute) never races
-- the test.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.hint(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT; RETURN SQLSTATE || ': ' || h;
END $$;
-- view = its defining query (as multisets of rows)
CREATE FUNCTION pg_temp.same(v text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE a text[]; b text[];
BEGIN
  EXECUTE format('SELECT coalesce(array_agg(x::text ORDER BY x::text), ''{}'') FROM regress_ret.%I x', v) INTO a;
  EXECUTE format('SELECT coalesce(array_agg(x::text ORDER BY x::text), ''{}'') FROM (%s) x',
                 (SELECT query FROM pulse.views WHERE project = 'regress_ret' AND name = v)) INTO b;
  RETURN a IS NOT DISTINCT FROM b;
END $$;
-- a view's year, with the current one (arrival-time events) as 'now'
CREATE FUNCTION pg_temp.year(y timestamptz) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN y >= date_trunc('year', now() - interval '1 day') THEN 'now' ELSE to_char(y, 'YYYY') END $$;
SELECT pulse.create_project('regress_ret');
SET search_path = regress_ret, public;

-- old events (2020) and current ones (arrival time), in a partitioned and a plain collection
SELECT pulse.create_collection('regress_ret', 'daily', '{"v": "int"}', partition_by => 'day');
SELECT pulse.create_collection('regress_ret', 'plain', '{"v": "int"}');
SELECT stored FROM pulse.collect_batch('regress_ret', $$
{"_time": "2020-01-01T10:00:00Z", "v": 1}
{"_time": "2020-01-01T11:00:00Z", "v": 2}
{"_time": "2020-01-02T10:00:00Z", "v": 3}
{"v": 10}
$$, 'daily');
SELECT stored FROM pulse.collect_batch('regress_ret', $$
{"_time": "2020-01-01T10:00:00Z", "v": 1}
{"_time": "2020-01-02T10:00:00Z", "v": 3}
{"v": 10}
$$, 'plain');
SELECT pulse.create_view('regress_ret', 'daily_inc', $$
  SELECT date_trunc('year', _time) AS y, count(*) AS n, sum(v) AS s FROM daily GROUP BY 1 $$, 'incremental');
SELECT pulse.create_view('regress_ret', 'daily_rt', (SELECT query FROM pulse.views WHERE name = 'daily_inc'), 'realtime');
SELECT pulse.create_view('regress_ret', 'plain_rt', $$
  SELECT date_trunc('year', _time) AS y, count(*) AS n, sum(v) AS s FROM plain GROUP BY 1 $$, 'realtime');
SELECT pg_temp.same('daily_inc'), pg_temp.same('daily_rt'), pg_temp.same('plain_rt');

-- ---------------------------------------------------------------- settings
SELECT pg_temp.err($$SELECT pulse.set_retention('regress_ret', 'daily', '-1 day')$$);
SELECT pg_temp.err($$SELECT pulse.set_retention('regress_ret', 'nosuch', '1 day')$$);
SELECT pg_temp.err($$SELECT pulse.set_retention('nosuch', 'daily', '1 day')$$);
SET ROLE regress_ret_reader;
SELECT pg_temp.err($$SELECT pulse.set_retention('regress_ret', 'daily', '1 day')$$);
SELECT pg_temp.err($$SELECT pulse.apply_retention()$$);
RESET ROLE;
SET ROLE regress_ret_writer;
-- a writer may set its project's retention, but not apply it, nor silence the views' trigger
SELECT pg_temp.err($$SELECT pulse.apply_retention()$$);
SELECT pg_temp.err($$SET session_replication_role = replica$$);
RESET ROLE;

-- ---------------------------------------------------------------- partitions dropped, views keep the history
BEGIN;
SELECT pulse.set_retention('regress_ret', 'daily', '30 days');
SELECT pulse.set_retention('regress_ret', NULL, '1 year');   -- the project's default (plain)
SELECT collection, keep FROM pulse.collections WHERE project = 'regress_ret' ORDER BY 1;
SELECT pulse.apply_retention() AS rows_dropped;
-- DETACH took ACCESS EXCLUSIVE on the collection (for the rest of this transaction here; the
-- scheduler commits each partition at once)
SELECT mode FROM pg_locks WHERE locktype = 'relation' AND relation = 'regress_ret.daily'::regclass
   AND pid = pg_backend_pid() ORDER BY 1;
-- the detached partitions are retired with their indexes (renamed _pulse_retired_<oid>): their
-- files go in a transaction of their own, not at the commit of the one holding the collection's lock
SELECT relkind, count(*) AS retired FROM pg_class
 WHERE relnamespace = 'regress_ret'::regnamespace AND relname LIKE '\_pulse\_retired\_%' GROUP BY 1 ORDER BY 1;
-- (removed before the commit: the scheduler never sees them)
SELECT pulse.set_retention('regress_ret', 'daily', NULL), pulse.set_retention('regress_ret', NULL, NULL);
COMMIT;
SELECT count(*) AS partitions, count(*) FILTER (WHERE c.relname LIKE 'daily\_p2020%') AS old_partitions
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'regress_ret.daily'::regclass;
SELECT count(*) AS rows_left FROM daily;
SELECT kind, regexp_replace(object, 'before .* deleted', 'before (now - 1 year) deleted') AS object, rows, status
  FROM pulse.job_history WHERE project = 'regress_ret' AND kind = 'retention' ORDER BY id;
SELECT collection, CASE collection WHEN 'daily' THEN history_dropped_before::text
                   ELSE (history_dropped_before BETWEEN now() - interval '1 year 1 hour' AND now() - interval '1 year')::text END
  FROM pulse.collections WHERE project = 'regress_ret' ORDER BY 1;
-- no view was invalidated; both still hold 2020
SELECT count(*) AS invalidations FROM pulse.view_invalidations WHERE project = 'regress_ret';
SELECT pg_temp.year(y) AS y, n, s FROM daily_inc WHERE y < '2021-01-01';
SELECT pg_temp.year(y) AS y, n, s FROM daily_rt WHERE y < '2021-01-01';
-- new events merge as usual (late ones of a dropped day too: their partition is made again)
SELECT stored FROM pulse.collect_batch('regress_ret', $$
{"v": 20}
{"_time": "2020-01-01T12:00:00Z", "v": 4}
$$, 'daily');
SELECT pulse.refresh_view('regress_ret', 'daily_inc') >= 0 AS merged;
SELECT pg_temp.year(y) AS y, n, s FROM daily_inc ORDER BY 1;
SELECT pg_temp.year(y) AS y, n, s FROM daily_rt ORDER BY 1;
-- a full rebuild would lose the history: refused, unless forced
SELECT pg_temp.err($$SELECT pulse.refresh_view('regress_ret', 'daily_inc', full => true)$$);
SELECT pg_temp.hint($$SELECT pulse.refresh_view('regress_ret', 'daily_inc', full => true)$$);
SELECT pulse.refresh_view('regress_ret', 'daily_inc', full => true, force => true) > 0 AS rebuilt;
SELECT pg_temp.same('daily_inc') AS history_lost;
SELECT pg_temp.year(y) AS y, n, s FROM daily_inc ORDER BY 1;

-- ---------------------------------------------------------------- plain collections: batched deletes
SELECT stored FROM pulse.collect('regress_ret', 'plain', '{"_time": "2024-06-01T00:00:00Z", "v": 60}');
BEGIN;
SELECT pulse.set_retention('regress_ret', NULL, '10 years');  -- would keep 2024
SELECT pulse.set_retention('regress_ret', 'plain', '30 days');   -- its own setting wins
SELECT pulse.apply_retention() AS rows_dropped;
SELECT pulse.set_retention('regress_ret', 'plain', NULL), pulse.set_retention('regress_ret', NULL, NULL);
COMMIT;
SELECT count(*) AS rows_left FROM plain;
SELECT count(*) AS invalidations FROM pulse.view_invalidations WHERE project = 'regress_ret';
-- retention merged the 2024 event into the view before it deleted it: the view keeps it
SELECT pg_temp.year(y) AS y, n, s FROM plain_rt ORDER BY 1;
SELECT object LIKE 'plain: events before % deleted' AS what, rows FROM pulse.job_history
 WHERE project = 'regress_ret' AND kind = 'retention' AND object LIKE 'plain%' ORDER BY id;
SELECT pg_temp.err($$SELECT pulse.refresh_view('regress_ret', 'plain_rt', full => true)$$);
-- an ordinary DELETE still invalidates (the trigger was only silenced for retention)
DELETE FROM plain WHERE v = 10;
SELECT collection, op FROM pulse.view_invalidations WHERE project = 'regress_ret';

-- removed: nothing is dropped any more
SELECT collection, keep FROM pulse.collections WHERE project = 'regress_ret' ORDER BY 1;
SELECT pulse.apply_retention() AS rows_dropped;
-- and the retired partitions are gone (this call or the scheduler dropped them)
SELECT count(*) AS retired_left FROM pg_class
 WHERE relnamespace = 'regress_ret'::regnamespace AND relname LIKE '\_pulse\_retired\_%';

-- ---------------------------------------------------------------- rejected_fields and dead_letters
SELECT dead_lettered, rejected_fields FROM pulse.collect_batch('regress_ret', $$
{"v": "not a number"}
[not json]
$$, 'plain');
UPDATE pulse.dead_letters SET created_at = now() - interval '2 days' WHERE project = 'regress_ret';
UPDATE pulse.rejected_fields SET created_at = now() - interval '2 days' WHERE project = 'regress_ret';
SET pulse.dead_letters_retention = '1d';
SET pulse.rejected_fields_retention = '1d';
SELECT pulse.apply_retention() AS rows_dropped;
RESET pulse.dead_letters_retention;
RESET pulse.rejected_fields_retention;
SELECT (SELECT count(*) FROM pulse.dead_letters WHERE project = 'regress_ret') AS dead_letters,
       (SELECT count(*) FROM pulse.rejected_fields WHERE project = 'regress_ret') AS rejected_fields;
SELECT object, rows FROM pulse.job_history WHERE project = 'regress_ret' AND kind = 'retention'
   AND object NOT LIKE 'daily%' AND object NOT LIKE 'plain%' ORDER BY object;

RESET search_path;
SELECT pulse.drop_project('regress_ret', force => true);
