-- Persons, identity and erasure (docs/people.md): person_update's operations and typing,
-- identify / alias with chains and the refusal to merge two identified persons, query-time
-- resolution, and erase_person (delete and anonymise) with a view that stays exact.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
SELECT pulse.create_project('regress_pp');
RESET client_min_messages;

-- no persons tables before the first person operation; person_id resolves an id to itself
SELECT to_regclass('regress_pp._persons') IS NULL AS no_table, pulse.person_id('regress_pp', 'nobody');

-- operations: new properties become columns typed like a collection's fields
SELECT * FROM pulse.person_update('regress_pp', 'u1',
  '{"$set": {"plan": "pro", "signupDate": "2024-03-01", "score": 1.5, "meta": {"a": 1}},
    "$set_once": {"referrer": "ads"}, "$increment": {"logins": 1}, "$append": {"tags": "a"}}');
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'regress_pp._persons'::regclass AND attnum > 0 ORDER BY attnum;
-- set overwrites, set_once keeps, increment adds, append concatenates (a scalar or an array)
SELECT * FROM pulse.person_update('regress_pp', 'u1',
  '{"$set": {"plan": "team"}, "$set_once": {"referrer": "email", "country": "FR"},
    "$increment": {"logins": 2.5}, "$append": {"tags": ["b", "c", "a"]}}');
SELECT _person, plan, signup_date, score, meta, referrer, logins, tags, country, _identified FROM regress_pp._persons;
-- remove takes every occurrence of each value out of an array; unset clears; a null set clears
SELECT person_id FROM pulse.person_update('regress_pp', 'u1',
  '{"$remove": {"tags": "a"}, "$unset": ["Country", "nosuch"], "$set": {"score": null}}');
SELECT plan, score, tags, country FROM regress_pp._persons WHERE _person = 'u1';
-- values that do not fit are rejected fields (the rest of the call is applied)
SELECT * FROM pulse.person_update('regress_pp', 'u1',
  '{"$set": {"signupDate": "yesterday", "_person": "u2", "plan": "max"}, "$increment": {"plan2": "x", "tags": 1},
    "$append": {"plan": "y"}}');
SELECT collection, field, raw_name, raw_value, expected_type, reason, event_user FROM pulse.rejected_fields
 WHERE project = 'regress_pp' ORDER BY id;
SELECT plan, signup_date FROM regress_pp._persons WHERE _person = 'u1';
-- a column takes one operation per call
SELECT rejected_fields FROM pulse.person_update('regress_pp', 'u1', '{"$set": {"logins": 0}, "$increment": {"logins": 1}}');
SELECT logins FROM regress_pp._persons WHERE _person = 'u1';
-- malformed calls
SELECT pulse.person_update('regress_pp', 'u1', '{"$add": {"x": 1}}');
SELECT pulse.person_update('regress_pp', 'u1', '{"$unset": "plan"}');
SELECT pulse.person_update('regress_pp', 'u1', '[1]');
SELECT pulse.person_update('regress_pp', NULL, '{}');
SELECT pulse.person_update('regress_nope', 'u1', '{}');

-- identify: the anonymous person merges into the user's; the user's values win, its NULLs are
-- filled from the anonymous person's; the earlier _created is kept
SELECT person_id FROM pulse.person_update('regress_pp', 'anon1', '{"$set": {"plan": "free", "country": "DE"}, "$append": {"tags": "z"}}');
SELECT pulse.identify('regress_pp', 'anon1', 'u1');
SELECT _person, plan, country, tags, _identified FROM regress_pp._persons ORDER BY 1;
SELECT * FROM regress_pp._person_ids ORDER BY 1;
-- an unknown anonymous id just joins; identify is idempotent
SELECT pulse.identify('regress_pp', 'anon2', 'u1'), pulse.identify('regress_pp', 'anon2', 'u1');
-- chains: alias b -> a, then c -> b: every id resolves to one person (the mapping stays flat)
SELECT pulse.alias('regress_pp', 'a', 'b'), pulse.alias('regress_pp', 'b', 'c'), pulse.alias('regress_pp', 'c', 'd');
SELECT distinct_id, person_id FROM regress_pp._person_ids WHERE person_id = 'a' ORDER BY 1;
SELECT pulse.person_id('regress_pp', 'd'), pulse.person_id('regress_pp', 'unknown');
-- alias does not identify: a's person can still be merged into an identified one
SELECT pulse.identify('regress_pp', 'c', 'u1');
SELECT count(*) AS ids_of_u1 FROM regress_pp._person_ids WHERE person_id = 'u1';
-- two identified persons are not merged (the same anonymous id sent with two users)
SELECT pulse.identify('regress_pp', 'anon9', 'u2');
SELECT pulse.identify('regress_pp', 'anon9', 'u1');
SELECT pulse.alias('regress_pp', 'u1', 'u2');
SELECT pulse.person_id('regress_pp', 'anon9');
-- unless forced: u2's ids and missing properties move to u1
SELECT pulse.identify('regress_pp', 'anon9', 'u1', force => true);
SELECT pulse.person_id('regress_pp', 'anon9'), pulse.person_id('regress_pp', 'u2');
SELECT count(*) AS persons FROM regress_pp._persons;
SELECT pulse.identify('regress_pp', NULL, 'u1');

