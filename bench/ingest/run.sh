#!/usr/bin/env bash
# bench/ingest: events/s of pulse.collect_batch vs COPY FROM (CSV) of the same rows into an
# identical table, on one backend, measured in the same run. Prints the ratio.
#   bash bench/ingest/run.sh [events=1000000] [events_per_call=50000]
# Starts the private test cluster (test/cluster.sh: PGBIN, PULSE_TEST_DIR, PULSE_TEST_PORT) unless
# PULSE_BENCH_USE_RUNNING=1. Generated events go to $PULSE_TEST_DIR/bench_ingest.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-1000000}
CHUNK=${2:-50000}
export PULSE_TEST_DIR=${PULSE_TEST_DIR:-/tmp/pg_pulse_test}
DIR=$PULSE_TEST_DIR/bench_ingest
export PGHOST=$PULSE_TEST_DIR PGPORT=${PULSE_TEST_PORT:-54329} PGUSER=postgres
rm -rf "$DIR" && mkdir -p "$DIR" && chmod 755 "$DIR"
if [ "${PULSE_BENCH_USE_RUNNING:-0}" != 1 ]; then
  bash "$REPO/test/cluster.sh" start
  trap 'bash "$REPO/test/cluster.sh" stop' EXIT
fi
echo "generating $N events ..."
PARTS=$(python3 "$REPO/bench/ingest/gen.py" "$N" "$CHUNK" "$DIR")
chmod 644 "$DIR"/*
psql -qX -d postgres -c "DROP DATABASE IF EXISTS pulse_bench" -c "CREATE DATABASE pulse_bench" >/dev/null
P="psql -qXAt -v ON_ERROR_STOP=1 -d pulse_bench"
$P -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('bench')" >/dev/null
# The table is created by the first (small) call; COPY gets an identical one (same columns,
# types, defaults and BRIN indexes). Both are then truncated.
$P -c "SELECT pulse.collect_batch('bench', pg_read_file('$DIR/chunk_0000.ndjson'), 'events')" >/dev/null
$P -c "CREATE TABLE bench.copy_target (LIKE bench.events INCLUDING ALL)" \
   -c "TRUNCATE bench.events" -c "CHECKPOINT" >/dev/null
now() { date +%s.%N; }
# All calls go through one session (one backend), like the single COPY statement below.
for ((k = 0; k < PARTS; k++)); do
  printf "SELECT stored FROM pulse.collect_batch('bench', pg_read_file('%s/chunk_%04d.ndjson'), 'events');\n" "$DIR" "$k"
done > "$DIR/calls.sql"
t0=$(now)
$P -f "$DIR/calls.sql" >/dev/null
t1=$(now)
$P -c "CHECKPOINT" >/dev/null
t2=$(now)
$P -c "COPY bench.copy_target (_time, _user, url, country, referrer, price, quantity, duration_ms, is_mobile, is_new) FROM '$DIR/events.csv' (FORMAT csv)" >/dev/null
t3=$(now)
stored=$($P -c "SELECT count(*) FROM bench.events")
copied=$($P -c "SELECT count(*) FROM bench.copy_target")
same=$($P -c "SELECT count(*) FROM (SELECT _time,_user,url,country,referrer,price,quantity,duration_ms,is_mobile,is_new FROM bench.events EXCEPT ALL SELECT _time,_user,url,country,referrer,price,quantity,duration_ms,is_mobile,is_new FROM bench.copy_target) d")
awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v s="$stored" -v cp="$copied" -v diff="$same" -v chunk="$CHUNK" 'BEGIN {
  ca = n / (b - a); co = n / (d - c);
  printf "events: %d (%d per collect_batch call); rows stored: collect_batch %d, COPY %d; rows differing: %d\n", n, chunk, s, cp, diff;
  printf "collect_batch: %10.0f events/s  (%.2f s)\n", ca, b - a;
  printf "COPY FROM csv: %10.0f events/s  (%.2f s)\n", co, d - c;
  printf "ratio collect_batch / COPY: %.2f\n", ca / co }'
