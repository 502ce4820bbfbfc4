#!/usr/bin/env bash
# bench/views: pg_pulse's materialized views (pulse.create_view) against Postgres' own
# materialized views and the defining query, measured in the same run:
#   (a) incremental refresh after 1 % new events (pulse.refresh_view) vs a full recompute
#       (REFRESH MATERIALIZED VIEW of the same query)                                target >= 30x faster
#   (b) reading a realtime view with a 1 % unmerged tail vs reading a plain materialized view
#       (target <= 5x slower) and vs running the defining query on the events (target >= 20x faster);
#   (b2) the same with what a refresher with refresh_every 1 second leaves at 10k events/s (10k
#       events unmerged, and the 50k merged within view_margin, which reads scan too): target
#       <= 2x the materialized view, >= 50x faster than the query
#   (c) ingest throughput (pulse.collect_batch, NDJSON) into a collection with 3 views vs an
#       identical collection with none                                                target >= 0.9
# The targets are for the headline view "hourly" (q/hourly.sql, realtime); the other two views
# (q/daily.sql incremental, q/uniques.sql realtime with postgresql-hll, or q/uniques_nohll.sql
# without it) are measured the same way for information. Every answer is checked: view vs
# materialized view vs defining query, EXCEPT ALL both ways (exact, no rounding).
#
#   bash bench/views/run.sh [events=10000000]
#
# Data: events rows of collection bv.events (event, country, revenue numeric(12,2), duration int,
# events/10 users, 30 days), made by gen.sql and loaded with INSERT ... SELECT straight into the
# collection table (_shard_time / _shard_xid take their defaults). Every 1 % batch continues the
# timeline (and carries 1 % late events). After each load the script waits pulse.view_margin + 1 s,
# so that the rows are older than the next refresh threshold (see "protocol" below).
# Starts (and wipes) its own private cluster through test/cluster.sh in $PULSE_TEST_DIR
# (default /tmp/pg_pulse_bench_views) on port $PULSE_TEST_PORT (54361), stops it on exit.
# The pg_pulse build must be installed already (make install); nothing is built here.
# Tunables: PULSE_BENCH_RUNS (3), PULSE_BENCH_INGEST (events per ingest run, 1000000),
# PULSE_BENCH_CHUNK (events per collect_batch call, 50000), PULSE_BENCH_SHARED_BUFFERS (2GB),
# PULSE_BENCH_LOAD_JOBS (parallel sessions of the initial load, 2), PULSE_BENCH_KEEP=1 keeps the
# cluster running at the end, PULSE_BENCH_BASELINE_ONLY=1 measures only what needs no view.
#
# Protocol. The views get refresh_every => '1 day', so the database's scheduler never refreshes
# them during the measurements: every refresh is an explicit call.
#   (a) RUNS times: insert 1 % new events, wait view_margin + 1 s, time pulse.refresh_view of each
#       view (first, so it pays the hint bits of the new rows), then REFRESH MATERIALIZED VIEW of each
#       materialized view. Best of RUNS each.
#   (b) insert 1 % more (the unmerged tail; the realtime views are NOT refreshed), refresh the
#       materialized views (untimed), then time SELECT * FROM view / matview / defining query:
#       "server" = planning + execution time of EXPLAIN (ANALYZE, TIMING OFF) (no rows sent),
#       "client" = psql round trip with every row fetched (psql \timing, output discarded).
#       One warm-up, then best of RUNS. Plus a dashboard slice (last 24 h of one country) for
#       information.
#   (c) two collections made identically (bv.ing0, bv.ing3), the 3 views created on bv.ing3;
#       RUNS times (alternating which goes first): CHECKPOINT, then all NDJSON chunks through
#       pulse.collect_batch in one session (like bench/ingest). Best of RUNS each. Autovacuum is
#       off on these two tables (it would otherwise start in the middle of some runs).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/bench/views
N=${1:-10000000}
RUNS=${PULSE_BENCH_RUNS:-3}
INGEST=${PULSE_BENCH_INGEST:-1000000}
CHUNK=${PULSE_BENCH_CHUNK:-50000}
JOBS=${PULSE_BENCH_LOAD_JOBS:-2}
[[ "$N" =~ ^[1-9][0-9]*$ ]] && [ "$N" -ge 10000 ] || { echo "usage: $0 [events>=10000]" >&2; exit 2; }
for v in RUNS INGEST CHUNK JOBS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "$0: $v must be a positive integer" >&2; exit 2; }
done
export PULSE_TEST_DIR=${PULSE_TEST_DIR:-/tmp/pg_pulse_bench_views} PULSE_TEST_PORT=${PULSE_TEST_PORT:-54361}
unset PULSE_TEST_PGDATA   # always $PULSE_TEST_DIR/data: the cluster is wiped at start
export PULSE_TEST_CONF="shared_buffers = ${PULSE_BENCH_SHARED_BUFFERS:-2GB}
work_mem = 256MB
maintenance_work_mem = 1GB
max_parallel_workers_per_gather = 2
max_wal_size = 16GB
checkpoint_timeout = 1h
jit = off"
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres
EXP=$PULSE_TEST_DIR/export
P="psql -qXAt -v ON_ERROR_STOP=1 -d pulse_bench"
D=$((N / 100))                              # 1 %
USERS=$((N / 10))
STEP=$(awk -v n="$N" 'BEGIN { printf "%.9f", 2592000000 / n }')   # ms between events: N events in 30 days

