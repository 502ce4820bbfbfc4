-- Materialized views (pulse.create_view): every strategy and supported aggregate, NULL and
-- empty groups, FILTER, HAVING, time zones, late events, invalidation by UPDATE / DELETE /
-- TRUNCATE, new columns, refusals, the hidden objects (in the project's internal schema, out of
-- readers' reach) and what drop_view and drop_project leave. After every change each view is
-- compared with its defining query recomputed from scratch (pg_temp.same).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS hll;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET extra_float_digits = 0;
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
  EXECUTE format('SELECT coalesce(array_agg(x::text ORDER BY x::text), ''{}'') FROM regress_v.%I x', v) INTO a;
  EXECUTE format('SELECT coalesce(array_agg(x::text ORDER BY x::text), ''{}'') FROM (%s) x',
                 (SELECT query FROM pulse.views WHERE project = 'regress_v' AND name = v)) INTO b;
  RETURN a IS NOT DISTINCT FROM b;
END $$;
SELECT pulse.create_project('regress_v');
SELECT pulse.create_collection('regress_v', 'ev',
  '{"v": "int", "big": "bigint", "price": "numeric", "country": "text", "ok": "boolean", "f": "float8", "d": "interval"}');
SET search_path = regress_v, public;
SELECT stored FROM pulse.collect_batch('regress_v', $$
{"_user": "a", "_time": "2024-03-01T10:00:00Z", "v": 1, "big": 10, "price": 2.5, "country": "de", "ok": true, "f": 1.5, "d": "1 hour"}
{"_user": "b", "_time": "2024-03-01T23:30:00Z", "v": 2, "big": 20, "price": 3, "country": "de", "ok": false, "f": 2, "d": "2 hours"}
{"_user": "a", "_time": "2024-03-02T01:00:00Z", "country": "fr"}
{"_user": "c", "_time": "2024-03-02T12:00:00Z", "v": 4, "big": 9223372036854775807, "price": 1.25, "ok": true, "f": 4}
$$, 'ev');

-- ---------------------------------------------------------------- every aggregate, realtime
SELECT pulse.create_view('regress_v', 'all_aggs', $$
  SELECT country, count(*) AS n, count(v) AS nv, sum(v) AS sum_v, sum(big) AS sum_big, sum(price) AS sum_price,
         sum(f) AS sum_f, sum(d) AS sum_d, avg(v) AS avg_v, avg(big) AS avg_big, avg(price) AS avg_price,
         avg(f) AS avg_f, avg(d) AS avg_d, min(v) AS min_v, max(price) AS max_price, min(_user) AS min_user,
         max(_time) AS last_time, stddev(v) AS sd_v, stddev_pop(price) AS sdp_price, variance(big) AS var_big,
         var_pop(v) AS vp_v, var_samp(f) AS vs_f, stddev_samp(f) AS sds_f, bool_and(ok) AS all_ok,
         bool_or(ok) AS any_ok, every(ok) AS every_ok,
         count(*) FILTER (WHERE ok) AS n_ok, sum(v) FILTER (WHERE country IS NOT NULL) AS sum_v_known,
         hll_cardinality(hll_add_agg(hll_hash_text(_user))) AS users
    FROM ev GROUP BY country $$);
SELECT * FROM all_aggs ORDER BY country NULLS FIRST;
SELECT pg_temp.same('all_aggs');

-- incremental over the same query
SELECT pulse.create_view('regress_v', 'all_inc', (SELECT query FROM pulse.views WHERE name = 'all_aggs'), 'incremental');
SELECT pg_temp.same('all_inc');

-- new events (one late: an old _time) and a new field: realtime sees them at once,
-- incremental after its refresh; the new column breaks nothing
SELECT stored, columns_added FROM pulse.collect_batch('regress_v', $$
{"_user": "d", "_time": "2024-01-01T00:00:00Z", "v": 7, "price": 10, "country": "de", "ok": true, "f": 0.5, "brand_new": "x"}
{"_user": "e", "_time": "2024-03-05T00:00:00Z", "v": -3, "country": "us", "ok": false}
$$, 'ev');
SELECT pg_temp.same('all_aggs') AS realtime_current, pg_temp.same('all_inc') AS incremental_current;
SELECT pulse.refresh_view('regress_v', 'all_inc') AS merged_groups;
SELECT pg_temp.same('all_inc');
SELECT pulse.refresh_view('regress_v', 'all_aggs') AS merged_groups;
SELECT pulse.refresh_view('regress_v', 'all_aggs') AS nothing_new;
SELECT pg_temp.same('all_aggs');
SELECT name, strategy, rows, last_merged, needs_rebuild, last_error, threshold IS NOT NULL AS has_threshold,
       snapshot IS NOT NULL AS has_snapshot
  FROM pulse.views WHERE project = 'regress_v' ORDER BY name;

-- ---------------------------------------------------------------- UPDATE / DELETE / TRUNCATE
UPDATE ev SET v = 100 WHERE _user = 'a' AND v = 1;
SELECT needs_rebuild FROM pulse.views WHERE name = 'all_aggs';
SELECT pg_temp.same('all_aggs') AS realtime_exact_at_once, pg_temp.same('all_inc') AS incremental_stale_until_refresh;
SELECT pulse.refresh_view('regress_v', 'all_inc') >= 0, pg_temp.same('all_inc');
SELECT pulse.refresh_view('regress_v', 'all_aggs') >= 0, pg_temp.same('all_aggs');
SELECT name, needs_rebuild FROM pulse.views WHERE project = 'regress_v' ORDER BY name;
DELETE FROM ev WHERE _user = 'e';
SELECT pg_temp.same('all_aggs');
-- uncommitted changes: the writer's own session sees them, nobody else does
BEGIN;
SELECT stored FROM pulse.collect('regress_v', 'ev', '{"_user": "t", "v": 1000, "country": "de"}');
SELECT n, sum_v FROM all_aggs WHERE country = 'de';
SELECT pg_temp.same('all_aggs');
ROLLBACK;
SELECT n, sum_v FROM all_aggs WHERE country = 'de';
-- a new event in the NULL group: stored rows of untouched groups pass through, the NULL group
-- is merged with its unmerged row
SELECT stored FROM pulse.collect('regress_v', 'ev', '{"_user": "n", "v": 3, "_time": "2024-02-01T00:00:00Z"}');
SELECT country, n, sum_v, users FROM all_aggs ORDER BY country NULLS FIRST;
SELECT pg_temp.same('all_aggs');
SELECT pulse.refresh_view('regress_v', 'all_inc') >= 0, pg_temp.same('all_inc');

-- two keys, a NULL in either: the tail's groups with a NULL key are matched as records, the
-- others with their type's equality; each read equals the query (a group counted twice, or
-- lost, differs)
SELECT pulse.create_collection('regress_v', 'kv', '{"country": "text", "ok": "boolean", "v": "int"}');
SELECT stored FROM pulse.collect_batch('regress_v', $$
{"country": "de", "ok": true, "v": 1}
{"ok": true, "v": 2}
{"country": "fr", "v": 3}
$$, 'kv');
SELECT pulse.create_view('regress_v', 'pairs', 'SELECT country, ok, count(*) AS n, sum(v) AS s FROM kv GROUP BY country, ok');
SELECT stored FROM pulse.collect_batch('regress_v', $$
{"country": "de", "ok": true, "v": 10}
{"country": "de", "v": 20}
{"ok": true, "v": 30}
{"v": 40}
{"country": "nl", "ok": true, "v": 50}
$$, 'kv');
SELECT * FROM pairs ORDER BY country NULLS FIRST, ok NULLS FIRST;
SELECT pg_temp.same('pairs');
SELECT pulse.refresh_view('regress_v', 'pairs') AS merged_groups;
-- a tail without NULL keys: the stored groups with NULL keys pass through untouched
SELECT stored FROM pulse.collect('regress_v', 'kv', '{"country": "de", "ok": true, "v": 100}');
SELECT pg_temp.same('pairs');
-- a tail with only NULL keys
SELECT stored FROM pulse.collect('regress_v', 'kv', '{"v": 200}');
SELECT * FROM pairs ORDER BY country NULLS FIRST, ok NULLS FIRST;
SELECT pg_temp.same('pairs');
-- a case-insensitive key: the key type's own equality ('DE' joins the stored 'de' group), not text's
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS citext;
RESET client_min_messages;
SELECT pulse.create_view('regress_v', 'ci', 'SELECT country::citext AS c, count(*) AS n FROM kv GROUP BY 1');
SELECT stored FROM pulse.collect('regress_v', 'kv', '{"country": "DE", "v": 1}');
SELECT count(*) AS rows_for_de, sum(n) AS n FROM ci WHERE c = 'de';
-- a domain over it: its base type's equality, through casts to the operator's own types
CREATE DOMAIN public.regress_v_ci AS citext;
SELECT pulse.create_view('regress_v', 'dci', 'SELECT country::public.regress_v_ci AS c, count(*) AS n FROM kv GROUP BY 1');
SELECT stored FROM pulse.collect('regress_v', 'kv', '{"country": "dE", "v": 1}');
SELECT count(*) AS rows_for_de, sum(n) AS n FROM dci WHERE c = 'de';
-- a composite key whose fields are all NULL is a value, not NULL: stored and in the tail, one group
CREATE TYPE public.regress_v_pair AS (country text, v int);
SELECT stored FROM pulse.collect('regress_v', 'kv', '{"ok": true}');
SELECT pulse.create_view('regress_v', 'comp', 'SELECT (country, v)::public.regress_v_pair AS k, count(*) AS n FROM kv GROUP BY 1');
SELECT stored FROM pulse.collect_batch('regress_v', '[{"ok": false}, {"country": "de"}, {"v": 1}]', 'kv');
SELECT k::text, n FROM comp WHERE k::text IN ('(,)', '(de,)', '(,1)') ORDER BY k::text;
SELECT pg_temp.same('comp');
SELECT pulse.drop_view('regress_v', 'pairs'), pulse.drop_view('regress_v', 'ci'), pulse.drop_view('regress_v', 'dci'),
       pulse.drop_view('regress_v', 'comp');

