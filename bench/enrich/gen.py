#!/usr/bin/env python3
"""Events for bench/enrich/run.sh: realistic traffic for the enrichers, as NDJSON chunks.

    gen.py EVENTS EVENTS_PER_CHUNK OUT_DIR RANGES_TSV

20k distinct public IPs (inside the networks of RANGES_TSV, the test database's ranges),
2k distinct user agents (the real ones of uap-core's test cases), 300 distinct referrers
(search engines with terms, social sites and mail from the Snowplow data, other sites, the
shop's own pages), page URLs of which a third carry UTM parameters and some a click id.
Popularity is skewed (a few agents and referrers are most of the traffic), like real traffic.
Prints the number of chunks written (chunk_0000.ndjson ...). Deterministic (fixed seed).
"""
import ipaddress
import json
import random
import re
import sys

N, CHUNK, OUT, RANGES = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rnd = random.Random(17)

nets = []
with open(RANGES) as f:
    for line in f:
        net = ipaddress.ip_network(line.split("\t")[0])
        if net.version == 4 and net.num_addresses >= 4:
            nets.append(net)
ips = set()
while len(ips) < 20000:
    net = rnd.choice(nets)
    ips.add(str(net[rnd.randrange(net.num_addresses)]))
ips = sorted(ips)

agents = []
seen = set()
for path in ("/usr/share/uap-core/tests/test_ua.yaml", "/usr/share/uap-core/tests/test_device.yaml",
             "/usr/share/uap-core/tests/test_os.yaml"):
    with open(path, encoding="utf-8") as f:
        for m in re.finditer(r"user_agent_string: '((?:[^']|'')*)'", f.read()):
            ua = m.group(1).replace("''", "'")
            if ua and ua not in seen:
                seen.add(ua)
                agents.append(ua)
rnd.shuffle(agents)
agents = agents[:2000]

terms = ["red shoes", "pg pulse", "postgres analytics", "event tracking", "funnel", "cheap flights", "news"]
referrers = []
for host in ["www.google.com", "www.google.co.uk", "www.google.de", "www.bing.com", "yandex.ru", "search.yahoo.com"]:
    for t in terms * 2:
        referrers.append(f"https://{host}/search?q={t.replace(' ', '+')}&n={len(referrers)}")
for host in ["www.facebook.com", "t.co", "twitter.com", "www.linkedin.com", "www.reddit.com", "mail.google.com"]:
    for k in range(15):
        referrers.append(f"https://{host}/p/{k}")
for k in range(40):
    referrers.append(f"https://blog{k}.example.org/post/{k}")
while len(referrers) < 300:
    referrers.append(f"https://shop.example/page/{len(referrers)}")
referrers = referrers[:300]


def skewed(items):  # Zipf-like weights: the first items are the most frequent
    return [1.0 / (k + 1) ** 0.8 for k in range(len(items))]


w_agents, w_refs = skewed(agents), skewed(referrers)
chunks = 0
events = []
for k in range(N):
    url = f"https://shop.example/p/{k % 500}"
    r = rnd.random()
    if r < 0.33:
        url += f"?utm_source=news{k % 7}&utm_medium=email&utm_campaign=c{k % 13}&utm_content=v{k % 3}"
    elif r < 0.40:
        url += f"?gclid=g{k}"
    events.append(json.dumps({
        "n": k,
        "ip": ips[k % len(ips)] if k < len(ips) else rnd.choice(ips),
        "user_agent": rnd.choices(agents, w_agents)[0] if k >= len(agents) else agents[k],
        "referrer": rnd.choices(referrers, w_refs)[0] if k >= len(referrers) else referrers[k],
        "url": url,
        "price": round(rnd.random() * 100, 2),
    }, ensure_ascii=False))
    if len(events) == CHUNK or k == N - 1:
        with open(f"{OUT}/chunk_{chunks:04d}.ndjson", "w", encoding="utf-8") as f:
            f.write("\n".join(events) + "\n")
        events = []
        chunks += 1
print(chunks)
