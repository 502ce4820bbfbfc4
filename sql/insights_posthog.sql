-- PostHog's insight rules next to pg_pulse's (issue 15): week_start => 'sunday' on weekly
-- retention and trends, retention breakdown_returns => 'same', paths count_by => 'sessions';
-- and dau / wau / mau windows of a last bucket cut by date_to end at date_to. Every expected
-- number is worked out by hand in the comments.
-- (the extension may be left installed by the test before; it is left installed for the next)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pulse.create_project('regress_ph');

-- ============================================================================ week_start
-- May 2024: Saturday 4, Sunday 5, Monday 6, Sunday 12, Monday 13.
-- Monday weeks: Apr 29 - May 5 holds a (Sat 4) and b (Sun 5); May 6 - 12 holds c (Mon 6) and
-- a (Sun 12); May 13 - 19 holds b (Mon 13).
-- Sunday weeks: Apr 28 - May 4 holds a; May 5 - 11 holds b and c; May 12 - 18 holds a and b.
SELECT stored FROM pulse.collect_batch('regress_ph', '
{"_user": "a", "_time": "2024-05-04T10:00:00Z", "plan": "free"}
{"_user": "b", "_time": "2024-05-05T10:00:00Z", "plan": "free"}
{"_user": "c", "_time": "2024-05-06T10:00:00Z", "plan": "pro"}
{"_user": "a", "_time": "2024-05-12T10:00:00Z", "plan": "pro"}
{"_user": "b", "_time": "2024-05-13T10:00:00Z", "plan": "free"}', 'visit');
-- Monday weeks (the default) and Sunday weeks: the Sunday moves a user to the other week
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "visit"}', '2024-04-29', '2024-05-20',
                                       "interval" => 'week', measure => 'unique_users');
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "visit"}', '2024-04-28', '2024-05-19',
                                       "interval" => 'week', measure => 'unique_users', week_start => 'sunday');
-- count and wau by Sunday weeks (whole weeks: wau is the week's users)
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "visit"}', '2024-04-28', '2024-05-19',
                                       "interval" => 'week', week_start => 'sunday');
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "visit"}', '2024-04-28', '2024-05-19',
                                       "interval" => 'week', measure => 'wau', week_start => 'sunday');
-- a breakdown goes the generic (non single-pass) way: Sunday weeks there too
SELECT breakdown, bucket, value FROM pulse.trends('regress_ph', '{"collection": "visit"}', '2024-04-28', '2024-05-19',
                                       "interval" => 'week', measure => 'unique_users', breakdown => 'plan',
                                       week_start => 'sunday');
-- date_from inside a week: its bucket starts on the Sunday before (May 5 for Wednesday May 8)
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "visit"}', '2024-05-08', '2024-05-14',
                                       "interval" => 'week', week_start => 'sunday');
-- week_start only changes weekly buckets
SELECT count(*) FROM (
  SELECT * FROM pulse.trends('regress_ph', '{"collection": "visit"}', '2024-05-01', '2024-05-15', week_start => 'sunday')
  EXCEPT
  SELECT * FROM pulse.trends('regress_ph', '{"collection": "visit"}', '2024-05-01', '2024-05-15')) d;
-- a time zone: 2024-05-05 02:00 UTC is Saturday May 4 in New York, in the Sunday week of
-- April 28 (04:00 UTC); date_from (April 27, 20:00 there) lies in the week of April 21
SELECT stored FROM pulse.collect('regress_ph', 'tzv', '{"_user": "z", "_time": "2024-05-05T02:00:00Z"}');
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "tzv"}', '2024-04-28', '2024-05-12',
                                       "interval" => 'week', week_start => 'sunday', timezone => 'America/New_York');
-- retention by Monday weeks: cohort Apr 29 = {a, b}, a back in week May 6 (Sunday 12,
-- period 1) and b in week May 13 (period 2); cohort May 6 = {c, a}: nobody of it comes back
-- (b's visit on May 13 is not theirs)
SELECT cohort_start, cohort_size, period, users
  FROM pulse.retention('regress_ph', '{"collection": "visit"}', '{"collection": "visit"}',
                       '2024-04-29', '2024-05-13', period => 'week', periods => 3);
-- by Sunday weeks: cohort Apr 28 = {a}, a back in week May 12 (period 2); cohort May 5 =
-- {b, c}, b back in week May 12 (period 1)
SELECT cohort_start, cohort_size, period, users
  FROM pulse.retention('regress_ph', '{"collection": "visit"}', '{"collection": "visit"}',
                       '2024-04-28', '2024-05-12', period => 'week', periods => 3, week_start => 'sunday');
-- the same with the single pass off (the generic query)
SET pulse.analytics_single_pass = off;
SELECT cohort_start, cohort_size, period, users
  FROM pulse.retention('regress_ph', '{"collection": "visit"}', '{"collection": "visit"}',
                       '2024-04-28', '2024-05-12', period => 'week', periods => 3, week_start => 'sunday');
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "visit"}', '2024-04-28', '2024-05-19',
                                       "interval" => 'week', measure => 'unique_users', week_start => 'sunday');
