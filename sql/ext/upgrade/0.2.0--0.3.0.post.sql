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
DO $$
DECLARE
  p text;
BEGIN
  FOR p IN SELECT name FROM pulse.projects ORDER BY name LOOP
    PERFORM pulse._project_grants(p, false);
  END LOOP;
END
$$;
SELECT pulse._outside_extension_script($upgrade$
DO $$
DECLARE
  p text;
BEGIN
  FOR p IN SELECT name FROM pulse.projects ORDER BY name LOOP
    PERFORM pulse._project_grants(p, true);
  END LOOP;
END
$$;
$upgrade$);

-- every function and aggregate the code did not describe is internal (as in 95_comments.sql)
DO $$
DECLARE
  f regprocedure;
  k "char";
BEGIN
  FOR f, k IN SELECT p.oid, p.prokind FROM pg_proc p
              WHERE p.pronamespace = 'pulse'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL LOOP
    EXECUTE format('COMMENT ON %s %s IS %L', CASE k WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, f,
                   'pg_pulse internal: not an API');
  END LOOP;
END
$$;

-- enrichment (new views of 0.3.0)
GRANT SELECT ON pulse.enrichment, pulse.enrichment_status TO PUBLIC;
