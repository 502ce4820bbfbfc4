-- Person-level analytics (docs/people.md#person-level-analytics): pulse.funnel, retention,
-- trends and paths count persons (ids linked by identify/alias, retroactively) by default and
-- raw ids with actor => 'id'; person properties in filters and breakdowns.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
SELECT pulse.create_project('pa');
-- an anonymous visitor (anon-1) signs up as user-1 ten minutes later and comes back the next
-- day as user-1; bob visits once and never signs up
SELECT stored FROM pulse.collect_batch('pa', '
{"_user": "anon-1", "_time": "2024-05-01T10:00:00Z", "plan": "trial"}
{"_user": "bob", "_time": "2024-05-01T12:00:00Z", "plan": "trial"}
{"_user": "user-1", "_time": "2024-05-02T09:00:00Z", "plan": "trial"}', 'visit');
SELECT stored FROM pulse.collect_batch('pa', '
{"_user": "user-1", "_time": "2024-05-01T10:10:00Z"}', 'signup');

-- no persons yet: both modes count ids
SELECT step, users FROM pulse.funnel('pa', '[{"collection": "visit"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08');
-- a person property must be a column of the persons (ingestion made the persons: persons on first sight)
SELECT * FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-03', breakdown => 'person.plan');

SELECT pulse.identify('pa', 'anon-1', 'user-1');
SELECT person_id FROM pulse.person_update('pa', 'user-1', '{"$set": {"plan": "pro"}}');
SELECT person_id FROM pulse.person_update('pa', 'bob', '{"$set": {"plan": "free"}}');

-- funnel: the visitor who signed up converts once as a person; as raw ids, anon-1 never signs
-- up and user-1's visit comes after its signup
SELECT step, users FROM pulse.funnel('pa', '[{"collection": "visit"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08');
SELECT step, users FROM pulse.funnel('pa', '[{"collection": "visit"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08', actor => 'id');
-- the general plan (a breakdown) resolves the same way
SELECT breakdown, step, users FROM pulse.funnel('pa', '[{"collection": "visit"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08', breakdown => 'person.plan');
SELECT breakdown, step, users FROM pulse.funnel('pa', '[{"collection": "visit"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08', breakdown => 'person.plan', actor => 'id');
-- strict and unordered funnels, exclusions
SELECT step, users FROM pulse.funnel('pa', '[{"collection": "visit"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08', step_order => 'unordered');
SELECT step, users FROM pulse.funnel('pa', '[{"collection": "visit"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08', step_order => 'unordered', actor => 'id');
SET pulse.analytics_single_pass = off;
SELECT step, users FROM pulse.funnel('pa', '[{"collection": "visit"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08');
RESET pulse.analytics_single_pass;
-- a person-property filter: only persons on the pro plan (user-1, through both of its ids)
SELECT step, users FROM pulse.funnel('pa', '[{"collection": "visit", "filter": "person.plan = ''pro''"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08');
-- the event's own plan and the person's, side by side: the bare name is ambiguous
SELECT step, users FROM pulse.funnel('pa', '[{"collection": "visit", "filter": "visit.plan = ''trial'' AND person.plan = ''free''"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08');
SELECT step, users FROM pulse.funnel('pa', '[{"collection": "visit", "filter": "plan = ''trial'' AND person.plan = ''free''"}, {"collection": "signup"}]', '2024-05-01', '2024-05-08');

-- trends: weekly unique visitors are 2 persons, 3 ids; dau by person plan
SELECT bucket, value FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-08', 'week', 'unique_users');
SELECT bucket, value FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-08', 'week', 'unique_users', actor => 'id');
SELECT bucket, value FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-03', 'day', 'wau');
SELECT bucket, value FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-03', 'day', 'wau', actor => 'id');
SELECT breakdown, bucket, value FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-03', measure => 'count', breakdown => 'person.plan');
SELECT breakdown, bucket, value FROM pulse.trends('pa', '{"collection": "visit", "filter": "person.plan IS NULL OR person._identified"}', '2024-05-01', '2024-05-03', measure => 'count', breakdown => 'plan');

-- retention (visit -> visit, daily): the person returns on day 1, the ids do not
SELECT cohort_start, cohort_size, period, users FROM pulse.retention('pa', '{"collection": "visit"}', '{"collection": "visit"}', '2024-05-01', '2024-05-03', periods => 2);
SELECT cohort_start, cohort_size, period, users FROM pulse.retention('pa', '{"collection": "visit"}', '{"collection": "visit"}', '2024-05-01', '2024-05-03', periods => 2, actor => 'id');
SELECT breakdown, cohort_start, cohort_size, period, users FROM pulse.retention('pa', '{"collection": "visit"}', '{"collection": "visit"}', '2024-05-01', '2024-05-03', periods => 2, retention_type => 'first_time', breakdown => 'person.plan');
SELECT breakdown, cohort_start, cohort_size, period, users FROM pulse.retention('pa', '{"collection": "visit"}', '{"collection": "visit"}', '2024-05-01', '2024-05-03', periods => 2, retention_type => 'first_time', breakdown => 'person.plan', actor => 'id');

-- paths: visit -> signup is one person's session; as ids there is no transition
SELECT * FROM pulse.paths('pa', '2024-05-01', '2024-05-03');
SELECT * FROM pulse.paths('pa', '2024-05-01', '2024-05-03', actor => 'id');

-- linking is retroactive: bob is aliased to user-1 now, and every insight sees one person
SELECT pulse.alias('pa', 'user-1', 'bob', force => true);
SELECT bucket, value FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-08', 'week', 'unique_users');

-- errors
SELECT * FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-03', actor => 'user');
SELECT * FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-03', actor => NULL);
SELECT * FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-03', breakdown => 'person.nope');
SELECT * FROM pulse.trends('pa', '{"collection": "visit", "filter": "person.nope = 1"}', '2024-05-01', '2024-05-03');
SELECT * FROM pulse.trends('pa', '{"collection": "visit"}', '2024-05-01', '2024-05-03', breakdown => 'person.plan; DROP TABLE pa.visit');
SELECT pulse.drop_project('pa', force => true);

-- cohorts: a writer's query of ids (distinct or person ids), materialised as pa2.cohort_<name>;
-- membership is by person, resolved when an insight reads the cohort
SET client_min_messages = warning;
SELECT pulse.create_project('pa2');
RESET client_min_messages;
SELECT stored FROM pulse.collect_batch('pa2', '
{"_user": "anon-1", "_time": "2024-05-01T10:00:00Z"}
{"_user": "bob", "_time": "2024-05-01T12:00:00Z"}
{"_user": "user-1", "_time": "2024-05-02T09:00:00Z"}', 'visit');
SELECT stored FROM pulse.collect_batch('pa2', '
{"_user": "anon-1", "_time": "2024-05-01T10:10:00Z", "amount": 5}
{"_user": "user-1", "_time": "2024-05-02T09:10:00Z", "amount": 7}
{"_user": "bob", "_time": "2024-05-02T09:10:00Z", "amount": 1}', 'purchase');
-- "purchased at least twice": by person (through the mapping in the query), or by raw id
SELECT pulse.identify('pa2', 'anon-1', 'user-1');
SELECT pulse.create_cohort('pa2', 'repeat_buyers', $$SELECT coalesce(m.person_id, e._user) FROM purchase e
  LEFT JOIN _person_ids m ON m.distinct_id = e._user GROUP BY 1 HAVING count(*) >= 2$$);
SELECT * FROM pa2.cohort_repeat_buyers;
-- refreshed on demand: bob's second purchase counts after pulse.refresh_cohort
SELECT stored FROM pulse.collect('pa2', 'purchase', '{"_user": "bob", "_time": "2024-05-02T10:00:00Z", "amount": 2}');
SELECT * FROM pa2.cohort_repeat_buyers;
SELECT pulse.refresh_cohort('pa2', 'repeat_buyers');
SELECT * FROM pa2.cohort_repeat_buyers ORDER BY 1;
SELECT pulse.create_cohort('pa2', 'anon_buyers', $$SELECT _user FROM purchase WHERE _user LIKE 'anon-%'$$, '1 hour');
SELECT project, name, view, refresh_every, ids FROM pulse.cohorts ORDER BY name;
-- as a filter: anon_buyers holds the id anon-1, whose person is user-1: both ids count
SELECT bucket, value FROM pulse.trends('pa2', '{"collection": "visit"}', '2024-05-01', '2024-05-08', 'week', 'unique_users', cohort => 'anon_buyers');
SELECT bucket, value FROM pulse.trends('pa2', '{"collection": "visit"}', '2024-05-01', '2024-05-08', 'week', 'unique_users', cohort => 'anon_buyers', actor => 'id');
SELECT step, users FROM pulse.funnel('pa2', '[{"collection": "visit"}, {"collection": "purchase"}]', '2024-05-01', '2024-05-08', cohort => 'repeat_buyers');
SELECT cohort_start, cohort_size, period, users FROM pulse.retention('pa2', '{"collection": "visit"}', '{"collection": "visit"}', '2024-05-01', '2024-05-03', periods => 2, cohort => 'repeat_buyers');
SELECT * FROM pulse.paths('pa2', '2024-05-01', '2024-05-03', cohort => 'repeat_buyers');
-- as a breakdown: true / false
SELECT breakdown, step, users FROM pulse.funnel('pa2', '[{"collection": "visit"}, {"collection": "purchase"}]', '2024-05-01', '2024-05-08', breakdown => 'cohort.anon_buyers');
SELECT breakdown, bucket, value FROM pulse.trends('pa2', '{"collection": "visit"}', '2024-05-01', '2024-05-03', measure => 'dau', breakdown => 'cohort.anon_buyers');
SELECT breakdown, cohort_start, cohort_size, period, users FROM pulse.retention('pa2', '{"collection": "visit"}', '{"collection": "purchase"}', '2024-05-01', '2024-05-03', periods => 2, breakdown => 'cohort.anon_buyers');
-- in a filter expression: the cohort is a view of the project
SELECT bucket, value FROM pulse.trends('pa2', '{"collection": "purchase", "filter": "_user IN (SELECT * FROM pa2.cohort_anon_buyers)"}', '2024-05-01', '2024-05-08', 'week', 'count');
-- errors
SELECT pulse.create_cohort('pa2', 'repeat_buyers', 'SELECT _user FROM visit');
SELECT pulse.create_cohort('pa2', 'two', 'SELECT _user, _time FROM visit');
SELECT pulse.create_cohort('pa2', 'num', 'SELECT 1');
SELECT pulse.create_cohort('pa2', 'Bad-Name!', 'SELECT _user FROM visit');
SELECT pulse.create_cohort('pa2', 'x', 'SELECT _user FROM nosuch');
SELECT * FROM pulse.trends('pa2', '{"collection": "visit"}', '2024-05-01', '2024-05-03', cohort => 'nosuch');
SELECT * FROM pulse.trends('pa2', '{"collection": "visit"}', '2024-05-01', '2024-05-03', breakdown => 'cohort.nosuch');
SELECT pulse.refresh_cohort('pa2', 'nosuch');
-- erasure: the person leaves every cohort at once
SELECT pulse.erase_person('pa2', 'anon-1');
SELECT * FROM pa2.cohort_anon_buyers;
SELECT * FROM pa2.cohort_repeat_buyers;
SELECT pulse.drop_cohort('pa2', 'anon_buyers');
SELECT name FROM pulse.cohorts WHERE project = 'pa2';
SELECT to_regclass('pa2.cohort_anon_buyers');
SELECT pulse.drop_cohort('pa2', 'anon_buyers');
SET client_min_messages = warning;
SELECT pulse.drop_project('pa2', force => true);
RESET client_min_messages;
SELECT count(*) FROM pulse.cohorts WHERE project = 'pa2';
-- a collection named "person" is read as usual; with person properties, a clear 42712
SET client_min_messages = warning;
SELECT pulse.create_project('pa3');
RESET client_min_messages;
SELECT stored FROM pulse.collect('pa3', 'person', '{"_user": "a", "_time": "2024-05-06T10:00:00Z", "plan": "x"}');
SELECT pulse.person_update('pa3', 'a', '{"$set": {"plan": "pro"}}') IS NOT NULL AS updated;
SELECT * FROM pulse.trends('pa3', '{"collection": "person"}', '2024-05-06', '2024-05-07', measure => 'unique_users');
SELECT * FROM pulse.trends('pa3', '{"collection": "person"}', '2024-05-06', '2024-05-07', breakdown => 'person.plan');
SELECT step, users FROM pulse.funnel('pa3', '[{"collection": "person", "filter": "person.plan = ''pro''"}]', '2024-05-06', '2024-05-07');
SET client_min_messages = warning;
SELECT pulse.drop_project('pa3', force => true);
RESET client_min_messages;
