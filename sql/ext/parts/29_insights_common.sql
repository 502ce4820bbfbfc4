
-- pg_pulse, part 29: what the insight functions pulse.retention, pulse.trends and pulse.paths
-- (part 31) share:
--   * the checks of their arguments;
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
-- months from January 1970, all calendar units of time zone tz; hours are real hours that
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

-- A value out of a fixed list (case-insensitive); 22023 with the list as hint otherwise.
CREATE FUNCTION pulse._insight_choice(arg text, value text, valid text[]) RETURNS text
  LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF value IS NULL OR NOT lower(value) = ANY (valid) THEN
    RAISE EXCEPTION 'unknown % "%"', arg, value USING ERRCODE = '22023',
      HINT = format('Valid values: %s.', array_to_string(valid, ', '));
  END IF;
  RETURN lower(value);
END
$$;

-- Arguments every insight shares: the project exists, the dates are finite and ordered,
-- the time zone is known.
CREATE FUNCTION pulse._insight_args(project text, date_from timestamptz, date_to timestamptz,
                                    timezone text) RETURNS void
  LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF project IS NULL THEN
    RAISE EXCEPTION 'project must not be null' USING ERRCODE = '22004';
  END IF;
  -- (the schema, as pulse.funnel: pulse.projects shows only the caller's projects, and a project
  -- the caller may not read is refused with 42501 when its collections are read)
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = project) THEN
    RAISE EXCEPTION 'project "%" does not exist', project USING ERRCODE = '42704',
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
    PERFORM now() AT TIME ZONE timezone;
  EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'unknown time zone "%"', timezone USING ERRCODE = '22023',
      HINT = 'Use a name from pg_timezone_names (e.g. UTC, Europe/Paris) or an abbreviation from pg_timezone_abbrevs.';
  END;
END
$$;

-- A collection argument: lower-cased like the ingestion functions do, a valid name, and an
-- existing collection table of the project. Returns the lower-cased name.
CREATE FUNCTION pulse._insight_collection(project text, collection text, arg text) RETURNS text
  LANGUAGE plpgsql STABLE AS $$
DECLARE
  c text := lower(collection);
  problem text;
BEGIN
  IF c IS NULL THEN
    RAISE EXCEPTION '% must name a collection', arg USING ERRCODE = '22023',
      HINT = 'An event is {"collection": "<name>", "filter": "<SQL boolean expression>"}.';
  END IF;
  problem := pulse._name_problem('collection', c);
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'invalid collection name "%" in %: %', collection, arg, problem USING ERRCODE = '42602';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
                  WHERE n.nspname = project AND r.relname = c AND r.relkind IN ('r', 'p')) THEN
    RAISE EXCEPTION 'collection "%.%" does not exist', project, c USING ERRCODE = '42P01',
      HINT = format('SELECT collection FROM pulse.collections WHERE project = %L lists the collections you may read.', project);
  END IF;
  RETURN c;
END
$$;

-- A caller-written filter: one SQL boolean expression over the columns of the collection.
-- It must parse as a WHERE condition both inside parentheses and as a bare CASE WHEN
-- condition: the second refuses text that closes the parentheses it is wrapped in
-- (e.g. 'true) OR (true'). A newline follows the filter, so it may end with a -- comment.
-- Any failure but a privilege error becomes 22023.
CREATE FUNCTION pulse._insight_filter(project text, collection text, filter text, arg text) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    -- one SQL expression and nothing else (Postgres' parser decides; shared with pulse.funnel)
    PERFORM pulse._funnel_check_filter(filter);
    EXECUTE format(E'SELECT 1 FROM %I.%I WHERE (%s\n) LIMIT 0', project, collection, filter);
    -- the insight queries AND the filter into their WHERE clause: refuse text that closes the
    -- parentheses around it ('true) OR (true' is one expression, but not in that position)
    EXECUTE format(E'SELECT 1 FROM %I.%I WHERE CASE WHEN %s\nTHEN true END LIMIT 0', project, collection, filter);
  EXCEPTION
    WHEN insufficient_privilege THEN RAISE;
    WHEN OTHERS THEN
      RAISE EXCEPTION 'invalid filter: %', SQLERRM USING ERRCODE = '22023',
        DETAIL = format('The filter of %s on collection "%s.%s" is: %s', arg, project, collection, filter),
        HINT = 'A filter is one SQL boolean expression over the columns of the collection.';
  END;
END
$$;

-- An event spec {"collection": "...", "filter": "..."} ("name" is allowed and ignored).
-- Returns the collection and the condition to AND into the WHERE clause.
CREATE FUNCTION pulse._insight_event(project text, spec jsonb, arg text,
                                     OUT collection text, OUT cond text)
  LANGUAGE plpgsql AS $$
DECLARE
  k text;
  f jsonb;
BEGIN
  IF spec IS NULL OR jsonb_typeof(spec) <> 'object' THEN
    RAISE EXCEPTION '% must be a JSON object', arg USING ERRCODE = '22023',
      HINT = 'An event is {"collection": "<name>", "filter": "<SQL boolean expression>"}.';
  END IF;
  FOR k IN SELECT jsonb_object_keys(spec) LOOP
    IF k NOT IN ('collection', 'filter', 'name') THEN
      RAISE EXCEPTION 'unknown key "%" in %', k, arg USING ERRCODE = '22023',
        HINT = 'Valid keys: collection, filter, name.';
    END IF;
  END LOOP;
  IF jsonb_typeof(spec -> 'collection') IS DISTINCT FROM 'string' THEN
    RAISE EXCEPTION '% must name a collection', arg USING ERRCODE = '22023',
      HINT = 'An event is {"collection": "<name>", "filter": "<SQL boolean expression>"}.';
  END IF;
  collection := pulse._insight_collection(project, spec ->> 'collection', arg);
  f := spec -> 'filter';
  IF f IS NULL OR jsonb_typeof(f) = 'null' OR btrim(f #>> '{}') = '' THEN
    cond := 'true';
  ELSIF jsonb_typeof(f) <> 'string' THEN
    RAISE EXCEPTION 'invalid filter: the filter of % must be a string', arg USING ERRCODE = '22023';
  ELSE
    PERFORM pulse._insight_filter(project, collection, f #>> '{}', arg);
    cond := '(' || (f #>> '{}') || E'\n)';  -- the newline ends a trailing -- comment
  END IF;
END
$$;

-- A column argument (breakdown, property): it must exist in the collection. Returns its type.
CREATE FUNCTION pulse._insight_column(project text, collection text, col text, arg text) RETURNS regtype
  LANGUAGE plpgsql STABLE AS $$
DECLARE
  t regtype;
BEGIN
  SELECT a.atttypid::regtype INTO t
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = (SELECT r.oid FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
                        WHERE n.nspname = project AND r.relname = collection)
     AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
  IF t IS NULL THEN
    RAISE EXCEPTION 'column "%" (%) does not exist in collection "%.%"', col, arg, project, collection
      USING ERRCODE = '42703',
      HINT = format('SELECT fields FROM pulse.collections WHERE project = %L AND collection = %L lists its columns; names are normalised (userId is user_id).', project, collection);
  END IF;
  RETURN t;
END
$$;
