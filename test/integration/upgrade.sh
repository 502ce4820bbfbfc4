#!/usr/bin/env bash
# Upgrades, from every earlier release: the release (built from the git history) is installed
# on a cluster of its own and given data (projects, collections, views of every strategy, a
# Kafka subscription, rejected fields and dead letters, Avro schemas); then the current build
# replaces it, the server restarts and ALTER EXTENSION pg_pulse UPDATE runs. The upgraded schema
# must equal a fresh install of the current version (pg_dump --schema-only of both, compared)
# and the data must still work: ingestion, views equal to their queries, analytics answers
# unchanged, the subscription's offsets kept.
set -euo pipefail
# every earlier release, as version=commit ($PULSE_OLD_RELEASES overrides)
RELEASES=${PULSE_OLD_RELEASES:-0.1.0=f268dc7 0.2.0=6c9a47f}
fail() { echo "FAIL: $*"; exit 1; }
REPO=$PULSE_REPO
# Builds install into the Postgres whose binaries run the test clusters (PGBIN), never into
# the Makefile's default when PGBIN names another installation.
PG_CONFIG=${PG_CONFIG:-${PGBIN:-/usr/lib/postgresql/15/bin}/pg_config}
# a cluster of its own beside the suite's (one per checkout: the suite's directory, suffixed)
UP=${PULSE_TEST_DIR:-/tmp/pg_pulse_test}_upgrade
export PULSE_TEST_DIR=$UP PULSE_TEST_PGDATA=$UP/data PULSE_TEST_LOG=$UP/postgres.log PULSE_TEST_PORT=$((${PGPORT:-54329} + 19)) PULSE_TEST_LISTEN=
export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres
# (the tests after this one need the current build installed again: a failure is loud)
reinstall_current() {
    make -s -C "$REPO" install PG_CONFIG="$PG_CONFIG" >"${UP}_reinstall.log" 2>&1 && return 0
    echo "upgrade.sh: reinstalling the current build failed:" >&2
    tail -20 "${UP}_reinstall.log" >&2
    return 1
}

# upgrade_from VERSION COMMIT: one earlier release, on a fresh cluster
upgrade_from() {
local OLD_VERSION=$1 OLD=$2
# (a shallow clone is deepened first)
git -C "$REPO" cat-file -e "$OLD^{commit}" 2>/dev/null || git -C "$REPO" fetch -q --unshallow >/dev/null 2>&1 || true
git -C "$REPO" cat-file -e "$OLD^{commit}" 2>/dev/null || fail "the previous release ($OLD) is not in the git history (clone without --depth)"
WORK=$(mktemp -d /tmp/pulse_upgrade.XXXXXX)
echo "work: $WORK"
chmod 755 "$WORK"
trap 'bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true; reinstall_current; [ -n "${PULSE_KEEP:-}" ] || rm -rf "$WORK"' EXIT

# 1. the earlier release, built and installed
git -C "$REPO" archive "$OLD" | tar -x -C "$WORK"
make -s -C "$WORK" -j2 PG_CONFIG="$PG_CONFIG" >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; fail "building $OLD"; }
make -s -C "$WORK" install PG_CONFIG="$PG_CONFIG" >/dev/null 2>&1 || fail "installing $OLD"
bash "$REPO/test/cluster.sh" start >/dev/null
Q="psql -qXAt -v ON_ERROR_STOP=1"
$Q -d postgres -c "CREATE DATABASE up" -c "CREATE DATABASE fresh" >/dev/null
$Q -d up -c "CREATE EXTENSION pg_pulse" >/dev/null
[ "$($Q -d up -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_pulse'")" = "$OLD_VERSION" ] || fail "old version"
# (0.1.0) what stands in the way of a project's internal schema (_pulse_<project>): a project
# named so, or a schema of that name
[ "$OLD_VERSION" = 0.1.0 ] && $Q -d postgres -c "CREATE DATABASE clash_name" -c "CREATE DATABASE clash_schema" >/dev/null
[ "$OLD_VERSION" = 0.1.0 ] && $Q -d clash_name -c "CREATE EXTENSION pg_pulse" -c "SET client_min_messages = warning" -c "SELECT pulse.create_project('_pulse_x')" >/dev/null
[ "$OLD_VERSION" = 0.1.0 ] && $Q -d clash_schema -c "CREATE EXTENSION pg_pulse" -c "SET client_min_messages = warning" -c "SELECT pulse.create_project('shop')" -c "CREATE SCHEMA _pulse_shop" >/dev/null
# a realtime view of 0.2.0 whose query 0.3.0 refuses to analyse again (a function it uses now
# belongs to the project's writer, no longer to a superuser): the update keeps its 0.2.0 read
# SQL, with a warning, and goes on
[ "$OLD_VERSION" = 0.2.0 ] && $Q -d postgres -c "CREATE DATABASE reread_kept" >/dev/null
[ "$OLD_VERSION" = 0.2.0 ] && $Q -d reread_kept -c "CREATE EXTENSION pg_pulse" -c "SET client_min_messages = warning" \
    -c "SELECT pulse.create_project('rk')" -c "SELECT stored FROM pulse.collect('rk', 'orders', '{\"country\": \"de\", \"amount\": 1}')" \
    -c "CREATE FUNCTION public.rk_up(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT upper(\$1)'" \
    -c "SELECT pulse.create_view('rk', 'v', 'SELECT public.rk_up(country) AS c, count(*) AS n FROM orders GROUP BY 1')" \
    -c "ALTER FUNCTION public.rk_up(text) OWNER TO rk_writer" >/dev/null

