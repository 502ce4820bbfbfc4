-- Binary COPY (pulse.copy_format = auto, the default): when every column of a batch has a
-- binary form pg_pulse makes, ingestion sends binary COPY rows instead of COPY text. The two
-- must store the same values and refuse the same ones for the same reasons: the same events go
-- into twin collections, one under auto (binary, as the DEBUG line shows) and one under text,
-- and the rows, rejected fields and dead letters are compared (docs/ingestion.md).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SELECT pulse.create_project('regress_bin');
-- its DEBUG1 output shows the COPYs alone (no persons tables)
SELECT pulse.set_track_persons('regress_bin', false);
-- every type with a binary form: text-like with limits, numbers, booleans, date-times with
-- precision, json and jsonb, uuid, bytea, and arrays of them
SELECT pulse.create_collection('regress_bin', c, $${
  "t": "text", "vc": "varchar(3)", "ch": "char(2)",
  "f8": "float8", "f4": "real", "i2": "int2", "i4": "integer", "i8": "bigint", "b": "boolean",
  "tstz": "timestamptz", "tstz3": "timestamptz(3)", "ts": "timestamp", "d": "date",
  "j": "json", "jb": "jsonb", "u": "uuid", "by": "bytea",
  "a_t": "text[]", "a_vc": "varchar(2)[]", "a_i8": "bigint[]", "a_f8": "float8[]", "a_b": "boolean[]",
  "a_ts3": "timestamptz(3)[]", "a_d": "date[]", "a_u": "uuid[]", "a_by": "bytea[]"
}$$) FROM unnest(ARRAY['bin', 'txt']) c;
-- a row Postgres refuses (not pg_pulse): its event becomes a dead letter, the others are stored
ALTER TABLE regress_bin.bin ADD CONSTRAINT no_13 CHECK (i4 IS DISTINCT FROM 13);
ALTER TABLE regress_bin.txt ADD CONSTRAINT no_13 CHECK (i4 IS DISTINCT FROM 13);
CREATE TEMP TABLE events(payload text);
INSERT INTO events VALUES ($$[
{"_id": "text", "_time": "2024-01-01T00:00:00Z", "_user": "u\t1", "t": "a\tb\nc\\d", "vc": "äöü", "ch": "x", "a_t": ["a", null, "b\"c", "", "NULL", "{x,y}"]},
{"_id": "text-other", "_time": "2024-01-01T00:00:01Z", "t": 5, "vc": true, "ch": 1.5, "a_t": ["x", 1, true, 2.5]},
{"_id": "text-json", "_time": "2024-01-01T00:00:02Z", "t": {"k": [1, 2]}, "a_t": []},
{"_id": "text-refused", "_time": "2024-01-01T00:00:03Z", "t": "nul\u0000here", "vc": "abcd", "ch": "abc", "a_vc": ["ab", "abc"]},
{"_id": "ints", "_time": "2024-01-01T00:00:04Z", "i2": 32767, "i4": -2147483648, "i8": 9223372036854775807, "a_i8": [1, null, -3]},
{"_id": "ints-text", "_time": "2024-01-01T00:00:05Z", "i2": "-12", "i4": "+7", "i8": "-9223372036854775808", "a_i8": ["5", 6.0]},
{"_id": "ints-refused", "_time": "2024-01-01T00:00:06Z", "i2": 32768, "i4": 1.5, "i8": "x", "a_i8": [1.5]},
{"_id": "floats", "_time": "2024-01-01T00:00:07Z", "f8": 0.1, "f4": 0.1, "a_f8": [1e308, -0.0, 5]},
{"_id": "floats-text", "_time": "2024-01-01T00:00:08Z", "f8": "1.5e3", "f4": "+0.3", "a_f8": ["2", 2.5e-300]},
{"_id": "floats-int", "_time": "2024-01-01T00:00:09Z", "f8": 9007199254740993, "f4": 16777217},
{"_id": "floats-refused", "_time": "2024-01-01T00:00:10Z", "f8": 1e-400, "f4": 1e39, "a_f8": ["1e999"]},
{"_id": "bools", "_time": "2024-01-01T00:00:11Z", "b": true, "a_b": [false, "true", null]},
{"_id": "bools-refused", "_time": "2024-01-01T00:00:12Z", "b": 1, "a_b": ["yes"]},
{"_id": "times", "_time": "2024-02-29T12:34:56.123456789Z", "tstz": "2024-01-01 00:00:00+05:30", "tstz3": "2024-01-01T00:00:00.123456Z", "ts": "2024-01-01T10:00:00-02:00", "d": "2024-02-29", "a_ts3": ["2024-01-01T00:00:00.9999Z", 1700000000123], "a_d": ["0001-01-01", "9999-12-31"]},
{"_id": "times-edge", "_time": 1700000000000, "tstz": "0001-01-01T00:00:00Z", "tstz3": "9999-12-31T23:59:59.999999Z", "ts": 1700000000000.5, "d": "1970-01-01"},
{"_id": "times-refused", "_time": "2024-01-01T00:00:13Z", "tstz": "not a time", "ts": true, "d": "2023-02-29", "a_d": ["2024-13-01"]},
{"_id": "json", "_time": "2024-01-01T00:00:14Z", "j": {"a": [1, "x"], "b": 1e-400}, "jb": {"b": 2, "a": 1e-400}},
{"_id": "json-scalars", "_time": "2024-01-01T00:00:15Z", "j": "str", "jb": [1, "two", null]},
{"_id": "json-refused", "_time": "2024-01-01T00:00:16Z", "jb": {"nul": "\u0000"}},
{"_id": "uuid-bytea", "_time": "2024-01-01T00:00:17Z", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "by": "héllo", "a_u": ["A0EEBC999C0B4EF8BB6D6BB9BD380A11"], "a_by": ["x\\y", null]},
{"_id": "uuid-refused", "_time": "2024-01-01T00:00:18Z", "u": "zz", "by": 5, "a_u": [1]},
{"_id": "not-arrays", "_time": "2024-01-01T00:00:19Z", "a_t": "x", "a_i8": {"a": 1}, "i4": [1], "b": {"x": 1}},
{"_id": "check", "_time": "2024-01-01T00:00:20Z", "i4": 13, "t": "refused by the CHECK constraint"},
{"_id": "nulls", "_time": "2024-01-01T00:00:21Z", "t": null, "i8": null, "a_t": null}
]$$);
-- auto: a binary COPY, which the CHECK constraint refuses (so no DEBUG line), then the batch
-- again as COPY text, where the refused row is isolated
SET pulse.copy_format = auto;
SET client_min_messages = debug1;
SELECT stored, rejected_fields, dead_lettered FROM pulse.collect_batch('regress_bin', (SELECT payload FROM events), 'bin');
RESET client_min_messages;
SET pulse.copy_format = text;
SELECT stored, rejected_fields, dead_lettered FROM pulse.collect_batch('regress_bin', (SELECT payload FROM events), 'txt');
-- without the constraint, a binary COPY stores the row (the DEBUG line)
ALTER TABLE regress_bin.bin DROP CONSTRAINT no_13;
ALTER TABLE regress_bin.txt DROP CONSTRAINT no_13;
SET pulse.copy_format = auto;
SET client_min_messages = debug1;
SELECT stored FROM pulse.collect('regress_bin', 'bin', '{"_id": "later", "_time": "2024-01-02T00:00:00Z", "i4": 13, "a_t": ["z"]}');
RESET client_min_messages;
SET pulse.copy_format = text;
SELECT stored FROM pulse.collect('regress_bin', 'txt', '{"_id": "later", "_time": "2024-01-02T00:00:00Z", "i4": 13, "a_t": ["z"]}');
RESET pulse.copy_format;

