-- pg_pulse 0.1.0 -> 0.2.0, after the code of 0.2.0: data that the new code computes, grants of
-- the objects dropped above, the projects' grants and their views' hidden objects.

UPDATE pulse.avro_schemas SET fingerprint = pulse._avro_schema_fingerprint(schema);
-- the same schema registered twice under one subject (spelled differently): both ids stay
UPDATE pulse.avro_schemas a SET fingerprint = a.fingerprint || ':' || a.id
 WHERE EXISTS (SELECT FROM pulse.avro_schemas b WHERE b.subject = a.subject AND b.fingerprint = a.fingerprint AND b.id < a.id);
ALTER TABLE pulse.avro_schemas ALTER COLUMN fingerprint SET NOT NULL;
ALTER TABLE pulse.avro_schemas ADD CONSTRAINT avro_schemas_subject_fingerprint_key UNIQUE (subject, fingerprint);

GRANT SELECT ON pulse.collections, pulse.job_history, pulse.metrics, pulse.progress TO PUBLIC;
GRANT SELECT ON pulse.kafka_status TO pg_monitor;
-- a role sees the projects it reads
ALTER TABLE pulse.projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_members ON pulse.projects FOR SELECT
  USING (EXISTS (SELECT FROM pg_roles r WHERE r.rolname = reader_role AND pg_has_role(current_user, r.oid, 'USAGE'))
         OR pg_has_role(current_user, 'pulse_admin', 'USAGE') OR pg_has_role(current_user, 'pg_monitor', 'USAGE'));

-- Every project: its writer uses the schema too (so no other database's drop_project drops it),
-- its reader gets the internal functions of the query paths, it gets its internal schema (as
-- pulse.create_project makes it), its collections' BRIN ranges are summarised by the scheduler
-- instead of autosummarize. (Project objects and grants are made outside the extension
-- script's state: they stay ordinary objects that pg_dump dumps.)
SELECT pulse._outside_extension_script($upgrade$
DO $$
DECLARE
  p pulse.projects;
  internal text;
  idx regclass;
BEGIN
  FOR p IN SELECT * FROM pulse.projects ORDER BY name LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', p.name, p.writer_role);
    PERFORM pulse._project_grants(p.name, true);
    internal := '_pulse_' || p.name;
    EXECUTE format('CREATE SCHEMA %I', internal);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', internal, p.writer_role);
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', internal,
                   format('pg_pulse internal objects of the views of project %s: read the views in schema %s, not these', p.name, p.name));
  END LOOP;
  PERFORM pulse._describe_collection(r.project, r.name) FROM pulse.collection_registry r;
  FOR idx IN SELECT i.indexrelid::regclass FROM pulse.collection_registry r
               JOIN pg_namespace n ON n.nspname = r.project
               JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.name
               JOIN pg_index i ON i.indrelid = c.oid
               JOIN pg_class ic ON ic.oid = i.indexrelid
              WHERE ic.reloptions @> ARRAY['autosummarize=on'] LOOP
    EXECUTE format('ALTER INDEX %s RESET (autosummarize)', idx);
  END LOOP;
END
$$
$upgrade$);

-- Views of 0.1.0 kept their hidden objects in the project's schema, next to the collections,
-- where its readers could see and run them: they move into the internal schema (ALTER ... SET
-- SCHEMA), and the statements the registry stores for them name them there.
SELECT pulse._outside_extension_script($upgrade$
DO $$
DECLARE
  v pulse.view_registry;
  p text;
  i text;
  n text;
BEGIN
  FOR v IN SELECT * FROM pulse.view_registry ORDER BY id LOOP
    p := v.project;
    i := '_pulse_' || v.project;
    n := v.name;
    IF to_regclass(format('%I.%I', p, '_pulse_def_' || n)) IS NOT NULL THEN
      EXECUTE format('ALTER VIEW %I.%I SET SCHEMA %I', p, '_pulse_def_' || n, i);
    END IF;
    IF to_regclass(format('%I.%I', p, '_pulse_state_' || n)) IS NOT NULL THEN
      EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', p, '_pulse_state_' || n, i);
    END IF;
    IF to_regprocedure(format('%I.%I()', p, '_pulse_full_' || n)) IS NOT NULL THEN
      EXECUTE format('ALTER FUNCTION %I.%I() SET SCHEMA %I', p, '_pulse_full_' || n, i);
    END IF;
    IF to_regprocedure(format('%I.%I(pg_snapshot, timestamptz, xid8)', p, '_pulse_delta_' || n)) IS NOT NULL THEN
      EXECUTE format('ALTER FUNCTION %I.%I(pg_snapshot, timestamptz, xid8) SET SCHEMA %I', p, '_pulse_delta_' || n, i);
    END IF;
    IF to_regtype(format('%I.%I', p, '_pulse_keys_' || n)) IS NOT NULL THEN
      EXECUTE format('ALTER TYPE %I.%I SET SCHEMA %I', p, '_pulse_keys_' || n, i);
    END IF;
    UPDATE pulse.view_registry r
       SET merge_sql = replace(r.merge_sql, quote_ident(p) || '._pulse_', quote_ident(i) || '._pulse_'),
           rebuild_sql = ARRAY(SELECT replace(s, quote_ident(p) || '._pulse_', quote_ident(i) || '._pulse_')
                                 FROM unnest(r.rebuild_sql) WITH ORDINALITY AS u(s, k) ORDER BY k)
     WHERE r.id = v.id;
  END LOOP;
END
$$
$upgrade$);

-- Views: their hidden objects are rebuilt the 0.2.0 way (all owned by the extension, the
-- defining query analysed as the writer and checked for untrusted objects, recomputation as the
-- writer) by dropping and creating each view again from its stored query, in the time zone it
-- was created in. A view whose query 0.2.0 refuses, or that other objects depend on, stops the
-- update with the reason: drop or change it, then update again.
SELECT pulse._outside_extension_script($upgrade$
DO $$
DECLARE
  v pulse.view_registry;
  tz text := current_setting('TimeZone');
BEGIN
  FOR v IN SELECT * FROM pulse.view_registry ORDER BY id LOOP
    BEGIN
      PERFORM pulse.drop_view(v.project, v.name);
      PERFORM set_config('TimeZone', v.timezone, true);
      PERFORM pulse.create_view(v.project, v.name, v.query, v.strategy, v.refresh_every);
      PERFORM set_config('TimeZone', tz, true);
    EXCEPTION WHEN OTHERS THEN
      RAISE EXCEPTION 'pg_pulse 0.2.0 cannot rebuild view %.%: %', v.project, v.name, SQLERRM
        USING ERRCODE = SQLSTATE,
              HINT = 'Drop the view (pulse.drop_view) or what depends on it, or change its query, then run ALTER EXTENSION pg_pulse UPDATE again.';
    END;
  END LOOP;
END
$$
$upgrade$);

-- every function and aggregate the code did not describe is internal (as in 95_comments.sql)
SELECT pulse._comment_internal();
