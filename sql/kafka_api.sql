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

-- a valid subscription is stored (this database has no launcher: nothing consumes it)
SELECT pulse.kafka_subscribe('regress_k', ARRAY['t1', 't2'], '127.0.0.1:1', format => 'avro',
         options => json_build_object('avro.schema_id', :id, 'session.timeout.ms', '6000')::jsonb,
         parallelism => 2) AS sub \gset
SELECT project, topics, format, collection, batch_size, batch_timeout, parallelism, paused FROM pulse.kafka_subscriptions WHERE id = :sub;
SELECT pulse.kafka_pause(:sub);
SELECT paused FROM pulse.kafka_subscriptions WHERE id = :sub;
SELECT pulse.kafka_resume(:sub);
SELECT paused FROM pulse.kafka_subscriptions WHERE id = :sub;
SELECT subscription_id = :sub AS listed, topic, stored_offset, lag, workers_running FROM pulse.kafka_status WHERE subscription_id = :sub;
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
