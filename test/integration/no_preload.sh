#!/usr/bin/env bash
# pg_pulse without shared_preload_libraries: the SQL ingestion works (the library loads on
# first use) and the Kafka functions fail with SQLSTATE 55000 and a hint naming the settings;
# create_view warns that refresh_every cannot be honoured.
set -euo pipefail
SUB=${PULSE_TEST_DIR:-/tmp/pg_pulse_test}_nopreload  # one per checkout
export PULSE_TEST_DIR=$SUB PULSE_TEST_PGDATA=$SUB/data PULSE_TEST_PORT=$((${PGPORT:-54329} + 17)) PULSE_TEST_PRELOAD= PULSE_TEST_LISTEN=
# (a cluster of its own: every setting that names the runner's cluster is overridden)
trap 'bash "$PULSE_REPO/test/cluster.sh" stop >/dev/null 2>&1 || true' EXIT
bash "$PULSE_REPO/test/cluster.sh" start >/dev/null
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres
Q="psql -qXAt -d postgres"
[ "$($Q -c "SHOW shared_preload_libraries")" = "" ] || { echo "FAIL: preload is set"; exit 1; }
$Q -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('np')" >/dev/null
[ "$($Q -c "SELECT stored FROM pulse.collect('np', 'ev', '{\"a\": 1}')")" = 1 ] || { echo "FAIL: collect"; exit 1; }
echo "ok 1 - without preload the library loads on first use and SQL ingestion works"
out=$(psql -qXAt -d postgres -v VERBOSITY=verbose -c "\\set VERBOSITY verbose" \
      -c "SELECT pulse.kafka_subscribe('np', ARRAY['t'], 'localhost:9092')" 2>&1 || true)
grep -q "ERROR:  55000: pg_pulse is not loaded at server start" <<<"$out" || { echo "FAIL: $out"; exit 1; }
grep -q "HINT:  Add pg_pulse to shared_preload_libraries" <<<"$out" || { echo "FAIL: hint: $out"; exit 1; }
[ "$($Q -c "SELECT count(*) FROM pulse.kafka_subscriptions")" = 0 ] || { echo "FAIL: stored"; exit 1; }
echo "ok 2 - kafka_subscribe fails with 55000 and a hint naming shared_preload_libraries"
out=$(psql -qXAt -d postgres -c "SELECT pulse.create_view('np', 'c', 'SELECT count(*) AS n FROM ev', 'incremental', '1 minute')" 2>&1)
grep -q "WARNING:  refresh_every is not honoured: no background worker serves this server" <<<"$out" || { echo "FAIL: no warning: $out"; exit 1; }
[ "$($Q -c "SELECT n FROM np.c")" = 1 ] || { echo "FAIL: the view"; exit 1; }
echo "ok 3 - create_view warns that refresh_every is not honoured without the preload (the view works)"
echo "no_preload: all ok"
