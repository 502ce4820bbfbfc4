-- Funnels: the window_funnel / window_funnel_steps / retention_flags aggregates and
-- pulse.funnel. Every expected number is worked out by hand in the comment next to the query.
CREATE EXTENSION pg_pulse;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.hint(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT; RETURN SQLSTATE || ': ' || SQLERRM || ' / ' || h;
END $$;

-------------------------------------------------------------------- layer 1: aggregates
-- Issue 5: one user's events at t = 3..7 s match steps 1..5.
-- window 2 s: 3 -> 4 -> 5 (5 - 3 = 2 <= 2) = 3 steps; window 3 s: 4 steps; window 4 s: 5 steps.
CREATE TEMP TABLE ev5 AS
  SELECT 'u1'::text AS u, timestamptz '2024-01-01 00:00:00+00' + s * interval '1 second' AS t, s
    FROM generate_series(3, 7) s;
SELECT w, pulse.window_funnel(w, t, s = 3, s = 4, s = 5, s = 6, s = 7) AS level,
       pulse.window_funnel_steps(w, t, s = 3, s = 4, s = 5, s = 6, s = 7) AS steps
  FROM ev5, (VALUES (interval '2 seconds'), (interval '3 seconds'), (interval '4 seconds')) AS w(w)
 GROUP BY w ORDER BY w;
-- the same rows in reverse order: the result does not depend on input order
SELECT pulse.window_funnel(interval '2 seconds', t, s = 3, s = 4, s = 5, s = 6, s = 7 ORDER BY t DESC) FROM ev5;
-- a window of one day counts as 24 hours: 4 s fit in '1 day'
SELECT pulse.window_funnel(interval '1 day', t, s = 3, s = 4, s = 5, s = 6, s = 7) FROM ev5;
-- NULL conditions are false, NULL timestamps are skipped: s = 5 missing -> 2 steps
SELECT pulse.window_funnel(interval '1 hour', CASE WHEN s = 5 THEN NULL ELSE t END,
                           s = 3, s = 4, s = 5, CASE WHEN s = 6 THEN NULL ELSE false END) FROM ev5;
-- no step-1 event: 0 and an empty chain; no rows at all: the same
SELECT pulse.window_funnel(interval '1 hour', t, s = 99, s = 4), pulse.window_funnel_steps(interval '1 hour', t, s = 99) FROM ev5;
SELECT pulse.window_funnel(interval '1 hour', t, true), pulse.window_funnel_steps(interval '1 hour', t, true) FROM ev5 WHERE false;

-- Modes. Events of user 2 in the issue: a, d, b, c (d matches no step).
CREATE TEMP TABLE abcd (u int, t timestamptz, e text);
INSERT INTO abcd VALUES
  (1, '2024-01-01 00:00:01+00', 'a'), (1, '2024-01-01 00:00:02+00', 'b'), (1, '2024-01-01 00:00:03+00', 'c'),
  (2, '2024-01-01 00:00:01+00', 'a'), (2, '2024-01-01 00:00:02+00', 'd'), (2, '2024-01-01 00:00:03+00', 'b'),
  (2, '2024-01-01 00:00:04+00', 'c'),
  -- 3: a, c, b: ordered 2 (a, b); strict_order stops at c (out of order) -> 1
  (3, '2024-01-01 00:00:01+00', 'a'), (3, '2024-01-01 00:00:02+00', 'c'), (3, '2024-01-01 00:00:03+00', 'b'),
  -- 4: a, b, b, c: ordered 3; strict_deduplication stops at the second b -> 2
  (4, '2024-01-01 00:00:01+00', 'a'), (4, '2024-01-01 00:00:02+00', 'b'), (4, '2024-01-01 00:00:03+00', 'b'),
  (4, '2024-01-01 00:00:04+00', 'c'),
  -- 5: a and b at the same instant, then c: ties keep step order -> 3; strict_increase: b may
  --    not follow a at the same instant, and c needs b -> 1
  (5, '2024-01-01 00:00:01+00', 'a'), (5, '2024-01-01 00:00:01+00', 'b'), (5, '2024-01-01 00:00:02+00', 'c'),
  -- 6: c, b, a: ordered 1; unordered 3
  (6, '2024-01-01 00:00:01+00', 'c'), (6, '2024-01-01 00:00:02+00', 'b'), (6, '2024-01-01 00:00:03+00', 'a');
SELECT u,
       pulse.window_funnel('1 hour', t, e = 'a', e = 'b', e = 'c') AS ordered,
       pulse.window_funnel('1 hour', ARRAY['strict_order'], t, e = 'a', e = 'b', e = 'c') AS strict_order,
       pulse.window_funnel('1 hour', ARRAY['strict_deduplication'], t, e = 'a', e = 'b', e = 'c') AS strict_dedup,
       pulse.window_funnel('1 hour', ARRAY['strict_increase'], t, e = 'a', e = 'b', e = 'c') AS strict_increase,
       pulse.window_funnel('1 hour', ARRAY['unordered'], t, e = 'a', e = 'b', e = 'c') AS unordered,
       pulse.window_funnel('1 hour', ARRAY[]::text[], t, e = 'a', e = 'b', e = 'c') AS no_modes
  FROM abcd GROUP BY u ORDER BY u;
-- the chains (user 5 under strict_increase: a at :01 only)
SELECT u, pulse.window_funnel_steps('1 hour', t, e = 'a', e = 'b', e = 'c') AS ordered,
       pulse.window_funnel_steps('1 hour', ARRAY['strict_increase'], t, e = 'a', e = 'b', e = 'c') AS strict_increase,
       pulse.window_funnel_steps('1 hour', ARRAY['unordered'], t, e = 'a', e = 'b', e = 'c') AS unordered
  FROM abcd GROUP BY u ORDER BY u;
-- strict_once, allow_reentry (ClickHouse) and strict_sequence (PostHog's strict funnel), each
-- on spelled-out sequences (one second apart unless said; d matches no step):
CREATE TEMP TABLE modes_ev (u int, t timestamptz, e text);
INSERT INTO modes_ev SELECT u, timestamptz '2024-01-01 00:00:00+00' + k * interval '1 second', e
  FROM (VALUES
  -- 1: a, c, b, c. strict_order: c out of order stops -> 1; + allow_reentry skips it -> 3;
  --    strict_sequence: a -> c breaks, b -> c is not a chain from a -> 1
  (1, ARRAY['a', 'c', 'b', 'c']),
  -- 2: a, a, b, c (ClickHouse's allow_reentry example) -> 3 in every mode
  (2, ARRAY['a', 'a', 'b', 'c']),
  -- 3: a, b, a, c: a repeated step 1 between steps 2 and 3. ordered, strict_order 3 (the
  --    second a restarts step 1, c extends the older a -> b); strict_sequence 2
  (3, ARRAY['a', 'b', 'a', 'c']),
  -- 4: a, d, a, b, c: strict_order stops at d -> 1; strict_sequence starts over at the second a -> 3
  (4, ARRAY['a', 'd', 'a', 'b', 'c']),
  -- 5: a, b, b, c: strict_sequence: the repeated b breaks -> 2
  (5, ARRAY['a', 'b', 'b', 'c']),
  -- 6: a, d, b, c (the issue's case) -> strict_order 1, allow_reentry 1 (d still stops), strict_sequence 1
  (6, ARRAY['a', 'd', 'b', 'c'])) AS v(u, es), unnest(es) WITH ORDINALITY AS x(e, k);
SELECT u,
       pulse.window_funnel('1 hour', t, e = 'a', e = 'b', e = 'c') AS ordered,
       pulse.window_funnel('1 hour', ARRAY['strict_order'], t, e = 'a', e = 'b', e = 'c') AS strict_order,
       pulse.window_funnel('1 hour', ARRAY['strict_order', 'allow_reentry'], t, e = 'a', e = 'b', e = 'c') AS allow_reentry,
       pulse.window_funnel('1 hour', ARRAY['strict_sequence'], t, e = 'a', e = 'b', e = 'c') AS strict_sequence,
       pulse.window_funnel_steps('1 hour', ARRAY['strict_sequence'], t, e = 'a', e = 'b', e = 'c') AS sequence_chain
  FROM modes_ev GROUP BY u ORDER BY u;
-- strict_once: a row fills at most one step of a chain. ClickHouse's case: one row matching
-- all three conditions -> 1 (3 without strict_once).
SELECT pulse.window_funnel('1 hour', t, true, true, true) AS ordered,
       pulse.window_funnel('1 hour', ARRAY['strict_once'], t, true, true, true) AS strict_once
  FROM (VALUES (timestamptz '2024-01-01 00:00:02+00')) AS v(t);
-- Two rows at one instant, 'ab' (matches conditions 1 and 2) and 'bc' (2 and 3): step 1 from
-- 'ab', step 2 from 'bc', and step 3 would need 'bc' again -> 2 with strict_once, 3 without
SELECT pulse.window_funnel('1 hour', t, x = 'ab', x IN ('ab', 'bc'), x = 'bc') AS ordered,
       pulse.window_funnel('1 hour', ARRAY['strict_once'], t, x = 'ab', x IN ('ab', 'bc'), x = 'bc') AS strict_once,
       pulse.window_funnel_steps('1 hour', ARRAY['strict_once'], t, x = 'ab', x IN ('ab', 'bc'), x = 'bc') AS once_chain
  FROM (VALUES (timestamptz '2024-01-01 00:00:00+00', 'ab'), ('2024-01-01 00:00:00+00', 'bc')) AS v(t, x);
-- ... a third row at 00:00:05 matching c completes the chain with distinct rows -> 3
SELECT pulse.window_funnel('1 hour', ARRAY['strict_once'], t, x = 'ab', x IN ('ab', 'bc'), x IN ('bc', 'c')) AS strict_once
  FROM (VALUES (timestamptz '2024-01-01 00:00:00+00', 'ab'), ('2024-01-01 00:00:00+00', 'bc'),
               ('2024-01-01 00:00:05+00', 'c')) AS v(t, x);
-- bad arguments
SELECT pg_temp.err($$SELECT pulse.window_funnel('1 hour', ARRAY['allow_reentry'], t, e = 'a') FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel('1 hour', ARRAY['strict_sequence', 'strict_increase'], t, e = 'a') FROM abcd$$);
SELECT pg_temp.hint($$SELECT pulse.window_funnel('1 hour', ARRAY['strict'], t, e = 'a') FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel('1 hour', ARRAY['unordered', 'strict_order'], t, e = 'a') FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel('1 hour', ARRAY[NULL], t, e = 'a') FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel('1 hour', NULL::text[], t, e = 'a') FROM abcd$$);
SELECT pg_temp.hint($$SELECT pulse.window_funnel('1 month', t, e = 'a') FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel('-1 hour', t, e = 'a') FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel(NULL, t, e = 'a') FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel(u * interval '1 hour', t, e = 'a') FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel('1 hour', t, VARIADIC CASE WHEN u = 1 THEN ARRAY[true] ELSE ARRAY[true, false] END) FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel('1 hour', t, VARIADIC ARRAY[]::boolean[]) FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel('1 hour', t, VARIADIC array_fill(true, ARRAY[33])) FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.window_funnel('1 hour', t, VARIADIC ARRAY[[true], [false]]) FROM abcd$$);
SELECT pulse.window_funnel('1 hour', t, VARIADIC array_fill(true, ARRAY[32])) FROM abcd;  -- 32 steps at once

-- retention_flags (ClickHouse retention): [c1, c1 and c2, c1 and c3]
SELECT u, pulse.retention_flags(e = 'a', e = 'b', e = 'd') AS flags FROM abcd GROUP BY u ORDER BY u;
SELECT pulse.retention_flags(e = 'b', e = 'a') AS b_first FROM abcd WHERE u = 6;  -- {1,1}
SELECT pulse.retention_flags(e = 'x', e = 'a') AS no_c1 FROM abcd;                -- {0,0}
SELECT pulse.retention_flags(true) AS none FROM abcd WHERE false;                  -- NULL
SELECT pg_temp.err($$SELECT pulse.retention_flags(VARIADIC CASE WHEN u = 1 THEN ARRAY[true] ELSE ARRAY[true, false] END) FROM abcd$$);
SELECT pg_temp.err($$SELECT pulse.retention_flags(VARIADIC ARRAY[]::boolean[]) FROM abcd$$);

-- The default mode is the longest chain: compare with a brute-force SQL answer on
-- pseudo-random events (300 users x 20 events in one hour, 4 kinds, window 10 minutes):
-- level >= 2 iff some k=0 event is followed (same instant allowed) by a k=1 event within the
-- window, and so on.
CREATE TEMP TABLE rnd AS
  SELECT (i % 300) AS u, timestamptz '2024-01-01 00:00:00+00' + (abs(hashint4(i)) % 3600) * interval '1 second' AS t,
         abs(hashint4(i + 1000000)) % 4 AS k
    FROM generate_series(1, 6000) i;
WITH agg AS (
  SELECT u, pulse.window_funnel('10 minutes', t, k = 0, k = 1, k = 2) AS l FROM rnd GROUP BY u
), brute AS (
  SELECT u, CASE
    WHEN EXISTS (SELECT 1 FROM rnd a JOIN rnd b ON b.u = a.u AND b.k = 1 AND b.t >= a.t AND b.t <= a.t + interval '10 minutes'
                   JOIN rnd c ON c.u = a.u AND c.k = 2 AND c.t >= b.t AND c.t <= a.t + interval '10 minutes'
                  WHERE a.u = users.u AND a.k = 0) THEN 3
    WHEN EXISTS (SELECT 1 FROM rnd a JOIN rnd b ON b.u = a.u AND b.k = 1 AND b.t >= a.t AND b.t <= a.t + interval '10 minutes'
                  WHERE a.u = users.u AND a.k = 0) THEN 2
    WHEN EXISTS (SELECT 1 FROM rnd a WHERE a.u = users.u AND a.k = 0) THEN 1
    ELSE 0 END AS l
  FROM (SELECT DISTINCT u FROM rnd) users
)
SELECT count(*) AS users, count(*) FILTER (WHERE agg.l = brute.l) AS same,
       count(*) FILTER (WHERE agg.l = 3) AS l3, count(*) FILTER (WHERE agg.l = 2) AS l2,
       count(*) FILTER (WHERE agg.l = 1) AS l1
  FROM agg JOIN brute USING (u);

-- Parallel plans: partial states are serialised in the workers and combined in the leader;
-- the answers equal the serial ones.
CREATE TABLE funnel_big AS
  SELECT (i % 1000)::text AS u, timestamptz '2024-01-01 00:00:00+00' + (abs(hashint4(i)) % 7200) * interval '1 second' AS t,
         abs(hashint4(i + 1000000)) % 5 AS k
    FROM generate_series(1, 60000) i;
ALTER TABLE funnel_big SET (parallel_workers = 2);
ANALYZE funnel_big;
CREATE TEMP TABLE serial_answer AS
  SELECT u, pulse.window_funnel('10 minutes', t, k = 0, k = 1, k = 2, k = 3) AS l,
         pulse.window_funnel_steps('10 minutes', ARRAY['strict_increase'], t, k = 0, k = 1, k = 2) AS c,
         pulse.retention_flags(k = 0, k = 4, k = 9) AS r
    FROM funnel_big GROUP BY u;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
  SELECT u, pulse.window_funnel('10 minutes', t, k = 0, k = 1, k = 2, k = 3) FROM funnel_big GROUP BY u;
CREATE TEMP TABLE parallel_answer AS
  SELECT u, pulse.window_funnel('10 minutes', t, k = 0, k = 1, k = 2, k = 3) AS l,
         pulse.window_funnel_steps('10 minutes', ARRAY['strict_increase'], t, k = 0, k = 1, k = 2) AS c,
         pulse.retention_flags(k = 0, k = 4, k = 9) AS r
    FROM funnel_big GROUP BY u;
-- one group over all rows (window 0: only steps at one instant chain)
EXPLAIN (COSTS OFF) SELECT pulse.window_funnel('0', t, k = 0, k = 1) FROM funnel_big;
SELECT pulse.window_funnel('0', t, k = 0, k = 1), pulse.window_funnel('1 second', t, k = 0, k = 1, k = 2, k = 3, k = 4) FROM funnel_big;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET enable_hashagg;
SELECT pulse.window_funnel('0', t, k = 0, k = 1), pulse.window_funnel('1 second', t, k = 0, k = 1, k = 2, k = 3, k = 4) FROM funnel_big;
SELECT count(*) AS users, count(*) FILTER (WHERE s.l = p.l AND s.c = p.c AND s.r = p.r) AS same,
       sum(s.l) AS sum_levels, count(*) FILTER (WHERE cardinality(s.c) = 3) AS three_steps
  FROM serial_answer s JOIN parallel_answer p USING (u);
DROP TABLE funnel_big;

-------------------------------------------------------------------- pulse.funnel
SELECT pulse.create_project('regress_funnel');
-- Issue 5, inclusive window: A signup 14:00 -> pageview 14:05; B signup 14:03 alone;
-- C signup 12:00 -> pageview 12:15.
SELECT stored FROM pulse.collect_batch('regress_funnel', '
{"_user": "A", "_time": "2024-03-01T14:00:00Z", "plan": "pro"}
{"_user": "B", "_time": "2024-03-01T14:03:00Z", "plan": "free"}
{"_user": "C", "_time": "2024-03-01T12:00:00Z", "plan": "pro"}', 'signup');
SELECT stored FROM pulse.collect_batch('regress_funnel', '
{"_user": "A", "_time": "2024-03-01T14:05:00Z", "url": "/home"}
{"_user": "C", "_time": "2024-03-01T12:15:00Z", "url": "/pricing"}', 'pageview');
-- 14 days: 3 then 2 users; time to convert (300 s + 900 s) / 2 = 600 s, median 600 s
SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]',
                           '2024-03-01', '2024-03-02');
-- 5 minutes: 3 then 1 (A converts in exactly 5 minutes: inclusive); 300 s
SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]',
                           '2024-03-01', '2024-03-02', conversion_window => '5 minutes');
-- 4 min 59 s: nobody converts
SELECT step, users, conversion_from_first, avg_time_to_convert
  FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]',
                    '2024-03-01', '2024-03-02', conversion_window => '4 minutes 59 seconds');
