#!/usr/bin/env bash
# bench/kafka/pool.sh: many Kafka subscriptions on the bounded worker pool (pulse.kafka_workers),
# one project and one single-partition topic per subscription, librdkafka's mock cluster on
# loopback (test/kafka/lib.sh), default subscription settings (batch_size 10000, batch_timeout
# 200 ms). For each count S of subscriptions, in a fresh cluster:
#   (a) throughput: E events spread evenly over the S topics, from the start of producing to the
#       commit of the last row (commit timestamps), against the baseline measured first in the
#       same run: the same E events through ONE subscription on one topic (ratio S / 1);
#   (b) freshness: a steady RATE events/s for SECONDS round-robin over the S topics; per row,
#       commit time - produce time: p50 / p99 over all rows, and the spread of the
#       per-subscription p99 (median and worst subscription: fairness); against the baseline of
#       a plain librdkafka consumer of the same topics in the same seconds (bench/kafka/probe.py:
#       receive time - produce time, so it shows what the mock broker and the producer cost);
#   plus the pool's processes, their threads and resident memory.
# librdkafka's mock cluster serves every request on one thread: with 1,000 consumer groups
# (heartbeats, idle fetches every fetch.wait.max.ms) it is the bottleneck, so counts above 100
# are measured at a fifth of RATE and with librdkafka's default heartbeat interval.
#
#   bash bench/kafka/pool.sh [counts="10 100 1000"] [events=200000] [rate=10000] [seconds=15]
#
# Own cluster in /tmp/pg_pulse_bench_pool (port 54367), stopped on exit. Bounded in time.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
COUNTS=${1:-"10 100 1000"}
E=${2:-200000}
RATE=${3:-10000}
SECS=${4:-15}
WORKERS=${PULSE_BENCH_WORKERS:-8}
PY=/usr/bin/python3
export PULSE_REPO=$REPO PULSE_TEST_DIR=/tmp/pg_pulse_bench_pool PULSE_TEST_PGDATA=/tmp/pg_pulse_bench_pool/data \
       PULSE_TEST_LOG=/tmp/pg_pulse_bench_pool/postgres.log PULSE_TEST_PORT=54367
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres PGDATABASE=postgres
export KAFKA_CLIENT_TIMEOUT=${KAFKA_CLIENT_TIMEOUT:-300}
Q="psql -qXAt -v ON_ERROR_STOP=1 -d postgres"
trap 'bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true' EXIT
. "$REPO/test/kafka/lib.sh"
die() { echo "bench/kafka/pool: $*" >&2; tail -n 20 "$PULSE_TEST_LOG" >&2 2>/dev/null || true; exit 1; }
now() { printf '%s\n' "$EPOCHREALTIME"; }
wait_for() {  # wait_for SQL EXPECTED SECONDS
  local got="" deadline=$((SECONDS + $3))
  while :; do
    got=$($Q -c "$1" 2>/dev/null || true)
    [ "$got" = "$2" ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && die "waited $3 s for [$1] = $2, got '$got'"
    sleep 0.2
  done
}
stored() { $Q -c "SELECT coalesce(sum(next_offset), 0) FROM pulse.kafka_offsets"; }
OPTS='{"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}'

kafka_start
echo "mock broker at $KAFKA_BROKERS; $(nproc) CPUs; pulse.kafka_workers = $WORKERS"
# topics: base1 (the baseline) and r<S>_1 .. r<S>_S per count
kafka_cmd topic base1 1 >/dev/null
for S in $COUNTS; do for ((i = 1; i <= S; i++)); do kafka_cmd topic "r${S}_$i" 1 >/dev/null; done; done

# fresh_cluster: a new cluster with pg_pulse
fresh_cluster() {
  bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true
  PULSE_TEST_CONF=$'track_commit_timestamp = on\nmax_worker_processes = 24\npulse.kafka_workers = '"$WORKERS" \
    bash "$REPO/test/cluster.sh" start >/dev/null
  $Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_pulse" >/dev/null
}
# subscribe_all PREFIX S: projects p1..pS, one subscription each on PREFIX1..PREFIXS
subscribe_all() {
  $Q -c "SELECT count(pulse.create_project('p' || i)) FROM generate_series(1, $2) i" >/dev/null
  $Q -c "SELECT count(pulse.kafka_subscribe('p' || i, ARRAY['$1' || i], '$KAFKA_BROKERS', collection => 'ev',
           options => '$OPTS')) FROM generate_series(1, $2) i" >/dev/null
}
# throughput PREFIX S: E events over the S topics; prints events/s (produce start -> last commit)
throughput() {
  local prefix=$1 s=$2 per base t0 t1
  per=$((E / s))
  base=$(stored)
  t0=$(now)
  timeout -k 5 600 "$PY" "$REPO/bench/kafka/producer.py" bulk "$prefix" "$s" "$per" || die "bulk produce failed"
  wait_for "SELECT coalesce(sum(next_offset), 0) FROM pulse.kafka_offsets" $((base + per * s)) $((120 + E / 1000))
  t1=$($Q -c "SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) FROM pulse.kafka_offsets")
  awk -v n=$((per * s)) -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f %.2f\n", n / (b - a), b - a }'
}
pool_stats() {
  local pids threads=0 rss=0 p
  pids=$($Q -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'")
  for p in $pids; do
    threads=$((threads + $(ls "/proc/$p/task" 2>/dev/null | wc -l)))
    rss=$((rss + $(awk '/VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$(wc -w <<<"$pids") processes, $threads threads, $((rss / 1024)) MB resident"
}

echo "== baseline: one subscription, $E events on one topic"
fresh_cluster
subscribe_all base 1
wait_for "SELECT count(*) FROM pulse.kafka_status WHERE topic IS NOT NULL AND worker_state = 'consuming'" 1 60
read -r BASE BASE_S < <(throughput base 1)
echo "  $BASE events/s ($BASE_S s)"

SUMMARY=()
for S in $COUNTS; do
  echo "== $S subscriptions (one project each) on at most $WORKERS pool workers"
  fresh_cluster
  t0=$(now)
  rate=$RATE
  if [ "$S" -gt 100 ]; then rate=$((RATE / 5)); OPTS='{"session.timeout.ms": "30000"}'; fi
  subscribe_all "r${S}_" "$S"
  t1=$(now)
  wait_for "SELECT count(*) FROM pulse.kafka_status WHERE topic IS NOT NULL AND worker_state = 'consuming'" "$S" $((60 + S / 5))
  t2=$(now)
  awk -v s="$S" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
    printf "  %d projects + subscriptions created in %.1f s; all consuming (partitions assigned) %.1f s later\n", s, b - a, c - b }'
  echo "  pool: $(pool_stats)"
  read -r TP TP_S < <(throughput "r${S}_" "$S")
  RATIO=$(awk -v a="$TP" -v b="$BASE" 'BEGIN { printf "%.2f", a / b }')
  echo "  (a) throughput: $TP events/s for $(((E / S) * S)) events ($TP_S s); ratio to one subscription: $RATIO"
  base=$(stored)
  "$PY" "$REPO/bench/kafka/probe.py" "r${S}_" "$S" $((SECS + 15)) >"$PULSE_TEST_DIR/probe.json" &
  PROBE=$!
  sleep 5   # the probe joins its group
  prod=$(timeout -k 5 $((SECS + 120)) "$PY" "$REPO/bench/kafka/producer.py" spread "r${S}_" "$S" "$rate" "$SECS") ||
    die "spread producer failed"
  read -r sent delivered perr first_us achieved < <("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]);
print(d["sent"], d["delivered"], d["errors"], d["first_us"], d["rate"])' "$prod")
  [ "$perr" = 0 ] || die "spread producer: $perr messages not delivered"
  wait $PROBE || die "probe consumer failed"
  read -r q50 q99 < <("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["p50"], d["p99"])' "$PULSE_TEST_DIR/probe.json")
  wait_for "SELECT coalesce(sum(next_offset), 0) FROM pulse.kafka_offsets" $((base + delivered)) 120
  union=$($Q -c "SELECT string_agg(format('SELECT %s AS s, extract(epoch FROM pg_xact_commit_timestamp(xmin) - to_timestamp(sent_us / 1e6)) * 1000 AS f FROM %I.ev WHERE sent_us >= $first_us', i, 'p' || i), ' UNION ALL ') FROM generate_series(1, $S) i")
  $Q -c "CREATE TABLE public.fresh AS $union" >/dev/null
  IFS='|' read -r n p50 p99 sp50 sp99 < <($Q -c "
    WITH per AS (SELECT s, percentile_cont(0.99) WITHIN GROUP (ORDER BY f) AS p99 FROM public.fresh GROUP BY s)
    SELECT (SELECT count(*) FROM public.fresh),
           (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY f)::numeric, 0) FROM public.fresh),
           (SELECT round(percentile_cont(0.99) WITHIN GROUP (ORDER BY f)::numeric, 0) FROM public.fresh),
           (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY p99)::numeric, 0) FROM per),
           (SELECT round(max(p99)::numeric, 0) FROM per)")
  [ "$n" = "$delivered" ] || die "$n rows for $delivered delivered messages"
  echo "  (b) freshness at $achieved events/s over $S topics for $SECS s: p50 $p50 ms, p99 $p99 ms;" \
       "per-subscription p99: median $sp50 ms, worst $sp99 ms; plain librdkafka consumer: p50 $q50 ms, p99 $q99 ms"
  echo "  pool: $(pool_stats)"
  SUMMARY+=("$(printf '%5d subscriptions: %7s events/s (ratio to one subscription %s); freshness at %s events/s p50 %s ms, p99 %s ms, worst subscription p99 %s ms (plain consumer p50 %s, p99 %s ms)' \
                "$S" "$TP" "$RATIO" "$achieved" "$p50" "$p99" "$sp99" "$q50" "$q99")")
done
echo "== summary ($(nproc) CPUs, pulse.kafka_workers = $WORKERS, $E events for throughput, $RATE events/s for freshness)"
echo "    1 subscription:  $BASE events/s (baseline)"
printf '%s\n' "${SUMMARY[@]}"
