#!/usr/bin/env bash
# Kafka Avro ingestion end to end, bytes made by python3-avro (independent of Avro C):
# format avro (one registered writer schema) and avro-confluent (schema id in each message);
# schema evolution mid-stream adds a column; an unknown schema id, a truncated message and a
# bad magic byte land in dead_letters (bytes intact) beside the good rows of their batch.
set -euo pipefail
. "$PULSE_REPO/test/kafka/lib.sh"
DB=${PGDATABASE:-pulse_test}
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
W=$(mktemp -d)
fail() { echo "FAIL: $*"; $Q -c "SELECT * FROM pulse.kafka_status" 2>&1 | head; $Q -c "SELECT id, error, source FROM pulse.dead_letters WHERE project = 'kavro'" 2>&1 | head; exit 1; }
cat > "$W/v1.avsc" <<'AVSC'
{"type": "record", "name": "ev", "fields": [
  {"name": "seq", "type": "long"}, {"name": "name", "type": "string"}, {"name": "price", "type": "double"},
  {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "day", "type": {"type": "int", "logicalType": "date"}},
  {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "meta", "type": {"type": "record", "name": "m", "fields": [{"name": "src", "type": "string"}, {"name": "n", "type": "long"}]}},
  {"name": "opt", "type": ["null", "int"], "default": null}]}
AVSC
/usr/bin/python3 -c "import json; s = json.load(open('$W/v1.avsc')); s['fields'].append({'name': 'coupon', 'type': 'string', 'default': ''}); json.dump(s, open('$W/v2.avsc', 'w'))"

# whatever happens, the project (and so its subscriptions and workers) goes away at the end
trap '$Q -c "SELECT pulse.drop_project('"'"'kavro'"'"', force => true) FROM pulse.projects WHERE name = '"'"'kavro'"'"'" >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
kafka_start avro_raw:2 avro_cf:2
$Q -c "CREATE EXTENSION IF NOT EXISTS pg_pulse" >/dev/null
$Q -c "SELECT pulse.drop_project('kavro', force => true) FROM pulse.projects WHERE name = 'kavro'" >/dev/null 2>&1 || true
$Q -c "SELECT pulse.create_project('kavro')" >/dev/null
ID1=$($Q -c "SELECT pulse.register_avro_schema('ev-value', pg_read_file('$W/v1.avsc'))" 2>/dev/null || $Q -c "SELECT pulse.register_avro_schema('ev-value', \$\$$(cat "$W/v1.avsc")\$\$)")
ID2=$($Q -c "SELECT pulse.register_avro_schema('ev-value', \$\$$(cat "$W/v2.avsc")\$\$)")
OPTS='"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"'
S1=$($Q -c "SELECT pulse.kafka_subscribe('kavro', ARRAY['avro_raw'], '$KAFKA_BROKERS', format => 'avro', collection => 'ar',
             options => '{\"avro.schema_id\": $ID1, $OPTS}', batch_timeout => '100 ms')")
S2=$($Q -c "SELECT pulse.kafka_subscribe('kavro', ARRAY['avro_cf'], '$KAFKA_BROKERS', format => 'avro-confluent',
             collection => 'ac', options => '{$OPTS}', batch_timeout => '100 ms')")

# raw: 100 good messages and a truncated one in the same partition
/usr/bin/python3 "$PULSE_REPO/test/kafka/avro_encode.py" "$W/v1.avsc" "$W" raw 0 100 raw
head -c 7 "$W/raw_000005.bin" > "$W/raw_zz_truncated.bin"
kafka_produce_binary avro_raw 0 "$W"/raw_0000*.bin "$W/raw_zz_truncated.bin" >/dev/null
wait_for "SELECT count(*) FROM kavro.ar" 100 60
wait_for "SELECT count(*) FROM pulse.dead_letters WHERE project = 'kavro' AND collection = 'ar'" 1 20
[ "$($Q -c "SELECT octet_length(payload) || '|' || (error LIKE '%truncated%') FROM pulse.dead_letters WHERE project = 'kavro' AND collection = 'ar'")" = "7|true" ] \
  || fail "truncated message"
