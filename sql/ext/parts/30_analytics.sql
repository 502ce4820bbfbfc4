
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
-- (actor, ts, breakdown value, breakdown limit, bucket bounds) -> the top values in rank order
-- (by rows, then by value, NULL last) and the distinct actors per bucket of each group: a top
-- value's, then 'other' (the rest, when there are more values), one group after the other
CREATE TYPE pulse._uniques_by_value AS (breakdowns text[], counts bigint[]);
CREATE FUNCTION pulse._uniques_report_add(internal, text, timestamptz, text, integer, timestamptz[]) RETURNS internal
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_uniques_report_ranked_add';
CREATE FUNCTION pulse._uniques_report_ranked_final(internal) RETURNS pulse._uniques_by_value
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_uniques_report_ranked_final';
CREATE AGGREGATE pulse._uniques_report(text, timestamptz, text, integer, timestamptz[]) (
  SFUNC = pulse._uniques_report_add, STYPE = internal,
  FINALFUNC = pulse._uniques_report_ranked_final, FINALFUNC_MODIFY = READ_WRITE
);
-- With a breakdown (ordered and strict funnels): (actor, ts, steps, exclusions, the event's
-- breakdown value, window, ...) -> the values of the actors who reached step 1 and nsteps steps
-- per value (the value of the step-1 event the actor's counted chain starts with: the smallest
-- at that instant; NULL: none)
CREATE TYPE pulse._funnel_by_value AS (breakdowns text[], steps pulse._funnel_step[]);
CREATE FUNCTION pulse._funnel_report_add(internal, text, timestamptz, integer, integer, text, interval,
                                         integer, integer, integer[], integer[]) RETURNS internal
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_funnel_report_by_value_add';
CREATE FUNCTION pulse._funnel_report_by_value_final(internal) RETURNS pulse._funnel_by_value
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_funnel_report_by_value_final';
CREATE AGGREGATE pulse._funnel_report(text, timestamptz, integer, integer, text, interval, integer, integer,
                                      integer[], integer[]) (
  SFUNC = pulse._funnel_report_add, STYPE = internal,
  FINALFUNC = pulse._funnel_report_by_value_final, FINALFUNC_MODIFY = READ_WRITE
);

-- With a breakdown: (actor, ts, is start event, is return event, the start event's breakdown
-- value, bounds, cohorts, periods, first_time, date_from) -> the values and, per value, the
-- cohorts x periods counts (each actor's cohort takes the value of the start event that put it
-- there: the first in the bucket, or the first ever for first_time; ties: the smallest value)
CREATE TYPE pulse._retention_by_value AS (breakdowns text[], counts bigint[]);
CREATE FUNCTION pulse._retention_report_add(internal, text, timestamptz, boolean, boolean, text, timestamptz[],
                                            integer, integer, boolean, timestamptz) RETURNS internal
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_retention_report_by_value_add';
CREATE FUNCTION pulse._retention_report_by_value_final(internal) RETURNS pulse._retention_by_value
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_retention_report_by_value_final';
CREATE AGGREGATE pulse._retention_report(text, timestamptz, boolean, boolean, text, timestamptz[], integer,
                                         integer, boolean, timestamptz) (
  SFUNC = pulse._retention_report_add, STYPE = internal,
  FINALFUNC = pulse._retention_report_by_value_final, FINALFUNC_MODIFY = READ_WRITE
);

-- The same three aggregates counting persons: a last argument names the project's mapping
-- <project>._person_ids (a regclass), which the aggregate reads once, as the caller, at its
-- first row, and resolves every actor to its person itself (core/person_map.h) instead of
-- reading the events LEFT JOINed with the mapping. PARALLEL RESTRICTED: the read runs in the
-- leader.
CREATE FUNCTION pulse._funnel_report_add(internal, text, timestamptz, integer, integer, interval,
                                         integer, integer, integer[], integer[], regclass) RETURNS internal
  LANGUAGE c PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'pulse_funnel_report_add';
CREATE AGGREGATE pulse._funnel_report(text, timestamptz, integer, integer, interval, integer, integer,
                                      integer[], integer[], regclass) (
  SFUNC = pulse._funnel_report_add, STYPE = internal,
  FINALFUNC = pulse._funnel_report_final, FINALFUNC_MODIFY = READ_WRITE, PARALLEL = RESTRICTED
);
CREATE FUNCTION pulse._funnel_report_add(internal, text, timestamptz, integer, integer, text, interval,
                                         integer, integer, integer[], integer[], regclass) RETURNS internal
  LANGUAGE c PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'pulse_funnel_report_by_value_add';
