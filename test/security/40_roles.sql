-- A hostile delegated administrator (member of pulse_admin, not superuser) against project
-- roles: create_project adopts only roles pg_pulse created (or, when a superuser asks, plain
-- NOLOGIN roles), never a role with attributes or other memberships; drop_project drops only
-- the roles its project created, and only while they are still plain project roles.
\ir lib.sql
SELECT plan(28);
-- a second database with pg_pulse (roles are cluster-wide, projects per database)
SELECT dblink_exec(sec.conninfo('postgres'), 'DROP DATABASE IF EXISTS sec_other');
SELECT dblink_exec(sec.conninfo('postgres'), 'CREATE DATABASE sec_other');
SELECT sec.value_in('sec_other', 'postgres', 'CREATE EXTENSION pg_pulse; SELECT 1::text');

CREATE OR REPLACE FUNCTION sec.cleanup_roles() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  PERFORM pulse.drop_project(name, force => true) FROM pulse.projects WHERE name LIKE 'sec\_r\_%';
  FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'sec\_r\_%' OR rolname = 'sec_app_table_owner' LOOP
    EXECUTE format('DROP OWNED BY %I', r);
    EXECUTE format('DROP ROLE %I', r);
  END LOOP;
END $$;
SET client_min_messages = error;
SELECT sec.cleanup_roles();
RESET client_min_messages;

-- an application's LOGIN role that happens to be named like a project's writer, holding
-- privileges on another schema's table
CREATE ROLE sec_r_billing_writer LOGIN;
CREATE TABLE sec.invoices (id int);
GRANT SELECT, INSERT ON sec.invoices TO sec_r_billing_writer;
SELECT throws_ok($$SELECT sec.value_as('sec_admin', 'SELECT pulse.create_project(''sec_r_billing'')::text')$$,
                 '42710', NULL, 'pulse_admin cannot create a project over an application''s LOGIN role');
SELECT throws_ok($$SELECT pulse.create_project('sec_r_billing', adopt_roles => true)$$,
                 '42710', NULL, 'nor can a superuser adopt a role with LOGIN');
SELECT ok(has_table_privilege('sec_r_billing_writer', 'sec.invoices', 'INSERT'), 'the application role keeps its privileges');

-- plain NOLOGIN roles pg_pulse did not create: only a superuser adopts them, explicitly
CREATE ROLE sec_r_plain_reader NOLOGIN;
CREATE ROLE sec_r_plain_writer NOLOGIN;
GRANT SELECT ON sec.invoices TO sec_r_plain_reader;
SELECT throws_ok($$SELECT sec.value_as('sec_admin', 'SELECT pulse.create_project(''sec_r_plain'')::text')$$,
                 '42710', NULL, 'pulse_admin does not adopt roles pg_pulse did not create');
SELECT throws_ok($$SELECT sec.value_as('sec_admin', 'SELECT pulse.create_project(''sec_r_plain'', adopt_roles => true)::text')$$,
                 '42501', NULL, 'not even when asking for it');
SELECT lives_ok($$SELECT pulse.create_project('sec_r_plain', adopt_roles => true)$$, 'a superuser adopts them explicitly');
SELECT lives_ok($$SELECT sec.value_as('sec_admin', 'SELECT pulse.drop_project(''sec_r_plain'', force => true)::text')$$,
                'pulse_admin drops the project');
SELECT is((SELECT count(*)::int FROM pg_roles WHERE rolname IN ('sec_r_plain_reader', 'sec_r_plain_writer')), 2,
          'the adopted roles are kept');
SELECT ok(has_table_privilege('sec_r_plain_reader', 'sec.invoices', 'SELECT'), 'with their own privileges');

-- roles with attributes or other memberships are never adopted
CREATE ROLE sec_r_super_writer SUPERUSER NOLOGIN;
SELECT throws_ok($$SELECT pulse.create_project('sec_r_super', adopt_roles => true)$$, '42710', NULL,
                 'a SUPERUSER role is never adopted');
CREATE ROLE sec_r_crole_reader CREATEROLE NOLOGIN;
SELECT throws_ok($$SELECT pulse.create_project('sec_r_crole', adopt_roles => true)$$, '42710', NULL,
                 'nor a CREATEROLE one');
