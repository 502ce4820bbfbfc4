#!/usr/bin/env bash
# bench/kafka: Kafka -> Postgres ingestion, measured in one run against librdkafka's mock cluster
# (test/kafka/lib.sh) on loopback:
#   (a) pg_pulse: a subscription (parallelism 2, batch_size 10000, batch_timeout 200 ms) consumes
#       N JSON events (10 fields) that kcat produces; events/s from the start of producing to the
#       commit of the last row (commit timestamps: track_commit_timestamp = on);
#   (b) baseline: kcat -C | psql COPY of the same messages into a one-jsonb-column staging table,
#       then INSERT ... SELECT (doc->>'f')::type into a table identical to pg_pulse's collection;
#       the two tables are checked to hold the same rows; prints the ratio a/b;
#   (a2) draining a backlog: the same N events produced first into topic backlog (project
#       kbacklog, so its persons are new too) while its subscription is paused (the workers
#       stopped), then pulse.kafka_resume; events/s from the resume (the workers start and join
#       the group: ~3 s with the mock) to the commit of the last row, and between the first and
#       the last batch committed (steady draining). Its ratio against (b) compares like with
#       like: both read a topic that holds every event, where (a) also waits for kcat -P (on a
#       2-core machine the producer, not pg_pulse, sets the pace of (a));
#   (c) freshness: a confluent_kafka producer sends events at a steady 20000 events/s for 10 s
#       into a fresh topic and subscription; per row, commit time - produce time: p50 and p99.
#       Run twice: with the subscription's defaults (batch_timeout 50 ms, fetch.wait.max.ms 100),
#       and with the options of (a) plus fetch.wait.max.ms 10, which removes a stall of
#       librdkafka's mock broker (see fresh_run below).
#
#   bash bench/kafka/run.sh [events=1000000]
#
# Starts (and wipes) the private test cluster (test/cluster.sh, /tmp/pg_pulse_test) and the mock
# broker, stops both on exit. Tunables: PULSE_BENCH_FRESH_RATE (20000), PULSE_BENCH_FRESH_SECONDS
# (10), PULSE_BENCH_PERSONS (on: the project makes a person of every new _user, the default of
# pulse.set_track_persons, which the baseline does not do; off: the events alone, like the
# baseline). Everything is bounded in time.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-1000000}
RATE=${PULSE_BENCH_FRESH_RATE:-20000}
PERSONS=${PULSE_BENCH_PERSONS:-on}
FRESH_SECS=${PULSE_BENCH_FRESH_SECONDS:-10}
DIR=/tmp/pg_pulse_bench_kafka
PY=/usr/bin/python3            # the Debian python3-confluent-kafka works with this one only
PROJ=kbench
PROJ2=kbacklog   # (a2)'s project: its persons are new too
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [events=1000000]" >&2; exit 2; }
export PGHOST=/tmp/pg_pulse_test PGPORT=54329 PGUSER=postgres PGDATABASE=pulse_test PULSE_REPO=$REPO
export KAFKA_CLIENT_TIMEOUT=${KAFKA_CLIENT_TIMEOUT:-300}
Q="psql -qXAt -v ON_ERROR_STOP=1 -d pulse_test"
LOG=/tmp/pg_pulse_test/postgres.log

