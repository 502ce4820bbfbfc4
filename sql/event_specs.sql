-- Event specs (docs/people.md#event-specs): segment and posthog mapped onto pg_pulse's
-- dialect, a paths spec, the project default, and what is noted, linked and dead-lettered.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
SELECT pulse.create_project('regress_es');
RESET client_min_messages;

-- Segment: the batch envelope, every call type, the timestamp rules, context columns (collect
-- takes one JSON value of any layout; collect_batch reads NDJSON, one event or envelope a line)
SELECT * FROM pulse.collect('regress_es', NULL, '{"batch": [
 {"type": "track", "event": "Order Completed", "userId": "u1", "anonymousId": "a1", "messageId": "m1", "timestamp": "2024-05-01T10:00:00.250Z", "properties": {"revenue": 12.5, "Sku": "x"}, "context": {"ip": "1.2.3.4", "userAgent": "UA", "page": {"url": "https://x/y"}, "locale": "fr-FR", "campaign": {"source": "ads", "medium": "cpc"}}},
 {"type": "page", "name": "Home", "anonymousId": "a2", "properties": {"path": "/"}, "originalTimestamp": "2024-05-01T10:00:00Z", "sentAt": "2024-05-01T10:00:05Z", "receivedAt": "2024-05-01T10:00:02Z"},
 {"type": "screen", "name": "Cart", "userId": 42, "sentAt": "2024-05-01T10:00:09Z"},
 {"type": "identify", "userId": "u1", "anonymousId": "a2", "traits": {"plan": "pro", "email": "x@y"}, "timestamp": 1714557600000},
 {"type": "alias", "userId": "u1", "previousId": "old-1", "timestamp": "2024-05-01T10:00:00Z"},
 {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"name": "ACME"}, "timestamp": "2024-05-01T10:00:00Z"},
 {"type": "track", "event": "Order Completed", "messageId": "m2", "timestamp": "yesterday", "properties": {"revenue": "n/a"}},
 {"type": "launch"},
 "text"]}', spec => 'segment');