-- breakdown by the plan of the signup: pro = A, C (both convert), free = B
SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "name": "Signed up"}, {"collection": "pageview", "name": "Viewed a page"}]',
                           '2024-03-01', '2024-03-02', breakdown => 'plan');
-- filters: only pageviews of /pricing count -> C only
SELECT step, step_name, users FROM pulse.funnel('regress_funnel',
  '[{"collection": "signup"}, {"collection": "pageview", "filter": "url = ''/pricing''"}]', '2024-03-01', '2024-03-02');
-- the date range applies to every step: [12:00, 14:04) keeps A's signup, not A's pageview
SELECT step, users FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]',
                                     '2024-03-01 12:00+00', '2024-03-01 14:04+00');
-- empty range of events: every step with 0 users and no rates
SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]',
                           '2020-01-01', '2020-01-02');

-- Issue 5, ordered vs strict: user 1 does a, b, c; user 2 does a, d, b, c (d matches no step).
-- Ordered: both reach step 3. Strict: user 2 stops at d -> step 1 only.
SELECT stored FROM pulse.collect_batch('regress_funnel', '
{"_user": "1", "_time": "2024-03-01T10:00:01Z", "name": "a"}
{"_user": "1", "_time": "2024-03-01T10:00:02Z", "name": "b"}
{"_user": "1", "_time": "2024-03-01T10:00:03Z", "name": "c"}
{"_user": "2", "_time": "2024-03-01T10:00:01Z", "name": "a"}
{"_user": "2", "_time": "2024-03-01T10:00:02Z", "name": "d"}
{"_user": "2", "_time": "2024-03-01T10:00:03Z", "name": "b"}
{"_user": "2", "_time": "2024-03-01T10:00:04Z", "name": "c"}
{"_user": "3", "_time": "2024-03-01T10:00:01Z", "name": "c"}
{"_user": "3", "_time": "2024-03-01T10:00:02Z", "name": "b"}
{"_user": "3", "_time": "2024-03-01T10:00:03Z", "name": "a"}', 'ev');
-- user 3 does c, b, a: ordered and strict count it at step 1 only; unordered at step 3
SELECT step_order, step, users, conversion_from_previous, avg_time_to_convert
  FROM unnest(ARRAY['ordered', 'strict', 'unordered']) AS o(step_order),
       pulse.funnel('regress_funnel', '[{"collection": "ev", "filter": "name = ''a''"},
                                        {"collection": "ev", "filter": "name = ''b''"},
                                        {"collection": "ev", "filter": "name = ''c''"}]',
                    '2024-03-01', '2024-03-02', step_order => o.step_order)
 ORDER BY 1, 2;
