-- pg_pulse, part 31: insight functions pulse.retention, pulse.trends and pulse.paths.
--
-- Each insight is a plpgsql builder (pulse._<insight>_sql) that validates its arguments with
-- the shared validator (part 29) and returns ONE query text: identifiers through %I, values
-- through %L (timestamps through pulse._insight_ts), calendar buckets as calls of the inlined
-- functions pulse._bucket / _bucket_start / _unit_bucket, caller filters through
-- pulse._insight_cond. A thin SQL wrapper runs it (pulse._insight_run). Everything is SECURITY
-- INVOKER without a fixed search_path. Semantics: docs/insights.md.

-- ---------------------------------------------------------------------------- retention

CREATE FUNCTION pulse._retention_sql(project text, start_event jsonb, return_event jsonb,
                                     date_from timestamptz, date_to timestamptz,
                                     period text DEFAULT 'day', periods int DEFAULT 8,
                                     retention_type text DEFAULT 'recurring',
                                     breakdown text DEFAULT NULL, timezone text DEFAULT 'UTC',
                                     actor text DEFAULT 'person', cohort text DEFAULT NULL,
                                     week_start text DEFAULT 'monday', breakdown_returns text DEFAULT 'any')
  RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  p text;
  same boolean;    -- breakdown_returns 'same': a return counts only with the start's breakdown value
  rbv text := 'NULL::text';  -- the breakdown value of a return event
  map boolean;     -- the reads join the id mapping (resolve, a cohort)
  cc text;         -- the cohort's condition
  pm oid;          -- the mapping the single pass resolves actors with (pulse._insight_person_map)
  rtype text;
  resolve boolean;
  act text;        -- the actor of an event (pulse._insight_actor)
  s_from text;     -- the FROM items of the start and return events (pulse._insight_from)
  r_from text;
  s record;
  r record;
  s_cond text;     -- the WHERE conditions of the start and return events
  r_cond text;
  bv text := 'NULL::text';
  tz text := timezone;
  t_from text := pulse._insight_ts(date_from);
  t_to text := pulse._insight_ts(date_to);
  t_ret_end text;
  hs int;
  b_time text;     -- the bucket of an event (SQL calling pulse._bucket)
  starts text;
  events text;
  bf bigint;       -- buckets of date_from and of the last instant before date_to
  bl bigint;
  bounds timestamptz[];
