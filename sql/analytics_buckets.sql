-- Calendar buckets of the insights (sql/ext/parts/29_insights_common.sql): SQL functions over
-- values that the planner inlines. The query text of an insight calls them; its plan holds the
-- bare expressions, as if they had been written out.
CREATE EXTENSION pg_pulse;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SELECT pulse.create_project('regress_bk');
SELECT stored FROM pulse.collect_batch('regress_bk', $$
[{"collection": "page", "properties": {"_user": "a", "_time": "2024-01-01T10:00:00Z", "url": "/home"}},
 {"collection": "page", "properties": {"_user": "a", "_time": "2024-01-02T10:00:00Z", "url": "/pricing"}},
 {"collection": "page", "properties": {"_user": "b", "_time": "2024-01-03T10:00:00Z", "url": "/home"}},
 {"collection": "buy", "properties": {"_user": "a", "_time": "2024-01-02T11:00:00Z", "amount": 5}}]
$$);

-- With constant units and zones each function is inlined and its CASE folds to one branch: no
-- call of pulse._bucket, _bucket_start or _unit_bucket is left in the plan
EXPLAIN (VERBOSE, COSTS OFF)
SELECT pulse._bucket('day', _time, 'Europe/Paris', 0) AS day, pulse._bucket('hour', _time, 'Asia/Kolkata', 1800) AS hour,
       pulse._bucket_start('month', pulse._bucket('month', _time, 'UTC', 0), 'UTC', 0) AS month_start,
       pulse._unit_bucket('day', 'week', pulse._bucket('day', _time, 'UTC', 0) + 7) AS week_of_next_day
  FROM regress_bk.page WHERE pulse._bucket('week', _time, 'UTC', 0) > 0;
-- ... and so in the insights' queries: a weekly trend and a weekly retention by url in Paris
-- call pulse._bucket and pulse._bucket_start in their text, not in their plans (the general
-- plans: the single pass buckets by bounds)
SET pulse.analytics_single_pass = off;
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q; END $$;
SELECT insight, q LIKE '%pulse._bucket(%' AND q LIKE '%pulse._bucket_start(%' AS text_calls,
       (SELECT count(*) FROM pg_temp.plan(q) l WHERE l LIKE '%pulse.\_%') AS plan_calls,
       (SELECT count(*) > 0 FROM pg_temp.plan(q) l WHERE l LIKE '%date_trunc(''week''::text, (%AT TIME ZONE ''Europe/Paris''::text))%') AS plan_weeks
  FROM (VALUES
    ('trends', pulse._trends_sql('regress_bk', '{"collection": "page"}', '2024-01-01', '2024-01-08', 'week', timezone => 'Europe/Paris')),
    ('retention', pulse._retention_sql('regress_bk', '{"collection": "page"}', '{"collection": "buy"}', '2024-01-01', '2024-01-08', 'week',
                                       breakdown => 'url', timezone => 'Europe/Paris'))) AS t(insight, q);
RESET pulse.analytics_single_pass;

-- A bucket's start is date_trunc in the zone (days, weeks, months; every 7 hours of 2024 in
-- three zones, DST changes included), and the next bucket starts after the instant
SELECT u, tz, count(*) AS instants,
       bool_and(pulse._bucket_start(u, pulse._bucket(u, t, tz, 0), tz, 0) = date_trunc(u, t AT TIME ZONE tz) AT TIME ZONE tz) AS trunc,
       bool_and(pulse._bucket_start(u, pulse._bucket(u, t, tz, 0) + 1, tz, 0) > t) AS next
  FROM unnest(ARRAY['day', 'week', 'month']) AS u,
       unnest(ARRAY['UTC', 'Europe/Paris', 'America/Sao_Paulo']) AS tz,
       generate_series(timestamptz '2024-01-01', '2024-12-31', '7 hours') AS t
 GROUP BY u, tz ORDER BY u, tz;
-- an hour starts where the local clock shows :00 (zones with half and quarter hours)
SELECT tz, bool_and(extract(minute FROM pulse._bucket_start('hour', pulse._bucket('hour', t, tz, pulse._insight_hour_shift(t, tz)), tz,
                                                             pulse._insight_hour_shift(t, tz)) AT TIME ZONE tz) = 0) AS local_hours
  FROM unnest(ARRAY['UTC', 'Asia/Kolkata', 'Australia/Eucla']) AS tz,
       generate_series(timestamptz '2024-01-01', '2024-01-03', '17 minutes') AS t
 GROUP BY tz ORDER BY tz;
-- the day -> bucket mapping of dau / wau / mau: days to weeks (from Monday) and months
SELECT d, pulse._unit_bucket('day', 'week', pulse._bucket('day', d, 'UTC', 0)) = pulse._bucket('week', d, 'UTC', 0) AS week,
       pulse._unit_bucket('day', 'month', pulse._bucket('day', d, 'UTC', 0)) = pulse._bucket('month', d, 'UTC', 0) AS month
  FROM unnest(ARRAY[timestamptz '1969-12-28', '1970-01-04', '1970-01-05', '2024-02-29', '2024-03-01', '2024-12-30']) AS d;
-- the bounds of the single-pass aggregates
SELECT pulse._bucket_bounds('month', 648, 650, 'UTC', 0);
SELECT pulse._bucket_bounds('hour', 473352, 473353, 'Asia/Kolkata', 1800);

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_bk', force => true);
RESET client_min_messages;
DROP EXTENSION pg_pulse;
