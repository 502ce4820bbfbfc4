-- Column types by class: for every kind of column pg_pulse knows, the values it stores, their
-- text, and why it refuses the others (docs/ingestion.md, "Values that do not fit an existing
-- column"). A column's class comes from its type (oid and typmod): varchar(n) / char(n) limits,
-- arrays of each class, timestamp(3), name, citext, bpchar; domains are "other" types, whose
-- values Postgres checks itself (not their base type). pulse.avro_schema shows each class too.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS pg_pulse;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
CREATE DOMAIN public.regress_types_int AS integer;
CREATE DOMAIN public.regress_types_code AS varchar(3);
SELECT pulse.create_project('regress_types');
SELECT pulse.create_collection('regress_types', 'every', $${
  "t": "text", "vc": "varchar(3)", "ch": "char(2)", "bp": "bpchar", "nm": "name", "ci": "public.citext",
  "f8": "float8", "f4": "real", "num": "numeric", "num_ps": "numeric(10,2)",
  "i2": "int2", "i4": "integer", "i8": "bigint", "b": "boolean",
  "tstz": "timestamptz", "tstz3": "timestamptz(3)", "ts3": "timestamp(3)", "d": "date",
  "j": "json", "jb": "jsonb", "u": "uuid", "by": "bytea",
  "ip": "inet", "iv": "interval", "dom_int": "public.regress_types_int", "dom_code": "public.regress_types_code",
  "a_vc": "varchar(3)[]", "a_i4": "int[]", "a_ts3": "timestamptz(3)[]", "a_jb": "jsonb[]", "a_b": "boolean[]",
  "a_by": "bytea[]", "a_ci": "public.citext[]", "a_ip": "inet[]", "a_dom": "public.regress_types_int[]"
}$$);
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'regress_types.every'::regclass AND attnum > 5 AND NOT attisdropped ORDER BY attnum;

-- values that fit every column
SELECT * FROM pulse.collect_batch('regress_types', $$[{"_id": "fits",
  "t": 1.5e3, "vc": "abc", "ch": "ab", "bp": "any length", "nm": "n", "ci": "MiXed",
  "f8": "2.5e1", "f4": 1.5, "num": "1234567890.123456789", "num_ps": "12.345", "i2": 7.0, "i4": "+12", "i8": 9007199254740993,
  "b": "true", "tstz": 1714557600123, "tstz3": "2024-05-01T10:00:00.123456Z", "ts3": 1714557600123,
  "d": "2024-05-01", "j": {"k": [1, 2]}, "jb": "x", "u": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "by": "\\x41",
  "ip": "10.0.0.1", "iv": "1 day", "dom_int": 5, "dom_code": "ab",
  "a_vc": ["a", null, "abc"], "a_i4": [1, 2.0, "3"], "a_ts3": [1714557600123, "2024-05-01T10:00:00Z"],
  "a_b": [true, "false"], "a_by": ["ab"], "a_ci": ["A", "b"], "a_ip": ["10.0.0.1"], "a_dom": [1, null]}]$$, 'every');
-- values pg_pulse refuses by the column's class
SELECT * FROM pulse.collect_batch('regress_types', $$[{"_id": "refused_by_class",
  "vc": "abcd", "ch": "abc", "f8": "abc", "f4": 1e39, "num": "abc", "i2": 40000, "i4": 1.5, "i8": {"o": 1},
  "b": "yes", "tstz": "2024-05-01", "ts3": true, "d": "2024-05-01T00:00:00Z", "jb": "\u0000", "u": "zzz",
  "by": 5, "a_vc": ["a", "abcd"], "a_i4": [1, "x"], "a_ts3": "notarray", "a_jb": [{"a": 1}], "a_b": [1],
  "t": "nul \u0000 inside", "ci": "nul \u0000 inside", "tstz3": 1e300}]$$, 'every');
-- values only Postgres refuses (other types, domains and numeric(p,s) precision)
SELECT * FROM pulse.collect_batch('regress_types', $$[{"_id": "refused_by_postgres",
  "num_ps": 123456789, "ip": "not-an-ip", "iv": "soon", "dom_int": 1.5, "dom_code": "abcd",
  "a_ip": ["10.0.0.1", "x"], "a_dom": [1, 1.5], "t": "kept"}]$$, 'every');

\x on
SELECT t, vc, ch, bp, nm, ci, f8, f4, num, num_ps, i2, i4, i8, b, tstz, tstz3, ts3, d, j, jb, u, by, ip, iv,
       dom_int, dom_code, a_vc, a_i4, a_ts3, a_b, a_by, a_ci, a_ip, a_dom
  FROM regress_types.every WHERE _id = 'fits';
\x off
-- the events with refused values are stored, those values as NULL
SELECT _id, jsonb_strip_nulls(to_jsonb(e) - ARRAY['_id', '_time', '_shard_time', '_shard_xid']) AS stored
  FROM regress_types.every AS e WHERE _id <> 'fits' ORDER BY _id;
SELECT event_id, field, raw_value, expected_type, reason FROM pulse.rejected_fields
 WHERE project = 'regress_types' ORDER BY id;
SELECT count(*) AS dead_letters FROM pulse.dead_letters WHERE project = 'regress_types';

-- the Avro type of each column follows its class (numeric(p,s) keeps its precision and scale)
SELECT f->>'name' AS field, f->'type'->1 AS avro_type
  FROM jsonb_array_elements(pulse.avro_schema('regress_types', 'every')::jsonb->'fields') AS f;

SET client_min_messages = warning;
SELECT pulse.drop_project('regress_types', force => true);
RESET client_min_messages;
DROP DOMAIN public.regress_types_int, public.regress_types_code;
DROP EXTENSION citext;
