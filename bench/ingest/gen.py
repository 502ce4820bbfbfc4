#!/usr/bin/env python3
"""Writes N synthetic events (10 fields: strings, numbers, booleans, an ISO timestamp) twice:
as NDJSON chunks for pulse.collect_batch and as one CSV of the same rows for COPY."""
import json, random, sys, os, datetime

n, chunk, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rnd = random.Random(42)
countries = ["de", "fr", "us", "br", "in", "jp", "gb", "es"]
paths = ["/", "/pricing", "/docs", "/blog/post-%d", "/signup", "/checkout"]
t0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
csv = open(os.path.join(out, "events.csv"), "w")
part, f = 0, None
for i in range(n):
    if i % chunk == 0:
        if f: f.close()
        f = open(os.path.join(out, "chunk_%04d.ndjson" % part), "w"); part += 1
    t = (t0 + datetime.timedelta(seconds=i * 0.5)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    ev = {"_time": t, "_user": "user_%d" % rnd.randrange(100000),
          "url": rnd.choice(paths).replace("%d", str(rnd.randrange(500))),
          "country": rnd.choice(countries), "referrer": "https://example.com/r/%d" % rnd.randrange(10000),
          "price": round(rnd.random() * 200, 2), "quantity": rnd.randrange(1, 10),
          "duration_ms": rnd.randrange(10, 60000), "is_mobile": rnd.random() < 0.4, "is_new": rnd.random() < 0.1}
    f.write(json.dumps(ev, separators=(",", ":")) + "\n")
    csv.write("%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n" % (t, ev["_user"], ev["url"], ev["country"], ev["referrer"], ev["price"],
              ev["quantity"], ev["duration_ms"], "t" if ev["is_mobile"] else "f", "t" if ev["is_new"] else "f"))
f.close(); csv.close()
print(part)
