-- Insight functions: pulse.retention, pulse.trends, pulse.paths. Every expected number is
-- worked out by hand in the comments next to the query.
CREATE EXTENSION pg_pulse;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.hint(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT; RETURN SQLSTATE || ': ' || h;
END $$;
SELECT pulse.create_project('regress_ins');

-- ============================================================================ retention

-- Reference: 80 users active on day 1, 50 of them (u1..u50) on day 2, 60 of them (u21..u80)
-- on day 3. Recurring day-1 cohort: 80, period 1 = 50, period 2 = 60. The day-2 cohort is
-- u1..u50, of whom u21..u50 (30) come back on day 3; the day-3 cohort is 60 users.
SELECT stored FROM pulse.collect_batch('regress_ins', (
  SELECT string_agg(json_build_object('_user', 'u' || i, '_time', d)::text, E'\n')
    FROM (SELECT i, '2024-01-01T10:00:00Z' AS d FROM generate_series(1, 80) i
          UNION ALL SELECT i, '2024-01-02T10:00:00Z' FROM generate_series(1, 50) i
          UNION ALL SELECT i, '2024-01-03T10:00:00Z' FROM generate_series(21, 80) i) x), 'active');
SELECT * FROM pulse.retention('regress_ins', '{"collection": "active"}', '{"collection": "active"}',
                              '2024-01-01', '2024-01-04', periods => 3);
-- first_time: only the day-1 cohort, whose users all start on day 1
SELECT * FROM pulse.retention('regress_ins', '{"collection": "active"}', '{"collection": "active"}',
                              '2024-01-01', '2024-01-04', periods => 3, retention_type => 'first_time');

-- Start event login, return event purchase (times UTC):
--   erin  login 2023-12-30 10:00 web, 2024-01-02 10:00 ios          purchase 01-03 10:00 (30)
--   frank login 01-01 10:00 web, 01-02 11:00 ios, 01-02 13:00 android purchase 01-02 15:00 (10), 01-03 09:00 (25)
--   gina  login 01-02 03:00 web                                       purchase 01-04 10:00 (5)
SELECT stored FROM pulse.collect_batch('regress_ins', $$
{"_user": "erin",  "_time": "2023-12-30T10:00:00Z", "device": "web"}
{"_user": "erin",  "_time": "2024-01-02T10:00:00Z", "device": "ios"}
{"_user": "frank", "_time": "2024-01-01T10:00:00Z", "device": "web"}
{"_user": "frank", "_time": "2024-01-02T11:00:00Z", "device": "ios"}
{"_user": "frank", "_time": "2024-01-02T13:00:00Z", "device": "android"}
{"_user": "gina",  "_time": "2024-01-02T03:00:00Z", "device": "web"}
{"_time": "2024-01-02T04:00:00Z", "device": "web"}
$$, 'login');
SELECT stored FROM pulse.collect_batch('regress_ins', $$
{"_user": "erin",  "_time": "2024-01-03T10:00:00Z", "amount": 30}
{"_user": "frank", "_time": "2024-01-02T15:00:00Z", "amount": 10}
{"_user": "frank", "_time": "2024-01-03T09:00:00Z", "amount": 25}
{"_user": "gina",  "_time": "2024-01-04T10:00:00Z", "amount": 5}
$$, 'purchase');
-- recurring, days, [01-01, 01-04): cohort 01-01 = {frank}: p1 frank (01-02), p2 frank (01-03).
-- Cohort 01-02 = {erin, frank, gina}: p1 (01-03) erin, frank = 2; p2 (01-04) gina = 1 (returns
-- are followed past date_to). No logins on 01-03, so no cohort. The anonymous login is ignored.
SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}',
                              '2024-01-01', '2024-01-04', periods => 3);
-- first_time: erin's first login ever is 2023-12-30, before date_from: in no cohort.
-- 01-01 = {frank}: 1, 1; 01-02 = {gina}: p1 0, p2 1.
SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}',
                              '2024-01-01', '2024-01-04', periods => 3, retention_type => 'first_time');
-- return filter amount >= 20 drops frank's 01-02 (10) and gina's (5) purchases:
-- 01-01 {frank}: p1 0, p2 1 (01-03, 25); 01-02 {erin, frank, gina}: p1 erin + frank = 2, p2 0.
SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}',
                              '{"collection": "purchase", "filter": "amount >= 20", "name": "big purchase"}',
                              '2024-01-01', '2024-01-04', periods => 3);
