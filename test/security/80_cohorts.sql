-- Person-level analytics and cohorts under attack (docs/people.md#cohorts): the project's writer
-- puts its temporary and schema-owned functions and operators, another project's tables and
-- catalogs into cohort queries (analysed as the writer, trusted objects only, like view
-- queries); plants a function that a person property of a hostile search_path would resolve
-- to; another project's writer and the project's reader try to create, refresh and drop
-- cohorts and to read the persons and cohorts through the insights. The insights run as their
-- caller: the superuser of this file and the reader are the victims.
\ir lib.sql
DROP SCHEMA IF EXISTS sec_w_own CASCADE;
CREATE SCHEMA sec_w_own AUTHORIZATION sec_w;
GRANT USAGE ON SCHEMA sec_w_own TO PUBLIC;
SELECT plan(24);

SELECT pulse.identify('sec_p', 'anon', 'u1');
SELECT pulse.person_update('sec_p', 'u1', '{"$set": {"plan": "pro"}}');
SELECT pulse.person_update('sec_p', 'u2', '{"$set": {"plan": "free"}}');
SELECT pulse.person_update('sec_q', 'q1', '{"$set": {"token": "q-secret"}}');
SELECT pulse.collect_batch('sec_p', '{"_user": "anon", "_time": "2024-05-01T10:00:00Z"}
{"_user": "u1", "_time": "2024-05-02T10:00:00Z"}
{"_user": "u2", "_time": "2024-05-02T11:00:00Z"}', 'visit');

-- The writer's weapons: a temporary function and operator, a function in its own schema, and a
-- function named like a person property over the persons' row type.
SELECT sec.as_role('sec_w', $$
  CREATE FUNCTION pg_temp.evil(text) RETURNS text LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('temp function', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN $1;
  END $f$;
  CREATE FUNCTION pg_temp.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $f$
  BEGIN RETURN pg_temp.evil($1) = $2; END $f$;
  CREATE OPERATOR pg_temp.=~= (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_temp.eq);
  CREATE FUNCTION sec_w_own.evil(text) RETURNS text LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('schema function', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN $1;
  END $f$;
  CREATE FUNCTION sec_w_own.tier(sec_p._persons) RETURNS text LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('person property function', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN 'x';
  END $f$;
$$);

-- 1. cohort queries: only trusted objects, only what the writer may read
SELECT throws_ok(format($$SELECT sec.as_role('sec_w', %L)$$, format('SELECT pulse.create_cohort(''sec_p'', ''c'', %L)', q)),
                 '42501', NULL, 'a cohort query with ' || what)
  FROM (VALUES ('a temporary function', 'SELECT pg_temp.evil(_user) FROM visit'),
               ('a temporary function in WHERE', 'SELECT _user FROM visit WHERE pg_temp.evil(_user) IS NOT NULL'),
               ('a temporary operator', 'SELECT _user FROM visit WHERE _user OPERATOR(pg_temp.=~=) ''u1'''),
               ('a function in a schema of the writer', 'SELECT sec_w_own.evil(_user) FROM visit'),
               ('another project''s collection', 'SELECT _user FROM sec_q.secret'),
               ('another project''s persons', 'SELECT _person FROM sec_q._persons'),
               ('a catalog the writer may not read', 'SELECT rolname::text FROM pg_authid')) AS a(what, q);
SELECT is((SELECT count(*)::int FROM pulse.cohort_registry WHERE project = 'sec_p'), 0, 'no cohort was created by the refused calls');

-- 2. only the project's writers create, refresh, alter and drop its cohorts
SELECT is(sec.value_as('sec_w', $$SELECT pulse.create_cohort('sec_p', 'pros', 'SELECT _person FROM _persons WHERE plan = ''pro''')::text$$),
          '1', 'the writer creates a cohort over its persons');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT pulse.create_cohort(''sec_p'', ''c2'', ''SELECT _user FROM visit'')')$$,
                 '42501', NULL, 'a writer of another project cannot create a cohort');
SELECT throws_ok($$SELECT sec.as_role('sec_r', 'SELECT pulse.create_cohort(''sec_p'', ''c2'', ''SELECT _user FROM visit'')')$$,
                 '42501', NULL, 'nor can a reader');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT pulse.refresh_cohort(''sec_p'', ''pros'')')$$,
                 '42501', NULL, 'a writer of another project cannot refresh it');
SELECT throws_ok($$SELECT sec.as_role('sec_r', 'SELECT pulse.drop_cohort(''sec_p'', ''pros'')')$$,
                 '42501', NULL, 'a reader cannot drop it');
SELECT throws_ok($$SELECT sec.as_role('sec_r', 'SELECT pulse.alter_cohort(''sec_p'', ''pros'', ''1 minute'')')$$,
                 '42501', NULL, 'nor schedule it');

-- 3. readers use persons and cohorts; readers of other projects see neither
SELECT is(sec.value_as('sec_r', $$SELECT string_agg(breakdown || '=' || value, ',' ORDER BY breakdown)
  FROM pulse.trends('sec_p', '{"collection": "visit"}', '2024-05-01', '2024-05-08', 'week', 'unique_users', breakdown => 'person.plan')
 WHERE value > 0$$), 'free=1,pro=1', 'the reader breaks down by a person property (anon and u1 are one person)');
SELECT is(sec.value_as('sec_r', $$SELECT sum(value)::text
  FROM pulse.trends('sec_p', '{"collection": "visit"}', '2024-05-01', '2024-05-08', 'week', 'count', cohort => 'pros')$$),
          '2', 'the reader filters by a cohort');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT * FROM pulse.trends(''sec_p'', ''{"collection": "visit"}'', ''2024-05-01'', ''2024-05-08'', breakdown => ''person.plan'')')$$,
                 '42501', NULL, 'a writer of another project cannot break down by its persons');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT * FROM pulse.trends(''sec_q'', ''{"collection": "secret"}'', ''2024-05-01'', ''2024-05-08'', cohort => ''pros'')')$$,
                 '42704', NULL, 'nor use its cohort in its own project');
SELECT throws_ok($$SELECT sec.as_role('sec_qw', 'SELECT * FROM sec_p.cohort_pros')$$,
                 '42501', NULL, 'nor read the cohort''s view');
SELECT is(sec.value_as('sec_qw', $$SELECT count(*)::text FROM pulse.cohorts WHERE project = 'sec_p'$$), '0',
          'pulse.cohorts hides the other project''s cohorts');

-- 4. a hostile search_path: a person property is a column of the persons table, never the
-- writer's function of the same name (the victim is the superuser)
SET search_path = sec_w_own, public, pg_catalog;
SELECT throws_ok($$SELECT * FROM pulse.trends('sec_p', '{"collection": "visit"}', '2024-05-01', '2024-05-08', breakdown => 'person.tier')$$,
                 '42703', NULL, 'a breakdown by a missing person property is refused, not resolved to a function');
SELECT throws_ok($$SELECT * FROM pulse.funnel('sec_p', '[{"collection": "visit"}]', '2024-05-01', '2024-05-08', breakdown => 'person.plan || sec_w_own.evil(person.plan)')$$,
                 '22023', NULL, 'a person property breakdown cannot carry code');
RESET search_path;
SELECT is((SELECT string_agg(DISTINCT what || ':' || role, ',') FROM sec.ran_as WHERE role <> 'sec_w'), NULL,
          'the writer''s functions never ran as anyone else');

-- the verdict
SELECT is(sec.escalated(), NULL, 'no role of the suite gained SUPERUSER or another attribute');

SELECT * FROM finish();
SELECT sec.disconnect_all();