cleanup() {
  local rc=$?
  [ "$rc" -ne 0 ] && echo "bench/kafka: failed (exit $rc); server log: $LOG" >&2
  bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$REPO/test/kafka/lib.sh"       # its EXIT handler (stops the broker) runs after cleanup

die() {
  echo "bench/kafka: $*" >&2
  $Q -c "SELECT * FROM pulse.kafka_status" >&2 2>/dev/null || true
  tail -n 20 "$LOG" >&2 2>/dev/null || true
  exit 1
}
now() { printf '%s\n' "$EPOCHREALTIME"; }
# wait_for SQL EXPECTED SECONDS: poll every 100 ms until the query returns EXPECTED.
wait_for() {
  local got="" deadline=$((SECONDS + $3))
  while :; do
    got=$($Q -c "$1" 2>/dev/null || true)
    [ "$got" = "$2" ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && die "waited $3 s for [$1] = $2, got '$got'"
    sleep 0.1
  done
}
stored_sum() { $Q -c "SELECT coalesce(sum(next_offset), 0) FROM pulse.kafka_offsets WHERE subscription_id = $1"; }
# check_retained TOPIC: every partition still holds its first message (the mock drops the oldest
# message sets of a partition past ~5 MiB).
check_retained() {
  local lows
  lows=$(kafka_offsets "$1" | awk '$2 != 0 { n++ } END { print n + 0 }')
  [ "$lows" = 0 ] || die "topic $1: $lows partitions dropped old messages (mock limit ~5 MiB/partition): use more partitions"
}

OPTS='{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "topic.metadata.refresh.interval.ms": "1000"}'
# subscribe TOPIC COLLECTION [EXTRA_OPTIONS (', "k": "v"')]: prints the subscription id.
# subscribe TOPIC COLLECTION EXTRA_OPTIONS [BATCH_TIMEOUT_ARG]: the 4th argument replaces
# "batch_timeout => '200 ms', " (empty: the subscription's default)
subscribe() {
  $Q -c "SELECT pulse.kafka_subscribe('${SUB_PROJ:-$PROJ}', ARRAY['$1'], '$KAFKA_BROKERS', collection => '$2',
           options => '${OPTS%\}}${3:-}}', batch_size => 10000, ${4-batch_timeout => '200 ms', }parallelism => 2)"
}
# warm_up SUB TOPIC PARTITIONS JSON_LINE [--stamp]: waits until both workers run, then sends
# rounds of one message per partition until one round was stored by two different workers
# (both are in the group and own partitions: no rebalance is left to happen during the
# measurement). Sets WARM to the number of warm-up messages.
warm_up() {
  local sub=$1 topic=$2 parts=$3 line=$4 stamp=${5:-} owners=0 round
  wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'" 2 30
  WARM=0
  for ((round = 1; round <= 20; round++)); do
    timeout -k 5 60 "$PY" "$REPO/bench/kafka/producer.py" warmup "$topic" "$parts" "$line" ${stamp:+"$stamp"} ||
      die "warm-up produce failed"
    WARM=$((WARM + parts))
    wait_for "SELECT coalesce(sum(next_offset), 0) FROM pulse.kafka_offsets WHERE subscription_id = $sub" "$WARM" 60
    owners=$($Q -c "SELECT count(DISTINCT pid) FROM (SELECT DISTINCT ON (partition) pid
                      FROM pulse._kafka_worker_status() WHERE subscription_id = $sub AND partition IS NOT NULL
                     ORDER BY partition, stored_offset DESC) x")
    [ "$owners" = 2 ] && break
    sleep 0.5
  done
  [ "$owners" = 2 ] || die "subscription $sub: the two workers never shared the partitions"
  echo "  workers joined: $round warm-up round(s) of $parts messages, 2 workers own the partitions"
}

rm -rf "$DIR" && mkdir -p "$DIR" && chmod 755 "$DIR"
echo "== setup"
PULSE_TEST_CONF=$'track_commit_timestamp = on\nmax_worker_processes = 32' bash "$REPO/test/cluster.sh" start
createdb pulse_test
$Q -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('$PROJ')" -c "SELECT pulse.create_project('$PROJ2')" \
   -c "SELECT pulse.set_track_persons('$PROJ', $([ "$PERSONS" = off ] && echo false || echo true))" \
   -c "SELECT pulse.set_track_persons('$PROJ2', $([ "$PERSONS" = off ] && echo false || echo true))" >/dev/null
echo "  persons on first sight: $PERSONS (PULSE_BENCH_PERSONS)"
LOG_FROM=$(($(stat -c %s "$LOG") + 1))   # the log is checked from here on

echo "generating $N events (bench/ingest/gen.py) ..."
"$PY" "$REPO/bench/ingest/gen.py" "$N" "$N" "$DIR" >/dev/null
EVENTS=$DIR/chunk_0000.ndjson
rm -f "$DIR/events.csv"
BYTES=$(stat -c %s "$EVENTS")
# The mock keeps ~5 MiB per partition: count ~20 bytes of record overhead per message and keep
# 25% headroom; at least 16 partitions, an even number (2 workers), at most 2 x 64 (the status
# slots of a worker hold 64 partitions).
PARTS=$(awk -v b="$BYTES" -v n="$N" 'BEGIN { p = int((b + 20 * n) * 1.25 / (5 * 1048576)) + 1;
  if (p < 16) p = 16; if (p % 2) p++; print p }')
[ "$PARTS" -le 128 ] || die "$N events ($BYTES bytes) need $PARTS partitions of the mock (> 128); use fewer events"
# the freshness topics hold RATE x FRESH_SECS messages of the same size: as many partitions as
# that needs (at least 16; 60 % headroom: the producer spreads messages unevenly)
FRESH_PARTS=$(awk -v b="$BYTES" -v n="$N" -v m="$((RATE * FRESH_SECS))" 'BEGIN {
  p = int((b / n + 20) * m * 1.6 / (5 * 1048576)) + 1; if (p < 16) p = 16; if (p % 2) p++; print p }')
[ "$FRESH_PARTS" -le 128 ] || die "$RATE events/s for $FRESH_SECS s need $FRESH_PARTS partitions of the mock (> 128); shorten PULSE_BENCH_FRESH_SECONDS"
awk -v b="$BYTES" -v n="$N" -v p="$PARTS" 'BEGIN {
  printf "  %d events, %.1f MB, %.0f bytes/event -> topic events: %d partitions (~%.1f MiB each of the mock'"'"'s ~5 MiB)\n",
    n, b / 1e6, b / n, p, (b + 20 * n) / p / 1048576 }'
