-- The single-pass report aggregates behind pulse.funnel, pulse.retention and pulse.trends
-- (src/analytics/reports.cc) against the general SQL plans of the same functions
-- (pulse.analytics_single_pass = off), on seeded random events: every comparison must show
-- 0 rows on either side. Then the aggregates' own guards.
CREATE EXTENSION pg_pulse;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SELECT pulse.create_project('regress_rep');
SELECT pulse.create_collection('regress_rep', 'view', '{"page": "text"}');
SELECT pulse.create_collection('regress_rep', 'cart', '{"sku": "text"}');
SELECT pulse.create_collection('regress_rep', 'buy', '{"amount": "integer"}');
-- 360 actors over 40 days, in no time order; some actor names longer than 16 bytes (kept out
-- of line), some of exactly 8 and 9 bytes (the longest and shortest of unique users' inline
-- and out-of-line ones), some events at equal timestamps, a few NULL actors.
SELECT setseed(0.17);
INSERT INTO regress_rep.view (_time, _user, page)
  SELECT timestamptz '2024-01-01' + floor(random() * 40 * 24 * 4) * interval '15 minutes',
         CASE WHEN random() < 0.01 THEN NULL WHEN random() < 0.3 THEN 'a-rather-long-actor-name-' || floor(random() * 100)
              WHEN random() < 0.1 THEN lpad(floor(random() * 30)::text, 8 + floor(random() * 2)::int, 'x')
              ELSE 'u' || floor(random() * 200) END,
         '/p' || floor(random() * 5)
    FROM generate_series(1, 4000);
INSERT INTO regress_rep.cart (_time, _user, sku)
  SELECT _time + floor(random() * 48) * interval '30 minutes', _user, 'sku' || floor(random() * 3)
    FROM regress_rep.view WHERE random() < 0.3;
INSERT INTO regress_rep.buy (_time, _user, amount)
  SELECT _time + floor(random() * 48) * interval '1 hour', _user, floor(random() * 100)::int
    FROM regress_rep.cart WHERE random() < 0.4;

-- pg_temp.same(q): rows only in the single-pass answer, rows only in the general answer.
CREATE FUNCTION pg_temp.same(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  fast_only bigint;
  slow_only bigint;
  n bigint;
BEGIN
  CREATE TEMP TABLE fast_ans AS SELECT 1 AS x LIMIT 0;
  DROP TABLE fast_ans;
  SET LOCAL pulse.analytics_single_pass = on;
  EXECUTE 'CREATE TEMP TABLE fast_ans AS ' || q;
  SET LOCAL pulse.analytics_single_pass = off;
  EXECUTE 'CREATE TEMP TABLE slow_ans AS ' || q;
  SELECT count(*) INTO fast_only FROM (SELECT * FROM fast_ans EXCEPT ALL SELECT * FROM slow_ans) d;
  SELECT count(*) INTO slow_only FROM (SELECT * FROM slow_ans EXCEPT ALL SELECT * FROM fast_ans) d;
  SELECT count(*) INTO n FROM fast_ans;
  DROP TABLE fast_ans, slow_ans;
  RETURN format('%s rows, differences %s %s', n, fast_only, slow_only);
END $$;

-- funnels: orders, windows, filters, steps from one collection twice, exclusions
SELECT o, w, pg_temp.same(format($q$SELECT * FROM pulse.funnel('regress_rep',
  '[{"collection": "view"}, {"collection": "cart"}, {"collection": "buy", "filter": "amount > 20"}]',
  '2024-01-01', '2024-02-15', conversion_window => %L, step_order => %L)$q$, w, o))
  FROM unnest(ARRAY['ordered', 'strict', 'unordered']) o, unnest(ARRAY['0', '2 hours', '1 day', '14 days']) w
 ORDER BY o, w;
SELECT pg_temp.same($q$SELECT * FROM pulse.funnel('regress_rep',
  '[{"collection": "view", "filter": "page = ''/p1''"}, {"collection": "view", "filter": "page = ''/p2''"},
    {"collection": "cart"}, {"collection": "view"}]',
  '2024-01-05', '2024-02-01', conversion_window => '3 days')$q$) AS two_steps_one_collection;