-- ---------------------------------------------------------------- no GROUP BY, HAVING, time zones
SELECT pulse.create_view('regress_v', 'totals', 'SELECT count(*) AS n, sum(v) AS s, max(v) - min(v) AS spread FROM ev');
SELECT * FROM totals;
SELECT pg_temp.same('totals');
SELECT pulse.create_view('regress_v', 'busy_days', $$
  SELECT date_trunc('day', _time) AS day, count(*) AS n FROM ev GROUP BY 1 HAVING count(*) > 1 $$, 'incremental');
SELECT * FROM busy_days ORDER BY day;
-- Berlin days: 2024-03-01T23:30Z is already March 2nd there; the view keeps the zone it was
-- created in, whatever the reader's
SET timezone = 'Europe/Berlin';
SELECT pulse.create_view('regress_v', 'berlin_days', $$
  SELECT date_trunc('day', _time) AS day, (_time AT TIME ZONE 'Europe/Berlin')::date AS local_date, count(*) AS n
    FROM ev WHERE _time >= '2024-03-01' GROUP BY 1, 2 $$);
RESET timezone;
SET timezone = 'UTC';
SELECT timezone FROM pulse.views WHERE name = 'berlin_days';
SELECT * FROM berlin_days ORDER BY day;
SELECT stored FROM pulse.collect('regress_v', 'ev', '{"_time": "2024-03-01T23:59:00Z"}');
SELECT * FROM berlin_days ORDER BY day;
SET timezone = 'Europe/Berlin';
SELECT pg_temp.same('berlin_days');
SET timezone = 'UTC';

