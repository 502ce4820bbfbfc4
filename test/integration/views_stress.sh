#!/usr/bin/env bash
# Materialized views under load (docs/views.md): the delta of every refresh must be exact
# while writers commit late, hold transactions open across refreshes, and write through
# savepoints that are released or rolled back; rebuilds after an UPDATE and a DELETE must be
# exact too.
#
#  * 8 writer connections (three pgbench processes) call pulse.collect / pulse.collect_batch for
#    $VIEWS_STRESS_SECONDS (default 20) s: short autocommit calls, transactions held open 1-3 s,
#    savepoints released and rolled back (the first write of a transaction inside a savepoint
#    too), whole transactions rolled back. Rolled-back events carry k = 'rb': never counted.
#  * two refresh loops refresh the same incremental view vi and realtime view vr at once (one
#    in ten a full refresh) with pulse.view_margin = 250 ms, so transactions held open for
#    seconds are covered by the delta threshold, not by the margin; after EVERY refresh, in one
#    REPEATABLE READ transaction: vi = its query over the rows visible in the snapshot stored
#    by its last refresh (pulse.views.snapshot), vr = its query over all rows;
#  * a reader checks vr = its query at random moments;
#  * an UPDATE at 1/3 and a DELETE at 2/3 of the run force rebuilds under the same load (vi is
#    not compared while it needs its rebuild; vr always is);
#  * at the end, with every writer done, one more refresh of each, and both must equal their
#    query over all rows.
# A check compares the rows' text (what a user reads); any difference fails the test and is
# printed. The views group by date_trunc('minute', _time) and a text column with count(*),
# count(x), sum, avg, min, max, stddev_samp, bool_or, FILTER, an expression over aggregates, and
# HAVING; events carry _time up to 10 minutes in the past (late events join old groups).
#
# Runs against the running test cluster (test/cluster.sh; from test/run_all.sh or by hand:
#   PULSE_TEST_DIR=/tmp/pg_pulse_h1 PULSE_TEST_PORT=54351 bash test/integration/views_stress.sh)
# in a database of its own, pulse_views_stress. The last line is a one-line summary.
set -euo pipefail
REPO=${PULSE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/lib.sh
. "$REPO/test/lib.sh"
pulse_client_env
DB=pulse_views_stress
SECONDS_RUN=${VIEWS_STRESS_SECONDS:-20}
# A small margin, far below the 1-3 s transactions: those depend on the threshold logic alone.
# (Not 0: a transaction whose start is not yet published in the activity table when a refresh
# reads it is covered by the margin only; that window is microseconds, but CI machines stall.)
MARGIN_MS=250
WORK=$(mktemp -d /tmp/pulse_views_stress.XXXXXX)
BG=()          # pids of the background loops and pgbench processes started here
cleanup() {
    local p
    touch "$WORK/stop" 2>/dev/null || true
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
Q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
# differing rows of check output ($1: which views, e.g. 'v[ir]'), at most 10 of each side
diffs() { local s; for s in 'view only' 'query only'; do printf '%s\n' "$2" | grep -E "^$1\|$s\|" | head -n 10 || true; done; }

# jit off: a JIT compilation per check (the planner overestimates the realtime view's delta)
# would cost more than the check itself and leave fewer checks in the same time.
psql -qX -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET jit = off" >/dev/null

# The defining query; /*where*/ is where the checks restrict it to the rows of a snapshot.
VIEW_QUERY="SELECT date_trunc('minute', _time) AS minute, k,
       count(*) AS n, count(x) AS nx, sum(x) AS sx, avg(x) AS ax, min(x) AS mnx, max(x) AS mxx,
       stddev_samp(x) AS sdx, bool_or(flag) AS anyflag,
       count(*) FILTER (WHERE x >= 50) AS nbig, sum(x) FILTER (WHERE flag) AS sxflag,
       max(x) - min(x) AS spread
  FROM vstress.ev /*where*/
 GROUP BY date_trunc('minute', _time), k
HAVING count(*) > 2"

Q -v q="$VIEW_QUERY" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_pulse;
SELECT pulse.create_project('vstress');
SELECT pulse.create_collection('vstress', 'ev', '{"x": "int", "k": "text", "flag": "boolean"}');
-- one random event; tag names the group of events that are always rolled back
CREATE FUNCTION public.ev_json(tag text DEFAULT NULL) RETURNS jsonb LANGUAGE sql VOLATILE AS $$
  SELECT jsonb_build_object(
    '_time', clock_timestamp() - random() * interval '10 minutes',
    '_user', 'u' || floor(random() * 20)::int,
    'x', CASE WHEN random() < 0.15 THEN NULL ELSE floor(random() * 100)::int END,
    'k', coalesce(tag, 'k' || floor(random() * 4)::int),
    'flag', random() < 0.1)
$$;
CREATE FUNCTION public.ev_batch(n int, tag text DEFAULT NULL) RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT string_agg(public.ev_json(tag)::text, E'\n') FROM generate_series(1, n)
$$;
CREATE TABLE public.stress_query(q text NOT NULL);
INSERT INTO public.stress_query VALUES (:'q');
-- The differences between view v and its query over the rows visible in snap (all rows when
-- snap is NULL), row by row as text, plus one 'summary' row. Call it in one REPEATABLE READ
-- transaction with the read of pulse.views.snapshot.
CREATE FUNCTION public.vcheck(v text, snap pg_snapshot)
  RETURNS TABLE(side text, r text) LANGUAGE plpgsql STABLE AS $$
DECLARE
  q text := replace((SELECT stress_query.q FROM public.stress_query),
                    '/*where*/', CASE WHEN snap IS NULL THEN ''
                                      ELSE 'WHERE pg_visible_in_snapshot(_shard_xid, $1)' END);
BEGIN
  RETURN QUERY EXECUTE format(
    'WITH a AS (SELECT x::text AS r FROM vstress.%I x), b AS (SELECT x::text AS r FROM (%s) x)
     SELECT ''view only'', r FROM (SELECT r FROM a EXCEPT ALL SELECT r FROM b) d
     UNION ALL
     SELECT ''query only'', r FROM (SELECT r FROM b EXCEPT ALL SELECT r FROM a) d
     UNION ALL
     SELECT ''summary'', format(''%%s groups'', (SELECT count(*) FROM a))', v, q) USING snap;
END
$$;
-- the views start over some history
SELECT pulse.collect_batch('vstress', public.ev_batch(2000), 'ev');
SELECT pulse.create_view('vstress', 'vi', :'q', 'incremental');
SELECT pulse.create_view('vstress', 'vr', :'q', 'realtime');
SQL

# ---------------------------------------------------------------- writers (pgbench scripts)
cat >"$WORK/one.sql" <<'SQL'
SELECT pulse.collect('vstress', 'ev', public.ev_json());
SQL
cat >"$WORK/batch.sql" <<'SQL'
SELECT pulse.collect_batch('vstress', public.ev_batch(20), 'ev');
SQL
cat >"$WORK/long.sql" <<'SQL'
BEGIN;
SELECT pulse.collect('vstress', 'ev', public.ev_json());
SELECT pulse.collect_batch('vstress', public.ev_batch(10), 'ev');
SELECT pg_sleep(1 + random() * 2);
SELECT pulse.collect('vstress', 'ev', public.ev_json());
COMMIT;
SQL
cat >"$WORK/long_late.sql" <<'SQL'
BEGIN;
SELECT 1;
SELECT pg_sleep(1 + random() * 2);
SELECT pulse.collect_batch('vstress', public.ev_batch(10), 'ev');
COMMIT;
SQL
cat >"$WORK/savepoint.sql" <<'SQL'
BEGIN;
SELECT pulse.collect('vstress', 'ev', public.ev_json());
SAVEPOINT a;
SELECT pulse.collect('vstress', 'ev', public.ev_json('rb'));
SELECT pulse.collect_batch('vstress', public.ev_batch(5, 'rb'), 'ev');
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
SELECT pulse.collect_batch('vstress', public.ev_batch(5), 'ev');
RELEASE SAVEPOINT b;
SELECT pg_sleep(random() * 0.5);
COMMIT;
SQL
cat >"$WORK/savepoint_first.sql" <<'SQL'
BEGIN;
SAVEPOINT a;
SELECT pulse.collect('vstress', 'ev', public.ev_json('rb'));
ROLLBACK TO SAVEPOINT a;
SELECT pg_sleep(random() * 0.3);
SAVEPOINT b;
SELECT pulse.collect_batch('vstress', public.ev_batch(5), 'ev');
RELEASE SAVEPOINT b;
SAVEPOINT c;
SELECT pulse.collect('vstress', 'ev', public.ev_json());
SELECT pg_sleep(random() * 0.5);
RELEASE SAVEPOINT c;
COMMIT;
SQL
cat >"$WORK/rollback.sql" <<'SQL'
BEGIN;
SELECT pulse.collect_batch('vstress', public.ev_batch(5, 'rb'), 'ev');
SELECT pg_sleep(random() * 0.5);
ROLLBACK;
SQL

PGBENCH=$PGBIN/pgbench
pgb() {   # pgb NAME CLIENTS [-R TPS] SCRIPT@WEIGHT...
    local name=$1 c=$2
    shift 2
    local args=()
    local s
    if [ "$1" = -R ]; then
        args+=(-R "$2")
        shift 2
    fi
    for s in "$@"; do args+=(-f "$WORK/$s"); done
    "$PGBENCH" -n -T "$SECONDS_RUN" -c "$c" -j "$c" "${args[@]}" "$DB" >"$WORK/pgbench_$name.log" 2>&1
}

# ---------------------------------------------------------------- refresh loops and checks
# The check of both views, in one REPEATABLE READ transaction: vi against its query over the
# rows of the snapshot its last refresh stored, vr against its query over every row.
# (While an UPDATE or DELETE that vi's snapshot does not see is visible, vi waits for its
# rebuild and is not compared: needs_rebuild.)
CHECK_SQL="BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 'vi', c.* FROM pulse.views v, public.vcheck('vi', v.snapshot) c
 WHERE v.project = 'vstress' AND v.name = 'vi' AND NOT v.needs_rebuild;
SELECT 'vr', * FROM public.vcheck('vr', NULL);
COMMIT;"

# refresher ID: until told to stop, refresh vi then vr, each followed by the check (four
# refreshes per connection; every tenth refresh of a loop is a full one). Output lines go to
# $WORK/ID.out: 'merged|VIEW|FULL|N' per refresh, 'VIEW|summary|...' per comparison.
refresher() {
    local id=$1 i=0 full v out sql
    while [ ! -e "$WORK/stop" ]; do
        sql="SET pulse.view_margin = $MARGIN_MS;"
        for v in vi vr vi vr; do
            i=$((i + 1))
            full=false
            [ $((i % 10)) -eq 0 ] && full=true
            sql+="
SELECT 'merged', '$v', $full, pulse.refresh_view('vstress', '$v', $full);
$CHECK_SQL"
        done
        if ! out=$(Q <<<"$sql" 2>&1); then
            printf 'loop %s: a refresh or a check failed:\n%s\n' "$id" "$(tail -n 20 <<<"$out")" >>"$WORK/failures"
        fi
        printf '%s\n' "$out" >>"$WORK/$id.out"
        if grep -qE '^v[ir]\|(view|query) only\|' <<<"$out"; then
            printf 'loop %s: after a refresh, views differ from their query (refreshes of this batch: %s)\n%s\n' \
                "$id" "$(grep '^merged|' <<<"$out" | tr '\n' ' ')" "$(diffs 'v[ir]' "$out")" >>"$WORK/failures"
        fi
    done
}

# reader: the realtime view at random moments (0-300 ms apart)
reader() {
    local out
    while [ ! -e "$WORK/stop" ]; do
        sleep "0.$(printf '%03d' $((RANDOM % 300)))"
        if ! out=$(Q -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
                     -c "SELECT 'vr', * FROM public.vcheck('vr', NULL)" -c "COMMIT" 2>&1); then
            printf 'realtime read failed:\n%s\n' "$out" >>"$WORK/failures"
            continue
        fi
        printf '%s\n' "$out" >>"$WORK/reader.out"
        if grep -qE '^vr\|(view|query) only\|' <<<"$out"; then
            printf 'realtime view differs from its query at a random moment:\n%s\n' \
                "$(diffs vr "$out")" >>"$WORK/failures"
        fi
    done
}

# changer: an UPDATE at a third of the run and a DELETE at two thirds, while the writers
# write: both views are rebuilt by their next refresh, vr is exact throughout
changer() {
    sleep "$(awk -v s="$SECONDS_RUN" 'BEGIN { print s / 3 }')"
    Q -c "WITH u AS (UPDATE vstress.ev SET x = x + 1 WHERE k = 'k2' AND x < 20 RETURNING 1)
          SELECT 'updated', count(*) FROM u" >>"$WORK/changer.out" 2>&1 ||
        printf 'UPDATE failed: %s\n' "$(cat "$WORK/changer.out")" >>"$WORK/failures"
    sleep "$(awk -v s="$SECONDS_RUN" 'BEGIN { print s / 3 }')"
    Q -c "WITH d AS (DELETE FROM vstress.ev WHERE k = 'k3' AND x % 3 = 0 RETURNING 1)
          SELECT 'deleted', count(*) FROM d" >>"$WORK/changer.out" 2>&1 ||
        printf 'DELETE failed: %s\n' "$(cat "$WORK/changer.out")" >>"$WORK/failures"
}

T0=$(now)
changer &
BG+=($!)
CH=$!
pgb fast 3 -R 150 one.sql@5 batch.sql@2 &
BG+=($!)
pgb long 2 long.sql@1 long_late.sql@1 &
BG+=($!)
pgb savepoints 3 -R 60 savepoint.sql@2 savepoint_first.sql@2 rollback.sql@1 &
BG+=($!)
WRITERS=("${BG[@]}")
refresher r1 &
BG+=($!)
R1=$!
refresher r2 &
BG+=($!)
R2=$!
reader &
BG+=($!)
RD=$!

writers_failed=0
for p in "${WRITERS[@]}"; do wait "$p" || writers_failed=1; done
touch "$WORK/stop"
wait "$R1" "$R2" "$RD" "$CH" || true
for f in "$WORK"/pgbench_*.log; do
    if [ "$writers_failed" = 1 ] || grep -qE 'aborted|ERROR' "$f"; then
        echo "--- $f ---"
        cat "$f"
        writers_failed=1
    fi
done
[ "$writers_failed" = 0 ] || fail "a writer failed (pgbench logs above)"

# ---------------------------------------------------------------- final check
# every writer is done: one more refresh of each view, then both equal their query over all rows
final=$(Q 2>&1 <<SQL
SET pulse.view_margin = $MARGIN_MS;
SELECT 'merged', 'vi', false, pulse.refresh_view('vstress', 'vi');
SELECT 'merged', 'vr', false, pulse.refresh_view('vstress', 'vr');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 'vi', * FROM public.vcheck('vi', NULL);
SELECT 'vr', * FROM public.vcheck('vr', NULL);
SELECT 'events', count(*) FROM vstress.ev;
SELECT 'rolled_back', count(*) FROM vstress.ev WHERE k = 'rb';
SELECT 'rb_groups', (SELECT count(*) FROM vstress.vi WHERE k = 'rb') + (SELECT count(*) FROM vstress.vr WHERE k = 'rb');
COMMIT;
SQL
) || fail "final refresh or check failed: $final"
printf '%s\n' "$final" >"$WORK/final.out"
if grep -qE '^v[ir]\|(view|query) only\|' <<<"$final"; then
    printf 'after the writers ended and a last refresh: views differ from their query\n%s\n' \
        "$(diffs 'v[ir]' "$final")" >>"$WORK/failures"
fi
[ "$(sed -n 's/^rolled_back|//p' <<<"$final")" = 0 ] || fail "rolled-back events are stored: $final"
[ "$(sed -n 's/^rb_groups|//p' <<<"$final")" = 0 ] || fail "rolled-back events are counted by a view: $final"

if [ -s "$WORK/failures" ]; then
    echo "--- failures (first 150 lines) ---"
    head -n 150 "$WORK/failures"
    fail "$(grep -c '^loop\|^realtime\|^after' "$WORK/failures") failed refreshes or checks"
fi
count() { cat "$WORK"/*.out 2>/dev/null | grep -cE "$1" || true; }
refreshes=$(count '^merged\|')
fulls=$(count '^merged\|v[ir]\|t\|')
comparisons=$(count '^v[ir]\|summary\|')
skipped=$(( $(cat "$WORK"/r[12].out 2>/dev/null | grep -c '^merged|' || true) - $(cat "$WORK"/r[12].out 2>/dev/null | grep -c '^vi|summary|' || true) ))
rt=$(grep -c '^vr|summary|' "$WORK/reader.out" 2>/dev/null || true)
events=$(sed -n 's/^events|//p' <<<"$final")
updated=$(sed -n 's/^updated|//p' "$WORK/changer.out")
deleted=$(sed -n 's/^deleted|//p' "$WORK/changer.out")
if [ "${updated:-0}" -eq 0 ] || [ "${deleted:-0}" -eq 0 ]; then
    fail "the mid-run UPDATE / DELETE changed nothing: $(cat "$WORK/changer.out")"
fi
groups=$(sed -n 's/^vi|summary|\([0-9]*\) groups$/\1/p' <<<"$final")
[ "$refreshes" -gt 10 ] || fail "only $refreshes refreshes ran in ${SECONDS_RUN}s"
[ "${rt:-0}" -gt 5 ] || fail "only ${rt:-0} realtime reads at random moments ran"
txns=$(grep -h 'number of transactions actually processed' "$WORK"/pgbench_*.log | awk '{s += $NF} END {print s + 0}')
assert_partitioned "$DB" vstress
psql -qX -d postgres -c "DROP DATABASE $DB" -c "DROP ROLE IF EXISTS vstress_writer, vstress_reader" >/dev/null 2>&1 || true
echo "views_stress: ok: $refreshes refreshes ($fulls full) by two concurrent loops, $comparisons view/query comparisons (each refresh followed by one of each view, vi skipped $skipped times while it awaited a rebuild; $rt of the realtime view at random moments), $events events in $groups groups from 8 writers ($txns transactions; $updated updated, $deleted deleted mid-run) in $(elapsed "$T0" "$(now)")s"
