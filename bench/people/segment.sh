#!/usr/bin/env bash
# bench/people/segment.sh: ingesting Segment track calls (spec => 'segment': {"batch": [...]}
# envelopes, 30 % with a userId, so identity links are made too) against the same events in
# pg_pulse's own dialect (envelopes naming the same collections, the same columns), measured in
# the same run on the same server: ratio = pulse time / segment time (the issue's target:
# >= 0.8). Each side runs twice, alternating, into fresh projects; the best run counts.
#   bash bench/people/segment.sh [events=200000] [batch=10000]
# PULSE_BENCH_USER_SHARE (default 0.3): the share of calls with a userId (each links its
# anonymousId: every pair is new in a fresh project); 0 measures the mapping alone.
# PULSE_BENCH_TRACK_PERSONS (default 1): 0 turns persons on first sight off in both projects
# (pulse.set_track_persons), as before it existed.
# Starts the private test cluster (test/cluster.sh: PGBIN, PULSE_TEST_DIR, PULSE_TEST_PORT) unless
# PULSE_BENCH_USE_RUNNING=1. Times are taken inside the session (clock_timestamp()).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-200000}
B=${2:-10000}
export PULSE_TEST_DIR=${PULSE_TEST_DIR:-/tmp/pg_pulse_test}
DIR=$PULSE_TEST_DIR/bench_people
export PGHOST=$PULSE_TEST_DIR PGPORT=${PULSE_TEST_PORT:-54329} PGUSER=postgres
rm -rf "$DIR" && mkdir -p "$DIR" && chmod 755 "$DIR"
if [ "${PULSE_BENCH_USE_RUNNING:-0}" != 1 ]; then
  bash "$REPO/test/cluster.sh" start
  trap 'bash "$REPO/test/cluster.sh" stop' EXIT
fi
CALLS=$(python3 "$REPO/bench/people/gen.py" "$N" "$B" "$DIR" "${PULSE_BENCH_USER_SHARE:-0.3}")
chmod 644 "$DIR"/*
psql -qX -d postgres -c "DROP DATABASE IF EXISTS pulse_bench_people" -c "CREATE DATABASE pulse_bench_people" >/dev/null
P="psql -qXAt -v ON_ERROR_STOP=1 -d pulse_bench_people"
$P -c "CREATE EXTENSION pg_pulse" >/dev/null

# run KIND ROUND [keep]: seconds to ingest every call of KIND into a fresh project (keep: into
# the project of that round as it is)
run() {
  local kind=$1 proj=b_$1_$2 c f
  [ "${3:-}" = keep ] ||
    $P -c "SET client_min_messages = warning" -c "SELECT pulse.drop_project(name, force => true) FROM pulse.projects WHERE name = '$proj'" \
       -c "SELECT pulse.create_project('$proj')" \
       -c "SELECT pulse.set_track_persons('$proj', $([ "${PULSE_BENCH_TRACK_PERSONS:-1}" = 0 ] && echo false || echo true))" >/dev/null
  {
    echo "SELECT clock_timestamp() AS t0 \\gset"
    for ((c = 0; c < CALLS; c++)); do
      f=$DIR/${kind}_$(printf '%04d' "$c").ndjson
      if [ "$kind" = segment ]; then
        echo "SELECT stored FROM pulse.collect_batch('$proj', pg_read_file('$f'), spec => 'segment') \\g /dev/null"
      else
        echo "SELECT stored FROM pulse.collect_batch('$proj', pg_read_file('$f')) \\g /dev/null"
      fi
    done
    echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 3);"
  } | $P
}
declare -A best
for round in 1 2; do
  for kind in pulse segment; do
    t=$(run "$kind" "$round")
    echo "round $round: $kind $N events: ${t}s"
    if [ -z "${best[$kind]:-}" ] || awk -v a="$t" -v b="${best[$kind]}" 'BEGIN { exit !(a < b) }'; then best[$kind]=$t; fi
  done
done
# the same calls once more into each side's round-2 project: collections, persons and identity
# links all exist already (a stream that keeps seeing the same users), on both sides
again_pulse=$(run pulse 2 keep)
again=$(run segment 2 keep)
echo "again into the same projects (collections, persons and links made): pulse ${again_pulse}s, segment ${again}s"
rows=$($P -c "SELECT (SELECT count(*) FROM b_segment_2.product_viewed) + (SELECT count(*) FROM b_segment_2.product_added)
                   + (SELECT count(*) FROM b_segment_2.checkout_started) + (SELECT count(*) FROM b_segment_2.order_completed)")
links=$($P -c "SELECT CASE WHEN to_regclass('b_segment_2._person_ids') IS NULL THEN 0 ELSE (xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM b_segment_2._person_ids', false, true, '')))[1]::text::int END")
echo "segment rows stored: $rows of $((2 * N)) (the calls ran twice); ids in the identity mapping: $links"
awk -v p="${best[pulse]}" -v s="${best[segment]}" -v n="$N" 'BEGIN {
  printf "pulse dialect: %.0f events/s; segment spec: %.0f events/s; ratio segment/pulse speed = %.2f (target >= 0.8)\n", n / p, n / s, p / s }'
awk -v p="$again_pulse" -v s="$again" 'BEGIN { printf "again, into the same projects: ratio segment/pulse speed = %.2f\n", p / s }'
