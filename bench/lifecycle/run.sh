#!/usr/bin/env bash
# bench/lifecycle: time-partitioned collections at scale (docs/lifecycle.md), measured in one run
# against a plain collection given the same events:
#   (a) ingest rate (pulse.collect_batch, NDJSON) into a collection partitioned by day vs the same
#       events into a plain one, both with the same 3 views                        target >= 0.9
#   (b) a one-day query reads one partition (EXPLAIN shown), timed on both layouts
#   (c) a retention run (pulse.apply_retention) that drops the oldest 30 days: its time
#       (target < 2 s), and the rate of an ingestion running meanwhile vs the same ingestion
#       without retention                                                          target >= 0.8
#   (d) the views after retention: each equals its query over the kept events plus the history
#       it had of the dropped days (checked, exact)
#   (e) disk use per million events of both layouts, and of a conversion of the plain collection
#       (pulse.partition_collection: time and rows per second)
#
#   bash bench/lifecycle/run.sh [events=50000000] [days=120]
#
# Events: _time spread evenly over the last DAYS days in arrival order (each call carries a slice
# of time, with 1 % of its events up to 3 days late), 1M users, url/country/amount/is_mobile.
# Each call's payload is made by SQL in the session and only the collect_batch call is timed
# (clock_timestamp() around it), the same events for both layouts. Views: by_day (realtime:
# count and sum per day), by_country (incremental: per day and country) and by_hour (realtime:
# count and max per hour).
# Starts (and wipes) its own private cluster (test/cluster.sh) in $PULSE_TEST_DIR (default
# /tmp/pg_pulse_bench_lifecycle) on port $PULSE_TEST_PORT (54363), stops it on exit. The build
# must be installed (make install). PULSE_BENCH_CHUNK: events per call (50000);
# PULSE_BENCH_KEEP=1 leaves the cluster running.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-50000000}
DAYS=${2:-120}
CHUNK=${PULSE_BENCH_CHUNK:-50000}
export PULSE_TEST_DIR=${PULSE_TEST_DIR:-/tmp/pg_pulse_bench_lifecycle}
export PULSE_TEST_PORT=${PULSE_TEST_PORT:-54363}
export PULSE_TEST_PGDATA=$PULSE_TEST_DIR/data
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres
export PULSE_TEST_CONF="shared_buffers = 2GB
max_wal_size = 8GB
checkpoint_timeout = 30min
synchronous_commit = off"
bash "$REPO/test/cluster.sh" start >/dev/null
[ "${PULSE_BENCH_KEEP:-0}" = 1 ] || trap 'bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1' EXIT
psql -qX -d postgres -c "CREATE DATABASE bench" -c "ALTER DATABASE bench SET bench.t_end = '$(date -u +%Y-%m-%dT%H:%M:%SZ)'" >/dev/null
P="psql -qXAt -v ON_ERROR_STOP=1 -d bench"
CALLS=$(( (N + CHUNK - 1) / CHUNK ))
echo "pg_pulse lifecycle bench: $N events over $DAYS days, $CALLS calls of $CHUNK, partitioned by day vs plain"

$P <<SQL >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION pg_pulse;
SELECT pulse.create_project('lc');
SELECT pulse.create_collection('lc', c, '{"url": "text", "country": "text", "amount": "float8", "is_mobile": "boolean"}',
                               partition_by => p)
  FROM (VALUES ('parted', 'day'), ('plain', 'none')) v(c, p);
