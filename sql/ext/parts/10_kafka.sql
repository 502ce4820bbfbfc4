
-- pg_pulse 0.1.0, part 10: Kafka subscriptions (consumed by background workers).
CREATE TABLE pulse.avro_schemas (
  id         serial PRIMARY KEY,
  subject    text NOT NULL,
  schema     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (subject, schema)
);

CREATE TABLE pulse.kafka_subscriptions (
  id            bigserial PRIMARY KEY,
  project       text NOT NULL REFERENCES pulse.projects(name) ON DELETE CASCADE,
  topics        text[] NOT NULL,
  brokers       text NOT NULL,
  format        text NOT NULL CHECK (format IN ('json', 'avro', 'avro-confluent')),
  collection    text,
  group_id      text,
  options       jsonb NOT NULL DEFAULT '{}',
  batch_size    integer NOT NULL,
  batch_timeout interval NOT NULL,
  parallelism   integer NOT NULL,
  paused        boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  -- the role that created (or last altered) the subscription: its privileges decide which
  -- librdkafka settings the workers accept
  owner         name NOT NULL
);

-- The next offset to read per partition: written in the same transaction as the rows.
CREATE TABLE pulse.kafka_offsets (
  subscription_id bigint NOT NULL REFERENCES pulse.kafka_subscriptions(id) ON DELETE CASCADE,
  topic           text NOT NULL,
  partition       integer NOT NULL,
  next_offset     bigint NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subscription_id, topic, partition)
);

