#!/usr/bin/env bash
# A cancel cancels: pg_cancel_backend, statement_timeout and pg_terminate_backend delivered
# inside each phase of an ingestion call (decode, COPY, salvage of a refused line, replay of
# dead letters, a view refresh, a wait for a lock) abort the whole call: SQLSTATE 57014 (or the
# termination), nothing stored, no dead letter, no rejected field, no bisection.
#
# The phase is pinned with the superuser-only test hook pulse.debug_pause_at: the call waits
# there (wait event "Extension") until it is interrupted; the test finds it in
# pg_stat_activity by its application_name and interrupts it.
set -euo pipefail
DB=pulse_cancels
fail() { echo "FAIL: $*"; exit 1; }
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
$Q -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('cx')" \
   -c "SELECT pulse.create_collection('cx', 'ev', '{\"amount\": \"numeric(5,2)\", \"n\": \"bigint\"}')" \
   -c "SELECT pulse.collect('cx', 'ev', '{\"amount\": 1.5, \"n\": 1}')" \
   -c "SELECT pulse.create_view('cx', 'totals', 'SELECT count(*) AS c, sum(n) AS s FROM ev', 'incremental')" >/dev/null
WORK=$(mktemp -d)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"; psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT

# payloads: 5000 good events, one line the JSON parser refuses (would be a dead letter) and, for
# the salvage phase, one value Postgres refuses (would be a rejected field)
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
good = [json.dumps({"_user": f"u{k}", "n": k, "amount": 1.25, "new_field": "x"}) for k in range(5000)]
open(f"{w}/batch.ndjson", "w").write("\n".join(good + ["{not json"]) + "\n")
open(f"{w}/salvage.ndjson", "w").write("\n".join(good[:100] + [json.dumps({"amount": 12345.6, "n": 1})]) + "\n")
PY
chmod 644 "$WORK"/*
state() { $Q -c "SELECT (SELECT count(*) FROM cx.ev) || '/' || (SELECT count(*) FROM pulse.dead_letters) || '/' || (SELECT count(*) FROM pulse.rejected_fields) || '/' || (SELECT coalesce(c, 0) FROM cx.totals)"; }

# interrupt PHASE HOW SQL...: runs SQL in a session paused at PHASE, interrupts it with HOW
# (cancel | timeout | terminate), and checks the error and that nothing changed.
interrupt() {
    local phase=$1 how=$2
    shift 2
    local app="cancel_${phase}_${how}" before after pid out set_timeout=""
    [ "$how" = timeout ] && set_timeout="SET statement_timeout = '700ms';"
    before=$(state)
    PGAPPNAME=$app psql -qXAt -d $DB -c "SET pulse.debug_pause_at = '$phase'; $set_timeout $*" >"$WORK/out" 2>&1 &
    local bg=$!
    pid=""
    for _ in $(seq 1 200); do
        pid=$($Q -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$app' AND wait_event_type = 'Extension'")
        [ -n "$pid" ] && break
        sleep 0.05
    done
    [ -n "$pid" ] || { kill "$bg" 2>/dev/null; fail "$phase/$how: the call never reached the pause ($(cat "$WORK/out"))"; }
    case "$how" in
        cancel) $Q -c "SELECT pg_cancel_backend($pid)" >/dev/null ;;
        terminate) $Q -c "SELECT pg_terminate_backend($pid)" >/dev/null ;;
        timeout) ;;
    esac
    wait "$bg" && fail "$phase/$how: the call succeeded: $(cat "$WORK/out")"
    out=$(cat "$WORK/out")
    case "$how" in
        cancel) [[ "$out" == *"canceling statement due to user request"* ]] || fail "$phase/$how: $out" ;;
        timeout) [[ "$out" == *"canceling statement due to statement timeout"* ]] || fail "$phase/$how: $out" ;;
        terminate) [[ "$out" == *"terminating connection due to administrator command"* ]] || fail "$phase/$how: $out" ;;
    esac
    after=$(state)
    [ "$before" = "$after" ] || fail "$phase/$how: rows/dead letters/rejected fields/view changed: $before -> $after"
}

n=0
for how in cancel timeout terminate; do
    interrupt decode "$how" "SELECT pulse.collect_batch('cx', pg_read_file('$WORK/batch.ndjson'), 'ev')"
    interrupt copy "$how" "SELECT pulse.collect_batch('cx', pg_read_file('$WORK/batch.ndjson'), 'ev')"
    interrupt salvage "$how" "SELECT pulse.collect_batch('cx', pg_read_file('$WORK/salvage.ndjson'), 'ev')"
    n=$((n + 3))
done
echo "ok 1 - cancel, statement_timeout and terminate inside decode, COPY and salvage abort collect_batch: nothing stored, no dead letter, no rejected field ($n calls)"

# replay: two dead letters that would now be stored (their collection accepts them)
$Q -c "SELECT pulse.collect('cx', 'ev', '{\"_time\": \"not a time\"}')" \
   -c "SELECT pulse.collect('cx', 'ev', '{\"_time\": \"also not\"}')" \
   -c "UPDATE pulse.dead_letters SET payload = convert_to('{\"n\": 7}', 'UTF8')" >/dev/null
for how in cancel timeout terminate; do
    interrupt replay "$how" "SELECT pulse.replay_dead_letters('cx')"
done
[ "$($Q -c "SELECT count(*) FROM pulse.dead_letters")" = 2 ] || fail "replay: dead letters lost"
echo "ok 2 - an interrupted replay_dead_letters keeps every dead letter and stores nothing"

# refresh: new events wait to be merged
$Q -c "SELECT pulse.collect_batch('cx', '{\"n\": 10}
{\"n\": 20}', 'ev')" >/dev/null
for how in cancel timeout terminate; do
    interrupt refresh "$how" "SELECT pulse.refresh_view('cx', 'totals')"
done
echo "ok 3 - an interrupted refresh_view merges nothing"

# lock waits: a session holds the collection's lock; ingestion waits for it and is cancelled
before=$(state)
$Q -c "BEGIN" -c "LOCK TABLE cx.ev IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(30)" >"$WORK/holder" 2>&1 &
HOLDER=$!
for _ in $(seq 1 200); do
    [ "$($Q -c "SELECT count(*) FROM pg_locks WHERE relation = 'cx.ev'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
    sleep 0.05
done
PGAPPNAME=lock_waiter psql -qXAt -d $DB -c "SELECT pulse.collect('cx', 'ev', '{\"n\": 99}')" >"$WORK/out" 2>&1 &
W=$!
pid=""
for _ in $(seq 1 200); do
    pid=$($Q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'lock_waiter' AND wait_event_type = 'Lock'")
    [ -n "$pid" ] && break
    sleep 0.05
done
[ -n "$pid" ] || fail "lock: the call never waited for the lock: $(cat "$WORK/out"); holder: $(cat "$WORK/holder"); $($Q -c "SELECT application_name, state, wait_event_type, left(query, 50) FROM pg_stat_activity WHERE datname = '$DB'")"
$Q -c "SELECT pg_cancel_backend($pid)" >/dev/null
wait "$W" && fail "lock: the call succeeded"
grep -q "canceling statement due to user request" "$WORK/out" || fail "lock: $(cat "$WORK/out")"
# the view lock: a refresh paused inside holds it; a second refresh waits and is cancelled
PGAPPNAME=view_holder psql -qXAt -d $DB -c "SET pulse.debug_pause_at = 'refresh'" -c "SELECT pulse.refresh_view('cx', 'totals')" >/dev/null 2>&1 &
VH=$!
for _ in $(seq 1 200); do
    [ -n "$($Q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'view_holder' AND wait_event_type = 'Extension'")" ] && break
    sleep 0.05
done
PGAPPNAME=view_waiter psql -qXAt -d $DB -c "SELECT pulse.refresh_view('cx', 'totals')" >"$WORK/out2" 2>&1 &
VW=$!
pid=""
for _ in $(seq 1 200); do
    pid=$($Q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'view_waiter' AND wait_event_type = 'Lock'")
    [ -n "$pid" ] && break
    sleep 0.05
done
[ -n "$pid" ] || fail "view lock: the second refresh never waited"
$Q -c "SELECT pg_cancel_backend($pid)" >/dev/null
wait "$VW" && fail "view lock: the waiting refresh succeeded"
grep -q "canceling statement due to user request" "$WORK/out2" || fail "view lock: $(cat "$WORK/out2")"
$Q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'view_holder'" >/dev/null
wait "$VH" || true
kill "$HOLDER" 2>/dev/null || true
$Q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$DB' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$HOLDER" 2>/dev/null || true
[ "$(state)" = "$before" ] || fail "lock: something changed: $before -> $(state)"
echo "ok 4 - a wait for a collection lock or a view lock is cancelled; nothing changes"

# after all that, the same calls work
$Q -c "SELECT stored FROM pulse.collect_batch('cx', pg_read_file('$WORK/batch.ndjson'), 'ev')" | grep -qx 5000 || fail "collect_batch after the interrupts"
$Q -c "SELECT pulse.refresh_view('cx', 'totals')" >/dev/null
[ "$($Q -c "SELECT c FROM cx.totals")" = "$($Q -c "SELECT count(*) FROM cx.ev")" ] || fail "view after the interrupts"
echo "ok 5 - after the interrupts the calls work and the view equals its query"
. "$PULSE_REPO/test/lib.sh"
assert_partitioned "$DB" cx
echo "cancels: all ok"
