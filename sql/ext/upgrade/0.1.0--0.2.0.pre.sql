-- pg_pulse 0.1.0 -> 0.2.0, before the code of 0.2.0 (sql/ext/upgrade/code.py) is loaded:
-- objects whose signature, result columns or name changed are dropped (created again by the
-- code), catalog tables get their new columns.
\echo Use "ALTER EXTENSION pg_pulse UPDATE" to load this file. \quit

-- 0.2.0 keeps the hidden objects of a project's views in its internal schema _pulse_<project>
-- (made in .post.sql), and reserves project names starting with _pulse_ for them: a project
-- or schema in the way stops the update, before anything changed.
DO $$
DECLARE
  p text;
BEGIN
  SELECT name INTO p FROM pulse.projects WHERE name LIKE '\_pulse\_%' ORDER BY name LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'pg_pulse 0.2.0 reserves project names starting with _pulse_: project "%" is in the way', p
      USING ERRCODE = '42602',
            HINT = 'Save its data and drop it with pulse.drop_project, then run ALTER EXTENSION pg_pulse UPDATE again.';
  END IF;
  SELECT name INTO p FROM pulse.projects pr
   WHERE EXISTS (SELECT FROM pg_namespace n WHERE n.nspname = '_pulse_' || pr.name) ORDER BY name LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'schema "%" already exists', '_pulse_' || p USING ERRCODE = '42P06',
      HINT = format('pg_pulse 0.2.0 keeps the hidden objects of project %s''s views in schema %s: drop or rename that schema, then run ALTER EXTENSION pg_pulse UPDATE again.',
                    p, '_pulse_' || p);
  END IF;
END
$$;

DROP VIEW pulse.kafka_status;
DROP VIEW pulse.collections;
DROP FUNCTION pulse._kafka_worker_status();
DROP FUNCTION pulse._kafka_wake();
DROP FUNCTION pulse._last_event_time(regclass);
DROP FUNCTION pulse.create_project(text);
-- insights: the helpers that returned SQL text became functions over values (pulse._bucket,
-- ...), the funnel's own spec validator gave way to the one every insight uses
DROP FUNCTION pulse._funnel_spec(text, jsonb, text, text[]);
DROP FUNCTION pulse._funnel_cond(text);
DROP FUNCTION pulse._funnel_events_sql(text, text[], text[], text[], text[], text, boolean);
DROP FUNCTION pulse._insight_unit(text, text);
DROP FUNCTION pulse._insight_unit_start(text, text);
DROP FUNCTION pulse._insight_bucket(text, text, text, integer);
DROP FUNCTION pulse._insight_bucket_start(text, text, text, integer);
DROP FUNCTION pulse._insight_bounds(text, bigint, bigint, text, integer);
DROP FUNCTION pulse._insight_unit_bucket(text, text, text);
DROP FUNCTION pulse._insight_args(text, timestamptz, timestamptz, text);
DROP FUNCTION pulse._insight_event(text, jsonb, text);
DROP FUNCTION pulse.create_collection(text, text, jsonb, boolean);
DROP FUNCTION pulse.refresh_view(text, text, boolean);

-- Roles of 0.1.0 projects: pg_pulse cannot tell which it created and which it adopted, so none
-- counts as created (drop_project keeps them) and none gets the pg_pulse role marker.
ALTER TABLE pulse.projects ADD COLUMN writer_created boolean NOT NULL DEFAULT false,
                           ADD COLUMN reader_created boolean NOT NULL DEFAULT false;

-- time-partitioned collections (0.1.0 collections are plain tables)
ALTER TABLE pulse.projects ADD COLUMN partition_by text CHECK (partition_by IN ('day', 'week', 'month'));
ALTER TABLE pulse.collection_registry ADD COLUMN partition_by text CHECK (partition_by IN ('day', 'week', 'month'));
-- retention
ALTER TABLE pulse.projects ADD COLUMN keep interval CHECK (keep > interval '0');
ALTER TABLE pulse.collection_registry ADD COLUMN keep interval CHECK (keep > interval '0'),
                                      ADD COLUMN history_dropped_before timestamptz;

-- The owner decides which client settings a subscription's workers accept. The creators of
-- 0.1.0 subscriptions are unknown: pulse_admin (no superuser, no pg_read_server_files) owns
-- them, so a setting 0.2.0 allows only to superusers stops its subscription, with the error in
-- pulse.kafka_status, until a superuser takes it over with pulse.kafka_alter.
ALTER TABLE pulse.kafka_subscriptions ADD COLUMN owner name;
UPDATE pulse.kafka_subscriptions SET owner = 'pulse_admin';
ALTER TABLE pulse.kafka_subscriptions ALTER COLUMN owner SET NOT NULL;

-- Avro schemas are unique by subject and canonical-form fingerprint (filled in after the code)
ALTER TABLE pulse.avro_schemas DROP CONSTRAINT avro_schemas_subject_schema_key;
ALTER TABLE pulse.avro_schemas ADD COLUMN fingerprint text;


-- where a view's stored snapshot is valid (set by the views' rebuild after the code)
ALTER TABLE pulse.view_registry ADD COLUMN snapshot_origin text;
CREATE TABLE pulse.instance (
  token      text NOT NULL DEFAULT gen_random_uuid()::text,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pulse.instance DEFAULT VALUES;
REVOKE ALL ON pulse.instance FROM PUBLIC;

-- the job history (its view comes with the code)
CREATE TABLE pulse.job_log (
  id          bigserial PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('refresh', 'kafka batch', 'kafka worker', 'retention')),
  project     text NOT NULL,
  object      text NOT NULL,         -- the view's name; 'subscription <id>'; retention: what was dropped
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  rows        bigint,                -- refresh: groups merged (rows stored by a rebuild); batch: messages; retention: rows dropped
  status      text NOT NULL CHECK (status IN ('succeeded', 'failed')),
  error       text,
  pid         integer NOT NULL DEFAULT pg_backend_pid()
);
CREATE INDEX ON pulse.job_log (finished_at);
CREATE INDEX ON pulse.job_log (project, object, finished_at);
REVOKE ALL ON pulse.job_log FROM PUBLIC;