kafka_start "events:$PARTS" "backlog:$PARTS" "fresh:$FRESH_PARTS" "fresh2:$FRESH_PARTS"
echo "  mock broker at $KAFKA_BROKERS; $(nproc) CPUs; librdkafka $("$PY" -c 'import confluent_kafka as c; print(c.libversion()[0])')"

# ---------------------------------------------------------------- (a) pg_pulse
echo "== (a) kafka -> pg_pulse (parallelism 2, batch_size 10000, batch_timeout 200 ms)"
SUB=$(subscribe events events)
warm_up "$SUB" events "$PARTS" "$(head -n 1 "$EVENTS")"
TARGET=$((WARM + N))
$Q -c "CHECKPOINT" >/dev/null
t0=$(now)
kafka_produce_file events "$EVENTS" || die "kcat could not produce every event"
tp=$(now)
deadline=$((SECONDS + 60 + N / 5000))
while [ "$(stored_sum "$SUB")" != "$TARGET" ]; do
  [ "$SECONDS" -ge "$deadline" ] && die "pg_pulse stored $(stored_sum "$SUB") of $TARGET messages in time"
  sleep 0.1
done
tseen=$(now)
# The last batch's commit time: the offsets rows are updated in the batches' transactions.
t1=$($Q -c "SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) FROM pulse.kafka_offsets WHERE subscription_id = $SUB")
stored=$($Q -c "SELECT count(*) FROM $PROJ.events")
dead=$($Q -c "SELECT count(*) FROM pulse.dead_letters WHERE project = '$PROJ'")
rejected=$($Q -c "SELECT count(*) FROM pulse.rejected_fields WHERE project = '$PROJ'")
batches=$($Q -c "SELECT count(DISTINCT xmin::text) FROM $PROJ.events")
[ "$stored" = "$TARGET" ] || die "collection holds $stored rows, expected $TARGET"
check_retained events
awk -v n="$N" -v a="$t0" -v p="$tp" -v b="$t1" -v s="$tseen" -v w="$WARM" -v bt="$batches" 'BEGIN {
  printf "  produce only (kcat -P): %.2f s (%.0f events/s)\n", p - a, n / (p - a);
  printf "  produce start -> last row committed: %.2f s (seen by polling after %.2f s); %d warm-up rows before; %d transactions\n",
    b - a, s - a, w, bt }'
