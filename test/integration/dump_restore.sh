#!/usr/bin/env bash
# pg_dump / pg_restore: a database with pg_pulse (a project, a collection, a realtime and an
# incremental view, a Kafka subscription with stored offsets, dead letters, rejected fields) is
# dumped and restored into another cluster and into another database of the same cluster.
# A view's stored snapshot describes the transaction ids of the cluster it was taken in; the
# restored rows have other ones. Both restores must read every view equal to its query, rebuild
# (never merge) at the next refresh, and stay equal after new events. The dump is made to break
# a view that trusted its snapshot in both directions:
#   * other cluster: the source's transaction ids are far ahead, so rows inserted after the
#     restore have ids its stored snapshot "already saw" (they would be missed);
#   * same cluster: a transaction held open during the last refresh kept its threshold low, so
#     merged rows lie above it and come back with new ids (they would be counted twice).
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
REPO=$PULSE_REPO
BASE=${PGPORT:-54329}
WORK=$(mktemp -d /tmp/pulse_dump.XXXXXX)
chmod 755 "$WORK"
DA=${PULSE_TEST_DIR:-/tmp/pg_pulse_test}_dump_a DB_=${PULSE_TEST_DIR:-/tmp/pg_pulse_test}_dump_b  # one pair per checkout
A=(PULSE_TEST_DIR=$DA PULSE_TEST_PGDATA=$DA/data PULSE_TEST_PORT=$((BASE + 21)) PULSE_TEST_LISTEN=)
B=(PULSE_TEST_DIR=$DB_ PULSE_TEST_PGDATA=$DB_/data PULSE_TEST_PORT=$((BASE + 22)) PULSE_TEST_LISTEN=)
cleanup() {
    env "${A[@]}" bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true
    env "${B[@]}" bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
[ -n "${PULSE_KEEP:-}" ] || trap cleanup EXIT
env "${A[@]}" bash "$REPO/test/cluster.sh" start >/dev/null
env "${B[@]}" bash "$REPO/test/cluster.sh" start >/dev/null
qa() { psql -qXAt -v ON_ERROR_STOP=1 -h $DA -p $((BASE + 21)) -U postgres "$@"; }
qb() { psql -qXAt -v ON_ERROR_STOP=1 -h $DB_ -p $((BASE + 22)) -U postgres "$@"; }

events() {  # events N FIRST: N events numbered from FIRST
    qa -d src -c "SELECT stored FROM pulse.collect_batch('shop', (SELECT string_agg(format('{\"_time\": \"2026-11-%sT10:00:00Z\", \"_user\": \"u%s\", \"amount\": %s, \"country\": \"%s\"}',
        lpad((1 + k % 28)::text, 2, '0'), k % 61, k % 40, (ARRAY['de', 'fr', 'us', 'jp'])[1 + k % 4]), E'\n')
        FROM generate_series($2, $2 + $1 - 1) k), 'orders')" >/dev/null
}

# 1. the source: its transaction ids far ahead of a fresh cluster's
qa -d postgres -c "CREATE DATABASE src" >/dev/null
qa -d src -c "DO \$\$ BEGIN FOR i IN 1..5000 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END \$\$" >/dev/null
qa -d src <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION pg_pulse;
SELECT pulse.create_project('shop');
SELECT pulse.create_collection('shop', 'orders', '{"amount": "numeric(10,2)", "country": "text"}');
SELECT pulse.collect_batch('shop', E'{"amount": "lots", "country": "de"}\n{broken', 'orders');
SELECT pulse.create_view('shop', 'by_country', 'SELECT country, count(*) AS n, sum(amount) AS total FROM orders GROUP BY country', 'realtime', '1 day');
SELECT pulse.create_view('shop', 'per_day', 'SELECT date_trunc(''day'', _time) AS day, count(*) AS n, avg(amount) AS a FROM orders GROUP BY 1', 'incremental', '1 day');
SELECT pulse.kafka_subscribe('shop', ARRAY['orders'], '127.0.0.1:9', collection => 'orders',
                             options => '{"security.protocol": "sasl_plaintext", "sasl.mechanism": "PLAIN", "sasl.username": "u", "sasl.password": "s3cret"}');
