#!/usr/bin/env bash
# Manage ONE throwaway PostgreSQL 15 cluster for the tests.
#
#   test/cluster.sh start    stop any server on the data dir, wipe it, initdb, start
#   test/cluster.sh stop     fast shutdown; the data dir stays
#   test/cluster.sh restart  restart (or start) the existing data dir without wiping it
#   test/cluster.sh status   "running ..." (exit 0) or "not running" (exit 3)
#   test/cluster.sh psql [ARGS...]   psql to it as postgres (database $PGDATABASE or postgres)
#   test/cluster.sh env      print the export lines for clients (eval "$(test/cluster.sh env)")
#
# Socket dir and log: /tmp/pg_pulse_test (clients: -h /tmp/pg_pulse_test -p 54329 -U postgres).
# Settings from the environment: see test/lib.sh (PULSE_TEST_PGDATA, PULSE_TEST_PORT,
# PULSE_TEST_PRELOAD — empty disables shared_preload_libraries —, PULSE_TEST_CONF).
set -euo pipefail

# shellcheck source=test/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

die() { echo "cluster.sh: $*" >&2; exit 1; }

is_running() {
    [ -f "$PULSE_TEST_PGDATA/postmaster.pid" ] &&
        as_pg "$PGBIN/pg_ctl" -D "$PULSE_TEST_PGDATA" status >/dev/null 2>&1
}

# Stop the server on our data dir, if any: fast, then immediate as a fallback.
stop_server() {
    is_running || return 0
    local out
    if ! out=$(as_pg "$PGBIN/pg_ctl" -D "$PULSE_TEST_PGDATA" stop -m fast -w -t 60 2>&1); then
        echo "$out" >&2
        echo "cluster.sh: fast shutdown failed, trying immediate" >&2
        as_pg "$PGBIN/pg_ctl" -D "$PULSE_TEST_PGDATA" stop -m immediate -w -t 30 >/dev/null 2>&1 ||
            die "could not stop the server on $PULSE_TEST_PGDATA"
    fi
}

# A server still holding our socket whose data dir is ours (e.g. the data dir was
# deleted under a running server) is ours to end; anything else on the port is an error.
clear_port() {
    local lock="$PULSE_TEST_DIR/.s.PGSQL.$PULSE_TEST_PORT.lock" pid dir
    if [ -f "$lock" ]; then
        pid=$(sed -n 1p "$lock" | tr -d ' ')
        dir=$(sed -n 2p "$lock")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            if [ "$dir" = "$PULSE_TEST_PGDATA" ]; then
                echo "cluster.sh: ending stale server pid $pid (data dir $dir)" >&2
                kill -QUIT "$pid" 2>/dev/null || true
                for _ in $(seq 1 100); do
                    kill -0 "$pid" 2>/dev/null || break
                    sleep 0.1
                done
                kill -0 "$pid" 2>/dev/null && die "stale server pid $pid did not exit"
            else
                die "port $PULSE_TEST_PORT is used by server pid $pid with data dir $dir"
            fi
        fi
    fi
    # Anything listening on the TCP port?
    if [ -n "$PULSE_TEST_LISTEN" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PULSE_TEST_PORT") 2>/dev/null; then
        die "something already listens on 127.0.0.1:$PULSE_TEST_PORT (set PULSE_TEST_PORT)"
    fi
}

# Refuse to delete anything that does not look like our own data dir.
wipe_datadir() {
    local d=$PULSE_TEST_PGDATA
    case "$d" in
        /*) ;;
        *) die "PULSE_TEST_PGDATA must be an absolute path: '$d'" ;;
    esac
    [ "$d" != "/" ] || die "refusing to wipe /"
    if [ -e "$d" ]; then
        if [ -n "$(ls -A "$d" 2>/dev/null)" ] && [ ! -f "$d/PG_VERSION" ]; then
            die "$d is not empty and not a PostgreSQL data dir; refusing to wipe it"
        fi
        rm -rf "$d"
    fi
}

write_conf() {
    local conf=$PULSE_TEST_PGDATA/postgresql.conf
    {
        echo ""
        echo "# --- pg_pulse test cluster (test/cluster.sh) ---"
        if [ -n "$PULSE_TEST_PRELOAD" ]; then
            echo "shared_preload_libraries = '$PULSE_TEST_PRELOAD'"
        fi
        echo "port = $PULSE_TEST_PORT"
        echo "unix_socket_directories = '$PULSE_TEST_DIR'"
        echo "listen_addresses = '$PULSE_TEST_LISTEN'"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        echo "max_worker_processes = 32"
        echo "max_prepared_transactions = 10"
        echo "log_min_messages = warning"
        if [ -n "${PULSE_TEST_CONF:-}" ]; then
            printf '%s\n' "$PULSE_TEST_CONF"
        fi
    } | as_pg tee -a "$conf" >/dev/null
}

start_server() {
    local out
    if ! out=$(as_pg "$PGBIN/pg_ctl" -D "$PULSE_TEST_PGDATA" -l "$PULSE_TEST_LOG" -w -t 60 start 2>&1); then
        echo "$out" >&2
        echo "cluster.sh: server did not start; last lines of $PULSE_TEST_LOG:" >&2
        tail -n 40 "$PULSE_TEST_LOG" >&2 2>/dev/null || true
        exit 1
    fi
    chmod 0644 "$PULSE_TEST_LOG" 2>/dev/null || true   # readable by any user
    # Wait until it accepts connections on the socket (pg_ctl -w normally ensures it).
    for _ in $(seq 1 100); do
        "$PGBIN/pg_isready" -q -h "$PULSE_TEST_DIR" -p "$PULSE_TEST_PORT" -U postgres && return 0
        sleep 0.1
    done
    die "server started but does not accept connections; see $PULSE_TEST_LOG"
}

cmd_start() {
    pg_owned_dir "$PULSE_TEST_DIR" 0755
    stop_server
    clear_port
    wipe_datadir
    mkdir -p "$(dirname "$PULSE_TEST_PGDATA")"
    pg_owned_dir "$PULSE_TEST_PGDATA" 0700
    rm -f "$PULSE_TEST_LOG" "$PULSE_TEST_DIR/killed_pids"
    local out
    if ! out=$(as_pg "$PGBIN/initdb" -D "$PULSE_TEST_PGDATA" --auth=trust -U postgres \
            --encoding=UTF8 --locale=C --no-sync 2>&1); then
        echo "$out" >&2
        die "initdb failed"
    fi
    write_conf
    start_server
}

cmd_restart() {
    [ -f "$PULSE_TEST_PGDATA/PG_VERSION" ] || die "no cluster in $PULSE_TEST_PGDATA; use start"
    stop_server
    clear_port
    start_server
}

cmd_status() {
    if is_running; then
        local pid
        pid=$(head -n 1 "$PULSE_TEST_PGDATA/postmaster.pid")
        echo "running (pid $pid, port $PULSE_TEST_PORT, socket $PULSE_TEST_DIR, data $PULSE_TEST_PGDATA)"
    else
        echo "not running"
        return 3
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) stop_server ;;
    restart) cmd_restart ;;
    status) cmd_status ;;
    psql)
        shift
        exec "$PGBIN/psql" -X -h "$PULSE_TEST_DIR" -p "$PULSE_TEST_PORT" -U postgres \
            -d "${PGDATABASE:-postgres}" "$@"
        ;;
    env)
        echo "export PGHOST=$PULSE_TEST_DIR PGPORT=$PULSE_TEST_PORT PGUSER=postgres"
        ;;
    *)
        echo "usage: $0 start|stop|restart|status|psql [args]|env" >&2
        exit 2
        ;;
esac