# 2. data, with the old release
# (the same in a fresh install of the current version, for the schema comparison)
setup() {
$Q -d "$1" -c "SET client_min_messages = warning" -c "SELECT pulse.create_project('shop'$2)" >/dev/null
$Q -d "$1" <<'SQL' >/dev/null
SET client_min_messages = warning;
SELECT pulse.create_collection('shop', 'orders', '{"amount": "numeric(10,2)", "country": "text"}');
SELECT pulse.collect_batch('shop', (SELECT string_agg(format('{"_time": "2026-11-%sT10:00:00Z", "_user": "u%s", "amount": %s, "country": "%s", "step": "%s"}',
         lpad((1 + k % 20)::text, 2, '0'), k % 97, k % 50, (ARRAY['de', 'fr', 'us'])[1 + k % 3], (ARRAY['view', 'cart', 'buy'])[1 + k % 3]), E'\n')
  FROM generate_series(1, 3000) k), 'orders');
SELECT pulse.collect_batch('shop', E'{"amount": "lots"}\n{broken', 'orders');
SELECT pulse.create_view('shop', 'by_country', 'SELECT country, count(*) AS n, sum(amount) AS total FROM orders GROUP BY country');
SELECT pulse.create_view('shop', 'per_day', 'SELECT date_trunc(''day'', _time) AS day, count(*) AS n, avg(amount) AS avg_amount FROM orders GROUP BY 1', 'incremental');
SELECT pulse.create_view('shop', 'top', 'SELECT _user, sum(amount) AS s FROM orders GROUP BY _user ORDER BY s DESC LIMIT 5', 'cache');
SELECT pulse.register_avro_schema('orders-value', '{"type": "record", "name": "o", "fields": [{"name": "amount", "type": "double"}]}');
SELECT pulse.kafka_subscribe('shop', ARRAY['orders'], '127.0.0.1:9', collection => 'orders');
INSERT INTO pulse.kafka_offsets(subscription_id, topic, partition, next_offset) SELECT id, 'orders', 0, 12345 FROM pulse.kafka_subscriptions;
SQL
}
setup up ''
funnel="SELECT step, users FROM pulse.funnel('shop', '[{\"collection\": \"orders\", \"filter\": \"step = ''view''\"}, {\"collection\": \"orders\", \"filter\": \"step = ''buy''\"}]', '2026-11-01', '2026-12-01') ORDER BY step"
retention="SELECT cohort_start, period, users FROM pulse.retention('shop', '{\"collection\": \"orders\"}', '{\"collection\": \"orders\"}', '2026-11-01', '2026-11-08') ORDER BY 1, 2"
trends="SELECT bucket, value FROM pulse.trends('shop', '{\"collection\": \"orders\"}', '2026-11-01', '2026-11-21', measure => 'unique_users') ORDER BY 1"
before=$($Q -d up -c "$funnel" -c "$retention" -c "$trends")

# 3. the current build, a restart, the update
bash "$REPO/test/cluster.sh" stop >/dev/null
reinstall_current || fail "installing the current build"
PULSE_TEST_PRELOAD=pg_pulse bash "$REPO/test/cluster.sh" restart >/dev/null 2>&1 || true
bash "$REPO/test/cluster.sh" status >/dev/null || fail "the server did not restart"
# until the update, the new library's scheduler waits instead of running the old SQL objects
waiting="database \"up\" has pg_pulse $OLD_VERSION, the library is .*: waiting for ALTER EXTENSION pg_pulse UPDATE"
for _ in $(seq 1 100); do grep -q "$waiting" "$PULSE_TEST_DIR/postgres.log" && break; sleep 0.2; done
grep -q "$waiting" "$PULSE_TEST_DIR/postgres.log" || fail "the scheduler does not wait for the update"
$Q -d up -c "ALTER EXTENSION pg_pulse UPDATE" || fail "ALTER EXTENSION pg_pulse UPDATE"
new_version=$(make -s -C "$REPO" print-version PG_CONFIG="$PG_CONFIG" 2>/dev/null)
[ "$($Q -d up -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_pulse'")" = "$new_version" ] || fail "not at $new_version"
echo "ok 1 - $OLD_VERSION ($OLD) with data updated to $new_version (the scheduler waited for the update)"