-- query-time resolution: events of every linked id count for one person
SELECT stored FROM pulse.collect_batch('regress_pp', '
{"_user": "anon1", "_time": "2024-05-01T10:00:00Z", "amount": 10}
{"_user": "u1", "_time": "2024-05-01T11:00:00Z", "amount": 20}
{"_user": "d", "_time": "2024-05-02T10:00:00Z", "amount": 5}
{"_user": "zed", "_time": "2024-05-02T10:00:00Z", "amount": 7}
{"_user": "zed", "_time": "2024-05-03T10:00:00Z", "amount": 8}', 'purchase');
SELECT count(DISTINCT _user) AS ids, count(DISTINCT coalesce(m.person_id, e._user)) AS persons
  FROM regress_pp.purchase e LEFT JOIN regress_pp._person_ids m ON m.distinct_id = e._user;

-- erasure: every event of every id of the person, in every collection; the view stays exact
SELECT stored FROM pulse.collect('regress_pp', 'page', '{"_user": "anon2", "url": "/a"}');
SELECT stored FROM pulse.collect('regress_pp', 'page', '{"_user": "zed", "url": "/b"}');
SELECT pulse.create_view('regress_pp', 'revenue', 'SELECT _user, sum(amount) AS total, count(*) AS n FROM purchase GROUP BY _user', 'incremental', '1 hour');
SELECT * FROM regress_pp.revenue ORDER BY 1;
SELECT pulse.erase_person('regress_pp', 'anon9');
SELECT (SELECT count(*) FROM regress_pp.purchase) AS purchases, (SELECT count(*) FROM regress_pp.page) AS pages,
       (SELECT count(*) FROM regress_pp._persons) AS persons, (SELECT count(*) FROM regress_pp._person_ids) AS ids;
SELECT pulse.refresh_view('regress_pp', 'revenue');
SELECT * FROM regress_pp.revenue ORDER BY 1;
(SELECT * FROM regress_pp.revenue EXCEPT SELECT _user, sum(amount), count(*) FROM regress_pp.purchase GROUP BY _user)
UNION ALL
(SELECT _user, sum(amount), count(*) FROM regress_pp.purchase GROUP BY _user EXCEPT SELECT * FROM regress_pp.revenue);
SELECT count(*) AS rejected_of_u1 FROM pulse.rejected_fields WHERE project = 'regress_pp' AND event_user = 'u1';
-- anonymise: the events stay under one fresh pseudonym, the person and its ids go
SELECT pulse.erase_person('regress_pp', 'zed', anonymise => true);
SELECT count(*) AS events, count(DISTINCT _user) AS users, bool_and(_user LIKE 'erased:%') AS pseudonymous
  FROM (SELECT _user FROM regress_pp.purchase WHERE amount IN (7, 8) UNION ALL SELECT _user FROM regress_pp.page) s;
SELECT pulse.refresh_view('regress_pp', 'revenue');
SELECT total, n, _user LIKE 'erased:%' AS pseudonymous FROM regress_pp.revenue ORDER BY 1;
SELECT pulse.erase_person('regress_pp', '');

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_pp', force => true);
RESET client_min_messages;
DROP EXTENSION pg_pulse;
