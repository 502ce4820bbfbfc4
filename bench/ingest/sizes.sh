#!/usr/bin/env bash
# bench/ingest/sizes.sh: pulse.collect_batch at several batch sizes (events per call), into a
# plain and a day-partitioned collection, each against COPY FROM (CSV) of the same rows into an
# identical collection, measured in the same run, plus the backend's peak memory for the calls.
#   bash bench/ingest/sizes.sh [events=200000] [sizes="1000 10000 50000 200000"] [kinds="none day"]
# For each kind and size, EVENTS events go in as EVENTS/size calls on one fresh backend; the
# same rows are then COPYed into the twin collection. Memory: a poller samples the backend's
# /proc/<pid>/status every ~2 ms while the calls run; "peak anon" is the highest RssAnon (the
# backend's private memory: decoded events, buffers, the payload argument itself) and "growth"
# is that peak minus RssAnon before the first call. VmHWM counts shared buffers too, so it is
# printed for reference only; the growth includes the caches a fresh backend fills on its first
# call (~3 MB). "payload" is the size of one call's NDJSON text. Times are taken inside the
# sessions (clock_timestamp() around the calls and around the COPY), not around psql.
# Starts the private test cluster (test/cluster.sh: PGBIN, PULSE_TEST_DIR, PULSE_TEST_PORT) unless
# PULSE_BENCH_USE_RUNNING=1. Generated events go to $PULSE_TEST_DIR/bench_ingest_sizes.
# PULSE_BENCH_PERSONS (default "off on"; "off on known" measures all three in the same run): the
# project's pulse.set_track_persons. "off" stores the events alone, the rows COPY stores: the
# write path's own ratio. "on" (the default of projects) starts each measurement without
# persons, so every _user is a new person whose row and id mapping are written too (the costly
# case: docs/people.md#persons-on-first-sight); "known" keeps the persons of the earlier
# measurements (a stream that keeps seeing its users, in a fresh backend).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-200000}
SIZES=${2:-1000 10000 50000 200000}
KINDS=${3:-none day}
export PULSE_TEST_DIR=${PULSE_TEST_DIR:-/tmp/pg_pulse_test}
DIR=$PULSE_TEST_DIR/bench_ingest_sizes
export PGHOST=$PULSE_TEST_DIR PGPORT=${PULSE_TEST_PORT:-54329} PGUSER=postgres
rm -rf "$DIR" && mkdir -p "$DIR" && chmod 755 "$DIR"
if [ "${PULSE_BENCH_USE_RUNNING:-0}" != 1 ]; then
  bash "$REPO/test/cluster.sh" start
  trap 'bash "$REPO/test/cluster.sh" stop' EXIT
fi
echo "generating $N events ..."
# 1000-event pieces; a call of S events is S/1000 consecutive pieces, so every size stores the
# same rows as the CSV.
PIECES=$(python3 "$REPO/bench/ingest/gen.py" "$N" 1000 "$DIR")
for S in $SIZES; do
  if [ $((S % 1000)) -ne 0 ] || [ $((N % S)) -ne 0 ]; then
    echo "sizes must be multiples of 1000 that divide events ($N): $S" >&2
    exit 2
  fi
  per=$((S / 1000))
  for ((c = 0; c < N / S; c++)); do
    for ((k = c * per; k < (c + 1) * per; k++)); do cat "$DIR/$(printf 'chunk_%04d.ndjson' "$k")"; done \
      > "$DIR/call_${S}_$(printf '%04d' "$c").ndjson"
  done