if [ "$OLD_VERSION" = 0.1.0 ]; then
# the views' hidden objects left the project's schema for the internal one, where the reader
# cannot use them
[ "$($Q -d up -c "SELECT count(*) FROM (SELECT relname FROM pg_class WHERE relnamespace = 'shop'::regnamespace AND relname LIKE '\_pulse\_%'
                                        UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = 'shop'::regnamespace AND proname LIKE '\_pulse\_%'
                                        UNION ALL SELECT typname FROM pg_type WHERE typnamespace = 'shop'::regnamespace AND typname LIKE '\_pulse\_%') x")" = 0 ] \
    || fail "hidden objects left in the project's schema"
[ "$($Q -d up -c "SELECT count(*) FROM pg_class WHERE relnamespace = '_pulse_shop'::regnamespace AND relname ~ '^_pulse_(state|def)_(by_country|per_day|top)$'")" = 6 ] \
    || fail "the views' state tables and definitions are not in the internal schema"
[ "$($Q -d up -c "SELECT count(*) FROM pg_proc WHERE pronamespace = '_pulse_shop'::regnamespace AND proname ~ '^_pulse_(delta|full)_'")" = 5 ] \
    || fail "the views' functions are not in the internal schema"
[ "$($Q -d up -c "SELECT has_schema_privilege('shop_writer', '_pulse_shop', 'USAGE'), has_schema_privilege('shop_reader', '_pulse_shop', 'USAGE')")" = "t|f" ] \
    || fail "privileges on the internal schema"
[ "$($Q -d up -c "SELECT count(*) FROM pulse.view_registry WHERE coalesce(merge_sql, '') || ' ' || array_to_string(rebuild_sql, ' ') ~ '(^|[^a-z0-9_])shop\._pulse_'")" = 0 ] \
    || fail "the registry names hidden objects in the project's schema"
echo "ok 2 - the views' hidden objects are in the internal schema _pulse_shop, out of the reader's reach"
# a project or a schema in the way of an internal schema stops the update, changing nothing
out=$($Q -d clash_name -c "ALTER EXTENSION pg_pulse UPDATE" 2>&1) && fail "the update went ahead over a project named _pulse_x"
grep -q 'reserves project names starting with _pulse_: project "_pulse_x" is in the way' <<<"$out" || fail "the reason for project _pulse_x: $out"
out=$($Q -d clash_schema -c "ALTER EXTENSION pg_pulse UPDATE" 2>&1) && fail "the update went ahead over schema _pulse_shop"
grep -q 'schema "_pulse_shop" already exists' <<<"$out" || fail "the reason for schema _pulse_shop: $out"
[ "$($Q -d clash_schema -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_pulse'")" = "$OLD_VERSION" ] || fail "clash_schema was updated"
$Q -d clash_schema -c "DROP SCHEMA _pulse_shop" -c "ALTER EXTENSION pg_pulse UPDATE" >/dev/null || fail "the update after the schema was dropped"
echo "ok 3 - a project named _pulse_x or a schema _pulse_<project> stops the update with the reason (it goes ahead once the schema is gone)"

fi
if [ "$OLD_VERSION" = 0.2.0 ]; then
    out=$($Q -d reread_kept -c "ALTER EXTENSION pg_pulse UPDATE" 2>&1) || fail "the update stopped at a view it cannot read again: $out"
    grep -q 'kept the read SQL of view rk.v' <<<"$out" || fail "no warning for view rk.v: $out"
    [ "$($Q -d reread_kept -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_pulse'")" = "$new_version" ] || fail "reread_kept not updated"
    ! $Q -d reread_kept -c "SELECT pg_get_viewdef('rk.v'::regclass)" | grep -q 'NOT EXISTS' || fail "rk.v has a new read SQL"
    $Q -d postgres -c "DROP DATABASE reread_kept" >/dev/null
    echo "ok 3 - a realtime view whose query cannot be analysed again keeps its 0.2.0 read SQL, with a warning; the update goes on"
fi

