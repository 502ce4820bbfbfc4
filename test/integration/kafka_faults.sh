#!/usr/bin/env bash
# One bad message never stalls a partition: a poison message of each kind goes to
# pulse.dead_letters (or rejected_fields), the messages after it are stored, the partition's
# offsets reach the end. Also: a cancelled Kafka batch stores nothing and is retried (no dead
# letter for a cancel); a worker whose settings make it fail backs off (at most one log line a
# minute) with its error and time in pulse.kafka_status; a stuck partition shows as stalled;
# a second database's workers and status are its own; a subscription whose owner loses the
# project's writer role stores nothing more (and dead-letters nothing) until it has it again.
set -euo pipefail
. "$PULSE_REPO/test/kafka/lib.sh"
DB=pulse_kfaults
fail() { echo "FAIL: $*"; $Q -c "SELECT * FROM pulse.kafka_status" 2>&1 | head -20; exit 1; }
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
export PGDATABASE=$DB   # wait_for (test/kafka/lib.sh) polls it
cleanup() {
    psql -qX -d postgres -c "ALTER DATABASE $DB RESET pulse.debug_pause_at" >/dev/null 2>&1 || true
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "DROP DATABASE IF EXISTS ${DB}_2" >/dev/null 2>&1 || true
    psql -qX -d postgres -c "DROP ROLE IF EXISTS kf_owner" >/dev/null 2>&1 || true
}
trap cleanup EXIT
kafka_start poison:1 more:1 other:1 owned:1
$Q -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('kf')" \
   -c "SELECT pulse.create_collection('kf', 'ev', '{\"amount\": \"numeric(5,2)\", \"seq\": \"int\"}')" \
   -c "SELECT pulse.create_view('kf', 'evcount', 'SELECT count(*) AS n FROM ev')" >/dev/null
# a row trigger (a superuser's) that refuses one value: Postgres refuses that row only
$Q -c "CREATE FUNCTION kf.refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN IF NEW.seq = 13 THEN RAISE EXCEPTION 'seq 13 refused by a trigger'; END IF; RETURN NEW; END \$\$" \
   -c "CREATE TRIGGER refuse BEFORE INSERT ON kf.ev FOR EACH ROW EXECUTE FUNCTION kf.refuse()" >/dev/null
OPTS='{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}'
# restart_workers SUB: the pool workers serving the subscription are terminated and start again
# (picking up database settings, which a backend reads when it connects); returns once new ones
# consume it
restart_workers() {
    local old new
    old=$($Q -c "SELECT coalesce(string_agg(pid::text, ','), '') FROM pulse._kafka_worker_status() WHERE subscription_id = $1 AND partition IS NULL AND pid > 0")
    $Q -c "SELECT pg_terminate_backend(pid) FROM pulse._kafka_worker_status() WHERE subscription_id = $1 AND partition IS NULL AND pid > 0" >/dev/null
    for _ in $(seq 1 300); do
        new=$($Q -c "SELECT coalesce(string_agg(pid::text, ','), '') FROM pulse._kafka_worker_status() WHERE subscription_id = $1 AND partition IS NULL AND pid > 0 AND state = 'consuming'")
        if [ -n "$new" ] && [ "$new" != "$old" ] && ! echo ",$old," | grep -q ",$new,"; then return 0; fi
        sleep 0.1
    done
    fail "the workers of subscription $1 did not restart"
}
SUB=$($Q -c "SELECT pulse.kafka_subscribe('kf', ARRAY['poison'], '$KAFKA_BROKERS', options => '$OPTS', batch_timeout => '50 ms')")

