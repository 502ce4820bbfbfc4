
-- pg_pulse, part 30: per-actor aggregates (window_funnel, window_funnel_steps,
-- retention_flags) and the funnel insight pulse.funnel. Semantics: docs/analytics.md.

-- ---------------------------------------------------------------- aggregates (C++)
-- Support functions of the aggregates. The state of window_funnel is `internal`; it can be
-- serialised (bytea starting with a version byte) for parallel aggregation.
CREATE FUNCTION pulse._window_funnel_add(internal, interval, timestamptz, boolean[]) RETURNS internal
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_window_funnel_add';
CREATE FUNCTION pulse._window_funnel_add(internal, interval, text[], timestamptz, boolean[]) RETURNS internal
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_window_funnel_add_modes';
CREATE FUNCTION pulse._window_funnel_combine(internal, internal) RETURNS internal
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_window_funnel_combine';
CREATE FUNCTION pulse._window_funnel_serialize(internal) RETURNS bytea
  LANGUAGE c STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_window_funnel_serialize';
CREATE FUNCTION pulse._window_funnel_deserialize(bytea, internal) RETURNS internal
  LANGUAGE c STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_window_funnel_deserialize';
CREATE FUNCTION pulse._window_funnel_level(internal) RETURNS integer
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_window_funnel_level';
CREATE FUNCTION pulse._window_funnel_steps(internal) RETURNS timestamptz[]
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_window_funnel_steps';

-- ClickHouse windowFunnel: the number of steps of the longest chain step 1 -> step 2 -> ...
-- that starts at any step-1 event and ends within the (inclusive) window.
CREATE AGGREGATE pulse.window_funnel("window" interval, ts timestamptz, VARIADIC conds boolean[]) (
  SFUNC = pulse._window_funnel_add, STYPE = internal,
  FINALFUNC = pulse._window_funnel_level,
  COMBINEFUNC = pulse._window_funnel_combine,
  SERIALFUNC = pulse._window_funnel_serialize, DESERIALFUNC = pulse._window_funnel_deserialize,
  PARALLEL = SAFE
);
CREATE AGGREGATE pulse.window_funnel("window" interval, modes text[], ts timestamptz, VARIADIC conds boolean[]) (
  SFUNC = pulse._window_funnel_add, STYPE = internal,
  FINALFUNC = pulse._window_funnel_level,
  COMBINEFUNC = pulse._window_funnel_combine,
  SERIALFUNC = pulse._window_funnel_serialize, DESERIALFUNC = pulse._window_funnel_deserialize,
  PARALLEL = SAFE
);
-- The same chain's step timestamps (for time-to-convert): element k is step k's time.
CREATE AGGREGATE pulse.window_funnel_steps("window" interval, ts timestamptz, VARIADIC conds boolean[]) (
  SFUNC = pulse._window_funnel_add, STYPE = internal,
  FINALFUNC = pulse._window_funnel_steps,
  COMBINEFUNC = pulse._window_funnel_combine,
  SERIALFUNC = pulse._window_funnel_serialize, DESERIALFUNC = pulse._window_funnel_deserialize,
  PARALLEL = SAFE
);
CREATE AGGREGATE pulse.window_funnel_steps("window" interval, modes text[], ts timestamptz, VARIADIC conds boolean[]) (
  SFUNC = pulse._window_funnel_add, STYPE = internal,
  FINALFUNC = pulse._window_funnel_steps,
  COMBINEFUNC = pulse._window_funnel_combine,
  SERIALFUNC = pulse._window_funnel_serialize, DESERIALFUNC = pulse._window_funnel_deserialize,
  PARALLEL = SAFE
);

-- ClickHouse retention. The state is a bigint (version | number of conditions | mask).
CREATE FUNCTION pulse._retention_add(bigint, boolean[]) RETURNS bigint
  LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_retention_add';
