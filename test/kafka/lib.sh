# shellcheck shell=bash
# Kafka helpers for test and benchmark scripts: a mock Kafka cluster (librdkafka's, run by
# build/mock_broker in a process of its own) and kcat / confluent_kafka wrappers.
# See test/kafka/README.md. Source it; it defines variables and functions and runs nothing:
#
#   . "$PULSE_REPO/test/kafka/lib.sh"
#   kafka_start events:4               # exports KAFKA_BROKERS=127.0.0.1:PORT
#   printf '%s\n' '{"a":1}' | kafka_produce events
#   kafka_count events                 # -> 1
#   kafka_cmd down; ...; kafka_cmd up  # broker outage
#   kafka_stop                         # also done on EXIT
#
# Functions return non-zero on failure and print why on stderr (a missing required argument
# aborts the script); they work under `set -euo pipefail`. KAFKA_* names are reserved.
# Every wait is bounded. Tunables (environment):
#   KAFKA_START_TIMEOUT     seconds to wait for the broker to listen      (30)
#   KAFKA_CMD_TIMEOUT       seconds to wait for an answer to kafka_cmd    (10)
#   KAFKA_CLIENT_TIMEOUT    seconds any kcat / python client may run      (120)
#   KAFKA_MESSAGE_TIMEOUT_MS  producer message.timeout.ms                 (30000)
#   KAFKA_KEY_DELIM         if set, kafka_produce splits each line into KEY<delim>VALUE
#   KAFKA_KEEP_DIR=1        keep the broker's work dir (its stderr log) after kafka_stop

: "${PULSE_REPO:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
KAFKA_MOCK_SRC=$PULSE_REPO/test/kafka/mock_broker.c
KAFKA_MOCK_BIN=$PULSE_REPO/build/mock_broker
KAFKA_PYTHON=/usr/bin/python3     # the Debian python3-confluent-kafka works with this one only
KAFKA_PID=${KAFKA_PID:-}
KAFKA_DIR=${KAFKA_DIR:-}
KAFKA_FD=${KAFKA_FD:-}
KAFKA_REPLY=

_kafka_err() { echo "kafka: $*" >&2; }

# kafka_build: compile build/mock_broker if it is missing or older than its source.
kafka_build() {
    if [ -x "$KAFKA_MOCK_BIN" ] && ! [ "$KAFKA_MOCK_SRC" -nt "$KAFKA_MOCK_BIN" ]; then
        return 0
    fi
    mkdir -p "$(dirname "$KAFKA_MOCK_BIN")" || return 1
    local tmp=$KAFKA_MOCK_BIN.tmp.$$
    if ! cc -O2 -Wall -Wextra -Werror "$KAFKA_MOCK_SRC" -lrdkafka -o "$tmp"; then
        rm -f "$tmp"
        _kafka_err "could not compile $KAFKA_MOCK_SRC (librdkafka-dev installed?)"
        return 1
    fi
    mv -f "$tmp" "$KAFKA_MOCK_BIN"      # atomic: concurrent scripts never see half a binary
}

# On EXIT: whatever EXIT trap was there before kafka_start runs first (it sees the real
# $?), then the broker is stopped. The script's exit status is unchanged. (If the older
# trap calls `exit`, or a later `trap ... EXIT` replaces this one, the broker still exits
# with the script: it gets SIGTERM when its parent dies, and EOF on its stdin.)
_kafka_exit_cleanup() {
    kafka_stop >/dev/null 2>&1 || true
}

_kafka_install_trap() {
    local cur words
    cur=$(trap -p EXIT)
    case "$cur" in
        *_kafka_exit_cleanup*) return 0 ;;
    esac
    if [ -n "$cur" ]; then
        eval "words=($cur)"             # trap -- 'COMMAND' EXIT
        trap "${words[2]}"$'\n''_kafka_exit_cleanup' EXIT
    else
        trap _kafka_exit_cleanup EXIT
    fi
}

