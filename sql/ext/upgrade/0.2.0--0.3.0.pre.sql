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

-- persons on first sight (docs/people.md#persons-on-first-sight): the project's switch
ALTER TABLE pulse.projects ADD COLUMN track_persons boolean NOT NULL DEFAULT true;
