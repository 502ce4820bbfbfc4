-- pg_pulse, part 00: catalog, projects, collections and SQL ingestion.
\echo Use "CREATE EXTENSION pg_pulse" to load this file. \quit

-- Administrators of pg_pulse (may create and drop projects). Roles are cluster-wide, so the
-- role may already exist from an installation in another database.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pulse_admin') THEN
    CREATE ROLE pulse_admin NOLOGIN;
  END IF;
END
$$;

GRANT USAGE ON SCHEMA pulse TO PUBLIC;

CREATE TABLE pulse.projects (
  name           text PRIMARY KEY,
  writer_role    name NOT NULL,
  reader_role    name NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  -- whether create_project created the role (drop_project drops only those) or adopted it
  writer_created boolean NOT NULL DEFAULT false,
  reader_created boolean NOT NULL DEFAULT false,
  -- time partitioning of the collections created from now on (NULL: plain tables); see
  -- pulse.set_project_defaults and docs/lifecycle.md
  partition_by   text CHECK (partition_by IN ('day', 'week', 'month')),
  -- retention of the project's collections that have none of their own (NULL: kept forever);
  -- see pulse.set_retention
  keep           interval CHECK (keep > interval '0'),
  -- the event spec of ingestion calls that name none (NULL: 'pulse'); see pulse.set_event_spec
  event_spec     text,
  -- every _user ingestion sees gets its person row and id mapping; see pulse.set_track_persons
  track_persons  boolean NOT NULL DEFAULT true
);