CREATE FUNCTION pulse._retention_combine(bigint, bigint) RETURNS bigint
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_retention_combine';
CREATE FUNCTION pulse._retention_final(bigint) RETURNS integer[]
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_retention_final';
CREATE AGGREGATE pulse.retention_flags(VARIADIC conds boolean[]) (
  SFUNC = pulse._retention_add, STYPE = bigint, INITCOND = '0',
  FINALFUNC = pulse._retention_final,
  COMBINEFUNC = pulse._retention_combine,
  PARALLEL = SAFE
);

-- ------------------------------------------------------------ report aggregates
-- Whether the insight functions may use the report aggregates (GUC
-- pulse.analytics_single_pass, on unless set off; unset when the library is not loaded yet).
CREATE FUNCTION pulse._single_pass() RETURNS boolean
  LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('pulse.analytics_single_pass', true), ''), 'on')::boolean
$$;

-- Internal single-pass aggregates of the insight functions (src/analytics/reports.cc): one
-- state holds every actor of the analysis, numbered in C++, instead of one Postgres group per
-- actor. The insight builders validate their arguments; the aggregates only guard themselves.
-- The final functions consume the state (FINALFUNC_MODIFY = READ_WRITE).

-- One step of pulse._funnel_report: users who reached it, and the average and median time
-- from the previous step (NULL for step 1 and for steps nobody reached).
CREATE TYPE pulse._funnel_step AS (users bigint, avg_time interval, median_time interval);

CREATE FUNCTION pulse._funnel_report_add(internal, text, timestamptz, integer, integer, interval,
                                         integer, integer, integer[], integer[]) RETURNS internal
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_funnel_report_add';
CREATE FUNCTION pulse._funnel_report_final(internal) RETURNS pulse._funnel_step[]
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_funnel_report_final';
-- (actor, ts, step bits, exclusion bits, window, mode bits, nsteps, exclusion from_steps, to_steps)
CREATE AGGREGATE pulse._funnel_report(text, timestamptz, integer, integer, interval, integer, integer,
                                      integer[], integer[]) (
  SFUNC = pulse._funnel_report_add, STYPE = internal,
  FINALFUNC = pulse._funnel_report_final, FINALFUNC_MODIFY = READ_WRITE
);

CREATE FUNCTION pulse._retention_report_add(internal, text, timestamptz, boolean, boolean, timestamptz[],
                                            integer, integer, boolean, timestamptz) RETURNS internal
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_retention_report_add';
CREATE FUNCTION pulse._retention_report_final(internal) RETURNS bigint[]
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_retention_report_final';
-- (actor, ts, is start event, is return event, bucket bounds, cohorts, periods, first_time,
--  date_from) -> cohorts x periods counts
CREATE AGGREGATE pulse._retention_report(text, timestamptz, boolean, boolean, timestamptz[], integer,
                                         integer, boolean, timestamptz) (
  SFUNC = pulse._retention_report_add, STYPE = internal,
  FINALFUNC = pulse._retention_report_final, FINALFUNC_MODIFY = READ_WRITE
);

CREATE FUNCTION pulse._uniques_report_add(internal, text, timestamptz, timestamptz[]) RETURNS internal
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_uniques_report_add';
CREATE FUNCTION pulse._uniques_report_final(internal) RETURNS bigint[]
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_uniques_report_final';
-- (actor, ts, bucket bounds) -> distinct actors per bucket
CREATE AGGREGATE pulse._uniques_report(text, timestamptz, timestamptz[]) (
  SFUNC = pulse._uniques_report_add, STYPE = internal,
  FINALFUNC = pulse._uniques_report_final, FINALFUNC_MODIFY = READ_WRITE
);

-- ---------------------------------------------------------------- pulse.funnel
-- Everything below is SECURITY INVOKER without a fixed search_path: the funnel reads the
-- collections with the caller's privileges (and row-level security), and the caller's filters
-- resolve names as the caller's own queries do.

CREATE FUNCTION pulse._funnel_check_filter(filter text) RETURNS void
  LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_funnel_check_filter';

