#!/usr/bin/env bash
# Event specs over Kafka (docs/people.md#event-specs): a subscription with spec 'segment' (no
# fixed collection: track events go to their event's collection, pages to pages, identify calls
# link ids and set traits, {"batch": [...]} envelopes are split), one with spec 'posthog'
# ($set / $set_once, $identify), one with a paths spec ({"time": ..., "user": ...}) into a fixed
# collection; every message accounted for (stored rows, dead letters, rejected-field notes for
# events without a usable time or user). Every id seen gets its person (persons on first sight);
# a subscription without a spec uses its collection's (set_event_spec collection =>), and
# kafka_alter changes a subscription's spec.
set -euo pipefail
. "$PULSE_REPO/test/kafka/lib.sh"
DB=${PGDATABASE:-pulse_test}
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
fail() { echo "FAIL: $*"; $Q -c "SELECT * FROM pulse.kafka_status" 2>&1 | head -20; tail -30 "${PULSE_TEST_LOG:-/dev/null}" 2>/dev/null; exit 1; }
trap '$Q -c "SELECT pulse.drop_project('"'"'kspec'"'"', force => true) FROM pulse.projects WHERE name = '"'"'kspec'"'"'" >/dev/null 2>&1 || true' EXIT
kafka_start seg:2 ph:1 custom:1 coll:1
$Q -c "CREATE EXTENSION IF NOT EXISTS pg_pulse" >/dev/null
$Q -c "SELECT pulse.drop_project('kspec', force => true) FROM pulse.projects WHERE name = 'kspec'" >/dev/null 2>&1 || true
$Q -c "SELECT pulse.create_project('kspec')" >/dev/null
OPTS='{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "topic.metadata.refresh.interval.ms": "1000"}'
$Q -c "SELECT pulse.kafka_subscribe('kspec', ARRAY['seg'], '$KAFKA_BROKERS', options => '$OPTS', batch_timeout => '100 ms', spec => 'segment')" >/dev/null
$Q -c "SELECT pulse.kafka_subscribe('kspec', ARRAY['ph'], '$KAFKA_BROKERS', options => '$OPTS', batch_timeout => '100 ms', spec => 'posthog')" >/dev/null
$Q -c "SELECT pulse.kafka_subscribe('kspec', ARRAY['custom'], '$KAFKA_BROKERS', collection => 'ev', options => '$OPTS',
         batch_timeout => '100 ms', spec => '{\"time\": \"meta.ts\", \"user\": \"actor.id\", \"id\": \"meta.id\"}')" >/dev/null
out=$($Q -c "SELECT pulse.kafka_subscribe('kspec', ARRAY['x'], '$KAFKA_BROKERS', spec => 'mixpanel')" 2>&1) && fail "an unknown spec was accepted"
grep -q 'invalid event spec: unknown event spec "mixpanel"' <<<"$out" || fail "unknown spec: $out"

# 1. Segment: 500 track calls (anonymous, then identified), a batch envelope, an identify, a bad call
{
  for k in $(seq 1 500); do
    printf '{"type": "track", "event": "Product Viewed", "anonymousId": "anon%d", "messageId": "m%d", "timestamp": "2024-05-01T10:%02d:00Z", "properties": {"sku": "s%d", "price": %d}}\n' \
      $((k % 20)) "$k" $((k % 60)) $((k % 7)) "$k"
  done
  echo '{"batch": [{"type": "page", "name": "Home", "anonymousId": "anon1", "messageId": "p1", "receivedAt": "2024-05-01T11:00:00Z"}, {"type": "track", "event": "Order Completed", "userId": "user1", "anonymousId": "anon2", "messageId": "o1", "timestamp": "2024-05-01T11:01:00Z", "properties": {"revenue": 30}, "context": {"ip": "10.0.0.1", "locale": "de-DE"}}]}'
  echo '{"type": "identify", "userId": "user1", "anonymousId": "anon1", "traits": {"plan": "pro", "logins": 3}, "messageId": "i1", "timestamp": "2024-05-01T11:02:00Z"}'
  echo '{"type": "track", "event": "No Time"}'
  echo '{"type": "teleport", "userId": "user1"}'
} | kafka_produce seg
wait_for "SELECT count(*) FROM kspec.product_viewed" 500 60
wait_for "SELECT (SELECT count(*) FROM kspec.pages) || '/' || (SELECT count(*) FROM kspec.order_completed) || '/' || (SELECT count(*) FROM kspec.identifies) || '/' || (SELECT count(*) FROM kspec.no_time)" "1/1/1/1" 60
wait_for "SELECT count(*) FROM pulse.dead_letters WHERE project = 'kspec'" 1 20
[ "$($Q -c "SELECT count(DISTINCT _id) || '/' || count(DISTINCT _user) || '/' || sum(price) || '/' || min(_time) FROM kspec.product_viewed")" = "500/20/125250/2024-05-01 10:00:00+00" ] \
    || fail "track calls: $($Q -c "SELECT count(DISTINCT _id), count(DISTINCT _user), sum(price), min(_time) FROM kspec.product_viewed")"
[ "$($Q -c "SELECT _user || '/' || revenue || '/' || context_ip || '/' || context_locale FROM kspec.order_completed")" = "user1/30/10.0.0.1/de-DE" ] || fail "context columns"
[ "$($Q -c "SELECT string_agg(distinct_id, ',' ORDER BY distinct_id) FROM kspec._person_ids WHERE person_id = 'user1'")" = "anon1,anon2,user1" ] \
    || fail "identity links: $($Q -c "TABLE kspec._person_ids")"
