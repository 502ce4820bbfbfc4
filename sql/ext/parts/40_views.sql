-- pg_pulse, part 40: materialized views (cache, incremental, realtime).

CREATE TABLE pulse.view_registry (
  id            serial PRIMARY KEY,
  project       text NOT NULL REFERENCES pulse.projects(name) ON DELETE CASCADE,
  name          text NOT NULL,
  collection    text,                  -- NULL for cache views (any query)
  strategy      text NOT NULL CHECK (strategy IN ('cache', 'incremental', 'realtime')),
  refresh_every interval NOT NULL,
  timezone      text NOT NULL,         -- the defining query is evaluated in this time zone
  query         text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_refresh  timestamptz,
  snapshot      pg_snapshot,           -- S of the last refresh: rows of xids visible in it are merged
  threshold     timestamptz,           -- T of the last refresh: unmerged rows have _shard_time >= T
  rows          bigint,
  last_merged   bigint,
  last_duration interval,
  last_error    text,
  last_error_at timestamptz,
  merge_sql     text,                  -- generated statements (src/views/create.cc), naming the
                                       -- hidden objects in schema _pulse_<project>
  rebuild_sql   text[],
  snapshot_origin text,                -- pulse._snapshot_origin of the snapshot: another one (a
                                       -- restored dump) means rebuild, never merge
  UNIQUE (project, name)
);

-- One row per UPDATE / DELETE / TRUNCATE statement on a collection with views; a view whose
-- stored snapshot does not see such a row must be rebuilt.
CREATE TABLE pulse.view_invalidations (
  project    text NOT NULL,
  collection text NOT NULL,
  xid        xid8 NOT NULL,
  op         text NOT NULL,
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON pulse.view_invalidations (project, collection);

SELECT pg_catalog.pg_extension_config_dump('pulse.view_registry', '');
SELECT pg_catalog.pg_extension_config_dump('pulse.view_registry_id_seq', '');

-- Mergeable partial states (internal; used by the generated view objects).
CREATE AGGREGATE pulse._count_merge(bigint) (
  SFUNC = int8pl, STYPE = bigint, INITCOND = '0', COMBINEFUNC = int8pl, PARALLEL = SAFE);
CREATE AGGREGATE pulse._int8_sum(bigint) (
  SFUNC = int8pl, STYPE = bigint, COMBINEFUNC = int8pl, PARALLEL = SAFE);
CREATE AGGREGATE pulse._float8_accum(double precision) (
  SFUNC = float8_accum, STYPE = double precision[], INITCOND = '{0,0,0}',
  COMBINEFUNC = float8_combine, PARALLEL = SAFE);
CREATE AGGREGATE pulse._float8_merge(double precision[]) (
  SFUNC = float8_combine, STYPE = double precision[], INITCOND = '{0,0,0}',
  COMBINEFUNC = float8_combine, PARALLEL = SAFE);
CREATE AGGREGATE pulse._numeric_accum(numeric) (
  SFUNC = numeric_accum, STYPE = internal, FINALFUNC = numeric_serialize,
  COMBINEFUNC = numeric_combine, SERIALFUNC = numeric_serialize, DESERIALFUNC = numeric_deserialize,
  PARALLEL = SAFE);
CREATE FUNCTION pulse._numeric_state_union(bytea, bytea) RETURNS bytea
  LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_numeric_state_union';
CREATE FUNCTION pulse._numeric_state_final(bytea, text) RETURNS numeric
  LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_numeric_state_final';
CREATE AGGREGATE pulse._numeric_merge(bytea) (
  SFUNC = pulse._numeric_state_union, STYPE = bytea, COMBINEFUNC = pulse._numeric_state_union,
  PARALLEL = SAFE);

-- This database's pg_pulse: one row made by CREATE EXTENSION and never dumped, so a restored
-- dump (into any database of any cluster) has another token than its source.
CREATE TABLE pulse.instance (
  token      text NOT NULL DEFAULT gen_random_uuid()::text,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pulse.instance DEFAULT VALUES;

-- Where the transaction ids of a stored view snapshot mean something: this database's pg_pulse
-- (its token) and this incarnation of the collection table (its oid). A view whose snapshot has
-- another origin (a restored dump) is rebuilt, and read from its defining query until then.
-- (pulse.views repeats the expression: PUBLIC reads it there without executing this function.)
CREATE FUNCTION pulse._snapshot_origin(project text, collection text) RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pulse, pg_temp AS $$
  SELECT i.token || '/' || coalesce((SELECT c.oid::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                       WHERE n.nspname = project AND c.relname = collection), '')
    FROM pulse.instance i
$$;

-- The stored snapshot and threshold of a view, and whether an UPDATE / DELETE / TRUNCATE the
-- caller can see happened after it (then realtime reads fall back to the defining query).
-- For readers of the view's project only (the session's role, as for every SECURITY DEFINER
-- function of pg_pulse); others get 42501.
CREATE FUNCTION pulse._view_watermark(view_id int)
  RETURNS TABLE (snapshot pg_snapshot, threshold timestamptz, dirty boolean)
  LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 1 SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  v pulse.view_registry;
BEGIN
  SELECT * INTO v FROM pulse.view_registry r WHERE r.id = view_id;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles r, pg_roles c
                  WHERE r.rolname = v.project || '_reader' AND c.rolname = pulse._caller()
                    AND pg_has_role(c.oid, r.oid, 'USAGE')) THEN
    RAISE EXCEPTION 'permission denied to read view "%.%"', v.project, v.name USING ERRCODE = '42501',
      HINT = format('Views are read by members of %I.', v.project || '_reader');
  END IF;
  RETURN QUERY SELECT coalesce(v.snapshot, '1:1:'), coalesce(v.threshold, '-infinity'),
         v.snapshot IS NULL OR v.snapshot_origin IS DISTINCT FROM pulse._snapshot_origin(v.project, v.collection)
         OR EXISTS (
           SELECT 1 FROM pulse.view_invalidations i
            WHERE i.project = v.project AND i.collection = v.collection
              AND NOT pg_visible_in_snapshot(i.xid, v.snapshot));
