#!/usr/bin/env python3
"""Turns the country ranges Debian ships for tor (tor-geoipdb: /usr/share/tor/geoip and geoip6,
converted by Tor from the IPFire Location database) into the tab-separated networks
test/enrich/make_mmdb.pl reads, for pg_pulse's demo and enrichment benchmark.

    tor_geoip.py [--every K] [--limit N] [--v6] > ranges.tsv

--every K keeps one range in K (the whole file has ~400k ranges: the Perl writer takes
minutes over all of them), --limit N stops after N ranges of each family. Ranges whose
country is unknown ("??") are left out. Each output line: network, country code.
"""
import argparse
import ipaddress
import sys


def ranges(path, v6):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            lo, hi, cc = line.split(",")
            if cc == "??" or len(cc) != 2:
                continue
            if v6:
                yield ipaddress.IPv6Address(lo), ipaddress.IPv6Address(hi), cc
            else:
                yield ipaddress.IPv4Address(int(lo)), ipaddress.IPv4Address(int(hi)), cc


# IPv6 networks that the writer maps onto IPv4 (6to4, Teredo, IPv4-mapped): left out
ALIASED = [ipaddress.ip_network(n) for n in ("2002::/16", "2001::/32", "::ffff:0:0/96")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--v6", action="store_true", help="IPv6 ranges too")
    ap.add_argument("--dir", default="/usr/share/tor")
    a = ap.parse_args()
    out = sys.stdout
    families = [("geoip", False)] + ([("geoip6", True)] if a.v6 else [])
    for name, v6 in families:
        kept = 0
        for k, (lo, hi, cc) in enumerate(ranges(f"{a.dir}/{name}", v6)):
            if k % a.every:
                continue
            for net in ipaddress.summarize_address_range(lo, hi):
                if v6 and any(net.overlaps(a) for a in ALIASED):
                    continue
                out.write(f"{net}\t{cc}\n")
            kept += 1
            if a.limit and kept >= a.limit:
                break


main()
