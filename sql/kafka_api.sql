-- The SQL API of Kafka subscriptions and Avro schemas: validation and privileges. (Consumption
-- itself is tested end to end by test/integration/kafka_*.sh.)
CREATE EXTENSION IF NOT EXISTS pg_pulse;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pulse.create_project('regress_k');

SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('nope', ARRAY['t'], 'localhost:9092')$$);
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY[]::text[], 'localhost:9092')$$);
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY['t', ''], 'localhost:9092')$$);
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY['t'], '')$$);
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY['t'], 'localhost:9092', format => 'xml')$$);
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY['t'], 'localhost:9092', collection => 'pg_x')$$);
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY['t'], 'localhost:9092', options => '[1]')$$);
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY['t'], 'localhost:9092', format => 'avro')$$);
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY['t'], 'localhost:9092', batch_size => 0)$$);
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY['t'], 'localhost:9092', batch_timeout => '2 minutes')$$);
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY['t'], 'localhost:9092', parallelism => 17)$$);
SELECT pg_temp.err($$SELECT pulse.kafka_pause(-1)$$);
SELECT pg_temp.err($$SELECT pulse.kafka_unsubscribe(-1)$$);

-- Avro schemas
SELECT pg_temp.err($$SELECT pulse.register_avro_schema('s', 'not json')$$);
SELECT pg_temp.err($$SELECT pulse.register_avro_schema('s', '"long"')$$);
SELECT pulse.register_avro_schema('ev-value', '{"type": "record", "name": "ev", "fields": [{"name": "a", "type": "long"}]}') AS id \gset
SELECT pulse.register_avro_schema('ev-value', '{"type": "record", "name": "ev", "fields": [{"name": "a", "type": "long"}]}') = :id AS same_id;
SELECT subject, schema FROM pulse.avro_schemas WHERE id = :id;

-- schemas are one per subject and canonical form: another spelling of the same schema (spaces,
-- attribute order, doc) is the same schema; real schemas with docs are large (here 50 KB)
SELECT pulse.register_avro_schema('ev-value', '{"fields": [{"type": "long", "name": "a", "doc": "the a"}], "name": "ev",  "type": "record"}') = :id AS same_id_other_spelling;
SELECT pulse.register_avro_schema('other-value', '{"type": "record", "name": "ev", "fields": [{"name": "a", "type": "long"}]}') <> :id AS other_subject_other_id;
SELECT pulse.register_avro_schema('big-value', json_build_object('type', 'record', 'name', 'big', 'doc', repeat('A long description. ', 200),
         'fields', (SELECT json_agg(json_build_object('name', 'field_' || k, 'type', json_build_array('null', 'string'), 'doc', repeat('d', 120)) ORDER BY k) FROM generate_series(1, 300) k))::text) > 0 AS big_schema_registered;
SELECT length(schema) > 50000 AS over_50kb, length(fingerprint) FROM pulse.avro_schemas WHERE subject = 'big-value';
-- schemas that would ask for unbounded work are refused at once
SELECT pg_temp.err($$SELECT pulse.register_avro_schema('huge', '{"type": "record", "name": "r", "fields": [{"name": "a", "type": {"type": "fixed", "name": "f", "size": 2147483647}}, {"name": "b", "type": "f"}]}')$$);
SELECT pg_temp.err($$SELECT pulse.register_avro_schema('prec', '{"type": "record", "name": "r", "fields": [{"name": "a", "type": {"type": "bytes", "logicalType": "decimal", "precision": 5000, "scale": 2}}]}')$$);

-- a valid subscription is stored (its worker fails to connect: nothing listens on port 1)
SELECT pulse.kafka_subscribe('regress_k', ARRAY['t1', 't2'], '127.0.0.1:1', format => 'avro',
         options => json_build_object('avro.schema_id', :id, 'session.timeout.ms', '6000')::jsonb,
         parallelism => 2) AS sub \gset
SELECT project, topics, format, collection, batch_size, batch_timeout, parallelism, paused FROM pulse.kafka_subscriptions WHERE id = :sub;
SELECT pulse.kafka_pause(:sub);
SELECT paused FROM pulse.kafka_subscriptions WHERE id = :sub;
SELECT pulse.kafka_resume(:sub);
SELECT paused FROM pulse.kafka_subscriptions WHERE id = :sub;
SELECT subscription_id = :sub AS listed, topic, stored_offset FROM pulse.kafka_status WHERE subscription_id = :sub;
SELECT pulse.kafka_unsubscribe(:sub);
SELECT count(*) FROM pulse.kafka_subscriptions WHERE id = :sub;

-- an Avro schema for a collection, for producers
SELECT pulse.create_collection('regress_k', 'orders', '{"price": "numeric(10,2)", "qty": "integer", "tags": "text[]", "paid": "boolean", "at": "timestamptz", "meta": "jsonb"}');
SELECT jsonb_pretty(pulse.avro_schema('regress_k', 'orders')::jsonb);
SELECT pg_temp.err($$SELECT pulse.avro_schema('regress_k', 'nope')$$);

-- privileges: only superusers and pulse_admin manage subscriptions and schemas
CREATE ROLE regress_k_user;
GRANT regress_k_writer TO regress_k_user;
SET ROLE regress_k_user;
SELECT pg_temp.err($$SELECT pulse.kafka_subscribe('regress_k', ARRAY['t'], 'localhost:9092')$$);
SELECT pg_temp.err($$SELECT pulse.register_avro_schema('x', '{"type": "record", "name": "r", "fields": []}')$$);
SELECT pg_temp.err($$SELECT pulse.kafka_pause(1)$$);
RESET ROLE;
DROP ROLE regress_k_user;
SET client_min_messages = warning;
SELECT pulse.drop_project('regress_k', force => true);
