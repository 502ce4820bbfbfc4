#!/usr/bin/env bash
# bench/analytics/persons.sh: the insight functions counted by person (actor => 'person', the
# default: every _user resolved through <project>._person_ids) against the same insights counted
# by raw id (actor => 'id': the query text of the insights before persons existed), and against
# the hand-written SQL of bench/analytics/q doing the same identity resolution (a LEFT JOIN of
# every collection with the mapping), all measured in the same run on the same data:
#   funnel     visit -> add_to_cart -> purchase, 1-day window
#   retention  weekly cohorts, start = signup, return = visit, 8 periods
#   trends     daily unique users of visit over 30 days
# Each query: one warm-up, then the best of RUNS runs. The person-mode answers are checked
# against the hand-written SQL's with EXCEPT ALL both ways. Prints person/id and hand/person.
#
#   bash bench/analytics/persons.sh [events=10000000]
#
# Data: bench/analytics/gen.sql (seeded), then 30 % of the users get 2-4 ids: their events are
# spread over their ids (hash of the event), and every id of theirs has a mapping row. Starts (and
# wipes) its own cluster through test/cluster.sh in /tmp/pg_pulse_bench_pe on port 54382.
# by_person runs in one session, so its runs after the warm-up reuse the mapping the backend keeps
# (unique users only, docs/people.md#the-mapping-cache); not_kept runs the same with
# pulse.person_cache_size = 0, each run reading the mapping as a session's first report does.
# Tunables: PULSE_BENCH_RUNS (3), PULSE_BENCH_KEEP=1 keeps the cluster running at the end.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/bench/analytics
N=${1:-10000000}
RUNS=${PULSE_BENCH_RUNS:-3}
[[ "$N" =~ ^[1-9][0-9]*$ ]] && [ "$N" -ge 1000 ] || { echo "usage: $0 [events>=1000]" >&2; exit 2; }
export PULSE_TEST_DIR=/tmp/pg_pulse_bench_pe PULSE_TEST_PORT=54382
export PULSE_TEST_CONF="shared_buffers = 1GB
work_mem = 256MB
max_parallel_workers_per_gather = 2
jit = off"
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres
P="psql -qXAt -v ON_ERROR_STOP=1 -d pulse_bench"