# 4. the data still works
after=$($Q -d up -c "$funnel" -c "$retention" -c "$trends")
[ "$before" = "$after" ] || fail "analytics answers changed by the update"
[ "$($Q -d up -c "SELECT stored FROM pulse.collect('shop', 'orders', '{\"_user\": \"new\", \"amount\": 7, \"country\": \"de\"}')")" = 1 ] || fail "collect after the update"
for v in by_country per_day; do
    $Q -d up -c "SELECT pulse.refresh_view('shop', '$v')" >/dev/null || fail "refresh of $v"
done
[ "$($Q -d up -c "SELECT count(*) FROM (SELECT * FROM shop.by_country EXCEPT SELECT country, count(*), sum(amount) FROM shop.orders GROUP BY country) d")" = 0 ] || fail "realtime view after the update"
[ "$($Q -d up -c "SELECT count(*) FROM (SELECT * FROM shop.per_day EXCEPT SELECT date_trunc('day', _time), count(*), avg(amount) FROM shop.orders GROUP BY 1) d")" = 0 ] || fail "incremental view after the update"
$Q -d up -c "DELETE FROM shop.orders WHERE _user = 'new'" >/dev/null
[ "$($Q -d up -c "SELECT count(*) FROM (SELECT * FROM shop.by_country EXCEPT SELECT country, count(*), sum(amount) FROM shop.orders GROUP BY country) d")" = 0 ] || fail "realtime view recomputed after a DELETE"
[ "$($Q -d up -c "SELECT next_offset FROM pulse.kafka_offsets")" = 12345 ] || fail "Kafka offsets"
[ "$($Q -d up -c "SELECT count(*) FROM pulse.dead_letters")/$($Q -d up -c "SELECT count(*) FROM pulse.rejected_fields")" = 1/1 ] || fail "dead letters and rejected fields"
[ "$($Q -d up -c "SELECT count(*) FROM pulse.avro_schemas WHERE fingerprint ~ '^[0-9a-f]{16}$'")" = 1 ] || fail "Avro schema fingerprints"
echo "ok 4 - after the update: ingestion, views equal to their queries (also after a DELETE), analytics answers unchanged, offsets, dead letters and schemas kept"

# 5. the upgraded schema is a fresh install's: pg_dump --schema-only of both, compared. pg_dump
# prints an extension's member objects as one CREATE EXTENSION, so each database is copied and,
# in the copy, pg_pulse's objects are detached from it (pg_depend) to be dumped one by one. The
# project schema (collections, views' hidden objects, grants) is compared too: a project object
# that the update made an extension member, or a grant it recorded as an initial privilege,
# would be missing from the upgraded database's dump. (Rebuilt views have new ids.)
# The project roles exist already (made by 0.1.0, without the marker of 0.2.0): adopted.
$Q -d fresh -c "CREATE EXTENSION pg_pulse" >/dev/null
setup fresh ", adopt_roles => true"
detached_dump() {
    $Q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS ${1}_copy" -c "CREATE DATABASE ${1}_copy TEMPLATE $1" >/dev/null
    $Q -d "${1}_copy" -c "DELETE FROM pg_depend WHERE deptype = 'e' AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_pulse')" >/dev/null
    pg_dump --schema-only --no-owner -d "${1}_copy" | grep -vE '^--|^$|^\\(un)?restrict ' | sed -E 's/pulse\._view_(watermark|recompute)\([0-9]+\)/pulse._view_\1(ID)/'
}
detached_dump fresh >"$WORK/fresh.sql"
detached_dump up >"$WORK/up.sql"
[ "$(grep -c 'CREATE FUNCTION pulse\.' "$WORK/fresh.sql")" -gt 80 ] || fail "the dump does not show the extension's functions"
diff "$WORK/fresh.sql" "$WORK/up.sql" >"$WORK/schema.diff" || { head -80 "$WORK/schema.diff"; fail "the upgraded schema differs from a fresh install"; }
echo "ok 5 - pg_dump --schema-only of the upgraded database equals a fresh install ($(wc -l <"$WORK/fresh.sql") lines)"
! grep -n 'terminated by signal' "$PULSE_TEST_LOG" | head -3 | grep . || fail "a server process crashed (see $PULSE_TEST_LOG)"
echo "ok 6 - no server process crashed"
echo "upgrade from $OLD_VERSION: all ok"
bash "$REPO/test/cluster.sh" stop >/dev/null 2>&1 || true
reinstall_current || fail "reinstalling the current build"
[ -n "${PULSE_KEEP:-}" ] || rm -rf "$WORK"
trap - EXIT
}

for r in $RELEASES; do
    upgrade_from "${r%%=*}" "${r#*=}"
done
echo "upgrade: all ok"
