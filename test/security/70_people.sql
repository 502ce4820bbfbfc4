-- Persons, identity and erasure under attack: a writer and a reader of another project, a
-- reader of the project, and the project's own writer against person_update, identify, alias,
-- person_id, erase_person and the persons tables; SQL text in project names, ids, property
-- names and values; nothing of another project is read, changed or erased.
\ir lib.sql
SELECT plan(33);
SELECT pulse.person_update('sec_q', 'q1', '{"$set": {"token": "q-secret"}}');
SELECT pulse.person_update('sec_p', 'u1', '{"$set": {"plan": "pro"}}');

-- 1. another project's writer and this project's reader cannot change persons
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT pulse.person_update(''sec_p'', ''u1'', ''{"$set": {"plan": "x"}}'')')$$,
                 '42501', NULL, 'a writer of another project cannot update a person');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT pulse.identify(''sec_p'', ''a'', ''u1'')')$$,
                 '42501', NULL, 'nor link ids');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT pulse.alias(''sec_p'', ''u1'', ''x'')')$$,
                 '42501', NULL, 'nor alias them');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT pulse.erase_person(''sec_p'', ''u1'')')$$,
                 '42501', NULL, 'nor erase a person');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT * FROM sec_p._persons')$$,
                 '42501', NULL, 'nor read the persons');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT pulse.person_id(''sec_p'', ''u1'')')$$,
                 '42501', NULL, 'nor resolve ids through person_id');
SELECT throws_ok($$SELECT sec.as_role('sec_r', 'SELECT pulse.person_update(''sec_p'', ''u1'', ''{"$set": {"plan": "x"}}'')')$$,
                 '42501', NULL, 'a reader cannot update a person');
SELECT throws_ok($$SELECT sec.as_role('sec_r', 'SELECT pulse.erase_person(''sec_p'', ''u1'')')$$,
                 '42501', NULL, 'nor erase one');
SELECT is(sec.value_as('sec_r', $$SELECT plan || '/' || pulse.person_id('sec_p', 'u1') FROM sec_p._persons WHERE _person = 'u1'$$), 'pro/u1',
          'a reader reads the persons and resolves ids');

-- 2. only pg_pulse writes the persons tables
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'UPDATE sec_p._persons SET plan = ''free''')$$,
                 '42501', NULL, 'the writer cannot update the persons table directly');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'INSERT INTO sec_p._person_ids VALUES (''q1'', ''u1'')')$$,
                 '42501', NULL, 'nor the id mapping');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'CREATE TRIGGER t BEFORE UPDATE ON sec_p._persons FOR EACH ROW EXECUTE FUNCTION pg_catalog.suppress_redundant_updates_trigger()')$$,
                 '42501', NULL, 'nor put a trigger on it');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse._ensure_persons(''sec_q'')')$$,
                 '42501', NULL, 'internal person functions are not executable');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse._person_link(''sec_q'', ''q1'', ''evil'', true, true)')$$,
                 '42501', NULL, 'not even the link itself');

-- 3. SQL text in names, ids, property names and values is data
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.person_update(''sec_p"; DROP TABLE sec_q.secret; --'', ''u1'', ''{}'')')$$,
                 '42602', NULL, 'a project name with SQL in it is refused');