-- the same rows, column by column (system columns of the arrival left out)
CREATE TEMP VIEW bin_rows AS SELECT to_jsonb(r) - '_shard_time' - '_shard_xid' AS r FROM regress_bin.bin r;
CREATE TEMP VIEW txt_rows AS SELECT to_jsonb(r) - '_shard_time' - '_shard_xid' AS r FROM regress_bin.txt r;
SELECT (SELECT count(*) FROM bin_rows) AS bin, (SELECT count(*) FROM txt_rows) AS txt,
       (SELECT count(*) FROM (SELECT * FROM bin_rows EXCEPT SELECT * FROM txt_rows) d) AS only_bin,
       (SELECT count(*) FROM (SELECT * FROM txt_rows EXCEPT SELECT * FROM bin_rows) d) AS only_txt;
-- the same rejected fields and dead letters
CREATE TEMP VIEW rejected AS SELECT collection, event_id, field, raw_name, raw_value, expected_type, reason, event_user, event_time
  FROM pulse.rejected_fields WHERE project = 'regress_bin';
SELECT (SELECT count(*) FROM rejected WHERE collection = 'bin') AS bin, (SELECT count(*) FROM rejected WHERE collection = 'txt') AS txt,
       (SELECT count(*) FROM (SELECT event_id, field, raw_name, raw_value, expected_type, reason, event_user, event_time FROM rejected WHERE collection = 'bin'
                              EXCEPT SELECT event_id, field, raw_name, raw_value, expected_type, reason, event_user, event_time FROM rejected WHERE collection = 'txt') d) AS differ;
SELECT collection, convert_from(payload, 'UTF8')::jsonb->>'_id' AS id, split_part(error, ' (', 1) AS error FROM pulse.dead_letters WHERE project = 'regress_bin' ORDER BY 1;
-- what was stored (binary)
SELECT _id, _time, _user, t, vc, ch, a_t, a_vc FROM regress_bin.bin WHERE coalesce(t, vc, ch) IS NOT NULL OR a_t IS NOT NULL OR a_vc IS NOT NULL ORDER BY _id;
SELECT _id, i2, i4, i8, a_i8, f8, f4, a_f8, b, a_b FROM regress_bin.bin
 WHERE num_nonnulls(i2, i4, i8, a_i8, f8, f4, a_f8, b, a_b) > 0 ORDER BY _id;
SELECT _id, _time, tstz, tstz3, ts, d, a_ts3, a_d FROM regress_bin.bin WHERE num_nonnulls(tstz, tstz3, ts, d, a_ts3, a_d) > 0 ORDER BY _id;
SELECT _id, j, jb, u, by, a_u, a_by FROM regress_bin.bin WHERE num_nonnulls(j, jb, u, by, a_u, a_by) > 0 ORDER BY _id;
SELECT event_id, field, raw_value, expected_type, reason FROM rejected WHERE collection = 'bin' ORDER BY event_id, field;
SELECT pulse.drop_project('regress_bin', force => true);
