-- Projects, collections and SQL ingestion: type inference, schema evolution, rejected fields,
-- dead letters, limits, dedup, replay.
CREATE EXTENSION pg_pulse;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.cols(t text) RETURNS TABLE(name text, type text) LANGUAGE sql AS $$
  SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
   WHERE attrelid = t::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum $$;

-- project names
SELECT pg_temp.err($$SELECT pulse.create_project('Bad-Name')$$);
SELECT pg_temp.err($$SELECT pulse.create_project('public')$$);
SELECT pg_temp.err($$SELECT pulse.create_project('pg_x')$$);
SELECT pg_temp.err($$SELECT pulse.create_project('1abc')$$);
SELECT pg_temp.err($$SELECT pulse.create_project(repeat('a', 57))$$);
SELECT pg_temp.err($$SELECT pulse.create_project('_pulse_x')$$);
-- a project's internal schema _pulse_<name> (its views' hidden objects) must be free too
CREATE SCHEMA _pulse_regress_taken;
SELECT pg_temp.err($$SELECT pulse.create_project('regress_taken')$$);
SELECT count(*) AS nothing_created FROM pg_roles WHERE rolname LIKE 'regress\_taken\_%';
DROP SCHEMA _pulse_regress_taken;
-- the longest name: its internal schema has 63 bytes, Postgres' limit
SELECT pulse.create_project(repeat('p', 56));
SELECT nspname = '_pulse_' || repeat('p', 56) AS internal_schema, octet_length(nspname)
  FROM pg_namespace WHERE nspname LIKE '\_pulse\_ppp%';
SELECT pulse.drop_project(repeat('p', 56));
SELECT count(*) AS schemas_left FROM pg_namespace WHERE nspname LIKE '%pppp';
SELECT pulse.create_project('regress_shop');
SELECT pg_temp.err($$SELECT pulse.create_project('regress_shop')$$);
SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress_shop_%' ORDER BY 1;
SELECT pg_temp.err($$SELECT pulse.collect('nope', 'x', '{}')$$);
SELECT pg_temp.err($$SELECT pulse.collect('regress_shop', 'pg_x', '{}')$$);
SELECT pg_temp.err($$SELECT pulse.collect('regress_shop', '_hidden', '{}')$$);

-- first event creates the collection; types are inferred
SELECT * FROM pulse.collect('regress_shop', 'pageview',
  '{"url": "/a", "userId": 42, "price": 9.5, "ok": true, "_time": "2024-01-01T10:00:00+02:00", "_user": "u1",
    "tags": ["a", "b"], "scores": [1, 2.5], "meta": {"k": 1}, "seen": "2024-01-02T03:04:05Z", "day": "2024-02-29",
    "mixed": [1, "a"], "nothing": null, "x\"; DROP TABLE y; --": 1, "1st": "one", "pageURL": "u"}');
SELECT * FROM pg_temp.cols('regress_shop.pageview');
SELECT relname, amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
 WHERE i.indrelid = 'regress_shop.pageview'::regclass ORDER BY 1;
SELECT _time, _user, _id, url, user_id, price, ok, tags, scores, meta, seen, day, mixed, x___drop_table_y____, _1st, page_url
  FROM regress_shop.pageview;

-- values that do not fit: the event is stored, the field is rejected
SELECT * FROM pulse.collect('regress_shop', 'pageview',
  '{"url": 7, "price": "abc", "ok": "maybe", "day": "2024-13-01", "tags": "notarray", "_id": "e2", "_user": 7,
    "_shard_time": "2020-01-01T00:00:00Z", "_shard_xid": 1, "newcol": true, "userId": "12.5"}');
SELECT url, price, ok, day, tags, _id, _user, newcol, user_id FROM regress_shop.pageview WHERE _id = 'e2';
SELECT field, raw_name, raw_value, expected_type, reason, event_id, event_user
  FROM pulse.rejected_fields ORDER BY id;
