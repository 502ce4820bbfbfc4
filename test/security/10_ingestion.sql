-- A hostile writer of project sec_p against the SECURITY DEFINER ingestion functions
-- (collect, collect_batch, create_collection, replay_dead_letters): every object it can create
-- (temporary and schema-owned functions, domains with CHECKs, types, operators, casts, tables
-- shadowing catalog and collection names, search_path settings) is either refused or runs as
-- the writer; the writer gains nothing.
\ir lib.sql
DROP SCHEMA IF EXISTS sec_w_own CASCADE;
-- a schema of the writer's own (CREATE granted on a database-level schema, as applications do)
CREATE SCHEMA sec_w_own AUTHORIZATION sec_w;
SELECT plan(50);

-- The writer's weapons, in its own login session: code that records who ran it and tries to
-- make the writer a superuser.
SELECT sec.as_role('sec_w', $$
  CREATE FUNCTION pg_temp.evil(anyelement) RETURNS boolean LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('temp function', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN true;
  END $f$;
  CREATE DOMAIN pg_temp.evil_int AS double precision CHECK (pg_temp.evil(VALUE));
  CREATE TYPE pg_temp.evil_enum AS ENUM ('a', 'b');
  CREATE FUNCTION pg_temp.to_enum(double precision) RETURNS pg_temp.evil_enum LANGUAGE plpgsql AS $f$
  BEGIN PERFORM pg_temp.evil(1); RETURN 'a'; END $f$;
  CREATE CAST (double precision AS pg_temp.evil_enum) WITH FUNCTION pg_temp.to_enum(double precision) AS ASSIGNMENT;
$$);
SELECT sec.as_role('sec_w', $$
  CREATE FUNCTION sec_w_own.evil(double precision) RETURNS boolean LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('schema function', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN true;
  END $f$;
  CREATE DOMAIN sec_w_own.evil_dom AS double precision CHECK (sec_w_own.evil(VALUE));
$$);

-- 1. declared column types
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_collection(''sec_p'', ''c1'', ''{"x": "pg_temp.evil_int"}'')')$$,
                 '42501', NULL, 'create_collection refuses a temporary domain');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_collection(''sec_p'', ''c1'', ''{"x": "evil_int"}'')')$$,
                 '42501', NULL, 'an unqualified name that only resolves to a temporary domain is refused too');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_collection(''sec_p'', ''c1'', ''{"x": "pg_temp.evil_enum"}'')')$$,
                 '42501', NULL, 'and a temporary enum (with the writer''s cast to it)');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_collection(''sec_p'', ''c1'', ''{"x": "pg_temp.evil_int[]"}'')')$$,
                 '42501', NULL, 'and an array of a temporary domain');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.create_collection(''sec_p'', ''c1'', ''{"x": "sec_w_own.evil_dom"}'')')$$,
                 '42501', NULL, 'and a domain in a schema the writer owns');
SELECT is(sec.value_as('sec_w', $$SELECT count(*) FROM pg_class WHERE relname = 'c1' AND relnamespace = 'sec_p'::regnamespace$$),
          '0', 'no collection was created by the refused calls');
-- had one of them been accepted, this is where its domain check would have run (as the owner)
SELECT is(sec.value_as('sec_w', $$SELECT (pulse.collect('sec_p', 'c1', '{"x": 1}')).stored::text$$), '1',
          'events into that name are stored (in a collection of built-in types)');
SELECT lives_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.create_collection(''sec_p'', ''c3'', ''{"x": "numeric(10,2)", "t": "text[]"}'')')$$,
                'built-in types are accepted');

-- 2. the collections themselves cannot carry the writer's code
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'ALTER TABLE sec_p.ev ALTER COLUMN x SET DEFAULT 1')$$,
                 '42501', NULL, 'no default of the writer''s');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'CREATE TRIGGER t BEFORE INSERT ON sec_p.ev FOR EACH ROW EXECUTE FUNCTION pg_catalog.suppress_redundant_updates_trigger()')$$,
                 '42501', NULL, 'no trigger');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'CREATE RULE r AS ON INSERT TO sec_p.ev DO ALSO SELECT pg_temp.evil(1)')$$,
                 '42501', NULL, 'no rule');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'CREATE INDEX ON sec_p.ev ((pg_temp.evil(x)))')$$,
                 '42501', NULL, 'no index expression');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'CREATE POLICY p ON sec_p.ev USING (pg_temp.evil(x))')$$,
                 '42501', NULL, 'no row-level security policy');

