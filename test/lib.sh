# shellcheck shell=bash disable=SC2034  # variables are used by the scripts that source it
# Shared settings and helpers for test/cluster.sh and test/run_all.sh.
# Source it; it sets variables and functions only and runs nothing.
#
# Overridable from the environment:
#   PULSE_TEST_PGDATA   data directory          (default /tmp/pg_pulse_test/data)
#   PULSE_TEST_PORT     TCP port and socket no. (default 54329)
#   PULSE_TEST_PRELOAD  shared_preload_libraries (default pg_pulse; empty = none)
#   PULSE_TEST_LISTEN   listen_addresses         (default 127.0.0.1; empty = Unix socket only)
#   PULSE_TEST_CONF     extra lines appended to postgresql.conf (optional)
#   PGBIN               server binaries          (default /usr/lib/postgresql/15/bin)

PULSE_TEST_DIR=${PULSE_TEST_DIR:-/tmp/pg_pulse_test}  # socket dir, log, regress output
PULSE_TEST_PGDATA=${PULSE_TEST_PGDATA:-$PULSE_TEST_DIR/data}
PULSE_TEST_PORT=${PULSE_TEST_PORT:-54329}
PULSE_TEST_PRELOAD=${PULSE_TEST_PRELOAD-pg_pulse}
PULSE_TEST_LISTEN=${PULSE_TEST_LISTEN-127.0.0.1}
PULSE_TEST_LOG=$PULSE_TEST_DIR/postgres.log
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=${PG_CONFIG:-$PGBIN/pg_config}
PULSE_PG_USER=postgres                       # OS user that owns the cluster when we are root

# Run a command as the OS user that owns the cluster: `postgres` when we are
# root (postgres refuses to run as root), ourselves otherwise.
# Runs from a directory the owner can read (the repo may sit under /root).
as_pg() {
    (
        cd "$PULSE_TEST_DIR" 2>/dev/null || cd /
        if [ "$(id -u)" -eq 0 ]; then
            exec runuser -u "$PULSE_PG_USER" -- "$@"
        else
            exec "$@"
        fi
    )
}

# Make a directory that the cluster owner can write: pg_owned_dir DIR [MODE].
pg_owned_dir() {
    mkdir -p "$1"
    if [ "$(id -u)" -eq 0 ]; then
        chown "$PULSE_PG_USER:$PULSE_PG_USER" "$1"
    fi
    chmod "${2:-0755}" "$1"
}

# Connection settings for clients (psql, pg_prove, integration scripts).
pulse_client_env() {
    export PGHOST=$PULSE_TEST_DIR
    export PGPORT=$PULSE_TEST_PORT
    export PGUSER=postgres
}

# Seconds since the epoch with fractions (bash 5).
now() { printf '%s\n' "${EPOCHREALTIME:-$(date +%s.%N)}"; }

# Elapsed seconds between two now() values, one decimal.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# The partitioned variants of integration scripts (test/run_all.sh sets PULSE_TEST_PARTITION_BY
# and the server's pulse.partition_by): assert_partitioned DB PROJECT fails unless every
# collection of PROJECT in DB (at least one) is partitioned. Does nothing in the plain run.
assert_partitioned() {
    [ -n "${PULSE_TEST_PARTITION_BY:-}" ] || return 0
    local got
    got=$(psql -qXAt -d "$1" -c "SELECT count(*) FILTER (WHERE c.relkind = 'p') || '/' || count(*)
            FROM pulse.collection_registry r JOIN pg_namespace n ON n.nspname = r.project
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.name WHERE r.project = '$2'")
    if [ "${got%/*}" != "${got#*/}" ] || [ "${got#*/}" = 0 ]; then
        echo "FAIL: the partitioned variant: $got collections of project $2 are partitioned"
        exit 1
    fi
    echo "ok - every collection of project $2 ($got) is partitioned by $PULSE_TEST_PARTITION_BY"
}
