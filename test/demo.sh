#!/usr/bin/env bash
# pg_pulse end to end on embedded defaults: installs the Debian dependencies if missing,
# builds and installs the extension, starts a private Postgres 15 cluster
# (/tmp/pg_pulse_test, port 54329, shared_preload_libraries = pg_pulse) and librdkafka's mock
# Kafka cluster (test/kafka/mock_broker), creates a project, sends sample events through SQL
# (single events, NDJSON and envelope batches, a few bad ones) and streams more through Kafka
# (kcat -> topic -> pg_pulse's consumer workers), then shows the typed tables, rejected
# fields, dead letters, the Kafka status and a query over them, a realtime materialized view,
# and a funnel and a retention table, an anonymous visitor who signs up and converts (Segment
# calls, identity linked, the funnel counted by person and by raw id, the person's path), and
# enrichment (geo-IP from a database built out of Debian's tor-geoipdb ranges, user agent,
# referrer and UTM campaign columns).
#   bash test/demo.sh            (PULSE_KEEP_CLUSTER=1 leaves the cluster running)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
if ! command -v pg_prove >/dev/null || [ ! -x /usr/lib/postgresql/15/bin/pg_config ] || ! pkg-config --exists simdjson rdkafka libmaxminddb re2 yaml-cpp || [ ! -e /usr/share/uap-core/regexes.yaml ]; then
  PULSE_DEPS_ONLY=1 bash .ci/run
fi
make -s -j2 >/dev/null
if [ "$(id -u)" = 0 ]; then make -s install >/dev/null; else sudo make -s install >/dev/null; fi
bash test/cluster.sh start
[ "${PULSE_KEEP_CLUSTER:-0}" = 1 ] || trap 'bash "$REPO/test/cluster.sh" stop' EXIT
export PGHOST=${PULSE_TEST_DIR:-/tmp/pg_pulse_test} PGPORT=${PULSE_TEST_PORT:-54329} PGUSER=postgres PULSE_REPO=$REPO
# any database: pg_pulse serves every database it is installed in
psql -qX -d postgres -c "CREATE DATABASE pulse_test" >/dev/null
. test/kafka/lib.sh
kafka_start clicks:4
echo "mock Kafka cluster at $KAFKA_BROKERS"
psql -X -d pulse_test --echo-queries -v ON_ERROR_STOP=1 <<'SQL'
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

echo "--- streaming through Kafka ---"
psql -X -d pulse_test --echo-queries -v ON_ERROR_STOP=1 -c "SELECT pulse.kafka_subscribe('shop', ARRAY['clicks'], '$KAFKA_BROKERS',
    options => '{\"session.timeout.ms\": \"6000\"}', batch_timeout => '100 ms') AS subscription"
for k in $(seq 1 1000); do
  printf '{"_time": "2026-11-02T10:%02d:%02dZ", "_user": "user%d", "button": "%s", "x": %d}\n' \
    $((k / 60 % 60)) $((k % 60)) $((k % 37)) "$([ $((k % 3)) = 0 ] && echo buy || echo view)" "$k"
done > /tmp/pg_pulse_demo_clicks.ndjson
echo '{"_time": "not a time"}' >> /tmp/pg_pulse_demo_clicks.ndjson
kafka_produce clicks < /tmp/pg_pulse_demo_clicks.ndjson
echo "produced 1001 messages with kcat into topic clicks (4 partitions)"
for i in $(seq 1 300); do
  n=$(psql -qXAt -d pulse_test -c "SELECT count(*) FROM shop.clicks" 2>/dev/null || echo 0)
  [ "$n" = 1000 ] && break
  sleep 0.2
done
psql -X -d pulse_test --echo-queries -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
SELECT button, count(*), count(DISTINCT _user) AS users FROM shop.clicks GROUP BY button ORDER BY button;
SELECT topic, partition, stored_offset, high_watermark, lag, last_error FROM pulse.kafka_status ORDER BY partition;
SELECT error, source FROM pulse.dead_letters WHERE source LIKE 'kafka:%';
SQL
kafka_stop
rm -f /tmp/pg_pulse_demo_clicks.ndjson

echo "--- materialized views ---"
psql -X -d pulse_test --echo-queries -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
-- a realtime view: stored per-button states plus the not yet merged events, exact at any moment
SELECT pulse.create_view('shop', 'buttons',
  'SELECT button, count(*) AS clicks, sum(x) AS total_x, max(_time) AS last_click FROM clicks GROUP BY button');
SELECT * FROM shop.buttons ORDER BY button;
SELECT (pulse.collect('shop', 'clicks', '{"_time": "2026-11-02T11:00:00Z", "_user": "user1", "button": "buy", "x": 5}')).stored;
-- the new click is already counted, before any refresh
SELECT * FROM shop.buttons ORDER BY button;
SELECT pulse.refresh_view('shop', 'buttons') AS groups_merged;
SELECT name, strategy, rows, last_merged, needs_rebuild, staleness FROM pulse.views;
SQL

echo "--- analytics inside Postgres ---"
psql -X -d pulse_test --echo-queries -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
-- a week of app opens: 40 users on day 1, fewer return each day
SELECT stored FROM pulse.collect_batch('shop',
  (SELECT string_agg(json_build_object('_time', format('2026-11-0%sT12:00:00Z', d), '_user', 'user' || u)::text, E'\n')
     FROM generate_series(1, 7) d, generate_series(0, 39) u WHERE d = 1 OR u % d = 0), 'app_open');
