-- Persons on first sight (docs/people.md#persons-on-first-sight) and per-collection event specs.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
SET timezone = 'UTC';
SELECT pulse.create_project('regress_ps');
-- every distinct _user of a call gets its mapping and person row (numbers as text, no NULL / '')
SELECT stored FROM pulse.collect_batch('regress_ps', '{"_user": "a", "x": 1}
{"_user": "b", "x": 2}
{"_user": "a", "x": 3}
{"_user": 42}
{"_user": ""}
{"x": 4}', 'ev');
SELECT distinct_id, person_id FROM regress_ps._person_ids ORDER BY 1;
SELECT _person, _identified FROM regress_ps._persons ORDER BY 1;
-- a rolled-back call leaves nothing, and the next call creates the person (the cache does not
-- keep ids of aborted transactions)
BEGIN;
SELECT stored FROM pulse.collect('regress_ps', 'ev', '{"_user": "c"}');
ROLLBACK;
SELECT count(*) FROM regress_ps._person_ids WHERE distinct_id = 'c';
SELECT stored FROM pulse.collect('regress_ps', 'ev', '{"_user": "c"}');
SELECT count(*) FROM regress_ps._person_ids WHERE distinct_id = 'c';
-- an erased person comes back when its id is seen again (the erasure invalidates the cache)
SELECT pulse.erase_person('regress_ps', 'b');
SELECT stored FROM pulse.collect('regress_ps', 'ev', '{"_user": "b"}');
SELECT distinct_id, person_id FROM regress_ps._person_ids WHERE distinct_id = 'b';
-- ids mapped in a savepoint that rolls back (also one released into a savepoint that then rolls
-- back) are not taken for known: after the commit, the next call creates their persons
BEGIN;
SAVEPOINT s;
SELECT stored FROM pulse.collect('regress_ps', 'ev', '{"_user": "d"}');
ROLLBACK TO s;
SAVEPOINT a;
SAVEPOINT b;
SELECT stored FROM pulse.collect('regress_ps', 'ev', '{"_user": "e"}');
RELEASE b;
ROLLBACK TO a;
SELECT stored FROM pulse.collect('regress_ps', 'ev', '{"_user": "g"}');
COMMIT;
SELECT distinct_id FROM regress_ps._person_ids WHERE distinct_id IN ('d', 'e', 'g') ORDER BY 1;
SELECT stored FROM pulse.collect_batch('regress_ps', '{"_user": "d"}
{"_user": "e"}
{"_user": "g"}', 'ev');
SELECT distinct_id FROM regress_ps._person_ids WHERE distinct_id IN ('d', 'e', 'g') ORDER BY 1;
-- an id mapped, then erased in the same transaction, is not taken for known either
BEGIN;
SELECT stored FROM pulse.collect('regress_ps', 'ev', '{"_user": "f"}');
SELECT pulse.erase_person('regress_ps', 'f');
COMMIT;
SELECT count(*) FROM regress_ps._person_ids WHERE distinct_id = 'f';
SELECT stored FROM pulse.collect('regress_ps', 'ev', '{"_user": "f"}');
SELECT distinct_id, person_id FROM regress_ps._person_ids WHERE distinct_id = 'f';
-- a Segment call with userId and anonymousId: one person, no merge of two new persons
SELECT stored FROM pulse.collect('regress_ps', NULL,
  '{"type": "track", "event": "Signed Up", "userId": "u9", "anonymousId": "an9", "timestamp": "2024-01-01T00:00:00Z"}',
  spec => 'segment');
SELECT distinct_id, person_id FROM regress_ps._person_ids WHERE distinct_id IN ('u9', 'an9') ORDER BY 1;
-- the backend knows the link is made: the same call again runs no link statement, a new link
-- one (counted by pg_stat_xact_user_functions)
SET track_functions = 'pl';
BEGIN;
SELECT stored FROM pulse.collect('regress_ps', NULL,
  '{"type": "track", "event": "Signed Up", "userId": "u9", "anonymousId": "an9", "timestamp": "2024-01-01T00:00:00Z"}',
  spec => 'segment');
SELECT coalesce(sum(calls), 0) AS link_calls FROM pg_stat_xact_user_functions WHERE funcname = '_person_link_many';
SELECT stored FROM pulse.collect('regress_ps', NULL,
  '{"type": "track", "event": "Signed Up", "userId": "u10", "anonymousId": "an10", "timestamp": "2024-01-01T00:00:00Z"}',
  spec => 'segment');
SELECT coalesce(sum(calls), 0) AS link_calls FROM pg_stat_xact_user_functions WHERE funcname = '_person_link_many';
COMMIT;
RESET track_functions;
-- an erasure makes every backend forget the links it knows: the link is made again
SELECT pulse.erase_person('regress_ps', 'u9') > 0 AS erased;
SELECT stored FROM pulse.collect('regress_ps', NULL,
  '{"type": "track", "event": "Signed Up", "userId": "u9", "anonymousId": "an9", "timestamp": "2024-01-01T00:00:00Z"}',
  spec => 'segment');
SELECT distinct_id, person_id FROM regress_ps._person_ids WHERE distinct_id IN ('u9', 'an9') ORDER BY 1;
-- an anonymous id seen alone first is a person; its later link merges it into the user's
-- (set-based: nothing of it to keep but the earlier _created), unless it has properties
SELECT stored FROM pulse.collect_batch('regress_ps', '{"_user": "an7", "_time": "2024-01-01T00:00:00Z"}
{"_user": "an8"}', 'ev');
SELECT person_id FROM pulse.person_update('regress_ps', 'an8', '{"$set": {"plan": "free"}}');
UPDATE regress_ps._persons SET _created = '2020-01-01' WHERE _person = 'an7';
SELECT stored FROM pulse.collect_batch('regress_ps', '{"batch": [{"type": "track", "event": "Signed Up", "userId": "u7", "anonymousId": "an7", "timestamp": "2024-01-02T00:00:00Z"}, {"type": "track", "event": "Signed Up", "userId": "u8", "anonymousId": "an8", "timestamp": "2024-01-02T00:00:00Z"}]}',
  spec => 'segment');
SELECT distinct_id, person_id FROM regress_ps._person_ids WHERE distinct_id IN ('u7', 'an7', 'u8', 'an8') ORDER BY 1;
SELECT _person, _created = '2020-01-01' AS kept_created, plan, _identified FROM regress_ps._persons
 WHERE _person IN ('u7', 'an7', 'u8', 'an8') ORDER BY 1;
-- new ids are written through the table routines, which fire no trigger: pg_pulse's own trigger
-- records nothing for a mapping to itself (so it is not called), and a mapping table with any
-- other INSERT trigger (added by a superuser) takes the rows in SQL, which fires it
SET track_functions = 'all';
BEGIN;
SELECT stored FROM pulse.collect_batch('regress_ps', '{"_user": "n1"}
{"_user": "n2"}', 'ev');
SELECT coalesce(sum(calls), 0) AS trigger_calls FROM pg_stat_xact_user_functions WHERE funcname = '_person_ids_written';
SELECT distinct_id, person_id, _person IS NOT NULL AS has_row, _created = now() AS created_now, _identified
  FROM regress_ps._person_ids JOIN regress_ps._persons ON _person = person_id WHERE distinct_id IN ('n1', 'n2') ORDER BY 1;
COMMIT;
RESET track_functions;
CREATE TABLE regress_ps_seen (id text);
CREATE FUNCTION regress_ps_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.regress_ps_seen VALUES (NEW.distinct_id); RETURN NEW; END $$;
CREATE TRIGGER log AFTER INSERT ON regress_ps._person_ids FOR EACH ROW EXECUTE FUNCTION regress_ps_log();
SELECT stored FROM pulse.collect_batch('regress_ps', '{"_user": "n3"}
{"_user": "n4"}
{"_user": "n1"}', 'ev');
SELECT id FROM regress_ps_seen ORDER BY 1;
SELECT distinct_id, person_id FROM regress_ps._person_ids WHERE distinct_id IN ('n3', 'n4') ORDER BY 1;
DROP TRIGGER log ON regress_ps._person_ids;
DROP TABLE regress_ps_seen;
DROP FUNCTION regress_ps_log();
-- switched off: no new persons
SELECT pulse.set_track_persons('regress_ps', false);
SELECT stored FROM pulse.collect('regress_ps', 'ev', '{"_user": "d"}');
SELECT count(*) FROM regress_ps._person_ids WHERE distinct_id = 'd';
SELECT pulse.set_track_persons('regress_ps', NULL);
SELECT pulse.set_track_persons('regress_ps', true);
SELECT track_persons FROM pulse.projects WHERE name = 'regress_ps';

-- a collection's event spec: used by calls naming it and no spec; the call's spec wins; other
-- collections keep the project's
SELECT pulse.create_collection('regress_ps', 'audit');
SELECT pulse.set_event_spec('regress_ps', '{"time": "at", "user": "actor.login", "id": "uid"}', collection => 'audit');
SELECT pulse.set_event_spec('regress_ps', '{"user": "who"}', collection => 'nope');
SELECT pulse.set_event_spec('regress_ps', 'bogus', collection => 'audit');
SELECT stored FROM pulse.collect('regress_ps', 'audit', '{"at": "2024-05-06T10:00:00Z", "actor": {"login": "e"}, "uid": "a-1", "k": 1}');
SELECT stored FROM pulse.collect_batch('regress_ps', '{"at": "2024-05-07T10:00:00Z", "actor": {"login": "f"}, "uid": "a-2", "k": 2}', 'audit');
SELECT stored FROM pulse.collect('regress_ps', 'audit', '{"_user": "g", "_id": "a-3", "k": 3}', spec => 'pulse');
SELECT CASE WHEN k < 3 THEN _time::text ELSE 'arrival' END AS _time, _user, _id, k FROM regress_ps.audit ORDER BY k;
SELECT stored FROM pulse.collect('regress_ps', 'ev', '{"actor": {"login": "h"}}');
SELECT count(*) FROM regress_ps.ev WHERE _user IS NULL AND actor IS NOT NULL;
SELECT name, event_spec FROM pulse.collection_registry WHERE project = 'regress_ps' ORDER BY name;
SELECT pulse.set_event_spec('regress_ps', NULL, collection => 'audit');
SELECT name, event_spec FROM pulse.collection_registry WHERE project = 'regress_ps' AND name = 'audit';

-- dead letters of a spec's mapping keep the spec and are replayed through it (here fixed first)
SELECT dead_lettered FROM pulse.collect_batch('regress_ps', '{"type": "trak", "event": "Replayed", "userId": "u10"}', spec => 'segment');
SELECT collection, spec, error FROM pulse.dead_letters WHERE project = 'regress_ps' ORDER BY id;
UPDATE pulse.dead_letters SET payload = convert_to(replace(convert_from(payload, 'UTF8'), 'trak', 'track'), 'UTF8')
 WHERE project = 'regress_ps';
SELECT stored, dead_lettered FROM pulse.replay_dead_letters('regress_ps');
SELECT _user FROM regress_ps.replayed;
SELECT count(*) FROM regress_ps._person_ids WHERE distinct_id = 'u10';
-- those of the write path are in pg_pulse's dialect (no spec) and replay as such
SELECT pulse.create_collection('regress_ps', 'strict', '{"n": "integer"}');
SELECT stored, dead_lettered FROM pulse.collect('regress_ps', 'strict', '{"who": "u11", "n": 1, "_time": "not a time"}', spec => '{"user": "who"}');
SELECT collection, spec, convert_from(payload, 'UTF8') AS payload FROM pulse.dead_letters WHERE project = 'regress_ps' ORDER BY id;

-- ids too long to be persons (over 1024 bytes): their events are stored and the chunk's other
-- ids become persons; person operations and links refuse them, and an empty id
SELECT stored FROM pulse.collect_batch('regress_ps', (SELECT string_agg(format('{"_user": "%s", "k": %s}',
         CASE WHEN g = 2 THEN (SELECT string_agg(md5(g::text || k::text), '') FROM generate_series(1, 100) k) ELSE 'long-' || g END, g), E'\n')
         FROM generate_series(1, 3) g), 'longids');
SELECT count(*) AS events, max(length(_user)) AS longest FROM regress_ps.longids;
SELECT distinct_id FROM regress_ps._person_ids WHERE distinct_id LIKE 'long-%' OR length(distinct_id) > 1024 ORDER BY 1;
\set VERBOSITY terse
SELECT pulse.person_update('regress_ps', repeat('z', 1025), '{"$set": {"a": 1}}');
SELECT pulse.person_update('regress_ps', '', '{"$set": {"a": 1}}');
SELECT pulse.identify('regress_ps', repeat('z', 1025), 'long-1');
SELECT pulse.alias('regress_ps', 'long-1', repeat('z', 1025));
\set VERBOSITY default
SELECT (pulse.person_update('regress_ps', repeat('z', 1024), '{"$set": {"a": 1}}')).person_id = repeat('z', 1024) AS updated;
SELECT pulse.drop_project('regress_ps', force => true);