-- an empty collection and groups that become empty
SELECT pulse.create_collection('regress_v', 'empty', '{"x": "int"}');
SELECT pulse.create_view('regress_v', 'empty_total', 'SELECT count(*) AS n, sum(x) AS s, avg(x) AS a FROM empty');
SELECT pulse.create_view('regress_v', 'empty_groups', 'SELECT x, count(*) FROM empty GROUP BY x', 'incremental');
SELECT * FROM empty_total;
SELECT count(*) FROM empty_groups;
SELECT stored FROM pulse.collect_batch('regress_v', '[{"x": null}, {"x": null}, {"x": 1}]', 'empty');
SELECT pulse.refresh_view('regress_v', 'empty_groups');
SELECT * FROM empty_groups ORDER BY x NULLS FIRST;
SELECT * FROM empty_total;
TRUNCATE empty;
SELECT * FROM empty_total;
SELECT pulse.refresh_view('regress_v', 'empty_groups'), pulse.refresh_view('regress_v', 'empty_total');
SELECT count(*) FROM empty_groups;
SELECT pg_temp.same('empty_total'), pg_temp.same('empty_groups');

-- ---------------------------------------------------------------- cache
SELECT pulse.create_collection('regress_v', 'countries', '{"code": "text", "name": "text"}');
SELECT stored FROM pulse.collect_batch('regress_v', '[{"code": "de", "name": "Germany"}, {"code": "fr", "name": "France"}]', 'countries');
SELECT pulse.create_view('regress_v', 'named', $$
  SELECT c.name, count(DISTINCT e._user) AS users FROM ev e JOIN countries c ON c.code = e.country
   GROUP BY c.name ORDER BY c.name $$, 'cache', '1 hour');