SELECT * FROM pulse.collect_batch('regress_es', '{"batch": [{"type": "track", "event": "Order Completed", "anonymousId": "a3", "messageId": "m3", "receivedAt": "2024-05-01T12:00:00Z"}]}
{"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m4", "timestamp": "2024-05-01T13:00:00Z"}', spec => 'segment');
SELECT CASE WHEN _time = _shard_time THEN 'arrival' ELSE _time::text END AS _time, _user, _id, anonymous_id, revenue, sku, context_ip, context_user_agent, context_page_url, context_locale,
       context_campaign_source, context_campaign_medium, context->>'locale' AS ctx
  FROM regress_es.order_completed ORDER BY _id;
SELECT _time, _user, name, path FROM regress_es.pages;
SELECT _time, _user, name FROM regress_es.screens;
SELECT _time, _user, plan, email FROM regress_es.identifies;
SELECT _user, previous_id FROM regress_es.aliases;
SELECT _user, group_id, name FROM regress_es.groups;
SELECT distinct_id, person_id FROM regress_es._person_ids ORDER BY 1;
SELECT _person, plan, email, _identified FROM regress_es._persons;
SELECT collection, field, raw_name, raw_value, expected_type, reason, event_id FROM pulse.rejected_fields
 WHERE project = 'regress_es' ORDER BY id;
SELECT collection, error, convert_from(payload, 'UTF8') AS payload FROM pulse.dead_letters
 WHERE project = 'regress_es' ORDER BY id;

-- collect with a spec: the collection may be left to the spec
SELECT stored FROM pulse.collect('regress_es', NULL, '{"type": "track", "event": "Signed Up", "userId": "u3", "timestamp": "2024-05-02T00:00:00Z"}', 'Segment');
SELECT _user FROM regress_es.signed_up;
-- a fixed collection wins over the spec's
SELECT stored FROM pulse.collect('regress_es', 'all_calls', '{"type": "page", "userId": "u3", "timestamp": "2024-05-02T00:00:00Z"}', 'segment');
SELECT _user FROM regress_es.all_calls;

-- PostHog: $ prefixes dropped, $set / $set_once to the person, $identify and $create_alias link
SELECT * FROM pulse.collect_batch('regress_es', '[
 {"event": "$pageview", "distinct_id": "ph1", "timestamp": "2024-05-03T10:00:00Z", "uuid": "e1", "properties": {"$current_url": "/a", "$set": {"plan": "free"}, "$set_once": {"first_url": "/a"}}},
 {"event": "$pageview", "distinct_id": "ph1", "timestamp": "2024-05-03T10:01:00Z", "uuid": "e2", "properties": {"$current_url": "/b", "$set_once": {"first_url": "/b"}}},
 {"event": "$identify", "distinct_id": "ph-user", "properties": {"$anon_distinct_id": "ph1"}, "$set": {"email": "p@h"}},
 {"event": "$create_alias", "distinct_id": "ph-user", "properties": {"alias": "ph-alias"}},
 {"event": "purchase", "properties": {"distinct_id": "ph-user", "amount": 5}, "timestamp": 1714730400000}]', spec => 'posthog');
SELECT _time, _user, _id, current_url FROM regress_es.pageview ORDER BY _id;
SELECT _time, _user, amount FROM regress_es.purchase;
SELECT distinct_id, person_id FROM regress_es._person_ids WHERE person_id LIKE 'ph%' ORDER BY 1;
SELECT _person, plan, first_url, email FROM regress_es._persons WHERE _person LIKE 'ph%';

-- two identified persons are not merged by events: noted, not raised
SELECT stored, rejected_fields FROM pulse.collect('regress_es', NULL, '{"type": "identify", "userId": "u9", "anonymousId": "u1"}', 'segment');
SELECT stored, rejected_fields FROM pulse.collect('regress_es', NULL, '{"type": "identify", "userId": "u1", "anonymousId": "old-9"}', 'segment');
SELECT stored, rejected_fields FROM pulse.collect('regress_es', NULL, '{"type": "identify", "userId": "u9", "anonymousId": "old-9"}', 'segment');
SELECT field, raw_value, reason FROM pulse.rejected_fields WHERE project = 'regress_es' AND reason LIKE 'not linked%';

-- a paths spec; the project's default spec
SELECT stored FROM pulse.collect('regress_es', 'custom', '{"meta": {"ts": 1714557600000, "id": 5}, "actor": {"id": "c1"}, "v": 1}',
                                 '{"time": "meta.ts", "user": "actor.id", "id": "meta.id"}');
SELECT pulse.set_event_spec('regress_es', '{"user": "actor.id"}');
SELECT stored FROM pulse.collect('regress_es', 'custom', '{"actor": {"id": "c2"}, "v": 2}');
SELECT stored FROM pulse.collect('regress_es', 'custom', '{"_user": "c3", "v": 3}', 'pulse');
SELECT _time = '2024-05-01 10:00:00+00' AS from_meta, _user, _id, v FROM regress_es.custom ORDER BY v;
SELECT pulse.set_event_spec('regress_es', NULL);

-- pulse.max_event_bytes applies to a call once mapped (its context is also copied into columns):
-- the call of under 300 bytes grows past them and is a dead letter holding the call as sent
SET pulse.max_event_bytes = 300;
SELECT stored, dead_lettered FROM pulse.collect_batch('regress_es',
  '{"type": "track", "event": "Big", "userId": "b1", "context": {"ip": "' || repeat('1', 90) || '", "userAgent": "' || repeat('u', 90) || '"}}',
  spec => 'segment');
RESET pulse.max_event_bytes;
SELECT error, length(convert_from(payload, 'UTF8')) AS payload_bytes FROM pulse.dead_letters
 WHERE project = 'regress_es' AND error LIKE '%mapped to pg_pulse%';

-- invalid specs
SELECT pulse.collect('regress_es', 'x', '{}', 'mixpanel');
SELECT pulse.collect('regress_es', 'x', '{}', '{"when": "a"}');
SELECT pulse.collect('regress_es', NULL, '{}');
SELECT pulse.set_event_spec('regress_es', '{"time": ""}');

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_es', force => true);
RESET client_min_messages;
DROP EXTENSION pg_pulse;