-- start filter device = 'ios': cohort 01-02 = {erin, frank}: p1 2, p2 0
SELECT * FROM pulse.retention('regress_ins', '{"collection": "login", "filter": "device = ''ios''"}',
                              '{"collection": "purchase"}', '2024-01-01', '2024-01-04', periods => 3);
-- breakdown by device, recurring: a user's value is the one of their first start event in the
-- cohort bucket (frank on 01-02: ios at 11:00, not android at 13:00).
--   ios 01-02 {erin, frank}: p1 2, p2 0;  web 01-01 {frank}: 1, 1;  web 01-02 {gina}: 0, 1
SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}',
                              '2024-01-01', '2024-01-04', periods => 3, breakdown => 'device');
-- breakdown, first_time: the value of the user's first start event: web 01-01 {frank}, web 01-02 {gina}
SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}',
                              '2024-01-01', '2024-01-04', periods => 3, retention_type => 'first_time',
                              breakdown => 'device');
-- breakdown when start and return are the same event (login), recurring:
--   ios 01-02 {erin, frank}: p1 (01-03) 0, p2 0;  web 01-01 {frank}: p1 frank (01-02) 1, p2 0;
--   web 01-02 {gina}: 0, 0
SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "login"}',
                              '2024-01-01', '2024-01-04', periods => 3, breakdown => 'device');
-- time zone: in America/New_York (UTC-5) gina's login (01-02 03:00Z) falls on local 01-01, and
-- the range is local 12-31 19:00 .. 01-03 19:00. Cohort local 01-01 = {frank, gina}: p1 frank
-- (01-02 10:00 local) = 1, p2 frank (01-03 04:00 local) = 1. Cohort 01-02 = {erin, frank}:
-- p1 (local 01-03) erin 05:00, frank 04:00 = 2; p2 (local 01-04) nobody = 0.
-- cohort_start is local midnight: 05:00 UTC.
SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}',
                              '2024-01-01', '2024-01-04', periods => 3, timezone => 'America/New_York');
-- the same call shown in New York time
SET timezone = 'America/New_York';
SELECT cohort_start, cohort_size, period, users FROM pulse.retention('regress_ins', '{"collection": "login"}',
  '{"collection": "purchase"}', '2024-01-01', '2024-01-04', periods => 3, timezone => 'America/New_York');
SET timezone = 'UTC';

-- weeks and months (visit is both start and return event):
--   hank 01-01 (Mon), 01-09, 01-22, 02-15;  ivy 01-07 (Sun), 01-08, 03-05;  jack 01-10, 01-17;
--   kim 02-20, 04-02
SELECT stored FROM pulse.collect_batch('regress_ins', $$
{"_user": "hank", "_time": "2024-01-01T12:00:00Z"}
{"_user": "hank", "_time": "2024-01-09T12:00:00Z"}
{"_user": "hank", "_time": "2024-01-22T12:00:00Z"}
{"_user": "hank", "_time": "2024-02-15T12:00:00Z"}
{"_user": "ivy",  "_time": "2024-01-07T12:00:00Z"}
{"_user": "ivy",  "_time": "2024-01-08T12:00:00Z"}
{"_user": "ivy",  "_time": "2024-03-05T12:00:00Z"}
{"_user": "jack", "_time": "2024-01-10T12:00:00Z"}
{"_user": "jack", "_time": "2024-01-17T12:00:00Z"}
{"_user": "kim",  "_time": "2024-02-20T12:00:00Z"}
{"_user": "kim",  "_time": "2024-04-02T12:00:00Z"}
$$, 'visit');
-- weeks (Monday) in [01-01, 01-15): week 01-01 = {hank, ivy}: p1 (01-08..14) hank, ivy = 2;
-- p2 (01-15..21) 0; p3 (01-22..28) hank = 1. Week 01-08 = {hank, ivy, jack}: p1 jack (01-17) = 1;
-- p2 hank (01-22) = 1; p3 (01-29..02-04) 0.
SELECT * FROM pulse.retention('regress_ins', '{"collection": "visit"}', '{"collection": "visit"}',
                              '2024-01-01', '2024-01-15', period => 'week', periods => 4);