RESET pulse.analytics_single_pass;
-- first_time retention by Sunday weeks: a's first visit is in week Apr 28, b's and c's in May 5
SELECT cohort_start, cohort_size, period, users
  FROM pulse.retention('regress_ph', '{"collection": "visit"}', '{"collection": "visit"}',
                       '2024-04-28', '2024-05-12', period => 'week', periods => 2, week_start => 'sunday',
                       retention_type => 'first_time');
-- The bucket functions of Sunday weeks (unit week_sun): a bucket starts on the local Sunday at
-- 00:00 before the instant (every 7 hours of 2024 in three zones, DST changes included), the
-- next one after it; the day -> week mapping of dau / wau / mau agrees with it (days around
-- 1970 and negative ones included); and the functions are inlined like the others
SELECT tz, count(*) AS instants,
       bool_and(pulse._bucket_start('week_sun', pulse._bucket('week_sun', t, tz, 0), tz, 0)
                = (date_trunc('week', (t AT TIME ZONE tz) + interval '1 day') - interval '1 day') AT TIME ZONE tz) AS sunday_start,
       bool_and(extract(dow FROM pulse._bucket_start('week_sun', pulse._bucket('week_sun', t, tz, 0), tz, 0) AT TIME ZONE tz) = 0) AS dow0,
       bool_and(pulse._bucket_start('week_sun', pulse._bucket('week_sun', t, tz, 0) + 1, tz, 0) > t) AS next
  FROM unnest(ARRAY['UTC', 'Europe/Paris', 'America/Sao_Paulo']) AS tz,
       generate_series(timestamptz '2024-01-01', '2024-12-31', '7 hours') AS t
 GROUP BY tz ORDER BY tz;
SELECT count(*) AS days,
       bool_and(pulse._unit_bucket('day', 'week_sun', pulse._bucket('day', d, 'UTC', 0)) = pulse._bucket('week_sun', d, 'UTC', 0)) AS agree
  FROM generate_series(timestamptz '1969-11-01', '1970-02-01', '1 day') AS d;
SELECT pulse._bucket('week_sun', '1970-01-03 23:59+00', 'UTC', 0) AS sat, pulse._bucket('week_sun', '1970-01-04 00:00+00', 'UTC', 0) AS sun,
       pulse._bucket_start('week_sun', 2836, 'UTC', 0) AS may_12_2024;
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q; END $$;
-- (the general plans: the single pass buckets by bounds)
SET pulse.analytics_single_pass = off;
SELECT insight, (SELECT count(*) FROM pg_temp.plan(q) l WHERE l LIKE '%pulse.\_%') AS plan_calls
  FROM (VALUES
    ('trends', pulse._trends_sql('regress_ph', '{"collection": "visit"}', '2024-05-01', '2024-05-15', 'week', measure => 'wau', week_start => 'sunday')),
    ('retention', pulse._retention_sql('regress_ph', '{"collection": "visit"}', '{"collection": "visit"}', '2024-05-01', '2024-05-15', 'week',
                                       breakdown => 'plan', week_start => 'sunday'))) AS t(insight, q);
RESET pulse.analytics_single_pass;
-- invalid values
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ph', '{"collection": "visit"}', '2024-05-01', '2024-05-15', week_start => 'saturday')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ph', '{"collection": "visit"}', '{"collection": "visit"}', '2024-05-01', '2024-05-15', week_start => NULL)$$);

