#!/usr/bin/env bash
# bench/enrich: ingestion speed with every enricher on (geo-IP, user agent, referrer, campaign)
# vs without enrichment, the same events through pulse.collect_batch on one backend in the same
# run, and each enricher alone (its cost per event and lookups/s). A third load sends the same
# events with the derived columns already in them (enrichment off): enriched rows are wider,
# and that load tells the cost of storing the extra columns from the cost of the lookups. Realistic traffic
# (bench/enrich/gen.py): 20k distinct IPs, 2k distinct user agents, 300 referrers. The geo-IP
# database is built from the country ranges Debian ships for tor (test/enrich/tor_geoip.py +
# make_mmdb.pl).
#   bash bench/enrich/run.sh [events=200000] [events_per_call=20000] [rounds=2]
# Starts the private test cluster (test/cluster.sh: PGBIN, PULSE_TEST_DIR, PULSE_TEST_PORT) unless
# PULSE_BENCH_USE_RUNNING=1. Files go to $PULSE_TEST_DIR/bench_enrich.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-200000}
CHUNK=${2:-20000}
ROUNDS=${3:-2}
export PULSE_TEST_DIR=${PULSE_TEST_DIR:-/tmp/pg_pulse_test}
DIR=$PULSE_TEST_DIR/bench_enrich
export PGHOST=$PULSE_TEST_DIR PGPORT=${PULSE_TEST_PORT:-54329} PGUSER=postgres
rm -rf "$DIR" && mkdir -p "$DIR" && chmod 777 "$DIR"
if [ "${PULSE_BENCH_USE_RUNNING:-0}" != 1 ]; then
  bash "$REPO/test/cluster.sh" start
  trap 'bash "$REPO/test/cluster.sh" stop' EXIT