# kafka_start [-b BROKERS] [TOPIC:PARTITIONS ...]
# Starts the mock cluster (1 broker unless -b), creates the topics, exports KAFKA_BROKERS.
# Call it from the script's main shell, not from $(...) or a pipeline: the broker exits
# when the shell that started it exits.
kafka_start() {
    local brokers=1 t i targs=()
    if [ "${1:-}" = -b ]; then
        brokers=${2:-}
        shift 2 || { _kafka_err "kafka_start: -b needs a number"; return 1; }
    fi
    if [ -n "$KAFKA_PID" ] && kill -0 "$KAFKA_PID" 2>/dev/null; then
        _kafka_err "kafka_start: already running (pid $KAFKA_PID, $KAFKA_BROKERS)"
        return 1
    fi
    for t in "$@"; do
        case "$t" in
            ?*:[0-9]*) targs+=(-t "$t") ;;
            *) _kafka_err "kafka_start: expected TOPIC:PARTITIONS, got '$t'"; return 1 ;;
        esac
    done
    kafka_build || return 1
    KAFKA_DIR=$(mktemp -d /tmp/pulse_kafka.XXXXXX) || return 1
    mkfifo "$KAFKA_DIR/in" || return 1
    # Read-write open: does not block, and writes never SIGPIPE us even if the broker died.
    # The broker sees EOF (and exits) once every process holding this fd has exited.
    exec {KAFKA_FD}<>"$KAFKA_DIR/in"
    "$KAFKA_MOCK_BIN" -b "$brokers" "${targs[@]}" \
        <"$KAFKA_DIR/in" >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/log" &
    KAFKA_PID=$!
    _kafka_install_trap

    local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-30}))
    KAFKA_BROKERS=
    while :; do
        if [ -s "$KAFKA_DIR/out" ]; then
            KAFKA_BROKERS=$(sed -n '1s/^BOOTSTRAP //p' "$KAFKA_DIR/out")
            [ -n "$KAFKA_BROKERS" ] && break
        fi
        if ! kill -0 "$KAFKA_PID" 2>/dev/null; then
            _kafka_err "kafka_start: mock_broker exited; its log:"
            cat "$KAFKA_DIR/log" >&2
            kafka_stop
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            _kafka_err "kafka_start: no BOOTSTRAP line after ${KAFKA_START_TIMEOUT:-30}s; log:"
            cat "$KAFKA_DIR/log" >&2
            kafka_stop
            return 1
        fi
        sleep 0.02
    done
    export KAFKA_BROKERS KAFKA_PID KAFKA_DIR
}

# kafka_cmd COMMAND...: send one command ("ping", "down", "up", "down 2", "topic NAME 4",
# "rtt 50") and wait for its answer. Returns 0 on OK, 1 on ERR, 2 if no answer.
# The answer line is left in KAFKA_REPLY.
kafka_cmd() {
    KAFKA_REPLY=
    if [ -z "$KAFKA_PID" ] || [ -z "$KAFKA_FD" ]; then
        _kafka_err "kafka_cmd: broker not started"
        return 2
    fi
    local n deadline=$((SECONDS + ${KAFKA_CMD_TIMEOUT:-10}))
    # Answers are one line each, in order: ours is the first line after the current ones.
    n=$(wc -l <"$KAFKA_DIR/out")
    printf '%s\n' "$*" >&"$KAFKA_FD" || { _kafka_err "kafka_cmd: cannot write to broker"; return 2; }
    while [ "$(wc -l <"$KAFKA_DIR/out")" -le "$n" ]; do
        if ! kill -0 "$KAFKA_PID" 2>/dev/null; then
            _kafka_err "kafka_cmd '$*': mock_broker is not running"
            return 2
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            _kafka_err "kafka_cmd '$*': no answer after ${KAFKA_CMD_TIMEOUT:-10}s"
            return 2
        fi
        sleep 0.02
    done
    KAFKA_REPLY=$(sed -n "$((n + 1))p" "$KAFKA_DIR/out")
    case "$KAFKA_REPLY" in
        OK*) return 0 ;;
        *) _kafka_err "$KAFKA_REPLY"; return 1 ;;
    esac
}

