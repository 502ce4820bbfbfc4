
-- pg_pulse, part 29: what the four insight functions share (pulse.funnel in part 30,
-- pulse.retention, pulse.trends and pulse.paths in part 31):
--   * ONE validator of their arguments (pulse._insight_args, _insight_event, _insight_choice,
--     _insight_int, _insight_interval, _insight_column): an argument that several insights
--     accept is refused by each of them with the same SQLSTATE, message, detail and hint;
--   * calendar buckets as SQL functions over values (pulse._bucket, _bucket_start,
--     _unit_bucket), written so the planner inlines them: the query text of an insight calls
--     them with constant units and zones, and the plan holds the bare expression;
--   * the runner of an insight's query.
-- Everything is SECURITY INVOKER without a fixed search_path: the queries read the collections
-- with the caller's privileges (and row-level security), and the caller's filters resolve
-- names the way the caller's own queries do. Semantics: docs/insights.md, docs/analytics.md.

-- ---------------------------------------------------------------------------- running

-- Raises an error again with its SQLSTATE, message, detail and hint cut to 2000 characters and
-- without the generated query (its CONTEXT and QUERY would carry it whole: megabytes for an
-- hourly insight over years).
CREATE FUNCTION pulse._raise_bounded(state text, message text, detail text, hint text) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  m text := left(message, 2000);
  d text := left(coalesce(detail, ''), 2000);
  h text := left(coalesce(hint, ''), 2000);
BEGIN
  IF d <> '' AND h <> '' THEN
    RAISE EXCEPTION USING ERRCODE = state, MESSAGE = m, DETAIL = d, HINT = h;
  ELSIF d <> '' THEN
    RAISE EXCEPTION USING ERRCODE = state, MESSAGE = m, DETAIL = d;
  ELSIF h <> '' THEN
    RAISE EXCEPTION USING ERRCODE = state, MESSAGE = m, HINT = h;
  END IF;
  RAISE EXCEPTION USING ERRCODE = state, MESSAGE = m;
END
$$;

-- Runs a query built by one of the builders (pulse._retention_sql, ...), as the caller.
CREATE FUNCTION pulse._insight_run(query text) RETURNS SETOF record
  LANGUAGE plpgsql AS $$
DECLARE
  e_state text;
  e_message text;
  e_detail text;
  e_hint text;
BEGIN
  RETURN QUERY EXECUTE query;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL,
                          e_hint = PG_EXCEPTION_HINT;
  PERFORM pulse._raise_bounded(e_state, e_message, e_detail, e_hint);
END
$$;

