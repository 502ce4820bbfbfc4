#!/usr/bin/env bash
# Kafka JSON ingestion end to end: librdkafka's mock cluster in its own process, kcat as the
# independent producer, the pg_pulse launcher + consumer workers in the test server.
# Checks: exactly-once over several partitions with parallelism 2; malformed JSON dead-lettered
# beside the good rows of its batch; schema evolution mid-stream; routing (fixed collection,
# envelope, topic name); pause / resume / unsubscribe; pulse.kafka_status; a broker outage of
# 10 s; a worker killed with SIGKILL mid-stream; a server restart resuming from stored offsets.
set -euo pipefail
. "$PULSE_REPO/test/kafka/lib.sh"
DB=${PGDATABASE:-pulse_test}
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
fail() { echo "FAIL: $*"; $Q -c "SELECT * FROM pulse.kafka_status" 2>&1 | head -20; tail -30 "${PULSE_TEST_LOG:-/dev/null}" 2>/dev/null; exit 1; }
gen() {  # gen FROM TO [extra json]: events with a sequence number
  local k
  for ((k = $1; k < $2; k++)); do printf '{"seq": %d, "_user": "u%d", "price": %d.5%s}\n' "$k" $((k % 50)) $((k % 7)) "${3:-}"; done
}

# whatever happens, the project (and so its subscriptions and workers) goes away at the end
trap '$Q -c "SELECT pulse.drop_project('"'"'kjson'"'"', force => true) FROM pulse.projects WHERE name = '"'"'kjson'"'"'" >/dev/null 2>&1 || true' EXIT
kafka_start events:4 mixed:2
$Q -c "CREATE EXTENSION IF NOT EXISTS pg_pulse" >/dev/null
$Q -c "SELECT pulse.drop_project('kjson', force => true) FROM pulse.projects WHERE name = 'kjson'" >/dev/null 2>&1 || true
$Q -c "SELECT pulse.create_project('kjson')" >/dev/null
OPTS='{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "topic.metadata.refresh.interval.ms": "1000"}'
SUB=$($Q -c "SELECT pulse.kafka_subscribe('kjson', ARRAY['events'], '$KAFKA_BROKERS', collection => 'ev',
              options => '$OPTS', batch_timeout => '100 ms', parallelism => 2)")

# 1. good rows, malformed lines in the same batches, a new field mid-stream
{ gen 0 1000; echo '{"seq": oops}'; echo 'not json at all'; gen 1000 2000 ', "coupon": "X1"'; echo '[1,2]'; } | kafka_produce events
wait_for "SELECT count(*) FROM kjson.ev" 2000 60
wait_for "SELECT count(*) FROM pulse.dead_letters WHERE project = 'kjson'" 3 20
[ "$($Q -c "SELECT count(DISTINCT seq) = count(*) AND min(seq) = 0 AND max(seq) = 1999 FROM kjson.ev")" = t ] || fail "exactly once"
[ "$($Q -c "SELECT count(coupon) FROM kjson.ev WHERE seq >= 1000")" = 1000 ] || fail "schema evolution"
[ "$($Q -c "SELECT count(*) FROM pulse.dead_letters WHERE project = 'kjson' AND source LIKE 'kafka:events/_/%'
             AND convert_from(payload, 'UTF8') IN ('{\"seq\": oops}', 'not json at all', '[1,2]')")" = 3 ] || fail "dead letters"
# the ingestion counters saw the same (counted at each batch's commit)
[ "$($Q -c "SELECT sum(events_stored) || '/' || sum(dead_letters) FROM pulse.metrics WHERE project = 'kjson'")" = 2000/3 ] \
    || fail "pulse.metrics: $($Q -c "SELECT * FROM pulse.metrics WHERE project = 'kjson'")"
echo "ok 1 - 2000 JSON events over 4 partitions with parallelism 2 stored exactly once, 3 bad ones dead-lettered (pulse.metrics agrees), new field added"

# 2. status: every partition's stored offset = high watermark, lag 0
wait_for "SELECT sum(stored_offset), sum(lag), count(*) FROM pulse.kafka_status WHERE subscription_id = $SUB" "2003|0|4" 20
[ "$($Q -c "SELECT bool_and(last_batch_at IS NOT NULL) FROM pulse.kafka_status WHERE subscription_id = $SUB")" = t ] || fail "status"
echo "ok 2 - pulse.kafka_status: stored offsets, high watermarks and zero lag per partition"