-- unordered breakdown: the value comes from the event the counted chain starts with (users 1
-- and 2 start with a, user 3 with c)
SELECT breakdown, step, users FROM pulse.funnel('regress_funnel', '[{"collection": "ev", "filter": "name = ''a''"},
                                        {"collection": "ev", "filter": "name = ''b''"},
                                        {"collection": "ev", "filter": "name = ''c''"}]',
                    '2024-03-01', '2024-03-02', step_order => 'unordered', breakdown => 'name');
-- strict: only events of the step collections interrupt; a pageview between a and b does not
SELECT stored FROM pulse.collect_batch('regress_funnel', '{"_user": "1", "_time": "2024-03-01T10:00:01.5Z", "url": "/x"}', 'pageview');
SELECT step, users FROM pulse.funnel('regress_funnel', '[{"collection": "ev", "filter": "name = ''a''"},
                                                         {"collection": "ev", "filter": "name = ''b''"}]',
                                     '2024-03-01', '2024-03-02', step_order => 'strict');
-- ... but with pageview as step 3 it is an event of a step collection: user 1's pageview at
-- 10:00:01.5 is step 3 out of order and interrupts. Ordered: 1 (a, b), 2 (a, b), 3 (a) ->
-- 3, 2, 0. Strict: user 1 stops at the pageview, 2 at d, 3 has a last -> 3, 0, 0.
SELECT step_order, step, users
  FROM unnest(ARRAY['ordered', 'strict']) AS o(step_order),
       pulse.funnel('regress_funnel', '[{"collection": "ev", "filter": "name = ''a''"},
                                        {"collection": "ev", "filter": "name = ''b''"},
                                        {"collection": "pageview"}]',
                    '2024-03-01', '2024-03-02', step_order => o.step_order)
 ORDER BY 1, 2;