SELECT * FROM named;
SELECT stored FROM pulse.collect('regress_v', 'ev', '{"_user": "z", "country": "fr"}');
SELECT * FROM named;
SELECT pulse.refresh_view('regress_v', 'named');
SELECT * FROM named;
SELECT pg_temp.same('named');
SELECT name, strategy, refresh_every, collection FROM pulse.views WHERE name = 'named';

-- ---------------------------------------------------------------- alter, drop
SELECT pulse.alter_view('regress_v', 'totals', refresh_every => '1 minute');
SELECT refresh_every, strategy FROM pulse.views WHERE name = 'totals';
BEGIN;
SET LOCAL timezone = 'America/New_York';
SELECT pulse.alter_view('regress_v', 'totals', strategy => 'cache');
SELECT current_setting('TimeZone') AS caller_time_zone_kept;
COMMIT;
SELECT refresh_every, strategy, rows FROM pulse.views WHERE name = 'totals';
SELECT pg_temp.same('totals');
SELECT pulse.alter_view('regress_v', 'totals', strategy => 'incremental');
SELECT strategy FROM pulse.views WHERE name = 'totals';
SELECT pg_temp.same('totals');
SELECT pulse.drop_view('regress_v', 'totals');
SELECT to_regclass('regress_v.totals'), to_regclass('_pulse_regress_v._pulse_state_totals'), to_regclass('_pulse_regress_v._pulse_def_totals');
-- nothing of the view is left, in either schema
SELECT count(*) AS left_behind FROM (
  SELECT relname FROM pg_class WHERE relnamespace IN ('regress_v'::regnamespace, '_pulse_regress_v'::regnamespace) AND relname LIKE '%totals'
  UNION ALL SELECT proname FROM pg_proc WHERE pronamespace IN ('regress_v'::regnamespace, '_pulse_regress_v'::regnamespace) AND proname LIKE '%totals'
  UNION ALL SELECT typname FROM pg_type WHERE typnamespace IN ('regress_v'::regnamespace, '_pulse_regress_v'::regnamespace) AND typname LIKE '%totals') x;
