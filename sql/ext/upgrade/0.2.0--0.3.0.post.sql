-- pg_pulse 0.2.0 -> 0.3.0, after the code of 0.3.0: data the new code computes, grants of the
-- objects dropped in .pre.sql.

-- Every project's reader gets the internal functions 0.3.0 adds to the query paths (property
-- expressions of the insights: pulse._insight_expr_type, _insight_is_column, _insight_operand),
-- as pulse.create_project grants them; outside the extension script's state, as 0.1.0 -> 0.2.0
-- does, so that pg_dump dumps the grants.
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