# every kind of poison between good messages (envelopes route by collection name)
big=$(/usr/bin/python3 -c 'print("{\"collection\": \"ev\", \"properties\": {\"blob\": \"" + "x" * 100000 + "\"}}")')
{
    echo '{"collection": "ev", "properties": {"seq": 1}}'
    echo '{"collection": "ev", "properties": {"seq": 2, "xmin": 1, "ctid": "a", "tableoid": 3}}'      # system column names
    echo '{"collection": "ev", "properties": {"seq": 3, "amount": 12345.6}}'                           # refused by numeric(5,2)
    echo '{"collection": "ev", "properties": {"seq": 4'                                                 # not JSON
    echo '[5, 6]'                                                                                       # not an object
    echo '{"collection": "ev", "properties": {"seq": 7, "_time": "yesterday"}}'                         # bad _time
    echo '{"collection": "_hidden", "properties": {"seq": 8}}'                                          # bad collection name
    echo '{"collection": "evcount", "properties": {"seq": 9}}'                                          # a view, not a collection
    echo '{"collection": "ev", "properties": {"seq": 10, "poison_col": 1}}'                             # schema change fails (hook)
    echo "$big"                                                                                         # over max_event_bytes
    echo '{"collection": "ev", "properties": {"seq": 11, "tiny": 1e-400}}'                              # underflow
    echo '{"collection": "ev", "properties": {"seq": 13}}'                                              # refused by a trigger
    echo '{"collection": "ev", "properties": {"seq": 14}}'
} > /tmp/kafka_poison.ndjson
psql -qX -d postgres -c "ALTER DATABASE $DB SET pulse.debug_fail_column = 'poison_col'" \
    -c "ALTER DATABASE $DB SET pulse.max_event_bytes = 65536" >/dev/null
restart_workers "$SUB"   # they pick the settings up
kafka_produce poison 0 < /tmp/kafka_poison.ndjson
: > /tmp/kafka_empty_message
kafka_produce_binary poison 0 /tmp/kafka_empty_message   # an empty message (no payload)
echo '{"collection": "ev", "properties": {"seq": 15}}' | kafka_produce poison 0
wait_for "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM kf.ev" "1,2,3,11,14,15" 90
[ "$($Q -c "SELECT count(*) FROM pulse.dead_letters WHERE project = 'kf'")" = 9 ] || fail "dead letters: $($Q -c "SELECT error FROM pulse.dead_letters")"
[ "$($Q -c "SELECT string_agg(field, ',' ORDER BY field) FROM pulse.rejected_fields WHERE project = 'kf'")" = "amount,tiny" ] || fail "rejected fields"
[ "$($Q -c "SELECT xmin_ || ctid_ || tableoid_ FROM kf.ev WHERE seq = 2")" = "1a3" ] || fail "system column names"
wait_for "SELECT stored_offset = high_watermark AND lag = 0 AND NOT stalled FROM pulse.kafka_status WHERE subscription_id = $SUB AND topic = 'poison'" t 20
psql -qX -d postgres -c "ALTER DATABASE $DB RESET pulse.debug_fail_column" -c "ALTER DATABASE $DB RESET pulse.max_event_bytes" >/dev/null
echo "ok 1 - 12 poison messages of 12 kinds among good ones: 9 dead letters, 2 rejected fields, every good message stored, offsets at the end, not stalled"

