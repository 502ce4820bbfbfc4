-- One validator for every insight: pulse.funnel, pulse.retention, pulse.trends and pulse.paths
-- check their arguments with the same functions (sql/ext/parts/29_insights_common.sql), so an
-- invalid argument is refused by every insight that takes it with the same SQLSTATE, message,
-- detail and hint (the message names the argument: "step 1", "event", "start_event"). Each
-- case below runs through every insight that takes the argument; `same` says whether all of
-- them answer alike once that name is set aside.
CREATE EXTENSION pg_pulse;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
SELECT pulse.create_project('regress_val');
SELECT stored FROM pulse.collect_batch('regress_val', $$
[{"collection": "page", "properties": {"_user": "a", "_time": "2024-01-01T10:00:00Z", "url": "/home"}},
 {"collection": "page", "properties": {"_user": "a", "_time": "2024-01-02T10:00:00Z", "url": "/pricing"}},
 {"collection": "page", "properties": {"_user": "b", "_time": "2024-01-03T10:00:00Z", "url": "/home"}},
 {"collection": "page", "properties": {"_user": "c", "_time": "2023-12-31T10:00:00Z", "url": "/home"}},
 {"collection": "buy", "properties": {"_user": "a", "_time": "2024-01-02T11:00:00Z", "amount": 5}},
 {"collection": "buy", "properties": {"_user": "b", "_time": "2024-01-04T10:00:00Z", "amount": 7}}]
$$);
-- not collections: a view and a table without the system columns
CREATE VIEW regress_val.page_view AS SELECT * FROM regress_val.page;
CREATE TABLE regress_val.notes (x int);

-- The outcome of a query: 'ok', or SQLSTATE: message / detail / hint.
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text; h text;
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || ': ' || SQLERRM || CASE WHEN d <> '' THEN ' / ' || d ELSE '' END
                                      || CASE WHEN h <> '' THEN ' / ' || h ELSE '' END;
END $$;

-- Every insight with valid arguments, one of which a case replaces: {project}, {from}, {to},
-- {tz}, {event} (an event spec, in each position that takes one), {breakdown}.
CREATE TEMP TABLE insight (name text, arg text, call text);
INSERT INTO insight VALUES
  ('funnel step',       'step 1',       $$SELECT * FROM pulse.funnel({project}, jsonb_build_array({event}::jsonb), {from}, {to}, timezone => {tz}, breakdown => {breakdown})$$),
  ('retention start',   'start_event',  $$SELECT * FROM pulse.retention({project}, {event}, '{"collection": "buy"}', {from}, {to}, timezone => {tz}, breakdown => {breakdown})$$),
  ('retention return',  'return_event', $$SELECT * FROM pulse.retention({project}, '{"collection": "page"}', {event}, {from}, {to}, timezone => {tz})$$),
  ('trends',            'event',        $$SELECT * FROM pulse.trends({project}, {event}, {from}, {to}, timezone => {tz}, breakdown => {breakdown})$$),
  ('paths',             NULL,           $$SELECT * FROM pulse.paths({project}, {from}, {to})$$);
CREATE FUNCTION pg_temp.call(call text, key text, value text) RETURNS text LANGUAGE sql AS $$
  SELECT replace(replace(replace(replace(replace(replace(call,
           '{project}', CASE key WHEN 'project' THEN value ELSE '''regress_val''' END),
           '{from}', CASE key WHEN 'from' THEN value ELSE '''2024-01-01''' END),
           '{to}', CASE key WHEN 'to' THEN value ELSE '''2024-01-08''' END),
           '{tz}', CASE key WHEN 'tz' THEN value ELSE '''UTC''' END),
           '{event}', CASE key WHEN 'event' THEN value ELSE '''{"collection": "page"}''' END),
           '{breakdown}', CASE key WHEN 'breakdown' THEN value ELSE 'NULL' END)