-- months in [01-01, 03-01): January = {hank, ivy, jack}: p1 (Feb) hank = 1, p2 (Mar) ivy = 1.
-- February = {hank, kim}: p1 (Mar) 0, p2 (Apr) kim = 1.
SELECT * FROM pulse.retention('regress_ins', '{"collection": "visit"}', '{"collection": "visit"}',
                              '2024-01-01', '2024-03-01', period => 'month', periods => 3);
-- hours: hank's 01-01 12:00 visit is alone in its hour; periods 1 and 2 are 13:00 and 14:00
SELECT * FROM pulse.retention('regress_ins', '{"collection": "visit"}', '{"collection": "visit"}',
                              '2024-01-01 12:00', '2024-01-01 13:00', period => 'hour', periods => 3);
-- periods that have not begun yet are not returned: an event an hour ago makes a cohort of
-- today (or of yesterday, just after midnight), so 1 or 2 of the 30 daily periods are listed
SELECT stored FROM pulse.collect('regress_ins', 'recent',
  jsonb_build_object('_user', 'zoe', '_time', to_char((now() - interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')));
SELECT count(*) BETWEEN 1 AND 2 AS cut, min(period) = 0 AS has_period_0,
       bool_and(cohort_start + period * interval '1 day' <= now()) AS all_begun
  FROM pulse.retention('regress_ins', '{"collection": "recent"}', '{"collection": "recent"}',
                       now() - interval '2 hours', now(), periods => 30);
-- no start event in the range: no rows
SELECT count(*) FROM pulse.retention('regress_ins', '{"collection": "visit"}', '{"collection": "visit"}',
                                     '2020-01-01', '2020-02-01');

-- ============================================================================ trends

-- pageview (times UTC; "-" = no user, url null on e9):
--   e11 02-25 12:00 u7 /home 5      e10 02-27 12:00 u5 /home 5       (before the range)
--   e1 03-01 08:00 u1 /home 100     e2 03-01 09:00 u1 /home 200
--   e3 03-01 10:00 u2 /pricing 300  e4 03-01 23:30 u3 /home 400
--   e5 03-03 12:00 u1 /docs 50      e6 03-03 13:00 u2 /home 150      e13 03-03 14:00 - /home 70
--   e7 03-04 08:00 u2 /home 1000    e8 03-04 09:00 u4 /blog 10       e9 03-04 10:00 u4 (null) (null)
--   e12 03-05 00:00 u6 /home 1      (at date_to: outside [03-01, 03-05))
SELECT stored FROM pulse.collect_batch('regress_ins', $$
{"_user": "u7", "_time": "2024-02-25T12:00:00Z", "url": "/home", "ms": 5}
{"_user": "u5", "_time": "2024-02-27T12:00:00Z", "url": "/home", "ms": 5}
{"_user": "u1", "_time": "2024-03-01T08:00:00Z", "url": "/home", "ms": 100}
{"_user": "u1", "_time": "2024-03-01T09:00:00Z", "url": "/home", "ms": 200}
{"_user": "u2", "_time": "2024-03-01T10:00:00Z", "url": "/pricing", "ms": 300}
{"_user": "u3", "_time": "2024-03-01T23:30:00Z", "url": "/home", "ms": 400}
{"_user": "u1", "_time": "2024-03-03T12:00:00Z", "url": "/docs", "ms": 50}
{"_user": "u2", "_time": "2024-03-03T13:00:00Z", "url": "/home", "ms": 150}
{"_time": "2024-03-03T14:00:00Z", "url": "/home", "ms": 70}
{"_user": "u2", "_time": "2024-03-04T08:00:00Z", "url": "/home", "ms": 1000}
{"_user": "u4", "_time": "2024-03-04T09:00:00Z", "url": "/blog", "ms": 10}
{"_user": "u4", "_time": "2024-03-04T10:00:00Z"}
{"_user": "u6", "_time": "2024-03-05T00:00:00Z", "url": "/home", "ms": 1}
$$, 'pageview');
-- count: 03-01 4 (e1-e4), 03-02 0 (empty bucket), 03-03 3 (e5, e6, e13), 03-04 3 (e7-e9)
SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05');
-- unique_users: {u1,u2,u3} 3, 0, {u1,u2} 2 (e13 has no user), {u2,u4} 2; dau equals it for days
SELECT t.bucket, t.value AS unique_users, d.value AS dau
  FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'unique_users') t
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'dau') d USING (bucket);
-- wau: users of the 7 days ending with each day, looking back before date_from:
--   03-01 (02-24..03-01) u7 u5 u1 u2 u3 = 5; 03-02 (02-25..) 5; 03-03 (02-26..) u7 gone = 4;
--   03-04 (02-27..) u5 u1 u2 u3 u4 = 5
-- mau (30 days): 03-01 5, 03-02 5, 03-03 5 (u7 still in), 03-04 6 (+u4)
SELECT w.bucket, w.value AS wau, m.value AS mau
  FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'wau') w
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'mau') m USING (bucket);
-- property measures over ms (nulls ignored; empty buckets: sum 0, the others null):
--   sum 1000, 0, 270 (50+150+70), 1010;  avg 250, -, 90, 505;  min 100, -, 50, 10;  max 400, -, 150, 1000
--   p50 (interpolated): [100,200,300,400] 250; [50,70,150] 70; [10,1000] 505
--   p90: 300 + 0.7 * 100 = 370; 70 + 0.8 * 80 = 134; 10 + 0.9 * 990 = 901
--   p99: 300 + 0.97 * 100 = 397; 70 + 0.98 * 80 = 148.4; 10 + 0.99 * 990 = 990.1
SELECT s.bucket, s.value AS sum, a.value AS avg, mi.value AS min, ma.value AS max,
       p50.value AS p50, p90.value AS p90, round(p99.value::numeric, 6) AS p99
  FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'sum', property => 'ms') s
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'avg', property => 'ms') a USING (bucket)
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'min', property => 'ms') mi USING (bucket)
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'max', property => 'ms') ma USING (bucket)
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'p50', property => 'ms') p50 USING (bucket)
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'p90', property => 'ms') p90 USING (bucket)
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'p99', property => 'ms') p99 USING (bucket)
 ORDER BY s.bucket;
