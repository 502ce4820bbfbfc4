-- Person-level analytics (docs/people.md#person-level-analytics): pulse.funnel, retention,
-- trends and paths count persons (ids linked by identify/alias, retroactively) by default and
-- raw ids with actor => 'id'; person properties in filters and breakdowns.
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
-- a person property needs persons
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