# kafka_kcat ARGS...: kcat against the mock (-b $KAFKA_BROKERS), bounded by KAFKA_CLIENT_TIMEOUT.
kafka_kcat() {
    [ -n "${KAFKA_BROKERS:-}" ] || { _kafka_err "kafka_kcat: KAFKA_BROKERS not set (kafka_start)"; return 2; }
    timeout -k 5 "${KAFKA_CLIENT_TIMEOUT:-120}" kcat -b "$KAFKA_BROKERS" "$@"
}

# kafka_produce TOPIC [PARTITION|-] [KCAT_ARGS...] < LINES
# Each stdin line is one message (empty lines are skipped by kcat). Without PARTITION (or
# with -) messages are spread randomly over the partitions. With KAFKA_KEY_DELIM set, each
# line is KEY<delim>VALUE. Returns when every message is delivered (non-zero if any was
# not). Extra kcat args come last and win, e.g. -X message.timeout.ms=1000.
kafka_produce() {
    local topic=${1:?kafka_produce TOPIC [PARTITION] [KCAT_ARGS...]} part=${2:--}
    shift
    [ $# -gt 0 ] && shift
    local args=(-P -q -t "$topic"
        -X "message.timeout.ms=${KAFKA_MESSAGE_TIMEOUT_MS:-30000}"
        -X sticky.partitioning.linger.ms=0)
    [ "$part" != - ] && args+=(-p "$part")
    [ -n "${KAFKA_KEY_DELIM:-}" ] && args+=(-K "$KAFKA_KEY_DELIM")
    kafka_kcat "${args[@]}" "$@"
}

# kafka_produce_file TOPIC FILE [PARTITION|-] [KCAT_ARGS...]: each line of FILE is a message.
kafka_produce_file() {
    local topic=${1:?kafka_produce_file TOPIC FILE [PARTITION]} file=${2:?kafka_produce_file TOPIC FILE}
    shift 2
    [ -r "$file" ] || { _kafka_err "kafka_produce_file: cannot read $file"; return 1; }
    kafka_produce "$topic" "$@" <"$file"
}

# kafka_produce_binary TOPIC PARTITION|- FILE...: each file is one message, byte for byte
# (NUL bytes and newlines included; Avro payloads). Messages keep the order of the files.
kafka_produce_binary() {
    local topic=${1:?kafka_produce_binary TOPIC PARTITION FILE...} part=${2:?kafka_produce_binary TOPIC PARTITION FILE...}
    shift 2
    [ $# -gt 0 ] || { _kafka_err "kafka_produce_binary: no files"; return 1; }
    timeout -k 5 "${KAFKA_CLIENT_TIMEOUT:-120}" "$KAFKA_PYTHON" - "$topic" "$part" "$@" <<'PY'
import os, sys
from confluent_kafka import Producer
topic, part, files = sys.argv[1], sys.argv[2], sys.argv[3:]
p = Producer({"bootstrap.servers": os.environ["KAFKA_BROKERS"],
              "message.timeout.ms": int(os.environ.get("KAFKA_MESSAGE_TIMEOUT_MS", "30000")),
              "enable.idempotence": True})   # keeps the order of the files
errors = []
def dr(err, msg):
    if err is not None:
        errors.append(str(err))
for f in files:
    with open(f, "rb") as fh:
        data = fh.read()
    kw = {} if part == "-" else {"partition": int(part)}
    while True:
        try:
            p.produce(topic, data, on_delivery=dr, **kw)
            break
        except BufferError:
            p.poll(0.1)
left = p.flush(float(os.environ.get("KAFKA_MESSAGE_TIMEOUT_MS", "30000")) / 1000 + 5)
if errors or left:
    sys.exit("kafka_produce_binary: %d not delivered: %s" % (len(errors) + left, errors[:3]))
PY
}

# kafka_offsets TOPIC: one line per partition, "PARTITION LOW HIGH" (watermarks).
kafka_offsets() {
    local topic=${1:?kafka_offsets TOPIC}
    [ -n "${KAFKA_BROKERS:-}" ] || { _kafka_err "kafka_offsets: KAFKA_BROKERS not set"; return 2; }
    timeout -k 5 "${KAFKA_CLIENT_TIMEOUT:-120}" "$KAFKA_PYTHON" - "$topic" <<'PY'
import os, sys
from confluent_kafka import Consumer, TopicPartition
topic = sys.argv[1]
c = Consumer({"bootstrap.servers": os.environ["KAFKA_BROKERS"], "group.id": "pulse-kafka-offsets",
              "enable.auto.commit": False})
try:
    t = c.list_topics(topic, timeout=10).topics.get(topic)
    if t is None or t.error is not None:
        sys.exit("kafka_offsets: topic %s: %s" % (topic, t.error if t else "not found"))
    for p in sorted(t.partitions):
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        print(p, lo, hi)
finally:
    c.close()
PY
}

# kafka_count TOPIC: total messages ever appended to TOPIC (sum of high watermarks).
# (The mock drops the oldest messages of a partition past ~5 MiB: kafka_offsets shows
# the low watermarks.)
kafka_count() {
    local out
    out=$(kafka_offsets "$@") || return 1
    awk '{ s += $3 } END { print s + 0 }' <<<"$out"
}

# kafka_consume TOPIC [KCAT_ARGS...]: print every message of TOPIC from the beginning, one
# per line, and exit at the end of all partitions.
kafka_consume() {
    local topic=${1:?kafka_consume TOPIC [KCAT_ARGS...]}
    shift
    kafka_kcat -C -q -e -o beginning -t "$topic" "$@"
}

# kafka_stop: stop the broker (SIGTERM, then SIGKILL after 5 s), remove its work dir.
kafka_stop() {
    if [ -n "$KAFKA_PID" ]; then
        if kill -0 "$KAFKA_PID" 2>/dev/null; then
            kill -TERM "$KAFKA_PID" 2>/dev/null || true
            local i
            for ((i = 0; i < 250; i++)); do
                kill -0 "$KAFKA_PID" 2>/dev/null || break
                sleep 0.02
            done
            kill -KILL "$KAFKA_PID" 2>/dev/null || true
        fi
        wait "$KAFKA_PID" 2>/dev/null || true
    fi
    if [ -n "$KAFKA_FD" ]; then
        exec {KAFKA_FD}>&-
    fi
    if [ -n "$KAFKA_DIR" ] && [ "${KAFKA_KEEP_DIR:-0}" != 1 ]; then
        rm -rf "$KAFKA_DIR"
    fi
    KAFKA_PID='' KAFKA_FD='' KAFKA_DIR='' KAFKA_BROKERS=''
    return 0
}

# wait_for SQL EXPECTED SECONDS: poll the test database (psql with the caller's PG* settings)
# every 0.2 s until the query prints EXPECTED; on time-out call the caller's `fail` (or exit 1).
wait_for() {
    local got="" i
    for ((i = 0; i < $3 * 5; i++)); do
        got=$(psql -qXAt -d "${PGDATABASE:-pulse_test}" -c "$1" 2>/dev/null || true)
        [ "$got" = "$2" ] && return 0
        sleep 0.2
    done
    if declare -F fail >/dev/null; then fail "waited $3 s for [$1] = $2, got $got"; fi
    echo "FAIL: waited $3 s for [$1] = $2, got $got"
    exit 1
}