-- filter url = '/home': 3 (e1 e2 e4), 0, 2 (e6 e13), 1 (e7)
SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "url = ''/home''"}',
                           '2024-03-01', '2024-03-05');
-- a filter may end with a comment: 3 + 0 + 2 + 1 = 6
SELECT sum(value) FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "url = ''/home'' -- the home page"}',
                                    '2024-03-01', '2024-03-05');
-- breakdown by url, limit 2: /home has 6 events; /blog, /docs, /pricing and null have 1 each and
-- tie, broken by value (null last): /blog is second. /docs (03-03), /pricing (03-01) and null
-- (03-04) are 'other'. Order: rank, then 'other'.
SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05',
                           breakdown => 'url', breakdown_limit => 2);
-- unique users by url, no 'other' under the default limit; a null url is its own group
SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05',
                           measure => 'unique_users', breakdown => 'url');
-- wau by url, limit 1 (ranked over the events read, look-back included: /home 7 events):
--   /home: 03-01 u7 u5 u1 u3 = 4; 03-02 4; 03-03 u5 u1 u3 u2 = 4; 03-04 u5 u1 u3 u2 = 4
--   other: 03-01 u2 (/pricing) = 1; 03-02 1; 03-03 + u1 (/docs) = 2; 03-04 + u4 = 3
SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05',
                           measure => 'wau', breakdown => 'url', breakdown_limit => 1);
-- hours [03-01 08:00, 12:00): count 1, 1, 1, 0; dau = users of the 24 hours ending with each
-- hour: u1; u1; u1 u2; u1 u2
SELECT c.bucket, c.value AS count, d.value AS dau
  FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01 08:00', '2024-03-01 12:00', 'hour') c
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01 08:00', '2024-03-01 12:00', 'hour', 'dau') d USING (bucket);
-- time zone Asia/Tokyo (UTC+9), local days 03-01..03-04: e4 (03-01 23:30Z) is local 03-02
-- 08:30, so 3, 1, 3, 3 (UTC gave 4, 0, 3, 3); buckets start at local midnight = 15:00Z
SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01 00:00+09', '2024-03-05 00:00+09',
                           timezone => 'Asia/Tokyo');