CREATE AGGREGATE pulse._funnel_report(text, timestamptz, integer, integer, text, interval, integer, integer,
                                      integer[], integer[], regclass) (
  SFUNC = pulse._funnel_report_add, STYPE = internal,
  FINALFUNC = pulse._funnel_report_by_value_final, FINALFUNC_MODIFY = READ_WRITE, PARALLEL = RESTRICTED
);
CREATE FUNCTION pulse._retention_report_add(internal, text, timestamptz, boolean, boolean, timestamptz[],
                                            integer, integer, boolean, timestamptz, regclass) RETURNS internal
  LANGUAGE c PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'pulse_retention_report_add';
CREATE AGGREGATE pulse._retention_report(text, timestamptz, boolean, boolean, timestamptz[], integer,
                                         integer, boolean, timestamptz, regclass) (
  SFUNC = pulse._retention_report_add, STYPE = internal,
  FINALFUNC = pulse._retention_report_final, FINALFUNC_MODIFY = READ_WRITE, PARALLEL = RESTRICTED
);
CREATE FUNCTION pulse._retention_report_add(internal, text, timestamptz, boolean, boolean, text, timestamptz[],
                                            integer, integer, boolean, timestamptz, regclass) RETURNS internal
  LANGUAGE c PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'pulse_retention_report_by_value_add';
CREATE AGGREGATE pulse._retention_report(text, timestamptz, boolean, boolean, text, timestamptz[], integer,
                                         integer, boolean, timestamptz, regclass) (
  SFUNC = pulse._retention_report_add, STYPE = internal,
  FINALFUNC = pulse._retention_report_by_value_final, FINALFUNC_MODIFY = READ_WRITE, PARALLEL = RESTRICTED
);
CREATE FUNCTION pulse._uniques_report_add(internal, text, timestamptz, timestamptz[], regclass) RETURNS internal
  LANGUAGE c PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'pulse_uniques_report_add';
CREATE AGGREGATE pulse._uniques_report(text, timestamptz, timestamptz[], regclass) (
  SFUNC = pulse._uniques_report_add, STYPE = internal,
  FINALFUNC = pulse._uniques_report_final, FINALFUNC_MODIFY = READ_WRITE, PARALLEL = RESTRICTED
);
CREATE FUNCTION pulse._uniques_report_add(internal, text, timestamptz, text, integer, timestamptz[], regclass) RETURNS internal
  LANGUAGE c PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'pulse_uniques_report_ranked_add';
CREATE AGGREGATE pulse._uniques_report(text, timestamptz, text, integer, timestamptz[], regclass) (
  SFUNC = pulse._uniques_report_add, STYPE = internal,
  FINALFUNC = pulse._uniques_report_ranked_final, FINALFUNC_MODIFY = READ_WRITE, PARALLEL = RESTRICTED
);

-- ---------------------------------------------------------------- pulse.funnel
-- Everything below is SECURITY INVOKER without a fixed search_path: the funnel reads the
-- collections with the caller's privileges (and row-level security), and the caller's filters
-- resolve names as the caller's own queries do. Its arguments are checked by the validator
-- every insight shares (part 29).

