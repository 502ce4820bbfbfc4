-- pg_pulse, part 31: insight functions pulse.retention, pulse.trends and pulse.paths.
--
-- Each insight is a plpgsql builder (pulse._<insight>_sql) that validates its arguments and
-- returns ONE query text (identifiers through %I, values through %L), and a thin SQL wrapper
-- that runs it. Everything is SECURITY INVOKER without a fixed search_path: the queries read
-- the collections with the caller's privileges (and row-level security), and the caller's
-- filters resolve names the way the caller's own queries do. Semantics: docs/insights.md.

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

-- Runs a query built by one of the builders below, as the caller.
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

-- A timestamptz as an SQL literal that reads back identically under any DateStyle / TimeZone.
CREATE FUNCTION pulse._insight_ts(t timestamptz) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT format('%L::timestamptz',
                to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'
                || CASE WHEN t < '0001-01-01 00:00:00+00' THEN ' BC' ELSE '' END)
$$;

-- SQL text: the index of the day / week / month holding local timestamp expression ts,
-- counted from 1970-01-01 (weeks start on Monday, counted from Monday 1970-01-05).
CREATE FUNCTION pulse._insight_unit(unit text, ts text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE unit
    WHEN 'day'   THEN format('((%1$s)::date - DATE ''1970-01-01'')', ts)
    WHEN 'week'  THEN format('((date_trunc(''week'', %1$s)::date - DATE ''1970-01-05'') / 7)', ts)
    WHEN 'month' THEN format('((extract(year FROM %1$s)::int - 1970) * 12 + extract(month FROM %1$s)::int - 1)', ts)
  END
$$;

-- SQL text: the local timestamp at which day / week / month number idx starts.
CREATE FUNCTION pulse._insight_unit_start(unit text, idx text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE unit
    WHEN 'day'   THEN format('(TIMESTAMP ''1970-01-01'' + (%s) * INTERVAL ''1 day'')', idx)
    WHEN 'week'  THEN format('(TIMESTAMP ''1970-01-05'' + (%s) * INTERVAL ''7 days'')', idx)
    WHEN 'month' THEN format('(TIMESTAMP ''1970-01-01'' + (%s) * INTERVAL ''1 month'')', idx)
  END
$$;

-- SQL text: the index of the bucket holding timestamptz expression t. Days, weeks and months
-- are calendar units of time zone tz. Hours are real hours that start where the local clock
-- shows :00 (hs seconds past each UTC hour; non-zero only in zones whose offset has minutes),
-- so the repeated hour of a DST change is two buckets and the skipped hour none.
CREATE FUNCTION pulse._insight_bucket(unit text, t text, tz text, hs int) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE unit
    WHEN 'hour' THEN format('floor((extract(epoch FROM (%s)) - %s) / 3600)::int', t, hs)
    ELSE pulse._insight_unit(unit, format('((%s) AT TIME ZONE %L)', t, tz))
  END
$$;

-- SQL text: the timestamptz at which bucket number idx starts.
CREATE FUNCTION pulse._insight_bucket_start(unit text, idx text, tz text, hs int) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE unit
    WHEN 'hour' THEN format('to_timestamp((%s)::bigint * 3600 + %s)', idx, hs)
    ELSE format('(%s AT TIME ZONE %L)', pulse._insight_unit_start(unit, idx), tz)
  END
$$;

-- The start times of buckets first .. last, for the single-pass report aggregates.
CREATE FUNCTION pulse._insight_bounds(unit text, first bigint, last bigint, tz text, hs int) RETURNS timestamptz[]
  LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
  bounds timestamptz[];
BEGIN
  EXECUTE format('SELECT array_agg(%s ORDER BY b) FROM generate_series(%s::bigint, %s::bigint) AS b',
                 pulse._insight_bucket_start(unit, 'b', tz, hs), first, last)
    INTO bounds;
  RETURN bounds;
END
$$;

-- Seconds past the UTC hour at which local hours of tz start (its UTC offset at t, modulo 1 h).
CREATE FUNCTION pulse._insight_hour_shift(t timestamptz, tz text) RETURNS int
  LANGUAGE sql STABLE STRICT AS $$
  SELECT ((3600 - (off % 3600 + 3600) % 3600) % 3600)::int
    FROM (SELECT extract(epoch FROM (t AT TIME ZONE tz) - (t AT TIME ZONE 'UTC'))::int AS off) o
$$;

-- SQL text: the index of the bucket (hour, day, week, month) holding unit number u, where
-- units are hours for hourly buckets and days otherwise. Integer arithmetic where it can.
CREATE FUNCTION pulse._insight_unit_bucket(unit text, bucket text, u text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE
    WHEN unit = bucket THEN format('(%s)', u)
    -- floor((u - 4) / 7): day 4 is Monday 1970-01-05
    WHEN unit = 'day' AND bucket = 'week' THEN format('(((%1$s) - 4 - (((%1$s) - 4) %% 7 + 7) %% 7) / 7)', u)
    WHEN unit = 'day' AND bucket = 'month' THEN pulse._insight_unit('month', format('(DATE ''1970-01-01'' + (%s))', u))
  END
$$;

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

-- ---------------------------------------------------------------------------- retention

CREATE FUNCTION pulse._retention_sql(project text, start_event jsonb, return_event jsonb,
                                     date_from timestamptz, date_to timestamptz,
                                     period text DEFAULT 'day', periods int DEFAULT 8,
                                     retention_type text DEFAULT 'recurring',
                                     breakdown text DEFAULT NULL, timezone text DEFAULT 'UTC')
  RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  p text;
  rtype text;
  s record;
  r record;
  bv text := 'NULL::text';
  tz text := timezone;
  t_from text := pulse._insight_ts(date_from);
  t_to text := pulse._insight_ts(date_to);
  t_ret_end text;
  ret_end timestamptz;
  hs int;
  b_time text;
  starts text;
  events text;
  bf bigint;       -- buckets of date_from and of the last instant before date_to
  bl bigint;
  bounds timestamptz[];
BEGIN
  PERFORM pulse._insight_args(project, date_from, date_to, timezone);
  p := pulse._insight_choice('period', period, '{hour,day,week,month}');
  IF periods IS NULL OR periods < 1 OR periods > 1000 THEN
    RAISE EXCEPTION 'periods must be between 1 and 1000, not %', coalesce(periods::text, 'null')
      USING ERRCODE = '22023';
  END IF;
  rtype := pulse._insight_choice('retention_type', retention_type, '{recurring,first_time}');
  s := pulse._insight_event(project, start_event, 'start_event');
  r := pulse._insight_event(project, return_event, 'return_event');
  IF breakdown IS NOT NULL THEN
    PERFORM pulse._insight_column(project, s.collection, breakdown, 'breakdown');
    bv := format('(%I)::text', breakdown);
  END IF;

  -- bucket index of an event time; end of the last period of the last cohort
  hs := pulse._insight_hour_shift(date_from, tz);
  b_time := pulse._insight_bucket(p, '_time', tz, hs);
  EXECUTE format('SELECT %s', pulse._insight_bucket_start(p,
    pulse._insight_bucket(p, format('%s - INTERVAL ''1 microsecond''', t_to), tz, hs) || ' + ' || periods, tz, hs))
    INTO ret_end;
  t_ret_end := pulse._insight_ts(ret_end);

  -- Without breakdown, one pass: every start and return event into one
  -- pulse._retention_report state, bucketed by the bounds of the cohort and return buckets.
  EXECUTE format('SELECT %s, %s', pulse._insight_bucket(p, t_from, tz, hs),
                 pulse._insight_bucket(p, format('%s - INTERVAL ''1 microsecond''', t_to), tz, hs))
    INTO bf, bl;
  IF breakdown IS NULL AND bl - bf + periods <= 512 AND pulse._single_pass() THEN
    bounds := pulse._insight_bounds(p, bf, bl + periods, tz, hs);
    IF rtype = 'first_time' THEN
      starts := format('_time < %s', t_to);
    ELSE
      starts := format('_time >= %s AND _time < %s', t_from, t_to);
    END IF;
    IF s.collection = r.collection AND s.cond = r.cond THEN
      events := format($q$SELECT _user, _time, %1$s AS st, _time >= %2$s AS rt
    FROM %3$I.%4$I
   WHERE _time < %5$s AND %6$s AND %7$s$q$,
        starts, t_from, project, s.collection, t_ret_end,
        CASE rtype WHEN 'first_time' THEN 'true' ELSE format('_time >= %s', t_from) END, s.cond);
    ELSE
      events := format($q$SELECT _user, _time, true AS st, false AS rt
    FROM %1$I.%2$I
   WHERE %3$s AND %4$s
  UNION ALL
  SELECT _user, _time, false, true
    FROM %5$I.%6$I
   WHERE _time >= %7$s AND _time < %8$s AND %9$s$q$,
        project, s.collection, starts, s.cond, project, r.collection, t_from, t_ret_end, r.cond);
    END IF;
    RETURN format($q$WITH m AS (
  SELECT pulse._retention_report(_user::text, _time, st, rt, %1$L::timestamptz[], %2$s, %3$s, %4$L::boolean, %5$s) AS m
    FROM (
  %6$s
    ) e
)
SELECT NULL::text, (%1$L::timestamptz[])[c + 1], m.m[c + 1][1], k,
       m.m[c + 1][k + 1], m.m[c + 1][k + 1]::double precision / m.m[c + 1][1]
  FROM m CROSS JOIN generate_series(0, %2$s - 1) AS c CROSS JOIN generate_series(0, %3$s - 1) AS k
 WHERE m.m[c + 1][1] > 0 AND (%1$L::timestamptz[])[c + k + 1] <= now()
 ORDER BY c, k$q$,
      bounds, bl - bf + 1, periods, rtype = 'first_time', t_from, events);
  END IF;

  -- Start events: (u, b, bv, t) rows, one per user for first_time (the first start event
  -- ever, kept when it lies in [date_from, date_to)), every start event for recurring.
  IF rtype = 'recurring' THEN
    starts := format($q$SELECT _user AS u, %1$s AS b, %2$s AS bv, _time AS t
    FROM %3$I.%4$I
   WHERE _time >= %5$s AND _time < %6$s AND _user IS NOT NULL AND %7$s$q$,
      b_time, bv, project, s.collection, t_from, t_to, s.cond);
  ELSIF breakdown IS NULL THEN
    starts := format($q$SELECT _user AS u, %1$s AS b, NULL::text AS bv, _time AS t
    FROM (SELECT _user, min(_time) AS _time
            FROM %2$I.%3$I
           WHERE _time < %5$s AND _user IS NOT NULL AND %6$s
           GROUP BY _user
          HAVING min(_time) >= %4$s) f$q$,
      b_time, project, s.collection, t_from, t_to, s.cond);
  ELSE
    -- the breakdown value of that first event (ties at the same time: the smallest value)
    starts := format($q$SELECT DISTINCT ON (f._user) f._user AS u, %1$s AS b, e.bv, f._time AS t
    FROM (SELECT _user, min(_time) AS _time
            FROM %2$I.%3$I
           WHERE _time < %5$s AND _user IS NOT NULL AND %6$s
           GROUP BY _user
          HAVING min(_time) >= %4$s) f
    JOIN (SELECT _user, _time, %7$s AS bv
            FROM %2$I.%3$I
           WHERE _time >= %4$s AND _time < %5$s AND _user IS NOT NULL AND %6$s) e
      ON e._user = f._user AND e._time = f._time
   ORDER BY f._user, e.bv$q$,
      pulse._insight_bucket(p, 'f._time', tz, hs),
      project, s.collection, t_from, t_to, s.cond, bv);
  END IF;

  -- Start and return events as (u, b, bv, t, st, rt) rows.
  IF rtype = 'recurring' AND s.collection = r.collection AND s.cond = r.cond THEN
    -- start and return are the same event: read it once
    events := format($q$SELECT _user AS u, %1$s AS b, %2$s AS bv, _time AS t, _time < %3$s AS st, true AS rt
            FROM %4$I.%5$I
           WHERE _time >= %6$s AND _time < %7$s AND _user IS NOT NULL AND %8$s$q$,
      b_time, bv, t_to, project, s.collection, t_from, t_ret_end, s.cond);
  ELSE
    events := format($q$SELECT u, b, bv, t, true AS st, false AS rt FROM (%1$s) s
          UNION ALL
          SELECT _user, %2$s, NULL::text, _time, false, true
            FROM %3$I.%4$I
           WHERE _time >= %5$s AND _time < %6$s AND _user IS NOT NULL AND %7$s$q$,
      starts, b_time, project, r.collection, t_from, t_ret_end, r.cond);
  END IF;

  -- One row per user and bucket (ub), then one window pass per user: each cohort bucket b
  -- collects the buckets b+1 .. b+periods-1 in which the user did the return event. The
  -- cohort bucket itself is period 0, so period 0 counts the cohort. A period is listed once
  -- it has begun (its bucket starts at or before now()).
  RETURN format($q$WITH ub AS (
  SELECT u, b, bool_or(st) AS st, bool_or(rt) AS rt, %1$s AS bv
    FROM (%2$s) e
   GROUP BY u, b
), w AS (
  SELECT b, bv, st,
         array_agg(b) FILTER (WHERE rt) OVER (PARTITION BY u ORDER BY b
                                               RANGE BETWEEN 1 FOLLOWING AND %3$s FOLLOWING) AS rb
    FROM ub
), hits AS (
  SELECT bv, b, x - b AS k, count(*) AS users
    FROM w CROSS JOIN LATERAL unnest(array_prepend(b, rb)) AS x
   WHERE st
   GROUP BY bv, b, x - b
)
SELECT z.bv::text, %4$s::timestamptz, z.users::bigint, k.k::int,
       coalesce(h.users, 0)::bigint, coalesce(h.users, 0)::double precision / z.users
  FROM hits z
 CROSS JOIN generate_series(0, %3$s) AS k(k)
  LEFT JOIN hits h ON h.b = z.b AND h.k = k.k AND h.bv IS NOT DISTINCT FROM z.bv
 WHERE z.k = 0 AND %5$s <= now()
 ORDER BY z.bv NULLS FIRST, z.b, k.k$q$,
    CASE WHEN breakdown IS NULL THEN 'NULL::text'
         ELSE '(array_agg(bv ORDER BY t, bv) FILTER (WHERE st))[1]' END,
    events,
    periods - 1,
    pulse._insight_bucket_start(p, 'z.b', tz, hs),
    pulse._insight_bucket_start(p, 'z.b + k.k', tz, hs));
END
$f$;

CREATE FUNCTION pulse.retention(project text, start_event jsonb, return_event jsonb,
                                date_from timestamptz, date_to timestamptz,
                                period text DEFAULT 'day', periods int DEFAULT 8,
                                retention_type text DEFAULT 'recurring',
                                breakdown text DEFAULT NULL, timezone text DEFAULT 'UTC')
  RETURNS TABLE(breakdown text, cohort_start timestamptz, cohort_size bigint, period int,
                users bigint, rate double precision)
  LANGUAGE sql AS $$
  SELECT * FROM pulse._insight_run(pulse._retention_sql($1, $2, $3, $4, $5, $6, $7, $8, $9, $10))
    AS r(breakdown text, cohort_start timestamptz, cohort_size bigint, period int, users bigint,
         rate double precision)
$$;

-- ---------------------------------------------------------------------------- trends

CREATE FUNCTION pulse._trends_sql(project text, event jsonb, date_from timestamptz, date_to timestamptz,
                                  "interval" text DEFAULT 'day', measure text DEFAULT 'count',
                                  property text DEFAULT NULL, breakdown text DEFAULT NULL,
                                  breakdown_limit int DEFAULT 25, timezone text DEFAULT 'UTC')
  RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  iv text;
  m text;
  ev record;
  tz text := timezone;
  t_from text := pulse._insight_ts(date_from);
  t_to text := pulse._insight_ts(date_to);
  ptype regtype;
  bv text := 'NULL::text';
  v text := 'NULL::double precision';
  hs int;
  b_first text;    -- index of the first and the last bucket
  b_last text;
  bf bigint;
  bl bigint;
  look timestamptz;
  agg text;
  zero text := '0';
  unit text;       -- dau / wau / mau: activity is recorded per hour (hourly trends) or per day
  width int;       -- the trailing window, in units
  t_look text;     -- start of the trailing window of the first bucket
  src text;        -- the events read (CTE e)
  grouped text;    -- e with the group (ord) of each event
  groups text;     -- the groups, one row each
  ranks text;      -- CTEs ranking the breakdown values
  fast boolean := false;
  bounds timestamptz[];
BEGIN
  PERFORM pulse._insight_args(project, date_from, date_to, timezone);
  iv := pulse._insight_choice('interval', "interval", '{hour,day,week,month}');
  m := pulse._insight_choice('measure', measure,
                             '{count,unique_users,dau,wau,mau,sum,avg,min,max,p50,p90,p99}');
  ev := pulse._insight_event(project, event, 'event');
  IF m IN ('sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99') THEN
    IF property IS NULL THEN
      RAISE EXCEPTION 'measure "%" needs a property', m USING ERRCODE = '22023',
        HINT = 'Pass property => ''<numeric column>''.';
    END IF;
    ptype := pulse._insight_column(project, ev.collection, property, 'property');
    IF ptype NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'real'::regtype,
                     'double precision'::regtype, 'numeric'::regtype) THEN
      RAISE EXCEPTION 'property "%" of collection "%.%" is %, not a number', property, project, ev.collection, ptype
        USING ERRCODE = '42804', HINT = 'sum, avg, min, max and the percentiles need a numeric column.';
    END IF;
    v := format('(%I)::double precision', property);
  ELSIF property IS NOT NULL THEN
    RAISE EXCEPTION 'measure "%" takes no property', m USING ERRCODE = '22023',
      HINT = 'property is used by sum, avg, min, max, p50, p90 and p99.';
  END IF;
  IF breakdown IS NOT NULL THEN
    PERFORM pulse._insight_column(project, ev.collection, breakdown, 'breakdown');
    bv := format('(%I)::text', breakdown);
    IF breakdown_limit IS NULL OR breakdown_limit < 1 THEN
      RAISE EXCEPTION 'breakdown_limit must be at least 1, not %', coalesce(breakdown_limit::text, 'null')
        USING ERRCODE = '22023';
    END IF;
  END IF;

  hs := pulse._insight_hour_shift(date_from, tz);
  EXECUTE format('SELECT %s, %s',
    pulse._insight_bucket(iv, t_from, tz, hs),
    pulse._insight_bucket(iv, format('%s - INTERVAL ''1 microsecond''', t_to), tz, hs))
    INTO bf, bl;
  b_first := bf::text;
  b_last := bl::text;
  IF bl - bf + 1 > 100000 THEN
    RAISE EXCEPTION 'too many buckets: % %s between date_from and date_to', bl - bf + 1, iv
      USING ERRCODE = '54000', HINT = 'Use a longer interval or a shorter date range (at most 100000 buckets).';
  END IF;

  IF m IN ('dau', 'wau', 'mau') THEN
    unit := CASE iv WHEN 'hour' THEN 'hour' ELSE 'day' END;
    width := CASE m WHEN 'dau' THEN 1 WHEN 'wau' THEN 7 ELSE 30 END * CASE unit WHEN 'hour' THEN 24 ELSE 1 END;
    -- the first window ends with the last unit of the first bucket
    EXECUTE format('SELECT %s', pulse._insight_bucket_start(unit,
      format('%s - 1 - %s + 1', pulse._insight_bucket(unit,
        pulse._insight_bucket_start(iv, format('%s + 1', b_first), tz, hs), tz, hs), width), tz, hs))
      INTO look;
    t_look := pulse._insight_ts(least(look, date_from));
    src := format($q$SELECT _user, %1$s AS u, %2$s AS bv
    FROM %3$I.%4$I
   WHERE _time >= %5$s AND _time < %6$s AND _user IS NOT NULL AND %7$s$q$,
      pulse._insight_bucket(unit, '_time', tz, hs), bv, project, ev.collection,
      t_look, t_to, ev.cond);
  ELSE
    -- unique_users: one pulse._uniques_report state per breakdown group buckets the raw times
    -- (b holds _time) by the bounds of the buckets.
    fast := m = 'unique_users' AND pulse._single_pass();
    src := format($q$SELECT _user, %1$s AS b, %2$s AS bv, %3$s AS v
    FROM %4$I.%5$I
   WHERE _time >= %6$s AND _time < %7$s AND %8$s$q$,
      CASE WHEN fast THEN '_time' ELSE pulse._insight_bucket(iv, '_time', tz, hs) END, bv, v, project, ev.collection,
      t_from, t_to, ev.cond);
  END IF;

  IF breakdown IS NULL THEN
    ranks := '';
    grouped := 'SELECT 1 AS ord, e.* FROM e';
    groups := 'SELECT 1 AS ord, NULL::text AS grp';
  ELSE
    -- values ranked by their number of events (ties: by value, NULL last); the first
    -- breakdown_limit keep their value (ord = rank), the rest become 'other' (ord = limit + 1)
    ranks := format($q$, r AS (
  SELECT bv, row_number() OVER (ORDER BY count(*) DESC, bv) AS rk FROM e GROUP BY bv
), g AS (
  SELECT bv IS NULL AS bn, coalesce(bv, '') AS bk,
         CASE WHEN rk <= %1$s THEN bv ELSE 'other' END AS grp, least(rk, %1$s + 1) AS ord
    FROM r
)$q$, breakdown_limit);
    grouped := $q$SELECT g.ord, e.* FROM e JOIN g ON g.bn = (e.bv IS NULL) AND g.bk = coalesce(e.bv, '')$q$;
    groups := 'SELECT DISTINCT ord, grp FROM g';
  END IF;

  IF m IN ('dau', 'wau', 'mau') THEN
    -- Each active unit u of a user counts in the buckets whose trailing window holds it:
    -- buckets B(u) .. B(u + width) - 1. The ranges of one user are merged into islands
    -- (in order of u they either overlap or not), and the users of a bucket are the running
    -- sum of +1 at each island's first bucket and -1 after its last.
    RETURN format($q$WITH e AS (%1$s
)%2$s, a AS (
  SELECT DISTINCT %10$s, u FROM (%3$s) x
), c AS (
  SELECT %10$s, u, greatest(%4$s, %6$s) AS lo, least(%5$s - 1, %7$s) AS hi FROM a
), c2 AS (
  SELECT %10$s, u, lo, hi,
         CASE WHEN lag(hi) OVER (PARTITION BY %10$s ORDER BY u) >= lo THEN 0 ELSE 1 END AS brk
    FROM c WHERE lo <= hi
), i AS (
  SELECT %10$s, lo, hi, sum(brk) OVER (PARTITION BY %10$s ORDER BY u) AS isl FROM c2
), il AS (
  SELECT %11$s AS ord, min(lo) AS lo, max(hi) AS hi FROM i GROUP BY %10$s, isl
), d AS (
  SELECT ord, b, sum(d) AS d
    FROM (SELECT ord, lo AS b, 1 AS d FROM il UNION ALL SELECT ord, hi + 1, -1 FROM il) x
   GROUP BY ord, b
), bk AS (
  SELECT generate_series(%6$s, %7$s) AS b
)
SELECT grps.grp::text, %8$s::timestamptz,
       (sum(coalesce(d.d, 0)) OVER (PARTITION BY grps.ord ORDER BY bk.b))::double precision
  FROM (%9$s) grps
 CROSS JOIN bk
  LEFT JOIN d ON d.ord = grps.ord AND d.b = bk.b
 ORDER BY grps.ord, bk.b$q$,
      src, ranks, grouped,
      pulse._insight_unit_bucket(unit, iv, 'u'),
      pulse._insight_unit_bucket(unit, iv, format('u + %s', width)),
      b_first, b_last, pulse._insight_bucket_start(iv, 'bk.b', tz, hs), groups,
      CASE WHEN breakdown IS NULL THEN '_user' ELSE 'ord, _user' END,
      CASE WHEN breakdown IS NULL THEN '1' ELSE 'ord' END);
  END IF;

  agg := CASE m
    WHEN 'count' THEN 'count(*)'
    WHEN 'unique_users' THEN 'count(DISTINCT _user)'
    WHEN 'sum' THEN 'sum(v)'
    WHEN 'avg' THEN 'avg(v)'
    WHEN 'min' THEN 'min(v)'
    WHEN 'max' THEN 'max(v)'
    WHEN 'p50' THEN 'percentile_cont(0.5) WITHIN GROUP (ORDER BY v)'
    WHEN 'p90' THEN 'percentile_cont(0.9) WITHIN GROUP (ORDER BY v)'
    WHEN 'p99' THEN 'percentile_cont(0.99) WITHIN GROUP (ORDER BY v)'
  END;
  IF m IN ('avg', 'min', 'max', 'p50', 'p90', 'p99') THEN
    zero := 'NULL';
  END IF;
  IF fast THEN
    bounds := pulse._insight_bounds(iv, bf, bl + 1, tz, hs);
    agg := format('pulse._uniques_report(_user::text, b, %L::timestamptz[])', bounds);
    RETURN format($q$WITH e AS (%1$s
)%2$s, agg AS (
  SELECT x.ord, %5$s + u.i - 1 AS b, u.v AS value
    FROM (SELECT ord, %3$s AS a FROM (%4$s) x GROUP BY ord) x
   CROSS JOIN unnest(x.a) WITH ORDINALITY AS u(v, i)
), bk AS (
  SELECT generate_series(%5$s, %6$s) AS b
)
SELECT grps.grp::text, %7$s::timestamptz, coalesce(agg.value, 0)::double precision
  FROM (%8$s) grps
 CROSS JOIN bk
  LEFT JOIN agg ON agg.ord = grps.ord AND agg.b = bk.b
 ORDER BY grps.ord, bk.b$q$,
      src, ranks, agg, grouped, b_first, b_last, pulse._insight_bucket_start(iv, 'bk.b', tz, hs), groups);
  END IF;
  RETURN format($q$WITH e AS (%1$s
)%2$s, agg AS (
  SELECT ord, b, %3$s AS value FROM (%4$s) x GROUP BY ord, b
), bk AS (
  SELECT generate_series(%5$s, %6$s) AS b
)
SELECT grps.grp::text, %7$s::timestamptz, coalesce(agg.value, %8$s)::double precision
  FROM (%9$s) grps
 CROSS JOIN bk
  LEFT JOIN agg ON agg.ord = grps.ord AND agg.b = bk.b
 ORDER BY grps.ord, bk.b$q$,
    src, ranks, agg, grouped, b_first, b_last, pulse._insight_bucket_start(iv, 'bk.b', tz, hs), zero, groups);
END
$f$;

CREATE FUNCTION pulse.trends(project text, event jsonb, date_from timestamptz, date_to timestamptz,
                             "interval" text DEFAULT 'day', measure text DEFAULT 'count',
                             property text DEFAULT NULL, breakdown text DEFAULT NULL,
                             breakdown_limit int DEFAULT 25, timezone text DEFAULT 'UTC')
  RETURNS TABLE(breakdown text, bucket timestamptz, value double precision)
  LANGUAGE sql AS $$
  SELECT * FROM pulse._insight_run(pulse._trends_sql($1, $2, $3, $4, $5, $6, $7, $8, $9, $10))
    AS t(breakdown text, bucket timestamptz, value double precision)
$$;
-- ---------------------------------------------------------------------------- paths

CREATE FUNCTION pulse._paths_sql(project text, date_from timestamptz, date_to timestamptz,
                                 start_event text DEFAULT NULL, step_limit int DEFAULT 5,
                                 session_gap interval DEFAULT '30 minutes', node text DEFAULT NULL)
  RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  t_from text := pulse._insight_ts(date_from);
  t_to text := pulse._insight_ts(date_to);
  start_coll text;
  parts text[] := '{}';
  col record;
  node_found boolean := false;
  n_all int := 0;
BEGIN
  PERFORM pulse._insight_args(project, date_from, date_to, 'UTC');
  IF step_limit IS NULL OR step_limit < 1 OR step_limit > 100 THEN
    RAISE EXCEPTION 'step_limit must be between 1 and 100, not %', coalesce(step_limit::text, 'null')
      USING ERRCODE = '22023';
  END IF;
  IF session_gap IS NULL OR session_gap <= INTERVAL '0' THEN
    RAISE EXCEPTION 'session_gap must be a positive interval, not %', coalesce(session_gap::text, 'null')
      USING ERRCODE = '22023';
  END IF;
  IF start_event IS NOT NULL THEN
    start_coll := pulse._insight_collection(project, start_event, 'start_event');
  END IF;

  -- every collection of the project whose _time and _user the caller may read; the node
  -- label is the collection name, or "collection:value" where it has the node column
  FOR col IN
    SELECT r.relname::text AS name,
           has_column_privilege(r.oid, '_time', 'SELECT') AND has_column_privilege(r.oid, '_user', 'SELECT') AS readable,
           (node IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                          WHERE a.attrelid = r.oid AND a.attname = node
                                            AND a.attnum > 0 AND NOT a.attisdropped)) AS has_node
      FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
     WHERE n.nspname = project AND r.relkind IN ('r', 'p') AND NOT r.relispartition
       AND left(r.relname, 1) <> '_'
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.oid AND a.attname = '_time' AND NOT a.attisdropped)
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.oid AND a.attname = '_user' AND NOT a.attisdropped)
     ORDER BY r.relname
  LOOP
    n_all := n_all + 1;
    node_found := node_found OR col.has_node;
    CONTINUE WHEN NOT col.readable;
    parts := parts || format($q$SELECT _user AS u, _time AS t, %1$L::text AS c, %2$s AS l
    FROM %3$I.%4$I
   WHERE _time >= %5$s AND _time < %6$s AND _user IS NOT NULL$q$,
      col.name,
      CASE WHEN col.has_node
           THEN format('CASE WHEN %1$I IS NULL THEN %2$L ELSE %2$L || '':'' || (%1$I)::text END', node, col.name)
           ELSE format('%L::text', col.name) END,
      project, col.name, t_from, t_to);
  END LOOP;
  IF node IS NOT NULL AND NOT node_found THEN
    RAISE EXCEPTION 'column "%" (node) does not exist in any collection of project "%"', node, project
      USING ERRCODE = '42703',
      HINT = format('SELECT collection, fields FROM pulse.collections WHERE project = %L lists the columns.', project);
  END IF;
  IF n_all > 0 AND cardinality(parts) = 0 THEN
    RAISE EXCEPTION 'permission denied for the collections of project "%"', project USING ERRCODE = '42501',
      HINT = format('Members of %I may read them.', project || '_reader');
  END IF;
  IF cardinality(parts) = 0 THEN
    parts := ARRAY['SELECT NULL::text AS u, NULL::timestamptz AS t, NULL::text AS c, NULL::text AS l WHERE false'];
  END IF;

  -- sessions: a gap longer than session_gap starts a new one; a repeat of the previous label
  -- in the same session is dropped; with start_event, a session starts at its first event of
  -- that collection (sessions without one are dropped)
  RETURN format($q$WITH ev AS (
  %1$s
), o AS (
  SELECT u, t, c, l, lag(t) OVER w AS pt, lag(l) OVER w AS pl
    FROM ev WINDOW w AS (PARTITION BY u ORDER BY t, c, l)
), s AS (
  SELECT u, t, c, l,
         sum(CASE WHEN pt IS NULL OR t - pt > %2$L::interval THEN 1 ELSE 0 END)
           OVER (PARTITION BY u ORDER BY t, c, l ROWS UNBOUNDED PRECEDING) AS sess,
         (pt IS NOT NULL AND t - pt <= %2$L::interval AND pl = l) AS dup
    FROM o
), k AS (
  SELECT u, sess, t, c, l%3$s FROM s WHERE NOT dup
), n AS (
  SELECT u, sess, l, row_number() OVER (PARTITION BY u, sess ORDER BY t, c, l) AS step
    FROM k%4$s
), tr AS (
  SELECT u, step, l AS source, lead(l) OVER (PARTITION BY u, sess ORDER BY step) AS target
    FROM n WHERE step <= %5$s + 1
)
SELECT step::int, source, target, count(DISTINCT u)::bigint AS users
  FROM tr WHERE target IS NOT NULL
 GROUP BY step, source, target
 ORDER BY step, users DESC, source, target$q$,
    array_to_string(parts, E'\n  UNION ALL\n  '),
    session_gap,
    CASE WHEN start_coll IS NULL THEN ''
         ELSE format(',
         bool_or(c = %L) OVER (PARTITION BY u, sess ORDER BY t, c, l ROWS UNBOUNDED PRECEDING) AS started', start_coll) END,
    CASE WHEN start_coll IS NULL THEN '' ELSE ' WHERE started' END,
    step_limit);
END
$f$;

CREATE FUNCTION pulse.paths(project text, date_from timestamptz, date_to timestamptz,
                            start_event text DEFAULT NULL, step_limit int DEFAULT 5,
                            session_gap interval DEFAULT '30 minutes', node text DEFAULT NULL)
  RETURNS TABLE(step int, source text, target text, users bigint)
  LANGUAGE sql AS $$
  SELECT * FROM pulse._insight_run(pulse._paths_sql($1, $2, $3, $4, $5, $6, $7))
    AS p(step int, source text, target text, users bigint)
$$;