-- A timestamptz as an SQL literal that reads back identically under any DateStyle / TimeZone
-- (%L would write it in the session's DateStyle).
CREATE FUNCTION pulse._insight_ts(t timestamptz) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT format('%L::timestamptz',
                to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'
                || CASE WHEN t < '0001-01-01 00:00:00+00' THEN ' BC' ELSE '' END)
$$;

-- ---------------------------------------------------------------------------- buckets
-- Buckets are numbered: days from 1970-01-01, weeks (Monday to Sunday) from Monday 1970-01-05,
-- Sunday weeks (unit 'week_sun', Sunday to Saturday: week_start => 'sunday') from Sunday
-- 1970-01-04, months from January 1970, all calendar units of time zone tz; hours are real hours that
-- start where the local clock shows :00, hs seconds past each UTC hour (non-zero only in zones
-- whose offset has minutes), so the repeated hour of a DST change is two buckets and the
-- skipped hour none. hs is pulse._insight_hour_shift(date_from, tz) for a whole analysis.
--
-- These are SQL-standard bodies (bound when the extension is created, immune to the caller's
-- search_path), neither STRICT nor SECURITY DEFINER nor with SET clauses, over values only:
-- the planner inlines them, and a constant unit folds the CASE to its one branch (EXPLAIN
-- VERBOSE shows the bare expression; sql/analytics_buckets.sql pins it).

-- The bucket holding t.
CREATE FUNCTION pulse._bucket(unit text, t timestamptz, tz text, hs integer) RETURNS integer
  LANGUAGE sql STABLE PARALLEL SAFE
  RETURN CASE unit
    WHEN 'hour'  THEN floor((extract(epoch FROM t) - hs) / 3600)::integer
    WHEN 'day'   THEN (t AT TIME ZONE tz)::date - DATE '1970-01-01'
    WHEN 'week'  THEN (date_trunc('week', t AT TIME ZONE tz)::date - DATE '1970-01-05') / 7
    WHEN 'week_sun' THEN (date_trunc('week', (t AT TIME ZONE tz) + INTERVAL '1 day')::date - DATE '1970-01-05') / 7
    WHEN 'month' THEN (extract(year FROM t AT TIME ZONE tz)::integer - 1970) * 12
                      + extract(month FROM t AT TIME ZONE tz)::integer - 1
  END;

-- The instant at which bucket b starts.
CREATE FUNCTION pulse._bucket_start(unit text, b integer, tz text, hs integer) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE unit
    WHEN 'hour'  THEN to_timestamp(b::bigint * 3600 + hs)
    WHEN 'day'   THEN (TIMESTAMP '1970-01-01' + b * INTERVAL '1 day') AT TIME ZONE tz
    WHEN 'week'  THEN (TIMESTAMP '1970-01-05' + b * INTERVAL '7 days') AT TIME ZONE tz
    WHEN 'week_sun' THEN (TIMESTAMP '1970-01-04' + b * INTERVAL '7 days') AT TIME ZONE tz
    WHEN 'month' THEN (TIMESTAMP '1970-01-01' + b * INTERVAL '1 month') AT TIME ZONE tz
  END;

-- The bucket (of `bucket`: hour, day, week or month) holding unit number u, where units are
-- the buckets of `unit`: hours for hourly buckets, days otherwise (dau / wau / mau). Integer
-- arithmetic where it can.
CREATE FUNCTION pulse._unit_bucket(unit text, bucket text, u integer) RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE
    WHEN unit = bucket THEN u
    -- floor((u - 4) / 7): day 4 is Monday 1970-01-05
    WHEN unit = 'day' AND bucket = 'week' THEN (u - 4 - ((u - 4) % 7 + 7) % 7) / 7
    -- floor((u - 3) / 7): day 3 is Sunday 1970-01-04
    WHEN unit = 'day' AND bucket = 'week_sun' THEN (u - 3 - ((u - 3) % 7 + 7) % 7) / 7
    WHEN unit = 'day' AND bucket = 'month' THEN (extract(year FROM DATE '1970-01-01' + u)::integer - 1970) * 12
                                                + extract(month FROM DATE '1970-01-01' + u)::integer - 1
  END;

-- The start times of buckets first .. last: the bucket bounds of the single-pass report
-- aggregates.
CREATE FUNCTION pulse._bucket_bounds(unit text, first integer, last integer, tz text, hs integer)
  RETURNS timestamptz[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN (SELECT array_agg(pulse._bucket_start(unit, b, tz, hs) ORDER BY b) FROM generate_series(first, last) AS b);

-- Seconds past the UTC hour at which local hours of tz start (its UTC offset at t, modulo 1 h).
CREATE FUNCTION pulse._insight_hour_shift(t timestamptz, tz text) RETURNS int
  LANGUAGE sql STABLE STRICT AS $$
  SELECT ((3600 - (off % 3600 + 3600) % 3600) % 3600)::int
    FROM (SELECT extract(epoch FROM (t AT TIME ZONE tz) - (t AT TIME ZONE 'UTC'))::int AS off) o
$$;

-- ---------------------------------------------------------------------------- validation
-- The one validator of insight arguments. Messages name the argument (`arg`: "event",
-- "step 2", "breakdown", ...), so the same mistake reads the same in every insight.

-- The arguments every insight takes: the project (lower-cased, like the rest of the API) exists,
-- the dates are finite and ordered, the time zone means the same to buckets (AT TIME ZONE) and
-- to pulse.funnel's filters (SET TimeZone): a name of pg_timezone_names or a POSIX zone, not an
-- abbreviation (PST has no daylight-saving rules, SET refuses it; CET is a fixed offset to one
-- and a zone with DST to the other) nor a bare number (-8 is UTC-8 to SET, UTC+8 to AT TIME
-- ZONE). Returns the project.
CREATE FUNCTION pulse._insight_args(project text, date_from timestamptz, date_to timestamptz,
                                    timezone text) RETURNS text
  LANGUAGE plpgsql AS $$
DECLARE
  p text := lower(project);
  tz_state text;
BEGIN
  IF project IS NULL THEN
    RAISE EXCEPTION 'project must not be null' USING ERRCODE = '22004';
  END IF;
  -- (the schema: pulse.projects shows only the caller's projects, and a project the caller may
  -- not read is refused with 42501 when its collections are read)
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = p) THEN
    RAISE EXCEPTION 'project "%" does not exist', p USING ERRCODE = '42704',
      HINT = 'pulse.projects lists the projects you read.';
  END IF;
  IF date_from IS NULL OR date_to IS NULL THEN
    RAISE EXCEPTION 'date_from and date_to must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT (isfinite(date_from) AND isfinite(date_to)) THEN
    RAISE EXCEPTION 'date_from and date_to must be finite' USING ERRCODE = '22023';
  END IF;
  IF date_from >= date_to THEN
    RAISE EXCEPTION 'date_from must be earlier than date_to' USING ERRCODE = '22023',
      DETAIL = format('date_from is %s, date_to is %s.', date_from, date_to);
  END IF;
  IF timezone IS NULL THEN
    RAISE EXCEPTION 'timezone must not be null' USING ERRCODE = '22004';
  END IF;
  BEGIN
    PERFORM pg_catalog.set_config('TimeZone', timezone, true);
    -- the local times of a winter and a summer instant, read both ways
    tz_state := CASE WHEN (SELECT bool_and(t AT TIME ZONE timezone = t::timestamp)
                             FROM unnest(ARRAY[timestamptz '2000-01-15 12:00+00', '2000-07-15 12:00+00']) AS t)
                     THEN 'known' ELSE 'ambiguous' END;
    RAISE SQLSTATE 'P0001';  -- rolls the setting back: only what it means matters here
  EXCEPTION
    WHEN invalid_parameter_value THEN tz_state := 'unknown';
    WHEN raise_exception THEN NULL;
  END;
  IF tz_state = 'unknown' THEN
    RAISE EXCEPTION 'unknown time zone "%"', timezone USING ERRCODE = '22023',
      HINT = 'Use a name from pg_timezone_names (e.g. UTC, Europe/Paris); abbreviations such as PST are not time zones.';
  ELSIF tz_state = 'ambiguous' THEN
    RAISE EXCEPTION 'ambiguous time zone "%"', timezone USING ERRCODE = '22023',
      DETAIL = 'Postgres reads it one way in AT TIME ZONE (an abbreviation: a fixed UTC offset; a number: hours west) and another in SET TimeZone (a zone with its own rules; hours east).',
      HINT = 'Use a region name from pg_timezone_names, e.g. Europe/Paris.';
  END IF;
  RETURN p;
END
$$;

-- A value out of a fixed list (case-insensitive), returned lower-cased: 22004 when NULL,
-- 22023 with the list as hint when unknown.
CREATE FUNCTION pulse._insight_choice(arg text, value text, valid text[]) RETURNS text
  LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF value IS NULL THEN
    RAISE EXCEPTION '% must not be null', arg USING ERRCODE = '22004';
  END IF;
  IF NOT lower(value) = ANY (valid) THEN
    RAISE EXCEPTION 'unknown % "%"', arg, value USING ERRCODE = '22023',
      HINT = format('Valid values: %s.', array_to_string(valid, ', '));
  END IF;
  RETURN lower(value);
END
$$;

-- An integer between lo and hi (no upper bound when hi is NULL): 22004 when NULL, 22023 outside.
CREATE FUNCTION pulse._insight_int(arg text, value integer, lo integer, hi integer) RETURNS integer
  LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF value IS NULL THEN
    RAISE EXCEPTION '% must not be null', arg USING ERRCODE = '22004';
  END IF;
  IF value < lo AND hi IS NULL THEN
    RAISE EXCEPTION '% must be at least %, not %', arg, lo, value USING ERRCODE = '22023';
  END IF;
  IF value < lo OR value > hi THEN
    RAISE EXCEPTION '% must be between % and %, not %', arg, lo, hi, value USING ERRCODE = '22023';
  END IF;
  RETURN value;
END
$$;

-- A duration (a funnel's conversion window, a session gap): 22004 when NULL; 22023 when it has
-- a month or year part (months have no fixed length; days count as 24 hours), when negative,
-- or, with positive, when not above zero. The C++ aggregates check windows the same way
-- (core/funnel.h: funnel_window).
CREATE FUNCTION pulse._insight_interval(arg text, value interval, positive boolean) RETURNS interval
  LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF value IS NULL THEN
    RAISE EXCEPTION '% must not be null', arg USING ERRCODE = '22004';
  END IF;
  IF date_part('month', value) <> 0 OR date_part('year', value) <> 0 THEN
    RAISE EXCEPTION '% must not have a month or year part', arg USING ERRCODE = '22023',
      HINT = 'Months have no fixed length: give the window in days, e.g. ''30 days''.';
  END IF;
  IF positive AND value <= INTERVAL '0' THEN
    RAISE EXCEPTION '% must be a positive interval, not %', arg, value USING ERRCODE = '22023';
  END IF;
  IF value < INTERVAL '0' THEN
    RAISE EXCEPTION '% must not be negative', arg USING ERRCODE = '22023';
  END IF;
  RETURN value;
END
$$;

-- ---------------------------------------------------------------------------- persons
-- Insights count persons by default (actor => 'person'): an event's actor is the person of its
-- _user through the project's flat mapping <project>._person_ids (docs/people.md), an id without
-- a mapping row being its own person; actor => 'id' counts the raw _user. The resolution is one
-- LEFT JOIN of each collection read with the mapping (a hash join on distinct_id), never a
-- function call per row; in 'id' mode the query text is the one of a plain collection read.
-- Person properties (person.<property>) come from one more LEFT JOIN with <project>._persons
-- AS person, added only when a filter or property names "person": there, as in any SQL join,
-- a bare name that is both a column of the collection and a person property is ambiguous
-- (42702) and is written <collection>.<column>. The mapping is a subquery whose columns start
-- with "_pulse_" (no field or property can: names starting with "_" are reserved), so it
-- never makes a name ambiguous.

-- The actor argument of an insight: 'person' or 'id' (22004 / 22023 like every choice).
CREATE FUNCTION pulse._insight_actor_mode(actor text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT pulse._insight_choice('actor', actor, '{person,id}')
$$;

-- Whether a filter or property text names person properties (a word "person": the join is
-- added; a false positive, such as the word in a string constant, only costs the join).
CREATE FUNCTION pulse._insight_uses_person(texts text[]) RETURNS boolean
  LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(bool_or(x ~* '\mperson\M'), false) FROM unnest(texts) AS x
$$;

-- Whether project has its persons tables (they appear with its first person operation).
CREATE FUNCTION pulse._insight_has_persons(project text) RETURNS boolean
  LANGUAGE sql STABLE AS $$
  SELECT to_regclass(format('%I._person_ids', project)) IS NOT NULL
     AND to_regclass(format('%I._persons', project)) IS NOT NULL
$$;

-- The actor of an event read from pulse._insight_from(project, ..., resolve, ...): the person
-- id, or the raw _user.
CREATE FUNCTION pulse._insight_actor(project text, resolve boolean) RETURNS text
  LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN resolve AND pulse._insight_has_persons(project)
              THEN 'coalesce(_pulse_m._pulse_pid, _user)' ELSE '_user' END
$$;

-- The FROM item of a collection read: project.collection, joined with the id mapping when the
-- actor is resolved or person properties are used, and with the persons (column "person") when
-- persons is set. A project without persons tables reads the bare collection (every id is its
-- own person, and a person property is unknown: 42703 "column person does not exist").
-- The caller must be able to read the tables (42501 otherwise, as the query would raise it).
CREATE FUNCTION pulse._insight_from(project text, collection text, resolve boolean, persons boolean) RETURNS text
  LANGUAGE plpgsql STABLE AS $$
DECLARE
  f text := format('%I.%I', project, collection);
BEGIN
  IF NOT pulse._insight_has_persons(project) OR NOT (resolve OR persons) THEN
    RETURN f;
  END IF;
  IF persons AND collection = 'person' THEN
    -- the persons' alias would name the collection too ("table name specified more than once")
    RAISE EXCEPTION 'person properties cannot be used with collection "person"' USING ERRCODE = '42712',
      DETAIL = format('In project "%s", person.<property> names the persons, and the collection is called person as well.', project),
      HINT = 'Leave person properties out of insights over this collection, or send its events to a collection with another name.';
  END IF;
  -- (an id mapped to itself needs no row in the hash table: coalesce falls back to _user)
  f := f || format(' LEFT JOIN (SELECT distinct_id AS _pulse_did, person_id AS _pulse_pid FROM %I._person_ids'
                   ' WHERE distinct_id <> person_id) _pulse_m ON _pulse_m._pulse_did = _user', project);
  IF persons THEN
    f := f || format(' LEFT JOIN %I._persons AS person ON person._person = coalesce(_pulse_m._pulse_pid, _user)', project);
  END IF;
  RETURN f;
END
$$;

-- The mapping a single-pass report aggregate (pulse._funnel_report & co., part 30) reads
-- itself when an insight counts persons by the actor alone (no cohort, no person property):
-- the oid of <project>._person_ids, passed as the aggregate's last argument instead of joining
-- every collection read with the mapping. NULL when the project has no persons tables, or when
-- the caller may not read the mapping's columns: the insight then joins as before, and the
-- join raises the usual 42501 even when no event matches.
CREATE FUNCTION pulse._insight_person_map(project text) RETURNS oid
  LANGUAGE sql STABLE AS $$
  SELECT m FROM (SELECT to_regclass(format('%I._person_ids', project))::oid AS m) x
   WHERE pulse._insight_has_persons(project)
     AND has_column_privilege(m, 'distinct_id', 'SELECT') AND has_column_privilege(m, 'person_id', 'SELECT')
$$;

-- A person property argument "person.<property>" (breakdown, property): its name, or NULL when
-- col is not of that form.
CREATE FUNCTION pulse._insight_person_property(col text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN col ~ '^person\.[a-z0-9_]+$' THEN substr(col, 8) END
$$;

-- The type of person property prop of project: 42P01 without persons, 42501 when the caller
-- may not read them, 42703 when no person has it.
CREATE FUNCTION pulse._insight_person_column(project text, prop text, arg text) RETURNS regtype
  LANGUAGE plpgsql STABLE AS $$
DECLARE
  t regtype;
BEGIN
  IF NOT pulse._insight_has_persons(project) THEN
    RAISE EXCEPTION 'project "%" has no persons (person.% in %)', project, prop, arg USING ERRCODE = '42P01',
      HINT = 'Persons appear with the first pulse.person_update, pulse.identify or pulse.alias of the project.';
  END IF;
  IF NOT has_table_privilege(format('%I._persons', project), 'SELECT')
     OR NOT has_table_privilege(format('%I._person_ids', project), 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for the persons of project "%"', project USING ERRCODE = '42501',
      HINT = format('Members of %I may read them.', project || '_reader');
  END IF;
  SELECT a.atttypid::regtype INTO t
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = format('%I._persons', project)::regclass
     AND a.attname = prop AND a.attnum > 0 AND NOT a.attisdropped;
  IF t IS NULL THEN
    RAISE EXCEPTION 'person property "%" (%) does not exist in project "%"', prop, arg, project
      USING ERRCODE = '42703',
      HINT = format('The columns of %I._persons are the person properties.', project);
  END IF;
  RETURN t;
END
$$;

-- A collection argument: lower-cased like the ingestion functions do, a valid name, a
-- collection table of the project, with the system columns _user and _time that the caller may
-- read (Postgres' own 42703 / 42501 otherwise, as the insight's query would raise them).
-- Returns the lower-cased name.
CREATE FUNCTION pulse._insight_collection(project text, collection text, arg text) RETURNS text
  LANGUAGE plpgsql AS $$
DECLARE
  c text := lower(collection);
  problem text;
  known text[];
BEGIN
  IF c IS NULL THEN
    RAISE EXCEPTION '% needs a "collection" (a string)', arg USING ERRCODE = '22023';
  END IF;
  problem := pulse._name_problem('collection', c);
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'invalid collection name "%" in %: %', collection, arg, problem USING ERRCODE = '42602';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
                  WHERE n.nspname = project AND r.relname = c AND r.relkind IN ('r', 'p')) THEN
    -- the first 20 collections, in the hint (bounded)
    SELECT array_agg(relname ORDER BY relname) INTO known
      FROM (SELECT r.relname::text AS relname
              FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
             WHERE n.nspname = project AND r.relkind IN ('r', 'p') AND NOT r.relispartition AND r.relname !~ '^_'
             ORDER BY r.relname LIMIT 21) k;
    RAISE EXCEPTION 'collection "%.%" does not exist', project, c USING ERRCODE = '42P01',
      DETAIL = format('It is named by %s.', arg),
      HINT = CASE WHEN known IS NULL THEN format('Project "%s" has no collections yet.', project)
                  WHEN cardinality(known) > 20
                  THEN format('Collections of project "%s": %s, ...', project, array_to_string(known[1:20], ', '))
                  ELSE format('Collections of project "%s": %s.', project, array_to_string(known, ', ')) END;
  END IF;
  EXECUTE format('SELECT _user, _time FROM %I.%I LIMIT 0', project, c);
  RETURN c;
END
$$;

-- Raises an error unless filter is exactly one SQL expression in "SELECT (<filter>)" (Postgres'
-- raw parser, src/analytics/funnel.cc).
CREATE FUNCTION pulse._funnel_check_filter(filter text) RETURNS void
  LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_funnel_check_filter';

-- The WHERE / CASE WHEN condition of a validated filter (every event without one). The filter
-- is one SQL expression F (pulse._funnel_check_filter): "(F)" is one expression, so "((F))" is
-- one operand wherever it is pasted, even when F is "a) OR (b". The newline ends a trailing
-- -- comment. The extra parentheses vanish in the parser: plans are those of the bare filter.
CREATE FUNCTION pulse._insight_cond(filter text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN filter IS NULL THEN 'true' ELSE '((' || filter || E'\n))' END
$$;

-- A caller-written filter: one SQL boolean expression over the columns of the collection
-- (Postgres' parser decides, pulse._funnel_check_filter), planned as the insights use it. Any
-- failure but a privilege error becomes 22023 naming the argument.
CREATE FUNCTION pulse._insight_filter(project text, collection text, filter text, arg text) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM pulse._funnel_check_filter(filter);
    EXECUTE format('SELECT 1 FROM %s WHERE %s LIMIT 0',
                   pulse._insight_from(project, collection, false, pulse._insight_uses_person(ARRAY[filter])),
                   pulse._insight_cond(filter));
  EXCEPTION
    WHEN insufficient_privilege THEN RAISE;
    WHEN OTHERS THEN
      RAISE EXCEPTION 'invalid filter for %: %', arg, SQLERRM USING ERRCODE = '22023',
        DETAIL = format('The filter on collection "%s.%s" is: %s', project, collection,
                        CASE WHEN length(filter) > 1000 THEN left(filter, 1000) || '...' ELSE filter END),
        HINT = 'A filter is one SQL boolean expression over the columns of the collection, e.g. plan = ''pro''.';
  END;
END
$$;

-- An event spec: a JSON object with a "collection" and an optional "filter" and the other keys
-- the insight allows (funnel steps: "name", a string; exclusions: "from_step", "to_step",
-- checked by pulse.funnel). Returns the collection (lower-cased) and the filter (NULL: every
-- event of the collection; so are a null and a blank filter).
CREATE FUNCTION pulse._insight_event(project text, spec jsonb, arg text,
                                     keys text[] DEFAULT '{collection,filter,name}',
                                     OUT collection text, OUT filter text)
  LANGUAGE plpgsql AS $$
DECLARE
  k text;
  f jsonb;
BEGIN
  IF spec IS NULL OR jsonb_typeof(spec) <> 'object' THEN
    RAISE EXCEPTION '% must be a JSON object', arg USING ERRCODE = '22023',
      HINT = format('Valid keys: %s.', array_to_string(keys, ', '));
  END IF;
  FOR k IN SELECT jsonb_object_keys(spec) LOOP
    IF NOT k = ANY (keys) THEN
      RAISE EXCEPTION 'unknown key "%" in %', k, arg USING ERRCODE = '22023',
        HINT = format('Valid keys: %s.', array_to_string(keys, ', '));
    END IF;
  END LOOP;
  IF jsonb_typeof(spec -> 'collection') IS DISTINCT FROM 'string' THEN
    RAISE EXCEPTION '% needs a "collection" (a string)', arg USING ERRCODE = '22023';
  END IF;
  IF jsonb_typeof(spec -> 'name') NOT IN ('string', 'null') THEN
    RAISE EXCEPTION 'the name of % must be a string', arg USING ERRCODE = '22023';
  END IF;
  collection := pulse._insight_collection(project, spec ->> 'collection', arg);
  f := spec -> 'filter';
  IF f IS NULL OR jsonb_typeof(f) = 'null' THEN
    RETURN;
  ELSIF jsonb_typeof(f) <> 'string' THEN
    RAISE EXCEPTION 'invalid filter for %: a filter must be a string holding an SQL boolean expression', arg
      USING ERRCODE = '22023';
  ELSIF btrim(f #>> '{}') <> '' THEN
    filter := f #>> '{}';
    PERFORM pulse._insight_filter(project, collection, filter, arg);
  END IF;
END
$$;

-- The type of a property expression (a JSON path over a column, possibly cast) analysed as the
-- caller over project.collection: 22023 for any other shape, 42501 for an untrusted object
-- (src/analytics/property_expr.cc).
CREATE FUNCTION pulse._insight_expr_type(project text, collection text, expr text) RETURNS regtype
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'pulse_insight_expr_type';

-- Whether a property argument names a column of the collection (else it is an expression).
CREATE FUNCTION pulse._insight_is_column(project text, collection text, col text) RETURNS boolean
  LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = (SELECT r.oid FROM pg_catalog.pg_class r
                                        JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
                                       WHERE n.nspname = project AND r.relname = collection)
                    AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped)
$$;

-- A property argument (breakdown, property): a column of the collection, or a JSON path over a
-- jsonb column such as properties->>'revenue', context->'page'->>'url' or
-- (properties->>'revenue')::numeric (docs/insights.md#property-expressions). Returns its type.
-- A bare name that is no column is 42703; an expression is checked by
-- pulse._insight_expr_type, its errors reported with the argument's name.
CREATE FUNCTION pulse._insight_column(project text, collection text, col text, arg text) RETURNS regtype
  LANGUAGE plpgsql STABLE AS $$
DECLARE
  t regtype;
  e_state text;
  e_message text;
  e_hint text;
BEGIN
  IF pulse._insight_person_property(col) IS NOT NULL THEN
    RETURN pulse._insight_person_column(project, pulse._insight_person_property(col), arg);
  END IF;
  IF col ~ '^cohort\.[a-z0-9_]+$' THEN
    PERFORM pulse._insight_cohort_set(project, substr(col, 8), arg);
    RETURN 'boolean'::regtype;
  END IF;
  IF pulse._insight_is_column(project, collection, col) THEN
    SELECT a.atttypid::regtype INTO t
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = (SELECT r.oid FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
                          WHERE n.nspname = project AND r.relname = collection)
       AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    RETURN t;
  END IF;
  IF col ~ '^[[:alnum:]_$]*$' THEN
    RAISE EXCEPTION 'column "%" (%) does not exist in collection "%.%"', col, arg, project, collection
      USING ERRCODE = '42703',
      HINT = format('SELECT fields FROM pulse.collections WHERE project = %L AND collection = %L lists its columns; names are normalised (userId is user_id).', project, collection);
  END IF;
  BEGIN
    RETURN pulse._insight_expr_type(project, collection, col);
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT, e_hint = PG_EXCEPTION_HINT;
    PERFORM pulse._raise_bounded(e_state, format('invalid %s "%s": %s', arg,
                                                 CASE WHEN length(col) > 200 THEN left(col, 200) || '...' ELSE col END,
                                                 e_message),
                                 NULL, e_hint);
  END;
END
$$;

-- The SQL operand of a property argument checked by pulse._insight_column: the quoted column,
-- or the expression as one operand (it is one expression: "((E))" cannot be split by the text
-- around it; the newline ends a trailing comment).
CREATE FUNCTION pulse._insight_operand(project text, collection text, col text) RETURNS text
  LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN CASE WHEN col ~ '^cohort\.[a-z0-9_]+$'
              THEN format('(%s IN %s)', pulse._insight_actor(project, true),
                          pulse._insight_cohort_set(project, substr(col, 8), 'breakdown'))
              WHEN pulse._insight_person_property(col) IS NOT NULL
              THEN format('person.%I', pulse._insight_person_property(col))
              WHEN pulse._insight_is_column(project, collection, col) THEN format('%I.%I', collection, col)
              ELSE '((' || col || E'\n))' END;
END
$$;