-- One row per collection table (pulse.collections is the readable view over it).
CREATE TABLE pulse.collection_registry (
  project    text NOT NULL REFERENCES pulse.projects(name) ON DELETE CASCADE,
  name       text NOT NULL,
  dedup      boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- the table is partitioned by range of _time in partitions of this unit (NULL: a plain table)
  partition_by text CHECK (partition_by IN ('day', 'week', 'month')),
  -- retention: events with _time older than now() - keep are dropped by the scheduler (NULL:
  -- the project's keep)
  keep       interval CHECK (keep > interval '0'),
  -- retention dropped the events with _time before this (NULL: never): the views keep their
  -- aggregates, a full rebuild would lose them (refuses unless forced)
  history_dropped_before timestamptz,
  PRIMARY KEY (project, name),
  -- the event spec of ingestion calls and subscriptions that name this collection and no spec
  -- (NULL: the project's); see pulse.set_event_spec
  event_spec text
);

-- A field value that did not fit its column: the event was stored with the field NULL.
CREATE TABLE pulse.rejected_fields (
  id            bigserial PRIMARY KEY,
  project       text NOT NULL,
  collection    text NOT NULL,
  field         text,            -- normalised name (NULL when the name itself was refused)
  raw_name      text NOT NULL,   -- the name as sent
  raw_value     text NOT NULL,   -- the value as JSON text
  expected_type text,            -- the column type it had to fit (NULL: no column)
  reason        text NOT NULL,
  event_id      text,            -- the stored row: its _id, _user, _time and inserting xact
  event_user    text,
  event_time    timestamptz,
  shard_xid     xid8 NOT NULL,
  source        text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON pulse.rejected_fields (project, collection, created_at);

-- An event that could not be stored at all, kept whole for pulse.replay_dead_letters.
CREATE TABLE pulse.dead_letters (
  id         bigserial PRIMARY KEY,
  project    text NOT NULL,
  collection text,                -- NULL: the payload is an envelope naming its collection
  payload    bytea NOT NULL,      -- the event as received (JSON text for SQL and Kafka JSON)
  error      text NOT NULL,
  source     text NOT NULL,       -- sql:<function> by <role>, or kafka topic/partition/offset
  created_at timestamptz NOT NULL DEFAULT now(),
  spec       text                 -- the event spec of the payload's dialect (NULL: pg_pulse's)
);
CREATE INDEX ON pulse.dead_letters (project, collection, id);

SELECT pg_catalog.pg_extension_config_dump('pulse.projects', '');
SELECT pg_catalog.pg_extension_config_dump('pulse.collection_registry', '');
SELECT pg_catalog.pg_extension_config_dump('pulse.rejected_fields', '');
SELECT pg_catalog.pg_extension_config_dump('pulse.dead_letters', '');
SELECT pg_catalog.pg_extension_config_dump('pulse.rejected_fields_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pulse.dead_letters_id_seq', '');

CREATE TYPE pulse.ingest_result AS (
  stored          bigint,
  rejected_fields bigint,
  dead_lettered   bigint,
  columns_added   integer,
  duplicates      bigint
);

-- Internal helpers (C).
CREATE FUNCTION pulse._name_problem(kind text, name text) RETURNS text
  LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_name_problem';
CREATE FUNCTION pulse._caller() RETURNS name
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'pulse_caller';

-- True when the calling role may administer projects.
CREATE FUNCTION pulse._is_admin() RETURNS boolean
  LANGUAGE sql STABLE SET search_path = pg_catalog, pulse, pg_temp AS $$
  SELECT r.rolsuper OR pg_has_role(r.oid, 'pulse_admin', 'USAGE')
  FROM pg_roles r WHERE r.rolname = pulse._caller()
$$;

-- The comment pg_pulse puts on the roles it creates (pg_shdescription is cluster-wide, so another
-- database's pg_pulse recognises them too).
CREATE FUNCTION pulse._role_marker() RETURNS text
  LANGUAGE sql IMMUTABLE AS $$ SELECT 'pg_pulse project role'::text $$;

-- Why role r cannot be a project role of pg_pulse (NULL when it can): a role with attributes or
-- with memberships other than `parent` (the writer's reader role; NULL for a reader) is never
-- adopted nor dropped.
CREATE FUNCTION pulse._role_problem(r name, parent name) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pulse, pg_temp AS $$
  SELECT coalesce(
    nullif(concat_ws(', ', CASE WHEN a.rolsuper THEN 'SUPERUSER' END, CASE WHEN a.rolcreaterole THEN 'CREATEROLE' END,
                     CASE WHEN a.rolcreatedb THEN 'CREATEDB' END, CASE WHEN a.rolreplication THEN 'REPLICATION' END,
                     CASE WHEN a.rolbypassrls THEN 'BYPASSRLS' END, CASE WHEN a.rolcanlogin THEN 'LOGIN' END), ''),
    (SELECT 'member of ' || string_agg(quote_ident(g.rolname), ', ' ORDER BY g.rolname)
       FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
      WHERE m.member = a.oid AND g.rolname IS DISTINCT FROM parent))
  FROM pg_roles a WHERE a.rolname = r
$$;

-- Creates role r for a project, or adopts the existing one: roles pg_pulse created (its marker
-- comment) are adopted by any project administrator, other roles only when a superuser asks
-- with adopt_roles; a role with attributes or other memberships never. True when created.
CREATE FUNCTION pulse._project_role(r name, parent name, what text, project text, adopt_roles boolean)
  RETURNS boolean
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  problem text;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
    EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    EXECUTE format('COMMENT ON ROLE %I IS %L', r, pulse._role_marker() || ': ' || what || ' of project ' || project);
    RETURN true;
  END IF;
  problem := pulse._role_problem(r, parent);
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'role "%" already exists and cannot become the % role of project "%"', r, what, project
      USING ERRCODE = '42710', DETAIL = format('It has %s; pg_pulse adopts only NOLOGIN roles without attributes or other memberships.', problem),
            HINT = 'Choose another project name, or drop or rename that role.';
  END IF;
  IF coalesce(shobj_description((SELECT oid FROM pg_roles WHERE rolname = r), 'pg_authid'), '')
       NOT LIKE pulse._role_marker() || '%' THEN
    IF NOT adopt_roles THEN
      RAISE EXCEPTION 'role "%" already exists and was not created by pg_pulse', r USING ERRCODE = '42710',
        HINT = 'A superuser may adopt it: pulse.create_project(name, adopt_roles => true). pg_pulse never drops an adopted role.';
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = pulse._caller()) THEN
      RAISE EXCEPTION 'permission denied to adopt role "%"', r USING ERRCODE = '42501',
        HINT = 'Only superusers adopt roles that pg_pulse did not create.';
    END IF;
  END IF;
  RETURN false;
END
$$;

CREATE FUNCTION pulse.create_project(name text, adopt_roles boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(name);
  problem text := pulse._name_problem('project', lower(name));
  w text := lower(name) || '_writer';
  r text := lower(name) || '_reader';
  internal text := '_pulse_' || lower(name);
  r_created boolean;
  w_created boolean;
BEGIN
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'invalid project name "%": %', name, problem USING ERRCODE = '42602',
      HINT = 'Project names are 1 to 56 characters of a-z, 0-9 and _, not starting with a digit, pg_ or _pulse_.';
  END IF;
  IF NOT pulse._is_admin() THEN
    RAISE EXCEPTION 'permission denied to create project "%"', p USING ERRCODE = '42501',
      HINT = 'Superusers and members of pulse_admin create projects.';
  END IF;
  IF EXISTS (SELECT 1 FROM pulse.projects WHERE projects.name = p) THEN
    RAISE EXCEPTION 'project "%" already exists', p USING ERRCODE = '42710';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = p) THEN
    RAISE EXCEPTION 'schema "%" already exists', p USING ERRCODE = '42P06',
      HINT = 'A project owns a schema of its own name; choose another name.';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = internal) THEN
    RAISE EXCEPTION 'schema "%" already exists', internal USING ERRCODE = '42P06',
      HINT = format('Project %s keeps the hidden objects of its views in schema %s; choose another name, or drop or rename that schema.', p, internal);
  END IF;
  r_created := pulse._project_role(r, NULL, 'reader', p, coalesce(adopt_roles, false));
  w_created := pulse._project_role(w, r, 'writer', p, coalesce(adopt_roles, false));
  IF NOT pg_has_role(w, r, 'MEMBER') THEN
    EXECUTE format('GRANT %I TO %I', r, w);
  END IF;
  EXECUTE format('CREATE SCHEMA %I', p);
  -- the writer gets USAGE too (it has it through the reader already): the grant records in the
  -- cluster-wide pg_shdepend that this database uses the role, so no other database's
  -- drop_project can drop it while this project exists
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I, %I', p, r, w);
  -- the hidden objects of the project's views: the writer refreshes them; readers cannot name
  -- them (docs/views.md#hidden-objects)
  EXECUTE format('CREATE SCHEMA %I', internal);
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', internal, w);
  EXECUTE format('COMMENT ON SCHEMA %I IS %L', internal,
                 format('pg_pulse internal objects of the views of project %s: read the views in schema %s, not these', p, p));
  INSERT INTO pulse.projects(name, writer_role, reader_role, writer_created, reader_created)
    VALUES (p, w, r, w_created, r_created);
  PERFORM pulse._project_grants(p, true);
END
$$;

CREATE FUNCTION pulse.drop_project(name text, force boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(name);
  proj pulse.projects;
  n int;
  role_name name;
  created boolean;
  parent name;
  problem text;
BEGIN
  IF NOT pulse._is_admin() THEN
    RAISE EXCEPTION 'permission denied to drop project "%"', p USING ERRCODE = '42501',
      HINT = 'Superusers and members of pulse_admin drop projects.';
  END IF;
  SELECT * INTO proj FROM pulse.projects WHERE projects.name = p;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'project "%" does not exist', p USING ERRCODE = '42704';
  END IF;
  SELECT count(*) INTO n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = p;
  IF n > 0 AND NOT force THEN
    RAISE EXCEPTION 'project "%" is not empty', p USING ERRCODE = '2BP01',
      DETAIL = format('Its schema holds %s relations.', n),
      HINT = 'Use pulse.drop_project(name, force => true) to drop its collections and data too.';
  END IF;
  PERFORM pulse._project_grants(p, false);
  EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', p);
  EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', '_pulse_' || p);
  DELETE FROM pulse.rejected_fields WHERE project = p;
  DELETE FROM pulse.dead_letters WHERE project = p;
  DELETE FROM pulse.view_invalidations WHERE project = p;
  DELETE FROM pulse.job_log WHERE project = p;
  DELETE FROM pulse.projects WHERE projects.name = p;
  -- its ingestion counters (a project made again under this name starts from zero)
  BEGIN
    PERFORM pulse.metrics_reset(p);
  EXCEPTION WHEN object_not_in_prerequisite_state THEN
    NULL;  -- not preloaded: no counters
  END;
  -- Only roles this project created go, and only while they are still plain project roles.
  FOR role_name, created, parent IN VALUES (proj.writer_role, proj.writer_created, proj.reader_role),
                                           (proj.reader_role, proj.reader_created, NULL::name) LOOP
    CONTINUE WHEN NOT created OR NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name);
    problem := pulse._role_problem(role_name, parent);
    IF problem IS NOT NULL THEN
      RAISE WARNING 'role % was kept: it has %', quote_ident(role_name), problem;
      CONTINUE;
    END IF;
    BEGIN
      EXECUTE format('DROP OWNED BY %I', role_name);
      EXECUTE format('DROP ROLE %I', role_name);
    EXCEPTION WHEN dependent_objects_still_exist THEN
      RAISE WARNING 'role % was kept: %', quote_ident(role_name), SQLERRM;
    END;
  END LOOP;
END
$$;

-- Ingestion (C, SECURITY DEFINER: they may CREATE and ALTER collection tables; each checks
-- that the calling role has the privileges of <project>_writer). collect and collect_batch set
-- log_min_error_statement = panic while they run: the statement of a call that fails carries
-- its events inline (megabytes), and Postgres would log it whole with the error; the error
-- itself is logged (pg_pulse bounds its size).
CREATE FUNCTION pulse.collect(project text, collection text, event jsonb, spec text DEFAULT NULL)
  RETURNS pulse.ingest_result
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp
  SET log_min_error_statement = panic
  AS 'MODULE_PATHNAME', 'pulse_collect';

CREATE FUNCTION pulse.collect_batch(project text, payload text, collection text DEFAULT NULL,
                                    spec text DEFAULT NULL)
  RETURNS pulse.ingest_result
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp
  SET log_min_error_statement = panic
  AS 'MODULE_PATHNAME', 'pulse_collect_batch';

CREATE FUNCTION pulse.create_collection(project text, collection text, fields jsonb DEFAULT '{}',
                                        dedup boolean DEFAULT false, partition_by text DEFAULT NULL) RETURNS void
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp
  AS 'MODULE_PATHNAME', 'pulse_create_collection';

CREATE FUNCTION pulse.replay_dead_letters(project text, collection text DEFAULT NULL, ids bigint[] DEFAULT NULL)
  RETURNS pulse.ingest_result
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp
  AS 'MODULE_PATHNAME', 'pulse_replay_dead_letters';

-- The writer role of project p when the caller may change p's settings (a member of that role,
-- of pulse_admin, or a superuser); else 42704 (no such project) or 42501 naming the action
-- ("permission denied to <action> of project ...", hint "Members of ... and pulse_admin <who>.").
CREATE FUNCTION pulse._writer_check(p text, action text, who text) RETURNS name
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  w name;
BEGIN
  SELECT writer_role INTO w FROM pulse.projects WHERE name = p;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'project "%" does not exist', p USING ERRCODE = '42704';
  END IF;
  IF NOT (pulse._is_admin() OR pg_has_role(pulse._caller(), w, 'USAGE')) THEN
    RAISE EXCEPTION 'permission denied to % of project "%"', action, p USING ERRCODE = '42501',
      HINT = format('Members of %s and pulse_admin %s.', w, who);
  END IF;
  RETURN w;
END
$$;

-- The defaults of a project for the collections created from now on (by their first event or
-- by pulse.create_collection without the argument): partition_by 'day', 'week', 'month', or
-- NULL / 'none' for plain tables. Existing collections keep their layout.
CREATE FUNCTION pulse.set_project_defaults(project text, partition_by text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  w name;
  unit text := nullif(lower(partition_by), 'none');
BEGIN
  w := pulse._writer_check(p, 'change the defaults', 'change them');
  IF unit IS NOT NULL AND unit NOT IN ('day', 'week', 'month') THEN
    RAISE EXCEPTION 'invalid partition_by "%"', partition_by USING ERRCODE = '22023',
      HINT = 'Use day, week, month, or none (NULL) for plain tables.';
  END IF;
  UPDATE pulse.projects SET partition_by = unit WHERE name = p;
END
$$;

-- The partitions pulse.partition_collection moves a collection's rows into (src/ingest/collect.cc).
CREATE FUNCTION pulse._make_partitions(project text, collection text, times timestamptz[]) RETURNS int
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'pulse_make_partitions';

-- Converts a plain collection into one partitioned by _time (day, week or month), with its rows,
-- in one transaction under an ACCESS EXCLUSIVE lock on the collection: ingestion into it waits
-- (and then writes into the partitioned table), readers wait. Views keep their state. Returns
-- the number of rows moved. See docs/lifecycle.md#converting-a-collection.
CREATE FUNCTION pulse.partition_collection(project text, collection text, partition_by text) RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  c text := lower(collection);
  unit text := lower(partition_by);
  w name;
  reg pulse.collection_registry;
  old oid;
  old_name text;
  moved bigint;
  dep text;
  defs text[] := '{}';
  def_views regclass[] := '{}';
  cols text;
  a record;
  g record;
  k int;
BEGIN
  IF p IS NULL OR c IS NULL OR unit IS NULL THEN
    RAISE EXCEPTION 'project, collection and partition_by must not be null' USING ERRCODE = '22004';
  END IF;
  w := pulse._writer_check(p, 'partition collections', 'do it');
  IF unit NOT IN ('day', 'week', 'month') THEN
    RAISE EXCEPTION 'invalid partition_by "%"', left(partition_by, 100) USING ERRCODE = '22023',
      HINT = 'Use day, week or month.';
  END IF;
  SELECT * INTO reg FROM pulse.collection_registry r WHERE r.project = p AND r.name = c;
  SELECT cl.oid INTO old FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
   WHERE n.nspname = p AND cl.relname = c AND cl.relkind IN ('r', 'p');
  IF reg.name IS NULL OR old IS NULL THEN
    RAISE EXCEPTION 'collection "%.%" does not exist', p, c USING ERRCODE = '42P01',
      HINT = 'pulse.collections lists the collections of a project.';
  END IF;
  IF (SELECT relkind FROM pg_class WHERE oid = old) = 'p' THEN
    RAISE EXCEPTION 'collection "%.%" is partitioned already', p, c USING ERRCODE = '55000';
  END IF;
  EXECUTE format('LOCK TABLE %I.%I IN ACCESS EXCLUSIVE MODE', p, c);
  -- what depends on the table: pg_pulse's views' definitions are made again over the new table;
  -- anything else (a view or foreign key of the user's) stops the conversion
  SELECT string_agg(DISTINCT format('%s', r.ev_class::regclass), ', ') INTO dep
    FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
   WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = old AND r.ev_class <> old
     AND NOT EXISTS (SELECT FROM pg_class vc JOIN pg_namespace vn ON vn.oid = vc.relnamespace
                      WHERE vc.oid = r.ev_class AND vn.nspname = '_pulse_' || p AND starts_with(vc.relname, '_pulse_def_'));
  IF dep IS NULL THEN
    SELECT string_agg(conname, ', ') INTO dep FROM pg_constraint WHERE confrelid = old;
  END IF;
  -- and what uses its row type (a column of another table, temporary ones of other sessions
  -- included, a function's argument): the old table could not be dropped at the end
  IF dep IS NULL THEN
    SELECT string_agg(DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid), ', ') INTO dep
      FROM pg_depend d
     WHERE d.refclassid = 'pg_type'::regclass AND d.deptype = 'n'
       AND d.refobjid = (SELECT reltype FROM pg_class WHERE oid = old);
  END IF;
  IF dep IS NOT NULL THEN
    RAISE EXCEPTION 'cannot partition collection "%.%": other objects depend on it', p, c USING ERRCODE = '2BP01',
      DETAIL = format('Objects: %s.', left(dep, 500)),
      HINT = 'Drop them, partition the collection, then create them again.';
  END IF;
  FOR a IN SELECT DISTINCT r.ev_class::regclass AS v FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
            WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = old AND r.ev_class <> old LOOP
    def_views := def_views || a.v;
    defs := defs || pg_get_viewdef(a.v);  -- names the collection qualified (search_path has no project)
  END LOOP;
  -- the old table steps aside (names starting with _pulse_ are pg_pulse's), the new one is made
  -- as pulse.create_collection makes a partitioned collection, with the same columns
  old_name := '_pulse_old_' || left(md5(c), 20);
  EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', p, c, old_name);
  PERFORM pulse.create_collection(p, c, '{}', reg.dedup, unit);
  FOR a IN SELECT attname, format_type(atttypid, atttypmod) AS typ, attnotnull, pg_get_expr(ad.adbin, ad.adrelid) AS def
             FROM pg_attribute at LEFT JOIN pg_attrdef ad ON ad.adrelid = at.attrelid AND ad.adnum = at.attnum
            WHERE at.attrelid = old AND at.attnum > 0 AND NOT at.attisdropped
              AND at.attname NOT IN ('_time', '_user', '_id', '_shard_time', '_shard_xid')
            ORDER BY at.attnum LOOP
    EXECUTE format('ALTER TABLE %I.%I ADD COLUMN %I %s%s%s', p, c, a.attname, a.typ,
                   CASE WHEN a.def IS NOT NULL THEN ' DEFAULT ' || a.def ELSE '' END,
                   CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END);
  END LOOP;
  PERFORM pulse._describe_collection(p, c);
  -- its owner and grants
  EXECUTE format('ALTER TABLE %I.%I OWNER TO %I', p, c, (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = old));
  FOR g IN SELECT x.privilege_type, x.grantee, x.is_grantable
             FROM pg_class cl, aclexplode(cl.relacl) x WHERE cl.oid = old AND x.grantee <> cl.relowner LOOP
    EXECUTE format('GRANT %s ON %I.%I TO %s%s', g.privilege_type, p, c,
                   CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END,
                   CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
  -- the partitions of its rows (each hour of data names its range), then the rows, as they were
  EXECUTE format('SELECT pulse._make_partitions($1, $2, (SELECT array_agg(DISTINCT date_trunc(''hour'', _time)) FROM %I.%I))',
                 p, old_name) USING p, c;
  SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute WHERE attrelid = old AND attnum > 0 AND NOT attisdropped;
  EXECUTE format('INSERT INTO %I.%I (%s) SELECT %s FROM %I.%I', p, c, cols, cols, p, old_name);
  GET DIAGNOSTICS moved = ROW_COUNT;
  -- pg_pulse's views read the new table (same query, same state)
  FOR k IN 1 .. coalesce(array_length(def_views, 1), 0) LOOP
    EXECUTE format('CREATE OR REPLACE VIEW %s WITH (security_invoker = true) AS %s', def_views[k], defs[k]);
  END LOOP;
  -- their state was made over the same rows (same _shard_time and _shard_xid): it stays valid
  -- for the new table (a view's state is tied to its collection's table oid)
  UPDATE pulse.view_registry v SET snapshot_origin = i.token || '/' || format('%I.%I', p, c)::regclass::oid
    FROM pulse.instance i
   WHERE v.project = p AND v.collection = c AND v.snapshot_origin = i.token || '/' || old;
  EXECUTE format('DROP TABLE %I.%I', p, old_name);
  RETURN moved;
END
$$;

-- Retention: events of collection (NULL: the project's default for its collections without
-- their own) whose _time is older than now() - keep are dropped by the database's scheduler;
-- keep NULL removes the setting. See docs/lifecycle.md#retention.
CREATE FUNCTION pulse.set_retention(project text, collection text, keep interval) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  c text := lower(collection);
  w name;
BEGIN
  w := pulse._writer_check(p, 'change the retention', 'change it');
  IF keep IS NOT NULL AND keep <= interval '0' THEN
    RAISE EXCEPTION 'keep must be a positive interval, got %', keep USING ERRCODE = '22023',
      HINT = 'NULL removes the retention (events are kept forever).';
  END IF;
  IF c IS NULL THEN
    UPDATE pulse.projects SET keep = set_retention.keep WHERE name = p;
  ELSE
    UPDATE pulse.collection_registry r SET keep = set_retention.keep WHERE r.project = p AND r.name = c;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'collection "%.%" does not exist', p, c USING ERRCODE = '42P01',
        HINT = 'pulse.collections lists the collections of a project.';
    END IF;
  END IF;
END
$$;

-- Applies the retention of every collection now, in the calling transaction (the scheduler does
-- it every minute, one partition or batch per transaction), and of rejected_fields and
-- dead_letters (pulse.rejected_fields_retention, pulse.dead_letters_retention). Returns the rows
-- dropped. Superusers only: plain collections are trimmed with session_replication_role =
-- replica so that the views' invalidation trigger does not fire.
CREATE FUNCTION pulse.apply_retention() RETURNS bigint
  LANGUAGE c VOLATILE SET search_path = pg_catalog, pulse, pg_temp
  AS 'MODULE_PATHNAME', 'pulse_apply_retention';

-- Newest event time of a collection, for roles that may read it (NULL otherwise). Only tables
-- a superuser owns are read (collections belong to the extension's owner): a view, a temporary
-- relation or another role's table could run that role's code as the caller (a rule's query,
-- a row security policy), and a view query of a project writer may call this function.
CREATE FUNCTION pulse.last_event_time(collection regclass) RETURNS timestamptz
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE t timestamptz;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_class c JOIN pg_roles o ON o.oid = c.relowner
                  WHERE c.oid = collection AND c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND o.rolsuper) THEN
    RETURN NULL;
  END IF;
  IF NOT has_table_privilege(collection, 'SELECT') THEN RETURN NULL; END IF;
  EXECUTE format('SELECT max(_time) FROM %s', collection) INTO t;
  RETURN t;
END
$$;

CREATE VIEW pulse.collections WITH (security_barrier) AS
SELECT c.project,
       c.name AS collection,
       (SELECT count(*) FROM pg_attribute a
         WHERE a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped
           AND left(a.attname, 1) <> '_')::int AS columns,
       (SELECT jsonb_object_agg(a.attname, format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
          FROM pg_attribute a
         WHERE a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped) AS fields,
       -- a partitioned collection: the sum over its partitions
       (SELECT coalesce(sum(greatest(l.reltuples, pg_stat_get_live_tuples(l.oid), 0)), 0)
          FROM pg_partition_tree(cl.oid) t JOIN pg_class l ON l.oid = t.relid WHERE t.isleaf)::bigint AS estimated_rows,
       pulse.last_event_time(cl.oid::regclass) AS last_event_time,
       c.dedup,
       c.created_at,
       c.partition_by,
       (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = cl.oid)::int AS partitions,
       coalesce(c.keep, (SELECT p.keep FROM pulse.projects p WHERE p.name = c.project)) AS keep,
       c.history_dropped_before
  FROM pulse.collection_registry c
  JOIN pg_namespace n ON n.nspname = c.project
  JOIN pg_class cl ON cl.relnamespace = n.oid AND cl.relname = c.name
 WHERE has_table_privilege(cl.oid, 'SELECT');

-- Describes a collection table and its system columns (psql's \d+, BI tools); run by pg_pulse
-- when it creates the table.
CREATE FUNCTION pulse._describe_collection(p text, c text) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  t text := format('%I.%I', p, c);
BEGIN
  EXECUTE format('COMMENT ON TABLE %s IS %L', t,
                 format('pg_pulse collection %s of project %s: one row per event, a column per event field', c, p));
  EXECUTE format('COMMENT ON COLUMN %s._time IS %L', t,
                 'When the event happened: its _time (ISO-8601 or epoch milliseconds), else the arrival time');
  EXECUTE format('COMMENT ON COLUMN %s._user IS %L', t, 'Who did it: the event''s _user');
  EXECUTE format('COMMENT ON COLUMN %s._id IS %L', t, 'The event''s _id (unique when the collection deduplicates)');
  EXECUTE format('COMMENT ON COLUMN %s._shard_time IS %L', t,
                 'Arrival time: start of the storing transaction (views merge by it)');
  EXECUTE format('COMMENT ON COLUMN %s._shard_xid IS %L', t,
                 'Top-level id of the storing transaction (views merge by it)');
END
$$;

-- Catalog privileges: the readers (and so the writers) of a project see its rows of
-- rejected_fields and dead_letters (row-level security); ingestion writes them as the owner.
REVOKE ALL ON ALL TABLES IN SCHEMA pulse FROM PUBLIC;
GRANT SELECT ON pulse.collections, pulse.projects TO PUBLIC;
GRANT SELECT ON pulse.rejected_fields, pulse.dead_letters TO PUBLIC;
ALTER TABLE pulse.rejected_fields ENABLE ROW LEVEL SECURITY;
ALTER TABLE pulse.dead_letters ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_readers ON pulse.rejected_fields FOR SELECT
  USING (EXISTS (SELECT FROM pg_roles r WHERE r.rolname = project || '_reader'
                                         AND pg_has_role(current_user, r.oid, 'USAGE')));
CREATE POLICY project_readers ON pulse.dead_letters FOR SELECT
  USING (EXISTS (SELECT FROM pg_roles r WHERE r.rolname = project || '_reader'
                                         AND pg_has_role(current_user, r.oid, 'USAGE')));
-- A role sees the projects it reads (writers included); pulse_admin and pg_monitor see all.
ALTER TABLE pulse.projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY project_members ON pulse.projects FOR SELECT
  USING (EXISTS (SELECT FROM pg_roles r WHERE r.rolname = reader_role AND pg_has_role(current_user, r.oid, 'USAGE'))
         OR pg_has_role(current_user, 'pulse_admin', 'USAGE') OR pg_has_role(current_user, 'pg_monitor', 'USAGE'));