echo "  rows stored $stored, dead letters $dead, rejected fields $rejected"

# ---------------------------------------------------------------- (a2) draining a backlog
echo "== (a2) kafka -> pg_pulse draining a backlog of $N events (produced while the subscription was paused)"
# (a)'s workers stop (its rows are compared in (b)); its 1M rows would start autovacuum during
# the drain, on a 2-core machine: vacuumed first, untimed
$Q -c "SELECT pulse.kafka_pause($SUB)" >/dev/null
wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'" 0 30
$Q -c "VACUUM ANALYZE $PROJ.events" >/dev/null
SUB2=$(SUB_PROJ=$PROJ2 subscribe backlog backlog)
warm_up "$SUB2" backlog "$PARTS" "$(head -n 1 "$EVENTS")"
WARM2=$WARM
$Q -c "SELECT pulse.kafka_pause($SUB2)" >/dev/null
wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'" 0 30
kafka_produce_file backlog "$EVENTS" || die "kcat could not produce every event into backlog"
[ "$(stored_sum "$SUB2")" = "$WARM2" ] || die "subscription $SUB2 consumed while paused"
$Q -c "CHECKPOINT" >/dev/null
r0=$(now)
$Q -c "SELECT pulse.kafka_resume($SUB2)" >/dev/null
deadline=$((SECONDS + 60 + N / 5000))
while [ "$(stored_sum "$SUB2")" != "$((WARM2 + N))" ]; do
  [ "$SECONDS" -ge "$deadline" ] && die "pg_pulse stored $(stored_sum "$SUB2") of $((WARM2 + N)) backlog messages in time"
  sleep 0.1
done
check_retained backlog
# the batches committed after the resume: their commit times and sizes
IFS='|' read -r r1 rf nb rows_first rows2 < <($Q -c "
  SELECT extract(epoch FROM max(c)), extract(epoch FROM min(c)), count(*),
         (array_agg(n ORDER BY c))[1], sum(n)
    FROM (SELECT pg_xact_commit_timestamp(xmin) AS c, count(*) AS n FROM $PROJ2.backlog GROUP BY xmin) b
   WHERE c >= to_timestamp($r0)")
[ "$rows2" = "$N" ] || die "backlog: $rows2 rows committed after the resume, expected $N"
dead2=$($Q -c "SELECT count(*) FROM pulse.dead_letters WHERE project = '$PROJ2'")
[ "$dead2" = 0 ] || die "backlog: $dead2 dead letters"
awk -v n="$N" -v a="$r0" -v b="$r1" -v f="$rf" -v nb="$nb" -v rf="$rows_first" 'BEGIN {
  printf "  resume -> last row committed: %.2f s (%.0f events/s); %d transactions; first batch committed after %.2f s;\n", b - a, n / (b - a), nb, f - a;
  if (nb > 1) printf "  first -> last batch committed: %.2f s for the %d rows after the first batch (%.0f events/s)\n", b - f, n - rf, (n - rf) / (b - f);
  else print "  (one batch: no steady rate)" }'
$Q -c "SELECT pulse.kafka_unsubscribe($SUB2)" >/dev/null
wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'" 0 30
$Q -c "VACUUM ANALYZE $PROJ2.backlog" >/dev/null

# ---------------------------------------------------------------- (b) baseline
echo "== (b) baseline: kcat -C | psql COPY into a jsonb staging table, then INSERT ... SELECT"
$Q -c "CREATE TABLE public.staging (doc jsonb)" \
   -c "CREATE TABLE public.identical (LIKE $PROJ.events INCLUDING ALL)" >/dev/null