[ "$($Q -c "SELECT plan || '/' || logins || '/' || _identified FROM kspec._persons WHERE _person = 'user1'")" = "pro/3/true" ] || fail "traits"
[ "$($Q -c "SELECT count(*) FROM kspec.product_viewed e JOIN kspec._person_ids m ON m.distinct_id = e._user WHERE m.person_id = 'user1'")" = 50 ] \
    || fail "retroactive resolution of anon1's and anon2's earlier events"
[ "$($Q -c "SELECT string_agg(field, ',' ORDER BY field) FROM pulse.rejected_fields WHERE project = 'kspec' AND collection = 'no_time'")" = "_time,_user" ] \
    || fail "notes for an event without time and user"
[ "$($Q -c "SELECT error || '/' || spec FROM pulse.dead_letters WHERE project = 'kspec'")" = 'segment: unknown call type "teleport"/segment' ] || fail "dead letter"
[ "$($Q -c "SELECT count(*) FROM kspec._person_ids WHERE distinct_id LIKE 'anon%'")" = 20 ] \
    || fail "persons on first sight: $($Q -c "SELECT count(*) FROM kspec._person_ids")"
echo "ok 1 - segment over Kafka: 500 track calls to their collection exactly once, a batch envelope split, identify links and traits, notes, a dead letter with its spec, a person for every id"

# 2. PostHog: $set / $set_once, $identify
printf '%s\n' \
  '{"event": "$pageview", "distinct_id": "ph-anon", "timestamp": "2024-05-02T10:00:00Z", "uuid": "u-1", "properties": {"$current_url": "/a", "$set_once": {"first_url": "/a"}}}' \
  '{"event": "$pageview", "distinct_id": "ph-anon", "timestamp": "2024-05-02T10:01:00Z", "uuid": "u-2", "properties": {"$current_url": "/b", "$set_once": {"first_url": "/b"}}}' \
  '{"event": "$identify", "distinct_id": "ph-user", "timestamp": "2024-05-02T10:02:00Z", "properties": {"$anon_distinct_id": "ph-anon", "$set": {"email": "a@b"}}}' \
  | kafka_produce ph
wait_for "SELECT count(*) FROM kspec.pageview" 2 60
wait_for "SELECT count(*) FROM kspec._person_ids WHERE distinct_id = 'ph-anon' AND person_id = 'ph-user'" 1 30
[ "$($Q -c "SELECT first_url || '/' || email FROM kspec._persons WHERE _person = 'ph-user'")" = "/a/a@b" ] \
    || fail "posthog person: $($Q -c "SELECT * FROM kspec._persons")"
echo "ok 2 - posthog over Kafka: events without the \$ prefix, \$set_once keeps the first value, \$identify merges the anonymous person"

# 3. a paths spec into a fixed collection
printf '%s\n' '{"meta": {"ts": "2024-05-03T00:00:00Z", "id": "c1"}, "actor": {"id": 7}, "v": 1}' '{"meta": {}, "actor": {"id": "x"}, "v": 2}' | kafka_produce custom
wait_for "SELECT count(*) FROM kspec.ev" 2 60
[ "$($Q -c "SELECT string_agg(_user || ':' || coalesce(_id, '-') || ':' || (_time = '2024-05-03'), ',' ORDER BY v) FROM kspec.ev")" = "7:c1:true,x:-:false" ] || fail "paths spec"
[ "$($Q -c "SELECT count(*) FROM pulse.rejected_fields WHERE project = 'kspec' AND collection = 'ev' AND field = '_time'")" = 1 ] || fail "paths spec note"
echo "ok 3 - a paths spec over Kafka: time, user and id from nested fields, a missing time noted"

# 4. a collection's spec for a subscription without one; kafka_alter changes the spec
$Q -c "SELECT pulse.create_collection('kspec', 'aud')" \
   -c "SELECT pulse.set_event_spec('kspec', '{\"user\": \"actor.login\"}', collection => 'aud')" >/dev/null
sid=$($Q -c "SELECT pulse.kafka_subscribe('kspec', ARRAY['coll'], '$KAFKA_BROKERS', collection => 'aud', options => '$OPTS', batch_timeout => '100 ms')")
printf '%s\n' '{"actor": {"login": "a1"}, "v": 1}' | kafka_produce coll
wait_for "SELECT count(*) FROM kspec.aud" 1 60
$Q -c "SELECT pulse.kafka_alter($sid, spec => '{\"user\": \"who\"}')" >/dev/null
out=$($Q -c "SELECT pulse.kafka_alter($sid, spec => 'mixpanel')" 2>&1) && fail "kafka_alter took an unknown spec"
grep -q 'invalid event spec' <<<"$out" || fail "kafka_alter unknown spec: $out"
[ "$($Q -c "SELECT spec FROM pulse.kafka_subscriptions WHERE id = $sid")" = '{"user": "who"}' ] || fail "kafka_alter spec stored"
printf '%s\n' '{"who": "a2", "v": 2}' | kafka_produce coll
wait_for "SELECT count(*) FROM kspec.aud" 2 60
[ "$($Q -c "SELECT string_agg(_user, ',' ORDER BY v) FROM kspec.aud")" = "a1,a2" ] || fail "collection spec / kafka_alter spec: $($Q -c "TABLE kspec.aud")"
echo "ok 4 - a subscription without a spec uses its collection's; kafka_alter changes the spec (workers restart with it)"
echo "kafka_specs: 4 passed"