$$;
-- The cases: which placeholder, which value, and which insights take it.
CREATE TEMP TABLE vcase (n serial, what text, key text, value text);
INSERT INTO vcase (what, key, value) VALUES
  ('project is NULL',                  'project', 'NULL'),
  ('project does not exist',           'project', '''nosuch'''),
  ('project in upper case',            'project', '''REGRESS_VAL'''),
  ('date_from is NULL',                'from', 'NULL'),
  ('date_to is infinite',              'to', '''infinity'''),
  ('date_from = date_to',              'to', '''2024-01-01'''),
  ('timezone is NULL',                 'tz', 'NULL'),
  ('timezone unknown',                 'tz', '''Mars/Olympus'''),
  ('timezone an abbreviation',         'tz', '''PST'''),
  ('timezone a bare number',           'tz', '''-8'''),
  ('timezone abbreviation and zone',   'tz', '''CET'''),
  ('timezone a POSIX zone',            'tz', '''<+0330>-03:30'''),
  ('timezone a zone name',             'tz', '''Asia/Kolkata'''),
  ('event not an object',              'event', '''"page"'''),
  ('event unknown key',                'event', '''{"collection": "page", "where": "true"}'''),
  ('event without collection',         'event', '''{"filter": "true"}'''),
  ('event collection not a string',    'event', '''{"collection": 1}'''),
  ('event name not a string',          'event', '''{"collection": "page", "name": 1}'''),
  ('event invalid collection name',    'event', '''{"collection": "Bad Name"}'''),
  ('event collection does not exist',  'event', '''{"collection": "nosuch"}'''),
  ('event collection in upper case',   'event', '''{"collection": "PAGE"}'''),
  ('event collection is a view',       'event', '''{"collection": "page_view"}'''),
  ('event table without _user',        'event', '''{"collection": "notes"}'''),
  ('event filter not a string',        'event', '''{"collection": "page", "filter": 1}'''),
  ('event filter unknown column',      'event', '''{"collection": "page", "filter": "nosuch = 1"}'''),
  ('event filter two statements',      'event', '''{"collection": "page", "filter": "true; DROP TABLE regress_val.page"}'''),
  ('event filter not boolean',         'event', '''{"collection": "page", "filter": "url"}'''),
  ('event filter a) OR (b',            'event', '''{"collection": "page", "filter": "true) OR (true"}'''),
  ('event filter blank',               'event', '''{"collection": "page", "filter": " "}'''),
  ('breakdown column does not exist',  'breakdown', '''nosuch''');
-- (names for the `same` check)
CREATE FUNCTION pg_temp.neutral(o text, arg text) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN arg IS NULL THEN o ELSE regexp_replace(o, '\m' || arg || '\M', '<arg>', 'g') END
$$;
CREATE TEMP TABLE outcome AS
  SELECT c.n, c.what, i.name AS insight, i.arg,
         pg_temp.outcome(pg_temp.call(i.call, c.key, c.value)) AS outcome
    FROM vcase c JOIN insight i ON position('{' || c.key || '}' IN i.call) > 0;
SELECT what, insight, outcome FROM outcome ORDER BY n, insight;
SELECT what, count(DISTINCT pg_temp.neutral(outcome, arg)) = 1 AS same, count(*) AS insights
  FROM outcome GROUP BY n, what ORDER BY n;

-- A filter that is "a) OR (b" is one operand wherever it is pasted: the date range still holds
-- (3 page events in [01-01, 01-08), the one of 2023-12-31 stays out)
SELECT sum(value) FROM pulse.trends('regress_val', '{"collection": "page", "filter": "true) OR (true"}', '2024-01-01', '2024-01-08');
SELECT sum(users) FROM pulse.funnel('regress_val', '[{"collection": "page", "filter": "true) OR (true"}]', '2024-01-01', '2024-01-08');

