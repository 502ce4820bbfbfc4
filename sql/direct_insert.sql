-- The direct write path (pulse.copy_format = auto, the default): binary rows go into the
-- collection through the table and index routines COPY uses, without COPY. Whatever only COPY
-- does (INSERT triggers, volatile defaults, a leaf partition with triggers) sends the rows
-- through COPY instead; the DEBUG line says which way rows went. Every case compares with a twin
-- collection written by binary COPY (pulse.copy_format = copy) or checks what COPY would do.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
RESET client_min_messages;
SET timezone = 'UTC';
SELECT pulse.create_project('regress_direct');
SELECT pulse.set_track_persons('regress_direct', false);
CREATE TEMP TABLE batch(payload text);
INSERT INTO batch VALUES ($$[
{"_id": "a", "_time": "2024-03-01T10:00:00Z", "_user": "u1", "t": "x", "n": 1, "f": 1.5, "b": true, "j": {"k": [1, 2]}, "arr": [1, 2]},
{"_id": "b", "_time": "2024-03-02T10:00:00Z", "_user": "u2", "t": "y", "n": 2, "f": -0.5, "b": false, "j": [1], "arr": []},
{"_id": "c", "_time": "2024-03-03T10:00:00Z", "t": null, "n": 3},
{"_id": "d", "_time": "2024-03-01T11:00:00Z", "_user": "u1", "t": "z", "n": "not a number"}
]$$);
-- the rows of two collections compared, without the arrival columns
CREATE FUNCTION pg_temp.same(a text, b text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d1 bigint; d2 bigint; n1 bigint; n2 bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s', a) INTO n1;
  EXECUTE format('SELECT count(*) FROM %s', b) INTO n2;
  EXECUTE format('SELECT count(*) FROM (SELECT to_jsonb(r) - ''_shard_time'' - ''_shard_xid'' FROM %s r EXCEPT ALL '
                 'SELECT to_jsonb(r) - ''_shard_time'' - ''_shard_xid'' FROM %s r) d', a, b) INTO d1;
  EXECUTE format('SELECT count(*) FROM (SELECT to_jsonb(r) - ''_shard_time'' - ''_shard_xid'' FROM %s r EXCEPT ALL '
                 'SELECT to_jsonb(r) - ''_shard_time'' - ''_shard_xid'' FROM %s r) d', b, a) INTO d2;
  RETURN format('%s / %s rows, %s / %s differ', n1, n2, d1, d2);
END $$;

-- 1. plain and day-partitioned collections: directly, the same rows and rejected fields as COPY
SELECT pulse.create_collection('regress_direct', c, partition_by => p)
  FROM (VALUES ('plain', 'none'), ('plain_copy', 'none'), ('parted', 'day'), ('parted_copy', 'day')) v(c, p);
SET client_min_messages = debug1;
SELECT stored, rejected_fields, dead_lettered FROM pulse.collect_batch('regress_direct', (SELECT payload FROM batch), 'plain');
SELECT stored, rejected_fields, dead_lettered FROM pulse.collect_batch('regress_direct', (SELECT payload FROM batch), 'parted');
SET pulse.copy_format = copy;
SELECT stored, rejected_fields, dead_lettered FROM pulse.collect_batch('regress_direct', (SELECT payload FROM batch), 'plain_copy');
SELECT stored, rejected_fields, dead_lettered FROM pulse.collect_batch('regress_direct', (SELECT payload FROM batch), 'parted_copy');
RESET pulse.copy_format;
RESET client_min_messages;
SELECT pg_temp.same('regress_direct.plain', 'regress_direct.plain_copy') AS plain,
       pg_temp.same('regress_direct.parted', 'regress_direct.parted_copy') AS parted;
SELECT tableoid::regclass AS partition, count(*) FROM regress_direct.parted GROUP BY 1 ORDER BY 1;

-- 2. a partition made after a column was dropped has another layout than the collection: rows
-- are converted to it (the twins get the same ALTER)
ALTER TABLE regress_direct.parted DROP COLUMN f;
ALTER TABLE regress_direct.parted_copy DROP COLUMN f;
INSERT INTO batch VALUES ($${"_id": "e", "_time": "2024-04-01T00:00:00Z", "_user": "u3", "t": "after", "n": 5, "b": true, "j": {"x": 1}, "arr": [7]}$$);
SET client_min_messages = debug1;
SELECT stored FROM pulse.collect_batch('regress_direct', (SELECT payload FROM batch OFFSET 1), 'parted');
SET pulse.copy_format = copy;
SELECT stored FROM pulse.collect_batch('regress_direct', (SELECT payload FROM batch OFFSET 1), 'parted_copy');
RESET pulse.copy_format;
RESET client_min_messages;
SELECT pg_temp.same('regress_direct.parted', 'regress_direct.parted_copy') AS parted;
SELECT _id, t, n, b, j, arr FROM regress_direct.parted WHERE _id = 'e';
SELECT count(*) AS converted FROM pg_attribute a JOIN pg_inherits i ON a.attrelid = i.inhrelid
 WHERE i.inhparent = 'regress_direct.parted'::regclass AND a.attname = 'b'
   AND a.attnum <> (SELECT attnum FROM pg_attribute WHERE attrelid = 'regress_direct.parted'::regclass AND attname = 'b');

-- 3. an INSERT trigger (only a superuser can add one): the rows go by COPY, which fires it
CREATE TABLE public.direct_log(id text, what text);
CREATE FUNCTION public.direct_log_row() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO public.direct_log VALUES (NEW._id, TG_OP || ' ' || TG_LEVEL); RETURN NEW; END $$;
CREATE FUNCTION public.direct_log_stmt() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO public.direct_log VALUES (NULL, TG_OP || ' ' || TG_LEVEL); RETURN NULL; END $$;
CREATE TRIGGER log_rows AFTER INSERT ON regress_direct.plain FOR EACH ROW EXECUTE FUNCTION public.direct_log_row();
SET client_min_messages = debug1;
SELECT stored FROM pulse.collect('regress_direct', 'plain', '{"_id": "t1", "n": 10}');
RESET client_min_messages;
DROP TRIGGER log_rows ON regress_direct.plain;
CREATE TRIGGER log_stmt AFTER INSERT ON regress_direct.plain FOR EACH STATEMENT EXECUTE FUNCTION public.direct_log_stmt();
SET client_min_messages = debug1;
SELECT stored FROM pulse.collect('regress_direct', 'plain', '{"_id": "t2", "n": 11}');
RESET client_min_messages;
DROP TRIGGER log_stmt ON regress_direct.plain;
SELECT * FROM public.direct_log ORDER BY id NULLS LAST;

-- 4. a BEFORE trigger on one partition: rows routed to it go by COPY (the whole batch, as COPY
-- text), and it changes them; nothing is lost
CREATE FUNCTION public.direct_upper() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.t := upper(NEW.t); RETURN NEW; END $$;
SELECT format('CREATE TRIGGER up BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.direct_upper()',
              (SELECT tableoid::regclass FROM regress_direct.parted WHERE _id = 'b')) \gexec
SELECT stored, rejected_fields, dead_lettered FROM pulse.collect_batch('regress_direct',
  '{"_id": "p1", "_time": "2024-03-01T12:00:00Z", "t": "one"}
{"_id": "p2", "_time": "2024-03-02T12:00:00Z", "t": "two"}
{"_id": "p3", "_time": "2024-03-03T12:00:00Z", "t": "three"}', 'parted');
SELECT _id, t FROM regress_direct.parted WHERE _id LIKE 'p_' ORDER BY _id;

-- 5. a volatile default (a sequence): COPY, which evaluates it per row
CREATE SEQUENCE public.direct_seq;
ALTER TABLE regress_direct.plain ADD COLUMN seq bigint DEFAULT nextval('public.direct_seq');
SET client_min_messages = debug1;
SELECT stored FROM pulse.collect_batch('regress_direct', '{"_id": "s1"}
{"_id": "s2"}', 'plain');
RESET client_min_messages;
SELECT _id, seq FROM regress_direct.plain WHERE _id LIKE 's_' ORDER BY _id;
ALTER TABLE regress_direct.plain DROP COLUMN seq;

-- 6. a stable default is evaluated once and stored with every row; a NOT NULL constraint
-- refuses a row (its event becomes a dead letter, as COPY's error), the other rows are stored
ALTER TABLE regress_direct.plain ADD COLUMN origin text DEFAULT current_setting('timezone');
DELETE FROM regress_direct.plain WHERE t IS NULL;
DELETE FROM regress_direct.plain_copy WHERE t IS NULL;
ALTER TABLE regress_direct.plain ALTER COLUMN t SET NOT NULL;
ALTER TABLE regress_direct.plain_copy ALTER COLUMN t SET NOT NULL;
SELECT stored, dead_lettered FROM pulse.collect_batch('regress_direct', '{"_id": "n1", "t": "has t"}
{"_id": "n2", "n": 1}', 'plain');
SET pulse.copy_format = copy;
SELECT stored, dead_lettered FROM pulse.collect_batch('regress_direct', '{"_id": "n1", "t": "has t"}
{"_id": "n2", "n": 1}', 'plain_copy');
RESET pulse.copy_format;
SELECT _id, t, origin FROM regress_direct.plain WHERE _id LIKE 'n_' ORDER BY _id;
SELECT collection, split_part(error, ' (', 1) AS error, convert_from(payload, 'UTF8')::jsonb->>'_id' AS id FROM pulse.dead_letters
 WHERE project = 'regress_direct' ORDER BY collection;

-- 7. dedup (a unique _id): a batch repeating a stored _id counts it as a duplicate
SELECT pulse.create_collection('regress_direct', 'dedup', dedup => true);
SELECT stored, duplicates FROM pulse.collect_batch('regress_direct', '{"_id": "x1"}
{"_id": "x2"}', 'dedup');
SELECT stored, duplicates FROM pulse.collect_batch('regress_direct', '{"_id": "x2"}
{"_id": "x3"}', 'dedup');
SELECT _id FROM regress_direct.dedup ORDER BY 1;

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_direct', force => true);
DROP TABLE public.direct_log;
DROP FUNCTION public.direct_log_row(), public.direct_log_stmt(), public.direct_upper();
DROP SEQUENCE public.direct_seq;
DROP EXTENSION pg_pulse;
