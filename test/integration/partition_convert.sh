#!/usr/bin/env bash
# Converting a plain collection into a partitioned one with its rows
# (pulse.partition_collection, docs/lifecycle.md#converting-a-collection):
#  1. while four sessions keep sending events (SQL calls, one event each), the collection is
#     converted: every event sent before, during and after is stored (none lost, no dead letter),
#     the table is partitioned by day with one partition per day of data, a one-day query reads
#     one partition (EXPLAIN);
#  2. the views keep their state and stay equal to their queries: a realtime view, and an
#     incremental one that merges (no rebuild) after the conversion;
#  3. privileges: a real login role of the project's reader is refused (42501), the writer
#     converts another collection; grants and owner carry over; a user's view over the
#     collection stops the conversion (2BP01) and nothing changes; converting twice is 55000.
set -euo pipefail
DB=pulse_partition_convert
fail() { echo "FAIL: $*"; exit 1; }
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
$Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('cv')" >/dev/null
# 5 days of history, 20000 events
$Q -c "SELECT stored FROM pulse.collect_batch('cv', (SELECT string_agg(format('{\"_time\": \"2026-11-%sT%s:%s:00Z\", \"_user\": \"u%s\", \"amount\": %s, \"src\": \"old\"}',
         lpad((1 + k % 5)::text, 2, '0'), lpad((k % 24)::text, 2, '0'), lpad((k % 60)::text, 2, '0'), k % 97, k % 50), E'\n') FROM generate_series(1, 20000) k), 'orders')" >/dev/null
$Q -c "SELECT pulse.create_view('cv', 'by_day', 'SELECT date_trunc(''day'', _time) AS day, count(*) AS n, sum(amount) AS total FROM orders GROUP BY 1')" \
   -c "SELECT pulse.create_view('cv', 'per_user', 'SELECT _user, count(*) AS n, sum(amount) AS total FROM orders GROUP BY 1', 'incremental')" \
   -c "SELECT pulse.refresh_view('cv', 'per_user')" >/dev/null

# 1. four senders (one event per call, each numbered) around the conversion
for s in 1 2 3 4; do
  (
    for i in $(seq 1 150); do
      $Q -c "SELECT pulse.collect('cv', 'orders', '{\"_time\": \"2026-11-0$(( (i % 5) + 1 ))T12:00:00Z\", \"_user\": \"s$s\", \"amount\": 1, \"src\": \"live\", \"seq\": $i}')" >/dev/null \
        || echo "sender $s call $i failed" >>/tmp/pcv_fail.$$
    done
  ) &
done
sleep 1
moved=$($Q -c "SELECT pulse.partition_collection('cv', 'orders', 'day')")
wait
[ ! -e /tmp/pcv_fail.$$ ] || { cat /tmp/pcv_fail.$$; rm -f /tmp/pcv_fail.$$; fail "calls failed during the conversion"; }
[ "$moved" -ge 20000 ] || fail "rows moved: $moved"
[ "$($Q -c "SELECT relkind FROM pg_class WHERE oid = 'cv.orders'::regclass")" = p ] || fail "not partitioned"
[ "$($Q -c "SELECT count(*) FROM cv.orders WHERE src = 'old'")" = 20000 ] || fail "old rows"
[ "$($Q -c "SELECT count(*) FROM cv.orders WHERE src = 'live'")" = 600 ] || fail "live rows: $($Q -c "SELECT count(*) FROM cv.orders WHERE src = 'live'")"
[ "$($Q -c "SELECT count(DISTINCT (_user, seq)) FROM cv.orders WHERE src = 'live'")" = 600 ] || fail "live rows are not each sent once"
[ "$($Q -c "SELECT count(*) FROM pulse.dead_letters")" = 0 ] || fail "dead letters"
[ "$($Q -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'cv.orders'::regclass")" = 5 ] || fail "partitions"
[ "$($Q -c "SELECT partition_by FROM pulse.collections WHERE project = 'cv' AND collection = 'orders'")" = day ] || fail "pulse.collections"
plan=$($Q -c "EXPLAIN (COSTS OFF) SELECT count(*) FROM cv.orders WHERE _time >= '2026-11-02' AND _time < '2026-11-03'")
[ "$(echo "$plan" | grep -c 'Scan on orders_p')" = 1 ] || fail "a one-day query reads more than one partition: $plan"
echo "ok 1 - converted while 4 sessions sent 600 events: 20000 + 600 rows, none lost, 5 daily partitions, a one-day query reads one"

# 2. views
[ "$($Q -c "SELECT count(*) FROM (SELECT * FROM cv.by_day EXCEPT SELECT date_trunc('day', _time), count(*), sum(amount) FROM cv.orders GROUP BY 1) d")" = 0 ] \
  || fail "realtime view differs from its query"