types=$($Q -c "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attname) FROM pg_attribute
               WHERE attrelid = 'kavro.ar'::regclass AND attnum > 0 AND attname NOT LIKE '\_%'")
[ "$types" = "at timestamp with time zone, day date, meta jsonb, name text, opt integer, price double precision, seq bigint, tags text[]" ] \
  || fail "column types: $types"
row=$($Q -c "SELECT seq, name, price, at, day, tags, meta->>'src', meta->>'n', opt FROM kavro.ar WHERE seq = 4")
[ "$row" = "4|n4|4.25|2024-01-01 00:00:04+00|2024-02-05|{t1,x}|py|4|4" ] || fail "row 4: $row"
[ "$($Q -c "SELECT count(*) FILTER (WHERE opt IS NULL) FROM kavro.ar")" = 50 ] || fail "nullable union"
echo "ok 1 - format avro: 100 records typed from the writer schema (bigint, timestamptz, date, text[], jsonb, nullable int); a truncated message dead-lettered"

# confluent: v1, a message with an unknown schema id, a bad magic byte, then v2 (new field)
/usr/bin/python3 "$PULSE_REPO/test/kafka/avro_encode.py" "$W/v1.avsc" "$W" cfa 0 100 confluent "$ID1"
/usr/bin/python3 "$PULSE_REPO/test/kafka/avro_encode.py" "$W/v2.avsc" "$W" cfc 100 100 confluent "$ID2"
/usr/bin/python3 "$PULSE_REPO/test/kafka/avro_encode.py" "$W/v1.avsc" "$W" cfb 500 1 confluent 99999
printf '\001\000\000\000\001xyz' > "$W/cfb_magic.bin"
kafka_produce_binary avro_cf 0 "$W"/cfa_*.bin "$W"/cfb_*.bin "$W"/cfc_*.bin >/dev/null
wait_for "SELECT count(*) FROM kavro.ac" 200 60
wait_for "SELECT count(*) FROM pulse.dead_letters WHERE project = 'kavro' AND collection = 'ac'" 2 20
[ "$($Q -c "SELECT count(*) FROM pulse.dead_letters WHERE project = 'kavro' AND collection = 'ac' AND error LIKE '%unknown Avro schema id 99999%'")" = 1 ] \
  || fail "unknown schema id"
[ "$($Q -c "SELECT count(*) FROM pulse.dead_letters WHERE project = 'kavro' AND collection = 'ac' AND error LIKE '%magic%' AND payload = '\\x01000000017879 7a'::bytea")" = 1 ] \
  || [ "$($Q -c "SELECT count(*) FROM pulse.dead_letters WHERE project = 'kavro' AND collection = 'ac' AND error LIKE '%magic%' AND payload = '\\x0100000001'::bytea || 'xyz'::bytea")" = 1 ] \
  || fail "bad magic byte"
[ "$($Q -c "SELECT count(coupon) || '|' || min(seq) FILTER (WHERE coupon IS NOT NULL) || '|' || min(coupon) FILTER (WHERE seq = 150) FROM kavro.ac")" = "100|100|C150" ] \
  || fail "schema evolution"
[ "$($Q -c "SELECT count(DISTINCT seq) FROM kavro.ac")" = 200 ] || fail "exactly once"
echo "ok 2 - format avro-confluent: 200 records over two writer schemas (the new field became a column), unknown id and bad magic dead-lettered"

# the schema pg_pulse proposes for a collection reads back what it describes
$Q -c "SELECT pulse.avro_schema('kavro', 'ac')" > "$W/proposed.avsc"
/usr/bin/python3 -c "import avro.schema, sys; s = avro.schema.parse(open('$W/proposed.avsc').read()); sys.exit(0 if {'seq','coupon','_time'} <= {f.name for f in s.fields} else 1)" \
  || fail "pulse.avro_schema is not a schema python3-avro accepts"
echo "ok 3 - pulse.avro_schema(project, collection) is a schema an independent Avro library parses"

. "$PULSE_REPO/test/lib.sh"
assert_partitioned "$DB" kavro
$Q -c "SELECT pulse.kafka_unsubscribe($S1)" -c "SELECT pulse.kafka_unsubscribe($S2)" >/dev/null
$Q -c "SELECT pulse.drop_project('kavro', force => true)" >/dev/null 2>&1
rm -rf "$W"
echo "kafka_avro: all ok"