-- daylight saving time (Europe/Paris) and a zone with a half-hour offset (Asia/Kolkata):
--   c1 03-31 00:30Z (local 01:30), c2 03-31 01:30Z (local 03:30, the clock skipped 02:00),
--   c3 10-26 22:30Z (local 10-27 00:30 +02), c4 10-27 00:30Z (local 02:30 +02),
--   c5 10-27 01:30Z (local 02:30 +01, the repeated hour), c7 10-27 05:10Z, c6 10-27 22:30Z (local 23:30 +01)
SELECT stored FROM pulse.collect_batch('regress_ins', $$
{"_user": "c1", "_time": "2024-03-31T00:30:00Z"}
{"_user": "c2", "_time": "2024-03-31T01:30:00Z"}
{"_user": "c3", "_time": "2024-10-26T22:30:00Z"}
{"_user": "c4", "_time": "2024-10-27T00:30:00Z"}
{"_user": "c5", "_time": "2024-10-27T01:30:00Z"}
{"_user": "c6", "_time": "2024-10-27T22:30:00Z"}
{"_user": "c7", "_time": "2024-10-27T05:10:00Z"}
$$, 'clock');
-- hours are real hours: spring forward [03-30 23:00Z, 03-31 02:00Z) has 3 buckets, local 00:00,
-- 01:00 and 03:00 (0, c1, c2); fall back [10-27 00:00Z, 02:00Z) has 2 buckets, both local 02:00 (c4, c5)
SELECT bucket, to_char(bucket AT TIME ZONE 'Europe/Paris', 'HH24:MI') AS local, value
  FROM pulse.trends('regress_ins', '{"collection": "clock"}', '2024-03-30 23:00Z', '2024-03-31 02:00Z', 'hour',
                    timezone => 'Europe/Paris');
SELECT bucket, to_char(bucket AT TIME ZONE 'Europe/Paris', 'HH24:MI') AS local, value
  FROM pulse.trends('regress_ins', '{"collection": "clock"}', '2024-10-27 00:00Z', '2024-10-27 02:00Z', 'hour',
                    timezone => 'Europe/Paris');
-- local days: 10-27 lasts 25 hours (22:00Z to 23:00Z next day) and holds c3 c4 c5 c7 c6 = 5
SELECT * FROM pulse.trends('regress_ins', '{"collection": "clock"}', '2024-10-27 00:00+02', '2024-10-29 00:00+01',
                           timezone => 'Europe/Paris');
-- Kolkata (UTC+05:30): hours start at :30 UTC; c7 (05:10Z) is in the 04:30Z hour
SELECT * FROM pulse.trends('regress_ins', '{"collection": "clock"}', '2024-10-27 04:00Z', '2024-10-27 06:00Z', 'hour',
                           timezone => 'Asia/Kolkata');
-- weeks [02-26, 03-11): week 02-26 = e10 e1-e6 e13 = 8 events, users u5 u1 u2 u3 = 4;
-- week 03-04 = e7 e8 e9 e12 = 4 events, users u2 u4 u6 = 3. wau at week interval = unique users.
SELECT c.bucket, c.value AS count, u.value AS unique_users, w.value AS wau
  FROM pulse.trends('regress_ins', '{"collection": "PageView"}', '2024-02-26', '2024-03-11', "interval" => 'week') c
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-02-26', '2024-03-11', 'week', 'unique_users') u USING (bucket)
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-02-26', '2024-03-11', 'week', 'wau') w USING (bucket);
-- months [02-01, 04-01): February 2 events (u7 u5), March 11. mau = the 30 days ending with the
-- month: 01-31..02-29 u7 u5 = 2; 03-02..03-31 u1 u2 u4 u6 = 4 (u3 only on 03-01)
SELECT c.bucket, c.value AS count, m.value AS mau
  FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-02-01', '2024-04-01', 'month') c
  JOIN pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-02-01', '2024-04-01', 'month', 'mau') m USING (bucket);
-- a range that is not aligned to buckets: the cut buckets count only events inside the range
-- ([03-01 09:30, 03-03 12:30): 03-01 e3 e4 = 2, 03-02 0, 03-03 e5 = 1)
SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01 09:30', '2024-03-03 12:30');

-- ============================================================================ paths