[ "$($Q -c "SELECT needs_rebuild FROM pulse.views WHERE project = 'cv' AND name = 'per_user'")" = f ] || fail "the incremental view needs a rebuild"
$Q -c "SELECT pulse.refresh_view('cv', 'per_user')" >/dev/null
[ "$($Q -c "SELECT needs_rebuild FROM pulse.views WHERE project = 'cv' AND name = 'per_user'")" = f ] || fail "the incremental view needs a rebuild after its refresh"
[ "$($Q -c "SELECT count(*) FROM (SELECT * FROM cv.per_user EXCEPT SELECT _user, count(*), sum(amount) FROM cv.orders GROUP BY 1) d")" = 0 ] \
  || fail "incremental view differs from its query"
[ "$($Q -c "SELECT count(*) FROM (SELECT _user, count(*), sum(amount) FROM cv.orders GROUP BY 1 EXCEPT SELECT * FROM cv.per_user) d")" = 0 ] \
  || fail "incremental view misses groups"
echo "ok 2 - views equal their queries after the conversion (realtime; incremental merged the new events)"

# 3. privileges, dependents, twice
$Q -c "SET client_min_messages = warning" \
   -c "DROP ROLE IF EXISTS pcv_reader_login" -c "DROP ROLE IF EXISTS pcv_writer_login" \
   -c "CREATE ROLE pcv_reader_login LOGIN IN ROLE cv_reader" -c "CREATE ROLE pcv_writer_login LOGIN IN ROLE cv_writer" \
   -c "SELECT pulse.collect('cv', 'other', '{\"_time\": \"2026-10-01T00:00:00Z\", \"x\": 1}')" \
   -c "DROP ROLE IF EXISTS pcv_grantee" -c "CREATE ROLE pcv_grantee" -c "GRANT SELECT, INSERT ON cv.other TO pcv_grantee" >/dev/null
out=$(psql -qXAt -d "$DB" -U pcv_reader_login -c "SELECT pulse.partition_collection('cv', 'other', 'month')" 2>&1) && fail "the reader converted"
grep -q "permission denied" <<<"$out" || fail "reader: $out"
acl_before=$($Q -c "SELECT relacl::text, pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'cv.other'::regclass")
[ "$(psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" -U pcv_writer_login -c "SELECT pulse.partition_collection('cv', 'other', 'month')")" = 1 ] || fail "the writer's conversion"
[ "$($Q -c "SELECT relacl::text, pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'cv.other'::regclass")" = "$acl_before" ] || fail "grants or owner changed"
[ "$($Q -c "SELECT relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE inhparent = 'cv.other'::regclass")" = other_p20261001 ] || fail "monthly partition"
out=$($Q -c "SELECT pulse.partition_collection('cv', 'other', 'day')" 2>&1) && fail "converted twice"
grep -q "is partitioned already" <<<"$out" || fail "twice: $out"
$Q -c "SELECT pulse.collect('cv', 'third', '{\"x\": 1}')" -c "CREATE VIEW public.mine AS SELECT x FROM cv.third" >/dev/null
out=$($Q -c "SELECT pulse.partition_collection('cv', 'third', 'day')" 2>&1) && fail "converted under a user's view"
grep -q "other objects depend on it" <<<"$out" || fail "dependent view: $out"
[ "$($Q -c "SELECT relkind FROM pg_class WHERE oid = 'cv.third'::regclass")" = r ] || fail "third changed"
# a table with a column of the collection's row type (a reader may make a temporary one): the
# old table could not be dropped at the end, so the conversion stops first, copying nothing
$Q -c "DROP VIEW public.mine" -c "CREATE TABLE public.holder (x cv.third)" >/dev/null
out=$($Q -c "SELECT pulse.partition_collection('cv', 'third', 'day')" 2>&1) && fail "converted under a table of its row type"
grep -q "other objects depend on it" <<<"$out" && grep -q "column x of table public.holder" <<<"$out" || fail "dependent row type: $out"
[ "$($Q -c "SELECT relkind FROM pg_class WHERE oid = 'cv.third'::regclass")" = r ] || fail "third changed"
$Q -c "DROP TABLE public.holder" -c "SELECT pulse.partition_collection('cv', 'third', 'week')" >/dev/null || fail "third after the view is dropped"
echo "ok 3 - the reader is refused, the writer converts (grants and owner kept), a user's view or a table of its row type stops it (2BP01), twice is refused"
$Q -c "SET client_min_messages = warning" -c "DROP OWNED BY pcv_grantee" >/dev/null
psql -qX -d postgres -c "DROP DATABASE $DB" >/dev/null 2>&1 || true
psql -qX -d postgres -c "DROP ROLE IF EXISTS pcv_reader_login" -c "DROP ROLE IF EXISTS pcv_writer_login" -c "DROP ROLE IF EXISTS pcv_grantee" >/dev/null 2>&1 || true
echo "partition_convert: all ok"
