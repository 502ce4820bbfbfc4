-- pg_pulse 0.2.0 -> 0.3.0, after the code of 0.3.0: data the new code computes, grants of the
-- objects dropped in .pre.sql.

-- The projects' readers keep their grants on the internal functions of the reading paths as
-- ordinary grants that pg_dump dumps: the code above (REVOKE ... FROM PUBLIC, run inside the
-- extension script) recorded each function's whole ACL, the readers' grants included, as its
-- initial privileges. Revoked inside the script (the initial privileges lose them), granted
-- again outside it.
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
  SELECT pulse._project_grants(name, true) FROM pulse.projects ORDER BY name
$upgrade$);