FIELDS="'_time','_user','url','country','referrer','price','quantity','duration_ms','is_mobile','is_new'"
COLS=$($Q -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
               WHERE attrelid = '$PROJ.events'::regclass AND attname IN ($FIELDS)")
EXPRS=$($Q -c "SELECT string_agg(format('(doc->>%L)::%s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
                FROM pg_attribute WHERE attrelid = '$PROJ.events'::regclass AND attname IN ($FIELDS)")
[ "$(tr ',' '\n' <<<"$COLS" | wc -l)" = 10 ] || die "collection columns: $COLS"
$Q -c "CHECKPOINT" >/dev/null
b0=$(now)
kafka_kcat -C -q -t events -o beginning -e -f '%s\n' |
  $Q -c "COPY public.staging (doc) FROM STDIN (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')"
b1=$(now)
$Q -c "INSERT INTO public.identical ($COLS) SELECT $EXPRS FROM public.staging"
b2=$(now)
copied=$($Q -c "SELECT count(*) FROM public.identical")
[ "$copied" = "$TARGET" ] || die "baseline stored $copied rows, expected $TARGET"
diff1=$($Q -c "SELECT count(*) FROM (SELECT $COLS FROM $PROJ.events EXCEPT ALL SELECT $COLS FROM public.identical) d")
diff2=$($Q -c "SELECT count(*) FROM (SELECT $COLS FROM public.identical EXCEPT ALL SELECT $COLS FROM $PROJ.events) d")
awk -v n="$TARGET" -v a="$b0" -v b="$b1" -v c="$b2" 'BEGIN {
  printf "  kcat -C | COPY: %.2f s, INSERT ... SELECT: %.2f s, total %.2f s for %d rows\n", b - a, c - b, c - a, n }'
echo "  same rows: $stored rows in $PROJ.events, $copied in public.identical; on the 10 fields," \
     "events EXCEPT ALL identical = $diff1 rows, identical EXCEPT ALL events = $diff2 rows"
if [ "$diff1" != 0 ] || [ "$diff2" != 0 ]; then die "pg_pulse and the baseline stored different rows"; fi
$Q -c "SELECT pulse.kafka_unsubscribe($SUB)" >/dev/null
wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'" 0 30

# ---------------------------------------------------------------- (c) freshness
# fresh_run TOPIC EXTRA_OPTIONS LABEL: a subscription on TOPIC (collection TOPIC), warm-up, then
# the steady producer; sets F_RATE F_P50 F_P99 from the rows it produced.
fresh_run() {
  local topic=$1 extra=$2 sub fwarm prod sent delivered perr first_us fcount pmax pavg
  echo "== (c) freshness, $3: $RATE events/s for $FRESH_SECS s (confluent_kafka producer, linger.ms 1) into topic $topic"
  sub=$(subscribe "$topic" "$topic" "$extra" "${4-batch_timeout => '200 ms', }")
  warm_up "$sub" "$topic" "$FRESH_PARTS" "$(head -n 1 "$EVENTS")" --stamp
  fwarm=$WARM
  prod=$(timeout -k 5 $((FRESH_SECS + 60)) "$PY" "$REPO/bench/kafka/producer.py" steady "$topic" "$RATE" "$FRESH_SECS") ||
    die "steady producer failed"
  read -r sent delivered perr first_us F_RATE < <("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]);
print(d["sent"], d["delivered"], d["errors"], d["first_us"], d["rate"])' "$prod")
  [ "$perr" = 0 ] || die "steady producer: $perr messages not delivered"
  wait_for "SELECT coalesce(sum(next_offset), 0) FROM pulse.kafka_offsets WHERE subscription_id = $sub" $((fwarm + delivered)) 60
  check_retained "$topic"
  IFS='|' read -r fcount F_P50 F_P99 pmax pavg < <($Q -c "
    SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY f)::numeric, 1),
           round(percentile_cont(0.99) WITHIN GROUP (ORDER BY f)::numeric, 1),
           round(max(f)::numeric, 1), round(avg(f)::numeric, 1)
      FROM (SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin) - to_timestamp(sent_us / 1e6)) * 1000 AS f
              FROM $PROJ.$topic WHERE sent_us >= $first_us) x")
  [ "$fcount" = "$delivered" ] || die "$topic: $fcount rows for $delivered delivered messages"
  echo "  produced $sent events at $F_RATE events/s (delivered $delivered); rows stored $fcount in" \
       "$($Q -c "SELECT count(DISTINCT xmin::text) FROM $PROJ.$topic WHERE sent_us >= $first_us") transactions"
  echo "  freshness (commit time - produce time) per row: p50 $F_P50 ms, p99 $F_P99 ms, max $pmax ms, mean $pavg ms"
  $Q -c "SELECT pulse.kafka_unsubscribe($sub)" >/dev/null
  wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'" 0 30
}
fresh_run fresh '' "default batch_timeout (50 ms) and fetch.wait.max.ms (100 ms)" ""
read -r RATE1 P50_1 P99_1 <<<"$F_RATE $F_P50 $F_P99"
# librdkafka's mock answers a fetch that finds no new data only after the consumer's full
# fetch.wait.max.ms (default 500 ms), even if data arrives meanwhile (a real broker answers as
# soon as fetch.min.bytes are there): a consumer that has caught up waits up to 500 ms per
# fetch. The second run caps that wait at 10 ms to show pg_pulse's own share.
fresh_run fresh2 ', "fetch.wait.max.ms": "10"' "fetch.wait.max.ms 10 (no mock fetch stall)"
read -r RATE2 P50_2 P99_2 <<<"$F_RATE $F_P50 $F_P99"