-- Strict funnels follow PostHog: any event of the steps' collections between two steps breaks
-- the chain, a repeated earlier step included, and a later step-1 event starts a new chain.
-- Users, events one second apart in collection "seq" (x matches no step):
--   s1: a, b, c          -> 3          s2: a, b, a, c    -> 2 (the second a breaks a -> b -> c)
--   s3: a, x, a, b, c    -> 3 (starts over at the second a)
--   s4: a, b, c, a, d    -> 3 of 4 (4-step funnel a, b, c, d: the repeated a breaks before d)
--   s5: a, b, b, c       -> 2          s6: c, b, a       -> 1
-- 3-step funnel a, b, c: step 1 has 6 users (s1..s6), step 2 has s1..s5 = 5, step 3 has s1, s3, s4 = 3.
SELECT stored FROM pulse.collect_batch('regress_funnel', (
  SELECT string_agg(jsonb_build_object('_user', u, '_time', timestamptz '2024-03-03 10:00:00+00' + k * interval '1 second',
                                       'name', e)::text, E'\n')
    FROM (VALUES ('s1', ARRAY['a', 'b', 'c']), ('s2', ARRAY['a', 'b', 'a', 'c']), ('s3', ARRAY['a', 'x', 'a', 'b', 'c']),
                 ('s4', ARRAY['a', 'b', 'c', 'a', 'd']), ('s5', ARRAY['a', 'b', 'b', 'c']), ('s6', ARRAY['c', 'b', 'a']))
         AS v(u, es), unnest(es) WITH ORDINALITY AS x(e, k)), 'seq');