-- numbers in strings fit numeric columns, epoch milliseconds fit timestamptz
SELECT * FROM pulse.collect('regress_shop', 'pageview', '{"price": "19.99", "seen": 1704067200000, "_time": 1704067200123, "_id": "e3"}');
SELECT _time, price, seen FROM regress_shop.pageview WHERE _id = 'e3';

-- events that cannot be stored go whole to dead_letters
SELECT * FROM pulse.collect('regress_shop', 'pageview', '[1, 2]');
SELECT * FROM pulse.collect('regress_shop', 'pageview', '{"_time": "yesterday"}');
SELECT * FROM pulse.collect('regress_shop', 'pageview', '{"_time": true}');
SELECT * FROM pulse.collect('regress_shop', 'pageview', '{"_user": {"id": 1}}');
SELECT * FROM pulse.collect('regress_shop', 'pageview', '{"_id": [1]}');
SELECT collection, convert_from(payload, 'UTF8') AS payload, error, source FROM pulse.dead_letters ORDER BY id;

-- collect_batch: NDJSON with a fixed collection, bad lines isolated
SELECT * FROM pulse.collect_batch('regress_shop', E'{"url": "/b"}\n\n{not json\n{"url": "/c", "extra": 1}\r\n"str"\n', 'pageview');
-- JSON array of envelopes routed per event; collection names normalised
SELECT * FROM pulse.collect_batch('regress_shop',
  '[{"collection": "SignUp", "properties": {"plan": "pro", "_user": "u1"}},
    {"collection": "signup", "properties": {"plan": "free", "_user": "u2"}},
    {"collection": "pg_bad", "properties": {"a": 1}},
    {"collection": "click"},
    {"properties": {"a": 1}},
    {"collection": "click", "properties": {"button": "buy"}}]');
SELECT _user, plan FROM regress_shop.sign_up ORDER BY _user;
SELECT button FROM regress_shop.click;
-- a malformed array keeps the whole payload
SELECT * FROM pulse.collect_batch('regress_shop', '[{"a": 1}, {"b": ', 'pageview');
SELECT collection, convert_from(payload, 'UTF8') AS payload, error FROM pulse.dead_letters WHERE id > 5 ORDER BY id;
SELECT pg_temp.err($$SELECT pulse.collect_batch('regress_shop', NULL)$$);

-- the same field under two spellings in one event
SELECT * FROM pulse.collect('regress_shop', 'pageview', '{"user_id": 1, "userId": 2, "_id": "e4"}');
SELECT user_id FROM regress_shop.pageview WHERE _id = 'e4';
SELECT raw_name, reason FROM pulse.rejected_fields WHERE event_id = 'e4';

-- declared collections, dedup
SELECT pulse.create_collection('regress_shop', 'orders', '{"price": "numeric(10,2)", "sku": "varchar(5)", "qty": "int"}', dedup => true);
SELECT * FROM pg_temp.cols('regress_shop.orders');
SELECT * FROM pulse.collect_batch('regress_shop', E'{"_id": "o1", "price": 10.005, "sku": "abc", "qty": 2}\n{"_id": "o1", "price": 11}\n{"_id": "o2", "sku": "toolong", "qty": 3.5}\n{"_id": 3, "qty": 99999999999}', 'orders');
SELECT * FROM pulse.collect('regress_shop', 'orders', '{"_id": "o1", "price": 12}');
SELECT _id, price, sku, qty FROM regress_shop.orders ORDER BY _id;
SELECT field, raw_value, expected_type, reason FROM pulse.rejected_fields WHERE collection = 'orders' ORDER BY id;
SELECT pg_temp.err($$SELECT pulse.create_collection('regress_shop', 'orders')$$);
SELECT pg_temp.err($$SELECT pulse.create_collection('regress_shop', 'o2', '{"a": "no_such_type"}')$$);
SELECT pg_temp.err($$SELECT pulse.create_collection('regress_shop', 'o2', '{"_x": "text"}')$$);
SELECT pg_temp.err($$SELECT pulse.create_collection('regress_shop', 'o2', '[1]')$$);

