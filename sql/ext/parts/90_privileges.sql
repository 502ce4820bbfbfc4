-- pg_pulse, part 90: who may execute what (docs/security.md lists every function).
--
-- Nothing in schema pulse is executable by PUBLIC unless listed here: internal functions
-- (pulse._*) are granted to the roles whose query paths need them, and to nobody else.

-- Internal functions that the reading paths of a project run as the reading role: realtime and
-- incremental view reads, view deltas and refreshes (run as the writer, a member of the reader),
-- and the insight functions (SECURITY INVOKER).
CREATE FUNCTION pulse._reader_functions() RETURNS text[]
  LANGUAGE sql IMMUTABLE AS $$
  SELECT ARRAY[
    -- views
    '_view_watermark', '_view_recompute', '_count_merge', '_int8_sum', '_float8_accum', '_float8_merge',
    '_numeric_accum', '_numeric_merge', '_numeric_state_final', '_numeric_state_union',
    -- insights
    '_name_problem', '_single_pass', '_funnel', '_funnel_check_filter',
    '_funnel_events_sql', '_funnel_report', '_retention_report', '_uniques_report', '_paths_report',
    '_insight_run', '_insight_ts', '_bucket', '_bucket_start', '_bucket_bounds', '_unit_bucket',
    '_insight_hour_shift', '_insight_choice', '_insight_int', '_insight_interval', '_insight_args',
    '_insight_collection', '_insight_cond', '_insight_filter', '_insight_event', '_insight_column',
    '_insight_expr_type', '_insight_is_column', '_insight_operand', '_insight_actor_mode', '_insight_uses_person',
    '_insight_has_persons', '_insight_actor', '_insight_from', '_insight_person_map', '_insight_person_property', '_insight_person_column',
    '_insight_cohort_set', '_insight_cohort_cond', '_cohort_view',
    '_retention_sql', '_trends_sql', '_paths_sql', '_raise_bounded']::text[]
$$;

-- Grants (grant = true) or revokes the internal functions of pulse._reader_functions() to the
-- reader role of project p (its writer inherits them).
CREATE FUNCTION pulse._project_grants(p text, "grant" boolean) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  reader name;
  f regprocedure;
BEGIN
  SELECT reader_role INTO reader FROM pulse.projects WHERE name = p;
  IF reader IS NULL OR NOT EXISTS (SELECT FROM pg_roles WHERE rolname = reader) THEN
    RETURN;
  END IF;
  FOR f IN SELECT pr.oid::regprocedure FROM pg_proc pr
            WHERE pr.pronamespace = 'pulse'::regnamespace AND pr.proname = ANY (pulse._reader_functions())
            ORDER BY pr.oid LOOP
    IF "grant" THEN
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, reader);
    ELSE
      EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %I', f, reader);
    END IF;
  END LOOP;
END
$$;

-- Upgrade scripts only: runs sql as if no extension script were running, so that the project
-- objects and grants an upgrade rebuilds stay ordinary objects (not extension members, no
-- initial privileges) that pg_dump dumps. Refuses to run outside pg_pulse's own scripts.
CREATE FUNCTION pulse._outside_extension_script(sql text) RETURNS void
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'pulse_outside_extension_script';

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA pulse FROM PUBLIC;

-- The API: every function checks its caller itself (writers of the project, pulse_admin,
-- SELECT privileges), or reads only what the caller may read (SECURITY INVOKER analytics).
GRANT EXECUTE ON FUNCTION
  pulse.collect(text, text, jsonb, text), pulse.collect_batch(text, text, text, text),
  pulse.create_collection(text, text, jsonb, boolean, text), pulse.set_project_defaults(text, text), pulse.set_retention(text, text, interval),
  pulse.partition_collection(text, text, text),
  pulse.replay_dead_letters(text, text, bigint[]),
  pulse.create_view(text, text, text, text, interval), pulse.refresh_view(text, text, boolean, boolean),
  pulse.drop_view(text, text), pulse.alter_view(text, text, text, interval),
  pulse.funnel, pulse.retention, pulse.trends, pulse.paths,
  pulse.avro_schema(text, text), pulse.register_avro_schema(text, text),
  pulse.kafka_subscribe, pulse.kafka_alter, pulse.kafka_unsubscribe(bigint), pulse.kafka_pause(bigint), pulse.kafka_resume(bigint),
  pulse.person_update(text, text, jsonb), pulse.identify(text, text, text, boolean),
  pulse.alias(text, text, text, boolean), pulse.erase_person(text, text, boolean), pulse.person_id(text, text),
  pulse.set_event_spec(text, text, text), pulse.set_track_persons(text, boolean),
  pulse.create_cohort(text, text, text, interval), pulse.refresh_cohort(text, text),
  pulse.alter_cohort(text, text, interval), pulse.drop_cohort(text, text)
  TO PUBLIC;
GRANT EXECUTE ON FUNCTION
  pulse.window_funnel(interval, timestamptz, VARIADIC boolean[]),
  pulse.window_funnel(interval, text[], timestamptz, VARIADIC boolean[]),
  pulse.window_funnel_steps(interval, timestamptz, VARIADIC boolean[]),
  pulse.window_funnel_steps(interval, text[], timestamptz, VARIADIC boolean[]),
  pulse.retention_flags(VARIADIC boolean[])
  TO PUBLIC;
GRANT EXECUTE ON FUNCTION pulse.last_event_time(regclass), pulse.collection_metrics(), pulse.progress_status() TO PUBLIC;
-- enrichment: set_enrichment checks its caller; the views pulse.enrichment and
-- pulse.enrichment_status call the other two as their reader
GRANT EXECUTE ON FUNCTION pulse.set_enrichment(text, text, boolean, text[], jsonb, text),
  pulse.enrichment_default_inputs(text), pulse.enrichment_files() TO PUBLIC;

GRANT EXECUTE ON FUNCTION pulse._kafka_worker_status() TO pg_monitor;  -- pulse.kafka_status
GRANT EXECUTE ON FUNCTION pulse.create_project(text, boolean), pulse.drop_project(text, boolean),
  pulse._kafka_set(bigint, text), pulse.metrics_reset(text) TO pulse_admin;

-- the background workers start serving this database once this transaction commits
SELECT pulse._wake();