-- the single pass, then the general plan (window_funnel_steps per user): the same answer
SELECT step, users, avg_time_to_convert
  FROM pulse.funnel('regress_funnel', '[{"collection": "seq", "filter": "name = ''a''"},
                                        {"collection": "seq", "filter": "name = ''b''"},
                                        {"collection": "seq", "filter": "name = ''c''"}]',
                    '2024-03-03', '2024-03-04', step_order => 'strict');
SET pulse.analytics_single_pass = off;
SELECT step, users, avg_time_to_convert
  FROM pulse.funnel('regress_funnel', '[{"collection": "seq", "filter": "name = ''a''"},
                                        {"collection": "seq", "filter": "name = ''b''"},
                                        {"collection": "seq", "filter": "name = ''c''"}]',
                    '2024-03-03', '2024-03-04', step_order => 'strict');
RESET pulse.analytics_single_pass;
-- 4 steps a, b, c, d: s4 reaches c, then the repeated a breaks the chain before d -> nobody at step 4
SELECT step, users FROM pulse.funnel('regress_funnel', '[{"collection": "seq", "filter": "name = ''a''"},
                                        {"collection": "seq", "filter": "name = ''b''"},
                                        {"collection": "seq", "filter": "name = ''c''"},
                                        {"collection": "seq", "filter": "name = ''d''"}]',
                    '2024-03-03', '2024-03-04', step_order => 'strict');
