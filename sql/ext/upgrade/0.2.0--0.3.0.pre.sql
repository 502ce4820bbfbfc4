-- pg_pulse 0.2.0 -> 0.3.0, before the code of 0.3.0 (sql/ext/upgrade/code.py) is loaded:
-- objects whose signature, result columns or name changed are dropped (created again by the
-- code), catalog tables get their new columns.

-- enrichment at ingestion (sql/ext/parts/50_enrichment.sql)
CREATE TABLE pulse.enrichment_settings (
  project    text NOT NULL REFERENCES pulse.projects(name) ON DELETE CASCADE,
  collection text NOT NULL DEFAULT '',
  enricher   text NOT NULL CHECK (enricher IN ('geoip', 'user_agent', 'referrer', 'campaign')),
  enabled    boolean NOT NULL,
  inputs     text[],                      -- NULL: the enricher's default input fields
  options    jsonb NOT NULL DEFAULT '{}', -- referrer: {"internal_hosts": [...]}
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project, collection, enricher)
);
REVOKE ALL ON pulse.enrichment_settings FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pulse.enrichment_settings', '');

-- The project readers' grants on the internal functions (pulse._project_grants) are made again,
-- outside the extension script, in .post.sql: replacing a function inside ALTER EXTENSION
-- records its current privileges as the extension's initial ones, and pg_dump would then leave
-- those grants out (a restored database would lack them).
DO $$
DECLARE
  r name;
BEGIN
  FOR r IN SELECT reader_role FROM pulse.projects ORDER BY name LOOP
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pulse FROM %I', r);
    END IF;
  END LOOP;
END
$$;
