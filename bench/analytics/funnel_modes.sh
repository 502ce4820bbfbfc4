#!/usr/bin/env bash
# bench/analytics/funnel_modes.sh: what the funnel modes cost, measured in one run on the data of
# bench/analytics/gen.sql (visit -> add_to_cart -> purchase, 1-day window):
#   * pulse.funnel's single pass (pulse._funnel_report over every event of the three collections)
#     with step_order 'strict' as 0.3.0 evaluates it (strict_sequence, PostHog's strict order)
#     against the same state machine with 0.2.0's strict (ClickHouse strict_order), and against
#     the ordered funnel;
#   * pulse.window_funnel per user (GROUP BY _user) in every mode against no mode: strict_order,
#     strict_order + allow_reentry, strict_deduplication, strict_increase, strict_once,
#     strict_sequence.
# Each query: one warm-up, then the best of RUNS runs. Prints times and ratios (a ratio is
# mode / its baseline; not pass/fail), and the users / sum of levels each mode gives.
#
#   bash bench/analytics/funnel_modes.sh [events=2000000]
#
# Starts (and wipes) its own private cluster through test/cluster.sh in /tmp/pg_pulse_bench_fm
# on port 54383, stops it on exit. Tunables: PULSE_BENCH_RUNS (3), PULSE_BENCH_KEEP=1.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/bench/analytics
N=${1:-2000000}
RUNS=${PULSE_BENCH_RUNS:-3}
[[ "$N" =~ ^[1-9][0-9]*$ ]] && [ "$N" -ge 1000 ] || { echo "usage: $0 [events>=1000]" >&2; exit 2; }
export PULSE_TEST_DIR=/tmp/pg_pulse_bench_fm PULSE_TEST_PORT=54383
export PULSE_TEST_CONF="shared_buffers = 1GB
work_mem = 256MB
max_parallel_workers_per_gather = 0
jit = off"
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres
P="psql -qXAt -v ON_ERROR_STOP=1 -d pulse_bench"

cleanup() {
  local rc=$?
  [ "$rc" -ne 0 ] && echo "bench/analytics/funnel_modes: failed (exit $rc); server log: $PULSE_TEST_DIR/postgres.log" >&2
  [ "${PULSE_BENCH_KEEP:-0}" = 1 ] || bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$REPO/test/cluster.sh" start >/dev/null
psql -qX -d postgres -c "CREATE DATABASE pulse_bench" >/dev/null
$P -c "ALTER DATABASE pulse_bench SET timezone = 'UTC'" -c "CREATE EXTENSION pg_pulse" >/dev/null
$P >/dev/null <<'SQL'
SELECT pulse.create_project('an');
SELECT pulse.create_collection('an', 'visit', '{"url": "text"}');
SELECT pulse.create_collection('an', 'signup', '{"plan": "text"}');
SELECT pulse.create_collection('an', 'add_to_cart', '{"sku": "text"}');
SELECT pulse.create_collection('an', 'purchase', '{"amount": "numeric(10,2)"}');
SELECT pulse.create_collection('an', 'return', '{"reason": "text"}');
SQL
$P -v n="$N" -v users=$((N / 10)) -f "$HERE/gen.sql" >/dev/null
$P -c "VACUUM ANALYZE" >/dev/null
echo "data: $($P -c "SELECT (SELECT count(*) FROM an.visit) + (SELECT count(*) FROM an.add_to_cart) + (SELECT count(*) FROM an.purchase)") events of the funnel's 3 collections, $((N / 10)) users"

# The funnel's events (u, t, s = step bits, x = 0), every row of the step collections kept (as
# strict funnels read them), with the funnel's date range as literals.
EV=$($P -c "SELECT replace(replace(pulse._funnel_events_sql('an', '{visit,add_to_cart,purchase}', '{NULL,NULL,NULL}',
                                                           '{}', '{}', false, true),
                                   '\$1', '''2024-01-01 00:00+00''::timestamptz'), '\$2', '''2024-03-05 00:00+00''::timestamptz')")
report() {  # the single pass with mode bits $1: users at steps 1, 2, 3
  echo "SELECT (r[1]).users || '/' || (r[2]).users || '/' || (r[3]).users FROM (SELECT pulse._funnel_report(u, t, s, x, '1 day', $1, 3, '{}'::int[], '{}'::int[]) AS r FROM ($EV) ev) q"
}
per_user() {  # window_funnel per user with modes $1: the sum of the levels
  echo "SELECT sum(l) FROM (SELECT pulse.window_funnel('1 day', '$1'::text[], t, s & 1 <> 0, s & 2 <> 0, s & 4 <> 0) AS l FROM ($EV) ev WHERE u IS NOT NULL GROUP BY u) q"
}

# best_ms SQL: one warm-up, then the best of RUNS runs (psql \timing, result discarded).
best_ms() {
  { echo '\timing on'; for ((i = 0; i <= RUNS; i++)); do echo "$1;"; done; } |
    $P -o /dev/null | awk '/^Time:/ { if (++k > 1 && (b == "" || $2 < b)) b = $2 } END { print b }'
}
B=
row() {  # name sql; the first row of a table (B empty) is the baseline of the others
  local ms answer
  ms=$(best_ms "$2")
  answer=$($P -c "$2")
  [ -n "$B" ] || B=$ms
  awk -v n="$1" -v m="$ms" -v b="$B" -v a="$answer" 'BEGIN { printf "  %-36s %10.1f ms %8.2fx   %s\n", n, m, m / b, a }'
}

echo
echo "pulse.funnel single pass (pulse._funnel_report), ratio against strict 0.2.0 (strict_order); answer users/step"
B=
row "strict 0.2.0 (strict_order)" "$(report 1)"
row "strict 0.3.0 (strict_sequence)" "$(report 64)"
row "ordered" "$(report 0)"

echo
echo "pulse.window_funnel per user, ratio against no mode; answer: sum of the users' levels"
B=
row "no mode" "$(per_user '{}')"
for m in '{strict_order}' '{strict_order,allow_reentry}' '{strict_deduplication}' '{strict_increase}' '{strict_once}' '{strict_sequence}'; do
  row "$m" "$(per_user "$m")"
done