END
$$;

-- The defining query of a view evaluated now, as the project's writer, for the project's
-- readers (realtime views read it while an UPDATE / DELETE / TRUNCATE awaits a rebuild).
CREATE FUNCTION pulse._view_recompute(view_id int) RETURNS SETOF record
  LANGUAGE c STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp
  AS 'MODULE_PATHNAME', 'pulse_view_recompute';

-- What the readers of realtime view view_id read, made again by this version's code from its
-- stored query (the update from 0.2.0 runs it for each realtime view); the states stay.
CREATE FUNCTION pulse._view_reread(view_id int) RETURNS void
  LANGUAGE c STRICT SET search_path = pg_catalog, pulse, pg_temp
  AS 'MODULE_PATHNAME', 'pulse_view_reread';

CREATE FUNCTION pulse._views_invalidate() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
BEGIN
  INSERT INTO pulse.view_invalidations(project, collection, xid, op)
  -- on a partition of a collection, the trigger's argument names the collection
  VALUES (TG_TABLE_SCHEMA, coalesce(TG_ARGV[0], TG_TABLE_NAME), pg_current_xact_id(), TG_OP);
  RETURN NULL;
END
$$;

CREATE FUNCTION pulse._require_writer(project text) RETURNS void
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'pulse_require_writer';

CREATE FUNCTION pulse.create_view(project text, name text, query text, strategy text DEFAULT 'realtime',
                                  refresh_every interval DEFAULT '5 minutes') RETURNS void
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp
  AS 'MODULE_PATHNAME', 'pulse_create_view';

CREATE FUNCTION pulse.refresh_view(project text, name text, "full" boolean DEFAULT false,
                                   force boolean DEFAULT false) RETURNS bigint
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp
  AS 'MODULE_PATHNAME', 'pulse_refresh_view';

-- The registry row of view project.name, locked, for a caller with the project's writer role
-- (42501 otherwise; 42704 when there is no such view).
CREATE FUNCTION pulse._view_for_writer(p text, n text) RETURNS pulse.view_registry
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  v pulse.view_registry;
BEGIN
  PERFORM pulse._require_writer(p);
  SELECT * INTO v FROM pulse.view_registry r WHERE r.project = p AND r.name = n FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'view "%.%" does not exist', p, n USING ERRCODE = '42704',
      HINT = 'pulse.views lists the views of a project.';
  END IF;
  RETURN v;