BEGIN
  project := pulse._insight_args(project, date_from, date_to, timezone);
  p := pulse._insight_choice('period', period, '{hour,day,week,month}');
  IF pulse._insight_choice('week_start', week_start, '{monday,sunday}') = 'sunday' AND p = 'week' THEN
    p := 'week_sun';
  END IF;
  same := pulse._insight_choice('breakdown_returns', breakdown_returns, '{any,same}') = 'same';
  PERFORM pulse._insight_int('periods', periods, 1, 1000);
  rtype := pulse._insight_choice('retention_type', retention_type, '{recurring,first_time}');
  resolve := pulse._insight_actor_mode(actor) = 'person';
  s := pulse._insight_event(project, start_event, 'start_event');
  r := pulse._insight_event(project, return_event, 'return_event');
  s_cond := pulse._insight_cond(s.filter);
  r_cond := pulse._insight_cond(r.filter);
  cc := pulse._insight_cohort_cond(project, cohort);
  IF cc <> 'true' THEN
    s_cond := s_cond || ' AND ' || cc;
    r_cond := r_cond || ' AND ' || cc;
  END IF;
  IF breakdown IS NOT NULL THEN
    PERFORM pulse._insight_column(project, s.collection, breakdown, 'breakdown');
    bv := format('(%s)::text', pulse._insight_operand(project, s.collection, breakdown));
    IF same THEN
      -- the return events carry a value of the same breakdown (a column of their collection too)
      PERFORM pulse._insight_column(project, r.collection, breakdown, 'breakdown');
      rbv := format('(%s)::text', pulse._insight_operand(project, r.collection, breakdown));
    END IF;
  END IF;
  same := same AND breakdown IS NOT NULL;
  map := resolve OR cohort IS NOT NULL OR coalesce(breakdown ~ '^cohort\.', false);
  act := pulse._insight_actor(project, resolve);
  act := CASE WHEN act = '_user' THEN act ELSE act || ' AS _user' END;
  s_from := pulse._insight_from(project, s.collection, map, pulse._insight_uses_person(ARRAY[s.filter, breakdown]));
  r_from := pulse._insight_from(project, r.collection, map,
                                pulse._insight_uses_person(ARRAY[r.filter, CASE WHEN same THEN breakdown END]));

  -- the buckets of date_from and of the last instant before date_to; end of the last period
  -- of the last cohort
  hs := pulse._insight_hour_shift(date_from, tz);
  bf := pulse._bucket(p, date_from, tz, hs);
  bl := pulse._bucket(p, date_to - INTERVAL '1 microsecond', tz, hs);
  t_ret_end := pulse._insight_ts(pulse._bucket_start(p, (bl + periods)::int, tz, hs));
  b_time := format('pulse._bucket(%L, _time, %L, %s)', p, tz, hs);

  -- One pass (without breakdown, or with one whose returns count whatever their value):
  -- every start and return event into one pulse._retention_report state, bucketed by the
  -- bounds of the cohort and return buckets; with a breakdown, start events carry their value.
  IF NOT same AND bl - bf + periods <= 512 AND pulse._single_pass() THEN
    bounds := pulse._bucket_bounds(p, bf::int, (bl + periods)::int, tz, hs);
    -- counted by person with nothing else of the persons used, the aggregate resolves the raw
    -- _user itself (pulse._insight_person_map)
    IF resolve AND cc = 'true' AND NOT pulse._insight_uses_person(ARRAY[s.filter, r.filter, breakdown])
       AND NOT coalesce(breakdown ~ '^cohort\.', false) THEN
      pm := pulse._insight_person_map(project);
    END IF;
    IF pm IS NOT NULL THEN
      act := '_user';
      s_from := pulse._insight_from(project, s.collection, false, false);
      r_from := pulse._insight_from(project, r.collection, false, false);
    END IF;
    IF rtype = 'first_time' THEN
      starts := format('_time < %s', t_to);
    ELSE
      starts := format('_time >= %s AND _time < %s', t_from, t_to);
    END IF;
    IF s.collection = r.collection AND s_cond = r_cond THEN
      events := format($q$SELECT %3$s, _time, %1$s AS st, _time >= %2$s AS rt, %8$s AS bv
    FROM %4$s
   WHERE _time < %5$s AND %6$s AND %7$s$q$,
        starts, t_from, act, s_from, t_ret_end,
        CASE rtype WHEN 'first_time' THEN 'true' ELSE format('_time >= %s', t_from) END, s_cond, bv);
    ELSE
      events := format($q$SELECT %1$s, _time, true AS st, false AS rt, %10$s AS bv
    FROM %2$s
   WHERE %3$s AND %4$s
  UNION ALL
  SELECT %5$s, _time, false, true, NULL::text
    FROM %6$s
   WHERE _time >= %7$s AND _time < %8$s AND %9$s$q$,
        act, s_from, starts, s_cond, act, r_from, t_from, t_ret_end, r_cond, bv);
    END IF;
    IF breakdown IS NOT NULL THEN
      -- the values (NULL first, as the general plan orders them) and their cohorts
      RETURN format($q$WITH a AS (
  SELECT pulse._retention_report(_user::text, _time, st, rt, bv, %1$L::timestamptz[], %2$s, %3$s, %4$L::boolean, %5$s%7$s) AS r
    FROM (
  %6$s
    ) e
), m AS (
  SELECT (r).breakdowns, (r).counts FROM a
)
SELECT m.breakdowns[v], (%1$L::timestamptz[])[c + 1], m.counts[v][c + 1][1], k,
       m.counts[v][c + 1][k + 1], m.counts[v][c + 1][k + 1]::double precision / m.counts[v][c + 1][1]
  FROM m CROSS JOIN generate_subscripts(m.breakdowns, 1) AS v CROSS JOIN generate_series(0, %2$s - 1) AS c
 CROSS JOIN generate_series(0, %3$s - 1) AS k
 WHERE m.counts[v][c + 1][1] > 0 AND (%1$L::timestamptz[])[c + k + 1] <= now()
 ORDER BY 1 NULLS FIRST, c, k$q$,
        bounds, bl - bf + 1, periods, rtype = 'first_time', t_from, events,
        CASE WHEN pm IS NULL THEN '' ELSE format(', %L::regclass', pm) END);
    END IF;
    RETURN format($q$WITH m AS (
  SELECT pulse._retention_report(_user::text, _time, st, rt, %1$L::timestamptz[], %2$s, %3$s, %4$L::boolean, %5$s%7$s) AS m
    FROM (
  %6$s
    ) e
)
SELECT NULL::text, (%1$L::timestamptz[])[c + 1], m.m[c + 1][1], k,
       m.m[c + 1][k + 1], m.m[c + 1][k + 1]::double precision / m.m[c + 1][1]
  FROM m CROSS JOIN generate_series(0, %2$s - 1) AS c CROSS JOIN generate_series(0, %3$s - 1) AS k
 WHERE m.m[c + 1][1] > 0 AND (%1$L::timestamptz[])[c + k + 1] <= now()
 ORDER BY c, k$q$,
      bounds, bl - bf + 1, periods, rtype = 'first_time', t_from, events,
      CASE WHEN pm IS NULL THEN '' ELSE format(', %L::regclass', pm) END);
  END IF;

  -- Start events: (u, b, bv, t) rows, one per user for first_time (the first start event
  -- ever, kept when it lies in [date_from, date_to)), every start event for recurring.
  IF rtype = 'recurring' THEN
    starts := format($q$SELECT %3$s AS u, %1$s AS b, %2$s AS bv, _time AS t
    FROM %4$s
   WHERE _time >= %5$s AND _time < %6$s AND _user IS NOT NULL AND %7$s$q$,
      b_time, bv, pulse._insight_actor(project, resolve), s_from, t_from, t_to, s_cond);
  ELSIF breakdown IS NULL THEN
    starts := format($q$SELECT _user AS u, %1$s AS b, NULL::text AS bv, _time AS t
    FROM (SELECT %2$s, min(_time) AS _time
            FROM %3$s
           WHERE _time < %5$s AND _user IS NOT NULL AND %6$s
           GROUP BY 1
          HAVING min(_time) >= %4$s) f$q$,
      b_time, act, s_from, t_from, t_to, s_cond);
  ELSE
    -- the breakdown value of that first event (ties at the same time: the smallest value)
    starts := format($q$SELECT DISTINCT ON (f._user) f._user AS u, %1$s AS b, e.bv, f._time AS t
    FROM (SELECT %2$s, min(_time) AS _time
            FROM %3$s
           WHERE _time < %5$s AND _user IS NOT NULL AND %6$s
           GROUP BY 1
          HAVING min(_time) >= %4$s) f
    JOIN (SELECT %2$s, _time, %7$s AS bv
            FROM %3$s
           WHERE _time >= %4$s AND _time < %5$s AND _user IS NOT NULL AND %6$s) e
      ON e._user = f._user AND e._time = f._time
   ORDER BY f._user, e.bv$q$,
      format('pulse._bucket(%L, f._time, %L, %s)', p, tz, hs),
      act, s_from, t_from, t_to, s_cond, bv);
  END IF;

  -- Start and return events as (u, b, bv, t, st, rt) rows.
  IF rtype = 'recurring' AND s.collection = r.collection AND s_cond = r_cond THEN
    -- start and return are the same event: read it once
    events := format($q$SELECT %4$s AS u, %1$s AS b, %2$s AS bv, _time AS t, _time < %3$s AS st, true AS rt
            FROM %5$s
           WHERE _time >= %6$s AND _time < %7$s AND _user IS NOT NULL AND %8$s$q$,
      b_time, bv, t_to, pulse._insight_actor(project, resolve), s_from, t_from, t_ret_end, s_cond);
  ELSE
    events := format($q$SELECT u, b, bv, t, true AS st, false AS rt FROM (%1$s) s
          UNION ALL
          SELECT %3$s, %2$s, %8$s, _time, false, true
            FROM %4$s
           WHERE _time >= %5$s AND _time < %6$s AND _user IS NOT NULL AND %7$s$q$,
      starts, b_time, act, r_from, t_from, t_ret_end, r_cond, rbv);
  END IF;

  -- One row per user and bucket (ub), then one window pass per user: each cohort bucket b
  -- collects the buckets b+1 .. b+periods-1 in which the user did the return event. The
  -- cohort bucket itself is period 0, so period 0 counts the cohort. A period is listed once
  -- it has begun (its bucket starts at or before now()).
  -- breakdown_returns 'same': one row per user, bucket and breakdown value, one window pass
  -- per user and value; a user's cohort bucket keeps the row of the value of its first start
  -- event (fs = 1: by time, then value, the rule of 'any'), whose returns carry that value.
  RETURN format($q$WITH ub AS (
  SELECT u, b, bool_or(st) AS st, bool_or(rt) AS rt, %1$s
    FROM (%2$s) e
   GROUP BY u, b%6$s
), w AS (
  SELECT b, bv, st, %7$s AS fs,
         array_agg(b) FILTER (WHERE rt) OVER (PARTITION BY u%6$s ORDER BY b
                                               RANGE BETWEEN 1 FOLLOWING AND %3$s FOLLOWING) AS rb
    FROM ub
), hits AS (
  SELECT bv, b, x - b AS k, count(*) AS users
    FROM w CROSS JOIN LATERAL unnest(array_prepend(b, rb)) AS x
   WHERE st AND fs = 1
   GROUP BY bv, b, x - b
)
SELECT z.bv::text, %4$s, z.users::bigint, k.k::int,
       coalesce(h.users, 0)::bigint, coalesce(h.users, 0)::double precision / z.users
  FROM hits z
 CROSS JOIN generate_series(0, %3$s) AS k(k)
  LEFT JOIN hits h ON h.b = z.b AND h.k = k.k AND h.bv IS NOT DISTINCT FROM z.bv
 WHERE z.k = 0 AND %5$s <= now()
 ORDER BY z.bv NULLS FIRST, z.b, k.k$q$,
    CASE WHEN same THEN 'bv, min(t) FILTER (WHERE st) AS ft'
         WHEN breakdown IS NULL THEN 'NULL::text AS bv'
         ELSE '(array_agg(bv ORDER BY t, bv) FILTER (WHERE st))[1] AS bv' END,
    events,
    periods - 1,
    format('pulse._bucket_start(%L, z.b, %L, %s)', p, tz, hs),
    format('pulse._bucket_start(%L, z.b + k.k, %L, %s)', p, tz, hs),
    CASE WHEN same THEN ', bv' ELSE '' END,
    CASE WHEN same THEN 'row_number() OVER (PARTITION BY u, b ORDER BY ft NULLS LAST, bv)' ELSE '1' END);