-- limits: fields beyond pulse.max_fields_per_collection and events over pulse.max_event_bytes
SET pulse.max_fields_per_collection = 2;
SELECT * FROM pulse.collect('regress_shop', 'small', '{"a": 1, "b": 2, "c": 3, "d": null}');
SELECT * FROM pg_temp.cols('regress_shop.small');
SELECT field, raw_value, reason FROM pulse.rejected_fields WHERE collection = 'small';
RESET pulse.max_fields_per_collection;
SET pulse.max_event_bytes = 100;
SELECT * FROM pulse.collect('regress_shop', 'big', json_build_object('a', repeat('x', 200))::jsonb);
SELECT * FROM pulse.collect_batch('regress_shop', json_build_array(json_build_object('a', repeat('y', 200)), json_build_object('a', 'short'))::text, 'big');
SELECT * FROM pulse.collect_batch('regress_shop', json_build_object('a', repeat('z', 200))::text || E'\n{"a": "s2"}', 'big');
SELECT error FROM pulse.dead_letters WHERE collection = 'big' ORDER BY id;
RESET pulse.max_event_bytes;
-- replay after the fix: stored now, gone from dead_letters
SELECT * FROM pulse.replay_dead_letters('regress_shop', 'big');
SELECT left(a, 3), length(a) FROM regress_shop.big ORDER BY 1;
SELECT count(*) FROM pulse.dead_letters WHERE collection = 'big';
-- replaying what is still broken keeps it, with the new error
SELECT * FROM pulse.replay_dead_letters('regress_shop', NULL, ARRAY(SELECT id FROM pulse.dead_letters WHERE error LIKE 'invalid _time%'));
SELECT count(*), min(source) LIKE 'replay of dead letter %' FROM pulse.dead_letters WHERE error LIKE 'invalid _time%';
-- a letter whose payload is not UTF-8 text (a binary Kafka message) is left as it is, with its
-- reason; the others of the call are replayed
INSERT INTO pulse.dead_letters (project, collection, payload, error, source)
VALUES ('regress_shop', 'bin', '\xff00c3'::bytea, 'not an Avro record', 'kafka:t/0/1'),
       ('regress_shop', 'bin', convert_to('{"x": 1}', 'UTF8'), 'fixed since', 'sql:test');
SELECT stored, dead_lettered FROM pulse.replay_dead_letters('regress_shop', 'bin');
SELECT error, encode(payload, 'hex') AS payload FROM pulse.dead_letters WHERE collection = 'bin';
SELECT x FROM regress_shop.bin;

-- arrival time: _shard_time is the transaction start, _shard_xid the top-level transaction
BEGIN;
SAVEPOINT s;
SELECT stored FROM pulse.collect('regress_shop', 'arrivals', '{"a": 1}');
SELECT _shard_time = now() AS shard_time_is_now, _time = now() AS time_defaults_to_arrival,
       _shard_xid = pg_current_xact_id() AS top_level_xid FROM regress_shop.arrivals;
COMMIT;

-- types pg_pulse does not check itself: Postgres' input functions decide, per field
SELECT pulse.create_collection('regress_shop', 'hosts', '{"amount": "numeric(5,2)", "ip": "inet", "mood": "regress_mood"}');
CREATE TYPE regress_shop.regress_mood AS ENUM ('happy', 'sad');
SELECT pulse.create_collection('regress_shop', 'hosts2', '{"amount": "numeric(5,2)", "ip": "inet", "mood": "regress_shop.regress_mood"}');
SELECT * FROM pulse.collect_batch('regress_shop', E'{"_id": "h1", "amount": 12345.6, "ip": "not-an-ip", "mood": "angry"}\n{"_id": "h2", "amount": 1.5, "ip": "10.0.0.1", "mood": "sad"}', 'hosts2');
SELECT _id, amount, ip, mood FROM regress_shop.hosts2 ORDER BY _id;
SELECT field, raw_value, expected_type, reason FROM pulse.rejected_fields WHERE collection = 'hosts2' ORDER BY id;

