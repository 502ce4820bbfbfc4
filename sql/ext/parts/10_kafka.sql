
-- pg_pulse, part 10: Kafka subscriptions (consumed by background workers).
CREATE TABLE pulse.avro_schemas (
  id          serial PRIMARY KEY,
  subject     text NOT NULL,
  schema      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- 64-bit Rabin fingerprint of the schema's Parsing Canonical Form (logical types kept): two
  -- spellings of one schema are one schema, whatever their size
  fingerprint text NOT NULL,
  UNIQUE (subject, fingerprint)
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
  owner         name NOT NULL,
  -- the event spec of its messages (NULL: the project's, pulse.projects.event_spec, else 'pulse')
  spec          text
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
CREATE FUNCTION pulse._wake() RETURNS void
  LANGUAGE c AS 'MODULE_PATHNAME', 'pulse_wake';
CREATE FUNCTION pulse._avro_schema_problem(schema text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'pulse_avro_schema_problem';
CREATE FUNCTION pulse._avro_schema_fingerprint(schema text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'pulse_avro_schema_fingerprint';
CREATE FUNCTION pulse._kafka_worker_status(
    OUT subscription_id bigint, OUT worker_index int, OUT pid int, OUT state text, OUT heartbeat_at timestamptz,
    OUT topic text, OUT partition int, OUT stored_offset bigint, OUT high_watermark bigint,
    OUT high_watermark_at timestamptz, OUT last_progress_at timestamptz, OUT events_per_second double precision,
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

-- A subscription writes into its project as its owner would: whoever creates one, or takes one
-- over with kafka_alter, must also be able to write to that project (a superuser, or a member of
-- the project's writer role). pulse_admin alone manages subscriptions but cannot feed a project.
CREATE FUNCTION pulse._require_project_writer(p text) RETURNS void
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  w name;
BEGIN
  SELECT writer_role INTO w FROM pulse.projects WHERE name = p;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'project "%" does not exist', p USING ERRCODE = '42704';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles r, pg_roles wr
                  WHERE r.rolname = pulse._caller() AND wr.rolname = w
                    AND (r.rolsuper OR pg_has_role(r.oid, wr.oid, 'USAGE'))) THEN
    RAISE EXCEPTION 'permission denied to write project "%"', p USING ERRCODE = '42501',
      DETAIL = 'A Kafka subscription writes into its project as its owner: the role that subscribes or alters it.',
      HINT = format('Its owner must be a member of pulse_admin and of %s.', w);
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
  INSERT INTO pulse.avro_schemas(subject, schema, fingerprint) VALUES (subject, schema, pulse._avro_schema_fingerprint(schema))
    ON CONFLICT ON CONSTRAINT avro_schemas_subject_fingerprint_key DO UPDATE SET subject = EXCLUDED.subject
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
    batch_size integer DEFAULT 10000, batch_timeout interval DEFAULT '50 ms', parallelism integer DEFAULT 1,
    spec text DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  c text := lower(collection);
  sid bigint;
  spec_problem text := pulse._event_spec_problem(spec);
BEGIN
  PERFORM pulse._kafka_require_preload();
  PERFORM pulse._require_admin('subscribe to Kafka topics');
  PERFORM pulse._require_project_writer(p);
  PERFORM pulse._kafka_validate(topics, brokers, format, c, options, batch_size, batch_timeout, parallelism);
  IF spec_problem IS NOT NULL THEN
    RAISE EXCEPTION 'invalid event spec: %', spec_problem USING ERRCODE = '22023',
      HINT = 'Use ''pulse'', ''segment'', ''posthog'', or a JSON object of dotted paths (docs/people.md#event-specs).';
  END IF;
  IF spec IS NOT NULL AND lower(spec) <> 'pulse' AND format <> 'json' THEN
    RAISE EXCEPTION 'event specs apply to JSON messages only' USING ERRCODE = '22023';
  END IF;
  INSERT INTO pulse.kafka_subscriptions(project, topics, brokers, format, collection, group_id, options,
                                        batch_size, batch_timeout, parallelism, owner, spec)
    VALUES (p, topics, brokers, format, c, group_id, options, batch_size, batch_timeout, parallelism, pulse._caller(),
            nullif(spec, ''))
    RETURNING id INTO sid;
  PERFORM pulse._wake();
  RETURN sid;
END $$;

-- Changes a subscription's connection settings and event spec (NULL: keep; spec '': none, the
-- collection's or project's applies); its workers restart with them and resume from the stored
-- offsets. The caller becomes the subscription's owner.
CREATE FUNCTION pulse.kafka_alter(id bigint, brokers text DEFAULT NULL, options jsonb DEFAULT NULL,
    batch_size integer DEFAULT NULL, batch_timeout interval DEFAULT NULL, parallelism integer DEFAULT NULL,
    spec text DEFAULT NULL)
  RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  s pulse.kafka_subscriptions;
  spec_problem text := pulse._event_spec_problem(nullif(spec, ''));
BEGIN
  PERFORM pulse._require_admin('alter Kafka subscriptions');
  SELECT * INTO s FROM pulse.kafka_subscriptions k WHERE k.id = kafka_alter.id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'Kafka subscription % does not exist', id USING ERRCODE = '42704';
  END IF;
  -- the caller becomes the owner
  PERFORM pulse._require_project_writer(s.project);
  s.brokers := coalesce(kafka_alter.brokers, s.brokers);
  s.options := coalesce(kafka_alter.options, s.options);
  s.batch_size := coalesce(kafka_alter.batch_size, s.batch_size);
  s.batch_timeout := coalesce(kafka_alter.batch_timeout, s.batch_timeout);
  s.parallelism := coalesce(kafka_alter.parallelism, s.parallelism);
  PERFORM pulse._kafka_validate(s.topics, s.brokers, s.format, s.collection, s.options, s.batch_size,
                                s.batch_timeout, s.parallelism);
  IF spec_problem IS NOT NULL THEN
    RAISE EXCEPTION 'invalid event spec: %', spec_problem USING ERRCODE = '22023',
      HINT = 'Use ''pulse'', ''segment'', ''posthog'', or a JSON object of dotted paths (docs/people.md#event-specs).';
  END IF;
  IF kafka_alter.spec IS NOT NULL AND lower(kafka_alter.spec) NOT IN ('', 'pulse') AND s.format <> 'json' THEN
    RAISE EXCEPTION 'event specs apply to JSON messages only' USING ERRCODE = '22023';
  END IF;
  IF kafka_alter.spec IS NOT NULL THEN
    s.spec := nullif(kafka_alter.spec, '');
  END IF;
  UPDATE pulse.kafka_subscriptions k
     SET brokers = s.brokers, options = s.options, batch_size = s.batch_size, batch_timeout = s.batch_timeout,
         parallelism = s.parallelism, owner = pulse._caller(), spec = s.spec
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
  IF what = 'resume' THEN
    PERFORM pulse._kafka_restart(id);  -- now, whatever the backoff of earlier failures
  END IF;
  PERFORM pulse._wake();
  RETURN true;
END $$;

CREATE FUNCTION pulse.kafka_unsubscribe(id bigint) RETURNS boolean
  LANGUAGE sql SET search_path = pg_catalog, pulse, pg_temp AS $$ SELECT pulse._kafka_set(id, 'unsubscribe') $$;
CREATE FUNCTION pulse.kafka_pause(id bigint) RETURNS boolean
  LANGUAGE sql SET search_path = pg_catalog, pulse, pg_temp AS $$ SELECT pulse._kafka_set(id, 'pause') $$;
CREATE FUNCTION pulse.kafka_resume(id bigint) RETURNS boolean
  LANGUAGE sql SET search_path = pg_catalog, pulse, pg_temp AS $$ SELECT pulse._kafka_set(id, 'resume') $$;

-- Per subscription and partition: stored offset, the broker's high watermark (as the worker last
-- read it) and the lag, events/s over the last minute, progress and error times, and whether the
-- partition is stalled: messages wait but nothing was stored for pulse.kafka_stall_after (30 s),
-- or the worker's loop has not gone round for that long. A subscription without partitions yet has one row (topic NULL) whose
-- worker_state says what it waits for.
CREATE VIEW pulse.kafka_status WITH (security_barrier) AS
WITH w AS MATERIALIZED (SELECT * FROM pulse._kafka_worker_status()),
     ws AS (SELECT w.subscription_id, count(*) FILTER (WHERE w.pid > 0)::int AS workers_running,
                   string_agg(DISTINCT w.state, '; ') AS state, min(w.heartbeat_at) AS heartbeat_at,
                   (array_agg(w.last_error ORDER BY w.last_error_at DESC NULLS LAST))[1] AS last_error,
                   max(w.last_error_at) AS last_error_at
              FROM w WHERE w.partition IS NULL GROUP BY w.subscription_id),
     wp AS (SELECT DISTINCT ON (w.subscription_id, w.topic, w.partition) w.*
              FROM w WHERE w.partition IS NOT NULL
             ORDER BY w.subscription_id, w.topic, w.partition, w.last_batch_at DESC NULLS LAST),
     parts AS (SELECT coalesce(o.subscription_id, wp.subscription_id) AS subscription_id,
                      coalesce(o.topic, wp.topic) AS topic, coalesce(o.partition, wp.partition) AS partition,
                      coalesce(o.next_offset, wp.stored_offset) AS stored_offset, wp.high_watermark,
                      wp.high_watermark_at, coalesce(wp.events_per_second, 0) AS events_per_second,
                      coalesce(wp.last_batch_at, o.updated_at) AS last_batch_at,
                      coalesce(wp.last_progress_at, o.updated_at) AS last_progress_at
                 FROM pulse.kafka_offsets o
                 FULL JOIN wp ON wp.subscription_id = o.subscription_id AND wp.topic = o.topic
                             AND wp.partition = o.partition)
SELECT s.id AS subscription_id,
       s.project,
       s.paused,
       p.topic,
       p.partition,
       p.stored_offset,
       p.high_watermark,
       CASE WHEN p.high_watermark IS NOT NULL THEN greatest(p.high_watermark - coalesce(p.stored_offset, 0), 0) END AS lag,
       p.events_per_second,
       ws.last_error,
       ws.last_error_at,
       p.last_batch_at,
       p.last_progress_at,
       p.high_watermark_at,
       CASE WHEN s.paused THEN 'paused' ELSE coalesce(ws.state, 'waiting for its scheduler') END AS worker_state,
       coalesce(ws.workers_running, 0) AS workers_running,
       NOT s.paused AND ((p.high_watermark > p.stored_offset
                          AND coalesce(p.last_progress_at, s.created_at) < now() - st.after)
                         OR ws.heartbeat_at < now() - st.after) AS stalled
  FROM pulse.kafka_subscriptions s
  LEFT JOIN parts p ON p.subscription_id = s.id
  LEFT JOIN ws ON ws.subscription_id = s.id
 CROSS JOIN (SELECT coalesce(nullif(current_setting('pulse.kafka_stall_after', true), ''), '30s')::interval AS after) st;

REVOKE ALL ON pulse.avro_schemas, pulse.kafka_subscriptions, pulse.kafka_offsets FROM PUBLIC;
-- the Kafka status is for superusers and monitoring (pg_monitor, e.g. a Prometheus exporter)
GRANT SELECT ON pulse.kafka_status TO pg_monitor;
GRANT SELECT ON pulse.avro_schemas TO PUBLIC;
REVOKE ALL ON FUNCTION pulse._kafka_set(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pulse._kafka_set(bigint, text) TO pulse_admin;
