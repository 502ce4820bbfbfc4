-- pg_pulse 0.2.0 -> 0.3.0, before the code of 0.3.0 (sql/ext/upgrade/code.py) is loaded:
-- objects whose signature, result columns or name changed are dropped (created again by the
-- code), catalog tables get their new columns.

-- event specs (docs/people.md#event-specs): the project's default spec, a subscription's spec,
-- and the spec argument of collect, collect_batch and kafka_subscribe
ALTER TABLE pulse.projects ADD COLUMN event_spec text;
ALTER TABLE pulse.kafka_subscriptions ADD COLUMN spec text;
ALTER TABLE pulse.collection_registry ADD COLUMN event_spec text;
-- a dead letter kept in a spec's dialect is replayed through that spec
ALTER TABLE pulse.dead_letters ADD COLUMN spec text;
DROP FUNCTION IF EXISTS pulse.kafka_alter(bigint, text, jsonb, integer, interval, integer);
DROP FUNCTION IF EXISTS pulse.collect(text, text, jsonb);
DROP FUNCTION IF EXISTS pulse.collect_batch(text, text, text);
DROP FUNCTION IF EXISTS pulse.kafka_subscribe(text, text[], text, text, text, text, jsonb, integer, interval, integer);

-- enrichment at ingestion (sql/ext/parts/50_enrichment.sql)
CREATE TABLE pulse.enrichment_settings (
  project    text NOT NULL REFERENCES pulse.projects(name) ON DELETE CASCADE,
  collection text NOT NULL DEFAULT '',
  enricher   text NOT NULL CHECK (enricher IN ('geoip', 'user_agent', 'referrer', 'campaign')),
  enabled    boolean NOT NULL,
  inputs     text[],                      -- NULL: the enricher's default input fields
  options    jsonb NOT NULL DEFAULT '{}', -- referrer: {"internal_hosts": [...]}
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project, collection, enricher)
);
REVOKE ALL ON pulse.enrichment_settings FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pulse.enrichment_settings', '');

-- person-level analytics (docs/people.md#person-level-analytics): the insights take an actor
-- argument (and their internal builders with them)
DROP FUNCTION IF EXISTS pulse.funnel(text, jsonb, timestamptz, timestamptz, interval, text, jsonb, text, text);
DROP FUNCTION IF EXISTS pulse._funnel(text, jsonb, timestamptz, timestamptz, interval, text, jsonb, text, text);
DROP FUNCTION IF EXISTS pulse._funnel_events_sql(text, text[], text[], text[], text[], boolean, boolean);
DROP FUNCTION IF EXISTS pulse.retention(text, jsonb, jsonb, timestamptz, timestamptz, text, integer, text, text, text);
DROP FUNCTION IF EXISTS pulse._retention_sql(text, jsonb, jsonb, timestamptz, timestamptz, text, integer, text, text, text);
DROP FUNCTION IF EXISTS pulse.trends(text, jsonb, timestamptz, timestamptz, text, text, text, text, integer, text);
DROP FUNCTION IF EXISTS pulse._trends_sql(text, jsonb, timestamptz, timestamptz, text, text, text, text, integer, text);
DROP FUNCTION IF EXISTS pulse.paths(text, timestamptz, timestamptz, text, integer, interval, text);
DROP FUNCTION IF EXISTS pulse._paths_sql(text, timestamptz, timestamptz, text, integer, interval, text);

-- cohorts (docs/people.md#cohorts)
CREATE TABLE pulse.cohort_registry (
  project    text NOT NULL REFERENCES pulse.projects(name) ON DELETE CASCADE,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project, name)
);
SELECT pg_catalog.pg_extension_config_dump('pulse.cohort_registry', '');
REVOKE ALL ON pulse.cohort_registry FROM PUBLIC;

-- persons on first sight (docs/people.md#persons-on-first-sight): the project's switch
ALTER TABLE pulse.projects ADD COLUMN track_persons boolean NOT NULL DEFAULT true;

-- retention with a breakdown in one pass: the result type of its report aggregate
CREATE TYPE pulse._retention_by_value AS (breakdowns text[], counts bigint[]);
-- ... and of pulse.funnel's with a breakdown
CREATE TYPE pulse._funnel_by_value AS (breakdowns text[], steps pulse._funnel_step[]);
-- ... and of pulse.paths in one pass
CREATE TYPE pulse._paths_moves AS (steps integer[], sources text[], targets text[], users bigint[]);
-- ... and of pulse.trends' unique users with a breakdown in one pass
CREATE TYPE pulse._uniques_by_value AS (breakdowns text[], counts bigint[]);
