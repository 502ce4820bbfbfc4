-- pg_pulse 0.2.0 -> 0.3.0, after the code of 0.3.0: data the new code computes, grants of the
-- objects dropped in .pre.sql.

-- The grants of the projects' readers on the internal functions of the query paths. The code
-- above ran its GRANT / REVOKE ... ON FUNCTION statements inside the extension script, and
-- Postgres then recorded each function's whole ACL, the readers' grants 0.2.0 made at run time
-- included, as its initial privileges (pg_init_privs), which pg_dump leaves out. So the readers'
-- grants are revoked here, inside the script (the initial privileges lose them), and made again
-- outside it, as pulse.create_project makes them: ordinary grants that pg_dump dumps. This also
-- gives every reader the functions 0.3.0 adds (property expressions: pulse._insight_expr_type,
-- _insight_is_column, _insight_operand).
SELECT pulse._project_grants(name, false) FROM pulse.projects ORDER BY name;
SELECT pulse._outside_extension_script($upgrade$
  SELECT pulse._project_grants(name, true) FROM pulse.projects ORDER BY name
$upgrade$);

-- every function and aggregate the code did not describe is internal (as in 95_comments.sql)
SELECT pulse._comment_internal();

-- enrichment (new views of 0.3.0)
GRANT SELECT ON pulse.enrichment, pulse.enrichment_status TO PUBLIC;

-- Realtime views: what their readers read is made again by 0.3.0's code (its reads match the
-- unmerged groups with the stored ones by their keys' own equality, records only for keys with
-- a NULL), from each view's stored query, in the time zone it was created in; the stored
-- states, the delta functions and the registry stay. Outside the extension script: the views
-- are the projects', not the extension's. A view whose query this version cannot analyse again
-- keeps its 0.2.0 read SQL (exact, slower), with a warning.
SELECT pulse._outside_extension_script($upgrade$
DO $$
DECLARE
  v pulse.view_registry;
  tz text := current_setting('TimeZone');
  f regprocedure;
BEGIN
  FOR v IN SELECT * FROM pulse.view_registry WHERE strategy = 'realtime' ORDER BY id LOOP
    BEGIN
      PERFORM set_config('TimeZone', v.timezone, true);
      PERFORM pulse._view_reread(v.id);
      PERFORM set_config('TimeZone', tz, true);
    EXCEPTION WHEN OTHERS THEN
      -- its 0.2.0 read SQL stays: exact, only slower (the block's TimeZone is rolled back with it)
      RAISE WARNING 'pg_pulse 0.3.0 kept the read SQL of view %.% (%)', v.project, v.name, left(SQLERRM, 200)
        USING HINT = 'Its reads stay exact; drop and create the view again for the faster reads of 0.3.0.';
    END;
  END LOOP;
  -- a view's delta function parses its stored SQL text again at every read, in the reader's
  -- session: with standard_conforming_strings off there, a backslash in a string literal of
  -- the writer's query could end the literal early (0.3.0 pins it on, as new views get it)
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname LIKE '\_pulse\_%' AND p.proname LIKE '\_pulse\_delta\_%' ORDER BY p.oid LOOP
    EXECUTE format('ALTER FUNCTION %s SET standard_conforming_strings = on', f);
    -- and array_nulls, which decides what an array constant '{NULL}' of the text means
    EXECUTE format('ALTER FUNCTION %s SET array_nulls = on', f);
  END LOOP;
END
$$
$upgrade$);
