-- A hostile writer of project sec_p against the property expressions of the insights
-- (pulse.trends, pulse.retention and pulse.funnel take `property` / `breakdown` as a column or
-- a JSON path such as properties->>'plan'). The insights run as their caller (SECURITY
-- INVOKER), so the victims are the superuser of this file and the project's reader: the
-- writer plants functions, an operator and a domain that a hostile search_path would resolve
-- the expression to, and writes expressions that try to smuggle code into the insight's query.
-- Every such expression is refused before the query runs, and the writer's code never runs as
-- a victim.
\ir lib.sql
DROP SCHEMA IF EXISTS sec_w_own CASCADE;
CREATE SCHEMA sec_w_own AUTHORIZATION sec_w;
SELECT plan(17);

SELECT pulse.collect_batch('sec_p', '{"_user": "u1", "_time": "2024-05-01T10:00:00Z", "properties": {"plan": "pro", "revenue": 3}}
{"_user": "u2", "_time": "2024-05-01T11:00:00Z", "properties": {"plan": "free", "revenue": 4}}', 'jev');

-- The writer's weapons: a temporary function, and in its own schema (usable by everyone) a
-- function, the JSON path operator #>> on (jsonb, text[]) and a domain named int4 that call it
-- (numeric, integer or int would not do: the grammar reads those as the built-in types).
SELECT sec.as_role('sec_w', $$
  CREATE FUNCTION pg_temp.evil(jsonb) RETURNS text LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('temp function', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN 'x';
  END $f$;
  CREATE FUNCTION sec_w_own.evil_path(jsonb, text[]) RETURNS text LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('schema operator', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN 'x';
  END $f$;
  CREATE OPERATOR sec_w_own.#>> (LEFTARG = jsonb, RIGHTARG = text[], FUNCTION = sec_w_own.evil_path);
  CREATE FUNCTION sec_w_own.evil_check(pg_catalog.int4) RETURNS boolean LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('domain check', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN true;
  END $f$;
  CREATE DOMAIN sec_w_own.int4 AS pg_catalog.int4 CHECK (sec_w_own.evil_check(VALUE));
  GRANT USAGE ON SCHEMA sec_w_own TO PUBLIC;
$$);

-- 1. with the caller's ordinary search_path the built-in operators and types are used
SELECT is((SELECT string_agg(breakdown || '=' || value, ',' ORDER BY breakdown)
             FROM pulse.trends('sec_p', '{"collection": "jev"}', '2024-05-01', '2024-05-02',
                               measure => 'sum', property => '(properties->>''revenue'')::numeric',
                               breakdown => 'properties #>> ''{plan}''')),
          'free=4,pro=3', 'a JSON path breakdown and a cast JSON property, as the superuser');
SELECT is(sec.value_as('sec_r', $$SELECT string_agg(breakdown || '=' || value, ',' ORDER BY breakdown)
                                    FROM pulse.trends('sec_p', '{"collection": "jev"}', '2024-05-01', '2024-05-02',
                                                      breakdown => 'properties->>''plan''')$$),
          'free=1,pro=1', 'and as the reader');

-- 2. a search_path that puts the writer's schema first: the insights pin their own search_path
--    (pg_catalog, pulse, pg_temp), so the expression still resolves to the built-in operator and
--    type, and the answers are those of part 1; the writer's code never runs (the verdict at
--    the end). The writer also defines ->> on (jsonb, text), which the insights' own code uses.
SELECT sec.as_role('sec_w', $$
  CREATE FUNCTION sec_w_own.evil_get(jsonb, text) RETURNS text LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO sec.ran_as(what, role) VALUES ('schema ->> operator', current_user);
    BEGIN ALTER ROLE sec_w SUPERUSER; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN 'x';
  END $f$;
  CREATE OPERATOR sec_w_own.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = sec_w_own.evil_get);
$$);
SET search_path = sec_w_own, pg_catalog, public;
SELECT is((SELECT string_agg(breakdown || '=' || value, ',' ORDER BY breakdown)
             FROM pulse.trends('sec_p', '{"collection": "jev"}', '2024-05-01', '2024-05-02',
                               measure => 'sum', property => '(properties->>''revenue'')::int4',
                               breakdown => 'properties #>> ''{plan}''')),
          'free=4,pro=3', 'trends: the breakdown and the cast resolve to the built-in operator and type');
SELECT is((SELECT count(*)::int FROM pulse.retention('sec_p', '{"collection": "jev"}', '{"collection": "jev"}',
                                                     '2024-05-01', '2024-05-02', breakdown => 'properties #>> ''{plan}''')) > 0,
          true, 'retention: the same breakdown');
SELECT is((SELECT string_agg(breakdown || '=' || users, ',' ORDER BY breakdown)
             FROM pulse.funnel('sec_p', '[{"collection": "jev"}]', '2024-05-01', '2024-05-02',
                               breakdown => 'properties #>> ''{plan}''')),
          'free=1,pro=1', 'funnel: the same breakdown');
SELECT is((SELECT count(*)::int FROM pulse.paths('sec_p', '2024-05-01', '2024-05-02')) >= 0, true,
          'paths runs too');
RESET search_path;
SELECT sec.as_role('sec_r', 'SET search_path = sec_w_own, pg_catalog, public');
SELECT is(sec.value_as('sec_r', $q$SELECT string_agg(breakdown || '=' || value, ',' ORDER BY breakdown) FROM pulse.trends('sec_p', '{"collection": "jev"}',
                   '2024-05-01', '2024-05-02', breakdown => 'properties #>> ''{plan}''')$q$),
          'free=1,pro=1', 'the reader with that search_path gets the built-in answer too');
SELECT sec.as_role('sec_r', 'RESET search_path');
SELECT is((SELECT count(*)::int FROM sec.ran_as WHERE what IN ('schema operator', 'schema ->> operator', 'domain check')), 0,
          'none of the writer''s operators or domain checks ran');

-- 3. expressions that are not a column or a JSON path are refused (22023) whatever they call
SELECT throws_ok(format($$SELECT * FROM pulse.trends('sec_p', '{"collection": "jev"}', '2024-05-01', '2024-05-02',
                                                     breakdown => %L)$$, expr),
                 '22023', NULL, 'refused: ' || what)
  FROM (VALUES ('a temporary function', 'pg_temp.evil(properties)'),
               ('the writer''s operator, qualified', 'properties OPERATOR(sec_w_own.#>>) ''{plan}'''),
               ('a subquery as key', 'properties->>(SELECT rolpassword FROM pg_authid LIMIT 1)'),
               ('a cast inside the path', '(properties::sec_w_own.int4)->>''plan''')) AS a(what, expr);
-- (a text that does not parse keeps Postgres' 42601)
SELECT throws_ok(format($$SELECT * FROM pulse.trends('sec_p', '{"collection": "jev"}', '2024-05-01', '2024-05-02',
                                                     breakdown => %L)$$, expr),
                 '42601', NULL, 'refused: ' || what)
  FROM (VALUES ('a clause after the expression', 'properties->>''plan'') FROM pg_authid --'),
               ('a second statement', 'properties->>''plan''; DROP TABLE sec_p.jev')) AS a(what, expr);

-- the verdict
SELECT is((SELECT count(*) FROM sec_p.jev), 2::bigint, 'the collection is intact');
SELECT is(sec.escalated(), NULL, 'no role of the suite gained SUPERUSER or another attribute');
SELECT is((SELECT string_agg(DISTINCT what || ' as ' || role, ', ') FROM sec.ran_as WHERE role NOT IN ('sec_w', 'sec_p_writer')), NULL,
          'the writer''s code never ran as anyone but the writer');

SELECT * FROM finish();
SELECT sec.disconnect_all();
DROP SCHEMA sec_w_own CASCADE;
