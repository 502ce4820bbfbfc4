-- pg_pulse 0.2.0 -> 0.3.0, after the code of 0.3.0: data the new code computes, grants of the
-- objects dropped in .pre.sql.

-- The grants of the projects' readers on the internal functions of the query paths: the code's
-- REVOKE ... ON ALL FUNCTIONS ran in the extension script and recorded every function's ACL,
-- readers' grants included, as its initial privileges (pg_dump leaves those out). Revoked here,
-- in the script (initial privileges without them), and granted again outside it, so that they
-- stay ordinary grants as pulse.create_project makes them.
SELECT pulse._project_grants(name, false) FROM pulse.projects ORDER BY name;
SELECT pulse._outside_extension_script($upgrade$
  SELECT pulse._project_grants(name, true) FROM pulse.projects ORDER BY name
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
