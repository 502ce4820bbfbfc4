-- Enrichment at ingestion (docs/enrichment.md): the settings API (pulse.set_enrichment, the
-- pulse.enrichment view, who may change what), the user_agent, referrer and campaign enrichers
-- over Debian's data files (uap-core, ruby-referer-parser), inputs at top level and in nested
-- objects, values the event already carries, bad inputs, per-collection overrides, both SQL
-- doors, and a missing geo-IP database (events stored, one warning, a visible status). Geo-IP
-- lookups and reloads while the server runs: test/integration/enrichment.sh.
SET client_min_messages = warning;
CREATE EXTENSION pg_pulse;
SELECT pulse.create_project('regress_enr');
RESET client_min_messages;
SET timezone = 'UTC';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- settings
SELECT pulse.set_enrichment('regress_enr', 'user_agent');
SELECT pulse.set_enrichment('regress_enr', 'referrer', options => '{"internal_hosts": ["shop.example"]}');
SELECT pulse.set_enrichment('regress_enr', 'campaign');
SELECT pulse.set_enrichment('regress_enr', 'geoip', false);
SELECT project, collection, enricher, enabled, inputs, default_inputs, options
  FROM pulse.enrichment WHERE project = 'regress_enr' ORDER BY enricher;
SELECT pg_temp.err($$SELECT pulse.set_enrichment('regress_enr', 'weather')$$);
SELECT pg_temp.err($$SELECT pulse.set_enrichment('nope', 'geoip')$$);
SELECT pg_temp.err($$SELECT pulse.set_enrichment('regress_enr', 'geoip', options => '{"x": 1}')$$);
SELECT pg_temp.err($$SELECT pulse.set_enrichment('regress_enr', 'referrer', options => '{"internal_hosts": "a"}')$$);
SELECT pg_temp.err($$SELECT pulse.set_enrichment('regress_enr', 'geoip', inputs => '{}')$$);
SELECT pg_temp.err($$SELECT pulse.set_enrichment('regress_enr', 'geoip', inputs => '{""}')$$);
SELECT pg_temp.err($$SELECT pulse.set_enrichment('regress_enr', 'geoip', collection => 'pg_x')$$);

-- who may change them: the project's writers (and pulse_admin), not its readers; the data
-- files are superuser-only settings
CREATE ROLE regress_enr_stranger;
SET ROLE regress_enr_reader;
SELECT pg_temp.err($$SELECT pulse.set_enrichment('regress_enr', 'geoip')$$);
SELECT count(*) FROM pulse.enrichment WHERE project = 'regress_enr';
SELECT pg_temp.err($$SET pulse.geoip_database = '/etc/passwd'$$);
RESET ROLE;
SET ROLE regress_enr_writer;
SELECT pg_temp.err($$SELECT pulse.set_enrichment('regress_enr', 'geoip', false)$$);
-- a writer's ingestion reads the settings it cannot read itself
SELECT stored FROM pulse.collect('regress_enr', 'by_writer', '{"user_agent": "Googlebot/2.1"}');
SELECT _browser, _is_bot FROM regress_enr.by_writer;
RESET ROLE;
SET ROLE regress_enr_stranger;
SELECT count(*) FROM pulse.enrichment WHERE project = 'regress_enr';
RESET ROLE;
DROP ROLE regress_enr_stranger;

-- top-level inputs (userAgent normalises to user_agent), nested ones (Segment's context),
-- a value the event carries itself (_utm_source), inputs that are not what they should be
SELECT stored, columns_added FROM pulse.collect('regress_enr', 'pageview', $${
  "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
  "referrer": "https://www.google.com/search?q=red+shoes",
  "url": "https://shop.example/p?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&utm_term=shoes&utm_content=hero",
  "_utm_source": "set by the client", "n": 1}$$);
SELECT stored FROM pulse.collect('regress_enr', 'pageview', $${"context": {
  "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
  "page": {"url": "https://www.shop.example/cart?gclid=xyz", "referrer": "https://www.shop.example/p"}}, "n": 2}$$);
SELECT stored, rejected_fields, dead_lettered FROM pulse.collect_batch('regress_enr', $$
{"user_agent": "Googlebot/2.1 (+http://www.google.com/bot.html)", "referrer": "https://www.facebook.com/", "url": "/?fbclid=1", "n": 3}
{"user_agent": "", "referrer": "not a url", "url": 42, "n": 4}
{"user_agent": 17, "referrer": "https://blog.example/post?x=1", "url": "/p?utm_source=%FF", "n": 5}
{"referrer": "https://mail.google.com/mail/u/0/", "url": "https://other.example/", "n": 6}
$$, 'pageview');
SELECT n, _browser, _browser_version, _os, _os_version, _device, _device_brand, _is_bot
  FROM regress_enr.pageview ORDER BY n;
SELECT n, _referrer_medium, _referrer_source, _referrer_term, _referrer_domain
  FROM regress_enr.pageview ORDER BY n;
SELECT n, _utm_source, _utm_medium, _utm_campaign, _utm_term, _utm_content
  FROM regress_enr.pageview ORDER BY n;
-- the derived columns are typed like any field
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_schema = 'regress_enr' AND table_name = 'pageview' AND column_name IN ('_is_bot', '_browser')
 ORDER BY 1;

-- a collection's own setting wins over the project's; inputs name other fields
SELECT pulse.set_enrichment('regress_enr', 'user_agent', false, collection => 'click');
SELECT pulse.set_enrichment('regress_enr', 'campaign', inputs => '{landing.href,url}', collection => 'click');
SELECT stored FROM pulse.collect('regress_enr', 'click', $${"user_agent": "Googlebot/2.1",
  "landing": {"href": "/?utm_source=nested"}, "url": "/?utm_source=top"}$$);
SELECT _utm_source, to_jsonb(c) ? '_browser' AS has_browser FROM regress_enr.click c;
SELECT collection, enricher, enabled, inputs FROM pulse.enrichment
 WHERE project = 'regress_enr' AND collection IS NOT NULL ORDER BY 1, 2;
SELECT pulse.set_enrichment('regress_enr', 'campaign', NULL, collection => 'click');  -- removed
SELECT count(*) FROM pulse.enrichment WHERE project = 'regress_enr' AND collection = 'click';

-- a missing geo-IP database: events are stored without geo fields, one WARNING, a status
SET pulse.geoip_database = '/nonexistent/GeoLite2-City.mmdb';
SELECT pulse.set_enrichment('regress_enr', 'geoip');
SELECT stored FROM pulse.collect('regress_enr', 'geo', '{"ip": "81.2.69.160", "n": 1}');
SELECT stored FROM pulse.collect('regress_enr', 'geo', '{"ip": "81.2.69.161", "n": 2}');
SELECT n, to_jsonb(g) ? '_country_code' AS has_country FROM regress_enr.geo g ORDER BY n;
SELECT enricher, setting, file, loaded, error FROM pulse.enrichment_status ORDER BY enricher;

-- every enricher off: nothing derived
SELECT pulse.set_enrichment('regress_enr', e, false) FROM unnest('{geoip,user_agent,referrer,campaign}'::text[]) e;
SELECT stored, columns_added FROM pulse.collect('regress_enr', 'plain', '{"user_agent": "Googlebot/2.1", "a": 1}');

-- dropping the project drops its settings
SET client_min_messages = warning;
SELECT pulse.drop_project('regress_enr', force => true);
RESET client_min_messages;
SELECT count(*) FROM pulse.enrichment_settings WHERE project = 'regress_enr';
DROP EXTENSION pg_pulse;