-- ordered, for comparison: s2 and s5 reach c too -> 6, 5, 5
SELECT step, users FROM pulse.funnel('regress_funnel', '[{"collection": "seq", "filter": "name = ''a''"},
                                        {"collection": "seq", "filter": "name = ''b''"},
                                        {"collection": "seq", "filter": "name = ''c''"}]',
                    '2024-03-03', '2024-03-04');

-- Unordered funnels and exclusions, on PostHog's own unordered exclusion cases (events one hour
-- apart unless said; x and y are excluded events). pg_pulse keeps one rule for every step order:
-- a user whose counted chain reached to_step, with an excluded event strictly between the
-- chain's from_step and to_step (unordered: when the from_step-th and to_step-th distinct steps
-- were reached), leaves every step. PostHog instead keeps such a user at a lower step in
-- unordered funnels (and refuses from/to steps other than the whole funnel there).
--   p1: signup 01:00, paid 02:00                 -> both steps, kept
--   p2: signup 03:00, x 03:30, paid 04:00         -> x inside the chain: gone (PostHog: step 1)
--   p3: paid 05:00, signup 06:00                  -> both steps in any order, kept
-- pg_pulse: 2, 2 (PostHog: 3, 2).
SELECT stored FROM pulse.collect_batch('regress_funnel', '
{"_user": "p1", "_time": "2024-03-04T01:00:00Z", "name": "signup"}
{"_user": "p1", "_time": "2024-03-04T02:00:00Z", "name": "paid"}
{"_user": "p2", "_time": "2024-03-04T03:00:00Z", "name": "signup"}
{"_user": "p2", "_time": "2024-03-04T03:30:00Z", "name": "x"}
{"_user": "p2", "_time": "2024-03-04T04:00:00Z", "name": "paid"}
{"_user": "p3", "_time": "2024-03-04T05:00:00Z", "name": "paid"}
{"_user": "p3", "_time": "2024-03-04T06:00:00Z", "name": "signup"}', 'uo');
SELECT step, users FROM pulse.funnel('regress_funnel', '[{"collection": "uo", "filter": "name = ''signup''"},
                                                         {"collection": "uo", "filter": "name = ''paid''"}]',
  '2024-03-04', '2024-03-05', step_order => 'unordered',
  exclusions => '[{"collection": "uo", "filter": "name = ''x''", "from_step": 1, "to_step": 2}]');
-- Five steps (signup, pageview, insight, invite, pageview2), exclusions x and y over the whole
-- funnel. Every user does the five steps between 01:00 and 06:00; q1, q2, q3 and q5 also do x
-- or y in between, q4 does not: pg_pulse keeps q4 alone at every step (PostHog: 5, 2, 1, 1, 1).
SELECT stored FROM pulse.collect_batch('regress_funnel', (
  SELECT string_agg(format('{"_user": "%s", "_time": "2024-03-04T%s:00Z", "name": "%s"}', u, split_part(ev, ' ', 1),
                           split_part(ev, ' ', 2)), E'\n')
    FROM (VALUES
      ('q1', ARRAY['01:00 signup', '02:00 x', '03:00 pageview', '04:00 insight', '04:30 y', '05:00 invite', '06:00 pageview2']),
      ('q2', ARRAY['01:00 signup', '01:30 y', '02:00 pageview', '04:00 insight', '04:30 y', '05:00 invite', '05:30 x', '06:00 pageview2']),
      ('q3', ARRAY['01:00 signup', '01:30 x', '02:00 pageview', '04:00 insight', '05:00 invite', '05:30 x', '06:00 pageview2']),
      ('q4', ARRAY['01:00 signup', '02:00 pageview', '04:00 insight', '05:00 invite', '06:00 pageview2']),
      ('q5', ARRAY['01:00 signup', '01:30 x', '02:00 pageview', '02:30 x', '04:00 insight', '04:30 y', '05:00 invite', '05:30 x', '06:00 pageview2']))
      AS v(u, evs), unnest(evs) AS ev), 'uo5');
