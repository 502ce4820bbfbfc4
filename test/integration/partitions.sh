#!/usr/bin/env bash
# Time partitions and retention under concurrency (docs/lifecycle.md):
#  1. creating a partition does not wait for the writers of the collection: a session that holds
#     its transaction open after writing (ROW EXCLUSIVE) does not block another session that
#     needs a new partition (lock_timeout 1 s), and the creator takes SHARE UPDATE EXCLUSIVE on
#     the collection, never ACCESS EXCLUSIVE (pg_locks);
#  2. eight sessions sending overlapping late / future days at once: every event stored, no dead
#     letter, one partition per day;
#  3. retention run by the database's scheduler (not by a call): old partitions dropped, the drop
#     in pulse.job_history, a realtime view keeps the history;
#  4. ingestion while retention drops partitions: no call fails.
set -euo pipefail
DB=pulse_partitions
fail() { echo "FAIL: $*"; exit 1; }
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
$Q -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('lc')" \
   -c "SELECT pulse.create_collection('lc', 'ev', '{\"n\": \"int\"}', partition_by => 'day')" \
   -c "SELECT pulse.collect('lc', 'ev', '{\"_time\": \"2024-01-01T00:00:00Z\", \"n\": 0}')" >/dev/null

# 1. session A writes into an existing partition and keeps its transaction open for 3 s
$Q -c "BEGIN" -c "SELECT pulse.collect('lc', 'ev', '{\"_time\": \"2024-01-01T01:00:00Z\", \"n\": 1}')" \
   -c "SELECT pg_sleep(3)" -c "COMMIT" >/tmp/lc_a.out 2>&1 &
A=$!
sleep 0.5
out=$($Q -c "SET lock_timeout = '1s'" -c "BEGIN" \
         -c "SELECT stored FROM pulse.collect('lc', 'ev', '{\"_time\": \"2024-01-02T00:00:00Z\", \"n\": 2}')" \
         -c "SELECT string_agg(mode, ',' ORDER BY mode) FROM pg_locks WHERE locktype = 'relation'
               AND relation = 'lc.ev'::regclass AND pid = pg_backend_pid()" -c "COMMIT" 2>&1) \
  || fail "session B waited for session A: $out"
wait $A || fail "session A: $(cat /tmp/lc_a.out)"
[ "$out" = "1
AccessShareLock,RowExclusiveLock,ShareUpdateExclusiveLock" ] || fail "session B: $out"
echo "ok 1 - a new partition is attached while another writer holds the collection (SHARE UPDATE EXCLUSIVE, no ACCESS EXCLUSIVE)"

# 2. eight sessions, 30 calls each, events over overlapping days of 2023 and 2040
for k in 1 2 3 4 5 6 7 8; do
  (
    for c in $(seq 1 30); do
      d1=$(( (k * 7 + c) % 28 + 1 )); d2=$(( (k + c * 3) % 28 + 1 ))
      printf -v p '{"_time": "2023-02-%02dT10:00:00Z", "n": %d}\n{"_time": "2040-03-%02dT10:00:00Z", "n": %d}' "$d1" "$c" "$d2" "$c"
      $Q -c "SELECT stored, dead_lettered FROM pulse.collect_batch('lc', \$\$$p\$\$, 'ev')"
    done
  ) >/tmp/lc_r$k.out 2>&1 &
done
wait
for k in 1 2 3 4 5 6 7 8; do
  bad=$(grep -v '^2|0$' /tmp/lc_r$k.out || true)
  [ -z "$bad" ] || fail "session $k: $bad"
done
res=$($Q -c "SELECT count(*) FROM lc.ev WHERE _time < '2024-01-01' OR _time >= '2040-01-01'")
[ "$res" = 480 ] || fail "rows: $res"
res=$($Q -c "SELECT (SELECT count(*) FROM pg_inherits WHERE inhparent = 'lc.ev'::regclass) =
                    (SELECT count(DISTINCT date_trunc('day', _time)) FROM lc.ev)")
[ "$res" = t ] || fail "partitions are not one per day"
[ "$($Q -c "SELECT count(*) FROM pulse.dead_letters")" = 0 ] || fail "dead letters"
echo "ok 2 - eight concurrent sessions creating overlapping partitions: 480 events stored, one partition per day"

# 3. the scheduler applies retention (every minute; at most ~70 s here)
$Q -c "SELECT pulse.create_view('lc', 'per_year', 'SELECT date_trunc(''year'', _time) AS y, count(*) AS n FROM ev GROUP BY 1', 'realtime')" >/dev/null
before=$($Q -c "SELECT n FROM lc.per_year WHERE y = '2023-01-01'")
$Q -c "SELECT pulse.set_retention('lc', 'ev', '1 year')" >/dev/null
for i in $(seq 1 80); do
  left=$($Q -c "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'lc.ev'::regclass AND c.relname < 'ev_p2025'")
  [ "$left" = 0 ] && break
  sleep 1
done
[ "$left" = 0 ] || fail "the scheduler did not drop the old partitions ($left left)"
jobs=$($Q -c "SELECT count(*) || ':' || sum(rows) FROM pulse.job_history WHERE kind = 'retention' AND project = 'lc'")
[ "${jobs%%:*}" -ge 20 ] || fail "job history: $jobs"
[ "${jobs#*:}" = 243 ] || fail "rows dropped according to the job history: $jobs"
after=$($Q -c "SELECT n FROM lc.per_year WHERE y = '2023-01-01'")
[ "$after" = "$before" ] || fail "the view lost the history: $before -> $after"
[ "$($Q -c "SELECT count(*) FROM lc.ev WHERE _time < '2025-01-01'")" = 0 ] || fail "old rows left"
# the detached partitions were retired, and the scheduler drops their tables on its own
retired() { $Q -c "SELECT count(*) FROM pg_class WHERE relnamespace = 'lc'::regnamespace AND relname LIKE '\_pulse\_retired\_%'"; }
for i in $(seq 1 30); do [ "$(retired)" = 0 ] && break; sleep 1; done
[ "$(retired)" = 0 ] || fail "retired partitions left after 30 s: $(retired)"
echo "ok 3 - the scheduler dropped the old partitions (${jobs%%:*} drops, ${jobs#*:} rows in pulse.job_history); the view kept $after events of 2023"

# 4. ingestion of late events (partitions created again) while retention drops them
(
  for c in $(seq 1 40); do
    $Q -c "SELECT stored FROM pulse.collect('lc', 'ev', '{\"_time\": \"2023-05-$(printf %02d $(( c % 28 + 1 )))T00:00:00Z\", \"n\": $c}')"
  done
) >/tmp/lc_w.out 2>&1 &
W=$!
for i in $(seq 1 15); do $Q -c "SELECT pulse.apply_retention()" >/dev/null 2>>/tmp/lc_ret.err || true; done
wait $W || fail "ingestion failed during retention: $(cat /tmp/lc_w.out)"
bad=$(grep -v '^1$' /tmp/lc_w.out || true)
[ -z "$bad" ] || fail "ingestion during retention: $bad"
[ ! -s /tmp/lc_ret.err ] || fail "apply_retention: $(cat /tmp/lc_ret.err)"
for i in $(seq 1 30); do [ "$(retired)" = 0 ] && break; sleep 1; done
[ "$(retired)" = 0 ] || fail "retired partitions left after 30 s: $(retired)"
echo "ok 4 - ingestion never failed while retention dropped the partitions it wrote to (a day made again beside its retired partition), and the scheduler dropped every retired table"

psql -qX -d postgres -c "DROP DATABASE $DB" >/dev/null 2>&1 || true
echo "partitions: all ok"
