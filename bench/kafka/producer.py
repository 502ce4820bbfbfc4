#!/usr/bin/python3
"""Kafka producers for bench/kafka/run.sh (Debian python3-confluent-kafka: run with /usr/bin/python3).

  producer.py warmup TOPIC PARTITIONS JSON_LINE [--stamp]
      sends JSON_LINE once to each partition 0..PARTITIONS-1 (with --stamp, a "sent_us" field
      holding the produce time in epoch microseconds is appended); waits for delivery.
  producer.py steady TOPIC RATE SECONDS
      sends events of bench/ingest/gen.py's shape plus "sent_us" (produce time, epoch us) at a
      steady RATE events/s for SECONDS, then flushes. Prints one line of JSON:
      {"sent": .., "delivered": .., "errors": .., "first_us": .., "last_us": .., "rate": ..}
  producer.py spread PREFIX COUNT RATE SECONDS
      like steady, over the topics PREFIX1 .. PREFIXCOUNT in turn, with small events
      {"k": n, "sent_us": ..} (bench/kafka/pool.sh: many subscriptions).
  producer.py bulk PREFIX COUNT PER_TOPIC
      sends PER_TOPIC small events to each of PREFIX1 .. PREFIXCOUNT as fast as it can.
Bootstrap servers: $KAFKA_BROKERS. Every wait is bounded.
"""
import datetime
import json
import os
import random
import sys
import time

from confluent_kafka import Producer


def now_us():
    return time.time_ns() // 1000


def make_producer(extra=None):
    conf = {"bootstrap.servers": os.environ["KAFKA_BROKERS"], "message.timeout.ms": 30000}
    conf.update(extra or {})
    return Producer(conf)


def warmup(topic, partitions, line, stamp):
    p = make_producer({"linger.ms": 0})
    errors = []

    def dr(err, msg):
        if err is not None:
            errors.append(str(err))

    base = line.rstrip("\n")
    for k in range(partitions):
        data = base[:-1] + ',"sent_us":%d}' % now_us() if stamp else base
        p.produce(topic, data.encode(), partition=k, on_delivery=dr)
    left = p.flush(35)
    if errors or left:
        sys.exit("warmup: %d not delivered: %s" % (len(errors) + left, errors[:3]))


def steady(topic, rate, seconds):
    # Event bodies are prepared up front (gen.py's shape and value ranges); only "sent_us" is
    # filled in at produce time so that producing stays cheap and steady.
    rnd = random.Random(7)
    countries = ["de", "fr", "us", "br", "in", "jp", "gb", "es"]
    paths = ["/", "/pricing", "/docs", "/blog/post-%d", "/signup", "/checkout"]
    t0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    bodies = []
    for i in range(min(int(rate * seconds), 50000)):
        t = (t0 + datetime.timedelta(seconds=i * 0.5)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        ev = {"_time": t, "_user": "user_%d" % rnd.randrange(100000),
              "url": rnd.choice(paths).replace("%d", str(rnd.randrange(500))),
              "country": rnd.choice(countries), "referrer": "https://example.com/r/%d" % rnd.randrange(10000),
              "price": round(rnd.random() * 200, 2), "quantity": rnd.randrange(1, 10),
              "duration_ms": rnd.randrange(10, 60000), "is_mobile": rnd.random() < 0.4,
              "is_new": rnd.random() < 0.1}
        bodies.append(json.dumps(ev, separators=(",", ":"))[:-1] + ',"sent_us":%d}')
    paced(rate, seconds, lambda n, us: (topic, (bodies[n % len(bodies)] % us).encode()))


def paced(rate, seconds, message):
    """Produces message(n, produce_time_us) -> (topic, bytes) at a steady rate for seconds, then
    flushes and prints one line of JSON (see the module doc)."""
    p = make_producer({"linger.ms": 1})
    state = {"delivered": 0, "errors": 0}

    def dr(err, msg):
        if err is None:
            state["delivered"] += 1
        else:
            state["errors"] += 1

    total = int(rate * seconds)
    sent = 0
    start = time.monotonic()
    first_us = last_us = 0
    hard_stop = start + seconds + 5          # never run much past the planned duration
    while sent < total:
        now = time.monotonic()
        if now > hard_stop:
            break
        due = min(total, int((now - start) * rate) + 1)
        while sent < due:
            us = now_us()
            if sent == 0:
                first_us = us
            topic, data = message(sent, us)
            try:
                p.produce(topic, data, on_delivery=dr)
            except BufferError:
                p.poll(0.01)
                continue
            last_us = us
            sent += 1
        p.poll(0)
        time.sleep(0.0005)
    left = p.flush(60)
    span = (last_us - first_us) / 1e6 if last_us > first_us else float("nan")
    print(json.dumps({"sent": sent, "delivered": state["delivered"], "errors": state["errors"] + left,
                      "first_us": first_us, "last_us": last_us,
                      "rate": round((sent - 1) / span, 1) if span == span else None}))


def spread(prefix, count, rate, seconds):
    paced(rate, seconds, lambda n, us: ("%s%d" % (prefix, n % count + 1), b'{"k":%d,"sent_us":%d}' % (n, us)))


def bulk(prefix, count, per_topic):
    p = make_producer({"linger.ms": 20, "batch.num.messages": 10000})
    errors = []

    def dr(err, msg):
        if err is not None:
            errors.append(str(err))

    for t in range(1, count + 1):
        topic = "%s%d" % (prefix, t)
        for k in range(per_topic):
            while True:
                try:
                    p.produce(topic, b'{"k":%d,"sent_us":0}' % k, on_delivery=dr)
                    break
                except BufferError:
                    p.poll(0.05)
        p.poll(0)
    left = p.flush(120)
    if errors or left:
        sys.exit("bulk: %d not delivered: %s" % (len(errors) + left, errors[:3]))


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "warmup":
        warmup(sys.argv[2], int(sys.argv[3]), sys.argv[4], "--stamp" in sys.argv[5:])
    elif len(sys.argv) == 5 and sys.argv[1] == "steady":
        steady(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    elif len(sys.argv) == 6 and sys.argv[1] == "spread":
        spread(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) == 5 and sys.argv[1] == "bulk":
        bulk(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