END
$$;
REVOKE ALL ON FUNCTION pulse._view_for_writer(text, text) FROM PUBLIC;

CREATE FUNCTION pulse.drop_view(project text, name text) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  n text := lower(name);
  i text := '_pulse_' || lower(project);  -- the project's internal schema: the hidden objects
  v pulse.view_registry;
BEGIN
  v := pulse._view_for_writer(p, n);
  EXECUTE format('DROP VIEW IF EXISTS %I.%I', p, n);
  IF v.strategy <> 'cache' THEN
    EXECUTE format('DROP FUNCTION %I.%I(pg_snapshot, timestamptz, xid8)', i, '_pulse_delta_' || n);
  END IF;
  EXECUTE format('DROP FUNCTION IF EXISTS %I.%I()', i, '_pulse_full_' || n);
  EXECUTE format('DROP TABLE IF EXISTS %I.%I', i, '_pulse_state_' || n);
  IF to_regtype(format('%I.%I', i, '_pulse_keys_' || n)) IS NOT NULL THEN
    EXECUTE format('DROP TYPE %I.%I', i, '_pulse_keys_' || n);
  END IF;
  EXECUTE format('DROP VIEW IF EXISTS %I.%I', i, '_pulse_def_' || n);
  DELETE FROM pulse.view_registry WHERE id = v.id;
END
$$;

CREATE FUNCTION pulse.alter_view(project text, name text, strategy text DEFAULT NULL,
                                 refresh_every interval DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  n text := lower(name);
  v pulse.view_registry;
  caller_tz text;
BEGIN
  v := pulse._view_for_writer(p, n);
  IF refresh_every IS NOT NULL AND refresh_every <= interval '0' THEN
    RAISE EXCEPTION 'refresh_every must be positive' USING ERRCODE = '22023';
  END IF;
  IF strategy IS NOT NULL AND lower(strategy) <> v.strategy THEN
    -- a new strategy stores different state: rebuild the view from its query, in the time
    -- zone it was created with
    caller_tz := current_setting('TimeZone');
    PERFORM pulse.drop_view(p, n);
    PERFORM set_config('TimeZone', v.timezone, true);
    PERFORM pulse.create_view(p, n, v.query, lower(strategy), coalesce(refresh_every, v.refresh_every));
    PERFORM set_config('TimeZone', caller_tz, true);
  ELSIF refresh_every IS NOT NULL THEN
    UPDATE pulse.view_registry r SET refresh_every = alter_view.refresh_every WHERE r.id = v.id;
  END IF;
END
$$;

CREATE VIEW pulse.views WITH (security_barrier) AS
SELECT v.project, v.name, v.collection, v.strategy, v.refresh_every, v.timezone, v.query, v.created_at,
       v.last_refresh, v.snapshot, v.threshold, v.rows, v.last_merged, v.last_duration, v.last_error,
       v.last_error_at,
       v.snapshot IS NULL
       OR v.snapshot_origin IS DISTINCT FROM
          (SELECT i.token || '/' || coalesce((SELECT c.oid::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                                WHERE n.nspname = v.project AND c.relname = v.collection), '')
             FROM pulse.instance i)
       OR EXISTS (
         SELECT 1 FROM pulse.view_invalidations i
          WHERE i.project = v.project AND i.collection = v.collection
            AND NOT pg_visible_in_snapshot(i.xid, v.snapshot)) AS needs_rebuild,
       CASE WHEN v.strategy = 'realtime' THEN interval '0' ELSE now() - v.last_refresh END AS staleness
  FROM pulse.view_registry v
 WHERE EXISTS (SELECT FROM pg_roles r, pg_roles c
                WHERE r.rolname = v.project || '_reader' AND c.rolname = current_user
                  AND pg_has_role(c.oid, r.oid, 'USAGE'))
    OR pg_has_role(current_user, 'pg_monitor', 'USAGE');  -- monitoring sees every project

REVOKE ALL ON pulse.view_registry, pulse.view_invalidations, pulse.instance FROM PUBLIC;
GRANT SELECT ON pulse.views TO PUBLIC;
-- fired by the trigger every collection gets; nobody attaches it to other tables
REVOKE ALL ON FUNCTION pulse._views_invalidate() FROM PUBLIC;