END
$f$;

CREATE FUNCTION pulse.retention(project text, start_event jsonb, return_event jsonb,
                                date_from timestamptz, date_to timestamptz,
                                period text DEFAULT 'day', periods int DEFAULT 8,
                                retention_type text DEFAULT 'recurring',
                                breakdown text DEFAULT NULL, timezone text DEFAULT 'UTC',
                                actor text DEFAULT 'person', cohort text DEFAULT NULL,
                                week_start text DEFAULT 'monday', breakdown_returns text DEFAULT 'any')
  RETURNS TABLE(breakdown text, cohort_start timestamptz, cohort_size bigint, period int,
                users bigint, rate double precision)
  LANGUAGE sql
  -- the insight's own SQL and the caller's expressions resolve names in pg_catalog and pulse
  -- first, whatever the caller's search_path (docs/security.md#insights)
  SET search_path = pg_catalog, pulse, pg_temp AS $$
  SELECT * FROM pulse._insight_run(pulse._retention_sql($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14))
    AS r(breakdown text, cohort_start timestamptz, cohort_size bigint, period int, users bigint,
         rate double precision)
$$;

-- ---------------------------------------------------------------------------- trends

CREATE FUNCTION pulse._trends_sql(project text, event jsonb, date_from timestamptz, date_to timestamptz,
                                  "interval" text DEFAULT 'day', measure text DEFAULT 'count',
                                  property text DEFAULT NULL, breakdown text DEFAULT NULL,
                                  breakdown_limit int DEFAULT 25, timezone text DEFAULT 'UTC',
                                  actor text DEFAULT 'person', cohort text DEFAULT NULL,
                                  week_start text DEFAULT 'monday')
  RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  iv text;
  ul int;          -- dau / wau / mau: the unit of the last instant before date_to
  map boolean;     -- the reads join the id mapping (resolve, a cohort)
  cc text;         -- the cohort's condition
  pm oid;          -- the mapping the single pass resolves actors with (pulse._insight_person_map)
  resolve boolean;
  act text;        -- the actor of an event and the FROM item (pulse._insight_actor, _insight_from)
  ev_from text;
  m text;
  ev record;
  cond text;       -- the WHERE condition of the event
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
  agg text;
  zero text := '0';
  e_kind text := '';  -- how the CTE of the events is kept
  agg_cte text;      -- the query of the counts per (group, bucket)
  unit text;       -- dau / wau / mau: activity is recorded per hour (hourly trends) or per day
  width int;       -- the trailing window, in units
  t_look text;     -- start of the trailing window of the first bucket
  src text;        -- the events read (CTE e)
  grouped text;    -- e with the group (ord) of each event
  groups text;     -- the groups, one row each
  ranks text;      -- CTEs ranking the breakdown values
  fast boolean := false;
