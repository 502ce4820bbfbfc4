#!/usr/bin/python3
"""A plain librdkafka consumer (Debian python3-confluent-kafka; run with /usr/bin/python3) that
measures its own freshness, the baseline of bench/kafka/pool.sh's freshness figures:

  probe.py PREFIX COUNT SECONDS
      consumes topics PREFIX1 .. PREFIXCOUNT from their end for SECONDS; for every message with
      a "sent_us" field (produce time, epoch us), receive time - produce time. Prints one line
      of JSON: {"n": .., "p50": ms, "p99": ms, "max": ms}.
Bootstrap servers: $KAFKA_BROKERS.
"""
import json
import os
import sys
import time

from confluent_kafka import Consumer


def main(prefix, count, seconds):
    c = Consumer({"bootstrap.servers": os.environ["KAFKA_BROKERS"], "group.id": "probe-%d" % os.getpid(),
                  "auto.offset.reset": "latest", "enable.auto.commit": False})
    c.subscribe(["%s%d" % (prefix, i) for i in range(1, count + 1)])
    lat = []
    end = time.time() + seconds
    while time.time() < end:
        for m in c.consume(1000, 0.1):
            if m.error():
                continue
            sent = json.loads(m.value()).get("sent_us")
            if sent:
                lat.append(time.time() * 1000 - sent / 1000)
    c.close()
    lat.sort()
    if not lat:
        print(json.dumps({"n": 0, "p50": None, "p99": None, "max": None}))
        return
    print(json.dumps({"n": len(lat), "p50": round(lat[len(lat) // 2]), "p99": round(lat[int(len(lat) * 0.99)]),
                      "max": round(lat[-1])}))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