SELECT lives_ok($$SELECT sec.value_as('sec_w', $q$SELECT (pulse.person_update('sec_p', 'u1''); DROP TABLE sec_q.secret; --',
  '{"$set": {"a\"); DROP TABLE sec_q.secret; --": "x''); DROP TABLE sec_q.secret; --"},
    "$append": {"t\" = NULL, plan": "y"}, "$unset": ["plan\" = NULL; --"]}')).person_id$q$)$$,
                'an id, property names and values carrying SQL are stored as data');
SELECT is((SELECT count(*)::text FROM sec_q.secret), '1', 'the other project''s collection is intact');
SELECT is((SELECT a____drop_table_sec_q_secret____ FROM sec_p._persons WHERE _person = 'u1''); DROP TABLE sec_q.secret; --'),
          'x''); DROP TABLE sec_q.secret; --', 'the value is stored under its normalised name');
SELECT is((SELECT plan FROM sec_p._persons WHERE _person = 'u1'), 'pro', 'and no other person or column changed');

-- 4. linking and erasing stay inside the project
SELECT lives_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.identify(''sec_p'', ''q1'', ''u1'') || pulse.erase_person(''sec_p'', ''q1'')')$$,
                'the writer links and erases an id in its own project');
SELECT is((SELECT count(*)::text FROM sec_q.secret WHERE _user = 'q1') || '/' || (SELECT token FROM sec_q._persons WHERE _person = 'q1'),
          '1/q-secret', 'the same id in another project keeps its events and person');

-- 5. event specs: only the project's writers set the default; names and values from Segment and
-- PostHog events are data; links made by events stay in the project
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT pulse.set_event_spec(''sec_p'', ''segment'')')$$,
                 '42501', NULL, 'a writer of another project cannot set the event spec');
SELECT throws_ok($$SELECT sec.as_role('sec_r', 'SELECT pulse.set_event_spec(''sec_p'', ''segment'')')$$,
                 '42501', NULL, 'nor a reader');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT pulse.set_event_spec(''sec_p'', ''segment'', ''c'')')$$,
                 '42501', NULL, 'nor a collection''s, from another project');
SELECT throws_ok($$SELECT sec.as_role('sec_r', 'SELECT pulse.set_track_persons(''sec_p'', false)')$$,
                 '42501', NULL, 'a reader cannot switch persons on first sight');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT pulse.set_track_persons(''sec_p'', false)')$$,
                 '42501', NULL, 'nor a writer of another project');
SELECT is(sec.value_as('sec_w', $q$SELECT pulse.set_track_persons('sec_p', true)::text || (SELECT track_persons::text FROM pulse.projects WHERE name = 'sec_p')$q$),
          'true', 'the project''s writer can');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', $q$SELECT pulse.collect('sec_p', NULL, '{"type": "track", "event": "x"}', 'segment')$q$)$$,
                 '42501', NULL, 'a spec does not open another project');
SELECT lives_ok($$SELECT sec.value_as('sec_w', $q$SELECT (pulse.collect('sec_p', NULL, '{"batch": [
  {"type": "track", "event": "x\"; DROP TABLE sec_q.secret; --", "userId": "q1", "anonymousId": "sec_q.secret", "properties": {"a''); DROP TABLE sec_q.secret; --": "1); DROP TABLE sec_q.secret; --"}},
  {"type": "identify", "userId": "q1", "traits": {"_person": "u1", "token\" = NULL; --": "x"}},
  {"type": "track", "event": "_persons", "userId": "q1"}]}', 'segment')).stored::text$q$)$$,
                'Segment events with SQL in event names, ids, property names and values are stored as data');
SELECT is((SELECT count(*)::text FROM sec_q.secret WHERE _user = 'q1') || '/' || (SELECT token FROM sec_q._persons WHERE _person = 'q1'),
          '1/q-secret', 'the other project''s events and person are intact');
SELECT is((SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'sec_p'::regnamespace AND relkind = 'r'
             AND relname NOT IN ('ev', '_persons', '_person_ids', 'identifies')),
          'x___drop_table_sec_q_secret____', 'an event name becomes a normalised collection name');
SELECT is((SELECT count(*)::text FROM pulse.dead_letters WHERE project = 'sec_p' AND error LIKE 'invalid collection name "\_persons"%'), '1',
          'an event named "_persons" is a dead letter, not a write to the persons table');

-- the verdict
SELECT is(sec.escalated(), NULL, 'no role of the suite gained SUPERUSER or another attribute');

SELECT * FROM finish();
SELECT sec.disconnect_all();
