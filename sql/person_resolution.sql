-- Identity resolution inside the single-pass report aggregates (src/analytics/reports.cc,
-- core/person_map.h): counted by person with nothing else of the persons used, pulse.funnel,
-- pulse.retention and pulse.trends (unique_users) read the raw _user and hand the mapping
-- <project>._person_ids to the aggregate, which reads it itself. Their answers must equal the
-- general plans' (pulse.analytics_single_pass = off), which LEFT JOIN every collection read
-- with the mapping, on a mapping with the shapes the SQL resolution defines: several ids per
-- person (short, 16-byte and longer ids), self rows, an id mapped to a person that is itself a
-- mapped id (no further resolution), mapped ids and persons without events.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SELECT pulse.create_project('regress_pr');
SELECT pulse.create_collection('regress_pr', 'view', '{"page": "text"}');
SELECT pulse.create_collection('regress_pr', 'buy', '{"amount": "integer"}');
SELECT pulse._ensure_persons('regress_pr');
RESET client_min_messages;
-- 120 users u0..u119; a user k with k % 3 > 0 also acts as 'u<k>~1' and as a 32-byte device id
SELECT setseed(0.15);
INSERT INTO regress_pr.view (_time, _user, page)
  SELECT timestamptz '2024-01-01' + floor(random() * 20 * 24 * 4) * interval '15 minutes',
         'u' || k || CASE WHEN k % 3 = 0 OR s = 0 THEN '' WHEN s = 1 THEN '~1' ELSE '-device-identifier-0123456789' END,
         '/p' || floor(random() * 3)
    FROM (SELECT floor(random() * 120)::int AS k, floor(random() * 3)::int AS s FROM generate_series(1, 3000)) g;
INSERT INTO regress_pr.buy (_time, _user, amount)
  SELECT _time + floor(random() * 48) * interval '1 hour', _user, floor(random() * 100)::int
    FROM regress_pr.view WHERE random() < 0.3;
INSERT INTO regress_pr._person_ids (distinct_id, person_id)
  SELECT 'u' || k || x, 'u' || k
    FROM generate_series(0, 119) k, unnest(ARRAY['', '~1', '-device-identifier-0123456789']) x
   WHERE k % 3 > 0 AND k NOT IN (4, 5);
INSERT INTO regress_pr._person_ids (distinct_id, person_id) VALUES
  ('u4~1', 'u5'),     -- u4's ids go to u5, and u5 itself to u7: u4~1 counts as "u5", u5 as u7
  ('u4-device-identifier-0123456789', 'u5'),
  ('u5', 'u7'),
  ('u3', 'u3'),       -- a self row changes nothing
  ('ghost', 'u8'),    -- a mapped id without events
  ('u9', 'nobody');   -- a person without events of its own
INSERT INTO regress_pr._persons (_person) SELECT DISTINCT person_id FROM regress_pr._person_ids;

