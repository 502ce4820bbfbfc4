#!/usr/bin/env bash
# bench/analytics: pg_pulse's insight functions against the best hand-written Postgres SQL and
# against DuckDB (@duckdb/node-api) on the same data, measured in the same run:
#   funnel     visit -> add_to_cart -> purchase, 1-day window           (pulse.funnel)
#   retention  weekly cohorts, start = signup, return = visit, 8 periods (pulse.retention)
#   trends     daily unique users of visit over 30 days                 (pulse.trends)
#   retention_breakdown  the retention above by the signup's plan   (breakdown => 'plan')
#   trends_breakdown     the trends above by url, top 10 and 'other' (breakdown => 'url')
#   funnel_breakdown     the funnel above by url (breakdown => 'url': each user under the url of
#                        the visit their counted chain starts with)
#   paths      transitions between consecutive events of 30-minute sessions, steps 1 to 5,
#              distinct users per (step, source, target)                   (pulse.paths)
# and the funnel by url once more against pg_pulse's general plan for it.
# Each query: one warm-up, then the best of RUNS runs. The hand-written SQL and DuckDB answers are
# checked against pg_pulse's with EXCEPT ALL in both directions (rates rounded to 12 digits in
# the DuckDB check; exact in Postgres). Prints the ratios hand-written / pg_pulse and pg_pulse / DuckDB.
#
#   bash bench/analytics/run.sh [events=10000000]
#
# Data: ~events events of 5 collections (visit, signup, add_to_cart, purchase, return) by
# events/10 users over 60 days, made by gen.sql (seeded). Starts (and wipes) its own private
# cluster through test/cluster.sh in /tmp/pg_pulse_bench_an on port 54381, stops it on exit.
# Tunables: PULSE_BENCH_RUNS (3), PULSE_BENCH_KEEP=1 keeps the cluster running at the end.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/bench/analytics
N=${1:-10000000}
RUNS=${PULSE_BENCH_RUNS:-3}
[[ "$N" =~ ^[1-9][0-9]*$ ]] && [ "$N" -ge 1000 ] || { echo "usage: $0 [events>=1000]" >&2; exit 2; }
export PULSE_TEST_DIR=/tmp/pg_pulse_bench_an PULSE_TEST_PORT=54381
export PULSE_TEST_CONF="shared_buffers = 2GB
work_mem = 256MB
max_parallel_workers_per_gather = 2
jit = off"
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres
EXP=$PULSE_TEST_DIR/export
P="psql -qXAt -v ON_ERROR_STOP=1 -d pulse_bench"

cleanup() {
  local rc=$?
  [ "$rc" -ne 0 ] && echo "bench/analytics: failed (exit $rc); server log: $PULSE_TEST_DIR/postgres.log" >&2
  [ "${PULSE_BENCH_KEEP:-0}" = 1 ] || bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -d "$HERE/node_modules/@duckdb/node-api" ]; then
  echo "installing @duckdb/node-api into bench/analytics/node_modules ..."
  (cd "$HERE" && npm install --no-audit --no-fund --silent >/dev/null)
fi
bash "$REPO/test/cluster.sh" start >/dev/null
mkdir -p "$EXP" && chmod 777 "$EXP"
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
t0=$EPOCHREALTIME
$P -v n="$N" -v users=$((N / 10)) -f "$HERE/gen.sql" >/dev/null
$P -c "VACUUM ANALYZE" >/dev/null
t1=$EPOCHREALTIME
echo "data: $($P -F ' ' -c "SELECT string_agg(c || ' ' || n, ', ' ORDER BY c) || '; total ' || sum(n) || ', users ' || $((N / 10))
  FROM (SELECT 'visit' c, count(*) n FROM an.visit UNION ALL SELECT 'signup', count(*) FROM an.signup
        UNION ALL SELECT 'add_to_cart', count(*) FROM an.add_to_cart UNION ALL SELECT 'purchase', count(*) FROM an.purchase
        UNION ALL SELECT 'return', count(*) FROM an.return) x") (generated in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s)"

# best_ms FILE: one warm-up, then the best of RUNS runs (psql \timing, result discarded).
best_ms() {
  { echo '\timing on'; for ((i = 0; i <= RUNS; i++)); do cat "$1"; echo ';'; done; } |
    $P -o /dev/null | awk '/^Time:/ { if (++k > 1 && (b == "" || $2 < b)) b = $2 } END { print b }'
}
ANALYSES="funnel retention trends retention_breakdown trends_breakdown funnel_breakdown paths"
declare -A T D
for a in $ANALYSES; do
  Q_P=$(cat "$HERE/q/$a.pulse.sql"); Q_H=$(cat "$HERE/q/$a.hand.sql")
  T[$a.pulse]=$(best_ms "$HERE/q/$a.pulse.sql")
  T[$a.hand]=$(best_ms "$HERE/q/$a.hand.sql")
  D[$a.ph]=$($P -c "SELECT count(*) FROM (($Q_P) EXCEPT ALL ($Q_H)) d")
  D[$a.hp]=$($P -c "SELECT count(*) FROM (($Q_H) EXCEPT ALL ($Q_P)) d")
  D[$a.rows]=$($P -c "SELECT count(*) FROM ($Q_P) d")
  # pg_pulse's answer for the DuckDB check; timestamps as UTC wall-clock time.
  $P -c "SET timezone = 'UTC'" -c "\\copy ($Q_P) TO '$EXP/$a.pulse.csv' (FORMAT csv, HEADER)" >/dev/null
