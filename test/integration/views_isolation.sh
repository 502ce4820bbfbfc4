#!/usr/bin/env bash
# Materialized views under concurrency, with Postgres' isolation tester (PGXS):
# test/isolation/specs/{views,views_2pc}.spec against test/isolation/expected/. Writers commit
# before, during and after refreshes, with savepoints released and rolled back; two refreshes
# of one view run at once; DELETE / UPDATE / TRUNCATE force rebuilds; prepared transactions
# stay prepared across refreshes; after each step a reader compares both views with their
# defining query. (views_2pc has a second expected output for clusters with
# max_prepared_transactions = 0, where it proves little: the script says so.) Also
# test/isolation/specs/person_cache.spec: the backend's kept person mapping against links
# committed, in progress, rolled back, made by the reader itself, under repeatable read and
# a cursor's older snapshot, and TRUNCATE; and test/isolation/specs/person_merge.spec: the
# set-based merge of an identify made by ingestion against a concurrent person_update of the
# anonymous id (committed while the merge waits, rolled back, after the merge); and
# test/isolation/specs/persons_seen.spec: persons on first sight of the same new ids by two
# sessions (the second waits; written again in SQL after the first commits, directly after a
# rollback).
#
# Runs against the running test cluster (test/cluster.sh; from test/run_all.sh or by hand:
#   PULSE_TEST_DIR=/tmp/pg_pulse_h1 PULSE_TEST_PORT=54351 bash test/integration/views_isolation.sh)
# in a database of its own, pulse_views_iso. Exit 0 iff the output matches; otherwise the diff
# is printed (results stay in $PULSE_TEST_DIR/isolation_views).
set -euo pipefail
REPO=${PULSE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/lib.sh
. "$REPO/test/lib.sh"
pulse_client_env
DB=pulse_views_iso
ISO_REGRESS=${PG_ISOLATION_REGRESS:-$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/isolation/pg_isolation_regress}
OUT=$PULSE_TEST_DIR/isolation_views
fail() { echo "FAIL: $*"; exit 1; }

[ -x "$ISO_REGRESS" ] || fail "pg_isolation_regress not found at $ISO_REGRESS (package postgresql-server-dev-15)"

psql -qX -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
# pg_isolation_regress runs as the cluster owner: inputs it can read, an output dir it can write.
rm -rf "$OUT"
pg_owned_dir "$OUT" 0755
mkdir -p "$OUT/in"
cp -r "$REPO/test/isolation/specs" "$REPO/test/isolation/expected" "$OUT/in/"
[ "$(id -u)" -ne 0 ] || chown -R "$PULSE_PG_USER:$PULSE_PG_USER" "$OUT/in"

set +e
# PGISOLATIONTIMEOUT: a step still running after this many seconds is cancelled (a refresh
# that waits without a lock the tester can see would otherwise hang for the default 300 s).
as_pg env PGISOLATIONTIMEOUT=60 timeout 500 "$ISO_REGRESS" \
    --bindir="$PGBIN" \
    --inputdir="$OUT/in" \
    --outputdir="$OUT" \
    --host="$PULSE_TEST_DIR" --port="$PULSE_TEST_PORT" --user=postgres \
    --use-existing --dbname="$DB" \
    views views_2pc person_cache person_merge persons_seen >"$OUT/run.log" 2>&1
rc=$?
set -e
cat "$OUT/run.log"
if [ "$rc" -ne 0 ]; then
    if [ -s "$OUT/regression.diffs" ]; then
        echo "--- $OUT/regression.diffs (first 400 lines) ---"
        head -n 400 "$OUT/regression.diffs"
        echo "--- end of diffs (output: $OUT/results/views.out) ---"
    fi
    [ "$rc" -eq 124 ] && fail "pg_isolation_regress timed out"
    fail "pg_isolation_regress exit $rc"
fi
if [ "$(psql -qXAt -d postgres -c "SHOW max_prepared_transactions")" = 0 ]; then
    echo "note: max_prepared_transactions = 0: views_2pc only checked that PREPARE TRANSACTION is refused"
fi
psql -qX -d postgres -c "DROP DATABASE $DB" -c "DROP ROLE IF EXISTS viso_writer, viso_reader" >/dev/null 2>&1 || true
echo "views_isolation: all ok"
