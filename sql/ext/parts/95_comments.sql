-- pg_pulse, part 95: descriptions (psql's \df+ / \d+, BI tools). The API and the catalog are
-- described one by one; every internal object says it is one. Collections, views and their
-- columns, and the projects' internal schemas, are described when pg_pulse creates them.

COMMENT ON SCHEMA pulse IS 'pg_pulse: event ingestion, self-evolving collections, exact materialized views and product analytics';

-- projects and ingestion
COMMENT ON FUNCTION pulse.create_project(text, boolean) IS 'Creates a project: its schema, its internal schema _pulse_<name> (hidden objects of its views) and its roles <name>_writer and <name>_reader';
COMMENT ON FUNCTION pulse.drop_project(text, boolean) IS 'Drops a project: its schema and internal schema, catalog rows and the roles it created';
COMMENT ON FUNCTION pulse.create_collection(text, text, jsonb, boolean, text) IS 'Creates a collection with declared column types, dedup and time partitioning (optional: collections appear with their first event)';
COMMENT ON FUNCTION pulse.set_project_defaults(text, text) IS 'Sets how the collections a project creates from now on are partitioned by _time (day, week, month or none)';
COMMENT ON FUNCTION pulse.collect(text, text, jsonb, text) IS 'Stores one JSON event in a collection; new fields become columns (spec: segment, posthog or field paths map other dialects)';
COMMENT ON FUNCTION pulse.collect_batch(text, text, text, text) IS 'Stores a batch of events (NDJSON or a JSON array); bad values go to rejected_fields, bad events to dead_letters';
COMMENT ON FUNCTION pulse.replay_dead_letters(text, text, bigint[]) IS 'Ingests dead letters again (after a fix), deleting those that are stored';
COMMENT ON FUNCTION pulse.last_event_time(regclass) IS 'The latest _time of a collection, read as the caller';
COMMENT ON TYPE pulse.ingest_result IS 'What an ingestion call did: stored, rejected_fields, dead_lettered, columns_added, duplicates';
COMMENT ON TABLE pulse.projects IS 'One row per project (a role sees the projects it reads)';
COMMENT ON TABLE pulse.collection_registry IS 'One row per collection table';
COMMENT ON VIEW pulse.collections IS 'The collections the caller may read, with their last event time';
COMMENT ON TABLE pulse.rejected_fields IS 'Field values that did not fit their column (the event was stored without them)';
COMMENT ON TABLE pulse.dead_letters IS 'Events that could not be stored, with their bytes and the error (replay with replay_dead_letters)';

-- persons and identity (docs/people.md)
COMMENT ON FUNCTION pulse.person_update(text, text, jsonb) IS 'Applies $set, $set_once, $increment, $unset, $append and $remove to the properties of a person (created when missing); atomic per person';
COMMENT ON FUNCTION pulse.identify(text, text, text, boolean) IS 'Links an anonymous id to a user id: one identified person owns both ids and all their events (refuses to merge two identified persons unless force)';
COMMENT ON FUNCTION pulse.alias(text, text, text, boolean) IS 'Makes an id one more id of another id''s person (refuses to merge two identified persons unless force)';
COMMENT ON FUNCTION pulse.person_id(text, text) IS 'The person of a distinct id (the id itself when linked to none): resolves an event''s _user';
COMMENT ON FUNCTION pulse.set_event_spec(text, text, text) IS 'Sets the event spec (pulse, segment, posthog or field paths) of the project''s (or one collection''s) ingestion calls that name none';
COMMENT ON FUNCTION pulse.set_track_persons(text, boolean) IS 'Sets whether ingestion gives every _user it sees its person row and id mapping (default on)';
COMMENT ON FUNCTION pulse.erase_person(text, text, boolean) IS 'Deletes (or anonymises) every event of every id of a person, its row and its ids (GDPR erasure)';

-- views
COMMENT ON FUNCTION pulse.create_view(text, text, text, text, interval) IS 'Creates a materialized view of a query: realtime (exact at every read), incremental or cache';
COMMENT ON FUNCTION pulse.refresh_view(text, text, boolean, boolean) IS 'Merges the events stored since the last refresh into a view (full => true rebuilds it; force => true even when retention dropped events it aggregates)';
COMMENT ON FUNCTION pulse.partition_collection(text, text, text) IS 'Converts a plain collection into one partitioned by _time (day, week or month), with its rows; returns the rows moved';
COMMENT ON FUNCTION pulse._make_partitions(text, text, timestamptz[]) IS 'pg_pulse internal: not an API';
COMMENT ON FUNCTION pulse.set_retention(text, text, interval) IS 'Sets how long the events of a collection (NULL: the project''s default) are kept; NULL keeps them forever';
COMMENT ON FUNCTION pulse.apply_retention() IS 'Applies every retention now (the scheduler does it every minute); superusers only';
COMMENT ON FUNCTION pulse.drop_view(text, text) IS 'Drops a view and its hidden objects (in the project''s internal schema)';
COMMENT ON FUNCTION pulse.alter_view(text, text, text, interval) IS 'Changes the strategy or refresh interval of a view';
COMMENT ON VIEW pulse.views IS 'The views of the projects the caller reads: strategy, refresh state, errors, staleness';
COMMENT ON TABLE pulse.view_registry IS 'One row per view (pulse.views is the readable view)';
COMMENT ON TABLE pulse.view_invalidations IS 'UPDATE, DELETE and TRUNCATE statements on collections with views (they force a rebuild)';
COMMENT ON TABLE pulse.instance IS 'This database''s pg_pulse token (never dumped: a restored dump gets a new one, and its views rebuild)';

-- analytics
COMMENT ON FUNCTION pulse.funnel(text, jsonb, timestamptz, timestamptz, interval, text, jsonb, text, text, text, text) IS 'Conversion funnel: persons (or ids) reaching each step within the conversion window';
COMMENT ON FUNCTION pulse.retention(text, jsonb, jsonb, timestamptz, timestamptz, text, integer, text, text, text, text, text, text, text) IS 'Retention cohorts: persons (or ids) of each cohort returning in each period';
COMMENT ON FUNCTION pulse.trends(text, jsonb, timestamptz, timestamptz, text, text, text, text, integer, text, text, text, text) IS 'Trends: a measure of events per time bucket, optionally broken down';
COMMENT ON FUNCTION pulse.paths(text, timestamptz, timestamptz, text, integer, interval, text, text, text, text) IS 'Paths: transitions between consecutive events of the sessions of persons (or ids)';
COMMENT ON AGGREGATE pulse.window_funnel(interval, timestamptz, VARIADIC boolean[]) IS 'The deepest funnel step an actor reached within the window (ClickHouse windowFunnel)';
COMMENT ON AGGREGATE pulse.window_funnel(interval, text[], timestamptz, VARIADIC boolean[]) IS 'The deepest funnel step reached within the window, with mode options';
COMMENT ON AGGREGATE pulse.window_funnel_steps(interval, timestamptz, VARIADIC boolean[]) IS 'The times of the funnel steps an actor reached within the window';
COMMENT ON AGGREGATE pulse.window_funnel_steps(interval, text[], timestamptz, VARIADIC boolean[]) IS 'The times of the funnel steps reached within the window, with mode options';
COMMENT ON AGGREGATE pulse.retention_flags(VARIADIC boolean[]) IS 'Retention flags: whether the first condition held and, then, each of the others (ClickHouse retention)';

-- Kafka
COMMENT ON FUNCTION pulse.kafka_subscribe(text, text[], text, text, text, text, jsonb, integer, interval, integer, text) IS 'Subscribes a project to Kafka topics (JSON or Avro), consumed exactly once by background workers';
COMMENT ON FUNCTION pulse.kafka_alter(bigint, text, jsonb, integer, interval, integer, text) IS 'Changes a subscription''s brokers, client settings, batching or event spec; its workers restart';
COMMENT ON FUNCTION pulse.kafka_pause(bigint) IS 'Stops a subscription''s workers (offsets kept)';
COMMENT ON FUNCTION pulse.kafka_resume(bigint) IS 'Starts a paused subscription again, at once';
COMMENT ON FUNCTION pulse.kafka_unsubscribe(bigint) IS 'Deletes a subscription and its offsets';
COMMENT ON FUNCTION pulse.register_avro_schema(text, text) IS 'Registers an Avro schema under a subject; returns its id';
COMMENT ON FUNCTION pulse.avro_schema(text, text) IS 'Generates an Avro schema from a collection''s columns';
COMMENT ON TABLE pulse.avro_schemas IS 'Registered Avro schemas (id, subject, canonical-form fingerprint)';
COMMENT ON TABLE pulse.kafka_subscriptions IS 'One row per Kafka subscription (superusers only: options may hold secrets)';
COMMENT ON TABLE pulse.kafka_offsets IS 'The next offset to read per subscription and partition, written with the rows';
COMMENT ON VIEW pulse.kafka_status IS 'Per subscription and partition: offsets, lag, throughput, errors, worker state, stalled';

-- cohorts
COMMENT ON FUNCTION pulse.create_cohort(text, text, text, interval) IS 'Creates a cohort: the persons whose ids a writer''s query returns, materialised and refreshed like a cache view';
COMMENT ON FUNCTION pulse.refresh_cohort(text, text) IS 'Recomputes a cohort now; returns its number of ids';
COMMENT ON FUNCTION pulse.alter_cohort(text, text, interval) IS 'Sets how often the scheduler refreshes a cohort (NULL: on demand only)';
COMMENT ON FUNCTION pulse.drop_cohort(text, text) IS 'Drops a cohort and its view';
COMMENT ON VIEW pulse.cohorts IS 'The cohorts of the projects the caller reads: query, refresh, number of ids';
COMMENT ON TABLE pulse.cohort_registry IS 'The records behind pulse.cohorts';

-- operations
COMMENT ON VIEW pulse.job_history IS 'What the background work did: refreshes, failed Kafka batches and workers';
COMMENT ON TABLE pulse.job_log IS 'The records behind pulse.job_history';
COMMENT ON VIEW pulse.metrics IS 'Ingestion counters per collection since the server start or pulse.metrics_reset';
COMMENT ON FUNCTION pulse.collection_metrics() IS 'Ingestion counters per collection of the projects the caller reads';
COMMENT ON FUNCTION pulse.metrics_reset(text) IS 'Zeroes the ingestion counters of a project (or of all)';
COMMENT ON VIEW pulse.progress IS 'Long operations running now: refreshes, replays of dead letters, ingestion calls (phase, done, total)';
COMMENT ON FUNCTION pulse.progress_status() IS 'The operations behind pulse.progress';

COMMENT ON TYPE pulse._funnel_step IS 'pg_pulse internal: not an API';
COMMENT ON TYPE pulse._funnel_by_value IS 'pg_pulse internal: not an API';
COMMENT ON TYPE pulse._paths_moves IS 'pg_pulse internal: not an API';
COMMENT ON TYPE pulse._retention_by_value IS 'pg_pulse internal: not an API';
COMMENT ON TYPE pulse._uniques_by_value IS 'pg_pulse internal: not an API';


-- enrichment
COMMENT ON TABLE pulse.enrichment_settings IS 'Enrichment settings: which enrichers run for a project or collection and the fields they read (read pulse.enrichment)';
COMMENT ON VIEW pulse.enrichment IS 'The enrichment settings of the projects the caller reads, with the input fields in effect';
COMMENT ON VIEW pulse.enrichment_status IS 'The enrichers'' data files as this backend sees them: file, loaded at, error, cache';
COMMENT ON FUNCTION pulse.set_enrichment(text, text, boolean, text[], jsonb, text) IS 'Turns an enricher (geoip, user_agent, referrer, campaign) on or off for a project or a collection, with its input fields';
COMMENT ON FUNCTION pulse.enrichment_default_inputs(text) IS 'The input fields an enricher reads when its setting names none';
COMMENT ON FUNCTION pulse.enrichment_files() IS 'The enrichers'' data files as this backend sees them (pulse.enrichment_status)';

-- every other function and aggregate is internal (the update scripts call it too)
CREATE FUNCTION pulse._comment_internal() RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  f regprocedure;
  k "char";
BEGIN
  FOR f, k IN SELECT p.oid, p.prokind FROM pg_proc p
              WHERE p.pronamespace = 'pulse'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL LOOP
    EXECUTE format('COMMENT ON %s %s IS %L', CASE k WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, f,
                   'pg_pulse internal: not an API');
  END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION pulse._comment_internal() FROM PUBLIC;
SELECT pulse._comment_internal();
