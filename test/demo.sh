#!/usr/bin/env bash
# pg_pulse end to end on embedded defaults: installs the Debian dependencies if missing,
# builds and installs the extension, starts a private Postgres 15 cluster
# (/tmp/pg_pulse_test, port 54329, shared_preload_libraries = pg_pulse), creates a project,
# sends sample events through SQL (single events, NDJSON and envelope batches, a few bad
# ones), and shows the typed tables, rejected fields, dead letters and a query over them.
#   bash test/demo.sh            (PULSE_KEEP_CLUSTER=1 leaves the cluster running)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
if ! command -v pg_prove >/dev/null || [ ! -x /usr/lib/postgresql/15/bin/pg_config ] || ! pkg-config --exists simdjson rdkafka; then
  PULSE_DEPS_ONLY=1 bash .ci/run
fi
make -s -j2 >/dev/null
if [ "$(id -u)" = 0 ]; then make -s install >/dev/null; else sudo make -s install >/dev/null; fi
bash test/cluster.sh start
[ "${PULSE_KEEP_CLUSTER:-0}" = 1 ] || trap 'bash "$REPO/test/cluster.sh" stop' EXIT
export PGHOST=/tmp/pg_pulse_test PGPORT=${PULSE_TEST_PORT:-54329} PGUSER=postgres
psql -qX -d postgres -c "CREATE DATABASE pulse_demo" >/dev/null
psql -X -d pulse_demo --echo-queries -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
SET timezone = 'UTC';
CREATE EXTENSION pg_pulse;
SELECT pulse.create_project('shop');
-- one event: the collection and its typed columns appear on their own
SELECT * FROM pulse.collect('shop', 'pageview',
  '{"_time": "2026-11-02T09:00:00Z", "_user": "ana", "url": "/pricing", "loadMs": 312, "mobile": true}');
-- a batch (NDJSON): a new field, a value that does not fit, an unparseable line
SELECT * FROM pulse.collect_batch('shop', '{"_time": "2026-11-02T09:01:00Z", "_user": "ben", "url": "/", "loadMs": 120, "campaign": "fall"}
{"_time": "2026-11-02T09:02:00Z", "_user": "ana", "url": "/signup", "loadMs": "slow"}
{"_time": oops}', 'pageview');
-- envelopes route events to several collections
SELECT * FROM pulse.collect_batch('shop', '[
  {"collection": "signup",   "properties": {"_time": "2026-11-02T09:03:00Z", "_user": "ana", "plan": "pro"}},
  {"collection": "purchase", "properties": {"_time": "2026-11-02T09:05:00Z", "_user": "ana", "amount": 49.0, "items": ["sku-1", "sku-2"]}},
  {"collection": "purchase", "properties": {"_time": 1793610600000, "_user": "ben", "amount": 19.5, "items": ["sku-3"]}}]');
\d shop.pageview
SELECT _time, _user, url, load_ms, mobile, campaign FROM shop.pageview ORDER BY _time;
SELECT field, raw_value, expected_type, reason FROM pulse.rejected_fields;
SELECT convert_from(payload, 'UTF8') AS payload, error FROM pulse.dead_letters;
SELECT project, collection, columns, last_event_time FROM pulse.collections ORDER BY collection;
-- plain SQL over the collections: who viewed, signed up and bought
SELECT u._user,
       (SELECT count(DISTINCT url) FROM shop.pageview p WHERE p._user = u._user) AS pages,
       EXISTS (SELECT FROM shop.signup s WHERE s._user = u._user) AS signed_up,
       (SELECT sum(amount) FROM shop.purchase b WHERE b._user = u._user) AS spent
  FROM (SELECT DISTINCT _user FROM shop.pageview) u ORDER BY 1;
SQL
echo "demo finished"