BEGIN
  project := pulse._insight_args(project, date_from, date_to, timezone);
  iv := pulse._insight_choice('interval', "interval", '{hour,day,week,month}');
  IF pulse._insight_choice('week_start', week_start, '{monday,sunday}') = 'sunday' AND iv = 'week' THEN
    iv := 'week_sun';
  END IF;
  m := pulse._insight_choice('measure', measure,
                             '{count,unique_users,dau,wau,mau,sum,avg,min,max,p50,p90,p99}');
  resolve := pulse._insight_actor_mode(actor) = 'person';
  ev := pulse._insight_event(project, event, 'event');
  cond := pulse._insight_cond(ev.filter);
  cc := pulse._insight_cohort_cond(project, cohort);
  IF cc <> 'true' THEN
    cond := cond || ' AND ' || cc;
  END IF;
  -- (only the measures that count actors resolve them)
  resolve := resolve AND m IN ('unique_users', 'dau', 'wau', 'mau');
  map := resolve OR cohort IS NOT NULL OR coalesce(breakdown ~ '^cohort\.', false);
  act := pulse._insight_actor(project, resolve);
  act := CASE WHEN act = '_user' THEN act ELSE act || ' AS _user' END;
  ev_from := pulse._insight_from(project, ev.collection, map,
                                 pulse._insight_uses_person(ARRAY[ev.filter, property, breakdown]));
  -- unique_users in one pass, counted by person with nothing else of the persons used: the
  -- aggregate resolves the raw _user itself (pulse._insight_person_map)
  IF resolve AND m = 'unique_users' AND pulse._single_pass() AND cc = 'true'
     AND NOT coalesce(breakdown ~ '^cohort\.', false)
     AND NOT pulse._insight_uses_person(ARRAY[ev.filter, property, breakdown]) THEN
    pm := pulse._insight_person_map(project);
  END IF;
  IF pm IS NOT NULL THEN
    act := '_user';
    ev_from := pulse._insight_from(project, ev.collection, false, false);
  END IF;
  IF m IN ('sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99') THEN
    IF property IS NULL THEN
      RAISE EXCEPTION 'measure "%" needs a property', m USING ERRCODE = '22023',
        HINT = 'Pass property => ''<numeric column>''.';
    END IF;
    ptype := pulse._insight_column(project, ev.collection, property, 'property');
    IF ptype NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'real'::regtype,
                     'double precision'::regtype, 'numeric'::regtype) THEN
      RAISE EXCEPTION 'property "%" of collection "%.%" is %, not a number', property, project, ev.collection, ptype
        USING ERRCODE = '42804',
        HINT = 'sum, avg, min, max and the percentiles need a numeric column, or a JSON property cast to a number: (properties->>''revenue'')::numeric.';
    END IF;
    v := format('(%s)::double precision', pulse._insight_operand(project, ev.collection, property));
  ELSIF property IS NOT NULL THEN
    RAISE EXCEPTION 'measure "%" takes no property', m USING ERRCODE = '22023',
      HINT = 'property is used by sum, avg, min, max, p50, p90 and p99.';
  END IF;
  IF breakdown IS NOT NULL THEN
    PERFORM pulse._insight_column(project, ev.collection, breakdown, 'breakdown');
    bv := format('(%s)::text', pulse._insight_operand(project, ev.collection, breakdown));
    PERFORM pulse._insight_int('breakdown_limit', breakdown_limit, 1, NULL);
  END IF;

  hs := pulse._insight_hour_shift(date_from, tz);
  bf := pulse._bucket(iv, date_from, tz, hs);
  bl := pulse._bucket(iv, date_to - INTERVAL '1 microsecond', tz, hs);
  b_first := bf::text;
  b_last := bl::text;
  IF bl - bf + 1 > 100000 THEN
    RAISE EXCEPTION 'too many buckets: % %s between date_from and date_to', bl - bf + 1, left(iv, 5)
      USING ERRCODE = '54000', HINT = 'Use a longer interval or a shorter date range (at most 100000 buckets).';
  END IF;

  IF m IN ('dau', 'wau', 'mau') THEN
    unit := CASE iv WHEN 'hour' THEN 'hour' ELSE 'day' END;
    width := CASE m WHEN 'dau' THEN 1 WHEN 'wau' THEN 7 ELSE 30 END * CASE unit WHEN 'hour' THEN 24 ELSE 1 END;
    ul := pulse._bucket(unit, date_to - INTERVAL '1 microsecond', tz, hs);
    -- the first window ends with the last unit of the first bucket, or with ul when date_to
    -- cuts it: it starts width units before the unit that follows
    t_look := pulse._insight_ts(least(date_from,
      pulse._bucket_start(unit, least(pulse._bucket(unit, pulse._bucket_start(iv, (bf + 1)::int, tz, hs), tz, hs),
                                      ul + 1) - width, tz, hs)));
    src := format($q$SELECT %5$s, pulse._bucket(%1$L, _time, %2$L, %3$s) AS u, %4$s AS bv
    FROM %6$s
   WHERE _time >= %7$s AND _time < %8$s AND _user IS NOT NULL AND %9$s$q$,
      unit, tz, hs, bv, act, ev_from, t_look, t_to, cond);
  ELSE
    -- unique_users: one pulse._uniques_report state per breakdown group buckets the raw times
    -- (b holds _time) by the bounds of the buckets.
    fast := m = 'unique_users' AND pulse._single_pass();
    src := format($q$SELECT %4$s, %1$s AS b, %2$s AS bv, %3$s AS v
    FROM %5$s
   WHERE _time >= %6$s AND _time < %7$s AND %8$s$q$,
      CASE WHEN fast THEN '_time' ELSE format('pulse._bucket(%L, _time, %L, %s)', iv, tz, hs) END,
      bv, v, act, ev_from, t_from, t_to, cond);
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
    -- buckets B(u) .. B(u + width) - 1, and the last bucket when date_to cuts it: its window
    -- ends with the unit ul of date_to (units ul - width + 1 .. ul), not at the bucket's end
    -- (hi stays non-decreasing in u). The ranges of one user are merged into islands (in
    -- order of u they either overlap or not), and the users of a bucket are the running sum
    -- of +1 at each island's first bucket and -1 after its last.
    RETURN format($q$WITH e AS (%1$s
)%2$s, a AS (
  SELECT DISTINCT %10$s, u FROM (%3$s) x
), c AS (
  SELECT %10$s, u, greatest(%4$s, %6$s) AS lo,
         CASE WHEN u + %12$s > %13$s THEN %7$s ELSE least(%5$s - 1, %7$s) END AS hi FROM a
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
SELECT grps.grp::text, %8$s,
       (sum(coalesce(d.d, 0)) OVER (PARTITION BY grps.ord ORDER BY bk.b))::double precision
  FROM (%9$s) grps
 CROSS JOIN bk
  LEFT JOIN d ON d.ord = grps.ord AND d.b = bk.b
 ORDER BY grps.ord, bk.b$q$,
      src, ranks, grouped,
      format('pulse._unit_bucket(%L, %L, u)', unit, iv),
      format('pulse._unit_bucket(%L, %L, u + %s)', unit, iv, width),
      b_first, b_last, format('pulse._bucket_start(%L, bk.b, %L, %s)', iv, tz, hs), groups,
      CASE WHEN breakdown IS NULL THEN '_user' ELSE 'ord, _user' END,
      CASE WHEN breakdown IS NULL THEN '1' ELSE 'ord' END, width, ul);
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
  IF fast AND breakdown IS NOT NULL AND (breakdown_limit::bigint + 1) * (bl - bf + 1) <= 100000 THEN
    -- with a breakdown: one state ranks the values and counts the groups' users (the events
    -- are read once): x holds the top values in rank order and the groups' buckets, one group
    -- after the other ('other' last, when more values had events)
    e_kind := ' NOT MATERIALIZED';
    ranks := format($q$, x AS (
  SELECT pulse._uniques_report(_user::text, b, bv, %1$s, %2$L::timestamptz[]%3$s) AS a FROM e
)$q$, breakdown_limit, pulse._bucket_bounds(iv, bf::int, (bl + 1)::int, tz, hs),
      CASE WHEN pm IS NULL THEN '' ELSE format(', %L::regclass', pm) END);
    groups := format($q$SELECT g.i AS ord, CASE WHEN g.i <= cardinality((x.a).breakdowns) THEN (x.a).breakdowns[g.i]
                   ELSE 'other' END AS grp
      FROM x CROSS JOIN generate_series(1, cardinality((x.a).counts) / %1$s) AS g(i)$q$, bl - bf + 1);
    agg_cte := format($q$SELECT (u.i - 1) / %1$s + 1 AS ord, %2$s + (u.i - 1) %% %1$s AS b, u.v AS value
    FROM x CROSS JOIN unnest((x.a).counts) WITH ORDINALITY AS u(v, i)$q$, bl - bf + 1, b_first);
  ELSIF fast THEN
    agg := format('pulse._uniques_report(_user::text, b, %L::timestamptz[]%s)',
                  pulse._bucket_bounds(iv, bf::int, (bl + 1)::int, tz, hs),
                  CASE WHEN pm IS NULL THEN '' ELSE format(', %L::regclass', pm) END);
    agg_cte := format($q$SELECT x.ord, %3$s + u.i - 1 AS b, u.v AS value
    FROM (SELECT ord, %1$s AS a FROM (%2$s) x GROUP BY ord) x
   CROSS JOIN unnest(x.a) WITH ORDINALITY AS u(v, i)$q$, agg, grouped, b_first);
  ELSE
    agg_cte := format('SELECT ord, b, %s AS value FROM (%s) x GROUP BY ord, b', agg, grouped);
  END IF;
  RETURN format($q$WITH e AS%1$s (%2$s
)%3$s, agg AS (
  %4$s
), bk AS (
  SELECT generate_series(%5$s, %6$s) AS b
)
SELECT grps.grp::text, %7$s, coalesce(agg.value, %8$s)::double precision
  FROM (%9$s) grps
 CROSS JOIN bk
  LEFT JOIN agg ON agg.ord = grps.ord AND agg.b = bk.b
 ORDER BY grps.ord, bk.b$q$,
    e_kind, src, ranks, agg_cte, b_first, b_last, format('pulse._bucket_start(%L, bk.b, %L, %s)', iv, tz, hs), zero, groups);
