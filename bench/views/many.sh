#!/usr/bin/env bash
# bench/views/many.sh: the view refresher (one per database, in its scheduler) with many views.
# V incremental views (refresh_every 1 second) over C collections of one project, each
#   SELECT date_trunc('minute', _time) AS minute, count(*) AS n, sum(v) AS total FROM c<k> GROUP BY 1
# and, for the baseline, V plain materialized views of the same queries. In one run:
#   (a) steady state: for SECONDS, every 200 ms a batch of events goes into every collection
#       (pulse.collect_batch); each second the refresh age of the views (now - last_refresh) is
#       sampled: p50 / p99 / max over views and samples; refreshes per second done by the
#       scheduler (pulse.job_history);
#   (b) one round by hand after 1 batch per collection: pulse.refresh_view of every view vs
#       REFRESH MATERIALIZED VIEW of every materialized view (ratio), with the views checked
#       equal to their materialized views (EXCEPT ALL both ways).
#
#   bash bench/views/many.sh [views=1000] [collections=100] [seconds=30] [events_per_collection=5000]
#
# Own cluster in /tmp/pg_pulse_bench_many (port 54368), stopped on exit; the build must be
# installed. Bounded in time.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
V=${1:-1000}
C=${2:-100}
SECS=${3:-30}
SEED=${4:-5000}
export PULSE_REPO=$REPO PULSE_TEST_DIR=/tmp/pg_pulse_bench_many PULSE_TEST_PGDATA=/tmp/pg_pulse_bench_many/data \
       PULSE_TEST_LOG=/tmp/pg_pulse_bench_many/postgres.log PULSE_TEST_PORT=54368
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres PGDATABASE=postgres
Q="psql -qXAt -v ON_ERROR_STOP=1 -d postgres"
trap 'kill $(jobs -p) 2>/dev/null || true; bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true' EXIT
die() { echo "bench/views/many: $*" >&2; tail -n 20 "$PULSE_TEST_LOG" >&2 2>/dev/null || true; exit 1; }
now() { printf '%s\n' "$EPOCHREALTIME"; }
[ "$V" -ge "$C" ] || die "views ($V) must be at least collections ($C)"

bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true
PULSE_TEST_CONF=$'shared_buffers = 512MB' bash "$REPO/test/cluster.sh" start >/dev/null
$Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('m')" >/dev/null
echo "== setup: $C collections x $SEED events, $V incremental views (refresh_every 1 second) + $V materialized views; $(nproc) CPUs"
# batch K N: N events for every collection, as one collect_batch call per collection
$Q >/dev/null <<SQL
CREATE FUNCTION public.batch(n int) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
  FOR k IN 1..$C LOOP
    PERFORM pulse.collect_batch('m', (SELECT string_agg(json_build_object('_time', now() - (random() * interval '2 hours'),
                                        'v', (random() * 100)::int)::text, E'\n') FROM generate_series(1, n)), 'c' || k);
  END LOOP;
END \$\$;
SQL
$Q -c "SELECT public.batch($SEED)" >/dev/null
t0=$(now)
$Q -c "SELECT count(pulse.create_view('m', 'v' || j, format('SELECT date_trunc(''minute'', _time) AS minute, count(*) AS n, sum(v) AS total FROM c%s GROUP BY 1', (j - 1) % $C + 1), 'incremental', '1 second')) FROM generate_series(1, $V) j" >/dev/null
t1=$(now)
$Q -c "DO \$\$ BEGIN FOR j IN 1..$V LOOP EXECUTE format('CREATE MATERIALIZED VIEW public.mv%s AS SELECT date_trunc(''minute'', _time) AS minute, count(*) AS n, sum(v) AS total FROM m.c%s GROUP BY 1', j, (j - 1) % $C + 1); END LOOP; END \$\$" >/dev/null
awk -v a="$t0" -v b="$t1" -v v="$V" 'BEGIN { printf "  %d views created in %.1f s (%.1f ms each)\n", v, b - a, (b - a) * 1000 / v }'

