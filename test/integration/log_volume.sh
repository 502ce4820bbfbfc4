#!/usr/bin/env bash
# Logs stay small whatever the payload: 200+ MB of events sent inline (the payload in the
# statement text, as applications send it) with rejected fields, dead letters and failing calls
# among them grow the server log by less than 2 MB; BRIN ranges still get summarised (by the
# scheduler) so view deltas prune.
set -euo pipefail
DB=pulse_logs
fail() { echo "FAIL: $*"; exit 1; }
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
$Q -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('logs')" >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT
# 210 calls of 5000 events (~1 MB each), every 500th event with a value that does not fit
# and every 1000th line not JSON; every 50th call fails as a whole (unknown project)
/usr/bin/python3 - "$WORK/calls.sql" <<'PY'
import json, sys
out = open(sys.argv[1], "w")
pad = "x" * 160
for c in range(210):
    lines = []
    for k in range(5000):
        n = c * 5000 + k
        if n % 1000 == 999:
            lines.append("{not json " + pad)
        else:
            lines.append(json.dumps({"_user": f"u{n % 977}", "n": "lots" if n % 500 == 7 and c else n, "pad": pad}))
    payload = "\n".join(lines).replace("$", "")
    project = "no_such_project" if c % 50 == 49 else "logs"
    out.write(f"SELECT stored FROM pulse.collect_batch('{project}', $p${payload}$p$, 'ev');\n")
PY
size=$(stat -c %s "$WORK/calls.sql")
[ "$size" -gt 200000000 ] || fail "the calls file has only $size bytes"
before=$(stat -c %s "$PULSE_TEST_LOG")
psql -qXAt -d $DB -f "$WORK/calls.sql" >/dev/null 2>"$WORK/errors" || true
after=$(stat -c %s "$PULSE_TEST_LOG")
grown=$((after - before))
failed=$(grep -c 'project "no_such_project" does not exist' "$WORK/errors" || true)
[ "$failed" = 4 ] || fail "expected 4 failing calls, saw $failed"
stored=$($Q -c "SELECT count(*) FROM logs.ev")
[ "$stored" -gt 900000 ] || fail "stored $stored"
[ "$($Q -c "SELECT count(*) > 0 FROM pulse.rejected_fields") $($Q -c "SELECT count(*) > 0 FROM pulse.dead_letters")" = "t t" ] || fail "no rejected fields or dead letters"
[ "$grown" -lt 2000000 ] || { tail -c 2000 "$PULSE_TEST_LOG"; fail "the server log grew by $grown bytes for $size bytes of inline events"; }
echo "ok 1 - $((size / 1000000)) MB of inline events ($stored stored, with rejected fields, dead letters and 4 failing calls) grew the server log by $grown bytes"

# the scheduler summarises the new BRIN ranges (no autosummarize on the indexes)
$Q -c "SELECT count(*) FROM pg_indexes WHERE schemaname = 'logs' AND indexdef LIKE '%autosummarize%'" | grep -qx 0 || fail "autosummarize is set"
$Q -c "CREATE EXTENSION IF NOT EXISTS pageinspect" >/dev/null
ok=0
for _ in $(seq 1 60); do
    # summarised ranges have an entry in the revmap (page 1 holds the first ~1360 ranges); the
    # last range is summarised only once full
    ranges=$($Q -c "SELECT (pg_relation_size('logs.ev') / 8192 + 127) / 128")
    done_ranges=$($Q -c "SELECT count(*) FROM brin_revmap_data(get_raw_page('logs.ev__shard_time_idx', 1)) WHERE pages <> '(0,0)'")
    [ "$done_ranges" -ge $((ranges - 1)) ] && { ok=1; break; }
    sleep 1
done
[ "$ok" = 1 ] || fail "new BRIN ranges were not summarised by the scheduler within 60 s ($done_ranges of $ranges)"
echo "ok 2 - the scheduler summarised the BRIN ranges ingestion filled ($done_ranges of $ranges ranges)"
echo "log_volume: all ok"