SELECT step, users FROM pulse.funnel('regress_funnel',
  (SELECT jsonb_agg(jsonb_build_object('collection', 'uo5', 'filter', format('name = %L', n)) ORDER BY k)
     FROM unnest(ARRAY['signup', 'pageview', 'insight', 'invite', 'pageview2']) WITH ORDINALITY AS s(n, k)),
  '2024-03-04', '2024-03-05', step_order => 'unordered',
  exclusions => '[{"collection": "uo5", "filter": "name = ''x''", "from_step": 1, "to_step": 5},
                  {"collection": "uo5", "filter": "name = ''y''", "from_step": 1, "to_step": 5}]');
-- a partial exclusion (PostHog refuses it in unordered funnels) is between the 4th and the 5th
-- distinct step reached (invite 05:00, pageview2 06:00): x at 05:30 removes q2, q3 and q5; q1's
-- y at 04:30 is before that interval -> q1 and q4: 2 users at every step
SELECT step, users FROM pulse.funnel('regress_funnel',
  (SELECT jsonb_agg(jsonb_build_object('collection', 'uo5', 'filter', format('name = %L', n)) ORDER BY k)
     FROM unnest(ARRAY['signup', 'pageview', 'insight', 'invite', 'pageview2']) WITH ORDINALITY AS s(n, k)),
  '2024-03-04', '2024-03-05', step_order => 'unordered',
  exclusions => '[{"collection": "uo5", "filter": "name = ''y''", "from_step": 4, "to_step": 5},
                  {"collection": "uo5", "filter": "name = ''x''", "from_step": 4, "to_step": 5}]');

-- Issue 5, window_funnel through pulse.funnel: steps at t = 3..7 s, windows 2 / 3 / 4 s
SELECT stored FROM pulse.collect_batch('regress_funnel', '
{"_user": "w", "_time": "2024-03-02T00:00:03Z", "n": 1}
{"_user": "w", "_time": "2024-03-02T00:00:04Z", "n": 2}
{"_user": "w", "_time": "2024-03-02T00:00:05Z", "n": 3}
{"_user": "w", "_time": "2024-03-02T00:00:06Z", "n": 4}
{"_user": "w", "_time": "2024-03-02T00:00:07Z", "n": 5}', 'steps5');
SELECT w AS conversion_window, max(step) FILTER (WHERE users > 0) AS last_step_reached
  FROM unnest(ARRAY[interval '2 seconds', '3 seconds', '4 seconds']) AS w,
       pulse.funnel('regress_funnel', (SELECT jsonb_agg(jsonb_build_object('collection', 'steps5', 'filter', 'n = ' || n)) FROM generate_series(1, 5) n),
                    '2024-03-02', '2024-03-03', conversion_window => w)
 GROUP BY w ORDER BY w;

-- Issue 5, exclusion: a user who does the excluded event between steps 1 and 2 disappears
-- from every step. X: signup, logout, pageview (excluded); Y: signup, pageview, logout (the
-- logout is after step 2: kept); Z: signup, logout, no pageview (never reaches step 2: kept).
SELECT stored FROM pulse.collect_batch('regress_funnel', '
{"_user": "X", "_time": "2024-03-05T10:00:00Z", "plan": "pro"}
{"_user": "Y", "_time": "2024-03-05T10:00:00Z", "plan": "pro"}
{"_user": "Z", "_time": "2024-03-05T10:00:00Z", "plan": "pro"}', 'signup');
SELECT stored FROM pulse.collect_batch('regress_funnel', '
{"_user": "X", "_time": "2024-03-05T10:10:00Z", "name": "logout"}
{"_user": "Y", "_time": "2024-03-05T10:30:00Z", "name": "logout"}
{"_user": "Z", "_time": "2024-03-05T10:10:00Z", "name": "logout"}', 'ev');
SELECT stored FROM pulse.collect_batch('regress_funnel', '
{"_user": "X", "_time": "2024-03-05T10:20:00Z", "url": "/home"}
{"_user": "Y", "_time": "2024-03-05T10:20:00Z", "url": "/home"}', 'pageview');
-- without the exclusion: 3, 2
SELECT step, users FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]',
                                     '2024-03-05', '2024-03-06');
-- with it: X is gone from both steps -> 2 (Y, Z), 1 (Y)
SELECT step, users, conversion_from_first FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]',
  '2024-03-05', '2024-03-06',
  exclusions => '[{"collection": "ev", "filter": "name = ''logout''", "from_step": 1, "to_step": 2}]');
-- from_step / to_step written as 1.0 and 2.0 are integers too
SELECT step, users FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]',
  '2024-03-05', '2024-03-06',
  exclusions => '[{"collection": "ev", "filter": "name = ''logout''", "from_step": 1.0, "to_step": 2.0}]');
-- an exclusion only counts between steps the counted chain reached: with a 15-minute window
-- nobody converts (the pageviews come 20 minutes after the signups), so X stays at step 1
SELECT step, users FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]',
  '2024-03-05', '2024-03-06', conversion_window => '15 minutes',
  exclusions => '[{"collection": "ev", "filter": "name = ''logout''", "from_step": 1, "to_step": 2}]');