-- Validates one {"collection", "filter", ...} object of pulse.funnel (what: "step 2",
-- "exclusion 1"; keys: the keys it may have) and returns its collection (lower-cased) and
-- filter (NULL for every event of the collection).
CREATE FUNCTION pulse._funnel_spec(project text, spec jsonb, what text, keys text[],
                                   OUT collection text, OUT filter text)
  LANGUAGE plpgsql AS $$
DECLARE
  k text;
  problem text;
  known text;
BEGIN
  IF spec IS NULL OR jsonb_typeof(spec) <> 'object' THEN
    RAISE EXCEPTION '% must be a JSON object', what USING ERRCODE = '22023',
      HINT = format('Valid keys: %s.', array_to_string(keys, ', '));
  END IF;
  FOR k IN SELECT jsonb_object_keys(spec) LOOP
    IF NOT k = ANY (keys) THEN
      RAISE EXCEPTION 'unknown key "%" in %', k, what USING ERRCODE = '22023',
        HINT = format('Valid keys: %s.', array_to_string(keys, ', '));
    END IF;
  END LOOP;
  IF jsonb_typeof(spec -> 'collection') IS DISTINCT FROM 'string' THEN
    RAISE EXCEPTION '% needs a "collection" (a string)', what USING ERRCODE = '22023';
  END IF;
  collection := lower(spec ->> 'collection');
  problem := pulse._name_problem('collection', collection);
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'invalid collection name "%" in %: %', spec ->> 'collection', what, problem USING ERRCODE = '42602';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = project AND c.relname = collection AND c.relkind IN ('r', 'p', 'v', 'm', 'f')) THEN
    SELECT string_agg(c.relname, ', ' ORDER BY c.relname) INTO known
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = project AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname !~ '^_';
    RAISE EXCEPTION 'collection "%.%" does not exist', project, collection USING ERRCODE = '42P01',
      DETAIL = format('It is named by %s.', what),
      HINT = CASE WHEN known IS NULL THEN format('Project "%s" has no collections yet.', project)
                  ELSE format('Collections of project "%s": %s.', project, known) END;
  END IF;
  -- Every event source needs the system columns; this also checks the caller's privileges.
  EXECUTE format('SELECT _user, _time FROM %I.%I LIMIT 0', project, collection);

  IF jsonb_typeof(spec -> 'filter') = 'string' AND btrim(spec ->> 'filter') <> '' THEN
    filter := spec ->> 'filter';
  ELSIF (spec -> 'filter') IS NOT NULL AND jsonb_typeof(spec -> 'filter') NOT IN ('null', 'string') THEN
    RAISE EXCEPTION 'invalid filter for %: a filter must be a string holding an SQL boolean expression', what
      USING ERRCODE = '22023';
  END IF;
  IF filter IS NOT NULL THEN
    BEGIN
      PERFORM pulse._funnel_check_filter(filter);
      -- WHERE requires a boolean; the newline ends a trailing -- comment.
      EXECUTE format(E'SELECT 1 FROM %I.%I WHERE (%s\n) LIMIT 0', project, collection, filter);
    EXCEPTION
      WHEN insufficient_privilege THEN RAISE;
      WHEN OTHERS THEN
        RAISE EXCEPTION 'invalid filter for %: %', what, SQLERRM USING ERRCODE = '22023',
          DETAIL = format('The filter on collection "%s.%s" is: %s', project, collection, filter),
          HINT = 'A filter is one SQL boolean expression over the columns of the collection, e.g. plan = ''pro''.';
    END;
  END IF;
END
$$;