END
$f$;

CREATE FUNCTION pulse.trends(project text, event jsonb, date_from timestamptz, date_to timestamptz,
                             "interval" text DEFAULT 'day', measure text DEFAULT 'count',
                             property text DEFAULT NULL, breakdown text DEFAULT NULL,
                             breakdown_limit int DEFAULT 25, timezone text DEFAULT 'UTC',
                             actor text DEFAULT 'person', cohort text DEFAULT NULL,
                             week_start text DEFAULT 'monday')
  RETURNS TABLE(breakdown text, bucket timestamptz, value double precision)
  LANGUAGE sql
  -- the insight's own SQL and the caller's expressions resolve names in pg_catalog and pulse
  -- first, whatever the caller's search_path (docs/security.md#insights)
  SET search_path = pg_catalog, pulse, pg_temp AS $$
  SELECT * FROM pulse._insight_run(pulse._trends_sql($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13))
    AS t(breakdown text, bucket timestamptz, value double precision)
$$;
-- ---------------------------------------------------------------------------- paths

-- The single pass of pulse.paths (src/analytics/reports.cc, core/paths_report.h): every event
-- of the analysis into one state, which cuts each actor's timeline into sessions and counts the
-- moves. (actor, ts, collection, label, is a start event, session_gap, step_limit, by_session
-- [, mapping]) -> the counted moves, one array element per (step, source, target).
CREATE TYPE pulse._paths_moves AS (steps integer[], sources text[], targets text[], users bigint[]);
CREATE FUNCTION pulse._paths_report_add(internal, text, timestamptz, text, text, boolean, interval, integer, boolean)
  RETURNS internal LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_paths_report_add';