-- ============================================================================ dau / wau / mau cut by date_to
-- a on Thursday May 9, b on Friday May 10, nobody in May 13 - 14. date_to = Wednesday May 15
-- cuts the week of May 13: its wau window is May 8 - 14 (it ends at date_to), which holds a
-- and b: 2, not the 0 of the week's natural window May 13 - 19. The week of May 6 (whole):
-- window May 6 - 12, a and b.
SELECT stored FROM pulse.collect_batch('regress_ph', '
{"_user": "a", "_time": "2024-05-09T10:00:00Z"}
{"_user": "b", "_time": "2024-05-10T10:00:00Z"}
{"_user": "c", "_time": "2024-05-15T10:00:00Z"}', 'act');
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "act"}', '2024-05-06', '2024-05-15',
                                       "interval" => 'week', measure => 'wau');
-- date_to Tuesday May 14 at noon: the window is May 8 - 14 as well (whole days)
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "act"}', '2024-05-06', '2024-05-14 12:00',
                                       "interval" => 'week', measure => 'wau');
-- date_to Friday May 17: window May 10 - 16 holds b (May 10) and c (May 15); not a (May 9)
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "act"}', '2024-05-06', '2024-05-17',
                                       "interval" => 'week', measure => 'wau');
-- one bucket, cut: date_from Monday May 13, date_to May 15; the window May 8 - 14 reaches
-- back before date_from (a, b), like the first window of a whole bucket does
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "act"}', '2024-05-13', '2024-05-15',
                                       "interval" => 'week', measure => 'wau');
SELECT breakdown, bucket, value FROM pulse.trends('regress_ph', '{"collection": "act"}', '2024-05-13', '2024-05-15',
                                       "interval" => 'week', measure => 'mau', breakdown => '_user');
-- dau of the cut week: the last day before date_to (May 14): nobody (and the whole week of
-- May 6: Sunday 12, nobody); mau of May cut on the 15th: Apr 15 - May 14, a and b
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "act"}', '2024-05-06', '2024-05-15',
                                       "interval" => 'week', measure => 'dau');
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "act"}', '2024-05-01', '2024-05-15',
                                       "interval" => 'month', measure => 'mau');
-- monthly wau, May cut on the 15th: May 8 - 14 (a, b), not May 25 - 31 (nobody)
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "act"}', '2024-04-01', '2024-05-15',
                                       "interval" => 'month', measure => 'wau');
-- with a breakdown (the same windows per value) and by Sunday weeks: the week of Sunday May 12
-- is cut at May 15, its window May 8 - 14
SELECT breakdown, bucket, value FROM pulse.trends('regress_ph', '{"collection": "act"}', '2024-05-05', '2024-05-15',
                                       "interval" => 'week', measure => 'wau', breakdown => '_user', week_start => 'sunday');
-- hourly buckets (units are hours): the 168 hours to 09:59 on May 15 hold a and b; the last
-- hour, cut at 10:30, ends at 10:59 (whole hours) and holds c's 10:00 visit too
SELECT bucket, value FROM pulse.trends('regress_ph', '{"collection": "act"}', '2024-05-15 09:00', '2024-05-15 10:30',
                                       "interval" => 'hour', measure => 'wau');

