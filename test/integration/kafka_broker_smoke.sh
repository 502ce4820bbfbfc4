#!/usr/bin/env bash
# The Kafka test peer (test/kafka/mock_broker.c + test/kafka/lib.sh) works with real
# clients over TCP on 127.0.0.1 (docs/kafka.md): kcat produce / consume, a broker
# outage and its end, binary messages, consumer groups (join, split, committed offsets).
# Needs no Postgres.
set -euo pipefail
: "${PULSE_REPO:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=test/kafka/lib.sh
. "$PULSE_REPO/test/kafka/lib.sh"

WORK=$(mktemp -d /tmp/kafka_smoke.XXXXXX)
trap 'rm -rf "$WORK"' EXIT            # composed with kafka_start's own EXIT cleanup
fail() { echo "FAIL: $*"; exit 1; }
STEP_T0=$EPOCHREALTIME
ok() {  # ok N TEXT: one TAP-style line, with the step's duration
    echo "ok $1 - $2 ($(awk -v a="$STEP_T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"
    STEP_T0=$EPOCHREALTIME
}
T=smoke
N=1000

# 1. start: one broker, topic of 4 partitions, listening on loopback only
kafka_start "$T:4" || fail "kafka_start"
[[ "$KAFKA_BROKERS" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "bootstrap: $KAFKA_BROKERS"
kafka_cmd ping || fail "ping: $KAFKA_REPLY"
[ "$KAFKA_REPLY" = "OK ping" ] || fail "ping reply: $KAFKA_REPLY"
if kafka_cmd topic "$T" 2 2>/dev/null; then fail "re-creating $T succeeded"; fi
[[ "$KAFKA_REPLY" == "ERR topic $T 2: "* ]] || fail "duplicate topic reply: $KAFKA_REPLY"
kafka_cmd topic other 3 || fail "topic other 3"
[ "$(kafka_offsets other | wc -l)" = 3 ] || fail "topic other: $(kafka_offsets other)"
ok 1 "mock broker listens on $KAFKA_BROKERS; ping, topic create and its error answer"

# 2. produce N JSON lines with kcat, spread over the partitions
for ((i = 1; i <= N; i++)); do
    printf '{"i": %d, "name": "event-%d", "tags": ["a", "b"], "nested": {"x": %d.5}}\n' "$i" "$i" "$i"
done >"$WORK/in.jsonl"
kafka_produce_file "$T" "$WORK/in.jsonl" || fail "produce"
[ "$(kafka_count "$T")" = "$N" ] || fail "count after produce: $(kafka_count "$T")"
kafka_offsets "$T" >"$WORK/offsets"
nonempty=$(awk '$3 > 0' "$WORK/offsets" | wc -l)
[ "$nonempty" = 4 ] || fail "messages not spread over 4 partitions: $(tr '\n' ' ' <"$WORK/offsets")"
ok 2 "$N JSON lines produced with kcat, spread over 4 partitions ($(awk '{printf "%s%s", s, $3; s="/"}' "$WORK/offsets"))"

# 3. consume them back with kcat
kafka_kcat -C -q -e -o beginning -t "$T" >"$WORK/out.jsonl" || fail "consume"
[ "$(wc -l <"$WORK/out.jsonl")" = "$N" ] || fail "consumed $(wc -l <"$WORK/out.jsonl") lines"
cmp -s <(sort "$WORK/in.jsonl") <(sort "$WORK/out.jsonl") || fail "consumed content differs"
ok 3 "kcat consumes all $N messages back, content identical"

# 4. outage. A long-lived consumer (kcat -E: survives errors) is connected first.
# down: a produce with a short message.timeout fails, a new consumer gets nothing in 2 s;
# up: produce succeeds and the long-lived consumer receives the message (reconnecting).
# wait_for FILE LINE SECONDS: wait until FILE has the line LINE
wait_for() {
    local deadline=$((SECONDS + $3))
    until grep -qxF -- "$2" "$1" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}
kcat -b "$KAFKA_BROKERS" -C -q -E -u -o end -t "$T" >"$WORK/live.out" 2>"$WORK/live.err" &
LIVE=$!
# (a trap set after kafka_start replaces its cleanup: call kafka_stop in it)
trap 'kill "$LIVE" 2>/dev/null || true; kafka_stop; rm -rf "$WORK"' EXIT
# the consumer is ready once it gets a marker (retry: -o end may skip one sent too early)
for ((k = 0; k < 20; k++)); do
    echo "{\"marker\": $k}" | kafka_produce "$T" || fail "produce marker"
    wait_for "$WORK/live.out" "{\"marker\": $k}" 1 && break
done
[ "$k" -lt 20 ] || fail "the long-lived consumer never received a marker: $(tail -3 "$WORK/live.err")"
extra=$((k + 1))
kafka_cmd down || fail "down"
t0=$SECONDS
if echo '{"during": "outage"}' | kafka_produce "$T" - -E -X message.timeout.ms=1500 2>"$WORK/down.err"; then
    fail "produce succeeded while the broker was down"
fi
[ $((SECONDS - t0)) -le 10 ] || fail "failed produce took $((SECONDS - t0))s"
# (SIGKILL to kcat only: it ignores SIGTERM while it waits for metadata)
timeout --foreground -s KILL 2 kcat -b "$KAFKA_BROKERS" -C -q -E -o beginning -t "$T" >"$WORK/down.out" 2>/dev/null || true
[ ! -s "$WORK/down.out" ] || fail "consumed $(wc -l <"$WORK/down.out") messages while down"
grep -q '"during"' "$WORK/live.out" && fail "the long-lived consumer got a message during the outage"
kafka_cmd up || fail "up"
t_up=$EPOCHREALTIME
echo '{"after": "outage"}' | kafka_produce "$T" || fail "produce after up"
extra=$((extra + 1))
[ "$(kafka_count "$T")" = $((N + extra)) ] || fail "count after up: $(kafka_count "$T"), want $((N + extra))"
kafka_consume "$T" >"$WORK/after.out" || fail "consume after up"
grep -qx '{"after": "outage"}' "$WORK/after.out" || fail "message produced after up not consumed"
wait_for "$WORK/live.out" '{"after": "outage"}' 20 \
    || fail "the long-lived consumer did not get the message within 20 s of up"
reconnect=$(awk -v a="$t_up" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
kill "$LIVE" 2>/dev/null || true
wait "$LIVE" 2>/dev/null || true
ok 4 "broker down: produce fails ($(grep -o 'Message timed out\|brokers are down' "$WORK/down.err" | head -1)), new consumer gets nothing in 2 s; up: produce succeeds, long-lived consumer resumes after ${reconnect}s"
N=$((N + extra))

# 5. binary messages, byte for byte (NUL, newlines, every byte value)
printf 'a\0b\nc\r\n' >"$WORK/b1"
/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4)' >"$WORK/b2"
printf '\n' >"$WORK/b3"
kafka_cmd topic bin 1 || fail "topic bin 1"
kafka_produce_binary bin 0 "$WORK/b1" "$WORK/b2" "$WORK/b3" || fail "produce binary"
timeout 60 /usr/bin/python3 - "$WORK/b1" "$WORK/b2" "$WORK/b3" <<'PY' || fail "binary check"
import os, sys, time
from confluent_kafka import Consumer, TopicPartition
want = [open(f, "rb").read() for f in sys.argv[1:]]
c = Consumer({"bootstrap.servers": os.environ["KAFKA_BROKERS"], "group.id": "bin-check",
              "enable.auto.commit": False})
c.assign([TopicPartition("bin", 0, 0)])
got, deadline = [], time.time() + 20
while len(got) < len(want) and time.time() < deadline:
    got += [m.value() for m in c.consume(num_messages=10, timeout=0.5) if not m.error()]
c.close()
if got != want:
    sys.exit("binary messages differ: %r" % [len(g) for g in got])
PY
ok 5 "kafka_produce_binary: 3 files arrive as 3 messages, byte for byte, in order"

# 6. consumer groups (session.timeout.ms=6000): two members split the partitions and
# together read everything; offsets committed by the group are resumed by a new member.
timeout 90 /usr/bin/python3 - "$T" "$N" <<'PY' || fail "consumer group"
import os, sys, time
from confluent_kafka import Consumer
topic, n = sys.argv[1], int(sys.argv[2])
from confluent_kafka import TopicPartition
conf = {"bootstrap.servers": os.environ["KAFKA_BROKERS"], "group.id": "smoke-group",
        "session.timeout.ms": 6000, "auto.offset.reset": "earliest", "enable.auto.commit": False}
t0 = time.time()
assigned = {}
def member(name):
    c = Consumer(dict(conf, **{"client.id": name}))
    c.subscribe([topic], on_assign=lambda c, ps: assigned.__setitem__(name, sorted(p.partition for p in ps)),
                on_revoke=lambda c, ps: assigned.__setitem__(name, []))
    return c
members = {"a": member("a"), "b": member("b")}
seen, first = set(), None
def split():
    a, b = assigned.get("a", []), assigned.get("b", [])
    return a and b and sorted(a + b) == [0, 1, 2, 3]
while time.time() - t0 < 60 and not (len(seen) >= n and split()):
    for c in members.values():
        for m in c.consume(num_messages=500, timeout=0.2):
            if not m.error():       # a rebalance may deliver some twice: count distinct
                seen.add((m.partition(), m.offset()))
                first = first or time.time() - t0
t_all = time.time() - t0
split_at_end = (assigned["a"], assigned["b"])
if len(seen) != n or not split():
    sys.exit("group read %d distinct of %d messages, assignments %s" % (len(seen), n, assigned))
# Commit both before either leaves (leaving rebalances). Each member commits, for the
# partitions it holds now, the offset after the last message the group read there: its own
# position may lag when a partition moved to it after the other member had read it.
last = {}
for p, o in seen:
    last[p] = max(last.get(p, -1), o)
for name, c in members.items():
    c.commit(offsets=[TopicPartition(topic, p, last[p] + 1) for p in assigned[name]], asynchronous=False)
for c in members.values():
    c.close()
# a new member of the same group resumes at the committed offsets: nothing left to read
t1 = time.time()
c = Consumer(conf)
c.subscribe([topic])
extra = 0
while not c.assignment() and time.time() - t1 < 20:
    extra += sum(1 for m in c.consume(num_messages=100, timeout=0.2) if not m.error())
if not c.assignment():
    sys.exit("resume: no assignment after 20 s")
committed = sum(p.offset for p in c.committed(c.assignment(), timeout=5))
t2 = time.time()
while time.time() - t2 < 1:
    extra += sum(1 for m in c.consume(num_messages=100, timeout=0.2) if not m.error())
c.close()
if extra != 0 or committed != n:
    sys.exit("resume: read %d more, committed %d (want 0, %d)" % (extra, committed, n))
print("# group: first message after %.1f s, all %d read and partitions split %s/%s after %.1f s;"
      " new member assigned after %.1f s" % (first, n, split_at_end[0], split_at_end[1], t_all, t2 - t1))
PY
ok 6 "consumer group (session.timeout.ms=6000): 2 members split 4 partitions, read all $N, committed offsets resumed"

# 7. stop: nothing left behind
pid=$KAFKA_PID
kafka_stop
if kill -0 "$pid" 2>/dev/null; then fail "mock_broker $pid still running after kafka_stop"; fi
[ -z "${KAFKA_BROKERS:-}" ] || fail "KAFKA_BROKERS still set"
ok 7 "kafka_stop ends the broker"
echo "kafka_broker_smoke: all ok"