fi
echo "building the geo-IP database from /usr/share/tor/geoip ..."
python3 "$REPO/test/enrich/tor_geoip.py" > "$DIR/ranges.tsv"
perl "$REPO/test/enrich/make_mmdb.pl" "$DIR/country.mmdb" PulseBench-Country < "$DIR/ranges.tsv"
echo "generating $N events ..."
PARTS=$(python3 "$REPO/bench/enrich/gen.py" "$N" "$CHUNK" "$DIR" "$DIR/ranges.tsv")
head -n 200 "$DIR/chunk_0000.ndjson" > "$DIR/warm.ndjson"
chmod 644 "$DIR"/*
psql -qX -d postgres -c "DROP DATABASE IF EXISTS pulse_bench_enrich" -c "CREATE DATABASE pulse_bench_enrich" >/dev/null
P="psql -qXAt -v ON_ERROR_STOP=1 -d pulse_bench_enrich"
$P -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('bench')" >/dev/null
# per collection: plain (nothing), rich (all four), and each enricher alone
$P >/dev/null <<'SQL'
SELECT pulse.set_enrichment('bench', e, collection => 'rich') FROM unnest('{geoip,user_agent,referrer,campaign}'::text[]) e;
SELECT pulse.set_enrichment('bench', 'geoip', collection => 'geoip');
SELECT pulse.set_enrichment('bench', 'user_agent', collection => 'user_agent');
SELECT pulse.set_enrichment('bench', 'referrer', options => '{"internal_hosts": ["shop.example"]}', collection => 'referrer');
SELECT pulse.set_enrichment('bench', 'referrer', options => '{"internal_hosts": ["shop.example"]}', collection => 'rich');
SELECT pulse.set_enrichment('bench', 'campaign', collection => 'campaign');
SQL
load_pre() {  # the precomputed events into collection pre
  echo "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset"
  for ((k = 0; k < PARTS; k++)); do
    printf "SELECT stored FROM pulse.collect_batch('bench', pg_read_file('%s/pre_%04d.ndjson'), 'pre') \\\\g /dev/null\n" "$DIR" "$k"
  done
  echo "SELECT 'pre ' || (extract(epoch FROM clock_timestamp()) - :t0);"
}
load() {  # load COLLECTION LABEL: every chunk into COLLECTION, timed as LABEL
  echo "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset"
  for ((k = 0; k < PARTS; k++)); do
    printf "SELECT stored FROM pulse.collect_batch('bench', pg_read_file('%s/chunk_%04d.ndjson'), '%s') \\\\g /dev/null\n" "$DIR" "$k" "$1"
  done
  echo "SELECT '$2 ' || (extract(epoch FROM clock_timestamp()) - :t0);"
}
{
  echo "SET pulse.geoip_database = '$DIR/country.mmdb';"
  # warm-up: columns created, data files loaded, caches filled as in steady traffic
  for c in plain rich geoip user_agent referrer campaign; do
    echo "SELECT stored FROM pulse.collect_batch('bench', pg_read_file('$DIR/warm.ndjson'), '$c') \\g /dev/null"
    load "$c" "warm_$c"
    echo "TRUNCATE bench.$c;"
  done
  # the same events with the derived columns in them, for the "precomputed" load
  echo "SELECT stored FROM pulse.collect_batch('bench', pg_read_file('$DIR/warm.ndjson'), 'rich') \\g /dev/null"
  load rich warm_rich
  for ((k = 0; k < PARTS; k++)); do
    printf "COPY (SELECT jsonb_strip_nulls(to_jsonb(r) - '{_time,_user,_id,_shard_time,_shard_xid}'::text[])::text FROM bench.rich r WHERE n >= %d AND n < %d) TO '%s/pre_%04d.ndjson' (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02');\n" $((k * CHUNK)) $(((k + 1) * CHUNK)) "$DIR" "$k"
  done
  echo "TRUNCATE bench.rich;"
  echo "SELECT stored FROM pulse.collect_batch('bench', pg_read_file('$DIR/pre_0000.ndjson'), 'pre') \\g /dev/null"
  echo "TRUNCATE bench.pre;"
  echo "CHECKPOINT;"
  for ((r = 0; r < ROUNDS; r++)); do
    load plain plain
    load rich rich
    load_pre
  done
  for c in geoip user_agent referrer campaign; do load "$c" "$c"; done
  echo "SELECT 'status ' || string_agg(enricher || '=' || loaded, ' ' ORDER BY enricher) FROM pulse.enrichment_status;"
} > "$DIR/calls.sql"
$P -f "$DIR/calls.sql" > "$DIR/times.txt"
# what storing the wider rows costs by itself: the rows just stored (all columns, as Postgres
# holds them), written back with COPY (binary) into tables of the same shape, plain and rich in
# turn, and copied with INSERT ... SELECT from tables holding them (the tuples stored, nothing
# received). Plain's load time plus either difference estimates the best ratio an enrichment
# could reach: with INSERT ... SELECT, if deriving and receiving 17 more values cost nothing;
# with COPY, if they cost what COPY pays to receive them.
{
  echo "COPY (SELECT * FROM bench.plain LIMIT $N) TO '$DIR/plain.bin' (FORMAT binary);"
  echo "COPY (SELECT * FROM bench.rich LIMIT $N) TO '$DIR/rich.bin' (FORMAT binary);"
  echo "CREATE TABLE public.copy_plain (LIKE bench.plain INCLUDING INDEXES);"
  echo "CREATE TABLE public.copy_rich (LIKE bench.rich INCLUDING INDEXES);"
  echo "CREATE TABLE public.src_plain AS SELECT * FROM bench.plain LIMIT $N;"
  echo "CREATE TABLE public.src_rich AS SELECT * FROM bench.rich LIMIT $N;"
  echo "CHECKPOINT;"
  for ((r = 0; r <= ROUNDS; r++)); do  # the first round warms up
    for c in plain rich; do
      echo "TRUNCATE public.copy_$c;"
      echo "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset"
      echo "COPY public.copy_$c FROM '$DIR/$c.bin' (FORMAT binary);"
      [ "$r" -gt 0 ] && echo "SELECT 'copy_$c ' || (extract(epoch FROM clock_timestamp()) - :t0);"
      echo "TRUNCATE public.copy_$c;"
      echo "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset"
      echo "INSERT INTO public.copy_$c SELECT * FROM public.src_$c;"
      [ "$r" -gt 0 ] && echo "SELECT 'insert_$c ' || (extract(epoch FROM clock_timestamp()) - :t0);"
    done
  done
  echo "DROP TABLE public.copy_plain, public.copy_rich, public.src_plain, public.src_rich;"
} > "$DIR/copy.sql"
$P -f "$DIR/copy.sql" >> "$DIR/times.txt"
stored_plain=$($P -c "SELECT count(*) FROM bench.plain")
stored_rich=$($P -c "SELECT count(*) FROM bench.rich")
geo=$($P -c "SELECT round(100.0 * count(_country_code) / count(*), 1) FROM bench.rich")
ua=$($P -c "SELECT round(100.0 * count(*) FILTER (WHERE _browser <> 'Other') / count(*), 1) FROM bench.rich")
ref=$($P -c "SELECT string_agg(m || ' ' || c, ', ' ORDER BY c DESC) FROM (SELECT _referrer_medium m, count(*) c FROM bench.rich GROUP BY 1) x")
grep '^status' "$DIR/times.txt"
awk -v n="$N" -v rounds="$ROUNDS" -v chunk="$CHUNK" -v sp="$stored_plain" -v sr="$stored_rich" -v geo="$geo" -v ua="$ua" -v ref="$ref" '
  $1 !~ /^(warm_|status)/ { t[$1] += $2 }
  END {
    plain = t["plain"] / rounds; rich = t["rich"] / rounds; pre = t["pre"] / rounds;
    printf "events: %d (%d per collect_batch call), %d round(s); rows: plain %d, rich %d\n", n, chunk, rounds, sp / rounds, sr / rounds;
    printf "enriched rows: %s%% with a country, %s%% with a known browser; referrer media: %s\n", geo, ua, ref;
    printf "no enrichment:   %10.0f events/s  (%.2f s)\n", n / plain, plain;
    printf "all enrichers:   %10.0f events/s  (%.2f s)\n", n / rich, rich;
    printf "derived columns sent precomputed, no enrichment: %10.0f events/s  (%.2f s)\n", n / pre, pre;
    printf "ratio all enrichers / none: %.2f\n", plain / rich;
    printf "ratio all enrichers / same columns precomputed: %.2f (the lookups alone)\n", pre / rich;
    cp = t["copy_plain"] / rounds; cr = t["copy_rich"] / rounds;
    ip = t["insert_plain"] / rounds; ir = t["insert_rich"] / rounds;
    printf "the stored rows again: INSERT ... SELECT plain %.2f s, rich %.2f s (+%.2f s); COPY (binary) plain %.2f s, rich %.2f s (+%.2f s)\n", ip, ir, ir - ip, cp, cr, cr - cp;
    printf "best ratio an enrichment could reach (none + that difference): %.2f if 17 more values cost nothing to derive and receive, %.2f if they cost what COPY pays to receive them\n", plain / (plain + ir - ip), plain / (plain + cr - cp);
    split("geoip user_agent referrer campaign", e, " ");
    for (k = 1; k <= 4; k++) {
      d = t[e[k]] - plain;
      printf "%-11s alone: %10.0f events/s through collect_batch (%+.2f us/event over none, its columns stored)\n", e[k], n / t[e[k]], 1e6 * d / n;
    }
  }' "$DIR/times.txt"
# the lookups without Postgres (bench/enrich/lookups.cc over the extension's own objects)
if ls "$REPO"/src/core/*.o >/dev/null 2>&1; then
  echo "lookups without Postgres (warm per-backend caches, as in steady traffic):"
  g++ -std=c++17 -O2 -I"$REPO/src" "$REPO/bench/enrich/lookups.cc" "$REPO"/src/core/*.o \
      -lsimdjson -lavro -lmaxminddb -lre2 -lyaml-cpp -o "$DIR/lookups"
  "$DIR/lookups" "$DIR/country.mmdb" /usr/share/uap-core/regexes.yaml \
      /usr/share/rubygems-integration/all/gems/referer-parser-0.3.0/data/referers.yml "$DIR"/chunk_*.ndjson
fi
