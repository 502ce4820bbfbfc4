-- pg_pulse, part 50: enrichment at ingestion (docs/enrichment.md): which enrichers run for a
-- project or a collection and which input fields they read; the state of their data files.

-- One row per (project, collection, enricher) setting; collection '' is the project's default,
-- a collection's own row overrides it. Read through pulse.enrichment, changed through
-- pulse.set_enrichment.
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

-- The input fields an enricher reads when its setting names none (NULL: unknown enricher).
CREATE FUNCTION pulse.enrichment_default_inputs(enricher text) RETURNS text[]
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'pulse_enrichment_default_inputs';

-- The settings of the projects the caller reads (superusers and pg_monitor: all), with the
-- input fields in effect.
CREATE VIEW pulse.enrichment WITH (security_barrier) AS
SELECT s.project, nullif(s.collection, '') AS collection, s.enricher, s.enabled,
       coalesce(s.inputs, pulse.enrichment_default_inputs(s.enricher)) AS inputs, s.inputs IS NULL AS default_inputs,
       s.options, s.updated_at
  FROM pulse.enrichment_settings s JOIN pulse.projects p ON p.name = s.project
 WHERE EXISTS (SELECT FROM pg_roles r, pg_roles c
                WHERE r.rolname = p.reader_role AND c.rolname = current_user
                  AND pg_has_role(c.oid, r.oid, 'USAGE'))
    OR pg_has_role(current_user, 'pg_monitor', 'USAGE');
GRANT SELECT ON pulse.enrichment TO PUBLIC;

-- Turns an enricher on (enabled = true) or off (false) for a project, or for one collection of
-- it; enabled NULL removes the setting (a collection then follows the project, a project has
-- none). inputs: the fields it reads, in order of preference (NULL: the defaults; dotted paths
-- read nested objects). options: referrer {"internal_hosts": ["shop.example", ...]}. Writers of
-- the project and pulse_admin.
CREATE FUNCTION pulse.set_enrichment(project text, enricher text, enabled boolean DEFAULT true,
                                     inputs text[] DEFAULT NULL, options jsonb DEFAULT NULL,
                                     collection text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  c text := coalesce(lower(collection), '');
  e text := lower(enricher);
  w name;
  i text;
  k text;
BEGIN
  w := pulse._writer_check(p, 'change the enrichment', 'change it');
  IF e IS NULL OR e NOT IN ('geoip', 'user_agent', 'referrer', 'campaign') THEN
    RAISE EXCEPTION 'unknown enricher "%"', left(e, 100) USING ERRCODE = '22023',
      HINT = 'Enrichers: geoip, user_agent, referrer, campaign.';
  END IF;
  IF c <> '' AND pulse._name_problem('collection', c) IS NOT NULL THEN
    RAISE EXCEPTION 'invalid collection name "%": %', left(c, 100), pulse._name_problem('collection', c) USING ERRCODE = '42602';
  END IF;
  IF inputs IS NOT NULL THEN
    IF cardinality(inputs) NOT BETWEEN 1 AND 16 THEN
      RAISE EXCEPTION 'inputs must name 1 to 16 fields, got %', coalesce(cardinality(inputs), 0) USING ERRCODE = '22023',
        HINT = 'NULL uses the default input fields.';
    END IF;
    FOREACH i IN ARRAY inputs LOOP
      IF i IS NULL OR i = '' OR octet_length(i) > 200 THEN
        RAISE EXCEPTION 'an input field name must be 1 to 200 bytes' USING ERRCODE = '22023';
      END IF;
    END LOOP;
  END IF;
  IF options IS NOT NULL THEN
    IF jsonb_typeof(options) <> 'object' THEN
      RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = '22023';
    END IF;
    FOR k IN SELECT jsonb_object_keys(options) LOOP
      IF NOT (e = 'referrer' AND k = 'internal_hosts') THEN
        RAISE EXCEPTION 'unknown option "%" of enricher "%"', left(k, 100), e USING ERRCODE = '22023',
          HINT = 'Only the referrer enricher has an option: internal_hosts (an array of host names).';
      END IF;
      IF jsonb_typeof(options -> k) <> 'array'
         OR EXISTS (SELECT FROM jsonb_array_elements(options -> k) h WHERE jsonb_typeof(h) <> 'string') THEN
        RAISE EXCEPTION 'internal_hosts must be an array of host names' USING ERRCODE = '22023';
      END IF;
    END LOOP;
  END IF;
  IF enabled IS NULL THEN
    DELETE FROM pulse.enrichment_settings s WHERE s.project = p AND s.collection = c AND s.enricher = e;
    RETURN;
  END IF;
  INSERT INTO pulse.enrichment_settings AS s (project, collection, enricher, enabled, inputs, options)
  VALUES (p, c, e, enabled, inputs, coalesce(options, '{}'))
  ON CONFLICT ON CONSTRAINT enrichment_settings_pkey DO UPDATE
    SET enabled = excluded.enabled, inputs = excluded.inputs, options = excluded.options, updated_at = now();
END
$$;

-- This backend's view of the enrichers' data files, checked (and loaded) now.
CREATE FUNCTION pulse.enrichment_files()
  RETURNS TABLE (enricher text, setting text, file text, loaded boolean, loaded_at timestamptz,
                 file_modified timestamptz, details text, error text, cache_entries bigint, cache_hit_ratio float8)
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'pulse_enrichment_files';

CREATE VIEW pulse.enrichment_status AS SELECT * FROM pulse.enrichment_files();
GRANT SELECT ON pulse.enrichment_status TO PUBLIC;
