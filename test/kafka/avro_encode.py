#!/usr/bin/python3
"""Encodes test records with python3-avro (an encoder independent of pg_pulse's Avro C decoder)
into one file per message: avro_encode.py SCHEMA_FILE OUT_DIR PREFIX FIRST COUNT FRAMING [ID]
FRAMING: raw | confluent (magic byte 0 + 4-byte big-endian schema id). Records carry seq,
name, price, at (timestamp-millis), day (date), tags, meta (record), opt (nullable int) and,
when the schema has it, coupon."""
import datetime, io, json, os, struct, sys
import avro.io, avro.schema

schema_file, out, prefix, first, count, framing = sys.argv[1:7]
sid = int(sys.argv[7]) if len(sys.argv) > 7 else 0
text = open(schema_file).read()
schema = avro.schema.parse(text)
fields = {f["name"] for f in json.loads(text)["fields"]}
writer = avro.io.DatumWriter(schema)
for k in range(int(first), int(first) + int(count)):
    rec = {"seq": k, "name": "n%d" % k, "price": k + 0.25,
           "at": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=k),
           "day": datetime.date(2024, 2, 1) + datetime.timedelta(days=k % 28),
           "tags": ["t%d" % (k % 3), "x"], "meta": {"src": "py", "n": k}, "opt": None if k % 2 else k}
    if "coupon" in fields:
        rec["coupon"] = "C%d" % k
    buf = io.BytesIO()
    if framing == "confluent":
        buf.write(b"\x00" + struct.pack(">I", sid))
    writer.write(rec, avro.io.BinaryEncoder(buf))
    with open(os.path.join(out, "%s_%06d.bin" % (prefix, k)), "wb") as f:
        f.write(buf.getvalue())