SELECT count(*) FROM pulse.views WHERE name = 'totals';

-- ---------------------------------------------------------------- refusals
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(DISTINCT _user) FROM ev')$$);
SELECT pg_temp.hint($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(DISTINCT _user) FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT string_agg(_user, '','') FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT array_agg(v ORDER BY v) FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT country, count(*) FROM ev e JOIN countries c ON c.code = e.country GROUP BY 1')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT country, count(*) FROM ev GROUP BY 1 ORDER BY 2')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT country, count(*) FROM ev GROUP BY 1 LIMIT 3')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT DISTINCT country FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT country, rank() OVER (ORDER BY country) FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT _user FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM ev WHERE _time > now() - interval ''1 day''')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM ev WHERE random() < 0.5')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT now() - max(_time) AS age FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT country FROM ev GROUP BY country HAVING random() < sum(v)')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM ev WHERE _time > CURRENT_DATE')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT country, count(*) FROM ev GROUP BY ROLLUP (country)')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'WITH e AS (SELECT * FROM ev) SELECT count(*) FROM e')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM ev WHERE v IN (SELECT x FROM empty)')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM pulse.projects')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM (SELECT * FROM ev) s')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM ev UNION ALL SELECT 1')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT 1; SELECT 2')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'DELETE FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM ev', 'sometimes')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM ev', 'cache', '-1 hour')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'Bad-Name', 'SELECT count(*) FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'all_aggs', 'SELECT count(*) FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM no_such_table')$$);
SELECT pg_temp.err($$SELECT pulse.create_view('no_such_project', 'x', 'SELECT 1')$$);
SELECT pg_temp.err($$SELECT pulse.refresh_view('regress_v', 'no_such_view')$$);
SELECT pg_temp.err($$SELECT pulse.drop_view('regress_v', 'no_such_view')$$);
SELECT pg_temp.err($$SELECT pulse.alter_view('regress_v', 'named', refresh_every => '0')$$);
SELECT count(*) AS nothing_left_behind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'regress_v' AND c.relname LIKE '%\_x';

-- ---------------------------------------------------------------- privileges
CREATE ROLE regress_v_someone;
SET ROLE regress_v_someone;
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'x', 'SELECT count(*) FROM ev')$$);
SELECT pg_temp.err($$SELECT pulse.refresh_view('regress_v', 'all_aggs')$$);
SELECT pg_temp.err($$SELECT pulse.drop_view('regress_v', 'all_aggs')$$);
SELECT pg_temp.err($$SELECT * FROM regress_v.all_aggs$$);
SELECT count(*) AS views_visible FROM pulse.views;
RESET ROLE;
GRANT regress_v_reader TO regress_v_someone;
SET ROLE regress_v_someone;
SELECT count(*) AS rows_read FROM regress_v.all_aggs;
SELECT count(*) AS rows_read FROM regress_v.all_inc;
SELECT count(*) AS views_visible FROM pulse.views WHERE project = 'regress_v';
SELECT pg_temp.err($$SELECT pulse.refresh_view('regress_v', 'all_aggs')$$);
RESET ROLE;
-- SELECT on a realtime view without the project's reader role is not enough
CREATE ROLE regress_v_bi;
GRANT USAGE ON SCHEMA regress_v TO regress_v_bi;
GRANT SELECT ON regress_v.all_aggs TO regress_v_bi;
SET ROLE regress_v_bi;
SELECT pg_temp.err($$SELECT * FROM regress_v.all_aggs$$);
RESET ROLE;
-- hidden objects belong to the extension, not to the project's writer, and live in the
-- project's internal schema: only the view is in the project's schema
SELECT n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner) = current_user AS owned_by_extension_owner
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('regress_v', '_pulse_regress_v') AND c.relname LIKE '%all\_aggs' ORDER BY 1, 2;
SELECT n.nspname, p.proname, pg_get_userbyid(p.proowner) = current_user AS owned_by_extension_owner
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('regress_v', '_pulse_regress_v') AND p.proname LIKE '%all\_aggs' ORDER BY 1, 2;
SELECT count(*) AS hidden_objects_in_the_project_schema FROM (
  SELECT relname FROM pg_class WHERE relnamespace = 'regress_v'::regnamespace AND relname LIKE '\_pulse\_%'
  UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = 'regress_v'::regnamespace AND proname LIKE '\_pulse\_%'
  UNION ALL SELECT typname FROM pg_type WHERE typnamespace = 'regress_v'::regnamespace AND typname LIKE '\_pulse\_%') x;