done
rm -f "$DIR"/chunk_*.ndjson
chmod 644 "$DIR"/*
psql -qX -d postgres -c "DROP DATABASE IF EXISTS pulse_bench" -c "CREATE DATABASE pulse_bench" >/dev/null
P="psql -qXAt -v ON_ERROR_STOP=1 -d pulse_bench"
$P -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('bench')" >/dev/null
COLS="_time, _user, url, country, referrer, price, quantity, duration_ms, is_mobile, is_new"

# poll PIDFILE OUT: once PIDFILE names a backend, sample its memory until it exits
poll() {
  python3 - "$1" "$2" <<'PY'
import os, sys, time
pidfile, out = sys.argv[1], sys.argv[2]
while not (os.path.exists(pidfile) and open(pidfile).read().strip()):
    time.sleep(0.001)
pid = open(pidfile).read().strip()
base = peak = hwm = None
def kb(lines, key):
    for l in lines:
        if l.startswith(key):
            return int(l.split()[1])
while True:
    try:
        with open("/proc/%s/status" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        break
    a, h = kb(lines, "RssAnon:"), kb(lines, "VmHWM:")
    if a is None:
        break
    base = a if base is None else base
    peak = a if peak is None else max(peak, a)
    hwm = h
    time.sleep(0.002)
open(out, "w").write("%d %d %d\n" % (base or 0, peak or 0, hwm or 0))
PY
}

PERSONS_MODES=${PULSE_BENCH_PERSONS:-off on}
printf "%-7s %-6s %8s %6s %12s %12s %6s %10s %10s %10s %10s %7s\n" persons kind size calls "collect ev/s" "COPY ev/s" ratio \
  "payload" "peak anon" "growth" "VmHWM" "grow/pl"
for KIND in $KINDS; do
  # Twin collections created the same way; a warm-up of all rows into both makes the columns
  # and (when partitioned) the partitions, then both are emptied before each measurement.
  EV=events_$KIND CP=copy_$KIND
  WARM=$(echo "$SIZES" | awk '{ for (i = 1; i <= NF; i++) if ($i >= 10000) { print $i; exit } print $1 }')
  for T in $EV $CP; do
    $P -c "SELECT pulse.create_collection('bench', '$T', partition_by => '$KIND')" >/dev/null
    for f in "$DIR"/call_${WARM}_*.ndjson; do
      echo "SELECT stored FROM pulse.collect_batch('bench', pg_read_file('$f'), '$T');"
    done > "$DIR/warm.sql"
    $P -f "$DIR/warm.sql" >/dev/null
  done
  for PERSONS in $PERSONS_MODES; do
  $P -c "SELECT pulse.set_track_persons('bench', $([ "$PERSONS" = off ] && echo false || echo true))" >/dev/null
  for S in $SIZES; do
    $P -c "TRUNCATE bench.$EV, bench.$CP" -c "CHECKPOINT" >/dev/null
    [ "$PERSONS" = known ] || $P -c "DO \$\$ BEGIN IF to_regclass('bench._persons') IS NOT NULL THEN TRUNCATE bench._persons, bench._person_ids; END IF; END \$\$" >/dev/null
    rm -f "$DIR/pid" "$DIR/mem" "$DIR"/t[0-3]
    {
      echo "\\o $DIR/pid"
      echo "SELECT pg_backend_pid();"
      echo "\\o"
      echo "SELECT pg_sleep(0.5);"  # the poller attaches
      echo "\\o $DIR/t0"
      echo "SELECT extract(epoch FROM clock_timestamp());"
      echo "\\o"
      for f in "$DIR"/call_${S}_*.ndjson; do
        echo "SELECT stored FROM pulse.collect_batch('bench', pg_read_file('$f'), '$EV');"
      done
      echo "\\o $DIR/t1"
      echo "SELECT extract(epoch FROM clock_timestamp());"
    } > "$DIR/calls.sql"
    poll "$DIR/pid" "$DIR/mem" &
    POLLER=$!
    $P -f "$DIR/calls.sql" >/dev/null
    wait "$POLLER"
    t0=$(cat "$DIR/t0") t1=$(cat "$DIR/t1")
    $P -c "CHECKPOINT" >/dev/null
    {
      echo "\\o $DIR/t2"
      echo "SELECT extract(epoch FROM clock_timestamp());"
      echo "\\o"
      echo "COPY bench.$CP ($COLS) FROM '$DIR/events.csv' (FORMAT csv);"
      echo "\\o $DIR/t3"
      echo "SELECT extract(epoch FROM clock_timestamp());"
    } > "$DIR/copy.sql"
    $P -f "$DIR/copy.sql" >/dev/null
    t2=$(cat "$DIR/t2") t3=$(cat "$DIR/t3")
    stored=$($P -c "SELECT count(*) FROM bench.$EV")
    diff=$($P -c "SELECT count(*) FROM (SELECT $COLS FROM bench.$EV EXCEPT ALL SELECT $COLS FROM bench.$CP) d")
    if [ "$stored" != "$N" ] || [ "$diff" != 0 ]; then
      echo "warning: $KIND/$S stored $stored of $N rows, $diff differ from COPY" >&2
    fi
    payload=$(stat -c %s "$DIR/call_${S}_0000.ndjson")
    read -r base peak hwm < "$DIR/mem"
    awk -v persons="$PERSONS" -v kind="$KIND" -v s="$S" -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v pl="$payload" \
      -v base="$base" -v peak="$peak" -v hwm="$hwm" 'BEGIN {
      ca = n / (b - a); co = n / (d - c); mb = 1024 * 1024;
      printf "%-7s %-6s %8d %6d %12.0f %12.0f %6.2f %8.1fMB %8.1fMB %8.1fMB %8.1fMB %6.2fx\n", persons, kind, s, n / s, ca, co,
        ca / co, pl / mb, peak / 1024, (peak - base) / 1024, hwm / 1024, (peak - base) * 1024 / pl }'
  done
  done
done
