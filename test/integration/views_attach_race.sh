#!/usr/bin/env bash
# A view refresh that runs while an ingestion that created a partition is committing
# (src/views/refresh.cc, wait_for_partitions). Postgres makes the committing transaction visible
# to new snapshots before it sends its invalidation messages, and ATTACH PARTITION does not lock
# a refresh out: a refresh in that window used to read the new partition through the partition
# list it had cached, find none of its rows, and record a snapshot saying they were merged, so
# the view lost them for good (the lifecycle bench saw whole days missing). Here the ingestion
# is held inside its commit for 3 s (pulse.debug_pause_at = 'commit_visible': visible to others,
# invalidations not sent yet) while another session, which has the old partition list cached,
# refreshes a realtime and an incremental view: both must end equal to their query.
set -euo pipefail
DB=${PGDATABASE:-pulse_test}
fail() { echo "FAIL: $*"; exit 1; }
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
W=$(mktemp -d /tmp/pulse_attach_race.XXXXXX)
chmod 777 "$W"
trap '$Q -c "SET client_min_messages = warning" -c "SELECT pulse.drop_project('"'"'arace'"'"', force => true)" >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
$Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_pulse" \
   -c "SELECT pulse.create_project('arace')" \
   -c "SELECT pulse.create_collection('arace', 'ev', '{\"v\": \"int8\"}', partition_by => 'day')" >/dev/null
$Q -c "SELECT pulse.create_view('arace', 'rt', 'SELECT date_trunc(''day'', _time) AS day, count(*) AS n, sum(v) AS s FROM ev GROUP BY 1', 'realtime', '1 day')" \
   -c "SELECT pulse.create_view('arace', 'inc', 'SELECT date_trunc(''day'', _time) AS day, count(*) AS n FROM ev GROUP BY 1', 'incremental', '1 day')" >/dev/null
$Q -c "SELECT stored FROM pulse.collect('arace', 'ev', '{\"_time\": \"2024-05-01T10:00:00Z\", \"v\": 1}')" \
   -c "SELECT pulse.refresh_view('arace', 'rt'), pulse.refresh_view('arace', 'inc')" >/dev/null

# the refreshing session: caches the collection's partitions (one), waits for the ingestion to
# be visible, then refreshes both views while the ingestion is still inside its commit
PGAPPNAME=attach_refresher psql -qXAt -d "$DB" >"$W/refresh.out" 2>&1 <<SQL &
SELECT count(*) FROM arace.ev;
DO \$\$ BEGIN
  FOR i IN 1..100 LOOP
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    EXIT WHEN EXISTS (SELECT FROM pg_catalog.pg_stat_activity WHERE wait_event = 'Extension' AND query LIKE '%COMMIT%');
    PERFORM pg_catalog.pg_sleep(0.1);
  END LOOP;
END \$\$;
SELECT 'window ' || count(*) FROM pg_catalog.pg_stat_activity WHERE wait_event = 'Extension' AND query LIKE '%COMMIT%';
\\timing on
SELECT pulse.refresh_view('arace', 'rt') AS rt_merged;
SELECT pulse.refresh_view('arace', 'inc') AS inc_merged;
SQL
R=$!
# the ingestion starts once the refreshing session waits for it (else, on a busy machine, it
# could have committed before that session looks)
for _ in $(seq 1 200); do
  [ "$($Q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'attach_refresher' AND query LIKE 'DO%'")" = 1 ] && break
  sleep 0.05
done
# the ingestion: a new day (a new partition), then 3 s inside COMMIT before its invalidations go
psql -qXAt -d "$DB" >"$W/ingest.out" 2>&1 <<SQL
SET pulse.debug_pause_at = 'commit_visible';
BEGIN;
SELECT stored FROM pulse.collect_batch('arace', (SELECT string_agg(json_build_object('_time', '2024-05-02T00:00:00Z'::timestamptz + i * interval '1 minute', 'v', i)::text, E'\n') FROM generate_series(1, 500) i), 'ev');
\\timing on
COMMIT;
SQL
wait $R || fail "refresh session: $(cat "$W/refresh.out")"
grep -q '^window 1$' "$W/refresh.out" || fail "the refresh did not run while the ingestion was inside its commit: $(cat "$W/refresh.out") / $(cat "$W/ingest.out")"
commit_ms=$(grep -o 'Time: [0-9.]* ms' "$W/ingest.out" | tail -1 | grep -o '[0-9.]*' | head -1)
awk -v t="$commit_ms" 'BEGIN { exit !(t >= 2500) }' || fail "the commit did not pause (${commit_ms} ms): $(cat "$W/ingest.out")"
# one more refresh each, then the views must equal their query
$Q -c "SELECT pulse.refresh_view('arace', 'rt'), pulse.refresh_view('arace', 'inc')" >/dev/null
for v in rt inc; do
  cols=$([ $v = rt ] && echo "day, n, s" || echo "day, n")
  q=$([ $v = rt ] && echo "date_trunc('day', _time), count(*), sum(v)" || echo "date_trunc('day', _time), count(*)")
  d=$($Q -c "SELECT count(*) FROM ((SELECT $cols FROM arace.$v EXCEPT SELECT $q FROM arace.ev GROUP BY 1)
                                 UNION ALL (SELECT $q FROM arace.ev GROUP BY 1 EXCEPT SELECT $cols FROM arace.$v)) x")
  [ "$d" = 0 ] || fail "view $v differs from its query in $d rows: $($Q -c "SELECT * FROM arace.$v ORDER BY 1" | tr '\n' ' ') / $(cat "$W/refresh.out")"
done
[ "$($Q -c "SELECT n FROM arace.rt WHERE day = '2024-05-02'")" = 500 ] || fail "the new day"
echo "ok 1 - refreshes in the moment an ingestion that made a partition is visible but has not sent its invalidations (commit held ${commit_ms} ms): both views equal their query afterwards"
echo "views_attach_race: all ok"
