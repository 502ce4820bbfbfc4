#!/usr/bin/env bash
# Enrichment end to end (docs/enrichment.md): geo-IP over small MaxMind databases built with
# libmaxmind-db-writer-perl (test/enrich/make_mmdb.pl): known IPv4 / IPv6 / IPv4-mapped
# addresses, private, malformed, unknown and missing ones; the database replaced while the
# server runs (one backend sees the new file without reconnecting); a broken file (events
# stored, one WARNING, pulse.enrichment_status) and its repair; a database rewritten in place
# under running batches; and the Kafka door (a consumer worker enriches geo-IP, user agent,
# referrer and campaign with the server-wide settings; a missing file shows in kafka_status).
set -euo pipefail
. "$PULSE_REPO/test/kafka/lib.sh"
DB=${PGDATABASE:-pulse_test}
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
fail() { echo "FAIL: $*"; $Q -c "SELECT * FROM pulse.enrichment_status" 2>&1 | head; exit 1; }

DIR=$(mktemp -d /tmp/pulse_enrich.XXXXXX)
chmod 755 "$DIR"
cleanup() {
    $Q -c "SELECT pulse.drop_project('kenr', force => true) FROM pulse.projects WHERE name = 'kenr'" >/dev/null 2>&1 || true
    $Q -c "ALTER SYSTEM RESET pulse.geoip_database" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT

mmdb() {  # mmdb OUT: a database from the tab-separated ranges on stdin, moved into place atomically
    perl "$PULSE_REPO/test/enrich/make_mmdb.pl" "$DIR/build.mmdb" 2>/dev/null && chmod 644 "$DIR/build.mmdb" &&
        mv "$DIR/build.mmdb" "$1"
}
T=$'\t'
mmdb "$DIR/city.mmdb" <<EOF2
81.2.69.0/24${T}GB${T}England${T}London${T}51.5142${T}-0.0931${T}Europe/London${T}20712${T}Andrews & Arnold Ltd
2001:480::/32${T}US${T}California${T}San Diego${T}32.7203${T}-117.1552${T}America/Los_Angeles${T}${T}
89.160.20.0/24${T}SE${T}Östergötland County${T}Linköping${T}58.4167${T}15.6167${T}Europe/Stockholm${T}${T}
10.0.0.0/8${T}ZZ${T}${T}${T}${T}${T}${T}${T}
EOF2
# the same ranges, moved: 81.2.69.0/24 now in France
mmdb "$DIR/city2.mmdb" <<EOF2
81.2.69.0/24${T}FR${T}Île-de-France${T}Paris${T}48.8534${T}2.3488${T}Europe/Paris${T}${T}
EOF2
cp "$DIR/city.mmdb" "$DIR/live.mmdb"

$Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_pulse" >/dev/null
$Q -c "SELECT pulse.drop_project('kenr', force => true) FROM pulse.projects WHERE name = 'kenr'" >/dev/null 2>&1 || true
$Q -c "SELECT pulse.create_project('kenr')" -c "SELECT pulse.set_enrichment('kenr', 'geoip')" >/dev/null

# 1. lookups
$Q >/dev/null <<SQL
SET pulse.geoip_database = '$DIR/live.mmdb';
SELECT pulse.collect_batch('kenr', \$\$
{"n": 1, "ip": "81.2.69.160"}
{"n": 2, "ip": "2001:480:10::1"}
{"n": 3, "context": {"ip": "::ffff:89.160.20.112"}}
{"n": 4, "ip": "10.1.2.3"}
{"n": 5, "ip": "not an ip"}
{"n": 6, "ip": "8.8.8.8"}
{"n": 7}
{"n": 8, "ip": 81}
{"n": 9, "_ip": "81.2.69.1", "ip": "2001:480::1"}
\$\$, 'geo');
SQL
got=$($Q -F' ' -c "SELECT n, coalesce(_country_code, '-'), coalesce(_city, '-'), coalesce(_timezone, '-'),
                          coalesce(round(_latitude::numeric, 2)::text, '-'), coalesce(_asn::text, '-')
                     FROM kenr.geo ORDER BY n" | tr '\n' ';')
want="1 GB London Europe/London 51.51 20712;2 US San Diego America/Los_Angeles 32.72 -;3 SE Linköping Europe/Stockholm 58.42 -;4 - - - - -;5 - - - - -;6 - - - - -;7 - - - - -;8 - - - - -;9 GB London Europe/London 51.51 20712;"
[ "$got" = "$want" ] || fail "geo lookups: $got"
[ "$($Q -c "SELECT _region FROM kenr.geo WHERE n = 3")" = "Östergötland County" ] || fail "region"
[ "$($Q -c "SELECT count(*) FROM pulse.rejected_fields WHERE project = 'kenr' AND field <> '_ip'")" = 0 ] || fail "rejected fields"
echo "ok 1 - geo-IP: IPv4, IPv6, IPv4-mapped in a nested object; private, malformed, unknown, missing and non-string IPs give NULLs"

# 2. the file replaced while the server runs: the same backend sees the new data
out=$(psql -qXAt -d "$DB" 2>&1 <<SQL
SET pulse.geoip_database = '$DIR/live.mmdb';
SELECT stored FROM pulse.collect('kenr', 'reload', '{"n": 1, "ip": "81.2.69.160"}');
\! cp "$DIR/city2.mmdb" "$DIR/next.mmdb" && mv "$DIR/next.mmdb" "$DIR/live.mmdb"
SELECT stored FROM pulse.collect('kenr', 'reload', '{"n": 2, "ip": "81.2.69.160"}');
\! printf 'not a database' > "$DIR/next.mmdb" && mv "$DIR/next.mmdb" "$DIR/live.mmdb"
SELECT stored FROM pulse.collect('kenr', 'reload', '{"n": 3, "ip": "81.2.69.160"}');
SELECT stored FROM pulse.collect('kenr', 'reload', '{"n": 4, "ip": "81.2.69.160"}');
SELECT 'status ' || loaded || ' ' || (error LIKE '%Invalid%' OR error LIKE '%invalid%') FROM pulse.enrichment_status WHERE enricher = 'geoip';
\! cp "$DIR/city.mmdb" "$DIR/next.mmdb" && mv "$DIR/next.mmdb" "$DIR/live.mmdb"
SELECT stored FROM pulse.collect('kenr', 'reload', '{"n": 5, "ip": "81.2.69.160"}');
SELECT 'status ' || loaded || ' ' || (error IS NULL) FROM pulse.enrichment_status WHERE enricher = 'geoip';
SQL
)
got=$($Q -F' ' -c "SELECT n, coalesce(_country_code, '-') FROM kenr.reload ORDER BY n" | tr '\n' ';')
[ "$got" = "1 GB;2 FR;3 -;4 -;5 GB;" ] || fail "reload: $got / $out"
[ "$(grep -c 'WARNING:  enrichment "geoip" is skipped' <<<"$out")" = 1 ] || fail "one warning: $out"
grep -q '^status false true$' <<<"$out" || fail "status of the broken file: $out"
grep -q '^status true true$' <<<"$out" || fail "status after the repair: $out"
echo "ok 2 - a database replaced on disk is reopened without reconnecting; a broken one skips geo-IP with one WARNING and a status, events are stored; the repaired one is used again"

# 3. a database rewritten in place (not replaced) while batches read it: backends map a private
# copy of each version of the file, so a truncated or half-written file is never read through a
# mapping (past its end, a mapping raises SIGBUS: a backend crash); every event is stored
awk 'BEGIN { for (a = 1; a <= 80; a++) for (b = 0; b < 100; b++)
                printf "20.%d.%d.0/24\t%c%c\n", a, b, 65 + a % 26, 65 + b % 26 }' |
    mmdb "$DIR/big.mmdb"
[ "$(stat -c %s "$DIR/big.mmdb")" -gt 65536 ] || fail "the big database is small: $(stat -c %s "$DIR/big.mmdb") bytes"
cp "$DIR/big.mmdb" "$DIR/inplace.mmdb" && chmod 666 "$DIR/inplace.mmdb"
( for _ in $(seq 1 60); do : > "$DIR/inplace.mmdb"; sleep 0.02; cat "$DIR/big.mmdb" > "$DIR/inplace.mmdb"; sleep 0.03; done ) &
REWRITER=$!
out=$(psql -qXAt -d "$DB" 2>&1 <<SQL
SET pulse.geoip_database = '$DIR/inplace.mmdb';
SET client_min_messages = error;
SELECT 'stored ' || sum(stored) FROM generate_series(1, 30) k,
  LATERAL pulse.collect_batch('kenr', (SELECT string_agg(json_build_object('n', k * 10000 + i,
            'ip', format('20.%s.%s.%s', 1 + (i * 7 + k) % 80, (i * 13) % 100, i % 250))::text, E'\n')
       FROM generate_series(1, 4000) i), 'inplace');
SQL
) || true
wait $REWRITER || true
# (a crash ends the session: "server closed the connection unexpectedly")
grep -q '^stored 120000$' <<<"$out" || fail "events of the batches: $out"
[ "$($Q -c "SELECT count(*) FROM kenr.inplace")" = 120000 ] || fail "rows stored"
[ "$($Q -c "SELECT count(*) > 0 FROM kenr.inplace WHERE _country_code IS NOT NULL")" = t ] || fail "nothing was enriched"
# every enriched row has the country its range has in the file
bad=$($Q -c "SELECT count(*) FROM kenr.inplace WHERE _country_code IS NOT NULL
               AND _country_code <> chr(65 + split_part(ip, '.', 2)::int % 26) || chr(65 + split_part(ip, '.', 3)::int % 26)")
[ "$bad" = 0 ] || fail "$bad rows with a wrong country"
copies=$(find "$($Q -c "SHOW data_directory")/base/pgsql_tmp" -name 'pgsql_tmp_pulse_geoip_*' 2>/dev/null | wc -l)
[ "$copies" -le 2 ] || fail "$copies copies of the database are left"
echo "ok 3 - a database rewritten in place 120 times during 30 batches: no backend crashed, 120000 events stored, the enriched ones right; $copies private copy left"

# 4. the Kafka door: the worker reads the server-wide setting, every enricher runs
kafka_start enr:1
$Q -c "ALTER SYSTEM SET pulse.geoip_database = '$DIR/city.mmdb'" -c "SELECT pg_reload_conf()" >/dev/null
$Q -c "SELECT pulse.set_enrichment('kenr', e) FROM unnest('{user_agent,referrer,campaign}'::text[]) e" >/dev/null
OPTS='{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}'
$Q -c "SELECT pulse.kafka_subscribe('kenr', ARRAY['enr'], '$KAFKA_BROKERS', collection => 'kev', options => '$OPTS',
                                    batch_timeout => '100 ms')" >/dev/null
printf '%s\n' \
  '{"n": 1, "ip": "81.2.69.160", "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "referrer": "https://www.bing.com/search?q=pg+pulse", "url": "https://shop.example/?utm_source=kafka&utm_campaign=c1"}' \
  '{"n": 2, "ip": "2001:480::7", "user_agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}' \
  '{"n": 3, "ip": "bad"}' | kafka_produce enr
wait_for "SELECT count(*) FROM kenr.kev" 3 60
got=$($Q -F' ' -c "SELECT n, coalesce(_country_code, '-'), coalesce(_browser, '-'), coalesce(_is_bot::text, '-'),
                          coalesce(_referrer_source, '-'), coalesce(_referrer_term, '-'), coalesce(_utm_source, '-')
                     FROM kenr.kev ORDER BY n" | tr '\n' ';')
[ "$got" = "1 GB Firefox false Bing pg pulse kafka;2 US Googlebot true - - -;3 - - - - - -;" ] || fail "kafka: $got"
echo "ok 4 - Kafka: the consumer enriches geo-IP, user agent, referrer and campaign before schema evolution"

# 5. a worker whose database file goes missing: events stored without geo-IP, and the skip is in
# the subscription's status (the WARNING alone would reach only the server log)
$Q -c "ALTER SYSTEM SET pulse.geoip_database = '$DIR/missing.mmdb'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
printf '%s\n' '{"n": 4, "ip": "81.2.69.160"}' | kafka_produce enr
wait_for "SELECT count(*) FROM kenr.kev" 4 60
[ "$($Q -c "SELECT coalesce(_country_code, '-') FROM kenr.kev WHERE n = 4")" = - ] || fail "geo-IP without a database"
st=$($Q -c "SELECT last_error FROM pulse.kafka_status WHERE project = 'kenr' LIMIT 1")
grep -q 'enrichment "geoip" is skipped: cannot open ".*missing.mmdb"' <<<"$st" || fail "kafka_status.last_error: $st"
echo "ok 5 - Kafka: a missing database skips geo-IP, the event is stored, pulse.kafka_status.last_error says why"