-- The events of a funnel's steps and exclusions: one SELECT per distinct collection giving
-- (u, t, s, x), s and x the bits of the steps and exclusions the event matches, UNION ALL-ed.
-- Both plans read them: the single pass (pulse._funnel_report) and the general plan, which
-- calls this once for the steps and once for the exclusions (with_user: only rows with a
-- _user). A row is kept when it matches something, or always in a step collection when
-- `everything` is set (strict funnels: any event interrupts). Rows lie in [$1, $2). u is the
-- person of the event's _user when resolve is set (pulse._insight_from), else the _user; with
-- a cohort (cohort_cond not "true"), only events of its persons are read. breakdown (the
-- single pass with a breakdown): a fifth column b, that SQL expression over the step-1
-- collection's rows, NULL for the others.
CREATE FUNCTION pulse._funnel_events_sql(proj text, colls text[], filters text[], x_colls text[],
                                         x_filters text[], with_user boolean, everything boolean,
                                         resolve boolean, cohort_cond text, breakdown text DEFAULT NULL)
  RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  range_cond text := CASE WHEN with_user THEN '_time >= $1 AND _time < $2 AND _user IS NOT NULL'
                          ELSE '_time >= $1 AND _time < $2' END
                     || CASE WHEN cohort_cond = 'true' THEN '' ELSE ' AND ' || cohort_cond END;
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
          conds := conds || pulse._insight_cond(CASE side WHEN 1 THEN filters[i] ELSE x_filters[i] END);
          bits := bits || format('CASE WHEN %s THEN %s ELSE 0 END', conds[cardinality(conds)], 1 << (i - 1));
        END IF;
      END LOOP;
      masks := masks || CASE WHEN cardinality(bits) = 0 THEN '0' ELSE array_to_string(bits, ' | ') END;
    END LOOP;
    sels := sels || format('SELECT (%s)::text AS u, _time AS t, (%s)::integer AS s, (%s)::integer AS x%s FROM %s WHERE %s%s',
                           pulse._insight_actor(proj, resolve), masks[1], masks[2],
                           CASE WHEN breakdown IS NULL THEN ''
                                ELSE format(', (%s)::text AS b', CASE WHEN coll = colls[1] THEN breakdown ELSE 'NULL' END) END,
                           pulse._insight_from(proj, coll, resolve OR cohort_cond <> 'true', pulse._insight_uses_person(conds)), range_cond,
                           CASE WHEN keep_all THEN '' ELSE format(' AND (%s)', array_to_string(conds, ' OR ')) END);
  END LOOP;
  RETURN array_to_string(sels, E'\n    UNION ALL\n    ');
END
$$;

-- The funnel itself (pulse.funnel is a SQL wrapper: PL/pgSQL cannot name an input and an
-- output column both "breakdown"). Builds one query, run with $1 = date_from, $2 = date_to,
-- $3 = conversion_window, in the funnel's time zone. Without breakdown: the events -> pulse._funnel_report. With one
-- (or pulse.analytics_single_pass off): the events -> one window_funnel_steps chain per user
-- -> exclusions -> breakdown value -> users, conversion and time to convert per step.
CREATE FUNCTION pulse._funnel(project text, steps jsonb, date_from timestamptz, date_to timestamptz,
                              conversion_window interval, step_order text, exclusions jsonb,
                              breakdown_column text, timezone text, actor text, cohort text)
  RETURNS TABLE(o_breakdown text, o_step integer, o_step_name text, o_users bigint,
                o_conversion_from_first double precision, o_conversion_from_previous double precision,
                o_avg_time_to_convert interval, o_median_time_to_convert interval)
  LANGUAGE plpgsql AS $$
DECLARE
  caller_tz text := current_setting('TimeZone');
  e_state text;
  e_message text;
  e_detail text;
  e_hint text;
  proj text;
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
  ord text;
  resolve boolean;
  map boolean;     -- the reads join the id mapping (resolve, a cohort)
  cc text;         -- the cohort's condition
  pm oid;          -- the mapping the single pass resolves actors with (pulse._insight_person_map)
  modes text;
  step_flags text;
  range_cond text := '_time >= $1 AND _time < $2 AND _user IS NOT NULL';
  ev_sql text;
  ex_sql text;
  excl_sql text;
  bd_sql text;
  q text;
  -- every plan's end: users, rates and times per (breakdown, step), from agg(b, k, name, users,
  -- avg_t, med_t)
  rates text := $r$SELECT b, k, name, users,
       users::float8 / nullif(first_value(users) OVER w, 0),
       users::float8 / nullif(lag(users, 1, users) OVER w, 0),
       avg_t, med_t
  FROM agg
WINDOW w AS (PARTITION BY b ORDER BY k)
 ORDER BY b NULLS LAST, k$r$;
  i int;
  j int;