# 3. pause / resume
$Q -c "SELECT pulse.kafka_pause($SUB)" >/dev/null
wait_for "SELECT max(workers_running) FROM pulse.kafka_status WHERE subscription_id = $SUB" 0 20
gen 2000 2100 | kafka_produce events
sleep 2
[ "$($Q -c "SELECT count(*) FROM kjson.ev")" = 2000 ] || fail "paused subscription consumed"
$Q -c "SELECT pulse.kafka_resume($SUB)" >/dev/null
wait_for "SELECT count(*) FROM kjson.ev" 2100 60
echo "ok 3 - pause stops the workers, resume continues from the stored offsets"

# 4. routing without a fixed collection: envelopes name their collection, the rest go to the topic's
SUB2=$($Q -c "SELECT pulse.kafka_subscribe('kjson', ARRAY['mixed'], '$KAFKA_BROKERS', options => '$OPTS', batch_timeout => '50 ms')")
printf '%s\n' '{"collection": "Signup", "properties": {"plan": "pro"}}' '{"plan": "free"}' \
  '{"collection": "click", "properties": {"b": 1}}' | kafka_produce mixed 0
wait_for "SELECT (SELECT count(*) FROM kjson.signup) || '/' || (SELECT count(*) FROM kjson.click) || '/' || (SELECT count(*) FROM kjson.mixed)" "1/1/1" 60
echo "ok 4 - routing: envelope collection, else the topic name"

# 5. broker down for 10 s
gen 3000 3500 | kafka_produce events
kafka_cmd down >/dev/null
sleep 10
kafka_cmd up >/dev/null
gen 3500 4000 | kafka_produce events
wait_for "SELECT count(*) FROM kjson.ev" 3100 90
[ "$($Q -c "SELECT count(DISTINCT seq) FROM kjson.ev")" = 3100 ] || fail "duplicates after outage"
echo "ok 5 - a 10 s broker outage loses nothing and duplicates nothing"

# 6. SIGKILL a worker mid-stream (the postmaster then restarts the whole cluster)
gen 10000 210000 > /tmp/kafka_json_big.ndjson
kafka_produce events < /tmp/kafka_json_big.ndjson &
PRODUCER=$!
n=0
for ((i = 0; i < 600; i++)); do
  n=$($Q -c "SELECT count(*) FROM kjson.ev WHERE seq >= 10000" 2>/dev/null || echo 0)
  [ "$n" -gt 0 ] && break
  sleep 0.05
done
pid=$($Q -c "SELECT pid FROM pulse._kafka_worker_status() WHERE subscription_id = $SUB AND partition IS NULL AND pid > 0 LIMIT 1")
[ -n "$pid" ] || fail "no consumer worker to kill"
echo "$pid" >>"$PULSE_TEST_DIR/killed_pids"   # an expected crash (test/run_all.sh checks the log)
kill -9 "$pid"
[ "$n" -lt 200000 ] || fail "the kill came after the stream (n = $n): not a mid-stream test"
wait $PRODUCER || fail "producer"
rm -f /tmp/kafka_json_big.ndjson
sleep 3
wait_for "SELECT count(*) FROM kjson.ev" 203100 180
[ "$($Q -c "SELECT count(DISTINCT seq) FROM kjson.ev")" = 203100 ] || fail "duplicates after SIGKILL"
echo "ok 6 - SIGKILL of a worker mid-stream ($n of 200000 stored at the kill): afterwards every message is stored exactly once"

# 7. server restart: consumption resumes from the stored offsets
bash "$PULSE_REPO/test/cluster.sh" restart >/dev/null
gen 300000 301000 | kafka_produce events
wait_for "SELECT count(*) FROM kjson.ev" 204100 120
[ "$($Q -c "SELECT count(DISTINCT seq) FROM kjson.ev")" = 204100 ] || fail "duplicates after restart"
echo "ok 7 - after a server restart the subscription resumes from its stored offsets"

# 8. unsubscribe stops the workers and forgets the offsets
before=$($Q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'")
$Q -c "SELECT pulse.kafka_unsubscribe($SUB)" -c "SELECT pulse.kafka_unsubscribe($SUB2)" >/dev/null
wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'" $((before - 3)) 20
[ "$($Q -c "SELECT count(*) FROM pulse.kafka_offsets WHERE subscription_id IN ($SUB, $SUB2)")" = 0 ] || fail "offsets kept"
echo "ok 8 - unsubscribe stops the workers"
. "$PULSE_REPO/test/lib.sh"
assert_partitioned "$DB" kjson
$Q -c "SELECT pulse.drop_project('kjson', force => true)" >/dev/null 2>&1
echo "kafka_json: all ok"