cleanup() {
  local rc=$?
  [ "$rc" -ne 0 ] && echo "bench/analytics/persons.sh: failed (exit $rc); server log: $PULSE_TEST_DIR/postgres.log" >&2
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
t0=$EPOCHREALTIME
$P -v n="$N" -v users=$((N / 10)) -f "$HERE/gen.sql" >/dev/null
# 30 % of the users (id % 10 < 3) have 2-4 ids: u<id> and u<id>~1 .. u<id>~k, k = 1 + id % 3
$P >/dev/null <<'SQL'
SELECT pulse._ensure_persons('an');
INSERT INTO an._person_ids (distinct_id, person_id)
  SELECT 'u' || id || CASE WHEN k = 0 THEN '' ELSE '~' || k END, 'u' || id
    FROM (SELECT DISTINCT substr(_user, 2)::int AS id FROM an.signup UNION SELECT DISTINCT substr(_user, 2)::int FROM an.visit) u
   CROSS JOIN LATERAL generate_series(0, 1 + u.id % 3) AS k
   WHERE u.id % 10 < 3;
INSERT INTO an._persons (_person) SELECT DISTINCT person_id FROM an._person_ids;
DO $$
DECLARE c text;
BEGIN
  FOREACH c IN ARRAY ARRAY['visit', 'signup', 'add_to_cart', 'purchase', 'return'] LOOP
    EXECUTE format($q$UPDATE an.%I SET _user = _user || CASE WHEN h = 0 THEN '' ELSE '~' || h END
                        FROM (SELECT ctid AS c, abs(hashtext(ctid::text)) %% (2 + substr(_user, 2)::int %% 3) AS h
                                FROM an.%I WHERE substr(_user, 2)::int %% 10 < 3) x
                       WHERE ctid = x.c$q$, c, c);
  END LOOP;
END
$$;
SQL
$P -c "VACUUM ANALYZE" >/dev/null
t1=$EPOCHREALTIME
echo "data: $($P -F ' ' -c "SELECT (SELECT count(*) FROM an.visit) + (SELECT count(*) FROM an.signup) + (SELECT count(*) FROM an.add_to_cart) + (SELECT count(*) FROM an.purchase) + (SELECT count(*) FROM an.return) || ' events, ' || (SELECT count(*) FROM an._person_ids) || ' mapped ids of ' || (SELECT count(*) FROM an._persons) || ' persons with 2-4 ids'") (generated in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s)"

best_ms() {
  { echo '\timing on'; for ((i = 0; i <= RUNS; i++)); do echo "$1"; echo ';'; done; } |
    $P -o /dev/null | awk '/^Time:/ { if (++k > 1 && (b == "" || $2 < b)) b = $2 } END { print b }'
}
# the hand-written SQL with every collection read resolved through the mapping
resolve() {
  sed -E 's/\ban\.(visit|signup|add_to_cart|purchase|return)\b/(SELECT coalesce(m.person_id, e._user) AS _user, e._time FROM an.\1 e LEFT JOIN an._person_ids m ON m.distinct_id = e._user) AS \1/g' "$1"
}
declare -A T D
for a in funnel retention trends; do
  Q_P=$(cat "$HERE/q/$a.pulse.sql")
  Q_I=$(sed -E 's/\)[[:space:]]*$/, actor => '"'id'"')/' <<<"$Q_P")
  Q_H=$(resolve "$HERE/q/$a.hand.sql")
  T[$a.person]=$(best_ms "$Q_P")
  # every run reading the mapping again: no mapping kept by the backend (docs/people.md#the-mapping-cache)
  T[$a.cold]=$(PGOPTIONS="-c pulse.person_cache_size=0" best_ms "$Q_P")
  T[$a.id]=$(best_ms "$Q_I")
  T[$a.hand]=$(best_ms "$Q_H")
  D[$a.ph]=$($P -c "SELECT count(*) FROM (($Q_P) EXCEPT ALL ($Q_H)) d")
  D[$a.hp]=$($P -c "SELECT count(*) FROM (($Q_H) EXCEPT ALL ($Q_P)) d")
  D[$a.pi]=$($P -c "SELECT count(*) FROM (($Q_P) EXCEPT ALL ($Q_I)) d")
done
echo
echo "times: best of $RUNS after one warm-up, ms"
printf '%-10s %12s %12s %12s %12s %16s %16s %14s\n' analysis by_id by_person not_kept hand_sql "person/id" "hand/person" "not_kept/id"
for a in funnel retention trends; do
  awk -v a="$a" -v i="${T[$a.id]}" -v p="${T[$a.person]}" -v c="${T[$a.cold]}" -v h="${T[$a.hand]}" 'BEGIN {
    printf "%-10s %12.1f %12.1f %12.1f %12.1f %9.2f (<=1.3) %10.2f (>=5) %14.2f\n", a, i, p, c, h, p / i, h / p, c / i }'
done
echo "(by_person: the mapping read once per session and kept; not_kept: pulse.person_cache_size = 0, every"
echo " run reads it, as the first report of a session does. Only unique users (trends) keep it.)"
echo
echo "answer checks (person mode vs hand-written resolution, rows only in one side; must be 0 0):"
ok=1
for a in funnel retention trends; do
  printf '  %-10s %s %s (rows differing from the id mode: %s)\n' "$a" "${D[$a.ph]}" "${D[$a.hp]}" "${D[$a.pi]}"
  [ "${D[$a.ph]}${D[$a.hp]}" = 00 ] || ok=0
done
[ "$ok" = 1 ] && echo "  all answers equal" || { echo "  ANSWERS DIFFER"; exit 1; }