CREATE FUNCTION pulse._paths_report_add(internal, text, timestamptz, text, text, boolean, interval, integer, boolean,
                                        regclass)
  RETURNS internal LANGUAGE c PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'pulse_paths_report_add';
CREATE FUNCTION pulse._paths_report_final(internal) RETURNS pulse._paths_moves
  LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'pulse_paths_report_final';
CREATE AGGREGATE pulse._paths_report(text, timestamptz, text, text, boolean, interval, integer, boolean) (
  SFUNC = pulse._paths_report_add, STYPE = internal,
  FINALFUNC = pulse._paths_report_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE pulse._paths_report(text, timestamptz, text, text, boolean, interval, integer, boolean, regclass) (
  SFUNC = pulse._paths_report_add, STYPE = internal,
  FINALFUNC = pulse._paths_report_final, FINALFUNC_MODIFY = READ_WRITE, PARALLEL = RESTRICTED
);

CREATE FUNCTION pulse._paths_sql(project text, date_from timestamptz, date_to timestamptz,
                                 start_event text DEFAULT NULL, step_limit int DEFAULT 5,
                                 session_gap interval DEFAULT '30 minutes', node text DEFAULT NULL,
                                 actor text DEFAULT 'person', cohort text DEFAULT NULL,
                                 count_by text DEFAULT 'users')
  RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  resolve boolean;
  counted text;    -- what a transition counts: distinct users, or distinct sessions
  cc text;         -- the cohort's condition
  t_from text := pulse._insight_ts(date_from);
  t_to text := pulse._insight_ts(date_to);
  start_coll text;
  parts text[] := '{}';
  col record;
  node_found boolean := false;
  n_all int := 0;
  single boolean := pulse._single_pass();
  pm oid;          -- the person mapping the single pass resolves ids by itself
BEGIN
  project := pulse._insight_args(project, date_from, date_to, 'UTC');
  PERFORM pulse._insight_int('step_limit', step_limit, 1, 100);
  PERFORM pulse._insight_interval('session_gap', session_gap, true);
  counted := CASE pulse._insight_choice('count_by', count_by, '{users,sessions}')
               WHEN 'users' THEN 'u' ELSE '(u, sess)' END;
  resolve := pulse._insight_actor_mode(actor) = 'person';
  cc := pulse._insight_cohort_cond(project, cohort);
  IF start_event IS NOT NULL THEN
    start_coll := pulse._insight_collection(project, start_event, 'start_event');
  END IF;
  IF single AND resolve AND cohort IS NULL THEN
    pm := pulse._insight_person_map(project);
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
    parts := parts || format($q$SELECT %3$s AS u, _time AS t, %1$L::text AS c, %2$s AS l%8$s
    FROM %4$s
   WHERE _time >= %5$s AND _time < %6$s AND _user IS NOT NULL AND %7$s$q$,
      col.name,
      -- (labels compare in the default collation in both plans, whatever the node column's)
      CASE WHEN col.has_node
           THEN format('(CASE WHEN %1$I IS NULL THEN %2$L ELSE %2$L || '':'' || (%1$I)::text END) COLLATE "default"', node, col.name)
           ELSE format('%L::text', col.name) END,
      pulse._insight_actor(project, resolve AND pm IS NULL),
      pulse._insight_from(project, col.name, (resolve AND pm IS NULL) OR cohort IS NOT NULL, false),
      t_from, t_to, cc,
      CASE WHEN single THEN format(', %L::boolean AS st', start_coll IS NULL OR start_coll = col.name) ELSE '' END);
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
    parts := ARRAY['SELECT NULL::text AS u, NULL::timestamptz AS t, NULL::text AS c, NULL::text AS l'
                   || CASE WHEN single THEN ', NULL::boolean AS st' ELSE '' END || ' WHERE false'];
  END IF;

  IF single THEN
    -- one pass: the report aggregate sessions each actor's events and counts the moves
    RETURN format($q$WITH r AS (
  SELECT pulse._paths_report(u, t, c, l, st, %2$L::interval, %3$s, %4$L::boolean%5$s) AS r
    FROM (
  %1$s
    ) ev
)
SELECT m.step, m.source, m.target, m.users
  FROM r CROSS JOIN unnest((r.r).steps, (r.r).sources, (r.r).targets, (r.r).users) AS m(step, source, target, users)
 ORDER BY step, users DESC, source, target$q$,
      array_to_string(parts, E'\n  UNION ALL\n  '), session_gap, step_limit, counted <> 'u',
      CASE WHEN pm IS NULL THEN '' ELSE format(', %L::regclass', pm) END);
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
  SELECT u, sess, step, l AS source, lead(l) OVER (PARTITION BY u, sess ORDER BY step) AS target
    FROM n WHERE step <= %5$s + 1
)
SELECT step::int, source, target, count(DISTINCT %6$s)::bigint AS users
  FROM tr WHERE target IS NOT NULL
 GROUP BY step, source, target
 ORDER BY step, users DESC, source, target$q$,
    array_to_string(parts, E'\n  UNION ALL\n  '),
    session_gap,
    CASE WHEN start_coll IS NULL THEN ''
         ELSE format(',
         bool_or(c = %L) OVER (PARTITION BY u, sess ORDER BY t, c, l ROWS UNBOUNDED PRECEDING) AS started', start_coll) END,
    CASE WHEN start_coll IS NULL THEN '' ELSE ' WHERE started' END,
    step_limit, counted);
END
$f$;

CREATE FUNCTION pulse.paths(project text, date_from timestamptz, date_to timestamptz,
                            start_event text DEFAULT NULL, step_limit int DEFAULT 5,
                            session_gap interval DEFAULT '30 minutes', node text DEFAULT NULL,
                            actor text DEFAULT 'person', cohort text DEFAULT NULL,
                            count_by text DEFAULT 'users')
  RETURNS TABLE(step int, source text, target text, users bigint)
  LANGUAGE sql
  -- the insight's own SQL and the caller's expressions resolve names in pg_catalog and pulse
  -- first, whatever the caller's search_path (docs/security.md#insights)
  SET search_path = pg_catalog, pulse, pg_temp AS $$
  SELECT * FROM pulse._insight_run(pulse._paths_sql($1, $2, $3, $4, $5, $6, $7, $8, $9, $10))
    AS p(step int, source text, target text, users bigint)
$$;