# ---------------------------------------------------------------- summary
tail -c +"$LOG_FROM" "$LOG" >"$DIR/server.log"
echo "== server log since setup: $(grep -c -E '(ERROR|FATAL|PANIC):' "$DIR/server.log" || true) ERROR/FATAL lines," \
     "$(grep -c 'WARNING:' "$DIR/server.log" || true) WARNING lines ($LOG)"
grep -E '(ERROR|FATAL|PANIC|WARNING):' "$DIR/server.log" | sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //' |
  sort | uniq -c | sort -rn | head -n 5 || true
echo "== summary ($N events, $PARTS partitions, $(nproc) CPUs)"
awk -v n="$N" -v a="$t0" -v b="$t1" -v p="$tp" -v bt="$TARGET" -v b0="$b0" -v b2="$b2" -v rate="$RATE" \
    -v r0="$r0" -v r1="$r1" -v rf="$rf" -v rows_first="$rows_first" \
    -v p50="$P50_1" -v p99="$P99_1" -v ach="$RATE1" -v q50="$P50_2" -v q99="$P99_2" -v ach2="$RATE2" 'BEGIN {
  k = n / (b - a); c = bt / (b2 - b0);
  printf "kcat produce only: %.0f events/s (%.2f s)\n", n / (p - a), p - a;
  printf "kafka→pg_pulse: %.0f events/s (%.2f s)\n", k, b - a;
  printf "kcat|COPY baseline: %.0f events/s (%.2f s)\n", c, b2 - b0;
  printf "ratio pg_pulse / kcat+COPY: %.2f (pg_pulse paced by the concurrent kcat -P)\n", k / c;
  d = n / (r1 - r0); e = r1 > rf ? (n - rows_first) / (r1 - rf) : d;
  printf "draining a backlog: %.0f events/s from the resume, %.0f events/s first to last batch\n", d, e;
  printf "ratio draining a backlog / kcat+COPY: %.2f from the resume, %.2f first to last batch (target >= 2)\n", d / c, e / c;
  printf "freshness at %d events/s, fetch.wait.max.ms 10 (no mock fetch stall): p50 %s ms, p99 %s ms (achieved %s events/s)\n", rate, q50, q99, ach2;
  printf "freshness at %d events/s, default subscription options: p50 %s ms, p99 %s ms (achieved %s events/s)\n", rate, p50, p99, ach }'
