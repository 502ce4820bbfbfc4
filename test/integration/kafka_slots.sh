#!/usr/bin/env bash
# More Kafka subscriptions than background-worker slots (max_worker_processes): the ones that
# get no worker say so in pulse.kafka_status (worker_state 'waiting for a background worker
# slot', with the count of subscriptions waiting in the server's terms), and they get one as
# soon as a slot frees up. No broker is needed: workers of an unreachable broker keep their
# slot while librdkafka retries.
set -euo pipefail
export PULSE_TEST_DIR=/tmp/pg_pulse_slots PULSE_TEST_PGDATA=/tmp/pg_pulse_slots/data PULSE_TEST_LOG=/tmp/pg_pulse_slots/postgres.log \
       PULSE_TEST_PORT=$((${PGPORT:-54329} + 24)) PULSE_TEST_CONF="max_worker_processes = 8"
trap 'bash "$PULSE_REPO/test/cluster.sh" stop >/dev/null 2>&1 || true' EXIT
bash "$PULSE_REPO/test/cluster.sh" start >/dev/null
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres
fail() { echo "FAIL: $*"; psql -qXAt -d postgres -c "SELECT subscription_id, worker_state, workers_running FROM pulse.kafka_status ORDER BY 1" 2>&1 | head -20; exit 1; }
Q="psql -qXAt -v ON_ERROR_STOP=1 -d postgres"
$Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('slots')" >/dev/null
for i in $(seq 1 10); do
    $Q -c "SELECT pulse.kafka_subscribe('slots', ARRAY['t$i'], '127.0.0.1:9', collection => 'ev')" >/dev/null
done
# wait until every subscription either runs or waits for a slot
state() { $Q -c "SELECT count(*) FILTER (WHERE workers_running = 1) || '/' || count(*) FILTER (WHERE worker_state = 'waiting for a background worker slot') FROM pulse.kafka_status"; }
ok=""
for _ in $(seq 1 150); do
    s=$(state)
    running=${s%/*}; waiting=${s#*/}
    if [ "$running" -ge 1 ] && [ $((running + waiting)) = 10 ] && [ "$waiting" -ge 1 ]; then ok=1; break; fi
    sleep 0.2
done
[ -n "$ok" ] || fail "not every subscription runs or says it waits for a slot ($s: running/waiting)"
echo "ok 1 - 10 subscriptions, room for $running workers: the $waiting others say 'waiting for a background worker slot'"
# free the slots of the running ones: the waiting ones start
$Q -c "SELECT pulse.kafka_unsubscribe(subscription_id) FROM pulse.kafka_status WHERE workers_running = 1" >/dev/null
ok=""
for _ in $(seq 1 150); do
    s=$(state)
    [ "${s%/*}" -ge 1 ] && [ "$($Q -c "SELECT count(*) FROM pulse.kafka_status WHERE worker_state = 'waiting for a background worker slot' AND workers_running = 0")" -lt "$waiting" ] && { ok=1; break; }
    sleep 0.2
done
[ -n "$ok" ] || fail "waiting subscriptions did not start when slots freed up"
echo "ok 2 - unsubscribing the running ones gives the waiting ones a worker"
echo "kafka_slots: all ok"
