-- Privileges and injection safety of ingestion (docs/security.md).
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
BEGIN;
SELECT plan(40);

SELECT pulse.create_project('tap_a');
SELECT pulse.create_project('tap_b');
CREATE ROLE tap_alice LOGIN;   -- writer of A
CREATE ROLE tap_rita LOGIN;    -- reader of A
CREATE ROLE tap_mallory LOGIN; -- nothing
GRANT tap_a_writer TO tap_alice;
GRANT tap_a_reader TO tap_rita;
SELECT pulse.collect('tap_b', 'secret', '{"v": 1}');
SELECT pulse.collect('tap_b', 'secret', '[1]');            -- a dead letter of B
SELECT pulse.collect('tap_a', 'events', '{"_time": "x"}'); -- a dead letter of A
CREATE TABLE public.y (id int);

-- every ingestion function is SECURITY DEFINER with a pinned search_path
SELECT is(count(*)::int, 4, 'ingestion functions are SECURITY DEFINER with search_path pinned')
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'pulse' AND p.proname IN ('collect', 'collect_batch', 'create_collection', 'replay_dead_letters')
   AND p.prosecdef AND p.proconfig @> ARRAY['search_path=pg_catalog, pulse, pg_temp'];

SELECT is(count(*)::int, 0, 'analytics functions are SECURITY INVOKER')
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'pulse' AND p.proname IN ('funnel', 'retention', 'trends', 'paths', '_funnel') AND p.prosecdef;

SET ROLE tap_alice;
SELECT is((pulse.collect('tap_a', 'events', '{"v": 1, "x\"; DROP TABLE y; --": "boom"}')).stored, 1::bigint,
          'a writer writes its project');
SELECT throws_ok($$SELECT pulse.collect('tap_b', 'events', '{"v": 1}')$$, '42501', NULL,
                 'a writer of A cannot write project B');
SELECT throws_ok($$SELECT pulse.collect_batch('tap_b', '{"v": 1}', 'events')$$, '42501', NULL,
                 'nor through collect_batch');
SELECT throws_ok($$SELECT pulse.create_collection('tap_b', 'c2', '{"a": "text"}')$$, '42501', NULL,
                 'nor create collections in B');
SELECT throws_ok($$SELECT pulse.replay_dead_letters('tap_b')$$, '42501', NULL, 'nor replay B''s dead letters');
SELECT throws_ok($$SELECT * FROM tap_b.secret$$, '42501', NULL, 'a writer of A cannot read project B');
SELECT throws_ok($$SELECT * FROM pulse.funnel('tap_b', '[{"collection": "secret"}, {"collection": "secret"}]', now() - interval '1 day', now() + interval '1 day')$$,
                 '42501', NULL, 'nor through pulse.funnel');
SELECT throws_ok($$SELECT * FROM pulse.trends('tap_b', '{"collection": "secret"}', now() - interval '1 day', now() + interval '1 day')$$,
                 '42501', NULL, 'nor through pulse.trends');
SELECT throws_ok($$SELECT * FROM pulse.retention('tap_b', '{"collection": "secret"}', '{"collection": "secret"}', now() - interval '1 day', now() + interval '1 day')$$,
                 '42501', NULL, 'nor through pulse.retention');
SELECT throws_ok($$SELECT * FROM pulse.paths('tap_b', now() - interval '1 day', now() + interval '1 day')$$,
                 '42501', NULL, 'nor through pulse.paths');
SELECT throws_ok($$ALTER TABLE tap_b.secret ADD COLUMN z int$$, '42501', NULL, 'a writer of A cannot alter project B');
SELECT throws_ok($$DROP TABLE tap_b.secret$$, '42501', NULL, 'a writer of A cannot drop project B''s tables');
SELECT is((SELECT count(*)::int FROM tap_a.events), 1, 'a writer reads its own project');
SELECT throws_ok($$INSERT INTO tap_a.events (_time, _shard_time) VALUES (now(), '2000-01-01')$$, '42501', NULL,
                 'no direct INSERT: system columns cannot be forged');
SELECT throws_ok($$SELECT pulse.create_project('tap_c')$$, '42501', NULL, 'a writer cannot create projects');
SELECT throws_ok($$SELECT pulse.drop_project('tap_b', true)$$, '42501', NULL, 'a writer cannot drop projects');
SELECT is((SELECT count(*)::int FROM pulse.collections WHERE project = 'tap_b'), 0,
          'pulse.collections hides what the caller cannot read');
