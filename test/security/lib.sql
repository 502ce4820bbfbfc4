-- Shared set-up of the security suite (test/security/README.md). Included with \ir by every
-- file; idempotent. The file itself runs as a superuser (the victim whose reads must stay
-- safe); attacks run in real login sessions of other roles, opened with dblink.
\set QUIET 1
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
CREATE SCHEMA IF NOT EXISTS sec;

-- Login roles: a writer and a reader of project sec_p, a writer of project sec_q, a delegated
-- administrator (pulse_admin, not superuser) and a role with no grant at all.
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['sec_w', 'sec_r', 'sec_qw', 'sec_admin', 'sec_nobody'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I LOGIN', r);
    END IF;
  END LOOP;
END $$;
GRANT pulse_admin TO sec_admin;

-- The connection string of a login session of role r to this database (the test cluster's
-- socket directory and port).
CREATE OR REPLACE FUNCTION sec.conninfo(r text) RETURNS text LANGUAGE sql AS $$
  SELECT format('host=%s port=%s dbname=%s user=%s application_name=sec_%s',
                split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'),
                current_database(), r, r)
$$;

-- Runs sql (statements that return no rows) in the login session of role r (opened on first
-- use, kept for the whole file so its temporary objects live on while the superuser reads).
-- Errors come back with their SQLSTATE.
CREATE OR REPLACE FUNCTION sec.as_role(r text, sql text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF NOT (r = ANY (coalesce(dblink_get_connections(), '{}'))) THEN
    PERFORM dblink_connect(r, sec.conninfo(r));
  END IF;
  PERFORM dblink_exec(r, sql);
END $$;

-- The first column of the first row of sql (a query of one column) run as role r, as text.
CREATE OR REPLACE FUNCTION sec.value_as(r text, sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
  IF NOT (r = ANY (coalesce(dblink_get_connections(), '{}'))) THEN
    PERFORM dblink_connect(r, sec.conninfo(r));
  END IF;
  SELECT x INTO v FROM dblink(r, sql) AS t(x text);
  RETURN v;
END $$;

-- The same in database db (connection named r@db).
CREATE OR REPLACE FUNCTION sec.value_in(db text, r text, sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
  IF NOT (r || '@' || db = ANY (coalesce(dblink_get_connections(), '{}'))) THEN
    PERFORM dblink_connect(r || '@' || db, replace(sec.conninfo(r), 'dbname=' || current_database(), 'dbname=' || db));
  END IF;
  SELECT x INTO v FROM dblink(r || '@' || db, sql) AS t(x text);
  RETURN v;
END $$;

-- Closes every login session of this file (their temporary objects go with them).
CREATE OR REPLACE FUNCTION sec.disconnect_all() RETURNS void LANGUAGE plpgsql AS $$
DECLARE c text;
BEGIN
  FOREACH c IN ARRAY coalesce(dblink_get_connections(), '{}') LOOP
    PERFORM dblink_disconnect(c);
  END LOOP;
END $$;

-- What no attack may change: no login or project role of the suite became superuser or gained
-- attributes.
CREATE OR REPLACE FUNCTION sec.escalated() RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(rolname, ', ' ORDER BY rolname) FROM pg_roles
   WHERE (rolname IN ('sec_w', 'sec_r', 'sec_qw', 'sec_admin', 'sec_nobody') OR rolname ~ '^sec_[pq]_(reader|writer)$')
     AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication)
$$;

-- Side effects of the attack functions: each one, when it runs, writes the role it ran as here
-- (a table everyone may insert into), besides trying to become superuser.
CREATE TABLE IF NOT EXISTS sec.ran_as (what text, role name, at timestamptz DEFAULT clock_timestamp());
GRANT USAGE ON SCHEMA sec TO PUBLIC;
GRANT INSERT, SELECT ON sec.ran_as TO PUBLIC;

-- The projects (fresh for each file).
SELECT pulse.drop_project(name, force => true) FROM pulse.projects WHERE name IN ('sec_p', 'sec_q');
SELECT pulse.create_project('sec_p');
SELECT pulse.create_project('sec_q');
GRANT sec_p_writer TO sec_w;
GRANT sec_p_reader TO sec_r;
GRANT sec_q_writer TO sec_qw;
SELECT pulse.collect_batch('sec_p', '{"_user": "u1", "x": 1, "s": "a"}
{"_user": "u2", "x": 2, "s": "b"}
{"_user": "u1", "x": 3, "s": "a"}', 'ev');
SELECT pulse.collect('sec_q', 'secret', '{"_user": "q1", "token": "q-secret"}');
TRUNCATE sec.ran_as;
\unset QUIET