-- the internal schema: the writer may use it (refreshes), readers may not
SELECT nspname, pg_get_userbyid(nspowner) = current_user AS owned_by_extension_owner,
       has_schema_privilege('regress_v_writer', oid, 'USAGE') AS writer_usage,
       has_schema_privilege('regress_v_writer', oid, 'CREATE') AS writer_create,
       has_schema_privilege('regress_v_reader', oid, 'USAGE') AS reader_usage,
       obj_description(oid, 'pg_namespace')
  FROM pg_namespace WHERE nspname IN ('regress_v', '_pulse_regress_v') ORDER BY 1;
-- a reader reads the views, but cannot use their hidden objects: neither select them nor
-- recompute a view through them
SET ROLE regress_v_someone;
SELECT pg_temp.err($$SELECT count(*) FROM _pulse_regress_v._pulse_state_all_aggs$$);
SELECT pg_temp.err($$SELECT count(*) FROM _pulse_regress_v._pulse_def_all_aggs$$);
SELECT pg_temp.err($$SELECT count(*) FROM _pulse_regress_v._pulse_delta_all_aggs('1:1:', '-infinity')$$);
SELECT pg_temp.err($$SELECT count(*) FROM _pulse_regress_v._pulse_full_all_aggs()$$);
SELECT pg_temp.err($$SELECT count(*) FROM _pulse_regress_v._pulse_delta_empty_total('1:1:', '-infinity')$$);
RESET ROLE;
-- and what the reader reads equals the defining queries after inserts, updates and deletes
SELECT stored FROM pulse.collect_batch('regress_v', $$
{"_user": "r1", "_time": "2024-03-03T10:00:00Z", "v": 5, "price": 1, "country": "de", "ok": true, "f": 1}
{"_user": "r2", "_time": "2024-03-04T10:00:00Z", "v": 6, "country": "nl"}
$$, 'ev');
SELECT stored FROM pulse.collect('regress_v', 'empty', '{"x": 7}');
SET ROLE regress_v_someone;
SET timezone = 'Europe/Berlin';  -- berlin_days' zone, for its query
SELECT pg_temp.same('all_aggs') AS realtime_after_insert, pg_temp.same('berlin_days') AS realtime_after_insert_2,
       pg_temp.same('empty_total') AS realtime_no_group_by;
SET timezone = 'UTC';
RESET ROLE;
SELECT pulse.refresh_view('regress_v', 'all_inc') >= 0 AS refreshed;
UPDATE ev SET v = v + 1 WHERE _user = 'r1';
DELETE FROM ev WHERE _user = 'r2';
DELETE FROM empty WHERE x = 7;
SET ROLE regress_v_someone;
SET timezone = 'Europe/Berlin';  -- berlin_days' zone, for its query
SELECT pg_temp.same('all_aggs') AS realtime_after_update_delete, pg_temp.same('berlin_days') AS realtime_after_update_delete_2,
       pg_temp.same('empty_total') AS realtime_no_group_by;