SELECT pg_temp.same($q$SELECT * FROM pulse.funnel('regress_rep',
  '[{"collection": "view"}, {"collection": "cart"}, {"collection": "buy"}]',
  '2024-01-01', '2024-02-15', conversion_window => '2 days',
  exclusions => '[{"collection": "view", "filter": "page = ''/p4''", "from_step": 1, "to_step": 2},
                  {"collection": "buy", "filter": "amount < 10", "from_step": 2, "to_step": 3}]')$q$) AS exclusions;
SELECT pg_temp.same($q$SELECT * FROM pulse.funnel('regress_rep',
  '[{"collection": "view"}, {"collection": "buy"}]', '2030-01-01', '2030-02-01')$q$) AS no_events;
-- with a breakdown (ordered and strict): the step-1 events carry their value into the single
-- pass, and an actor counts under the smallest value at its chain's start (events at equal
-- times with different pages); exclusions; no events
SELECT o, pg_temp.same(format($q$SELECT * FROM pulse.funnel('regress_rep',
  '[{"collection": "view"}, {"collection": "cart"}, {"collection": "buy"}]', '2024-01-01', '2024-02-15',
  conversion_window => '2 days', step_order => %L, breakdown => 'page')$q$, o))
  FROM unnest(ARRAY['ordered', 'strict', 'unordered']) o ORDER BY o;
SELECT pg_temp.same($q$SELECT * FROM pulse.funnel('regress_rep',
  '[{"collection": "cart"}, {"collection": "view", "filter": "page > ''/p1''"}, {"collection": "buy"}]', '2024-01-01', '2024-02-15',
  conversion_window => '3 days', breakdown => 'sku',
  exclusions => '[{"collection": "view", "filter": "page = ''/p4''", "from_step": 1, "to_step": 2}]')$q$) AS breakdown_exclusions;
SELECT pg_temp.same($q$SELECT * FROM pulse.funnel('regress_rep',
  '[{"collection": "view"}, {"collection": "buy"}]', '2030-01-01', '2030-02-01', breakdown => 'page')$q$) AS breakdown_no_events;
-- (the single pass runs: with exclusions it builds one events query where the general plan
-- builds two, one for the steps and one for the exclusions; unordered funnels take the latter)
SET track_functions = 'pl';
BEGIN;
SELECT o, count(*) FROM unnest(ARRAY['ordered', 'unordered']) o,
       pulse.funnel('regress_rep', '[{"collection": "view"}, {"collection": "buy"}]', '2024-01-01', '2024-02-15', breakdown => 'page',
                    step_order => o, exclusions => '[{"collection": "cart", "from_step": 1, "to_step": 2}]')
 GROUP BY o ORDER BY o;
SELECT coalesce(sum(calls), 0) AS events_queries_built FROM pg_stat_xact_user_functions WHERE funcname = '_funnel_events_sql';
COMMIT;
RESET track_functions;

-- retention: periods, types, same and different events, a time zone with DST (hourly over
-- one week: at most 512 buckets go through the single pass)
SELECT p, t, tz, pg_temp.same(format($q$SELECT * FROM pulse.retention('regress_rep',
  '{"collection": "view"}', %L, '2024-01-03', %L,
  period => %L, periods => 6, retention_type => %L, timezone => %L)$q$,
  json_build_object('collection', CASE WHEN p = 'hour' THEN 'view' ELSE 'cart' END),
  CASE WHEN p = 'hour' THEN '2024-01-10' ELSE '2024-02-01' END, p, t, tz))
  FROM unnest(ARRAY['hour', 'day', 'week', 'month']) p, unnest(ARRAY['recurring', 'first_time']) t,
       unnest(ARRAY['UTC', 'America/New_York']) tz
 WHERE p <> 'hour' OR tz = 'UTC'
 ORDER BY p, t, tz;