# a cancelled batch: nothing stored, no dead letter, stored later by the retry
dl=$($Q -c "SELECT count(*) FROM pulse.dead_letters")
psql -qX -d postgres -c "ALTER DATABASE $DB SET pulse.debug_pause_at = 'kafka'" >/dev/null
restart_workers "$SUB"
echo '{"collection": "ev", "properties": {"seq": 16}}' | kafka_produce poison 0
pid=""
for _ in $(seq 1 300); do
    pid=$($Q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer' AND wait_event_type = 'Extension' AND query LIKE '%ingesting a batch%'")
    [ -n "$pid" ] && break
    sleep 0.1
done
[ -n "$pid" ] || fail "the worker never paused in its batch"
psql -qX -d postgres -c "ALTER DATABASE $DB RESET pulse.debug_pause_at" >/dev/null
$Q -c "SELECT pg_cancel_backend($pid)" >/dev/null
wait_for "SELECT last_error FROM pulse.kafka_status WHERE subscription_id = $SUB AND topic = 'poison'" "canceling statement due to user request" 20
[ "$($Q -c "SELECT count(*) FROM kf.ev WHERE seq = 16")" = 0 ] || fail "the cancelled batch stored its row"
# the worker retries after its backoff (1 s) with the same settings (it still pauses: cancel again)
for _ in $(seq 1 5); do
    p=$($Q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_pulse kafka consumer' AND wait_event_type = 'Extension' AND query LIKE '%ingesting a batch%'")
    [ -n "$p" ] && $Q -c "SELECT pg_cancel_backend($p)" >/dev/null
    sleep 1
done
restart_workers "$SUB"   # new workers: no pause setting
wait_for "SELECT count(*) FROM kf.ev WHERE seq = 16" 1 60
[ "$($Q -c "SELECT count(*) FROM pulse.dead_letters")" = "$dl" ] || fail "a cancel made a dead letter"
[ "$($Q -c "SELECT count(*) > 0 FROM pulse.job_history WHERE project = 'kf' AND kind = 'kafka batch' AND object = 'subscription $SUB' AND status = 'failed' AND rows >= 1 AND error LIKE 'canceling statement due to user request%(retried after a backoff)'")" = t ] \
    || fail "the cancelled batches are not in pulse.job_history: $($Q -c "SELECT kind, object, status, rows, error FROM pulse.job_history WHERE project = 'kf'")"
echo "ok 2 - a cancelled Kafka batch stores nothing and no dead letter (pulse.job_history records it); the batch is stored once the worker is left alone"

# a worker whose settings fail at start (a file librdkafka cannot read) backs off with its error
log_before=$(stat -c %s "$PULSE_TEST_LOG")
BAD=$($Q -c "SELECT pulse.kafka_subscribe('kf', ARRAY['more'], '$KAFKA_BROKERS', options => '{\"security.protocol\": \"ssl\", \"ssl.ca.location\": \"/nonexistent/ca.pem\"}')")
wait_for "SELECT worker_state LIKE '%after an error%' AND last_error IS NOT NULL AND last_error_at IS NOT NULL FROM pulse.kafka_status WHERE subscription_id = $BAD" t 30
sleep 12
starts=$(tail -c +"$((log_before + 1))" "$PULSE_TEST_LOG" | grep -c "kafka subscription $BAD worker 0 stopped" || true)
[ "$starts" -le 1 ] || fail "$starts log lines in 12 s for a failing worker (at most one a minute)"
# its backoff grows: 1 s, 2 s, 4 s, 8 s ... so at most 4 attempts in 12 s
[ "$($Q -c "SELECT last_error FROM pulse.kafka_status WHERE subscription_id = $BAD")" != "" ] || fail "no last_error"
fails=$($Q -c "SELECT count(*) FROM pulse.job_history WHERE project = 'kf' AND kind = 'kafka worker' AND object = 'subscription $BAD' AND status = 'failed' AND error LIKE '%ssl.ca.location%'")
[ "$fails" -ge 1 ] && [ "$fails" -le 6 ] || fail "$fails failed starts of subscription $BAD in pulse.job_history (1 to 6 expected)"
$Q -c "SELECT pulse.kafka_unsubscribe($BAD)" >/dev/null
echo "ok 3 - a worker that cannot start backs off (its error and time in kafka_status, $fails failed starts in pulse.job_history, $starts log line(s) in 12 s)"

# a worker stuck in its batch shows as stalled (pulse.kafka_stall_after, here 2 s), and stops
# being stalled once it moves again
SLOW=$($Q -c "SELECT pulse.kafka_subscribe('kf', ARRAY['other'], '$KAFKA_BROKERS', collection => 'ev', options => '$OPTS', batch_timeout => '50 ms')")
echo '{"seq": 100}' | kafka_produce other 0
wait_for "SELECT count(*) FROM kf.ev WHERE seq = 100" 1 30
stalled() { $Q -c "SET pulse.kafka_stall_after = '2s'" -c "SELECT stalled FROM pulse.kafka_status WHERE subscription_id = $SLOW AND topic = 'other'"; }
[ "$(stalled)" = f ] || fail "stalled while idle"
psql -qX -d postgres -c "ALTER DATABASE $DB SET pulse.debug_pause_at = 'kafka'" >/dev/null
restart_workers "$SLOW"
echo '{"seq": 101}' | kafka_produce other 0
ok=0
for _ in $(seq 1 300); do [ "$(stalled)" = t ] && { ok=1; break; }; sleep 0.1; done
[ "$ok" = 1 ] || fail "a worker stuck in its batch is not shown as stalled"
psql -qX -d postgres -c "ALTER DATABASE $DB RESET pulse.debug_pause_at" >/dev/null
restart_workers "$SLOW"
wait_for "SELECT count(*) FROM kf.ev WHERE seq = 101" 1 60
ok=0
for _ in $(seq 1 100); do [ "$(stalled)" = f ] && { ok=1; break; }; sleep 0.1; done
[ "$ok" = 1 ] || fail "still stalled after it moved again"
$Q -c "SELECT pulse.kafka_unsubscribe($SLOW)" >/dev/null
echo "ok 4 - a worker stuck in its batch shows as stalled, and not once it moves again"

# a second database: its own workers, its own status
psql -qX -d postgres -c "DROP DATABASE IF EXISTS ${DB}_2" -c "CREATE DATABASE ${DB}_2" >/dev/null
Q2="psql -qXAt -v ON_ERROR_STOP=1 -d ${DB}_2"
$Q2 -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('kf2')" >/dev/null
SUB2=$($Q2 -c "SELECT pulse.kafka_subscribe('kf2', ARRAY['more'], '$KAFKA_BROKERS', collection => 'ev', options => '$OPTS', batch_timeout => '50 ms')")
echo '{"seq": 1}' | kafka_produce more 0
wait_for2() { for _ in $(seq 1 300); do [ "$($Q2 -c "$1" 2>/dev/null)" = "$2" ] && return 0; sleep 0.1; done; return 1; }
wait_for2 "SELECT count(*) FROM kf2.ev" 1 || fail "the second database's subscription did not run"
[ "$($Q2 -c "SELECT count(DISTINCT subscription_id) FROM pulse._kafka_worker_status()")" = 1 ] || fail "status of db 2 shows other workers"
[ "$($Q -c "SELECT count(*) FROM pulse._kafka_worker_status() WHERE subscription_id = $SUB2 AND $SUB2 <> $SUB")" = 0 ] || fail "status of db 1 shows db 2's worker"
$Q2 -c "SELECT pulse.create_view('kf2', 'c', 'SELECT count(*) AS n FROM ev', 'incremental', '1 second')" >/dev/null
echo '{"seq": 2}' | kafka_produce more 0
wait_for2 "SELECT n FROM kf2.c" 2 || fail "refresh_every not honoured in the second database"
echo "ok 5 - a second database's subscription and scheduled refresh run, and each database's status shows its own workers"

# 6: a delegated administrator who writes the project subscribes it; once its writer role is
#    revoked, the next batch stores nothing and dead-letters nothing (the error in kafka_status),
#    and the messages are stored when the role is granted back
psql -qX -d postgres -c "DROP ROLE IF EXISTS kf_owner" -c "CREATE ROLE kf_owner LOGIN" -c "GRANT pulse_admin, kf_writer TO kf_owner" >/dev/null
OWNED=$(psql -qXAt -v ON_ERROR_STOP=1 -d $DB -U kf_owner -c "SELECT pulse.kafka_subscribe('kf', ARRAY['owned'], '$KAFKA_BROKERS', collection => 'owned', options => '$OPTS', batch_timeout => '50 ms')")
echo '{"seq": 1}' | kafka_produce owned 0
wait_for "SELECT count(*) FROM kf.owned" 1 60
$Q -c "REVOKE kf_writer FROM kf_owner" >/dev/null
echo '{"seq": 2}' | kafka_produce owned 0
wait_for "SELECT bool_or(last_error LIKE '%the owner of the Kafka subscription, \"kf_owner\", may not write to project \"kf\"%') FROM pulse.kafka_status WHERE subscription_id = $OWNED" t 60
sleep 1
[ "$($Q -c "SELECT count(*) FROM kf.owned")" = 1 ] || fail "a batch was stored for an owner without the writer role"
[ "$($Q -c "SELECT count(*) FROM pulse.dead_letters WHERE source LIKE 'kafka:owned/%'")" = 0 ] || fail "the refused batch went to pulse.dead_letters"
$Q -c "GRANT kf_writer TO kf_owner" >/dev/null
wait_for "SELECT count(*) FROM kf.owned" 2 60
$Q -c "SELECT pulse.kafka_unsubscribe($OWNED)" >/dev/null
echo "ok 6 - a subscription whose owner lost the project's writer role stores nothing and dead-letters nothing until the role is granted back"
echo "kafka_faults: all ok"