BEGIN
  -- arguments (the validator every insight shares)
  proj := pulse._insight_args(project, date_from, date_to, timezone);
  PERFORM pulse._insight_interval('conversion_window', conversion_window, false);
  ord := pulse._insight_choice('step_order', step_order, '{ordered,strict,unordered}');
  resolve := pulse._insight_actor_mode(actor) = 'person';
  cc := pulse._insight_cohort_cond(proj, cohort);
  map := resolve OR cohort IS NOT NULL OR coalesce(breakdown_column ~ '^cohort\.', false);
  IF cc <> 'true' THEN
    range_cond := range_cond || ' AND ' || cc;
  END IF;
  -- Filters and breakdown values are evaluated in the funnel's time zone (pulse._insight_args
  -- checked that it is accepted). The caller's comes back at the end; after an error, the
  -- rollback of the caller's (sub)transaction restores it.
  PERFORM pg_catalog.set_config('TimeZone', timezone, true);

  -- steps
  IF steps IS NULL THEN
    RAISE EXCEPTION 'steps must not be null' USING ERRCODE = '22004';
  END IF;
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
    SELECT * INTO r FROM pulse._insight_event(proj, spec, format('step %s', i), '{collection,filter,name}');
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
    -- (the single pass refuses more; the general plan's exclusion bits are an integer too)
    IF nexcl > 32 THEN
      RAISE EXCEPTION 'a funnel has at most 32 exclusions, got %', nexcl USING ERRCODE = '54000';
    END IF;
    FOR j IN 1 .. nexcl LOOP
      spec := exclusions -> (j - 1);
      SELECT * INTO r FROM pulse._insight_event(proj, spec, format('exclusion %s', j),
                                                '{collection,filter,from_step,to_step}');
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
  IF breakdown_column IS NOT NULL THEN
    PERFORM pulse._insight_column(proj, step_coll[1], breakdown_column, 'breakdown');
  END IF;

  IF pulse._single_pass() AND breakdown_column IS NOT NULL AND ord <> 'unordered'
     AND NOT pulse._insight_uses_person(ARRAY[breakdown_column]) AND breakdown_column !~ '^cohort\.' THEN
    -- One pass with a breakdown (ordered and strict funnels): the step-1 collection's events
    -- carry their value into the pulse._funnel_report state, which reports each actor under the
    -- value of the step-1 event its counted chain starts with (the general plan's rule below).
    IF resolve AND cc = 'true' AND NOT pulse._insight_uses_person(step_filter || x_filter) THEN
      pm := pulse._insight_person_map(proj);
    END IF;
    q := format($q$
WITH rep AS (
  SELECT pulse._funnel_report(u, t, s, x, b, $3, %1$s, %2$s, %3$L::integer[], %4$L::integer[]%5$s) AS r
    FROM (
    %6$s
    ) ev
), v AS (
  -- (no event at all: the group of no value, with zero users, as the general plan answers)
  SELECT coalesce((rep.r).breakdowns, '{NULL}') AS bs, (rep.r).steps AS st FROM rep
), agg AS (
  SELECT v.bs[g] AS b, s.k::int AS k, s.name, coalesce((v.st[(g - 1) * %2$s + s.k]).users, 0) AS users,
         (v.st[(g - 1) * %2$s + s.k]).avg_time AS avg_t, (v.st[(g - 1) * %2$s + s.k]).median_time AS med_t
    FROM v CROSS JOIN generate_subscripts(v.bs, 1) AS g CROSS JOIN unnest(%7$L::text[]) WITH ORDINALITY AS s(name, k)
)
%8$s
$q$,
      CASE ord WHEN 'ordered' THEN 0 ELSE 64 END, nsteps, x_from, x_to,
      CASE WHEN pm IS NULL THEN '' ELSE format(', %L::regclass', pm) END,
      pulse._funnel_events_sql(proj, step_coll, step_filter, x_coll, x_filter, false, ord = 'strict',
                               resolve AND pm IS NULL, cc, pulse._insight_operand(proj, step_coll[1], breakdown_column)),
      step_name, rates);
  ELSIF breakdown_column IS NULL AND pulse._single_pass() THEN
    -- One pass: every event into one pulse._funnel_report state (mode bits: unordered 8,
    -- strict_sequence 64; see core/funnel.h). Counted by person with nothing else of the
    -- persons used (no cohort, no person property), the aggregate resolves the raw _user itself.
    IF resolve AND cc = 'true' AND NOT pulse._insight_uses_person(step_filter || x_filter) THEN
      pm := pulse._insight_person_map(proj);
    END IF;
    q := format($q$
WITH r AS (
  SELECT pulse._funnel_report(u, t, s, x, $3, %s, %s, %L::integer[], %L::integer[]%s) AS r
    FROM (
    %s
    ) ev
), agg AS (
  SELECT NULL::text AS b, s.k::int AS k, s.name, coalesce((r.r[s.k]).users, 0) AS users,
         (r.r[s.k]).avg_time AS avg_t, (r.r[s.k]).median_time AS med_t
    FROM unnest(%L::text[]) WITH ORDINALITY AS s(name, k) CROSS JOIN r
)
%s
$q$,
      CASE ord WHEN 'ordered' THEN 0 WHEN 'strict' THEN 64 ELSE 8 END, nsteps, x_from, x_to,
      CASE WHEN pm IS NULL THEN '' ELSE format(', %L::regclass', pm) END,
      -- (the aggregate skips NULL actors itself)
      pulse._funnel_events_sql(proj, step_coll, step_filter, x_coll, x_filter, false, ord = 'strict',
                               resolve AND pm IS NULL, cc),
      step_name, rates);
  ELSE
    -- The funnel's events (u, t, s, x = 0) and one condition per step bit.
    SELECT string_agg(format('(s & %s) <> 0', 1 << (g - 1)), ', ' ORDER BY g) INTO step_flags
      FROM generate_series(1, nsteps) g;
    ev_sql := pulse._funnel_events_sql(proj, step_coll, step_filter, '{}', '{}', true, ord = 'strict', resolve, cc);

    -- Exclusion events (u, t, s = 0, x) from the exclusion collections.
    IF nexcl > 0 THEN
      ex_sql := pulse._funnel_events_sql(proj, '{}', '{}', x_coll, x_filter, true, false, resolve, cc);
      SELECT string_agg(format('((e.x & %s) <> 0 AND cardinality(p.c) >= %s AND e.t > p.c[%s] AND e.t < p.c[%s])',
                               1 << (g - 1), x_to[g], x_from[g], x_to[g]), ' OR ' ORDER BY g)
        INTO expr FROM generate_series(1, nexcl) g;
      excl_sql := format(E'\n     AND NOT EXISTS (SELECT 1 FROM (\n    %s\n    ) e WHERE e.u = p.u AND (%s))',
                         ex_sql, expr);
    END IF;

    -- Breakdown: the value on the event the counted chain starts with, from the step-1
    -- collection (its step-1 events; unordered: its events of any step).
    IF breakdown_column IS NOT NULL THEN
      SELECT string_agg(pulse._insight_cond(step_filter[g]), ' OR ' ORDER BY g) INTO expr
        FROM generate_series(1, nsteps) g
       WHERE step_coll[g] = step_coll[1] AND (ord = 'unordered' OR g = 1);
      bd_sql := format(E'\n    LEFT JOIN (SELECT e.u, min(e.b) AS b FROM (\n      SELECT (%s)::text AS u, _time AS t, (%s)::text AS b FROM %s WHERE %s AND (%s)\n    ) e JOIN pu p2 ON p2.u = e.u AND e.t = p2.c[1] GROUP BY e.u) bd ON bd.u = p.u',
                       pulse._insight_actor(proj, resolve), pulse._insight_operand(proj, step_coll[1], breakdown_column),
                       pulse._insight_from(proj, step_coll[1], map,
                                           pulse._insight_uses_person(step_filter || breakdown_column)),
                       range_cond, expr);
    END IF;

    modes := CASE ord WHEN 'ordered' THEN '{}' WHEN 'strict' THEN '{strict_sequence}' ELSE '{unordered}' END;
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
%s
$q$,
      modes, step_flags, ev_sql,
      CASE WHEN breakdown_column IS NULL THEN 'NULL::text' ELSE 'bd.b' END,
      coalesce(bd_sql, ''), coalesce(excl_sql, ''), step_name, rates);
  END IF;

  BEGIN
    RETURN QUERY EXECUTE q USING date_from, date_to, conversion_window;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL,
                            e_hint = PG_EXCEPTION_HINT;
    PERFORM pulse._raise_bounded(e_state, e_message, e_detail, e_hint);
  END;
  PERFORM pg_catalog.set_config('TimeZone', caller_tz, true);
END
$$;

CREATE FUNCTION pulse.funnel(project text, steps jsonb, date_from timestamptz, date_to timestamptz,
                             conversion_window interval DEFAULT '14 days', step_order text DEFAULT 'ordered',
                             exclusions jsonb DEFAULT NULL, breakdown text DEFAULT NULL, timezone text DEFAULT 'UTC',
                             actor text DEFAULT 'person', cohort text DEFAULT NULL)
  RETURNS TABLE(breakdown text, step integer, step_name text, users bigint,
                conversion_from_first double precision, conversion_from_previous double precision,
                avg_time_to_convert interval, median_time_to_convert interval)
  LANGUAGE sql
  -- the insight's own SQL and the caller's expressions resolve names in pg_catalog and pulse
  -- first, whatever the caller's search_path (docs/security.md#insights)
  SET search_path = pg_catalog, pulse, pg_temp AS $$
  SELECT * FROM pulse._funnel($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
$$;