SELECT t, pg_temp.same(format($q$SELECT * FROM pulse.retention('regress_rep',
  '{"collection": "view", "filter": "page IN (''/p0'', ''/p1'')"}', '{"collection": "view"}', '2024-01-02 12:00', '2024-01-20',
  periods => 10, retention_type => %L)$q$, t))
  FROM unnest(ARRAY['recurring', 'first_time']) t ORDER BY t;
-- retention with a breakdown (returns of any value): the start events carry their value into
-- the single pass. By page (five values, events at equal timestamps with different pages: ties
-- go to the smallest value) and by cart sku, both types, same and different events; 'same'
-- returns keep the general plan (compared all the same)
SELECT p, t, s, pg_temp.same(format($q$SELECT * FROM pulse.retention('regress_rep',
  %L, %L, '2024-01-03', '2024-02-01',
  period => %L, periods => 5, retention_type => %L, breakdown => %L, timezone => 'America/New_York')$q$,
  json_build_object('collection', s), json_build_object('collection', CASE WHEN p = 'day' THEN 'view' ELSE 'cart' END),
  p, t, CASE s WHEN 'view' THEN 'page' ELSE 'sku' END))
  FROM unnest(ARRAY['day', 'week']) p, unnest(ARRAY['recurring', 'first_time']) t, unnest(ARRAY['view', 'cart']) s
 ORDER BY p, t, s;
SELECT r, pg_temp.same(format($q$SELECT * FROM pulse.retention('regress_rep', '{"collection": "view"}', '{"collection": "view"}',
  '2024-01-03', '2024-01-20', periods => 4, breakdown => 'page', breakdown_returns => %L)$q$, r))
  FROM unnest(ARRAY['any', 'same']) r ORDER BY r;
-- the single pass is used (the values come out of the aggregate), and ties at one instant go to
-- the smallest value: x starts with /b and /a at the same time, y with /b first
SELECT q ~ 'pulse._retention_report\(_user::text, _time, st, rt, bv' AS single_pass
  FROM pulse._retention_sql('regress_rep', '{"collection": "view"}', '{"collection": "view"}', '2024-01-03', '2024-02-01',
                            breakdown => 'page') q;
SELECT (r).breakdowns, (r).counts
  FROM (SELECT pulse._retention_report(u, t, true, true, v, ARRAY[timestamptz '2024-01-01', '2024-01-02', '2024-01-03'], 2, 1,
                                       false, '2024-01-01') AS r
          FROM (VALUES ('x', timestamptz '2024-01-01 10:00', '/b'), ('x', '2024-01-01 10:00', '/a'),
                       ('y', '2024-01-01 09:00', '/b'), ('y', '2024-01-01 11:00', '/a'),
                       ('z', '2024-01-02 09:00', NULL), ('x', '2024-01-02 10:00', '/c')) v(u, t, v)) a;

-- trends: unique users by hour, day, week and month, with and without breakdown
SELECT i, b, pg_temp.same(format($q$SELECT * FROM pulse.trends('regress_rep', '{"collection": "view"}',
  '2024-01-03 05:00', '2024-01-09', %L, 'unique_users', breakdown => %L, breakdown_limit => 3,
  timezone => 'Europe/Berlin')$q$, i, b))
  FROM unnest(ARRAY['hour', 'day', 'week', 'month']) i, unnest(ARRAY[NULL, 'page']) b
 ORDER BY i, b;
SELECT pg_temp.same($q$SELECT * FROM pulse.trends('regress_rep', '{"collection": "cart", "filter": "sku <> ''sku0''"}',
  '2024-01-01', '2024-02-15', 'day', 'unique_users')$q$) AS filtered_trend;
-- hourly over the whole range (1080 buckets), in a time zone with a half-hour offset
SELECT b, pg_temp.same(format($q$SELECT * FROM pulse.trends('regress_rep', '{"collection": "view"}',
  '2024-01-01', '2024-02-15', 'hour', 'unique_users', breakdown => %L, timezone => 'Asia/Kolkata')$q$, b))
  FROM unnest(ARRAY[NULL, 'page']) b ORDER BY b;