done

echo "pg_pulse answers (compared below):"
$P -c "SET timezone = 'UTC'" -P tuples_only=off -P footer=off -P format=aligned -c "$(cat "$HERE/q/funnel.pulse.sql")" \
  -c "SELECT period, sum(users) AS users_all_cohorts, round(avg(rate)::numeric, 3) AS mean_rate FROM ($(cat "$HERE/q/retention.pulse.sql")) r GROUP BY 1 ORDER BY 1" \
  -c "SELECT min(value) AS min_daily_users, max(value) AS max_daily_users, count(*) AS days FROM ($(cat "$HERE/q/trends.pulse.sql")) t" | sed 's/^/  /'

t2=$EPOCHREALTIME
# the columns the queries read: _user, _time, and the breakdowns' url (visit) and plan (signup)
for c in visit signup add_to_cart purchase return; do
  extra=$(case $c in visit) echo ", url" ;; signup) echo ", plan" ;; esac)
  $P -c "COPY (SELECT _user, _time AT TIME ZONE 'UTC' AS _time$extra FROM an.$c) TO '$EXP/$c.csv' (FORMAT csv, HEADER)"
done
t3=$EPOCHREALTIME
echo "export to CSV (COPY TO): $(awk -v a="$t2" -v b="$t3" 'BEGIN{printf "%.1f", b-a}') s"
while read -r name ms onlyd onlyp rows; do
  if [ "$name" = load ]; then echo "DuckDB load of the CSV files: $(awk -v m="$ms" 'BEGIN{printf "%.1f", m/1000}') s"; continue; fi
  T[$name.duck]=$ms; D[$name.dp]=$onlyd; D[$name.pd]=$onlyp; D[$name.drows]=$rows
done < <(cd "$HERE" && node duck.mjs "$EXP" "$RUNS")

echo
echo "times: best of $RUNS after one warm-up, ms (2 cores; Postgres: parallel workers per gather 2, work_mem 256MB; DuckDB: 2 threads)"
printf '%-20s %12s %12s %12s %18s %18s\n' analysis pg_pulse hand_sql duckdb "hand/pg_pulse" "pg_pulse/duckdb"
for a in $ANALYSES; do
  awk -v a="$a" -v p="${T[$a.pulse]}" -v h="${T[$a.hand]}" -v d="${T[$a.duck]}" 'BEGIN {
    printf "%-20s %12.1f %12.1f %12.1f %11.2f (>=5) %11.2f (%s)\n", a, p, h, d, h / p, p / d, a ~ /breakdown|paths/ ? "<=1.5" : "<=1" }'
done
echo
echo "answer checks (rows only in one side, EXCEPT ALL both ways; must be 0 0):"
ok=1
for a in $ANALYSES; do
  printf '  %-20s %3s rows; pg_pulse vs hand-written SQL: %s %s; pg_pulse vs DuckDB: %s %s (DuckDB rows %s)\n' \
    "$a" "${D[$a.rows]}" "${D[$a.ph]}" "${D[$a.hp]}" "${D[$a.pd]}" "${D[$a.dp]}" "${D[$a.drows]}"
  [ "${D[$a.ph]}${D[$a.hp]}${D[$a.pd]}${D[$a.dp]}" = 0000 ] && [ "${D[$a.rows]}" = "${D[$a.drows]}" ] || ok=0
done
[ "$ok" = 1 ] && echo "  all answers equal" || { echo "  ANSWERS DIFFER"; exit 1; }

# The funnel by url: the single pass against the general plan it replaced in 0.3.0
# (pulse.analytics_single_pass = off), the answers checked equal.
FB=$HERE/q/funnel_breakdown.pulse.sql
fb_pass=$(best_ms "$FB")
fb_general=$(PGOPTIONS="-c pulse.analytics_single_pass=off" best_ms "$FB")
fb_diff=$($P -c "SET pulse.analytics_single_pass = off" -c "CREATE TEMP TABLE g AS $(cat "$FB")" \
             -c "RESET pulse.analytics_single_pass" -c "CREATE TEMP TABLE f AS $(cat "$FB")" \
             -c "SELECT (SELECT count(*) FROM (TABLE f EXCEPT ALL TABLE g) a) || ' ' || (SELECT count(*) FROM (TABLE g EXCEPT ALL TABLE f) b) || ' of ' || (SELECT count(*) FROM f)")
echo
echo "funnel by url: single pass ${fb_pass} ms, general plan ${fb_general} ms ($(awk -v a="$fb_pass" -v b="$fb_general" 'BEGIN{printf "%.1f", b/a}')x); rows only in one side: ${fb_diff}"
[ "${fb_diff%% of *}" = "0 0" ] || { echo "  ANSWERS DIFFER"; exit 1; }