SELECT pulse.create_project('regress_paths');
-- 2024-04-01, times UTC:
--   u1: 10:00 page /home, 10:05 page /home, 10:10 page /pricing, 10:20 signup,
--       12:00 page /home, 12:05 purchase                 (12:00 is 100 minutes after 10:20)
--   u2: 10:00 page /pricing, 10:10 signup, 10:15 purchase
--   u3: 09:00 signup, 09:10 page /home, 09:20 page /pricing, 09:25 signup
--   u4: 10:00 page (no path), 10:01 page /home
--   no user: 10:00 page /home, 10:01 signup (ignored)
SELECT stored FROM pulse.collect_batch('regress_paths', $$
[{"collection": "page", "properties": {"_user": "u1", "_time": "2024-04-01T10:00:00Z", "path": "/home"}},
 {"collection": "page", "properties": {"_user": "u1", "_time": "2024-04-01T10:05:00Z", "path": "/home"}},
 {"collection": "page", "properties": {"_user": "u1", "_time": "2024-04-01T10:10:00Z", "path": "/pricing"}},
 {"collection": "signup", "properties": {"_user": "u1", "_time": "2024-04-01T10:20:00Z"}},
 {"collection": "page", "properties": {"_user": "u1", "_time": "2024-04-01T12:00:00Z", "path": "/home"}},
 {"collection": "purchase", "properties": {"_user": "u1", "_time": "2024-04-01T12:05:00Z"}},
 {"collection": "page", "properties": {"_user": "u2", "_time": "2024-04-01T10:00:00Z", "path": "/pricing"}},
 {"collection": "signup", "properties": {"_user": "u2", "_time": "2024-04-01T10:10:00Z"}},
 {"collection": "purchase", "properties": {"_user": "u2", "_time": "2024-04-01T10:15:00Z"}},
 {"collection": "signup", "properties": {"_user": "u3", "_time": "2024-04-01T09:00:00Z"}},
 {"collection": "page", "properties": {"_user": "u3", "_time": "2024-04-01T09:10:00Z", "path": "/home"}},
 {"collection": "page", "properties": {"_user": "u3", "_time": "2024-04-01T09:20:00Z", "path": "/pricing"}},
 {"collection": "signup", "properties": {"_user": "u3", "_time": "2024-04-01T09:25:00Z"}},
 {"collection": "page", "properties": {"_user": "u4", "_time": "2024-04-01T10:00:00Z"}},
 {"collection": "page", "properties": {"_user": "u4", "_time": "2024-04-01T10:01:00Z", "path": "/home"}},
 {"collection": "page", "properties": {"_time": "2024-04-01T10:00:00Z", "path": "/home"}},
 {"collection": "signup", "properties": {"_time": "2024-04-01T10:01:00Z"}}]
$$);
-- labels = collection names; a repeat of the previous label is dropped; 30-minute sessions:
--   u1: page signup | page purchase;  u2: page signup purchase;  u3: signup page signup;  u4: page
--   step 1: page>signup u1 u2 = 2, page>purchase u1, signup>page u3;  step 2: page>signup u3, signup>purchase u2
SELECT * FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02');
-- node => 'path': page events are labelled page:<path> (page when null)
--   u1: /home /pricing signup | /home purchase;  u2: /pricing signup purchase;
--   u3: signup /home /pricing signup;  u4: page /home
SELECT * FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02', node => 'path');
-- sessions start at their first signup (u1's second session and u4 have none; u1's first ends there):
--   u2: signup purchase;  u3: signup /home /pricing signup
SELECT * FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02', start_event => 'signup', node => 'path');
-- step_limit 2 keeps steps 1 and 2
SELECT * FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02', start_event => 'signup', step_limit => 2, node => 'path');
-- a 2-hour gap keeps u1 in one session: page signup page purchase
--   step 1: page>signup u1 u2 = 2, signup>page u3;  step 2: page>signup u3, signup>page u1,
--   signup>purchase u2;  step 3: page>purchase u1
SELECT * FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02', session_gap => '2 hours');
-- the date range cuts events: from 10:00 u3 has none, u1 and u2 keep theirs
SELECT * FROM pulse.paths('regress_paths', '2024-04-01 10:00', '2024-04-02');

-- ============================================================================ privileges

-- SECURITY INVOKER: a role without the project's reader role is refused, a reader is not
CREATE ROLE regress_ins_nobody;
CREATE ROLE regress_ins_member IN ROLE regress_ins_reader, regress_paths_reader;
SET ROLE regress_ins_nobody;
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}', '2024-01-01', '2024-01-04')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "ms > 1"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02')$$);
SET ROLE regress_ins_member;
SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}',
                              '2024-01-01', '2024-01-04', periods => 2);