-- ... and with a breakdown limit that makes (limit + 1) x buckets exceed the 100,000 sets of one
-- state: one state per group, each reading the ranked events
SELECT pg_temp.same($q$SELECT * FROM pulse.trends('regress_rep', '{"collection": "view"}',
  '2024-01-01', '2024-02-15', 'hour', 'unique_users', breakdown => 'page', breakdown_limit => 100)$q$) AS limit_100;
SELECT q ~ 'JOIN g ON' AS per_group_states
  FROM pulse._trends_sql('regress_rep', '{"collection": "view"}', '2024-01-01', '2024-02-15', 'hour', 'unique_users',
                         breakdown => 'page', breakdown_limit => 100) q;

-- paths: session gaps, counted by user and by session, a start collection, labels by a column
-- (NULL pages included: some views have none), one step and many
UPDATE regress_rep.view SET page = NULL WHERE _user LIKE 'u1%' AND page = '/p4';
-- (trends by page again, NULL pages included, in the one pass that ranks and counts)
SELECT l, pg_temp.same(format($q$SELECT * FROM pulse.trends('regress_rep', '{"collection": "view"}',
  '2024-01-01', '2024-02-15', 'day', 'unique_users', breakdown => 'page', breakdown_limit => %s)$q$, l))
  FROM unnest(ARRAY[1, 3, 5, 6]) l ORDER BY l;
SELECT q ~ '_uniques_report\(_user::text, b, bv, 3,' AS one_pass
  FROM pulse._trends_sql('regress_rep', '{"collection": "view"}', '2024-01-01', '2024-02-15', 'day', 'unique_users',
                         breakdown => 'page', breakdown_limit => 3) q;
SELECT g, c, pg_temp.same(format($q$SELECT * FROM pulse.paths('regress_rep', '2024-01-01', '2024-02-15',
  session_gap => %L, count_by => %L)$q$, g, c))
  FROM unnest(ARRAY['1 minute', '30 minutes', '6 hours', '3 days', '40 days']) g, unnest(ARRAY['users', 'sessions']) c
 ORDER BY g, c;
SELECT s, n, pg_temp.same(format($q$SELECT * FROM pulse.paths('regress_rep', '2024-01-03', '2024-02-10',
  start_event => %L, node => %L, session_gap => '1 day', step_limit => 8)$q$, s, n))
  FROM unnest(ARRAY[NULL, 'cart', 'buy']) s, unnest(ARRAY[NULL, 'page']) n
 ORDER BY s, n;
SELECT l, pg_temp.same(format($q$SELECT * FROM pulse.paths('regress_rep', '2024-01-01', '2024-02-15', node => 'page',
  session_gap => '2 days', step_limit => %s, count_by => 'sessions')$q$, l))
  FROM unnest(ARRAY[1, 100]) l ORDER BY l;
-- counted by person: linked ids merge timelines (the single pass resolves them by the mapping)
SELECT count(pulse.identify('regress_rep', 'u' || k, 'a-rather-long-actor-name-' || k)) AS linked
  FROM generate_series(1, 60) k;
SELECT a, pg_temp.same(format($q$SELECT * FROM pulse.paths('regress_rep', '2024-01-01', '2024-02-15',
  session_gap => '12 hours', actor => %L)$q$, a))
  FROM unnest(ARRAY['person', 'id']) a ORDER BY a;
SELECT q ~ '_paths_report\(u, t, c, l, st, .*::regclass' AS resolved_by_the_aggregate
  FROM pulse._paths_sql('regress_rep', '2024-01-01', '2024-02-15') q;