CREATE ROLE sec_r_member_reader NOLOGIN IN ROLE pg_read_all_data;
SELECT throws_ok($$SELECT pulse.create_project('sec_r_member', adopt_roles => true)$$, '42710', NULL,
                 'nor one with a membership beyond the project''s');
SELECT ok(NOT EXISTS (SELECT FROM pulse.projects WHERE name IN ('sec_r_super', 'sec_r_crole', 'sec_r_member')),
          'no project came of it');

-- roles pg_pulse created: dropped with their project, unless they were changed meanwhile
SELECT lives_ok($$SELECT sec.value_as('sec_admin', 'SELECT pulse.create_project(''sec_r_own'')::text')$$,
                'pulse_admin creates a project with new roles');
SELECT lives_ok($$SELECT sec.value_as('sec_admin', 'SELECT pulse.drop_project(''sec_r_own'')::text')$$, 'and drops it');
SELECT is((SELECT count(*)::int FROM pg_roles WHERE rolname LIKE 'sec\_r\_own\_%'), 0, 'its roles are gone');
SELECT sec.value_as('sec_admin', 'SELECT pulse.create_project(''sec_r_own'')::text');
ALTER ROLE sec_r_own_writer CREATEDB;
SELECT lives_ok($$SELECT sec.value_as('sec_admin', 'SET client_min_messages = error; SELECT pulse.drop_project(''sec_r_own'')::text')$$,
                'dropping a project whose writer gained an attribute');
SELECT is((SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'sec\_r\_own\_%'),
          'sec_r_own_writer', 'keeps that role (the unchanged reader goes)');

-- the roles pg_pulse created are recognised by pg_pulse in another database: it adopts them
-- there, and neither database drops them while the other still uses them
SELECT sec.value_as('sec_admin', 'SELECT pulse.create_project(''sec_r_multi'')::text');
SELECT lives_ok($$SELECT sec.value_in('sec_other', 'sec_admin', 'SELECT pulse.create_project(''sec_r_multi'')::text')$$,
                'pulse_admin adopts in another database the roles pg_pulse created');
SELECT lives_ok($$SELECT sec.value_as('sec_admin', 'SET client_min_messages = error; SELECT pulse.drop_project(''sec_r_multi'')::text')$$,
                'dropping the project where its roles were created');
SELECT is((SELECT count(*)::int FROM pg_roles WHERE rolname LIKE 'sec\_r\_multi\_%'), 2, 'keeps the roles the other database uses');
SELECT is(sec.value_in('sec_other', 'postgres', 'SELECT (pulse.collect(''sec_r_multi'', ''ev'', ''{"x": 1}'')).stored::text'), '1',
          'and the other database''s project still works');
SELECT sec.value_in('sec_other', 'sec_admin', 'SELECT pulse.drop_project(''sec_r_multi'', force => true)::text');
SELECT is((SELECT count(*)::int FROM pg_roles WHERE rolname LIKE 'sec\_r\_multi\_%'), 2,
          'nor does the database that adopted them drop them');
SELECT ok((SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = 'sec_admin') IS FALSE, 'sec_admin is no superuser');
SELECT is(sec.escalated(), NULL, 'no role of the suite gained SUPERUSER or another attribute');

SET client_min_messages = error;
SELECT sec.cleanup_roles();
DROP TABLE sec.invoices;
RESET client_min_messages;
-- pulse.projects: a role sees the projects it reads, pulse_admin all, others none
SELECT is(sec.value_as('sec_r', $$SELECT string_agg(name, ',' ORDER BY name) FROM pulse.projects WHERE name IN ('sec_p', 'sec_q')$$),
          'sec_p', 'a reader sees its project in pulse.projects, not the others');
SELECT is(sec.value_as('sec_nobody', 'SELECT count(*)::text FROM pulse.projects'), '0',
          'a role that reads no project sees none');
SELECT is(sec.value_as('sec_admin', $$SELECT count(*)::text FROM pulse.projects WHERE name IN ('sec_p', 'sec_q')$$), '2',
          'pulse_admin sees every project');

SELECT * FROM finish();
SELECT sec.disconnect_all();
SELECT dblink_exec(sec.conninfo('postgres'), 'DROP DATABASE sec_other');
SET client_min_messages = error;
SELECT sec.cleanup_roles();