-- 3. search_path tricks: the writer's session puts its temporary schema and its own schema
-- first, with tables named like pg_pulse's catalog and the collection, functions and
-- operators named like the ones ingestion uses
SELECT sec.as_role('sec_w', $$
  CREATE TABLE pg_temp.projects (name text, writer_role name, reader_role name);
  INSERT INTO pg_temp.projects VALUES ('sec_q', 'sec_p_writer', 'sec_p_reader');
  CREATE TABLE pg_temp.dead_letters (id bigint, project text, collection text, payload bytea, error text, source text);
  CREATE TABLE pg_temp.rejected_fields (id bigint);
  CREATE TABLE pg_temp.ev (_time timestamptz, _user text, x double precision);
  CREATE TABLE sec_w_own.ev (_time timestamptz, _user text, x double precision);
  CREATE FUNCTION sec_w_own.unnest(text[], bytea[], text[], text[]) RETURNS SETOF record LANGUAGE plpgsql AS $f$
  BEGIN PERFORM sec_w_own.evil(1); END $f$;
  CREATE FUNCTION sec_w_own.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$ BEGIN PERFORM sec_w_own.evil(1); RETURN '2000-01-01'; END $f$;
  CREATE FUNCTION sec_w_own.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN PERFORM sec_w_own.evil(1); RETURN true; END $f$;
  CREATE OPERATOR sec_w_own.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sec_w_own.texteq);
  CREATE OPERATOR pg_temp.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sec_w_own.texteq);
  SET search_path = pg_temp, sec_w_own, pg_catalog, public;
$$);
SELECT is(sec.value_as('sec_w', $$SELECT (pulse.collect('sec_p', 'ev', '{"_user": "u9", "x": 9}')).stored::text$$), '1',
          'collect with a hostile search_path stores the event');
SELECT is(sec.value_as('sec_w', $$SELECT (pulse.collect_batch('sec_p', '{"_user": "u9", "x": 10, "s": "z"}
{"_user": "u9", "x": "not a number"}
[not json]', 'ev')).stored::text$$), '2', 'collect_batch too (with a rejected field and a dead letter)');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT pulse.collect(''sec_q'', ''secret'', ''{"x": 1}'')')$$,
                 '42501', NULL, 'a temporary "projects" table naming sec_q as the writer''s project changes nothing');
SELECT is((SELECT count(*)::int FROM sec_p.ev WHERE _user = 'u9'), 3, 'the rows went to the collection');
SELECT is(sec.value_as('sec_w', 'SELECT (SELECT count(*) FROM pg_temp.ev) + (SELECT count(*) FROM sec_w_own.ev) + (SELECT count(*) FROM pg_temp.dead_letters)'),
          '0', 'nothing was written to the writer''s look-alike tables');
SELECT is((SELECT count(*)::int FROM pulse.dead_letters WHERE project = 'sec_p' AND convert_from(payload, 'UTF8') = '[not json]'), 1,
          'the dead letter went to pulse.dead_letters');
SELECT is((SELECT min(_shard_time) > '2020-01-01' FROM sec_p.ev WHERE _user = 'u9'), true,
          'the writer''s now() did not stamp the rows');
SELECT is(sec.value_as('sec_w', $$SELECT (pulse.replay_dead_letters('sec_p')).dead_lettered::text$$), '1',
          'replay_dead_letters with a hostile search_path (the payload is still bad)');
SELECT lives_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.create_collection(''sec_p'', ''c2'', ''{"when": "timestamptz", "n": "bigint"}'')')$$,
                'create_collection with a hostile search_path');
SELECT is((SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) ORDER BY attname)::text FROM pg_attribute
            WHERE attrelid = 'sec_p.c2'::regclass AND attname IN ('when', 'n')),
          '{"n bigint","when timestamp with time zone"}', 'with the built-in types');

-- 3b. partitions made by ingestion: look-alike tables of the writer named like the partition
SELECT sec.as_role('sec_w', $$
  CREATE TABLE pg_temp.pv_p20240301 (x int);
  CREATE TABLE sec_w_own.pv_p20240301 (x int);
$$);
SELECT lives_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.create_collection(''sec_p'', ''pv'', partition_by => ''day'')')$$,
                'the writer creates a collection partitioned by day');
SELECT is(sec.value_as('sec_w', $$SELECT (pulse.collect('sec_p', 'pv', '{"_time": "2024-03-01T10:00:00Z", "x": 1}')).stored::text$$),
          '1', 'its first event creates a partition');
SELECT is((SELECT c.relowner = p.relowner AND c.relowner <> 'sec_w'::regrole FROM pg_class c, pg_class p
            WHERE c.oid = 'sec_p.pv_p20240301'::regclass AND p.oid = 'sec_p.pv'::regclass), true,
          'the partition belongs to the collection''s owner, not to the writer');
SELECT is((SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'sec_p.pv'::regclass), 1,
          'one partition, in the project''s schema');
SELECT is(sec.value_as('sec_w', 'SELECT (SELECT count(*) FROM pg_temp.pv_p20240301) + (SELECT count(*) FROM sec_w_own.pv_p20240301)'),
          '0', 'the writer''s look-alikes were neither attached nor written');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'INSERT INTO sec_p.pv_p20240301(_time) VALUES (now())')$$, '42501', NULL,
                 'the writer cannot write a partition directly');

