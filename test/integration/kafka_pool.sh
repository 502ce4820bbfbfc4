#!/usr/bin/env bash
# The Kafka worker pool: any number of subscriptions served by at most pulse.kafka_workers
# processes per database. 40 subscriptions (a topic each) on a pool of 3: every message of every
# subscription stored, at most 3 pool processes, every subscription's status 'consuming' with
# zero lag; a subscription that cannot start waits out its backoff without holding up the
# others; shrinking the pool (SIGHUP) moves consumers to the remaining workers; and a server
# with no background-worker slot left says so for every subscription, then consumes once it has
# one. Its own cluster (max_worker_processes is set at server start).
set -euo pipefail
SUB=${PULSE_TEST_DIR:-/tmp/pg_pulse_test}_pool  # one per checkout
export PULSE_TEST_DIR=$SUB PULSE_TEST_PGDATA=$SUB/data PULSE_TEST_LOG=$SUB/postgres.log \
       PULSE_TEST_PORT=$((${PGPORT:-54329} + 24)) PULSE_TEST_LISTEN= PULSE_TEST_CONF="pulse.kafka_workers = 3"
. "$PULSE_REPO/test/kafka/lib.sh"
trap 'bash "$PULSE_REPO/test/cluster.sh" stop >/dev/null 2>&1 || true' EXIT
bash "$PULSE_REPO/test/cluster.sh" start >/dev/null
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres
Q="psql -qXAt -v ON_ERROR_STOP=1 -d postgres"
fail() { echo "FAIL: $*"; $Q -c "SELECT subscription_id, worker_state, workers_running, lag, last_error FROM pulse.kafka_status ORDER BY 1" 2>&1 | head -50; exit 1; }
wait_for() {  # wait_for SQL EXPECTED SECONDS
    local v=""
    for _ in $(seq 1 $(($3 * 5))); do v=$($Q -c "$1" 2>/dev/null || true); [ "$v" = "$2" ] && return 0; sleep 0.2; done
    fail "waited $3 s for [$1] = $2, last: $v"
}
N=40
topics=()
for i in $(seq 1 $N); do topics+=("t$i:1"); done
kafka_start "${topics[@]}"
$Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('pool')" >/dev/null
OPTS='{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}'
for i in $(seq 1 $N); do
    $Q -c "SELECT pulse.kafka_subscribe('pool', ARRAY['t$i'], '$KAFKA_BROKERS', collection => 'ev', options => '$OPTS', batch_timeout => '50 ms')" >/dev/null
done
produce() {  # produce ROUND: 25 messages on every topic
    for i in $(seq 1 $N); do
        for k in $(seq 1 25); do printf '{"sub": %d, "round": %d, "k": %d}\n' "$i" "$1" "$k"; done | kafka_produce "t$i"
    done
}
pool_procs() { $Q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'"; }

produce 1
wait_for "SELECT count(*) FROM pool.ev" $((N * 25)) 120
[ "$($Q -c "SELECT count(DISTINCT (sub, k)) FROM pool.ev WHERE round = 1")" = $((N * 25)) ] || fail "duplicates"
wait_for "SELECT count(*) FROM pulse.kafka_status WHERE worker_state = 'consuming' AND workers_running = 1 AND lag = 0 AND NOT stalled" $N 30
procs=$(pool_procs)
[ "$procs" -le 3 ] && [ "$procs" -ge 1 ] || fail "$procs pool processes for pulse.kafka_workers = 3"
[ "$($Q -c "SELECT count(DISTINCT pid) FROM pulse._kafka_worker_status() WHERE partition IS NULL")" = "$procs" ] || fail "consumers not served by the pool's processes"
[ "$($Q -c "SELECT max(n) - min(n) FROM (SELECT count(*) AS n FROM pulse._kafka_worker_status() WHERE partition IS NULL GROUP BY pid) c")" -le 1 ] \
    || fail "unbalanced pool: $($Q -c "SELECT pid, count(*) FROM pulse._kafka_worker_status() WHERE partition IS NULL GROUP BY pid")"
# Kafka is told the stored offsets too (at most a second later), for lag tooling
first=$($Q -c "SELECT min(id) FROM pulse.kafka_subscriptions")
committed=""
for _ in $(seq 1 50); do
    committed=$(KAFKA_BROKERS=$KAFKA_BROKERS timeout 30 /usr/bin/python3 -c '
import os, sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": os.environ["KAFKA_BROKERS"], "group.id": sys.argv[1]})
print(c.committed([TopicPartition("t1", 0)], timeout=10)[0].offset)
c.close()' "pg_pulse.postgres.$first" 2>/dev/null || true)
    [ "$committed" = 25 ] && break
    sleep 0.2
done
[ "$committed" = 25 ] || fail "Kafka's committed offset of subscription $first is '$committed', expected 25"
echo "ok 1 - $N subscriptions on a pool of $procs processes: every message stored once, every subscription consuming with lag 0, balanced; Kafka has the committed offsets"

# a subscription that cannot start backs off alone
BAD=$($Q -c "SELECT pulse.kafka_subscribe('pool', ARRAY['t1'], '$KAFKA_BROKERS', collection => 'bad', options => '{\"security.protocol\": \"ssl\", \"ssl.ca.location\": \"/nonexistent/ca.pem\"}')")
wait_for "SELECT worker_state = 'waiting to restart after an error' AND last_error LIKE '%ssl.ca.location%' FROM pulse.kafka_status WHERE subscription_id = $BAD" t 30
produce 2
wait_for "SELECT count(*) FROM pool.ev WHERE round = 2" $((N * 25)) 120
echo "ok 2 - a subscription that cannot start waits out its backoff; the $N others of its pool go on"
$Q -c "SELECT pulse.kafka_unsubscribe($BAD)" >/dev/null

# a smaller pool: the consumers of the workers that stop move to the others
$Q -c "ALTER SYSTEM SET pulse.kafka_workers = 1" -c "SELECT pg_reload_conf()" >/dev/null
wait_for "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer'" 1 60
produce 3
wait_for "SELECT count(*) FROM pool.ev WHERE round = 3" $((N * 25)) 120
wait_for "SELECT count(DISTINCT pid) FROM pulse._kafka_worker_status() WHERE partition IS NULL AND pid > 0" 1 30
[ "$($Q -c "SELECT count(*) FROM pool.ev")" = $((N * 25 * 3)) ] || fail "duplicates after the pool shrank"
echo "ok 3 - pulse.kafka_workers = 1 (reloaded): one process serves all $N subscriptions, nothing lost or doubled"

# no background-worker slot at all (the supervisor, the logical replication launcher and the scheduler take all three): every
# subscription says what it waits for, and consumes once a slot exists
$Q -c "ALTER SYSTEM SET max_worker_processes = 3" -c "ALTER SYSTEM RESET pulse.kafka_workers" >/dev/null
bash "$PULSE_REPO/test/cluster.sh" restart >/dev/null
wait_for "SELECT count(*) FROM pulse.kafka_status WHERE worker_state = 'waiting for a background worker slot' AND workers_running = 0" $N 60
echo "ok 4 - without a background-worker slot, all $N subscriptions say 'waiting for a background worker slot'"
$Q -c "ALTER SYSTEM RESET max_worker_processes" >/dev/null
bash "$PULSE_REPO/test/cluster.sh" restart >/dev/null
produce 4
wait_for "SELECT count(*) FROM pool.ev WHERE round = 4" $((N * 25)) 120
echo "ok 5 - once slots exist, they consume again"
echo "kafka_pool: all ok"
