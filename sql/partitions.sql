-- Time-partitioned collections (docs/lifecycle.md): partitions made by ingestion for every
-- _time (late, future, arrival time), pruning, schema evolution, indexes, owners and
-- privileges, dedup, views, dead letters and replay, the project default.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- the partitions of a collection: name and bounds
CREATE FUNCTION pg_temp.parts(c text) RETURNS TABLE(part name, bounds text) LANGUAGE sql AS $$
  SELECT p.relname, pg_get_expr(p.relpartbound, p.oid) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
   WHERE i.inhparent = ('regress_part.' || c)::regclass ORDER BY 1 $$;
-- view = its defining query (as multisets of rows)
CREATE FUNCTION pg_temp.same(v text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE a text[]; b text[];
BEGIN
  EXECUTE format('SELECT coalesce(array_agg(x::text ORDER BY x::text), ''{}'') FROM regress_part.%I x', v) INTO a;
  EXECUTE format('SELECT coalesce(array_agg(x::text ORDER BY x::text), ''{}'') FROM (%s) x',
                 (SELECT query FROM pulse.views WHERE project = 'regress_part' AND name = v)) INTO b;
  RETURN a IS NOT DISTINCT FROM b;
END $$;
SELECT pulse.create_project('regress_part');

-- ---------------------------------------------------------------- creation
SELECT pg_temp.err($$SELECT pulse.create_collection('regress_part', 'x', partition_by => 'year')$$);
SELECT pulse.create_collection('regress_part', 'daily', '{"v": "int"}', partition_by => 'day');
SELECT relkind, pg_get_partkeydef(oid) FROM pg_class WHERE oid = 'regress_part.daily'::regclass;
SELECT collection, partition_by, partitions FROM pulse.collections WHERE project = 'regress_part';

-- ---------------------------------------------------------------- every _time gets its partition
-- a late event (2019), a future one (2031), days around a boundary given in another zone, and an
-- event without _time (arrival time: today's partition)
SELECT stored, dead_lettered FROM pulse.collect_batch('regress_part', $$
{"_time": "2024-03-01T10:00:00Z", "v": 1}
{"_time": "2024-03-01T23:59:59.999999Z", "v": 2}
{"_time": "2024-03-02T01:30:00+02:00", "v": 3}
{"_time": "2024-03-02T00:00:00Z", "v": 4}
{"_time": "2019-06-15T08:00:00Z", "v": 5}
{"_time": 1956528000000, "v": 6}
{"v": 7}
$$, 'daily');
SELECT part, bounds FROM pg_temp.parts('daily') WHERE part <> 'daily_p' || to_char(now(), 'YYYYMMDD');
SELECT count(*) AS todays_partition FROM pg_temp.parts('daily') WHERE part = 'daily_p' || to_char(now(), 'YYYYMMDD');
-- each row is in the partition of its _time
SELECT tableoid::regclass AS part, array_agg(v ORDER BY v) AS v FROM regress_part.daily
 WHERE v <> 7 GROUP BY 1 ORDER BY 1;
-- a second batch into existing partitions and one new: no error, one more partition
SELECT stored FROM pulse.collect_batch('regress_part', $$
{"_time": "2024-03-01T11:00:00Z", "v": 8}
{"_time": "2024-03-03T11:00:00Z", "v": 9}
$$, 'daily');
SELECT count(*) AS partitions FROM pg_temp.parts('daily');
SELECT partitions FROM pulse.collections WHERE project = 'regress_part' AND collection = 'daily';

-- ---------------------------------------------------------------- a one-day query scans one partition
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_part.daily
 WHERE _time >= '2024-03-01' AND _time < '2024-03-02';

-- ---------------------------------------------------------------- new fields reach every partition
SELECT columns_added FROM pulse.collect('regress_part', 'daily', '{"_time": "2024-03-03T12:00:00Z", "label": "new"}');
SELECT count(*) FILTER (WHERE a.attname IS NOT NULL) AS with_label, count(*) AS partitions
  FROM pg_temp.parts('daily') p LEFT JOIN pg_attribute a
    ON a.attrelid = ('regress_part.' || p.part)::regclass AND a.attname = 'label' AND NOT a.attisdropped;
-- an event of a day that had no partition, with the new field
SELECT stored FROM pulse.collect('regress_part', 'daily', '{"_time": "2024-02-28T12:00:00Z", "label": "old"}');
SELECT _time, label FROM regress_part.daily WHERE label IS NOT NULL ORDER BY 1;

-- ---------------------------------------------------------------- indexes, owners, privileges
-- every partition has the collection's BRIN indexes (partitioned indexes)
SELECT count(*) AS partitions, min(n) AS min_brin, max(n) AS max_brin FROM (
  SELECT p.part, (SELECT count(*) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                   JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'brin'
                  WHERE i.indrelid = ('regress_part.' || p.part)::regclass) AS n
    FROM pg_temp.parts('daily') p) x;
-- owned as the collection is, in the project's schema, with no grants of their own; the views'
-- invalidation trigger names the collection
SELECT bool_and(c.relowner = (SELECT relowner FROM pg_class WHERE oid = 'regress_part.daily'::regclass)) AS same_owner,
       bool_and(c.relnamespace = 'regress_part'::regnamespace) AS same_schema,
       bool_and(c.relacl IS NULL) AS no_grants,
       bool_and(NOT has_table_privilege('regress_part_writer', c.oid, 'INSERT')) AS writer_cannot_insert,
       bool_and(EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = '_pulse_views_invalidate'
                          AND t.tgfoid = 'pulse._views_invalidate'::regproc)) AS triggers
  FROM pg_temp.parts('daily') p JOIN pg_class c ON c.oid = ('regress_part.' || p.part)::regclass;
-- readers read through the collection, not the partitions
SET ROLE regress_part_reader;
SELECT count(*) AS rows_read FROM regress_part.daily;
SELECT pg_temp.err($$SELECT count(*) FROM regress_part.daily_p20240301$$);
RESET ROLE;
-- a partition is not a collection: events sent to it are dead letters
SELECT stored, dead_lettered FROM pulse.collect('regress_part', 'daily_p20240301', '{"_time": "2024-03-01T09:00:00Z"}');
SELECT error FROM pulse.dead_letters WHERE project = 'regress_part' ORDER BY id DESC LIMIT 1;

-- ---------------------------------------------------------------- dead letters and replay
-- a relation in the way of a partition: that day's events are dead letters (with the reason),
-- the others are stored; replayed once the way is clear
CREATE TABLE regress_part.daily_p20250101 (x int);
SELECT stored, dead_lettered FROM pulse.collect_batch('regress_part', $$
{"_time": "2025-01-01T10:00:00Z", "v": 10}
{"_time": "2025-01-02T10:00:00Z", "v": 11}
$$, 'daily');
SELECT stored, dead_lettered FROM pulse.collect('regress_part', 'daily', '{"_time": "2025-01-01T10:00:00Z", "v": 10}');
SELECT collection, left(error, 90) AS error FROM pulse.dead_letters WHERE project = 'regress_part' AND collection = 'daily';
DROP TABLE regress_part.daily_p20250101;
SELECT stored, dead_lettered FROM pulse.replay_dead_letters('regress_part', 'daily');
SELECT v FROM regress_part.daily WHERE _time >= '2025-01-01' AND _time < '2025-01-02';
SELECT count(*) AS partitions_2025 FROM pg_temp.parts('daily') WHERE part LIKE 'daily\_p2025%';

-- ---------------------------------------------------------------- week, month, the project default
SELECT pg_temp.err($$SELECT pulse.set_project_defaults('regress_part', 'hour')$$);
SELECT pg_temp.err($$SELECT pulse.set_project_defaults('no_such_project', 'day')$$);
SELECT pulse.set_project_defaults('regress_part', 'month');
SELECT partition_by FROM pulse.projects WHERE name = 'regress_part';
-- a collection created by its first event follows the project's default
SELECT stored FROM pulse.collect_batch('regress_part', $$
{"collection": "monthly", "properties": {"_time": "2024-02-29T23:00:00Z"}}
{"collection": "monthly", "properties": {"_time": "2024-03-31T23:00:00-02:00"}}
$$);
SELECT part, bounds FROM pg_temp.parts('monthly');
-- an explicit argument wins over the default: weeks start on Monday, plain tables stay plain
SELECT pulse.create_collection('regress_part', 'weekly', partition_by => 'week');
SELECT stored FROM pulse.collect('regress_part', 'weekly', '{"_time": "2024-03-03T23:59:59Z"}');  -- a Sunday
SELECT stored FROM pulse.collect('regress_part', 'weekly', '{"_time": "2024-03-04T00:00:00Z"}');  -- Monday
SELECT part, bounds FROM pg_temp.parts('weekly');
SELECT pulse.create_collection('regress_part', 'plain', partition_by => 'none');
SELECT stored FROM pulse.collect('regress_part', 'plain', '{"_time": "2024-03-03T23:59:59Z"}');
SELECT collection, partition_by FROM pulse.collections WHERE project = 'regress_part' ORDER BY 1;
SELECT pulse.set_project_defaults('regress_part', NULL);
-- long collection names: partition names stay within 63 bytes and distinct
SELECT pulse.create_collection('regress_part', repeat('a', 63), partition_by => 'day');
SELECT pulse.create_collection('regress_part', repeat('a', 62) || 'b', partition_by => 'day');
SELECT stored FROM pulse.collect('regress_part', repeat('a', 63), '{"_time": "2024-03-01T00:00:00Z"}');
SELECT stored FROM pulse.collect('regress_part', repeat('a', 62) || 'b', '{"_time": "2024-03-01T00:00:00Z"}');
SELECT p.relname, octet_length(p.relname) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
 WHERE i.inhparent IN (('regress_part.' || repeat('a', 63))::regclass, ('regress_part.' || repeat('a', 62) || 'b')::regclass)
 ORDER BY 1;

-- ---------------------------------------------------------------- dedup
-- _id is unique per partition key: the unique index is (_id, _time); before each COPY the ids
-- already stored in any partition are looked up and dropped
SELECT pulse.create_collection('regress_part', 'dd', dedup => true, partition_by => 'day');
SELECT indexdef FROM pg_indexes WHERE schemaname = 'regress_part' AND tablename = 'dd' AND indexdef LIKE '%UNIQUE%';
SELECT stored, duplicates FROM pulse.collect_batch('regress_part', $$
{"_id": "a", "_time": "2024-03-01T10:00:00Z"}
{"_id": "a", "_time": "2024-03-02T10:00:00Z"}
{"_id": "b", "_time": "2024-03-02T10:00:00Z"}
$$, 'dd');
SELECT stored, duplicates FROM pulse.collect_batch('regress_part', $$
{"_id": "b", "_time": "2024-03-05T10:00:00Z"}
{"_id": "c", "_time": "2024-03-05T10:00:00Z"}
$$, 'dd');
SELECT _id, _time FROM regress_part.dd ORDER BY 1, 2;

-- ---------------------------------------------------------------- views
SET search_path = regress_part, public;
SELECT pulse.create_view('regress_part', 'per_day', $$
  SELECT date_trunc('day', _time) AS day, count(*) AS n, sum(v) AS s FROM daily GROUP BY 1 $$, 'incremental');
SELECT pulse.create_view('regress_part', 'per_day_rt', (SELECT query FROM pulse.views WHERE name = 'per_day'), 'realtime');
SELECT pg_temp.same('per_day'), pg_temp.same('per_day_rt');
SELECT stored FROM pulse.collect_batch('regress_part', $$
{"_time": "2024-03-01T12:00:00Z", "v": 100}
{"_time": "2024-04-01T12:00:00Z", "v": 200}
{"_time": "2018-01-01T12:00:00Z", "v": 300}
$$, 'daily');
SELECT pg_temp.same('per_day_rt') AS realtime_current;
SELECT pulse.refresh_view('regress_part', 'per_day') > 0 AS merged, pg_temp.same('per_day');
-- a DELETE on a partition invalidates the collection's views
DELETE FROM regress_part.daily_p20180101;
SELECT collection, op FROM pulse.view_invalidations WHERE project = 'regress_part';
SELECT pulse.refresh_view('regress_part', 'per_day') >= 0, pg_temp.same('per_day'), pg_temp.same('per_day_rt');

-- ---------------------------------------------------------------- analytics
-- the insight functions read a partitioned collection like a plain one
SELECT bucket, value FROM pulse.trends('regress_part', '{"collection": "daily"}', '2024-02-28', '2024-03-04');
SELECT date_trunc('day', _time) AS bucket, count(*) FROM daily
 WHERE _time >= '2024-02-28' AND _time < '2024-03-04' GROUP BY 1 ORDER BY 1;

SELECT pulse.drop_project('regress_part', force => true);