-- Arguments only one insight takes go through the same functions: NULL is 22004 with the
-- argument's name, a value out of a list 22023 with the list as hint, numbers and durations
-- out of range 22023.
SELECT what, pg_temp.outcome(q) FROM (VALUES
  ('step_order NULL', $$SELECT * FROM pulse.funnel('regress_val', '[{"collection": "page"}]', '2024-01-01', '2024-01-08', step_order => NULL)$$),
  ('period NULL', $$SELECT * FROM pulse.retention('regress_val', '{"collection": "page"}', '{"collection": "page"}', '2024-01-01', '2024-01-08', period => NULL)$$),
  ('retention_type NULL', $$SELECT * FROM pulse.retention('regress_val', '{"collection": "page"}', '{"collection": "page"}', '2024-01-01', '2024-01-08', retention_type => NULL)$$),
  ('interval NULL', $$SELECT * FROM pulse.trends('regress_val', '{"collection": "page"}', '2024-01-01', '2024-01-08', NULL)$$),
  ('measure NULL', $$SELECT * FROM pulse.trends('regress_val', '{"collection": "page"}', '2024-01-01', '2024-01-08', measure => NULL)$$),
  ('step_order unknown', $$SELECT * FROM pulse.funnel('regress_val', '[{"collection": "page"}]', '2024-01-01', '2024-01-08', step_order => 'any')$$),
  ('period unknown', $$SELECT * FROM pulse.retention('regress_val', '{"collection": "page"}', '{"collection": "page"}', '2024-01-01', '2024-01-08', period => 'minute')$$),
  ('interval unknown', $$SELECT * FROM pulse.trends('regress_val', '{"collection": "page"}', '2024-01-01', '2024-01-08', 'minute')$$),
  ('periods NULL', $$SELECT * FROM pulse.retention('regress_val', '{"collection": "page"}', '{"collection": "page"}', '2024-01-01', '2024-01-08', periods => NULL)$$),
  ('periods 1001', $$SELECT * FROM pulse.retention('regress_val', '{"collection": "page"}', '{"collection": "page"}', '2024-01-01', '2024-01-08', periods => 1001)$$),
  ('step_limit NULL', $$SELECT * FROM pulse.paths('regress_val', '2024-01-01', '2024-01-08', step_limit => NULL)$$),
  ('step_limit 101', $$SELECT * FROM pulse.paths('regress_val', '2024-01-01', '2024-01-08', step_limit => 101)$$),
  ('breakdown_limit NULL', $$SELECT * FROM pulse.trends('regress_val', '{"collection": "page"}', '2024-01-01', '2024-01-08', breakdown => 'url', breakdown_limit => NULL)$$),
  ('breakdown_limit 0', $$SELECT * FROM pulse.trends('regress_val', '{"collection": "page"}', '2024-01-01', '2024-01-08', breakdown => 'url', breakdown_limit => 0)$$),
  ('conversion_window NULL', $$SELECT * FROM pulse.funnel('regress_val', '[{"collection": "page"}]', '2024-01-01', '2024-01-08', conversion_window => NULL)$$),
  ('conversion_window 1 month', $$SELECT * FROM pulse.funnel('regress_val', '[{"collection": "page"}]', '2024-01-01', '2024-01-08', conversion_window => '1 month')$$),
  ('conversion_window -1 day', $$SELECT * FROM pulse.funnel('regress_val', '[{"collection": "page"}]', '2024-01-01', '2024-01-08', conversion_window => '-1 day')$$),
  ('session_gap NULL', $$SELECT * FROM pulse.paths('regress_val', '2024-01-01', '2024-01-08', session_gap => NULL)$$),
  ('session_gap 1 month', $$SELECT * FROM pulse.paths('regress_val', '2024-01-01', '2024-01-08', session_gap => '1 month')$$),
  ('session_gap 0', $$SELECT * FROM pulse.paths('regress_val', '2024-01-01', '2024-01-08', session_gap => '0')$$),
  ('paths start_event is a view', $$SELECT * FROM pulse.paths('regress_val', '2024-01-01', '2024-01-08', start_event => 'page_view')$$),
  ('steps NULL', $$SELECT * FROM pulse.funnel('regress_val', NULL, '2024-01-01', '2024-01-08')$$),
  ('exclusion unknown key', $$SELECT * FROM pulse.funnel('regress_val', '[{"collection": "page"}, {"collection": "buy"}]', '2024-01-01', '2024-01-08', exclusions => '[{"collection": "page", "name": "x", "from_step": 1, "to_step": 2}]')$$)
) AS t(what, q);

-- Both plans of pulse.funnel (the single pass in C++ and window_funnel_steps) accept the same
-- conversion windows: '1 day -1 hour' is 23 hours in both (a's purchase comes 1 hour after the
-- page view, b's 24 hours after: 2 users, then 1)
SELECT step, users FROM pulse.funnel('regress_val', '[{"collection": "page"}, {"collection": "buy"}]',
                                     '2024-01-01', '2024-01-08', conversion_window => '1 day -1 hour');
SET pulse.analytics_single_pass = off;
SELECT step, users FROM pulse.funnel('regress_val', '[{"collection": "page"}, {"collection": "buy"}]',
                                     '2024-01-01', '2024-01-08', conversion_window => '1 day -1 hour');
RESET pulse.analytics_single_pass;
-- ... and the same number of exclusions (at most 32: their bits are an integer)
SELECT pg_temp.outcome(format($$SELECT * FROM pulse.funnel('regress_val', '[{"collection": "page"}, {"collection": "buy"}]', '2024-01-01', '2024-01-08', exclusions => %L)$$,
  (SELECT jsonb_agg('{"collection": "page", "from_step": 1, "to_step": 2}'::jsonb) FROM generate_series(1, 33))));
SET pulse.analytics_single_pass = off;
SELECT pg_temp.outcome(format($$SELECT * FROM pulse.funnel('regress_val', '[{"collection": "page"}, {"collection": "buy"}]', '2024-01-01', '2024-01-08', exclusions => %L)$$,
  (SELECT jsonb_agg('{"collection": "page", "from_step": 1, "to_step": 2}'::jsonb) FROM generate_series(1, 33))));
RESET pulse.analytics_single_pass;
-- the aggregates themselves agree on the window too
SELECT pulse.window_funnel('1 day -1 hour', _time, true) FROM regress_val.page;

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_val', force => true);
RESET client_min_messages;
DROP EXTENSION pg_pulse;