-- the payload of call k (of n) of events spread over the last d days: a slice of time, 1 % late
CREATE FUNCTION public.payload(k int, n int, size int, d int) RETURNS text LANGUAGE sql AS \$\$
  -- the timeline ends at the time the bench started (a setting of the database), in every session
  SELECT string_agg(json_build_object(
           '_time', to_char(((current_setting('bench.t_end')::timestamptz - make_interval(days => d))
                            + (k + i::float8 / size) / n * make_interval(days => d)
                            - CASE WHEN (i * 7919 + k) % 100 = 0 THEN make_interval(hours => (i % 72)) ELSE interval '0' END)
                            AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           '_user', 'u' || ((i::bigint * 104729 + k * 31) % 1000000),
           'url', '/p/' || (i % 500), 'country', (ARRAY['de','fr','us','br','in','jp','gb','es'])[1 + (i + k) % 8],
           'amount', ((i * 37 + k) % 20000) / 100.0, 'is_mobile', (i + k) % 3 = 0)::text, E'\n')
    FROM generate_series(1, size) i
\$\$;
-- ingests calls [a, b) into collection c; returns seconds spent in collect_batch and events stored
CREATE FUNCTION public.ingest(c text, a int, b int, n int, size int, d int, OUT secs float8, OUT events bigint)
LANGUAGE plpgsql AS \$\$
DECLARE p text; t0 timestamptz; r pulse.ingest_result;
BEGIN
  secs := 0; events := 0;
  FOR k IN a .. b - 1 LOOP
    p := public.payload(k, n, size, d);
    t0 := clock_timestamp();
    SELECT * INTO r FROM pulse.collect_batch('lc', p, c);
    secs := secs + extract(epoch FROM clock_timestamp() - t0);
    events := events + r.stored;
  END LOOP;
END \$\$;
SELECT pulse.create_view('lc', v || '_' || c, format(q, c), s, refresh_every => '10 seconds')
  FROM (VALUES ('parted'), ('plain')) cs(c),
       (VALUES ('by_day', 'SELECT date_trunc(''day'', _time) AS day, count(*) AS n, sum(amount) AS amount FROM %I GROUP BY 1', 'realtime'),
               ('by_country', 'SELECT date_trunc(''day'', _time) AS day, country, count(*) AS n FROM %I GROUP BY 1, 2', 'incremental'),
               ('by_hour', 'SELECT date_trunc(''hour'', _time) AS hour, count(*) AS n, max(amount) AS top FROM %I GROUP BY 1', 'realtime')) vs(v, q, s);
SQL

# (a) the same calls into both layouts, alternating blocks of calls so that both see the same
# machine; 2 sessions (one per layout) at a time would compete, so one at a time
BLOCK=$(( CALLS / 10 > 0 ? CALLS / 10 : 1 ))
sp=0; sa=0; ep=0; ea=0
for ((a = 0; a < CALLS; a += BLOCK)); do
  b=$(( a + BLOCK < CALLS ? a + BLOCK : CALLS ))
  for c in parted plain; do
    r=$($P -c "SELECT secs || ' ' || events FROM public.ingest('$c', $a, $b, $CALLS, $CHUNK, $DAYS)")
    if [ $c = parted ]; then sp=$(echo "$sp ${r% *}" | awk '{print $1 + $2}'); ep=$((ep + ${r#* })); else sa=$(echo "$sa ${r% *}" | awk '{print $1 + $2}'); ea=$((ea + ${r#* })); fi
  done
  printf '  %d/%d calls: partitioned %.0f ev/s, plain %.0f ev/s\n' "$b" "$CALLS" "$(echo "$ep $sp" | awk '{print $1 / $2}')" "$(echo "$ea $sa" | awk '{print $1 / $2}')"
done
rate_p=$(echo "$ep $sp" | awk '{printf "%.0f", $1 / $2}')
rate_a=$(echo "$ea $sa" | awk '{printf "%.0f", $1 / $2}')
echo "(a) ingest: partitioned $rate_p ev/s, plain $rate_a ev/s, ratio $(echo "$rate_p $rate_a" | awk '{printf "%.2f", $1 / $2}') (target >= 0.9); $($P -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'lc.parted'::regclass") partitions"
$P -c "VACUUM ANALYZE lc.parted" -c "VACUUM ANALYZE lc.plain" >/dev/null

# (b) one day
day=$($P -c "SELECT date_trunc('day', now() - interval '$((DAYS / 2)) days')::date")
q="SELECT count(*), round(sum(amount)::numeric, 3) FROM lc.%s WHERE _time >= '$day' AND _time < '$day'::date + 1"
echo "(b) EXPLAIN of a one-day query on the partitioned collection:"
# shellcheck disable=SC2059
$P -c "EXPLAIN (COSTS OFF) $(printf "$q" parted)" | sed 's/^/      /'
for c in parted plain; do
  # shellcheck disable=SC2059
  t=$($P -c "$(printf "$q" "$c")" -c "\timing on" -c "$(printf "$q" "$c")" | grep -o 'Time: [0-9.]* ms' | tail -1)
  echo "    $c: $t"
done
# shellcheck disable=SC2059
[ "$($P -c "$(printf "$q" parted)")" = "$($P -c "$(printf "$q" plain)")" ] && echo "    (same answer on both)" || echo "    ANSWERS DIFFER"

# (e) disk use
for c in parted plain; do
  $P -c "SELECT format('(e) %s: %s in all, %s per million events', '$c', pg_size_pretty(s), pg_size_pretty((s * 1000000 / greatest(n, 1))::bigint))
           FROM (SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('lc.$c')),
                                 pg_total_relation_size('lc.$c'))::bigint AS s,
                        (SELECT count(*) FROM lc.$c) AS n) x"
done

# (c) retention: drop the oldest 30 days while an ingestion runs; the same ingestion alone first
$P -c "SELECT pulse.refresh_view('lc', v) FROM unnest(ARRAY['by_country_parted', 'by_country_plain']) v" >/dev/null
$P -c "CREATE TABLE public.before_by_day AS SELECT * FROM lc.by_day_parted" \
   -c "CREATE TABLE public.before_hours AS SELECT * FROM lc.by_hour_parted" \
   -c "CREATE TABLE public.before_country AS SELECT * FROM lc.by_country_parted" >/dev/null
LIVE_CALLS=40
# live A B: calls [A, B) of 10000 events, each its own transaction (as clients commit per
# batch); prints events per second spent in collect_batch
live() {
  local k secs=0 events=0 r
  for ((k = $1; k < $2; k++)); do
    # the newest slice of the timeline, again and again (live traffic is about now)
    r=$($P -c "SELECT secs || ' ' || events FROM public.ingest('parted', $CALLS - 1, $CALLS, $CALLS, 10000, $DAYS)")
    secs=$(echo "$secs ${r% *}" | awk '{print $1 + $2}'); events=$((events + ${r#* }))
  done
  echo "$events $secs" | awk '{printf "%.0f", $1 / $2}'
}
alone=$(live "$CALLS" "$((CALLS + LIVE_CALLS))")
$P -c "SELECT pulse.set_retention('lc', 'parted', '$((DAYS - 30)) days')" >/dev/null
live "$((CALLS + LIVE_CALLS))" "$((CALLS + 2 * LIVE_CALLS))" >"$PULSE_TEST_DIR/live.out" &
LIVE=$!
sleep 1
ret=$($P -c "SELECT clock_timestamp()" -c "SELECT pulse.apply_retention()" -c "SELECT clock_timestamp()" | paste -sd' ')
wait $LIVE
during=$(cat "$PULSE_TEST_DIR/live.out")
echo "(c) retention: $(echo "$ret" | awk '{print $3}') rows dropped in $($P -c "SELECT round(extract(epoch FROM '$(echo "$ret" | awk '{print $4" "$5}')'::timestamptz - '$(echo "$ret" | awk '{print $1" "$2}')'::timestamptz)::numeric, 2)") s (target < 2 s); $($P -c "SELECT count(*) FROM pulse.job_history WHERE kind = 'retention'") drops in pulse.job_history"
echo "    ingestion meanwhile: $during ev/s vs $alone ev/s alone, ratio $(echo "$during $alone" | awk '{printf "%.2f", $1 / $2}') (target >= 0.8)"

# (d) the views: kept days equal the query, dropped days keep the history they had (float sums
# compared to 3 decimals: a view adds in another order than the query)
cut=$($P -c "SELECT history_dropped_before FROM pulse.collections WHERE project = 'lc' AND collection = 'parted'")
[ -n "$cut" ] || { echo "(d) nothing was dropped: no history to check"; cut=-infinity; }
$P -c "SELECT pulse.refresh_view('lc', 'by_country_parted')" >/dev/null
bad=$($P <<SQL
SELECT (SELECT count(*) FROM (SELECT day, n, round(amount::numeric, 3) FROM lc.by_day_parted WHERE day >= '$cut'
                              EXCEPT SELECT date_trunc('day', _time), count(*), round(sum(amount)::numeric, 3) FROM lc.parted GROUP BY 1 HAVING date_trunc('day', _time) >= '$cut') d)
     + (SELECT count(*) FROM (SELECT * FROM lc.by_hour_parted WHERE hour >= '$cut' EXCEPT SELECT date_trunc('hour', _time), count(*), max(amount) FROM lc.parted GROUP BY 1 HAVING date_trunc('hour', _time) >= '$cut') d)
     + (SELECT count(*) FROM (SELECT * FROM lc.by_country_parted WHERE day >= '$cut' EXCEPT SELECT date_trunc('day', _time), country, count(*) FROM lc.parted GROUP BY 1, 2 HAVING date_trunc('day', _time) >= '$cut') d)
     + (SELECT count(*) FROM (SELECT * FROM public.before_by_day WHERE day < '$cut' EXCEPT SELECT * FROM lc.by_day_parted WHERE day < '$cut') d)
     + (SELECT count(*) FROM (SELECT * FROM public.before_hours WHERE hour < '$cut' EXCEPT SELECT * FROM lc.by_hour_parted WHERE hour < '$cut') d)
     + (SELECT count(*) FROM (SELECT * FROM public.before_country WHERE day < '$cut' EXCEPT SELECT * FROM lc.by_country_parted WHERE day < '$cut') d);
SQL
)
echo "(d) views after retention (history before $cut): $bad rows differ from the query over kept events plus the history ($( [ "$bad" = 0 ] && echo ok || echo WRONG))"
echo "    days of history kept by by_day: $($P -c "SELECT count(*) FROM lc.by_day_parted WHERE day < '$cut'"), days of events left: $($P -c "SELECT count(DISTINCT date_trunc('day', _time)) FROM lc.parted")"

# (e) converting the plain collection
conv=$($P -c "SELECT clock_timestamp()" -c "SELECT pulse.partition_collection('lc', 'plain', 'day')" -c "SELECT clock_timestamp()" | paste -sd' ')
secs=$($P -c "SELECT extract(epoch FROM '$(echo "$conv" | awk '{print $4" "$5}')'::timestamptz - '$(echo "$conv" | awk '{print $1" "$2}')'::timestamptz)")
echo "(e) pulse.partition_collection of the plain collection: $(echo "$conv" | awk '{print $3}') rows in $(printf '%.1f' "$secs") s ($(echo "$conv $secs" | awk '{printf "%.0f", $3 / $6}') rows/s, the time ingestion waits)"