SELECT pg_catalog.pg_extension_config_dump('pulse.avro_schemas', '');
SELECT pg_catalog.pg_extension_config_dump('pulse.avro_schemas_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pulse.kafka_subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('pulse.kafka_subscriptions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pulse.kafka_offsets', '');

CREATE FUNCTION pulse._kafka_require_preload() RETURNS void
  LANGUAGE c AS 'MODULE_PATHNAME', 'pulse_kafka_require_preload';
CREATE FUNCTION pulse._kafka_wake() RETURNS void
  LANGUAGE c AS 'MODULE_PATHNAME', 'pulse_kafka_wake';
CREATE FUNCTION pulse._avro_schema_problem(schema text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'pulse_avro_schema_problem';
CREATE FUNCTION pulse._kafka_worker_status(
    OUT subscription_id bigint, OUT worker_index int, OUT pid int, OUT topic text, OUT partition int,
    OUT stored_offset bigint, OUT high_watermark bigint, OUT events_per_second double precision,
    OUT last_error text, OUT last_error_at timestamptz, OUT last_batch_at timestamptz)
  RETURNS SETOF record LANGUAGE c AS 'MODULE_PATHNAME', 'pulse_kafka_worker_status';

CREATE FUNCTION pulse.avro_schema(project text, collection text) RETURNS text
  LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'pulse_avro_schema';

CREATE FUNCTION pulse._require_admin(what text) RETURNS void
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pulse, pg_temp AS $$
BEGIN
  IF NOT pulse._is_admin() THEN
    RAISE EXCEPTION 'permission denied to %', what USING ERRCODE = '42501',
      HINT = 'Kafka subscriptions name brokers and client settings (files, credentials): superusers and members of pulse_admin manage them.';
  END IF;
END $$;

CREATE FUNCTION pulse.register_avro_schema(subject text, schema text) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE problem text; sid integer;
BEGIN
  PERFORM pulse._require_admin('register Avro schemas');
  IF subject IS NULL OR schema IS NULL THEN
    RAISE EXCEPTION 'subject and schema must not be null' USING ERRCODE = '22004';
  END IF;
  problem := pulse._avro_schema_problem(schema);
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'invalid Avro schema: %', regexp_replace(problem, '^invalid Avro schema: ', '') USING ERRCODE = '22P02',
      HINT = 'The top-level schema must be an Avro record.';
  END IF;
  INSERT INTO pulse.avro_schemas(subject, schema) VALUES (subject, schema)
    ON CONFLICT ON CONSTRAINT avro_schemas_subject_schema_key DO UPDATE SET subject = EXCLUDED.subject
    RETURNING id INTO sid;
  RETURN sid;
END $$;

CREATE FUNCTION pulse._kafka_check_settings(brokers text, options jsonb) RETURNS void
  LANGUAGE c AS 'MODULE_PATHNAME', 'pulse_kafka_check_settings';
CREATE FUNCTION pulse._kafka_restart(id bigint) RETURNS void
  LANGUAGE c AS 'MODULE_PATHNAME', 'pulse_kafka_restart';

-- Validates the arguments of kafka_subscribe / kafka_alter (22023 naming what is wrong; 42501
-- for librdkafka settings the caller may not use).
CREATE FUNCTION pulse._kafka_validate(topics text[], brokers text, format text, collection text, options jsonb,
                                      batch_size integer, batch_timeout interval, parallelism integer)
  RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  problem text;
BEGIN
  IF topics IS NULL OR cardinality(topics) = 0 OR EXISTS (SELECT FROM unnest(topics) t WHERE t IS NULL OR t = '') THEN
    RAISE EXCEPTION 'topics must name at least one topic' USING ERRCODE = '22023';
  END IF;
  IF brokers IS NULL OR brokers = '' THEN
    RAISE EXCEPTION 'brokers must not be empty' USING ERRCODE = '22023', HINT = 'Example: ''kafka1:9092,kafka2:9092''';
  END IF;
  IF format IS NULL OR format NOT IN ('json', 'avro', 'avro-confluent') THEN
    RAISE EXCEPTION 'unknown format "%"', format USING ERRCODE = '22023', HINT = 'Use json, avro or avro-confluent.';
  END IF;
  IF collection IS NOT NULL THEN
    problem := pulse._name_problem('collection', collection);
    IF problem IS NOT NULL THEN
      RAISE EXCEPTION 'invalid collection name "%": %', collection, problem USING ERRCODE = '42602';
    END IF;
  END IF;
  IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
    RAISE EXCEPTION 'options must be a JSON object of librdkafka settings' USING ERRCODE = '22023';
  END IF;
  PERFORM pulse._kafka_check_settings(brokers, options);
  IF format = 'avro' AND NOT EXISTS (SELECT FROM pulse.avro_schemas s
                                     WHERE s.id::text = options->>'avro.schema_id') THEN
    RAISE EXCEPTION 'format avro needs the writer schema: options "avro.schema_id"' USING ERRCODE = '22023',
      HINT = 'Register it with pulse.register_avro_schema(subject, schema) and pass options => ''{"avro.schema_id": <id>}''.';
  END IF;
  IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000000 THEN
    RAISE EXCEPTION 'batch_size must be between 1 and 1000000' USING ERRCODE = '22023';
  END IF;
  IF batch_timeout IS NULL OR batch_timeout < interval '1 ms' OR batch_timeout > interval '1 minute' THEN
    RAISE EXCEPTION 'batch_timeout must be between 1 ms and 1 minute' USING ERRCODE = '22023';
  END IF;
  IF parallelism IS NULL OR parallelism < 1 OR parallelism > 16 THEN
    RAISE EXCEPTION 'parallelism must be between 1 and 16' USING ERRCODE = '22023';
  END IF;
END $$;

CREATE FUNCTION pulse.kafka_subscribe(project text, topics text[], brokers text, format text DEFAULT 'json',
    collection text DEFAULT NULL, group_id text DEFAULT NULL, options jsonb DEFAULT '{}',
    batch_size integer DEFAULT 10000, batch_timeout interval DEFAULT '200 ms', parallelism integer DEFAULT 1)
  RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  c text := lower(collection);
  sid bigint;
BEGIN
  PERFORM pulse._kafka_require_preload();
  PERFORM pulse._require_admin('subscribe to Kafka topics');
  IF NOT EXISTS (SELECT FROM pulse.projects WHERE name = p) THEN
    RAISE EXCEPTION 'project "%" does not exist', p USING ERRCODE = '42704';
  END IF;
  PERFORM pulse._kafka_validate(topics, brokers, format, c, options, batch_size, batch_timeout, parallelism);
  INSERT INTO pulse.kafka_subscriptions(project, topics, brokers, format, collection, group_id, options,
                                        batch_size, batch_timeout, parallelism, owner)
    VALUES (p, topics, brokers, format, c, group_id, options, batch_size, batch_timeout, parallelism, pulse._caller())
    RETURNING id INTO sid;
  PERFORM pulse._kafka_wake();
  RETURN sid;
END $$;

-- Changes a subscription's connection settings (NULL: keep); its workers restart with them and
-- resume from the stored offsets. The caller becomes the subscription's owner.
CREATE FUNCTION pulse.kafka_alter(id bigint, brokers text DEFAULT NULL, options jsonb DEFAULT NULL,
    batch_size integer DEFAULT NULL, batch_timeout interval DEFAULT NULL, parallelism integer DEFAULT NULL)
  RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  s pulse.kafka_subscriptions;
BEGIN
  PERFORM pulse._require_admin('alter Kafka subscriptions');
  SELECT * INTO s FROM pulse.kafka_subscriptions k WHERE k.id = kafka_alter.id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'Kafka subscription % does not exist', id USING ERRCODE = '42704';
  END IF;
  s.brokers := coalesce(kafka_alter.brokers, s.brokers);
  s.options := coalesce(kafka_alter.options, s.options);
  s.batch_size := coalesce(kafka_alter.batch_size, s.batch_size);
  s.batch_timeout := coalesce(kafka_alter.batch_timeout, s.batch_timeout);
  s.parallelism := coalesce(kafka_alter.parallelism, s.parallelism);
  PERFORM pulse._kafka_validate(s.topics, s.brokers, s.format, s.collection, s.options, s.batch_size,
                                s.batch_timeout, s.parallelism);
  UPDATE pulse.kafka_subscriptions k
     SET brokers = s.brokers, options = s.options, batch_size = s.batch_size, batch_timeout = s.batch_timeout,
         parallelism = s.parallelism, owner = pulse._caller()
   WHERE k.id = s.id;
  PERFORM pulse._kafka_restart(s.id);
  RETURN true;
END $$;

CREATE FUNCTION pulse._kafka_set(id bigint, what text) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
BEGIN
  PERFORM pulse._require_admin(what || ' Kafka subscriptions');
  IF what = 'unsubscribe' THEN
    DELETE FROM pulse.kafka_subscriptions s WHERE s.id = _kafka_set.id;
  ELSE
    UPDATE pulse.kafka_subscriptions s SET paused = (what = 'pause') WHERE s.id = _kafka_set.id;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'Kafka subscription % does not exist', id USING ERRCODE = '42704';
  END IF;
  PERFORM pulse._kafka_wake();
  RETURN true;
END $$;

CREATE FUNCTION pulse.kafka_unsubscribe(id bigint) RETURNS boolean
  LANGUAGE sql SET search_path = pg_catalog, pulse, pg_temp AS $$ SELECT pulse._kafka_set(id, 'unsubscribe') $$;
CREATE FUNCTION pulse.kafka_pause(id bigint) RETURNS boolean
  LANGUAGE sql SET search_path = pg_catalog, pulse, pg_temp AS $$ SELECT pulse._kafka_set(id, 'pause') $$;
CREATE FUNCTION pulse.kafka_resume(id bigint) RETURNS boolean
  LANGUAGE sql SET search_path = pg_catalog, pulse, pg_temp AS $$ SELECT pulse._kafka_set(id, 'resume') $$;

-- Per subscription and partition: stored offset, high watermark, lag, events/s over the last
-- minute, last error and last batch time. Partitions not consumed yet show NULL progress.
CREATE VIEW pulse.kafka_status AS
SELECT s.id AS subscription_id,
       s.project,
       s.paused,
       o.topic,
       o.partition,
       o.next_offset AS stored_offset,
       w.high_watermark,
       greatest(w.high_watermark - o.next_offset, 0) AS lag,
       coalesce(w.events_per_second, 0) AS events_per_second,
       coalesce(w.last_error, e.last_error) AS last_error,
       coalesce(w.last_batch_at, o.updated_at) AS last_batch_at,
       (SELECT count(*) FROM pulse._kafka_worker_status() x
         WHERE x.subscription_id = s.id AND x.partition IS NULL AND x.pid > 0)::int AS workers_running
  FROM pulse.kafka_subscriptions s
  LEFT JOIN pulse.kafka_offsets o ON o.subscription_id = s.id
  LEFT JOIN LATERAL (SELECT x.* FROM pulse._kafka_worker_status() x
                      WHERE x.subscription_id = s.id AND x.topic = o.topic AND x.partition = o.partition
                      ORDER BY x.last_batch_at DESC NULLS LAST LIMIT 1) w ON true
  LEFT JOIN LATERAL (SELECT string_agg(DISTINCT x.last_error, '; ') AS last_error
                       FROM pulse._kafka_worker_status() x
                      WHERE x.subscription_id = s.id AND x.partition IS NULL) e ON true;

REVOKE ALL ON pulse.avro_schemas, pulse.kafka_subscriptions, pulse.kafka_offsets FROM PUBLIC;
GRANT SELECT ON pulse.avro_schemas TO PUBLIC;
REVOKE ALL ON FUNCTION pulse._kafka_set(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pulse._kafka_set(bigint, text) TO pulse_admin;