SELECT count(*), sum(users) FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02');
RESET ROLE;

-- ============================================================================ errors

-- arguments shared by all three
SELECT pg_temp.err($$SELECT * FROM pulse.trends(NULL, '{"collection": "pageview"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('nope', '{"collection": "pageview"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', NULL, '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-05', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}', '2024-01-04', '2024-01-01')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.paths('regress_paths', '2024-04-02', '2024-04-01')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', 'infinity')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', timezone => 'Mars/Olympus')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}', '2024-01-01', '2024-01-04', timezone => NULL)$$);
-- event specs and collections
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '"pageview"', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview", "where": "true"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"filter": "true"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "Bad Name"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "nosuch"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.hint($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "nosuch"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "nosuch"}', '2024-01-01', '2024-01-04')$$);
-- filters
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "true; DROP TABLE regress_ins.pageview"}', '2024-03-01', '2024-03-05')$$);
SELECT (SELECT array_agg(value ORDER BY bucket) FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "''a;b'' LIKE ''%;%''"}', '2024-03-01', '2024-03-05'))
     = (SELECT array_agg(value ORDER BY bucket) FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05')) AS semicolon_in_a_literal;
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "nosuch = 1"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "url = "}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "ms"}', '2024-03-01', '2024-03-05')$$);
-- balanced parentheses stay one expression, as in pulse.funnel: accepted (and harmless, see
-- sql/analytics_validation.sql)
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "true) OR (true"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "count(*) > 0"}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": 1}', '2024-03-01', '2024-03-05')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login", "filter": "amount > 1"}', '{"collection": "purchase"}', '2024-01-01', '2024-01-04')$$);
-- retention arguments
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}', '2024-01-01', '2024-01-04', period => 'fortnight')$$);
SELECT pg_temp.hint($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}', '2024-01-01', '2024-01-04', period => 'fortnight')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}', '2024-01-01', '2024-01-04', periods => 0)$$);
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}', '2024-01-01', '2024-01-04', retention_type => 'unbounded')$$);
SELECT pg_temp.hint($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}', '2024-01-01', '2024-01-04', retention_type => 'unbounded')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "login"}', '{"collection": "purchase"}', '2024-01-01', '2024-01-04', breakdown => 'amount')$$);
-- trends arguments
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', 'minute')$$);
SELECT pg_temp.hint($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', 'minute')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'median')$$);
SELECT pg_temp.hint($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'median')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'sum')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'p90', property => 'nosuch')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', measure => 'avg', property => 'url')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', property => 'ms')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', breakdown => 'nosuch')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2024-03-01', '2024-03-05', breakdown => 'url', breakdown_limit => 0)$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "pageview"}', '2010-01-01', '2024-01-01', 'hour')$$);
-- an error while the generated query runs is bounded: no generated SQL (megabytes for an hourly
-- insight over years) in its context or query
CREATE FUNCTION pg_temp.error_size(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m text; c text; d text; h text;
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, c = PG_EXCEPTION_CONTEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || ': ' || m || ', ' || CASE WHEN length(m) + length(c) + length(d) + length(h) < 4000 THEN 'bounded' ELSE 'unbounded: ' || (length(m) + length(c) + length(d) + length(h)) END;
END $$;
SELECT pg_temp.error_size($$SELECT count(*) FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "ms / (ms - ms) > 0"}', '2016-01-01', '2025-01-01', 'hour', 'unique_users')$$);
SELECT pg_temp.error_size($$SELECT count(*) FROM pulse.trends('regress_ins', '{"collection": "pageview", "filter": "ms / (ms - ms) > 0"}', '2016-01-01', '2025-01-01', 'hour', 'count')$$);
SELECT pg_temp.error_size($$SELECT count(*) FROM pulse.retention('regress_ins', '{"collection": "pageview", "filter": "ms / (ms - ms) > 0"}', '{"collection": "pageview"}', '2016-01-01', '2025-01-01', 'hour', 100)$$);
SELECT pg_temp.error_size($$SELECT count(*) FROM pulse.funnel('regress_ins', '[{"collection": "pageview", "filter": "ms / (ms - ms) > 0"}, {"collection": "pageview"}]', '2016-01-01', '2025-01-01')$$);

-- Property expressions: property and breakdown may be a JSON path over a jsonb column (the
-- same in trends, retention and funnel). Orders: ann (pro, 10 on 06-01 and 30 on 06-02, page
-- /a), bob (free, 5 on 06-01, page /b), cy (no plan, a null revenue, no context, on 06-01).
SELECT stored FROM pulse.collect_batch('regress_ins', $$
{"_user": "ann", "_time": "2024-06-01T10:00:00Z", "properties": {"plan": "pro", "revenue": 10}, "context": {"page": {"url": "/a"}}}
{"_user": "ann", "_time": "2024-06-02T10:00:00Z", "properties": {"plan": "pro", "revenue": 30}, "context": {"page": {"url": "/a"}}}
{"_user": "bob", "_time": "2024-06-01T11:00:00Z", "properties": {"plan": "free", "revenue": 5}, "context": {"page": {"url": "/b"}}}
{"_user": "cy", "_time": "2024-06-01T12:00:00Z", "properties": {"revenue": null}}
$$, 'orders');
-- revenue per plan and day: pro 10 / 30, free 5 / 0, no plan (NULL) 0 / 0 (a sum of nothing is 0)
SELECT breakdown, bucket::date, value FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03',
       measure => 'sum', property => '(properties->>''revenue'')::numeric', breakdown => 'properties->>''plan''')
 ORDER BY 1 NULLS LAST, 2;