-- fields named like Postgres' system columns become harmless columns, in every door
SELECT * FROM pulse.collect('regress_shop', 'sys', '{"xmin": 1, "ctid": "a", "tableoid": true, "cmax": 2}');
SELECT * FROM pulse.collect_batch('regress_shop', E'{"xmax": 3, "cmin": "b"}\n{"xmin": 4}', 'sys');
SELECT pulse.create_collection('regress_shop', 'sys2', '{"xmin": "int", "ctid": "text"}');
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid IN ('regress_shop.sys'::regclass, 'regress_shop.sys2'::regclass) AND attnum > 5
 ORDER BY attrelid, attnum;
SELECT xmin_, ctid_, tableoid_, cmax_, xmax_, cmin_ FROM regress_shop.sys ORDER BY xmin_;

-- a number a double cannot hold is a rejected field, never a silent 0
SELECT * FROM pulse.collect_batch('regress_shop', E'{"tiny": 1e-400, "t2": 1e-400}\n{"tiny": 5}', 'nums');
SELECT pulse.create_collection('regress_shop', 'nums2', '{"tiny": "numeric"}');
SELECT * FROM pulse.collect('regress_shop', 'nums2', '{"tiny": 1e-400}');
SELECT tiny, t2 FROM regress_shop.nums ORDER BY tiny NULLS FIRST;
SELECT tiny = 1e-400 AS exact FROM regress_shop.nums2;
SELECT field, raw_value, expected_type, reason FROM pulse.rejected_fields WHERE collection = 'nums' ORDER BY id;

-- one event that makes the schema change fail (simulated with a test hook) is isolated: the
-- other 99 are stored, it becomes a dead letter
SET pulse.debug_fail_column = 'poison';
SELECT * FROM pulse.collect_batch('regress_shop', (SELECT string_agg(CASE WHEN k = 37 THEN '{"a": 1, "poison": 2}' ELSE format('{"a": %s, "b%s": 1}', k, k % 3) END, E'\n') FROM generate_series(1, 100) k), 'iso');
RESET pulse.debug_fail_column;
SELECT count(*) FROM regress_shop.iso;
SELECT collection, convert_from(payload, 'UTF8') AS payload, error FROM pulse.dead_letters WHERE collection = 'iso';
-- an envelope naming a relation that is not a collection (a view) dead-letters its events only
SELECT pulse.create_view('regress_shop', 'iso_count', 'SELECT count(*) AS n FROM iso');
SELECT * FROM pulse.collect_batch('regress_shop', '[{"collection": "iso_count", "properties": {"a": 1}}, {"collection": "iso", "properties": {"a": 2}}]');
SELECT collection, error FROM pulse.dead_letters WHERE collection = 'iso_count';
SELECT pulse.drop_view('regress_shop', 'iso_count');

-- the catalog view
SELECT project, collection, columns, last_event_time IS NOT NULL AS has_events, dedup
  FROM pulse.collections ORDER BY collection;

-- dropping
SELECT pg_temp.err($$SELECT pulse.drop_project('regress_shop')$$);
SET client_min_messages = warning;
SELECT pulse.drop_project('regress_shop', force => true);
RESET client_min_messages;
SELECT count(*) FROM pg_namespace WHERE nspname = 'regress_shop';
SELECT count(*) FROM pg_roles WHERE rolname LIKE 'regress_shop_%';
SELECT count(*) FROM pulse.dead_letters;
SELECT pg_temp.err($$SELECT pulse.drop_project('regress_shop')$$);