-- funnel over the clicks streamed through Kafka: viewed, then bought, within 10 minutes
SELECT step, step_name, users, round(conversion_from_first::numeric, 2) AS conversion, avg_time_to_convert
  FROM pulse.funnel('shop', '[{"collection": "clicks", "filter": "button = ''view''", "name": "viewed"},
                              {"collection": "clicks", "filter": "button = ''buy''", "name": "bought"}]',
                    '2026-11-02', '2026-11-03', conversion_window => '10 minutes');
-- daily retention of the app opens
SELECT cohort_start::date, cohort_size, period, users, round(rate::numeric, 2) AS rate
  FROM pulse.retention('shop', '{"collection": "app_open"}', '{"collection": "app_open"}',
                       '2026-11-01', '2026-11-02', periods => 5)
 ORDER BY period;
SQL
echo "--- people: an anonymous visitor signs up and converts (Segment calls) ---"
psql -X -d pulse_test --echo-queries -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
SET timezone = 'UTC';
SELECT pulse.create_project('site');
-- Segment calls (one per line, or a {"batch": [...]} envelope on one line): anon-7 sees the
-- pricing page and signs up anonymously, is identified as kim, then orders as kim; anon-8 only
-- looks
SELECT * FROM pulse.collect_batch('site', $$
{"batch": [{"type": "page", "name": "Pricing", "anonymousId": "anon-7", "timestamp": "2026-11-02T10:00:00Z", "properties": {"path": "/pricing"}}, {"type": "track", "event": "Signed Up", "anonymousId": "anon-7", "timestamp": "2026-11-02T10:05:00Z"}]}
{"type": "identify", "userId": "kim", "anonymousId": "anon-7", "timestamp": "2026-11-02T10:05:01Z", "traits": {"plan": "pro"}}
{"type": "track", "event": "Order Completed", "userId": "kim", "timestamp": "2026-11-02T10:20:00Z", "properties": {"revenue": 49}}
{"type": "page", "name": "Pricing", "anonymousId": "anon-8", "timestamp": "2026-11-02T11:00:00Z", "properties": {"path": "/pricing"}}
$$, spec => 'segment');
-- kim and anon-7 are one person, identified; the identify call's traits are its properties
SELECT distinct_id, person_id FROM site._person_ids ORDER BY distinct_id;
SELECT _person, _identified, plan FROM site._persons ORDER BY _person;
-- pricing page -> order within a day: counted by person (the default) the anonymous visit and
-- kim's order are one person's chain; counted by raw id nobody converts
SELECT 'person' AS counted, step, users
  FROM pulse.funnel('site', '[{"collection": "pages"}, {"collection": "order_completed"}]',
                    '2026-11-02', '2026-11-03', conversion_window => '1 day')
UNION ALL
SELECT 'id', step, users
  FROM pulse.funnel('site', '[{"collection": "pages"}, {"collection": "order_completed"}]',
                    '2026-11-02', '2026-11-03', conversion_window => '1 day', actor => 'id');
-- and the person's path through the site
SELECT * FROM pulse.paths('site', '2026-11-02', '2026-11-03');
SQL
echo "--- enrichment: geo-IP, user agent, referrer, campaign ---"
# A geo-IP database built from the country ranges Debian ships for tor (tor-geoipdb, from the
# IPFire Location database), so the countries are real; the user-agent and referrer data are
# Debian's uap-core and ruby-referer-parser files (the parameters' defaults).
GEO=$PGHOST/demo_countries.mmdb
python3 test/enrich/tor_geoip.py --v6 | perl test/enrich/make_mmdb.pl "$GEO" PulseDemo-Country
chmod 644 "$GEO"
psql -X -d pulse_test --echo-queries -v ON_ERROR_STOP=1 -v geo="$GEO" <<'SQL'
\pset footer off
SET pulse.geoip_database = :'geo';
SELECT pulse.set_enrichment('shop', e) FROM unnest('{geoip,user_agent,campaign}'::text[]) e;
SELECT pulse.set_enrichment('shop', 'referrer', options => '{"internal_hosts": ["shop.example"]}');
SELECT stored, columns_added FROM pulse.collect_batch('shop', $$
{"_user": "ana", "ip": "81.2.69.160", "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "referrer": "https://www.google.com/search?q=running+shoes", "url": "https://shop.example/shoes"}
{"_user": "ben", "ip": "200.160.2.3", "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "referrer": "https://www.facebook.com/", "url": "https://shop.example/?utm_source=fb&utm_medium=paid_social&utm_campaign=winter"}
{"_user": "cid", "context": {"ip": "2a00:1450:4001:81b::200e", "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "page": {"url": "https://shop.example/cart?gclid=Cj0K", "referrer": "https://shop.example/shoes"}}}
{"_user": "dee", "ip": "193.0.6.139", "user_agent": "Googlebot/2.1 (+http://www.google.com/bot.html)", "referrer": "https://mail.google.com/mail/u/0/", "url": "https://shop.example/?utm_source=newsletter&utm_medium=email"}
{"_user": "eve", "ip": "192.168.1.20", "user_agent": "curl/8.4.0"}
$$, 'visit');
SELECT _user, _country_code AS country, _browser, _browser_version AS version, _os, _device, _is_bot AS bot
  FROM shop.visit ORDER BY _user;
SELECT _user, _referrer_medium AS medium, _referrer_source AS source, _referrer_term AS term, _referrer_domain AS domain,
       _utm_source, _utm_medium, _utm_campaign
  FROM shop.visit ORDER BY _user;
SELECT enricher, loaded, details, error FROM pulse.enrichment_status ORDER BY enricher;
SQL
echo "demo finished"