-- a nested path, and #>> with a text[] path: /a 2 events, /b 1, none 1
SELECT breakdown, value FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03', 'week',
       breakdown => 'context->''page''->>''url''') ORDER BY 1 NULLS LAST;
SELECT breakdown, value FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03', 'week',
       breakdown => 'context #>> ''{page,url}''') ORDER BY 1 NULLS LAST;
-- retention and funnel take the same breakdowns: ann (pro) comes back on day 1
SELECT breakdown, period, users FROM pulse.retention('regress_ins', '{"collection": "orders"}', '{"collection": "orders"}',
       '2024-06-01', '2024-06-02', periods => 2, breakdown => 'properties->>''plan''') ORDER BY 1 NULLS LAST, 2;
SELECT breakdown, step, users FROM pulse.funnel('regress_ins', '[{"collection": "orders"}, {"collection": "orders"}]',
       '2024-06-01', '2024-06-03', breakdown => '(properties->>''plan'')') ORDER BY 1 NULLS LAST, 2;
-- errors: a text property needs a cast (42804); an unknown column inside a path is Postgres'
-- 42703, a bare unknown name too; anything but a column or a JSON path is 22023 with the reason
SELECT pg_temp.hint($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03', measure => 'sum', property => 'properties->>''revenue''')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03', breakdown => 'props->>''plan''')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03', breakdown => 'props')$$);
SELECT pg_temp.hint($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03', breakdown => 'upper(properties->>''plan'')')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03', breakdown => 'properties->>''plan'' || ''x''')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03', breakdown => 'properties->>(''pl'' || ''an'')')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03', breakdown => 'orders.properties->>''plan''')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.retention('regress_ins', '{"collection": "orders"}', '{"collection": "orders"}', '2024-06-01', '2024-06-02', breakdown => '((properties->>''plan'')::text)::text')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_ins', '[{"collection": "orders"}]', '2024-06-01', '2024-06-03', breakdown => 'properties->>''plan''); SELECT (1')$$);
-- a path over a column that is not json: no such operator (42883)
SELECT pg_temp.err($$SELECT * FROM pulse.trends('regress_ins', '{"collection": "orders"}', '2024-06-01', '2024-06-03', breakdown => '_user->>''x''')$$);

-- paths arguments
SELECT pg_temp.err($$SELECT * FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02', step_limit => 0)$$);
SELECT pg_temp.err($$SELECT * FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02', session_gap => '0 seconds')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02', start_event => 'nosuch')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.paths('regress_paths', '2024-04-01', '2024-04-02', node => 'nosuch')$$);

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_ins', force => true);
SELECT pulse.drop_project('regress_paths', force => true);
RESET client_min_messages;
DROP ROLE regress_ins_nobody, regress_ins_member;
DROP EXTENSION pg_pulse;