SET timezone = 'UTC';
RESET ROLE;
SELECT pulse.refresh_view('regress_v', 'all_inc') >= 0 AS rebuilt, pulse.refresh_view('regress_v', 'all_aggs') >= 0 AS rebuilt;
SET ROLE regress_v_someone;
SELECT pg_temp.same('all_aggs') AS realtime_after_rebuild, pg_temp.same('all_inc') AS incremental_after_rebuild;
RESET ROLE;
SET ROLE regress_v_someone;
SELECT pg_temp.err($$CREATE TABLE pg_temp.mine (x int)$$);
SELECT pg_temp.err($$CREATE TRIGGER t AFTER DELETE ON pg_temp.mine EXECUTE FUNCTION pulse._views_invalidate()$$) AS others_may_not;
DROP TABLE pg_temp.mine;
RESET ROLE;
-- a cache view runs its query with the project's privileges only
SELECT pg_temp.err($$SELECT pulse.create_view('regress_v', 'sneaky', 'SELECT rolname FROM pg_authid', 'cache')$$);

RESET search_path;
-- a refresh summarises the ranges of the _shard_time BRIN index filled since the last one
-- (every range but the last, partial one): reads of the unmerged rows and the next merge then
-- skip the older pages (the _time index is left to VACUUM)
SELECT pulse.create_collection('regress_v', 'brin', '{"n": "int"}');
SELECT pulse.create_view('regress_v', 'brin_count', 'SELECT count(*) AS n FROM regress_v.brin', 'realtime');
SELECT stored FROM pulse.collect_batch('regress_v', (SELECT string_agg(format('{"n": %s}', i), E'\n')
                                                       FROM generate_series(1, 40000) i), 'brin');
SELECT pg_relation_size('regress_v.brin') / 8192 / 128 >= 2 AS several_ranges;
-- (refreshed by the project's writer: summarising needs the collection's owner, whose
-- privileges refresh_view runs with)
SET ROLE regress_v_writer;
SELECT pulse.refresh_view('regress_v', 'brin_count');
RESET ROLE;
-- only the last, partial range is left to summarise in the _shard_time index; several in _time's
SELECT i.indexrelid::regclass::text AS brin, brin_summarize_new_values(i.indexrelid) AS left_unsummarised
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
 WHERE i.indrelid = 'regress_v.brin'::regclass AND a.amname = 'brin' ORDER BY 1;
SELECT n FROM regress_v.brin_count;
-- the reader's session settings do not change the unmerged rows' groups: the delta function
-- parses the query's expressions again with the creator's settings (array_nulls,
-- standard_conforming_strings, ...), so '{NULL}' stays an array holding a NULL
SELECT pulse.create_view('regress_v', 'arr_key', $q$SELECT '{NULL}'::text[] AS arr, count(*) AS n FROM brin GROUP BY 1$q$);
SELECT stored FROM pulse.collect('regress_v', 'brin', '{"_time": "2024-01-01T00:00:00Z"}');
SET array_nulls = off;
SELECT arr, arr[1] IS NULL AS holds_null, n = (SELECT count(*) FROM regress_v.brin) AS all_counted FROM regress_v.arr_key;
RESET array_nulls;
SET client_min_messages = warning;
SELECT pulse.drop_project('regress_v', force => true);
SELECT count(*) FROM pulse.view_registry;
-- nothing of the project is left: neither schema, nor any object of its views
SELECT count(*) AS schemas_left FROM pg_namespace WHERE nspname IN ('regress_v', '_pulse_regress_v');
SELECT count(*) AS objects_left FROM (
  SELECT relname FROM pg_class WHERE relname LIKE '\_pulse\_%all\_aggs' OR relname LIKE '\_pulse\_%all\_inc'
  UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE '\_pulse\_%all\_aggs' OR proname LIKE '\_pulse\_%all\_inc'
  UNION ALL SELECT typname FROM pg_type WHERE typname LIKE '%\_pulse\_%all\_aggs' OR typname LIKE '%\_pulse\_%all\_inc') x;
DROP ROLE regress_v_someone;
DROP OWNED BY regress_v_bi;
DROP ROLE regress_v_bi;
DROP EXTENSION pg_pulse;
DROP EXTENSION hll;
