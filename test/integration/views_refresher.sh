#!/usr/bin/env bash
# Scheduled refreshes (src/views/refresher.cc), run by the database's scheduler (every database
# with pg_pulse has one when the library is preloaded):
#  1. a view with refresh_every = 1 s is refreshed by the worker: new events are merged and
#     the incremental view catches up without any refresh_view call;
#  2. a refresh that fails (a cache view whose query divides by zero once data arrives) is
#     rolled back, its error recorded in pulse.views.last_error, and the other views still
#     refresh; once the data is fixed the next round clears the error;
#  3. pulse.job_history has both (to the project's readers only), the log names the failing
#     view, and what is older than pulse.job_history_retention goes;
#  4. a refresh longer than pulse.refresh_timeout is cancelled and recorded, and the other
#     views keep refreshing;
#  5. so is the merge that retention runs first (the view left as it is, the events dropped).
#  6. projects take turns: one project's many slow views do not hold another project's view
#     back for their whole round (each project's refreshes take about a second of a round while
#     others wait), and the slow views are still all refreshed.
set -euo pipefail
DB=pulse_test
fail() { echo "FAIL: $*"; exit 1; }
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
# until SQL EXPECTED: polls (30 s at most) until the query returns EXPECTED; got holds the last answer
until_equal() {
    for _ in $(seq 1 300); do
        got=$($Q -c "$1")
        [ "$got" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
$Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_pulse" \
   -c "SELECT pulse.create_project('refr')" \
   -c "SELECT pulse.create_collection('refr', 'ev', '{\"v\": \"int\"}')" >/dev/null
trap '$Q -c "SET client_min_messages = warning" -c "SELECT pulse.drop_project('"'"'refr'"'"', force => true)" >/dev/null 2>&1 || true' EXIT
$Q -c "SELECT pulse.create_view('refr', 'per_user', 'SELECT _user, count(*) AS n, sum(v) AS s FROM ev GROUP BY _user', 'incremental', '1 second')" \
   -c "SELECT pulse.create_view('refr', 'fragile', 'SELECT 10 / (3 - count(*)) AS x FROM ev', 'cache', '1 second')" >/dev/null
$Q -c "SELECT pulse.collect_batch('refr', '[{\"_user\": \"a\", \"v\": 1}, {\"_user\": \"b\", \"v\": 2}, {\"_user\": \"a\", \"v\": 3}]', 'ev')" >/dev/null

# 1: the incremental view catches up by itself
until_equal "SELECT string_agg(_user || '=' || n || '/' || s, ',' ORDER BY _user) FROM refr.per_user" "a=2/4,b=1/2" || fail "incremental view not refreshed by the worker: $got"
echo "ok 1 - the refresher worker merges new events into a view with refresh_every = 1 s"

# 2: the failing cache view records its error; the other view keeps refreshing
ok=0
for _ in $(seq 1 300); do
    err=$($Q -c "SELECT coalesce(last_error, '') FROM pulse.views WHERE project = 'refr' AND name = 'fragile'")
    case "$err" in *"division by zero"*) ok=1; break ;; esac
    sleep 0.1
done
[ "$ok" = 1 ] || fail "error of the failing refresh not recorded: '$err'"
# the stored result of the failed cache view is the last good one (at creation: 10 / 3)
[ "$($Q -c "SELECT x FROM refr.fragile")" = 3 ] || fail "failed cache refresh changed the stored result"
$Q -c "SELECT pulse.collect('refr', 'ev', '{\"_user\": \"c\", \"v\": 5}')" >/dev/null   # 4 rows: 10 / -1
until_equal "SELECT string_agg(_user || '=' || n || '/' || s, ',' ORDER BY _user) FROM refr.per_user" "a=2/4,b=1/2,c=1/5" || fail "the healthy view stopped refreshing next to a failing one: $got"
until_equal "SELECT coalesce(last_error, 'none') || ':' || (SELECT x FROM refr.fragile) FROM pulse.views WHERE project = 'refr' AND name = 'fragile'" "none:-10" || fail "failing view did not recover: $got"
echo "ok 2 - a failing refresh is rolled back and recorded in pulse.views.last_error; other views go on; the error clears"

# 3: the job history: successful and failed refreshes, who sees them, the server log names the
# view, the retention
[ "$($Q -c "SELECT count(*) > 0 FROM pulse.job_history WHERE project = 'refr' AND object = 'per_user' AND kind = 'refresh' AND status = 'succeeded' AND rows > 0 AND finished_at >= started_at")" = t ] \
    || fail "no successful refresh in pulse.job_history"
[ "$($Q -c "SELECT count(*) > 0 FROM pulse.job_history WHERE project = 'refr' AND object = 'fragile' AND status = 'failed' AND error LIKE '%division by zero%' AND rows IS NULL")" = t ] \
    || fail "no failed refresh in pulse.job_history"
grep -q 'WARNING:  pg_pulse: refresh of view refr.fragile failed: division by zero' "$PULSE_TEST_LOG" || fail "the server log does not name the failing view"
[ "$($Q -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS jh_other" -c "CREATE ROLE jh_other" -c "SET ROLE jh_other" -c "SELECT count(*) FROM pulse.job_history")" = 0 ] \
    || fail "a role that reads no project sees its job history"
[ "$($Q -c "SET ROLE refr_reader" -c "SELECT count(DISTINCT object) FROM pulse.job_history")" = 2 ] || fail "the project's reader does not see its job history"
$Q -c "DROP ROLE jh_other" >/dev/null
$Q -c "INSERT INTO pulse.job_log(kind, project, object, started_at, finished_at, status) VALUES ('refresh', 'refr', 'old', now() - interval '9 days', now() - interval '8 days', 'succeeded')" >/dev/null
until_equal "SELECT count(*) FROM pulse.job_log WHERE object = 'old'" 0 || fail "the scheduler did not delete history older than pulse.job_history_retention (7 days)"
. "$PULSE_REPO/test/lib.sh"
assert_partitioned "$DB" refr
echo "ok 3 - pulse.job_history records successful and failed refreshes (the log names the view), shows a project's only to its readers, and forgets what is older than the retention"

# 4: a refresh running longer than pulse.refresh_timeout is cancelled by the scheduler and
#    recorded as the view's failure, and the other views keep refreshing (a sleeping query of
#    one project does not hold the database's scheduler)
$Q -c "ALTER SYSTEM SET pulse.refresh_timeout = '1s'" -c "SELECT pg_reload_conf()" >/dev/null
trap '$Q -c "ALTER SYSTEM RESET pulse.refresh_timeout" -c "SELECT pg_reload_conf()" -c "SET client_min_messages = warning" -c "SELECT pulse.drop_project(name, force => true) FROM pulse.projects WHERE name IN ('"'"'refr'"'"', '"'"'refrt'"'"')" >/dev/null 2>&1 || true' EXIT
$Q -c "SET client_min_messages = warning" -c "SELECT pulse.create_project('refrt')" \
   -c "SELECT pulse.create_collection('refrt', 'ev', '{\"v\": \"int\"}')" \
   -c "SELECT pulse.create_view('refrt', 'sleepy', 'SELECT count(*) AS n, pg_sleep(CASE WHEN count(*) > 1 THEN 60 ELSE 0 END) IS NULL AS slept FROM ev', 'cache', '1 second')" \
   -c "SELECT pulse.create_view('refrt', 'counts', 'SELECT _user, count(*) AS n FROM ev GROUP BY _user', 'incremental', '1 second')" >/dev/null
$Q -c "SELECT pulse.collect_batch('refrt', '[{\"_user\": \"a\", \"v\": 1}, {\"_user\": \"b\", \"v\": 2}]', 'ev')" >/dev/null
until_equal "SELECT last_error FROM pulse.views WHERE project = 'refrt' AND name = 'sleepy'" "canceling statement due to statement timeout" \
    || fail "the sleeping refresh was not cancelled after pulse.refresh_timeout: $got"
$Q -c "SELECT pulse.collect_batch('refrt', '[{\"_user\": \"c\", \"v\": 3}]', 'ev')" >/dev/null
until_equal "SELECT string_agg(_user || '=' || n, ',' ORDER BY _user) FROM refrt.counts" "a=1,b=1,c=1" \
    || fail "the other view stopped refreshing behind the sleeping one: $got"
[ "$($Q -c "SELECT count(*) > 0 FROM pulse.job_history WHERE project = 'refrt' AND object = 'sleepy' AND status = 'failed' AND error LIKE '%statement timeout%'")" = t ] \
    || fail "no failed refresh of the sleeping view in pulse.job_history"
echo "ok 4 - the scheduler cancels a refresh after pulse.refresh_timeout, records it, and keeps refreshing the other views"

# 5: the merge that retention runs before dropping events is bounded the same way: a view whose
#    (immutable, slow) expression would hold the scheduler's retention is left as it is after
#    pulse.refresh_timeout, with a warning, and the old events go
$Q -c "SET client_min_messages = warning" -c "SELECT pulse.create_project('refrr')" \
   -c "SELECT pulse.create_collection('refrr', 'ev', '{\"v\": \"int\"}')" \
   -c "SELECT pulse.create_view('refrr', 'slow', 'SELECT count(*) AS n FROM ev WHERE factorial(v) > 0', 'incremental', '1 hour')" >/dev/null
trap '$Q -c "ALTER SYSTEM RESET pulse.refresh_timeout" -c "SELECT pg_reload_conf()" -c "SET client_min_messages = warning" -c "SELECT pulse.drop_project(name, force => true) FROM pulse.projects WHERE name IN ('"'"'refr'"'"', '"'"'refrt'"'"', '"'"'refrr'"'"')" >/dev/null 2>&1 || true' EXIT
$Q -c "SELECT pulse.collect_batch('refrr', (SELECT string_agg('{\"v\": 24000, \"_user\": \"u\", \"_time\": \"2020-01-01T00:00:00Z\"}', E'\n') FROM generate_series(1, 20)), 'ev')" \
   -c "SELECT pulse.set_retention('refrr', 'ev', '1 day')" >/dev/null
# the scheduler applies retention once a minute
for _ in $(seq 1 450); do
    [ "$($Q -c "SELECT count(*) FROM refrr.ev")" = 0 ] && break
    sleep 0.2
done
[ "$($Q -c "SELECT count(*) FROM refrr.ev")" = 0 ] || fail "retention did not drop the old events behind the slow view's merge"
grep -q 'pg_pulse: retention of refrr.ev: the merge of view [0-9]* ran longer than pulse.refresh_timeout' "$PULSE_TEST_LOG" \
    || fail "no warning about the merge cancelled by pulse.refresh_timeout"
echo "ok 5 - retention's merge of a slow view is cancelled after pulse.refresh_timeout, and the old events still go"

# 6: four views of one project whose refreshes take 1.5 s each (pulse.refresh_timeout raised to
#    10 s) and one quick view of another project, all due every second. Taking the views oldest
#    first, a round would be 6 s and the quick view refreshed about twice in 12 s; with projects
#    taking turns, a round refreshes one slow view and the quick one.
$Q -c "SET client_min_messages = warning" -c "SELECT pulse.drop_project(p, force => true) FROM unnest(ARRAY['refrt', 'refrr']) p" >/dev/null
$Q -c "ALTER SYSTEM SET pulse.refresh_timeout = '10s'" -c "SELECT pg_reload_conf()" >/dev/null
$Q -c "SET client_min_messages = warning" -c "SELECT pulse.create_project('refrh')" -c "SELECT pulse.create_project('refrf')" \
   -c "SELECT pulse.create_collection(p, 'ev', '{\"v\": \"int\"}') FROM unnest(ARRAY['refrh', 'refrf']) p" \
   -c "SELECT pulse.create_view('refrh', 'slow' || k, 'SELECT count(*) AS n, pg_sleep(CASE WHEN count(*) > 0 THEN 1.5 ELSE 0 END) IS NULL AS slept FROM ev', 'cache', '1 second') FROM generate_series(1, 4) k" \
   -c "SELECT pulse.create_view('refrf', 'quick', 'SELECT count(*) AS n FROM ev', 'cache', '1 second')" >/dev/null
trap '$Q -c "ALTER SYSTEM RESET pulse.refresh_timeout" -c "SELECT pg_reload_conf()" -c "SET client_min_messages = warning" -c "SELECT pulse.drop_project(name, force => true) FROM pulse.projects WHERE name IN ('"'"'refr'"'"', '"'"'refrt'"'"', '"'"'refrr'"'"', '"'"'refrh'"'"', '"'"'refrf'"'"')" >/dev/null 2>&1 || true' EXIT
$Q -c "SELECT pulse.collect_batch(p, '[{\"v\": 1}]', 'ev') FROM unnest(ARRAY['refrh', 'refrf']) p" >/dev/null
sleep 2   # the slow views have their event: every round from now on sleeps in them
T0=$($Q -c "SELECT clock_timestamp()")
sleep 12
quick=$($Q -c "SELECT count(*) FROM pulse.job_history WHERE project = 'refrf' AND object = 'quick' AND status = 'succeeded' AND started_at >= '$T0'")
slow=$($Q -c "SELECT count(DISTINCT object) FROM pulse.job_history WHERE project = 'refrh' AND status = 'succeeded' AND started_at >= '$T0'")
[ "$quick" -ge 5 ] || fail "the quick view of another project was refreshed only $quick times in 12 s behind the slow views"
[ "$slow" = 4 ] || fail "only $slow of the 4 slow views were refreshed in 12 s"
$Q -c "SET client_min_messages = warning" -c "SELECT pulse.drop_project('refrh', force => true)" >/dev/null
echo "ok 6 - projects take turns in the scheduler: another project's view refreshed $quick times in 12 s behind four 1.5 s refreshes; all four refreshed too"
