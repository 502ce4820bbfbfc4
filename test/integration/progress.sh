#!/usr/bin/env bash
# pulse.progress shows long operations while they run, to other sessions: a big collect_batch
# (bytes written by COPY), a refresh waiting for another one's lock and the one holding it, a
# replay of dead letters (done of total); a role that reads no project sees none of it, and
# nothing is left once they end, cancelled or not.
set -euo pipefail
DB=pulse_test
fail() { echo "FAIL: $*"; exit 1; }
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
cleanup() {
    jobs -p | xargs -r kill 2>/dev/null || true
    $Q -c "SET client_min_messages = warning" -c "SELECT pulse.drop_project('prog', force => true)" -c "DROP ROLE IF EXISTS prog_stranger" >/dev/null 2>&1 || true
}
trap cleanup EXIT
$Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_pulse" -c "SELECT pulse.create_project('prog')" \
   -c "DROP ROLE IF EXISTS prog_stranger" -c "CREATE ROLE prog_stranger" >/dev/null
# poll Q: waits (20 s at most) until the query returns a non-empty answer
poll() {
    for _ in $(seq 1 400); do
        got=$($Q -c "$1")
        [ -n "$got" ] && return 0
        sleep 0.05
    done
    return 1
}

# 1. a big batch: bytes of its COPY, seen while it runs
$Q -c "SELECT pulse.collect_batch('prog', (SELECT string_agg(format('{\"_user\": \"u%s\", \"n\": %s, \"s\": \"%s\"}', k % 1000, k, md5(k::text)), E'\n') FROM generate_series(1, 1500000) k), 'ev')" >/dev/null &
BATCH=$!
poll "SELECT done || '/' || total FROM pulse.progress WHERE command = 'collect_batch' AND project = 'prog' AND object = 'ev' AND phase = 'writing ev' AND unit = 'bytes' AND done > 0 AND done < total" \
    || fail "no collect_batch progress with 0 < done < total"
seen=$got
[ "$($Q -c "SET ROLE prog_stranger" -c "SELECT count(*) FROM pulse.progress")" = 0 ] || fail "a role that reads no project sees the progress"
wait $BATCH
[ "$($Q -c "SELECT count(*) FROM pulse.progress WHERE project = 'prog'")" = 0 ] || fail "progress left after the batch"
echo "ok 1 - a big collect_batch shows the bytes its COPY wrote ($seen) to other sessions, not to a role that reads no project, and nothing once done"

# 2. a refresh holding the view's lock (paused by the test hook) and one waiting for it
$Q -c "SELECT pulse.create_view('prog', 'per_user', 'SELECT _user, count(*) AS c FROM ev GROUP BY _user', 'incremental', '1 day')" >/dev/null
psql -qXAt -d $DB -c "SET pulse.debug_pause_at = 'refresh'" -c "SELECT pulse.refresh_view('prog', 'per_user')" >/dev/null 2>&1 &
HOLDER=$!
poll "SELECT pid FROM pulse.progress WHERE command = 'refresh' AND object = 'per_user' AND phase = 'starting'" || fail "the paused refresh does not show"
holder_pid=$got
psql -qXAt -d $DB -c "SELECT pulse.refresh_view('prog', 'per_user')" >/dev/null 2>&1 &
WAITER=$!
poll "SELECT pid FROM pulse.progress WHERE command = 'refresh' AND phase LIKE 'waiting for the view''s lock%'" || fail "the waiting refresh does not show"
$Q -c "SELECT pg_cancel_backend($holder_pid)" >/dev/null
wait $HOLDER 2>/dev/null || true
wait $WAITER || fail "the waiting refresh failed"
[ "$($Q -c "SELECT count(*) FROM pulse.progress WHERE project = 'prog'")" = 0 ] || fail "progress left after a cancelled refresh"
echo "ok 2 - a refresh shows its phase, one waiting for another's lock says so; a cancelled one leaves nothing"

# 3. a replay of dead letters: done of total
$Q -c "SELECT pulse.collect_batch('prog', (SELECT string_agg('{\"_time\": \"not a time\", \"k\": ' || k || '}', E'\n') FROM generate_series(1, 40) k), 'late')" >/dev/null
psql -qXAt -d $DB -c "SET pulse.debug_pause_at = 'replay'" -c "SELECT pulse.replay_dead_letters('prog', 'late')" >/dev/null 2>&1 &
REPLAY=$!
poll "SELECT pid || ':' || done || '/' || total || ' ' || unit FROM pulse.progress WHERE command = 'replay_dead_letters' AND object = 'late' AND phase = 'replaying'" \
    || fail "the replay does not show"
[ "${got#*:}" = "0/40 dead letters" ] || fail "replay progress: $got"
$Q -c "SELECT pg_cancel_backend(${got%%:*})" >/dev/null
wait $REPLAY 2>/dev/null || true
[ "$($Q -c "SELECT count(*) FROM pulse.dead_letters WHERE project = 'prog' AND collection = 'late'")" = 40 ] || fail "the cancelled replay lost dead letters"
[ "$($Q -c "SELECT count(*) FROM pulse.progress WHERE project = 'prog'")" = 0 ] || fail "progress left after a cancelled replay"
echo "ok 3 - a replay shows done of total dead letters; cancelled, it keeps them and leaves no progress"
echo "progress: all ok"