INSERT INTO pulse.kafka_offsets(subscription_id, topic, partition, next_offset) SELECT id, 'orders', p, 1000 * (p + 1) FROM pulse.kafka_subscriptions, generate_series(0, 2) p;
SQL
events 2000 1
qa -d src -c "SELECT pulse.refresh_view('shop', 'by_country'), pulse.refresh_view('shop', 'per_day')" >/dev/null
# a transaction held open across the next batch and refresh keeps the views' threshold below it
qa -d src -c "BEGIN" -c "SELECT pg_current_xact_id()" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 50); do [ "$(qa -d src -c "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(120)'")" = 1 ] && break; sleep 0.1; done
events 1500 2001
qa -d src -c "SELECT pulse.refresh_view('shop', 'by_country'), pulse.refresh_view('shop', 'per_day')" >/dev/null
[ "$(qa -d src -c "SELECT count(*) FROM shop.orders WHERE _shard_time >= (SELECT min(threshold) FROM pulse.views)")" -ge 1500 ] \
    || fail "the held transaction did not keep the threshold below the second batch"
qa -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(120)'" >/dev/null
wait "$holder" 2>/dev/null || true
events 500 3501   # not merged yet when the dump is taken
pg_dump -Fc -h $DA -p $((BASE + 21)) -U postgres -d src -f "$WORK/src.dump"
pg_dumpall --roles-only -h $DA -p $((BASE + 21)) -U postgres >"$WORK/roles.sql"
echo "ok 1 - source dumped: 4001 events, 2 views (last refresh with a transaction held open), a subscription, offsets, $(qa -d src -c "SELECT txid_current()") transactions"

# 2. restored into the other cluster and into a new database of the same cluster
qb -d postgres -v ON_ERROR_STOP=0 -f "$WORK/roles.sql" >/dev/null 2>&1 || true
qb -d postgres -c "CREATE DATABASE dst" >/dev/null
pg_restore --exit-on-error -h $DB_ -p $((BASE + 22)) -U postgres -d dst "$WORK/src.dump" || fail "pg_restore into the other cluster"
qa -d postgres -c "CREATE DATABASE copy" >/dev/null
pg_restore --exit-on-error -h $DA -p $((BASE + 21)) -U postgres -d copy "$WORK/src.dump" || fail "pg_restore into the same cluster"
echo "ok 2 - restored with pg_restore into another cluster and into another database of the same cluster"

by_country="SELECT country, count(*) AS n, sum(amount) AS total FROM shop.orders GROUP BY country"
per_day="SELECT date_trunc('day', _time) AS day, count(*) AS n, avg(amount) AS a FROM shop.orders GROUP BY 1"
differs() {  # differs Q DB VIEW QUERY: rows in one and not the other
    $1 -d "$2" -c "SELECT (SELECT count(*) FROM (SELECT * FROM shop.$3 EXCEPT ALL $4) x) + (SELECT count(*) FROM ($4 EXCEPT ALL SELECT * FROM shop.$3) y)"
}
check() {  # check Q DB WHERE
    local q=$1 db=$2 where=$3 n
    # (the incremental view shows its state as of its last refresh, as it would without a restore)
    [ "$(differs "$q" "$db" by_country "$by_country")" = 0 ] || fail "$where: the restored realtime view differs from its query before a refresh"
    [ "$($q -d "$db" -c "SELECT string_agg(needs_rebuild::text, ',') FROM pulse.views")" = "true,true" ] \
        || fail "$where: restored views do not say they need a rebuild"
    n=$($q -d "$db" -c "SELECT count(*) FROM shop.orders")
    [ "$n" = 4001 ] || fail "$where: $n events restored"
    # the views' hidden objects come back in the project's internal schema, which only the
    # writer may use
    [ "$($q -d "$db" -c "SELECT count(*) FROM pg_class WHERE relnamespace = '_pulse_shop'::regnamespace AND relname ~ '^_pulse_(state|def)_(by_country|per_day)$'")" = 4 ] \
        || fail "$where: the hidden objects are not in the internal schema"
    [ "$($q -d "$db" -c "SELECT has_schema_privilege('shop_writer', '_pulse_shop', 'USAGE'), has_schema_privilege('shop_reader', '_pulse_shop', 'USAGE')")" = "t|f" ] \
        || fail "$where: privileges on the internal schema"
    $q -d "$db" -c "SELECT pulse.collect_batch('shop', (SELECT string_agg(format('{\"_time\": \"2026-11-03T10:00:00Z\", \"_user\": \"n%s\", \"amount\": %s, \"country\": \"%s\"}', k, k, (ARRAY['de', 'br'])[1 + k % 2]), E'\n') FROM generate_series(1, 300) k), 'orders')" >/dev/null
    # The first refresh rebuilds. Rows restored from the source that are newer than the oldest
    # running transaction (less than pulse.view_margin old here) make it wait (55000), reads
    # still exact; it succeeds once they are older.
    local waited=0 out
    for _ in $(seq 1 60); do
        if out=$($q -d "$db" -c "SELECT pulse.refresh_view('shop', 'by_country') > 0, pulse.refresh_view('shop', 'per_day') > 0" 2>&1); then break; fi
        grep -q "cannot be rebuilt yet: its collection holds rows restored from another cluster" <<<"$out" || fail "$where: refresh: $out"
        [ "$(differs "$q" "$db" by_country "$by_country")" = 0 ] || fail "$where: the realtime view differs from its query while its rebuild waits"
        waited=$((waited + 1)); sleep 0.5
    done
    [ "$out" = "t|t" ] || fail "$where: refresh: $out"
    echo "# $where: the rebuild waited for $waited refresh attempt(s)"
    [ "$($q -d "$db" -c "SELECT string_agg((last_merged = rows)::text || '/' || needs_rebuild::text, ',') FROM pulse.views")" = "true/false,true/false" ] \
        || fail "$where: the first refresh after the restore did not rebuild: $($q -d "$db" -c "SELECT name, rows, last_merged, needs_rebuild FROM pulse.views")"
    [ "$(differs "$q" "$db" by_country "$by_country")/$(differs "$q" "$db" per_day "$per_day")" = 0/0 ] \
        || fail "$where: views differ from their queries after new events and a refresh"
    $q -d "$db" -c "SELECT pulse.collect('shop', 'orders', '{\"_time\": \"2026-11-04T10:00:00Z\", \"_user\": \"z\", \"amount\": 1, \"country\": \"de\"}')" >/dev/null
    $q -d "$db" -c "SELECT pulse.refresh_view('shop', 'by_country'), pulse.refresh_view('shop', 'per_day')" >/dev/null
    [ "$($q -d "$db" -c "SELECT string_agg(last_merged::text, ',') FROM pulse.views")" = "1,1" ] || fail "$where: the next refresh does not merge"
    [ "$(differs "$q" "$db" by_country "$by_country")/$(differs "$q" "$db" per_day "$per_day")" = 0/0 ] \
        || fail "$where: views differ from their queries after a merge"
    [ "$($q -d "$db" -c "SELECT string_agg(topic || ':' || partition || ':' || next_offset, ',' ORDER BY partition) FROM pulse.kafka_offsets")" = "orders:0:1000,orders:1:2000,orders:2:3000" ] \
        || fail "$where: Kafka offsets"
    [ "$($q -d "$db" -c "SELECT options->>'sasl.password' FROM pulse.kafka_subscriptions")" = "s3cret" ] || fail "$where: subscription options"
    [ "$($q -d "$db" -c "SELECT (SELECT count(*) FROM pulse.dead_letters) || '/' || (SELECT count(*) FROM pulse.rejected_fields)")" = 1/1 ] \
        || fail "$where: dead letters and rejected fields"
}
check qb dst "other cluster"
echo "ok 3 - other cluster: the realtime view equals its query at once, hidden objects in the internal schema, both views rebuilt (not merged) at the first refresh, merged after; offsets, options, dead letters kept"
check qa copy "same cluster"
echo "ok 4 - same cluster, another database: the same"
# the source itself still merges
qa -d src -c "SELECT pulse.refresh_view('shop', 'by_country'), pulse.refresh_view('shop', 'per_day')" >/dev/null
events 1 4001
qa -d src -c "SELECT pulse.refresh_view('shop', 'by_country'), pulse.refresh_view('shop', 'per_day')" >/dev/null
[ "$(qa -d src -c "SELECT string_agg((last_merged = 1 AND rows > 1)::text, ',') FROM pulse.views")" = "true,true" ] || fail "the source rebuilt its views"
[ "$(differs qa src by_country "$by_country")/$(differs qa src per_day "$per_day")" = 0/0 ] || fail "source views"
echo "ok 5 - the source database keeps merging"
for c in $DA $DB_; do
    ! grep -n 'terminated by signal' "$c/postgres.log" | head -3 | grep . || fail "a server process crashed (see $c/postgres.log)"
done
echo "dump_restore: all ok"