-- the aggregates are internal, but guard themselves
SELECT pulse._uniques_report(_user, _time, ARRAY[timestamptz '2024-01-02']) FROM regress_rep.view;
SELECT pulse._uniques_report(_user, _time, ARRAY[timestamptz '2024-01-02', '2024-01-01']) FROM regress_rep.view;
SELECT pulse._uniques_report(_user, _time, NULL) FROM regress_rep.view;
SELECT pulse._uniques_report(_user, _time, ARRAY[timestamptz '2024-01-01', '2024-01-02']) OVER () FROM regress_rep.view LIMIT 1;
SELECT pulse._uniques_report(_user, _time, (SELECT array_agg(timestamptz '2024-01-01' + g * interval '1 hour') FROM generate_series(0, 100001) g))
  FROM regress_rep.view;
SELECT pulse._funnel_report(_user, _time, 1, 0, '1 month', 0, 2, '{}', '{}') FROM regress_rep.view;
SELECT pulse._funnel_report(_user, _time, 1, 0, '1 day', 0, 2, '{1}', '{3}') FROM regress_rep.view;
SELECT pulse._retention_report(_user, _time, true, true, ARRAY[timestamptz '2024-01-01', '2024-01-02'], 2, 2, false, '2024-01-01')
  FROM regress_rep.view;
SELECT pulse._uniques_report(_user, _time, page, NULL, ARRAY[timestamptz '2024-01-01', '2024-01-02']) FROM regress_rep.view;
SELECT pulse._uniques_report(_user, _time, page, 0, ARRAY[timestamptz '2024-01-01', '2024-01-02']) FROM regress_rep.view;
SELECT pulse._uniques_report(_user, _time, page, 1, (SELECT array_agg(timestamptz '2024-01-01' + g * interval '1 hour') FROM generate_series(0, 50001) g))
  FROM regress_rep.view;
SELECT pulse._paths_report(_user, _time, 'view', 'view', true, '0', 5, false) FROM regress_rep.view;
SELECT pulse._paths_report(_user, _time, 'view', 'view', true, '1 hour', 0, false) FROM regress_rep.view;
SELECT pulse._paths_report(_user, _time, 'view', 'view', true, NULL, 5, false) FROM regress_rep.view;
-- paths directly. x: a, a (a repeat, dropped), b; after a gap b and c at one instant (ordered by
-- collection, then label: b first); after a gap a, b again. y: a, b, c. z: one event. Counted by
-- user, by session, and with b as the start collection (sessions start at their first b).
CREATE TEMP TABLE path_ev(u, t, c) AS
  VALUES ('x', timestamptz '2024-01-01 10:00', 'a'), ('x', '2024-01-01 10:10', 'a'), ('x', '2024-01-01 10:20', 'b'),
         ('x', '2024-01-01 13:00', 'c'), ('x', '2024-01-01 13:00', 'b'), ('x', '2024-01-01 16:00', 'a'),
         ('x', '2024-01-01 16:05', 'b'), ('y', '2024-01-01 09:00', 'a'), ('y', '2024-01-01 09:05', 'b'),
         ('y', '2024-01-01 09:06', 'c'), ('z', '2024-01-01 09:00', 'a');
SELECT k, m.* FROM (
  SELECT 'users' AS k, pulse._paths_report(u, t, c, c, true, '1 hour', 5, false) AS r FROM path_ev
  UNION ALL SELECT 'sessions', pulse._paths_report(u, t, c, c, true, '1 hour', 5, true) FROM path_ev
  UNION ALL SELECT 'from b', pulse._paths_report(u, t, c, c, c = 'b', '1 hour', 5, false) FROM path_ev) p,
  unnest((r).steps, (r).sources, (r).targets, (r).users) AS m(step, source, target, users)
 ORDER BY k, step, source, target;
