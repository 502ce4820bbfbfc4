-- bench/views/gen.sql: the deterministic event generator of bench/views (no random(): event i is
-- always the same row, so the NDJSON batches and the rows inserted directly agree, and a run is
-- reproducible). Values come from hashint8extended(i, k) mapped to [0, 1).
--   public.bench_events(lo, hi, step_ms, users): events lo..hi; event i happens at
--   2026-09-01 00:00 UTC + i * step_ms, except 1 % "late" events that arrive up to 3 days late.
-- Mix: page_view 50 %, click 20 %, search 10 %, add_to_cart 7 %, signup 4 %, share 3 %,
-- purchase 3 % (revenue 1.00 .. 300.00, the only events with revenue), logout 3 %; 20 countries
-- with a skewed (r^2) distribution; duration 10 .. 120010 ms, NULL for 5 %; users u0 .. u<users-1>.
-- Immutable SQL SRF: inlined by the planner, so INSERT ... SELECT streams (no tuplestore).
CREATE FUNCTION public.bench_events(lo bigint, hi bigint, step_ms float8, users bigint)
RETURNS TABLE (_time timestamptz, _user text, event text, country text, revenue numeric, duration int)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_timestamp(1788220800 + (i * step_ms - CASE WHEN r.late < 0.01 THEN r.late * 100 * 259200000 ELSE 0 END) / 1000),
         'u' || floor(r.u * users)::bigint,
         CASE WHEN r.e < 0.50 THEN 'page_view' WHEN r.e < 0.70 THEN 'click' WHEN r.e < 0.80 THEN 'search'
              WHEN r.e < 0.87 THEN 'add_to_cart' WHEN r.e < 0.91 THEN 'signup' WHEN r.e < 0.94 THEN 'share'
              WHEN r.e < 0.97 THEN 'purchase' ELSE 'logout' END,
         (ARRAY['us','de','gb','fr','in','br','jp','ca','es','it','nl','se','pl','mx','au','kr','tr','id','ar','za'])
           [1 + floor(20 * r.c * r.c)::int],
         CASE WHEN r.e >= 0.94 AND r.e < 0.97 THEN round((1 + r.v * 299)::numeric, 2) END,
         CASE WHEN r.d < 0.05 THEN NULL ELSE (10 + (r.d - 0.05) * 120000 / 0.95)::int END
    FROM (SELECT i,
                 (hashint8extended(i, 1) & 2147483647) / 2147483648.0::float8 AS e,
                 (hashint8extended(i, 2) & 2147483647) / 2147483648.0::float8 AS c,
                 (hashint8extended(i, 3) & 2147483647) / 2147483648.0::float8 AS u,
                 (hashint8extended(i, 4) & 2147483647) / 2147483648.0::float8 AS v,
                 (hashint8extended(i, 5) & 2147483647) / 2147483648.0::float8 AS d,
                 (hashint8extended(i, 6) & 2147483647) / 2147483648.0::float8 AS late
            FROM generate_series(lo, hi) AS i) AS r
$$;
