-- pg_pulse 0.2.0 -> 0.3.0, after the code of 0.3.0: data the new code computes, grants of the
-- objects dropped in .pre.sql.

-- enrichment (new views of 0.3.0)
GRANT SELECT ON pulse.enrichment, pulse.enrichment_status TO PUBLIC;

-- the project readers' grants revoked in .pre.sql, made again as ordinary grants
SELECT pulse._outside_extension_script($upgrade$
SELECT pulse._project_grants(name, true) FROM pulse.projects ORDER BY name;
$upgrade$);