cleanup() {
  local rc=$?
  [ "$rc" -ne 0 ] && echo "bench/views: failed (exit $rc); server log: $PULSE_TEST_DIR/postgres.log" >&2
  [ "${PULSE_BENCH_KEEP:-0}" = 1 ] || bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# time_ms SQL: wall time of one statement in its own session (psql \timing; result discarded).
time_ms() {
  printf '\\timing on\n%s;\n' "$1" | $P -o /dev/null | awk '/^Time:/ { t = $2 } END { print t }'
}
# best_ms SQL: client round trip, every row fetched; one warm-up, then the best of RUNS runs.
best_ms() {
  { echo '\timing on'; for ((i = 0; i <= RUNS; i++)); do printf '%s;\n' "$1"; done; } |
    $P -o /dev/null | awk '/^Time:/ { if (++k > 1 && (b == "" || $2 < b)) b = $2 } END { print b }'
}
# server_ms SQL: planning + execution time reported by EXPLAIN (ANALYZE, TIMING OFF), no rows
# sent to the client; one warm-up, then the best of RUNS runs.
server_ms() {
  for ((i = 0; i <= RUNS; i++)); do printf 'EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) %s;\n' "$1"; done |
    $P | awk '/Planning Time:/ { p = $3 } /Execution Time:/ { t = p + $3; if (++k > 1 && (b == "" || t < b)) b = t }
              END { print b }'
}
# diff_rows A B: rows only in A, rows only in B (EXCEPT ALL both ways), rows of A.
diff_rows() {
  $P -F ' ' -c "SELECT (SELECT count(*) FROM (($1) EXCEPT ALL ($2)) d), (SELECT count(*) FROM (($2) EXCEPT ALL ($1)) d),
                       (SELECT count(*) FROM ($1) d)"
}
# load LO HI: events LO..HI into bv.events by INSERT ... SELECT (one transaction).
load() {
  $P -c "INSERT INTO bv.events (_time, _user, event, country, revenue, duration)
           SELECT * FROM public.bench_events($1, $2, $STEP, $USERS)" >/dev/null
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

bash "$REPO/test/cluster.sh" start >/dev/null
mkdir -p "$EXP" && chmod 777 "$EXP"
psql -qX -d postgres -c "CREATE DATABASE pulse_bench" >/dev/null
$P -c "ALTER DATABASE pulse_bench SET timezone = 'UTC'" -c "CREATE EXTENSION pg_pulse" >/dev/null
HAVE_VIEWS=$($P -c "SELECT to_regprocedure('pulse.create_view(text,text,text,text,interval)') IS NOT NULL")
if [ "$HAVE_VIEWS" != t ] && [ "${PULSE_BENCH_BASELINE_ONLY:-0}" != 1 ]; then
  echo "bench/views: the installed pg_pulse has no pulse.create_view (make install first;" \
       "PULSE_BENCH_BASELINE_ONLY=1 measures the baselines only)" >&2
  exit 1
fi
[ "${PULSE_BENCH_BASELINE_ONLY:-0}" = 1 ] && HAVE_VIEWS=f
MARGIN_MS=$($P -c "SELECT coalesce((SELECT setting FROM pg_settings WHERE name = 'pulse.view_margin'), '5000')")
WAIT=$(awk -v m="$MARGIN_MS" 'BEGIN { printf "%.1f", m / 1000 + 1 }')
if [ "$($P -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'hll'")" = 1 ]; then
  $P -c "CREATE EXTENSION hll" >/dev/null
  UQ=uniques.sql HLL="postgresql-hll $($P -c "SELECT extversion FROM pg_extension WHERE extname = 'hll'")"
else
  UQ=uniques_nohll.sql HLL="no postgresql-hll: q/uniques_nohll.sql instead"
fi
$P -f "$HERE/gen.sql" >/dev/null
FIELDS='{"event": "text", "country": "text", "revenue": "numeric(12,2)", "duration": "integer"}'
$P >/dev/null <<SQL
SELECT pulse.create_project('bv');
SELECT pulse.create_collection('bv', 'events', '$FIELDS');
SELECT pulse.create_collection('bv', 'ing0', '$FIELDS');
SELECT pulse.create_collection('bv', 'ing3', '$FIELDS');
-- no autovacuum in the middle of a timed run (each ingest run adds INGEST rows to both tables)
ALTER TABLE bv.ing0 SET (autovacuum_enabled = off);
ALTER TABLE bv.ing3 SET (autovacuum_enabled = off);
SQL

VIEWS=(hourly daily uniques)
declare -A Q FILE STRAT T
FILE[hourly]=hourly.sql FILE[daily]=daily.sql FILE[uniques]=$UQ
STRAT[hourly]=realtime STRAT[daily]=incremental STRAT[uniques]=realtime
for v in "${VIEWS[@]}"; do Q[$v]=$(cat "$HERE/q/${FILE[$v]}"); done

# --- data --------------------------------------------------------------------------------------
t0=$EPOCHREALTIME
pids=()
for ((j = 0; j < JOBS; j++)); do
  load $((1 + N * j / JOBS)) $((N * (j + 1) / JOBS)) & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
t1=$EPOCHREALTIME
$P -c "VACUUM ANALYZE bv.events" -c "CHECKPOINT" >/dev/null
t2=$EPOCHREALTIME
echo "data: $($P -c "SELECT count(*) FROM bv.events") events in bv.events, $USERS users, 30 days" \
     "(INSERT ... SELECT in $JOBS sessions $(secs "$t0" "$t1") s, VACUUM ANALYZE $(secs "$t1" "$t2") s;" \
     "table $($P -c "SELECT pg_size_pretty(pg_table_size('bv.events'))"); $HLL)"
echo "machine: $(nproc) cores, load average at start $(cut -d" " -f1-3 /proc/loadavg)"
echo "1 % = $D events; pulse.view_margin = ${MARGIN_MS} ms (waits of $WAIT s); runs: $RUNS (best of, after loads / one warm-up)"
sleep "$WAIT"

# --- initial build -----------------------------------------------------------------------------
for v in "${VIEWS[@]}"; do
  if [ "$HAVE_VIEWS" = t ]; then
    T[$v.create]=$(time_ms "SELECT pulse.create_view('bv', '$v', \$pulseq\$${Q[$v]}\$pulseq\$, '${STRAT[$v]}', '1 day')")
  fi
  T[$v.mvcreate]=$(time_ms "CREATE MATERIALIZED VIEW bv.mv_$v AS ${Q[$v]}")
done
$P -c "ANALYZE" >/dev/null
echo
echo "initial build, ms:"
printf '  %-8s %-12s %7s %14s %20s\n' view strategy groups create_view "CREATE MAT. VIEW"
for v in "${VIEWS[@]}"; do
  printf '  %-8s %-12s %7s %14s %20s\n' "$v" "${STRAT[$v]}" "$($P -c "SELECT count(*) FROM bv.mv_$v")" \
    "${T[$v.create]:--}" "${T[$v.mvcreate]}"
done

# --- (a) incremental refresh after 1 % new events ----------------------------------------------
next=$N
declare -A RA
for ((r = 1; r <= RUNS; r++)); do
  load $((next + 1)) $((next + D)); next=$((next + D))
  sleep "$WAIT"
  for v in "${VIEWS[@]}"; do
    [ "$HAVE_VIEWS" = t ] && RA[$v.pulse.$r]=$(time_ms "SELECT pulse.refresh_view('bv', '$v')")
  done
  for v in "${VIEWS[@]}"; do RA[$v.mv.$r]=$(time_ms "REFRESH MATERIALIZED VIEW bv.mv_$v"); done
done
if [ "$HAVE_VIEWS" = t ]; then
  for v in "${VIEWS[@]}"; do
    RA[$v.groups]=$($P -c "SELECT pulse.refresh_view('bv', '$v')")   # nothing new: 0 expected
  done
fi
best() { printf '%s\n' "$@" | grep -v '^$' | sort -g | head -n 1; }
echo
echo "(a) refresh after 1 % new events ($D), ms, best of $RUNS (all runs in brackets):"
printf '  %-8s %-12s %24s %30s %14s\n' view strategy pulse.refresh_view "REFRESH MATERIALIZED VIEW" "speed-up"
for v in "${VIEWS[@]}"; do
  pl=() ml=()
  for ((r = 1; r <= RUNS; r++)); do pl+=("${RA[$v.pulse.$r]:-}"); ml+=("${RA[$v.mv.$r]}"); done
  T[$v.refresh]=$(best "${pl[@]}") T[$v.mvrefresh]=$(best "${ml[@]}")
  if [ "$HAVE_VIEWS" = t ]; then
    sp="$(ratio "${T[$v.mvrefresh]}" "${T[$v.refresh]}")x"
    [ "$v" = hourly ] && sp="$sp (>=30)"
  else sp=-; fi
  printf '  %-8s %-12s %10s [%s] %12s [%s] %14s\n' "$v" "${STRAT[$v]}" "${T[$v.refresh]:--}" "${pl[*]}" \
    "${T[$v.mvrefresh]}" "${ml[*]}" "$sp"
done
[ "$HAVE_VIEWS" = t ] && echo "  (a refresh with nothing new returned: hourly ${RA[hourly.groups]}, daily ${RA[daily.groups]}, uniques ${RA[uniques.groups]})"

# answers after (a): every view (just refreshed) vs its materialized view vs its defining query
declare -A CHK
for v in "${VIEWS[@]}"; do
  if [ "$HAVE_VIEWS" = t ]; then
    CHK[a.$v.view_mv]=$(diff_rows "SELECT * FROM bv.$v" "SELECT * FROM bv.mv_$v")
    CHK[a.$v.view_raw]=$(diff_rows "SELECT * FROM bv.$v" "${Q[$v]}")
  fi
  CHK[a.$v.mv_raw]=$(diff_rows "SELECT * FROM bv.mv_$v" "${Q[$v]}")
done

# --- (b) reading with a 1 % unmerged tail ------------------------------------------------------
load $((next + 1)) $((next + D)); next=$((next + D))
for v in "${VIEWS[@]}"; do $P -c "REFRESH MATERIALIZED VIEW bv.mv_$v" >/dev/null; done
$P -c "ANALYZE bv.mv_hourly" -c "ANALYZE bv.mv_daily" -c "ANALYZE bv.mv_uniques" >/dev/null
LAST=$($P -c "SELECT max(hour) - interval '23 hours' FROM bv.mv_hourly")
declare -A RB
RV=(hourly uniques)
for v in "${RV[@]}"; do
  src=("bv.mv_$v")
  [ "$HAVE_VIEWS" = t ] && src+=("bv.$v")
  for s in "${src[@]}"; do
    RB[$s.server]=$(server_ms "SELECT * FROM $s")
    RB[$s.client]=$(best_ms "SELECT * FROM $s")
  done
  RB[raw.$v.server]=$(server_ms "${Q[$v]}")
  RB[raw.$v.client]=$(best_ms "${Q[$v]}")
done
SLICE="SELECT hour, sum(n) AS n, sum(revenue) AS revenue FROM %s WHERE hour >= '$LAST' AND country = 'de' GROUP BY hour ORDER BY hour"
declare -A SRC=([mv]="bv.mv_hourly" [view]="bv.hourly" [raw]="(${Q[hourly]}) raw")
for s in mv view raw; do
  [ "$s" = view ] && [ "$HAVE_VIEWS" != t ] && continue
  # shellcheck disable=SC2059
  RB[slice.$s]=$(server_ms "$(printf "$SLICE" "${SRC[$s]}")")
done
echo
echo "(b) reading with a 1 % unmerged tail ($D events not merged into the realtime views), ms, best of $RUNS:"
printf '  %-8s %-7s %14s %14s %16s %20s %18s\n' view "" realtime_view mat_view defining_query "view/mat_view" "query/view"
for v in "${RV[@]}"; do
  for k in server client; do
    if [ "$HAVE_VIEWS" = t ]; then
      r1="$(ratio "${RB[bv.$v.$k]}" "${RB[bv.mv_$v.$k]}")x" r2="$(ratio "${RB[raw.$v.$k]}" "${RB[bv.$v.$k]}")x"
      [ "$v" = hourly ] && r1="$r1 (<=5)" r2="$r2 (>=20)"
    else r1=- r2=-; fi
    printf '  %-8s %-7s %14s %14s %16s %20s %18s\n' "$v" "$k" "${RB[bv.$v.$k]:--}" "${RB[bv.mv_$v.$k]}" "${RB[raw.$v.$k]}" "$r1" "$r2"
  done
done
echo "  dashboard slice of hourly (country 'de', hour >= '$LAST', sum by hour), server:" \
     "realtime view ${RB[slice.view]:--}, mat_view ${RB[slice.mv]}, defining query ${RB[slice.raw]}"

# answers with the tail: realtime view vs materialized view (refreshed) vs defining query
for v in "${RV[@]}"; do
  if [ "$HAVE_VIEWS" = t ]; then
    CHK[b.$v.view_mv]=$(diff_rows "SELECT * FROM bv.$v" "SELECT * FROM bv.mv_$v")
    CHK[b.$v.view_raw]=$(diff_rows "SELECT * FROM bv.$v" "${Q[$v]}")
  fi
  CHK[b.$v.mv_raw]=$(diff_rows "SELECT * FROM bv.mv_$v" "${Q[$v]}")
done
if [ "$HAVE_VIEWS" = t ]; then
  # the merge of that tail, for information (same data as the check above)
  for v in "${VIEWS[@]}"; do T[$v.tailrefresh]=$(time_ms "SELECT pulse.refresh_view('bv', '$v')"); done
  CHK[b.hourly.after_merge]=$(diff_rows "SELECT * FROM bv.hourly" "SELECT * FROM bv.mv_hourly")

  # (b2) what a refresher with refresh_every => '1 second' leaves at 10k events/s: at most one
  # second of events unmerged (10k), and the last view_margin (5 s) of merged events still at or
  # after its threshold, which a read scans too (and skips by snapshot): 50k events merged by a
  # refresh right after they arrive, then the 10k of the tail, read at once
  T2=10000
  load $((next + 1)) $((next + 5 * T2)); next=$((next + 5 * T2))
  $P -c "SELECT pulse.refresh_view('bv', 'hourly')" >/dev/null
  load $((next + 1)) $((next + T2)); next=$((next + T2))
  $P -c "REFRESH MATERIALIZED VIEW bv.mv_hourly" >/dev/null
  for s in bv.hourly bv.mv_hourly; do
    RB[b2.$s.server]=$(server_ms "SELECT * FROM $s")
    RB[b2.$s.client]=$(best_ms "SELECT * FROM $s")
  done
  RB[b2.raw.server]=$(server_ms "${Q[hourly]}")
  echo
  echo "(b2) reading hourly with the 1-second tail ($T2 events not merged, $((5 * T2)) merged within the margin: 10k events/s, refresh_every 1 second), ms, best of $RUNS:"
  echo "  server: realtime view ${RB[b2.bv.hourly.server]}, mat_view ${RB[b2.bv.mv_hourly.server]}, defining query ${RB[b2.raw.server]};" \
       "view/mat_view $(ratio "${RB[b2.bv.hourly.server]}" "${RB[b2.bv.mv_hourly.server]}")x (<=2)," \
       "query/view $(ratio "${RB[b2.raw.server]}" "${RB[b2.bv.hourly.server]}")x (>=50)"
  echo "  client: realtime view ${RB[b2.bv.hourly.client]}, mat_view ${RB[b2.bv.mv_hourly.client]};" \
       "view/mat_view $(ratio "${RB[b2.bv.hourly.client]}" "${RB[b2.bv.mv_hourly.client]}")x"
  CHK[b2.hourly.view_mv]=$(diff_rows "SELECT * FROM bv.hourly" "SELECT * FROM bv.mv_hourly")
  CHK[b2.hourly.view_raw]=$(diff_rows "SELECT * FROM bv.hourly" "${Q[hourly]}")
fi

# --- (c) ingest with 3 views vs none -----------------------------------------------------------
parts=$(( (INGEST + CHUNK - 1) / CHUNK ))
for ((k = 0; k < parts; k++)); do
  lo=$((1 + k * CHUNK)) hi=$(( (k + 1) * CHUNK < INGEST ? (k + 1) * CHUNK : INGEST ))
  printf "COPY (SELECT json_build_object('_time', _time, '_user', _user, 'event', event, 'country', country, 'revenue', revenue, 'duration', duration)::text FROM public.bench_events(%d, %d, %s, %d)) TO '%s/chunk_%04d.ndjson';\n" \
    "$lo" "$hi" "$STEP" "$USERS" "$EXP" "$k"
done | $P >/dev/null
if [ "$HAVE_VIEWS" = t ]; then
  for v in "${VIEWS[@]}"; do
    $P -c "SELECT pulse.create_view('bv', 'i3_$v', \$pulseq\$${Q[$v]//bv.events/bv.ing3}\$pulseq\$, '${STRAT[$v]}', '1 day')" >/dev/null
  done
fi
NV=$($P -c "SELECT count(*) FROM pg_views WHERE schemaname = 'bv' AND viewname LIKE 'i3\_%'")
for c in ing0 ing3; do
  for ((k = 0; k < parts; k++)); do
    printf "SELECT stored FROM pulse.collect_batch('bv', pg_read_file('%s/chunk_%04d.ndjson'), '%s');\n" "$EXP" "$k" "$c"
  done > "$EXP/calls_$c.sql"
done
declare -A RC
for ((r = 1; r <= RUNS; r++)); do
  order=(ing0 ing3); [ $((r % 2)) = 0 ] && order=(ing3 ing0)
  for c in "${order[@]}"; do
    $P -c "CHECKPOINT" >/dev/null
    a=$EPOCHREALTIME
    $P -f "$EXP/calls_$c.sql" >/dev/null
    b=$EPOCHREALTIME
    RC[$c.$r]=$(awk -v n="$INGEST" -v a="$a" -v b="$b" 'BEGIN { printf "%.0f", n / (b - a) }')
  done
done
bestmax() { printf '%s\n' "$@" | sort -g | tail -n 1; }
l0=() l3=()
for ((r = 1; r <= RUNS; r++)); do l0+=("${RC[ing0.$r]}"); l3+=("${RC[ing3.$r]}"); done
b0=$(bestmax "${l0[@]}") b3=$(bestmax "${l3[@]}")
c0=$($P -c "SELECT count(*) FROM bv.ing0") c3=$($P -c "SELECT count(*) FROM bv.ing3")
echo
echo "(c) ingest, pulse.collect_batch of $INGEST events ($CHUNK per call, one session), events/s, best of $RUNS (all runs in brackets):"
echo "  no views:        $b0 [${l0[*]}]"
echo "  $NV views (i3_*): $b3 [${l3[*]}]"
echo "  ratio with views / without: $(ratio "$b3" "$b0") (>=0.9); rows stored: $c0 / $c3"
CHK[c.rows]="$(( c0 - c3 < 0 ? c3 - c0 : c0 - c3 )) 0 $c0"
if [ "$HAVE_VIEWS" = t ]; then
  # every ingested row is unmerged (the views were created on the empty collection)
  CHK[c.i3_hourly.view_raw]=$(diff_rows "SELECT * FROM bv.i3_hourly" "${Q[hourly]//bv.events/bv.ing3}")
  T[i3.read]=$(time_ms "SELECT * FROM bv.i3_hourly")
  T[i3.refresh]=$(time_ms "SELECT pulse.refresh_view('bv', 'i3_hourly')")
  CHK[c.i3_hourly.after_merge]=$(diff_rows "SELECT * FROM bv.i3_hourly" "${Q[hourly]//bv.events/bv.ing3}")
  echo "  i3_hourly with all $c3 rows unmerged: read ${T[i3.read]} ms, then refresh_view ${T[i3.refresh]} ms"
fi
if [ "$HAVE_VIEWS" = t ]; then
  echo
  echo "merge of the (b) tail, refresh_view ms: hourly ${T[hourly.tailrefresh]}, daily ${T[daily.tailrefresh]}, uniques ${T[uniques.tailrefresh]}"
  echo "pulse.views:"
  $P -P tuples_only=off -P footer=off -P format=aligned \
    -c "SELECT name, strategy, rows, last_duration, last_error, needs_rebuild FROM pulse.views ORDER BY name" | sed 's/^/  /'
fi

echo
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine makes every figure noisy)"

# --- answers -----------------------------------------------------------------------------------
echo
echo "answer checks (rows only in the first, only in the second (EXCEPT ALL both ways; must be 0 0), rows):"
ok=1
for k in $(printf '%s\n' "${!CHK[@]}" | sort); do
  printf '  %-28s %s\n' "$k" "${CHK[$k]}"
  case "${CHK[$k]}" in "0 0 "*) ;; *) ok=0 ;; esac
done
[ "$ok" = 1 ] && echo "  all answers equal" || { echo "  ANSWERS DIFFER"; exit 1; }
