#!/usr/bin/env bash
# Kafka into a time-partitioned collection (docs/lifecycle.md): the project's default makes the
# collection partitioned by day; the workers (parallelism 2) create the partitions of every day
# they see, late and future ones too; every message stored exactly once, a bad one dead-lettered
# and replayed after the fix; a realtime view equals its query.
set -euo pipefail
. "$PULSE_REPO/test/kafka/lib.sh"
DB=${PGDATABASE:-pulse_test}
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
fail() { echo "FAIL: $*"; $Q -c "SELECT * FROM pulse.kafka_status" 2>&1 | head -20; tail -30 "${PULSE_TEST_LOG:-/dev/null}" 2>/dev/null; exit 1; }
trap '$Q -c "SELECT pulse.drop_project('"'"'kpart'"'"', force => true) FROM pulse.projects WHERE name = '"'"'kpart'"'"'" >/dev/null 2>&1 || true' EXIT
kafka_start pevents:4
$Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_pulse" >/dev/null
$Q -c "SELECT pulse.drop_project('kpart', force => true) FROM pulse.projects WHERE name = 'kpart'" >/dev/null 2>&1 || true
$Q -c "SELECT pulse.create_project('kpart')" -c "SELECT pulse.set_project_defaults('kpart', 'day')" >/dev/null
OPTS='{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "topic.metadata.refresh.interval.ms": "1000"}'
$Q -c "SELECT pulse.kafka_subscribe('kpart', ARRAY['pevents'], '$KAFKA_BROKERS', collection => 'ev',
         options => '$OPTS', batch_timeout => '100 ms', parallelism => 2)" >/dev/null

# 3000 events over 20 days of 2024, some of 2019 (late) and 2035 (future), one with a bad _time
{
  for ((k = 0; k < 3000; k++)); do
    case $((k % 100)) in
      7) d="2019-07-04T12:00:00Z" ;;
      8) d="2035-01-01T00:00:00Z" ;;
      *) printf -v d '2024-02-%02dT%02d:00:00Z' $((k % 20 + 1)) $((k % 24)) ;;
    esac
    printf '{"seq": %d, "_user": "u%d", "_time": "%s"}\n' "$k" $((k % 50)) "$d"
  done
  echo '{"seq": 3000, "_time": "yesterday"}'
} | kafka_produce pevents
wait_for "SELECT count(*) FROM kpart.ev" 3000 90
wait_for "SELECT count(*) FROM pulse.dead_letters WHERE project = 'kpart'" 1 30
[ "$($Q -c "SELECT partition_by FROM pulse.collections WHERE project = 'kpart' AND collection = 'ev'")" = day ] || fail "not partitioned"
[ "$($Q -c "SELECT count(DISTINCT seq) = 3000 FROM kpart.ev")" = t ] || fail "exactly once"
[ "$($Q -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'kpart.ev'::regclass")" = 22 ] || fail "partitions: $($Q -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'kpart.ev'::regclass")"
[ "$($Q -c "SELECT count(*) FROM kpart.ev WHERE tableoid = 'kpart.ev_p20190704'::regclass")" = 30 ] || fail "late partition"
echo "ok 1 - 3000 Kafka events stored exactly once in a day-partitioned collection (22 partitions, late and future days included), a bad _time dead-lettered"

$Q -c "SELECT pulse.create_view('kpart', 'per_day', 'SELECT date_trunc(''day'', _time) AS d, count(*) AS n FROM ev GROUP BY 1', 'realtime')" >/dev/null
$Q -c "UPDATE pulse.dead_letters SET payload = convert_to('{\"seq\": 3000, \"_time\": \"2024-03-01T00:00:00Z\"}', 'UTF8') WHERE project = 'kpart'" >/dev/null
[ "$($Q -c "SELECT stored FROM pulse.replay_dead_letters('kpart')")" = 1 ] || fail "replay"
[ "$($Q -c "SELECT count(*) FROM kpart.ev_p20240301")" = 1 ] || fail "replayed partition"
same=$($Q -c "SELECT (SELECT array_agg(x::text ORDER BY x::text) FROM kpart.per_day x) =
                     (SELECT array_agg(x::text ORDER BY x::text) FROM (SELECT date_trunc('day', _time) AS d, count(*) AS n FROM kpart.ev GROUP BY 1) x)")
[ "$same" = t ] || fail "view differs from its query"
echo "ok 2 - the dead letter replayed into a new partition; a realtime view equals its query"
echo "kafka_partitioned: all ok"
