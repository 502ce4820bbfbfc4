-- collect_batch stores a large NDJSON payload chunk by chunk (pulse.collect_chunk_bytes) in one
-- transaction, with the outcome of one batch: the same rows, columns (and their types, from
-- the first event carrying a field), rejected fields, duplicates and dead letters whatever the
-- chunk size. The same payload goes into twin collections with one chunk, one line per chunk
-- and a few lines per chunk; each outcome is spelled out below. (Ids of rejected fields and dead
-- letters follow the chunks, so they are listed by content.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SELECT pulse.create_project('regress_chunks');
CREATE TEMP TABLE payload(t text);
INSERT INTO payload VALUES (concat_ws(E'\n',
  '{"_id":"a","_time":"2024-01-01T00:00:00Z","n":1,"s":"x"}',
  '{"_id":"b","_time":"2024-01-01T00:00:01Z","n":"oops","s":"y"}',
  'not json {',
  '{"_id":"a","_time":"2024-01-01T00:00:02Z","n":3}',
  '',
  '{"_id":"c","_time":"bad time","n":4}',
  '{"_id":"d","_time":"2024-01-01T00:00:03Z","n":5,"late":2.5,"p":12345}',
  '{"_id":"e","_time":"2024-01-01T00:00:04Z","late":"str","extra":true,"p":1.5}',
  '{"_id":"c","_time":"2024-01-01T00:00:05Z","n":6}',
  '{"_id":"d","_time":"2024-01-01T00:00:06Z"}',
  '[1,2]',
  '  [3]',
  '{"_id":"g","_time":"2024-01-01T00:00:08Z","s":"z","nul":null,"late2":{"k":1},"extra":"no"}',
  '{"_id":"h","_time":"2024-01-01T00:00:09Z","nul":7}'));
-- one collection per chunk size; p is declared numeric(3,1): 12345 is refused by Postgres
-- itself (salvaged as a rejected field), the rest is typed by pg_pulse
CREATE FUNCTION pg_temp.run(coll text, chunk text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  PERFORM pulse.create_collection('regress_chunks', coll, '{"p": "numeric(3,1)"}', dedup => true);
  -- a row of an earlier call: its _id is a duplicate in every chunk
  PERFORM pulse.collect_batch('regress_chunks', '{"_id":"h","_time":"2023-12-31T00:00:00Z"}', coll);
  PERFORM set_config('pulse.collect_chunk_bytes', chunk, true);
  SELECT * INTO r FROM pulse.collect_batch('regress_chunks', (SELECT t FROM payload), coll);
  RETURN NEXT 'result: ' || r::text;
  RETURN NEXT 'columns: ' || (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
      FROM pg_attribute WHERE attrelid = ('regress_chunks.' || coll)::regclass AND attnum > 0
       AND NOT attisdropped AND attname NOT IN ('_arrival'));
  RETURN QUERY EXECUTE format('SELECT ''row: '' || concat_ws('' | '', _id, _time, n, s, late, p, extra, nul, late2)'
                              ' FROM regress_chunks.%I ORDER BY _id', coll);
  RETURN QUERY SELECT 'rejected: ' || concat_ws(' | ', field, raw_name, raw_value, expected_type, reason, event_id, event_time)
    FROM pulse.rejected_fields WHERE project = 'regress_chunks' AND collection = coll ORDER BY event_id, field;
  RETURN QUERY SELECT 'dead: ' || concat_ws(' | ', coalesce(collection, '-'), convert_from(payload, 'UTF8'), error)
    FROM pulse.dead_letters WHERE project = 'regress_chunks' AND collection = coll ORDER BY payload;
END $$;
-- the whole payload as one chunk
SELECT * FROM pg_temp.run('whole', '1GB');
-- every line a chunk of its own
SELECT * FROM pg_temp.run('lines', '1');
-- about three lines per chunk
SELECT * FROM pg_temp.run('some', '150');
SHOW pulse.collect_chunk_bytes;

-- an envelope payload (no collection given) in chunks: two collections, dead letters of both
SET pulse.collect_chunk_bytes = 1;
SELECT * FROM pulse.collect_batch('regress_chunks', concat_ws(E'\n',
  '{"collection":"env_a","properties":{"_time":"2024-01-01T00:00:00Z","v":1}}',
  '{"collection":"env_b","properties":{"_time":"bad","v":1}}',
  '{"collection":"Bad Name!","properties":{"v":1}}',
  '{"collection":"env_a","properties":{"_time":"2024-01-01T00:00:01Z","v":"two","w":true}}',
  '{"collection":"env_b","properties":{"_time":"2024-01-01T00:00:02Z","v":3}}',
  '{"nocollection":1}',
  '{"collection":"env_a","properties":{"_time":"bad too"}}'));
RESET pulse.collect_chunk_bytes;
SELECT _time, v, w FROM regress_chunks.env_a ORDER BY _time;
SELECT _time, v FROM regress_chunks.env_b ORDER BY _time;
SELECT coalesce(collection, '-') AS collection, convert_from(payload, 'UTF8') AS payload, error
  FROM pulse.dead_letters WHERE project = 'regress_chunks' AND collection IS DISTINCT FROM 'whole'
   AND collection IS DISTINCT FROM 'lines' AND collection IS DISTINCT FROM 'some' ORDER BY id;
SELECT collection, batches FROM pulse.metrics WHERE project = 'regress_chunks' ORDER BY 1;

-- a JSON array payload is stored a chunk of elements at a time, with the same outcome as in
-- one chunk: the elements of the payload above that parse (an array with a syntax error in any
-- element is one dead letter of the whole payload, see below), pretty-printed
UPDATE payload SET t = (SELECT jsonb_pretty(jsonb_agg(l::jsonb ORDER BY k)) FROM unnest(string_to_array(t, E'\n')) WITH ORDINALITY u(l, k)
                         WHERE l ~ '^\s*[\[{]' AND l NOT LIKE 'not json%');
CREATE TEMP TABLE arr AS SELECT 'whole' AS k, replace(x, 'arr_whole', 'C') AS x FROM pg_temp.run('arr_whole', '1GB') x;
INSERT INTO arr SELECT 'some', replace(x, 'arr_some', 'C') FROM pg_temp.run('arr_some', '150') x;
INSERT INTO arr SELECT 'one', replace(x, 'arr_one', 'C') FROM pg_temp.run('arr_one', '1') x;
SELECT x FROM arr WHERE k = 'whole' ORDER BY x;
SELECT k, count(*) AS lines, string_agg(x, E'\n' ORDER BY x) = (SELECT string_agg(x, E'\n' ORDER BY x) FROM arr WHERE k = 'whole') AS same_as_whole
  FROM arr GROUP BY k ORDER BY k;
-- a syntax error in the last element: nothing stored, one dead letter of the whole payload
SET pulse.collect_chunk_bytes = 1;
SELECT stored, dead_lettered FROM pulse.collect_batch('regress_chunks', '[{"v": 1}, {"v": 2}, {"v": }]', 'arr_bad');
RESET pulse.collect_chunk_bytes;
SELECT convert_from(payload, 'UTF8') AS payload, error FROM pulse.dead_letters WHERE project = 'regress_chunks' AND collection = 'arr_bad';

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_chunks', force => true);
DELETE FROM pulse.dead_letters WHERE project = 'regress_chunks';
DELETE FROM pulse.rejected_fields WHERE project = 'regress_chunks';
DROP EXTENSION pg_pulse;