-- pg_temp.same(q): rows of the single-pass answer, rows only in it, rows only in the general
-- answer.
CREATE FUNCTION pg_temp.same(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  fast_only bigint;
  slow_only bigint;
  n bigint;
BEGIN
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

-- the builders hand the mapping to the aggregate and read the bare collections
SELECT q ~ '::regclass' AS aggregate_resolves, q ~ '_pulse_m' AS joins_the_mapping
  FROM pulse._retention_sql('regress_pr', '{"collection": "view"}', '{"collection": "buy"}', '2024-01-01', '2024-01-15') q;
SELECT q ~ '::regclass' AS aggregate_resolves, q ~ '_pulse_m' AS joins_the_mapping
  FROM pulse._trends_sql('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-15', 'day', 'unique_users') q;
-- ... not by raw id, nor with a cohort or a person property, nor for dau (plain SQL)
SELECT q ~ '::regclass' AS aggregate_resolves, q ~ '_pulse_m' AS joins_the_mapping
  FROM pulse._trends_sql('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-15', 'day', 'unique_users', actor => 'id') q;
SELECT q ~ '::regclass' AS aggregate_resolves, q ~ '_pulse_m' AS joins_the_mapping
  FROM pulse._trends_sql('regress_pr', '{"collection": "view", "filter": "person._person IS NOT NULL"}', '2024-01-01', '2024-01-15', 'day', 'unique_users') q;
SELECT q ~ '::regclass' AS aggregate_resolves, q ~ '_pulse_m' AS joins_the_mapping
  FROM pulse._trends_sql('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-15', 'day', 'dau') q;

-- funnels
SELECT o, pg_temp.same(format($q$SELECT * FROM pulse.funnel('regress_pr',
  '[{"collection": "view", "filter": "page = ''/p1''"}, {"collection": "buy"}, {"collection": "view", "filter": "page = ''/p2''"}]',
  '2024-01-01', '2024-01-21', conversion_window => '3 days', step_order => %L)$q$, o))
  FROM unnest(ARRAY['ordered', 'strict', 'unordered']) o ORDER BY o;
SELECT o, pg_temp.same(format($q$SELECT * FROM pulse.funnel('regress_pr', '[{"collection": "view"}, {"collection": "buy"}]',
  '2024-01-01', '2024-01-21', '1 day', step_order => %L, breakdown => 'page')$q$, o)) AS by_page
  FROM unnest(ARRAY['ordered', 'strict']) o ORDER BY o;
SELECT pg_temp.same($q$SELECT * FROM pulse.funnel('regress_pr', '[{"collection": "view"}, {"collection": "buy"}]',
  '2024-01-01', '2024-01-21', '1 day', exclusions => '[{"collection": "view", "filter": "page = ''/p0''", "from_step": 1, "to_step": 2}]')$q$) AS exclusions;
-- retention and unique users
SELECT t, pg_temp.same(format($q$SELECT * FROM pulse.retention('regress_pr', '{"collection": "view"}', '{"collection": "buy"}',
  '2024-01-01', '2024-01-15', 'day', 5, %L)$q$, t))
  FROM unnest(ARRAY['recurring', 'first_time']) t ORDER BY t;
SELECT pg_temp.same($q$SELECT * FROM pulse.retention('regress_pr', '{"collection": "view"}', '{"collection": "view"}',
  '2024-01-01', '2024-01-21', 'week', 3)$q$) AS same_event;
SELECT t, pg_temp.same(format($q$SELECT * FROM pulse.retention('regress_pr', '{"collection": "view"}', '{"collection": "buy"}',
  '2024-01-01', '2024-01-15', 'day', 5, %L, breakdown => 'page')$q$, t)) AS by_page
  FROM unnest(ARRAY['recurring', 'first_time']) t ORDER BY t;
SELECT i, pg_temp.same(format($q$SELECT * FROM pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', %L, 'unique_users')$q$, i))
  FROM unnest(ARRAY['hour', 'day', 'week']) i ORDER BY i;
SELECT pg_temp.same($q$SELECT * FROM pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', 'day', 'unique_users',
  breakdown => 'page', breakdown_limit => 2)$q$) AS breakdown;
-- the persons count differently from the raw ids
SELECT p.value AS persons, i.value AS ids
  FROM pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', 'month', 'unique_users') p,
       pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', 'month', 'unique_users', actor => 'id') i;

-- as a reader: its privileges and row-level security apply to the mapping as they would to
-- the join (here a policy hides the u1.. rows: their ids count as themselves)
CREATE ROLE regress_pr_analyst IN ROLE regress_pr_reader;
ALTER TABLE regress_pr._person_ids ENABLE ROW LEVEL SECURITY;
CREATE POLICY regress_pr_some ON regress_pr._person_ids FOR SELECT USING (person_id NOT LIKE 'u1%');
SET ROLE regress_pr_analyst;
SELECT pg_temp.same($q$SELECT * FROM pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', 'week', 'unique_users')$q$) AS rls;
SELECT pg_temp.same($q$SELECT * FROM pulse.funnel('regress_pr', '[{"collection": "view"}, {"collection": "buy"}]', '2024-01-01', '2024-01-21')$q$) AS rls;
RESET ROLE;
SELECT value AS persons_seen_by_owner
  FROM pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', 'month', 'unique_users');
SET ROLE regress_pr_analyst;
SELECT value AS persons_seen_by_reader
  FROM pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', 'month', 'unique_users');
RESET ROLE;
-- the mapping a backend keeps between reports (docs/people.md#the-mapping-cache) serves the
-- owner's next reports, never a reader's under row-level security (loaded through SPI, not kept)
SET client_min_messages = debug1;
SELECT value AS owner_loads FROM pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', 'month', 'unique_users');
SELECT value AS owner_reuses FROM pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', 'month', 'unique_users');
SET ROLE regress_pr_analyst;
SELECT value AS reader_loads_own FROM pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', 'month', 'unique_users');
RESET ROLE;
-- a breakdown's groups are counted by one report: one load
SELECT count(*) AS groups_of_one_load FROM pulse.trends('regress_pr', '{"collection": "view"}', '2024-01-01', '2024-01-21', 'month', 'unique_users', breakdown => 'page');
RESET client_min_messages;
-- a caller who may not read the mapping gets the join, and its 42501 even without events
REVOKE SELECT ON regress_pr._person_ids FROM regress_pr_reader;
SET ROLE regress_pr_analyst;
SELECT pulse._insight_person_map('regress_pr') IS NULL AS no_direct_read;
SELECT * FROM pulse.trends('regress_pr', '{"collection": "view"}', '2030-01-01', '2030-01-02', 'day', 'unique_users');
SELECT * FROM pulse.funnel('regress_pr', '[{"collection": "view"}, {"collection": "buy"}]', '2030-01-01', '2030-01-02');
SELECT * FROM pulse.paths('regress_pr', '2030-01-01', '2030-01-02');
RESET ROLE;

-- the aggregates' mapping argument: a table without the mapping's text columns
CREATE TABLE regress_pr.not_a_mapping (distinct_id text, person_id integer);
INSERT INTO regress_pr.not_a_mapping VALUES ('a', 1);
SELECT pulse._uniques_report(_user, _time, ARRAY[timestamptz '2024-01-01', '2024-02-01'], 'regress_pr.not_a_mapping'::regclass) FROM regress_pr.view;
SELECT pulse._funnel_report(_user, _time, 1, 0, '1 day', 0, 1, '{}', '{}', 'regress_pr.buy'::regclass) FROM regress_pr.view;
SELECT pulse._paths_report(_user, _time, 'view', 'view', true, '1 hour', 5, false, 'regress_pr.not_a_mapping'::regclass) FROM regress_pr.view;
-- NULL: counted by raw id
SELECT pulse._uniques_report(_user, _time, ARRAY[timestamptz '2024-01-01', '2024-02-01'], NULL) =
       pulse._uniques_report(_user, _time, ARRAY[timestamptz '2024-01-01', '2024-02-01']) AS null_is_raw
  FROM regress_pr.view;

DROP POLICY regress_pr_some ON regress_pr._person_ids;
DROP TABLE regress_pr.not_a_mapping;
SET client_min_messages = warning;
SELECT pulse.drop_project('regress_pr', force => true);
DROP ROLE regress_pr_analyst;