-- SQL text of a validated filter as a non-null boolean (no filter: every event).
CREATE FUNCTION pulse._funnel_cond(filter text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN filter IS NULL THEN 'true' ELSE format(E'COALESCE((%s\n), false)', filter) END
$$;

-- The events of a funnel's steps and exclusions: one SELECT per distinct collection giving
-- (u, t, s, x), s and x the bits of the steps and exclusions the event matches, UNION ALL-ed.
-- Both plans read them: the single pass (pulse._funnel_report) and the general plan, which
-- calls this once for the steps and once for the exclusions. A row is kept when it matches
-- something, or always in a step collection when `everything` is set (strict funnels: any
-- event interrupts).
CREATE FUNCTION pulse._funnel_events_sql(proj text, colls text[], filters text[], x_colls text[],
                                         x_filters text[], range_cond text, everything boolean)
  RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  coll text;
  bits text[];
  masks text[];
  conds text[];
  keep_all boolean;
  sels text[] := '{}';
BEGIN
  FOR coll IN SELECT DISTINCT c FROM unnest(colls || x_colls) AS c ORDER BY 1 LOOP
    conds := '{}';
    masks := '{}';
    keep_all := everything AND coll = ANY (colls);
    FOR side IN 1 .. 2 LOOP
      bits := '{}';
      FOR i IN 1 .. cardinality(CASE side WHEN 1 THEN colls ELSE x_colls END) LOOP
        CONTINUE WHEN (CASE side WHEN 1 THEN colls[i] ELSE x_colls[i] END) <> coll;
        IF (CASE side WHEN 1 THEN filters[i] ELSE x_filters[i] END) IS NULL THEN
          keep_all := true;
          bits := bits || ((1 << (i - 1))::text);
        ELSE
          conds := conds || pulse._funnel_cond(CASE side WHEN 1 THEN filters[i] ELSE x_filters[i] END);
          bits := bits || format('CASE WHEN %s THEN %s ELSE 0 END', conds[cardinality(conds)], 1 << (i - 1));
        END IF;
      END LOOP;
      masks := masks || CASE WHEN cardinality(bits) = 0 THEN '0' ELSE array_to_string(bits, ' | ') END;
    END LOOP;
    sels := sels || format('SELECT _user::text AS u, _time AS t, (%s)::integer AS s, (%s)::integer AS x FROM %I.%I WHERE %s%s',
                           masks[1], masks[2], proj, coll, range_cond,
                           CASE WHEN keep_all THEN '' ELSE format(' AND (%s)', array_to_string(conds, ' OR ')) END);
  END LOOP;
  RETURN array_to_string(sels, E'\n    UNION ALL\n    ');
END
$$;

-- The funnel itself (pulse.funnel is a SQL wrapper: PL/pgSQL cannot name an input and an
-- output column both "breakdown"). Builds one query, run with $1 = date_from, $2 = date_to,
-- $3 = conversion_window. Without breakdown: the events -> pulse._funnel_report. With one
-- (or pulse.analytics_single_pass off): the events -> one window_funnel_steps chain per user
-- -> exclusions -> breakdown value -> users, conversion and time to convert per step.
CREATE FUNCTION pulse._funnel(project text, steps jsonb, date_from timestamptz, date_to timestamptz,
                              conversion_window interval, step_order text, exclusions jsonb,
                              breakdown_column text, timezone text)
  RETURNS TABLE(o_breakdown text, o_step integer, o_step_name text, o_users bigint,
                o_conversion_from_first double precision, o_conversion_from_previous double precision,
                o_avg_time_to_convert interval, o_median_time_to_convert interval)
  LANGUAGE plpgsql SET TimeZone FROM CURRENT AS $$
DECLARE
  e_state text;
  e_message text;
  e_detail text;
  e_hint text;
  proj text := lower(project);
  nsteps int;
  nexcl int := 0;
  spec jsonb;
  r record;
  step_coll text[] := '{}';
  step_filter text[] := '{}';
  step_name text[] := '{}';
  x_coll text[] := '{}';
  x_filter text[] := '{}';
  x_from int[] := '{}';
  x_to int[] := '{}';
  expr text;
  bad boolean;
  ord text := lower(step_order);
  modes text;
  step_flags text;
  range_cond text := '_time >= $1 AND _time < $2 AND _user IS NOT NULL';
  ev_sql text;
  ex_sql text;
  excl_sql text;
  bd_sql text;
  q text;
  i int;
  j int;
BEGIN
  -- arguments
  IF project IS NULL OR steps IS NULL OR date_from IS NULL OR date_to IS NULL OR conversion_window IS NULL
     OR step_order IS NULL OR timezone IS NULL THEN
    RAISE EXCEPTION 'pulse.funnel: only exclusions and breakdown may be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = proj) THEN
    RAISE EXCEPTION 'project "%" does not exist', proj USING ERRCODE = '42704';
  END IF;
  IF date_from >= date_to THEN
    RAISE EXCEPTION 'date_from must be earlier than date_to' USING ERRCODE = '22023',
      DETAIL = format('Got [%s, %s).', date_from, date_to);
  END IF;
  IF date_part('month', conversion_window) <> 0 OR date_part('year', conversion_window) <> 0 THEN
    RAISE EXCEPTION 'conversion_window must not have a month or year part' USING ERRCODE = '22023',
      HINT = 'Months have no fixed length: give the window in days, e.g. ''30 days''.';
  END IF;
  IF conversion_window < interval '0' THEN
    RAISE EXCEPTION 'conversion_window must not be negative' USING ERRCODE = '22023';
  END IF;
  IF ord NOT IN ('ordered', 'strict', 'unordered') THEN
    RAISE EXCEPTION 'unknown step_order "%"', step_order USING ERRCODE = '22023',
      HINT = 'Use ordered, strict or unordered.';
  END IF;
  -- Filters and breakdown values are evaluated in the funnel's time zone (SET TimeZone on the
  -- function restores the caller's at exit).
  BEGIN
    PERFORM pg_catalog.set_config('TimeZone', timezone, true);
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'unknown time zone "%"', timezone USING ERRCODE = '22023',
      HINT = 'Use a name from pg_timezone_names (e.g. UTC, Europe/Paris); abbreviations such as PST are not time zones.';
  END;

  -- steps
  IF jsonb_typeof(steps) <> 'array' OR jsonb_array_length(steps) = 0 THEN
    RAISE EXCEPTION 'steps must be a non-empty JSON array' USING ERRCODE = '22023',
      HINT = 'A step is {"collection": "<name>", "filter": "<SQL boolean expression>", "name": "<label>"}; filter and name are optional.';
  END IF;
  nsteps := jsonb_array_length(steps);
  IF nsteps > 32 THEN
    RAISE EXCEPTION 'a funnel has at most 32 steps, got %', nsteps USING ERRCODE = '54000';
  END IF;
  FOR i IN 1 .. nsteps LOOP
    spec := steps -> (i - 1);
    SELECT * INTO r FROM pulse._funnel_spec(proj, spec, format('step %s', i), ARRAY['collection', 'filter', 'name']);
    IF jsonb_typeof(spec -> 'name') NOT IN ('string', 'null') THEN
      RAISE EXCEPTION 'the name of step % must be a string', i USING ERRCODE = '22023';
    END IF;
    step_coll := step_coll || r.collection;
    step_filter := step_filter || r.filter;
    step_name := step_name || coalesce(spec ->> 'name',
                                       CASE WHEN r.filter IS NULL THEN r.collection
                                            ELSE format('%s (%s)', r.collection, r.filter) END);
  END LOOP;

  -- exclusions
  IF exclusions IS NOT NULL AND jsonb_typeof(exclusions) <> 'null' THEN
    IF jsonb_typeof(exclusions) <> 'array' THEN
      RAISE EXCEPTION 'exclusions must be a JSON array' USING ERRCODE = '22023',
        HINT = 'An exclusion is {"collection": "<name>", "filter": "<SQL boolean expression>", "from_step": 1, "to_step": 2}.';
    END IF;
    nexcl := jsonb_array_length(exclusions);
    FOR j IN 1 .. nexcl LOOP
      spec := exclusions -> (j - 1);
      SELECT * INTO r FROM pulse._funnel_spec(proj, spec, format('exclusion %s', j),
                                              ARRAY['collection', 'filter', 'from_step', 'to_step']);
      IF jsonb_typeof(spec -> 'from_step') IS DISTINCT FROM 'number' OR jsonb_typeof(spec -> 'to_step') IS DISTINCT FROM 'number' THEN
        bad := true;
      ELSE
        bad := (spec ->> 'from_step')::numeric <> trunc((spec ->> 'from_step')::numeric)
            OR (spec ->> 'to_step')::numeric <> trunc((spec ->> 'to_step')::numeric)
            OR (spec ->> 'from_step')::numeric < 1 OR (spec ->> 'to_step')::numeric > nsteps
            OR (spec ->> 'from_step')::numeric >= (spec ->> 'to_step')::numeric;
      END IF;
      IF bad THEN
        RAISE EXCEPTION 'exclusion % needs steps 1 <= from_step < to_step <= %', j, nsteps USING ERRCODE = '22023',
          DETAIL = format('Got from_step %s, to_step %s.', coalesce(spec ->> 'from_step', 'null'), coalesce(spec ->> 'to_step', 'null'));
      END IF;
      x_coll := x_coll || r.collection;
      x_filter := x_filter || r.filter;
      x_from := x_from || (spec ->> 'from_step')::numeric::int;
      x_to := x_to || (spec ->> 'to_step')::numeric::int;
    END LOOP;
  END IF;

  -- breakdown: a column of the step-1 collection
  IF breakdown_column IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = format('%I.%I', proj, step_coll[1])::regclass AND a.attname = breakdown_column
          AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'breakdown column "%" does not exist in collection "%.%"', breakdown_column, proj, step_coll[1]
      USING ERRCODE = '42703', HINT = 'The breakdown is a column of the events of step 1.';
  END IF;

  IF breakdown_column IS NULL AND pulse._single_pass() THEN
    -- One pass: every event into one pulse._funnel_report state (mode bits: strict_order 1,
    -- unordered 8; see core/funnel.h).
    q := format($q$
WITH r AS (
  SELECT pulse._funnel_report(u, t, s, x, $3, %s, %s, %L::integer[], %L::integer[]) AS r
    FROM (
    %s
    ) ev
), agg AS (
  SELECT s.k::int AS k, s.name, coalesce((r.r[s.k]).users, 0) AS users,
         (r.r[s.k]).avg_time AS avg_t, (r.r[s.k]).median_time AS med_t
    FROM unnest(%L::text[]) WITH ORDINALITY AS s(name, k) CROSS JOIN r
)
SELECT NULL::text, k, name, users,
       users::float8 / nullif(first_value(users) OVER w, 0),
       users::float8 / nullif(lag(users, 1, users) OVER w, 0),
       avg_t, med_t
  FROM agg
WINDOW w AS (ORDER BY k)
 ORDER BY k
$q$,
      CASE ord WHEN 'ordered' THEN 0 WHEN 'strict' THEN 1 ELSE 8 END, nsteps, x_from, x_to,
      -- (the aggregate skips NULL actors itself)
      pulse._funnel_events_sql(proj, step_coll, step_filter, x_coll, x_filter, '_time >= $1 AND _time < $2',
                               ord = 'strict'),
      step_name);
    BEGIN
      RETURN QUERY EXECUTE q USING date_from, date_to, conversion_window;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL,
                              e_hint = PG_EXCEPTION_HINT;
      PERFORM pulse._raise_bounded(e_state, e_message, e_detail, e_hint);
    END;
    RETURN;
  END IF;

  -- The funnel's events (u, t, s, x = 0) and one condition per step bit.
  SELECT string_agg(format('(s & %s) <> 0', 1 << (g - 1)), ', ' ORDER BY g) INTO step_flags
    FROM generate_series(1, nsteps) g;
  ev_sql := pulse._funnel_events_sql(proj, step_coll, step_filter, '{}', '{}', range_cond, ord = 'strict');

  -- Exclusion events (u, t, s = 0, x) from the exclusion collections.
  IF nexcl > 0 THEN
    ex_sql := pulse._funnel_events_sql(proj, '{}', '{}', x_coll, x_filter, range_cond, false);
    SELECT string_agg(format('((e.x & %s) <> 0 AND cardinality(p.c) >= %s AND e.t > p.c[%s] AND e.t < p.c[%s])',
                             1 << (g - 1), x_to[g], x_from[g], x_to[g]), ' OR ' ORDER BY g)
      INTO expr FROM generate_series(1, nexcl) g;
    excl_sql := format(E'\n     AND NOT EXISTS (SELECT 1 FROM (\n    %s\n    ) e WHERE e.u = p.u AND (%s))',
                       ex_sql, expr);
  END IF;

  -- Breakdown: the value on the event the counted chain starts with, from the step-1
  -- collection (its step-1 events; unordered: its events of any step).
  IF breakdown_column IS NOT NULL THEN
    SELECT string_agg(pulse._funnel_cond(step_filter[g]), ' OR ' ORDER BY g) INTO expr
      FROM generate_series(1, nsteps) g
     WHERE step_coll[g] = step_coll[1] AND (ord = 'unordered' OR g = 1);
    bd_sql := format(E'\n    LEFT JOIN (SELECT e.u, min(e.b) AS b FROM (\n      SELECT _user::text AS u, _time AS t, (%I)::text AS b FROM %I.%I WHERE %s AND (%s)\n    ) e JOIN pu p2 ON p2.u = e.u AND e.t = p2.c[1] GROUP BY e.u) bd ON bd.u = p.u',
                     breakdown_column, proj, step_coll[1], range_cond, expr);
  END IF;

  modes := CASE ord WHEN 'ordered' THEN '{}' WHEN 'strict' THEN '{strict_order}' ELSE '{unordered}' END;
  q := format($q$
WITH pu AS (
  SELECT u, pulse.window_funnel_steps($3, %L::text[], t, VARIADIC ARRAY[%s]) AS c
    FROM (
    %s
    ) ev
   GROUP BY u
), lv AS (
  SELECT p.u, cardinality(p.c) AS lvl, p.c, %s AS b
    FROM pu p%s
   WHERE cardinality(p.c) > 0%s
), steps AS (
  SELECT k::int AS k, name FROM unnest(%L::text[]) WITH ORDINALITY AS s(name, k)
), agg AS (
  SELECT lv.b, s.k, s.name,
         count(lv.u) FILTER (WHERE lv.lvl >= s.k) AS users,
         avg(lv.c[s.k] - lv.c[s.k - 1]) FILTER (WHERE lv.lvl >= s.k) AS avg_t,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY lv.c[s.k] - lv.c[s.k - 1]) FILTER (WHERE lv.lvl >= s.k) AS med_t
    FROM steps s LEFT JOIN lv ON true
   GROUP BY lv.b, s.k, s.name
)
SELECT b, k, name, users,
       users::float8 / nullif(first_value(users) OVER w, 0),
       users::float8 / nullif(lag(users, 1, users) OVER w, 0),
       avg_t, med_t
  FROM agg
WINDOW w AS (PARTITION BY b ORDER BY k)
 ORDER BY b NULLS LAST, k
$q$,
    modes, step_flags, ev_sql,
    CASE WHEN breakdown_column IS NULL THEN 'NULL::text' ELSE 'bd.b' END,
    coalesce(bd_sql, ''), coalesce(excl_sql, ''), step_name);
  BEGIN
      RETURN QUERY EXECUTE q USING date_from, date_to, conversion_window;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL,
                              e_hint = PG_EXCEPTION_HINT;
      PERFORM pulse._raise_bounded(e_state, e_message, e_detail, e_hint);
    END;
END
$$;

CREATE FUNCTION pulse.funnel(project text, steps jsonb, date_from timestamptz, date_to timestamptz,
                             conversion_window interval DEFAULT '14 days', step_order text DEFAULT 'ordered',
                             exclusions jsonb DEFAULT NULL, breakdown text DEFAULT NULL, timezone text DEFAULT 'UTC')
  RETURNS TABLE(breakdown text, step integer, step_name text, users bigint,
                conversion_from_first double precision, conversion_from_previous double precision,
                avg_time_to_convert interval, median_time_to_convert interval)
  LANGUAGE sql AS $$
  SELECT * FROM pulse._funnel($1, $2, $3, $4, $5, $6, $7, $8, $9)
$$;