echo "== (a) steady state for $SECS s: a batch of 20 events into each of the $C collections every 200 ms"
sleep 3   # the scheduler's first round over the new views
$Q -c "CREATE TABLE public.ages (at timestamptz, age float8)" >/dev/null
start=$($Q -c "SELECT now()")
( end=$((SECONDS + SECS)); while [ "$SECONDS" -lt "$end" ]; do $Q -c "SELECT public.batch(20)" >/dev/null; sleep 0.2; done ) &
LOADER=$!
for ((s = 0; s < SECS; s++)); do
  $Q -c "INSERT INTO public.ages SELECT now(), extract(epoch FROM now() - last_refresh) FROM pulse.view_registry" >/dev/null
  sleep 1
done
wait $LOADER
stop=$($Q -c "SELECT now()")
IFS='|' read -r p50 p99 amax < <($Q -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY age)::numeric, 2),
  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY age)::numeric, 2), round(max(age)::numeric, 2) FROM public.ages")
IFS='|' read -r nref avgms fails < <($Q -c "SELECT count(*), round(avg(extract(epoch FROM finished_at - started_at)) * 1000, 1),
  count(*) FILTER (WHERE status <> 'succeeded') FROM pulse.job_history WHERE kind = 'refresh' AND started_at BETWEEN '$start' AND '$stop'")
RPS=$(awk -v n="$nref" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')
echo "  refresh age (now - last_refresh) over $V views, sampled each second: p50 $p50 s, p99 $p99 s, max $amax s"
echo "  scheduler: $nref refreshes in $SECS s ($RPS/s, $avgms ms each on average), $fails failed"

echo "== (b) one round by hand after one batch of 20 events per collection"
$Q -c "UPDATE pulse.view_registry SET refresh_every = '1 day'" >/dev/null   # the scheduler stays out of the way
$Q -c "SELECT public.batch(20)" >/dev/null
sleep "$($Q -c "SELECT current_setting('pulse.view_margin')::interval + interval '1 second'" | awk -F: '{ print $3 + 0 }')"
t0=$(now)
$Q -c "SELECT count(pulse.refresh_view('m', 'v' || j)) FROM generate_series(1, $V) j" >/dev/null
t1=$(now)
$Q -c "DO \$\$ BEGIN FOR j IN 1..$V LOOP EXECUTE format('REFRESH MATERIALIZED VIEW public.mv%s', j); END LOOP; END \$\$" >/dev/null
t2=$(now)
bad=$($Q -c "DO \$\$ DECLARE d bigint; total bigint := 0; BEGIN FOR j IN 1..$V LOOP
  EXECUTE format('SELECT count(*) FROM ((SELECT * FROM m.v%s EXCEPT ALL SELECT * FROM public.mv%s) UNION ALL (SELECT * FROM public.mv%s EXCEPT ALL SELECT * FROM m.v%s)) d', j, j, j, j) INTO d;
  total := total + d; END LOOP; RAISE NOTICE '%', total; END \$\$" 2>&1 | sed -n 's/.*NOTICE: *//p')
[ "$bad" = 0 ] || die "$bad rows differ between the views and their materialized views"
read -r PR MR RATIO < <(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.2f %.2f %.1f\n", b - a, c - b, (c - b) / (b - a) }')
echo "  pulse.refresh_view x $V: $PR s; REFRESH MATERIALIZED VIEW x $V: $MR s; every view equals its materialized view"
echo "== summary ($V views over $C collections, $(nproc) CPUs)"
echo "refresher: $RPS refreshes/s; refresh age p50 $p50 s, p99 $p99 s, max $amax s (refresh_every 1 s)"
echo "round of $V refreshes: pg_pulse $PR s vs REFRESH MATERIALIZED VIEW $MR s: ratio $RATIO"
