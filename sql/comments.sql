-- Descriptions (COMMENT ON) for psql's \d+ and BI tools: every object of schema pulse, every
-- collection and its system columns, every view; hidden view objects say they are internal.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
SELECT pulse.create_project('regress_cm');
SELECT stored FROM pulse.collect('regress_cm', 'page_view', '{"url": "/", "loadMs": 12}');
SELECT pulse.create_view('regress_cm', 'per_url', 'SELECT url, count(*) AS n FROM page_view GROUP BY url', 'incremental', '1 hour');
SELECT pulse.create_view('regress_cm', 'total', 'SELECT count(*) AS n FROM page_view');
RESET client_min_messages;

-- nothing of schema pulse without a description
SELECT 'function ' || p.oid::regprocedure AS undescribed FROM pg_proc p
 WHERE p.pronamespace = 'pulse'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL
UNION ALL
SELECT 'relation ' || c.oid::regclass FROM pg_class c
 WHERE c.relnamespace = 'pulse'::regnamespace AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL
UNION ALL
SELECT 'type ' || t.oid::regtype FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
 WHERE t.typnamespace = 'pulse'::regnamespace AND obj_description(t.oid, 'pg_type') IS NULL;
SELECT obj_description('pulse.collect(text, text, jsonb, text)'::regprocedure, 'pg_proc');
SELECT obj_description('pulse._caller()'::regprocedure, 'pg_proc');

-- a collection and its system columns
SELECT obj_description('regress_cm.page_view'::regclass, 'pg_class');
SELECT attname, col_description(attrelid, attnum) FROM pg_attribute
 WHERE attrelid = 'regress_cm.page_view'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;

-- views, and their hidden objects (in the project's internal schema, described too)
SELECT c.relnamespace::regnamespace AS schema, c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c
 WHERE c.relnamespace IN ('regress_cm'::regnamespace, '_pulse_regress_cm'::regnamespace) AND c.relkind IN ('r', 'v')
   AND c.relname <> 'page_view' ORDER BY 1, 2;
SELECT p.pronamespace::regnamespace AS schema, p.proname, obj_description(p.oid, 'pg_proc') FROM pg_proc p
 WHERE p.pronamespace IN ('regress_cm'::regnamespace, '_pulse_regress_cm'::regnamespace) ORDER BY 1, 2;
SELECT t.typnamespace::regnamespace AS schema, t.typname, obj_description(t.oid, 'pg_type') FROM pg_type t
  JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
 WHERE t.typnamespace IN ('regress_cm'::regnamespace, '_pulse_regress_cm'::regnamespace) ORDER BY 1, 2;
SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname LIKE '%regress\_cm' ORDER BY 1;

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_cm', force => true);
DROP EXTENSION pg_pulse;