-- grouped by breakdown value, two days: /b and NULL have 3 rows each (/b first: NULL ranks
-- last among ties; z's /b on day 3, outside the buckets, and the row without an actor count
-- for the rank), /a 2, /c 1. With limit 2 the groups are /b, NULL and 'other' (/a, /c); with
-- limit 9 each value is a group and there is no 'other'.
CREATE TEMP TABLE uniq_ev(u, t, v) AS
  VALUES ('x', timestamptz '2024-01-01 10:00', '/b'), ('y', '2024-01-01 11:00', '/b'), ('x', '2024-01-01 12:00', NULL),
         ('x', '2024-01-02 10:00', '/a'), ('y', '2024-01-02 10:00', '/c'), ('y', '2024-01-02 11:00', '/a'),
         ('z', '2024-01-02 12:00', NULL), ('z', '2024-01-03 00:00', '/b'), (NULL, '2024-01-01 13:00', NULL);
SELECT l, (r).breakdowns, (r).counts
  FROM (SELECT l, pulse._uniques_report(u, t, v, l, ARRAY[timestamptz '2024-01-01', '2024-01-02', '2024-01-03']) AS r
          FROM uniq_ev, (VALUES (2), (9)) AS k(l) GROUP BY l) q ORDER BY l;
SELECT pulse._uniques_report(u, t, v, 2, ARRAY[timestamptz '2024-01-01', '2024-01-02']) FROM uniq_ev WHERE false;
-- ties broken by value, not by first sight: NULL, /c, /a arrive in that order with one row each
-- and rank /a, /c, NULL; limit 2 leaves NULL as 'other', limit 3 (every value) has no 'other'
SELECT l, (r).breakdowns, (r).counts
  FROM (SELECT l, pulse._uniques_report(u, t, v, l, ARRAY[timestamptz '2024-01-01', '2024-01-02']) AS r
          FROM (VALUES (1, 'x', timestamptz '2024-01-01 10:00', NULL), (2, 'y', '2024-01-01 11:00', '/c'),
                       (3, 'z', '2024-01-01 12:00', '/a')) v(k, u, t, v), (VALUES (2), (3)) AS n(l)
         GROUP BY l) q ORDER BY l;
-- a funnel by breakdown value: x's chain starts with /b and /a at one instant (/a), y's step-1
-- event has no value (NULL), z stops at step 1, /b has no actor
SELECT (r).breakdowns, (r).steps
  FROM (SELECT pulse._funnel_report(u, t, s, 0, b, '1 day', 0, 2, '{}', '{}') AS r
          FROM (VALUES ('x', timestamptz '2024-01-01 10:00', 1, '/b'), ('x', '2024-01-01 10:00', 1, '/a'),
                       ('x', '2024-01-01 11:00', 2, NULL), ('y', '2024-01-01 09:00', 1, NULL), ('y', '2024-01-01 09:30', 2, NULL),
                       ('z', '2024-01-01 08:00', 1, '/c')) v(u, t, s, b)) a;
-- direct answers on a tiny input: two actors on day 1, one of them on day 2
SELECT pulse._uniques_report(u, t, ARRAY[timestamptz '2024-01-01', '2024-01-02', '2024-01-03'])
  FROM (VALUES ('x', timestamptz '2024-01-01 10:00'), ('y', '2024-01-01 11:00'), ('x', '2024-01-02 00:00'),
               ('x', '2024-01-02 23:00'), (NULL, '2024-01-02 01:00'), ('z', '2024-01-03 00:00')) v(u, t);
SELECT pulse._retention_report(u, t, true, true, ARRAY[timestamptz '2024-01-01', '2024-01-02', '2024-01-03'], 2, 1, false, '2024-01-01')
  FROM (VALUES ('x', timestamptz '2024-01-01 10:00'), ('y', '2024-01-01 11:00'), ('x', '2024-01-02 00:00')) v(u, t);
SELECT pulse._funnel_report(u, t, s, 0, '1 hour', 0, 2, '{}', '{}')
  FROM (VALUES ('x', timestamptz '2024-01-01 10:00', 1), ('x', '2024-01-01 10:30', 2),
               ('y', '2024-01-01 10:00', 1), ('y', '2024-01-01 12:00', 2)) v(u, t, s);

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_rep', force => true);
RESET client_min_messages;
DROP EXTENSION pg_pulse;