SELECT is((SELECT array_agg(DISTINCT project) FROM pulse.dead_letters), ARRAY['tap_a'],
          'a writer sees its project''s dead letters only');
SELECT is((pulse.replay_dead_letters('tap_a', ids => ARRAY(SELECT id FROM pulse.dead_letters))).dead_lettered, 1::bigint,
          'and can replay them by id');
RESET ROLE;

SET ROLE tap_rita;
SELECT throws_ok($$SELECT pulse.collect('tap_a', 'events', '{"v": 2}')$$, '42501', NULL, 'a reader cannot write');
SELECT is((SELECT count(*)::int FROM tap_a.events), 1, 'a reader reads');
RESET ROLE;

SET ROLE tap_mallory;
SELECT throws_ok($$SELECT pulse.collect('tap_a', 'events', '{"v": 3}')$$, '42501', NULL, 'a stranger cannot write');
SELECT throws_ok($$SELECT * FROM tap_a.events$$, '42501', NULL, 'a stranger cannot read');
SELECT is((SELECT count(*)::int FROM pulse.dead_letters), 0, 'a stranger sees no dead letters');
RESET ROLE;

-- views (docs/views.md, docs/security.md)
SELECT is(count(*)::int, 5, 'view functions are SECURITY DEFINER with search_path pinned')
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'pulse' AND p.proname IN ('create_view', 'refresh_view', 'drop_view', 'alter_view', '_view_watermark')
   AND p.prosecdef AND p.proconfig @> ARRAY['search_path=pg_catalog, pulse, pg_temp'];
SELECT pulse.create_view('tap_b', 'secret_sum', 'SELECT sum(v) AS s FROM secret');
SELECT id AS b_view FROM pulse.view_registry WHERE project = 'tap_b' \gset
SET ROLE tap_alice;
SELECT throws_ok($$SELECT pulse.create_view('tap_a', 'peek', 'SELECT v FROM tap_b.secret', 'cache')$$, '42501', NULL,
                 'a cache view of A cannot read project B (it runs with A''s privileges)');
SELECT throws_ok($$SELECT pulse.create_view('tap_a', 'peek2', 'SELECT sum(v) FROM tap_b.secret', 'incremental')$$, '42501', NULL,
                 'an incremental view of A cannot be over a collection of B (its query is analysed as A''s writer)');
SELECT throws_ok($$SELECT pulse.refresh_view('tap_b', 'secret_sum')$$, '42501', NULL, 'a writer of A cannot refresh B''s views');
SELECT throws_ok($$SELECT pulse.drop_view('tap_b', 'secret_sum')$$, '42501', NULL, 'nor drop them');
SELECT throws_ok($$SELECT * FROM tap_b.secret_sum$$, '42501', NULL, 'nor read them');
SELECT is((SELECT count(*)::int FROM pulse.views WHERE project = 'tap_b'), 0, 'pulse.views hides B''s views');
SELECT throws_ok($$SELECT * FROM pulse._view_watermark($$ || :b_view || $$)$$, '42501', NULL,
                 'nor does the watermark helper tell A anything about them');
SELECT throws_ok($$SELECT pulse.create_view('tap_a', 'x"; DROP TABLE y; --', 'SELECT count(*) FROM events')$$, '42602', NULL,
                 'a hostile view name is refused as a name');
SELECT throws_ok($$SELECT pulse.create_view('tap_a', 'v2', 'SELECT count(*) FROM events; DROP TABLE y')$$, '42601', NULL,
                 'a query with a second statement is refused, not run');
RESET ROLE;

-- the hostile field name became one harmless column and nothing was dropped
SELECT has_column('tap_a', 'events', 'x___drop_table_y____', 'hostile field name is a plain column');
SELECT has_table('public', 'y', 'table y still exists');
SELECT is((SELECT x___drop_table_y____ FROM tap_a.events), 'boom', 'its value is stored as data');
-- a hostile collection name in an envelope is refused, not executed
SELECT is((pulse.collect_batch('tap_a', '[{"collection": "a\"; DROP TABLE y; --", "properties": {}}]')).stored,
          1::bigint, 'a hostile collection name is normalised into a plain name');

SELECT * FROM finish();
ROLLBACK;