-- Time zone: the filter and the breakdown are evaluated in the funnel's time zone. Q signs up
-- on 2024-03-08 03:00 UTC, which is 2024-03-07 22:00 in New York.
SELECT stored FROM pulse.collect_batch('regress_funnel', '
{"_user": "Q", "_time": "2024-03-08T03:00:00Z", "plan": "team"}', 'signup');
SELECT stored FROM pulse.collect_batch('regress_funnel', '
{"_user": "Q", "_time": "2024-03-08T03:30:00Z", "url": "/home"}', 'pageview');
SELECT tz, step, users FROM unnest(ARRAY['UTC', 'America/New_York']) AS tz,
  pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": "_time::date = ''2024-03-07''"}, {"collection": "pageview"}]',
               '2024-03-07', '2024-03-09', timezone => tz)
 ORDER BY 1, 2;
-- a timestamptz breakdown is rendered in that zone
SELECT breakdown, step, users FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": "plan = ''team''"}, {"collection": "pageview"}]',
  '2024-03-07', '2024-03-09', breakdown => '_time', timezone => 'Asia/Tokyo');
SHOW timezone;  -- unchanged for the caller

-- Bad arguments
SELECT pg_temp.hint($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "nosuch"}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "Bad-Name"}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('nosuch', '[{"collection": "signup"}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '{"collection": "signup"}', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '["signup"]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.hint($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filters": "x"}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"filter": "true"}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "name": 1}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', (SELECT jsonb_agg('{"collection": "signup"}'::jsonb) FROM generate_series(1, 33)), '2024-03-01', '2024-03-02')$$);
-- invalid filters: 22023 naming the step
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview", "filter": "nosuch = 1"}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": "plan ="}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": "plan"}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": "true; DROP TABLE regress_funnel.signup"}]', '2024-03-01', '2024-03-02')$$);
-- a ";" inside a literal is part of one expression (Postgres' parser decides, not a character)
SELECT (SELECT array_agg(users ORDER BY step) FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": "''a;b'' LIKE ''%;%''"}]', '2024-03-01', '2024-03-02'))
     = (SELECT array_agg(users ORDER BY step) FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}]', '2024-03-01', '2024-03-02')) AS semicolon_in_a_literal;
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": "true) UNION SELECT (true"}]', '2024-03-01', '2024-03-02')$$);
-- balanced parentheses are still one expression: accepted
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": "true) OR (true"}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": "true) FROM regress_funnel.signup WHERE (true"}]', '2024-03-01', '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": 1}]', '2024-03-01', '2024-03-02')$$);
-- a trailing comment is harmless
SELECT step, users FROM pulse.funnel('regress_funnel', '[{"collection": "signup", "filter": "plan = ''pro'' -- paying"}]', '2024-03-01', '2024-03-02');
-- other arguments
SELECT pg_temp.hint($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}]', '2024-03-01', '2024-03-02', step_order => 'any')$$);
SELECT pg_temp.hint($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}]', '2024-03-01', '2024-03-02', conversion_window => '1 month')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}]', '2024-03-01', '2024-03-02', conversion_window => '-1 day')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}]', '2024-03-02', '2024-03-01')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}]', '2024-03-01', '2024-03-02', timezone => 'Mars/Olympus')$$);
SELECT pg_temp.hint($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}]', '2024-03-01', '2024-03-02', timezone => 'PST')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}]', NULL, '2024-03-02')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}]', '2024-03-01', '2024-03-02', breakdown => 'url')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]', '2024-03-01', '2024-03-02', exclusions => '{"collection": "ev"}')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]', '2024-03-01', '2024-03-02', exclusions => '[{"collection": "ev", "from_step": 2, "to_step": 2}]')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]', '2024-03-01', '2024-03-02', exclusions => '[{"collection": "ev", "from_step": 1, "to_step": 3}]')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]', '2024-03-01', '2024-03-02', exclusions => '[{"collection": "ev", "from_step": "1", "to_step": 2}]')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]', '2024-03-01', '2024-03-02', exclusions => '[{"collection": "ev", "from_step": 1.5, "to_step": 2}]')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]', '2024-03-01', '2024-03-02', exclusions => '[{"collection": "ev", "filter": "nosuch", "from_step": 1, "to_step": 2}]')$$);
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]', '2024-03-01', '2024-03-02', exclusions => '[{"collection": "nosuch", "from_step": 1, "to_step": 2}]')$$);

-- SECURITY INVOKER: the funnel sees what the caller may SELECT
CREATE ROLE regress_funnel_nobody;
CREATE ROLE regress_funnel_analyst IN ROLE regress_funnel_reader;
SET ROLE regress_funnel_nobody;
SELECT pg_temp.err($$SELECT * FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]', '2024-03-01', '2024-03-02')$$);
RESET ROLE;
SET ROLE regress_funnel_analyst;
SELECT step, users FROM pulse.funnel('regress_funnel', '[{"collection": "signup"}, {"collection": "pageview"}]', '2024-03-01', '2024-03-02');
RESET ROLE;

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_funnel', force => true);
RESET client_min_messages;
DROP ROLE regress_funnel_nobody, regress_funnel_analyst;
DROP EXTENSION pg_pulse;
