-- pg_pulse, part 52: cohorts (docs/people.md#cohorts). A cohort is a named set of persons: the
-- ids (distinct ids or person ids) that a writer's query returns, materialised like a `cache`
-- view (pulse.create_view: the query is analysed by Postgres as the project's writer, with
-- trusted objects only, and recomputed as the writer), as the view <project>.cohort_<name>
-- that readers of the project may read. The ids are resolved to persons when an insight reads
-- the cohort, so a link made after the refresh counts. Insights take `cohort => '<name>'`
-- (only the persons of the cohort) and `breakdown => 'cohort.<name>'` (true / false).

CREATE TABLE pulse.cohort_registry (
  project    text NOT NULL REFERENCES pulse.projects(name) ON DELETE CASCADE,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project, name)
);
SELECT pg_catalog.pg_extension_config_dump('pulse.cohort_registry', '');
REVOKE ALL ON pulse.cohort_registry FROM PUBLIC;

-- The view that holds cohort name's ids.
CREATE FUNCTION pulse._cohort_view(name text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT 'cohort_' || name
$$;

-- pulse.create_cohort(project, name, query, refresh_every): a cohort of project's persons, the
-- ids query returns (one text column); refreshed on demand (pulse.refresh_cohort) and, with
-- refresh_every, by the scheduler. For the project's writers. Returns the number of ids.
CREATE FUNCTION pulse.create_cohort(project text, name text, query text, refresh_every interval DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  n text := lower(name);
  problem text;
  cols int;
  typ regtype;
BEGIN
  IF project IS NULL OR name IS NULL OR query IS NULL THEN
    RAISE EXCEPTION 'project, name and query must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM pulse._require_writer(p);
  problem := pulse._name_problem('collection', n);
  IF problem IS NULL AND length(n) > 56 THEN
    problem := 'longer than 56 bytes';
  END IF;
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'invalid cohort name "%": %', name, problem USING ERRCODE = '42602';
  END IF;
  IF EXISTS (SELECT FROM pulse.cohort_registry r WHERE r.project = p AND r.name = n) THEN
    RAISE EXCEPTION 'cohort "%.%" already exists', p, n USING ERRCODE = '42710',
      HINT = 'pulse.drop_cohort drops it; pulse.refresh_cohort recomputes it.';
  END IF;
  -- the view analyses, checks and stores the query as the writer (the session's role)
  PERFORM pulse.create_view(p, pulse._cohort_view(n), query, 'cache', coalesce(refresh_every, interval '1000 years'));
  SELECT count(*), min(a.atttypid)::regtype INTO cols, typ
    FROM pg_attribute a
   WHERE a.attrelid = format('%I.%I', p, pulse._cohort_view(n))::regclass AND a.attnum > 0 AND NOT a.attisdropped;
  IF cols <> 1 OR typ <> 'text'::regtype THEN
    RAISE EXCEPTION 'a cohort query must return one text column (the ids of its persons)' USING ERRCODE = '42804',
      DETAIL = format('The query of cohort "%s.%s" returns %s column(s)%s.', p, n, cols,
                      CASE WHEN cols = 1 THEN format(' of type %s', typ) ELSE '' END),
      HINT = 'E.g. SELECT _user FROM purchase GROUP BY _user HAVING count(*) >= 2; cast other types: _user::text.';
  END IF;
  INSERT INTO pulse.cohort_registry (project, name) VALUES (p, n);
  RETURN (SELECT v.rows FROM pulse.view_registry v WHERE v.project = p AND v.name = pulse._cohort_view(n));
END
$$;

-- The registry row of cohort project.name for its writers (42704 when there is none).
CREATE FUNCTION pulse._cohort_for_writer(p text, n text) RETURNS void
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pulse, pg_temp AS $$
BEGIN
  PERFORM pulse._require_writer(p);
  PERFORM FROM pulse.cohort_registry r WHERE r.project = p AND r.name = n FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'cohort "%.%" does not exist', p, n USING ERRCODE = '42704',
      HINT = 'pulse.cohorts lists the cohorts of a project.';
  END IF;
END
$$;

-- Recomputes a cohort now (as the writer); returns its number of ids.
CREATE FUNCTION pulse.refresh_cohort(project text, name text) RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  n text := lower(name);
BEGIN
  PERFORM pulse._cohort_for_writer(p, n);
  PERFORM pulse.refresh_view(p, pulse._cohort_view(n), true);
  RETURN (SELECT v.rows FROM pulse.view_registry v WHERE v.project = p AND v.name = pulse._cohort_view(n));
END
$$;

-- Changes how often the scheduler refreshes a cohort (NULL: only pulse.refresh_cohort).
CREATE FUNCTION pulse.alter_cohort(project text, name text, refresh_every interval) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  n text := lower(name);
BEGIN
  PERFORM pulse._cohort_for_writer(p, n);
  PERFORM pulse.alter_view(p, pulse._cohort_view(n), NULL, coalesce(refresh_every, interval '1000 years'));
END
$$;

CREATE FUNCTION pulse.drop_cohort(project text, name text) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  n text := lower(name);
BEGIN
  PERFORM pulse._cohort_for_writer(p, n);
  PERFORM pulse.drop_view(p, pulse._cohort_view(n));
  DELETE FROM pulse.cohort_registry r WHERE r.project = p AND r.name = n;
END
$$;

-- The cohorts of the projects the caller reads (monitoring sees all), with their view's state.
CREATE VIEW pulse.cohorts WITH (security_barrier) AS
SELECT c.project, c.name, v.project || '.' || v.name AS view, v.query,
       CASE WHEN v.refresh_every >= interval '1000 years' THEN NULL ELSE v.refresh_every END AS refresh_every,
       c.created_at, v.last_refresh, v.rows AS ids, v.last_duration, v.last_error, v.last_error_at
  FROM pulse.cohort_registry c
  JOIN pulse.view_registry v ON v.project = c.project AND v.name = 'cohort_' || c.name
 WHERE EXISTS (SELECT FROM pg_roles r, pg_roles u
                WHERE r.rolname = c.project || '_reader' AND u.rolname = current_user
                  AND pg_has_role(u.oid, r.oid, 'USAGE'))
    OR pg_has_role(current_user, 'pg_monitor', 'USAGE');
GRANT SELECT ON pulse.cohorts TO PUBLIC;

-- ---------------------------------------------------------------------------- in insights
-- (SECURITY INVOKER like the insights: the caller reads the cohort's view and the mapping.)

-- The persons of cohort name of project, as an SQL subquery (its ids resolved through the
-- mapping): 42704 when the caller sees no such cohort (pulse.cohorts).
CREATE FUNCTION pulse._insight_cohort_set(project text, name text, arg text) RETURNS text
  LANGUAGE plpgsql STABLE AS $$
DECLARE
  n text := lower(name);
BEGIN
  IF NOT EXISTS (SELECT FROM pulse.cohorts c WHERE c.project = _insight_cohort_set.project AND c.name = n) THEN
    RAISE EXCEPTION 'cohort "%.%" does not exist (%)', project, n, arg USING ERRCODE = '42704',
      HINT = 'pulse.cohorts lists the cohorts of the projects you read.';
  END IF;
  IF pulse._insight_has_persons(project) THEN
    RETURN format('(SELECT coalesce(_pulse_cm.person_id, _pulse_c.id) FROM %I.%I AS _pulse_c(id)'
                  ' LEFT JOIN %I._person_ids _pulse_cm ON _pulse_cm.distinct_id = _pulse_c.id)',
                  project, pulse._cohort_view(n), project);
  END IF;
  RETURN format('(SELECT _pulse_c.id FROM %I.%I AS _pulse_c(id))', project, pulse._cohort_view(n));
END
$$;

-- Whether an event read by pulse._insight_from (with the mapping) is by a person of the
-- cohort: an SQL condition ("true" without a cohort).
CREATE FUNCTION pulse._insight_cohort_cond(project text, cohort text) RETURNS text
  LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF cohort IS NULL THEN
    RETURN 'true';
  END IF;
  RETURN format('(%s IN %s)', pulse._insight_actor(project, true), pulse._insight_cohort_set(project, cohort, 'cohort'));
END
$$;