-- the project defaults: the writer sets its own project's, not another's
SELECT lives_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.set_project_defaults(''sec_p'', ''week'')::text')$$,
                'the writer sets the partitioning of its project''s new collections');
SELECT throws_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.set_project_defaults(''sec_q'', ''day'')::text')$$, '42501', NULL,
                 'but not another project''s');
SELECT lives_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.set_retention(''sec_p'', ''pv'', ''30 days'')::text')$$,
                'the writer sets the retention of its project''s collections');
SELECT throws_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.set_retention(''sec_q'', NULL, ''1 day'')::text')$$, '42501', NULL,
                 'but not another project''s');
-- converting a collection (pulse.partition_collection, SECURITY DEFINER): only the project's own,
-- and a temporary view of the writer over the collection stops it rather than being dropped or
-- rebound by the definer
SELECT lives_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.create_collection(''sec_p'', ''conv'', ''{"n": "int"}'', partition_by => ''none'')::text')$$,
                'the writer makes a plain collection');
SELECT throws_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.partition_collection(''sec_q'', ''secret'', ''day'')::text')$$, '42501', NULL,
                 'the writer cannot convert another project''s collection');
SELECT sec.as_role('sec_w', 'CREATE TEMP VIEW conv_peek AS SELECT * FROM sec_p.conv');
SELECT throws_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.partition_collection(''sec_p'', ''conv'', ''day'')::text')$$, '2BP01', NULL,
                 'a temporary view of the writer over the collection stops its conversion');
SELECT sec.as_role('sec_w', 'DROP VIEW pg_temp.conv_peek');
SELECT lives_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.create_collection(''sec_p'', ''conv2'', ''{"n": "int"}'', partition_by => ''none'')::text')$$,
                'the writer makes another plain collection');
DROP SCHEMA IF EXISTS xpulsexsecxp CASCADE;
CREATE SCHEMA xpulsexsecxp AUTHORIZATION sec_w;
SELECT sec.as_role('sec_w', 'CREATE VIEW xpulsexsecxp.xpulsexdefxpeek AS SELECT * FROM sec_p.conv2');
SELECT throws_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.partition_collection(''sec_p'', ''conv2'', ''day'')::text')$$, '2BP01', NULL,
                 'a view of the writer whose names match pg_pulse''s own as LIKE patterns (_ any character) stops it too');
DROP SCHEMA xpulsexsecxp CASCADE;
SELECT is(sec.value_as('sec_w', 'SELECT pulse.partition_collection(''sec_p'', ''conv'', ''day'')::text'), '0',
          'then the writer converts its collection');
SELECT is((SELECT relkind::text || ' ' || pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'sec_p.conv'::regclass),
          (SELECT 'p ' || pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'sec_p.pv'::regclass),
          'partitioned, owned as every collection is (not by the writer)');
SELECT lives_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.set_enrichment(''sec_p'', ''referrer'', options => ''{"internal_hosts": ["x"]}'')::text')$$,
                'the writer sets the enrichment of its project');
SELECT throws_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.set_enrichment(''sec_q'', ''geoip'')::text')$$, '42501', NULL,
                 'but not another project''s');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SET pulse.geoip_database = ''/etc/shadow''')$$, '42501', NULL,
                 'nor points enrichment at a file of its choice (the data files are superuser-only settings)');
SELECT throws_ok($$SELECT sec.value_as('sec_w', 'SELECT count(*)::text FROM pulse.enrichment_settings')$$, '42501', NULL,
                 'nor reads the settings table (pulse.enrichment shows the projects it reads)');
SELECT throws_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.apply_retention()::text')$$, '42501', NULL,
                 'nor apply retention itself (superusers and the scheduler do, with the views'' trigger silenced)');

-- 4. what the writer cannot reach
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT * FROM sec_q.secret')$$, '42501', NULL,
                 'the writer cannot read another project');
SELECT throws_ok($$SELECT sec.as_role('sec_w', 'SELECT * FROM pg_authid')$$, '42501', NULL, 'nor pg_authid');
SELECT is(sec.value_as('sec_w', 'SELECT count(*) FROM pulse.dead_letters WHERE project <> ''sec_p'''), '0',
          'nor another project''s dead letters');

-- the verdict
SELECT is(sec.escalated(), NULL, 'no role of the suite gained SUPERUSER or another attribute');
SELECT is((SELECT string_agg(DISTINCT what || ' as ' || role, ', ') FROM sec.ran_as WHERE role <> 'sec_w'), NULL,
          'the writer''s code never ran as anyone but the writer');

SELECT * FROM finish();
SELECT sec.disconnect_all();
DROP SCHEMA sec_w_own CASCADE;