-- ============================================================================ breakdown_returns
-- x starts on May 1 with plan free, comes back on May 2 with plan pro; y starts on May 1 with
-- pro and comes back on May 2 with pro. By start value (any): free {x} period 1 = 1 (x's
-- return counts whatever its plan), pro {y} = 1. PostHog's rule (same): free period 1 = 0
-- (x's return carries pro), pro period 1 = 1.
SELECT stored FROM pulse.collect_batch('regress_ph', '
{"_user": "x", "_time": "2024-05-01T10:00:00Z", "plan": "free"}
{"_user": "y", "_time": "2024-05-01T11:00:00Z", "plan": "pro"}
{"_user": "x", "_time": "2024-05-02T10:00:00Z", "plan": "pro"}
{"_user": "y", "_time": "2024-05-02T11:00:00Z", "plan": "pro"}
{"_user": "x", "_time": "2024-05-03T10:00:00Z", "plan": "free"}', 'use');
SELECT * FROM pulse.retention('regress_ph', '{"collection": "use"}', '{"collection": "use"}',
                              '2024-05-01', '2024-05-02', breakdown => 'plan', periods => 3);
-- same: x's free cohort comes back on May 3 (free), not May 2
SELECT * FROM pulse.retention('regress_ph', '{"collection": "use"}', '{"collection": "use"}',
                              '2024-05-01', '2024-05-02', breakdown => 'plan', periods => 3,
                              breakdown_returns => 'same');
-- over May 1 - 3 recurring: on May 2, x starts with pro (a pro cohort of 2 on May 2); on
-- May 3 x is a free cohort of 1
SELECT * FROM pulse.retention('regress_ph', '{"collection": "use"}', '{"collection": "use"}',
                              '2024-05-01', '2024-05-04', breakdown => 'plan', periods => 3,
                              breakdown_returns => 'same');
-- a user with two values in one bucket keeps the first (by time) like with 'any': w starts
-- free then pro on May 1, returns pro on May 2: cohort free, no same return
SELECT stored FROM pulse.collect_batch('regress_ph', '
{"_user": "w", "_time": "2024-05-01T08:00:00Z", "plan": "free"}
{"_user": "w", "_time": "2024-05-01T09:00:00Z", "plan": "pro"}
{"_user": "w", "_time": "2024-05-02T09:00:00Z", "plan": "pro"}', 'use2');
SELECT * FROM pulse.retention('regress_ph', '{"collection": "use2"}', '{"collection": "use2"}',
                              '2024-05-01', '2024-05-02', breakdown => 'plan', periods => 2,
                              breakdown_returns => 'same');
-- start and return of different collections: the return collection's own plan column
SELECT stored FROM pulse.collect_batch('regress_ph', '
{"_user": "x", "_time": "2024-05-02T12:00:00Z", "plan": "free"}
{"_user": "y", "_time": "2024-05-02T12:00:00Z", "plan": "free"}', 'buy');
SELECT * FROM pulse.retention('regress_ph', '{"collection": "use", "filter": "_time < ''2024-05-02''"}',
                              '{"collection": "buy"}', '2024-05-01', '2024-05-02', breakdown => 'plan',
                              periods => 2, breakdown_returns => 'same');
SELECT * FROM pulse.retention('regress_ph', '{"collection": "use", "filter": "_time < ''2024-05-02''"}',
                              '{"collection": "buy"}', '2024-05-01', '2024-05-02', breakdown => 'plan',
                              periods => 2, breakdown_returns => 'same', retention_type => 'first_time');
-- 'same' without a breakdown is 'any'; a return collection without the column: 42703
SELECT count(*) FROM (
  SELECT * FROM pulse.retention('regress_ph', '{"collection": "use"}', '{"collection": "use"}', '2024-05-01', '2024-05-04', breakdown_returns => 'same')
  EXCEPT
  SELECT * FROM pulse.retention('regress_ph', '{"collection": "use"}', '{"collection": "use"}', '2024-05-01', '2024-05-04')) d;
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ph', '{"collection": "use"}', '{"collection": "act"}', '2024-05-01', '2024-05-04', breakdown => 'plan', breakdown_returns => 'same')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ph', '{"collection": "use"}', '{"collection": "use"}', '2024-05-01', '2024-05-04', breakdown => 'plan', breakdown_returns => 'other')$$);

-- ============================================================================ paths count_by
-- p has two sessions (10:00 and 12:00, gap 2 h > 30 min) with home -> pricing each; q has
-- one. Users: home -> pricing = 2; sessions: 3.
SELECT pulse.create_project('regress_pp');
SELECT stored FROM pulse.collect_batch('regress_pp', '
{"_user": "p", "_time": "2024-05-01T10:00:00Z"}
{"_user": "p", "_time": "2024-05-01T12:00:00Z"}
{"_user": "q", "_time": "2024-05-01T10:00:00Z"}', 'home');
SELECT stored FROM pulse.collect_batch('regress_pp', '
{"_user": "p", "_time": "2024-05-01T10:05:00Z"}
{"_user": "p", "_time": "2024-05-01T12:05:00Z"}
{"_user": "q", "_time": "2024-05-01T10:05:00Z"}', 'pricing');
SELECT * FROM pulse.paths('regress_pp', '2024-05-01', '2024-05-02');
SELECT * FROM pulse.paths('regress_pp', '2024-05-01', '2024-05-02', count_by => 'sessions');
-- one session when the gap is longer than 2 h: home -> pricing -> home -> pricing for p
SELECT * FROM pulse.paths('regress_pp', '2024-05-01', '2024-05-02', session_gap => '3 hours', count_by => 'sessions');
SELECT pg_temp.err($$SELECT * FROM pulse.paths('regress_pp', '2024-05-01', '2024-05-02', count_by => 'events')$$);

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_pp', force => true);
SELECT pulse.drop_project('regress_ph', force => true);
RESET client_min_messages;
