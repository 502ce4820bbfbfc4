#!/usr/bin/env python3
"""Writes the same events twice, in calls of BATCH events: as Segment track calls
(segment_NNNN.ndjson: one {"batch": [...]} envelope a line of 100 calls, userId on 30 % of them,
context with ip, userAgent, page.url, locale, campaign) and in pg_pulse's own dialect with the
columns the segment spec makes of them (pulse_NNNN.ndjson, one event a line, into a collection
named like the Segment event).

    gen.py EVENTS BATCH DIR [USER_SHARE=0.3]
"""
import json
import random
import sys

n, batch, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
user_share = float(sys.argv[4]) if len(sys.argv) > 4 else 0.3
rnd = random.Random(42)
names = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
for c in range(n // batch):
    seg, pul = [], []
    for k in range(c * batch, (c + 1) * batch):
        anon = "anon-%d" % rnd.randrange(50000)
        user = "user-%d" % (int(anon[5:]) % 20000) if rnd.random() < user_share else None
        ts = "2024-05-%02dT%02d:%02d:%02d.%03dZ" % (1 + k % 28, k % 24, k % 60, (k * 7) % 60, k % 1000)
        props = {"sku": "sku-%d" % rnd.randrange(1000), "price": round(rnd.random() * 100, 2),
                 "quantity": rnd.randrange(1, 5), "currency": "EUR"}
        ctx = {"ip": "10.0.%d.%d" % (k % 256, (k * 3) % 256), "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
               "locale": "de-DE", "page": {"url": "https://shop.example/p/%d" % (k % 500)},
               "campaign": {"source": "news", "medium": "email"}}
        ev = {"type": "track", "event": names[k % 4], "anonymousId": anon, "messageId": "m-%d" % k,
              "timestamp": ts, "properties": props, "context": ctx}
        if user:
            ev["userId"] = user
        seg.append(ev)
        p = {"collection": names[k % 4], "properties": dict(
            {"_time": ts, "_user": user or anon, "_id": "m-%d" % k, "anonymous_id": anon}, **props,
            context=ctx, context_ip=ctx["ip"], context_user_agent=ctx["userAgent"], context_locale=ctx["locale"],
            context_page_url=ctx["page"]["url"], context_campaign_source="news", context_campaign_medium="email")}
        pul.append(p)
    with open("%s/segment_%04d.ndjson" % (out, c), "w") as f:
        for i in range(0, len(seg), 100):
            f.write(json.dumps({"batch": seg[i:i + 100]}) + "\n")
    with open("%s/pulse_%04d.ndjson" % (out, c), "w") as f:
        for p in pul:
            f.write(json.dumps(p) + "\n")
print(n // batch)
