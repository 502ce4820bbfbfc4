#!/usr/bin/env bash
# Schema changes under concurrency (docs/ingestion.md):
#  1. two sessions add the same new field at the same time: both events are stored, one column;
#  2. they disagree on its type: the loser re-reads the catalog and rejects its value (kept in
#     pulse.rejected_fields), never errors or drops it;
#  3. a long-running reader holds a lock: with few retries the writer fails with SQLSTATE 55P03
#     and stores nothing; with enough retries it waits the reader out and stores everything.
set -euo pipefail
DB=pulse_ddl_conc
fail() { echo "FAIL: $*"; exit 1; }
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
$Q -c "CREATE EXTENSION pg_pulse" -c "SELECT pulse.create_project('conc')" \
   -c "SELECT pulse.collect('conc', 'ev', '{\"a\": 1}')" >/dev/null

# 1 + 2: session A adds f1 (number) and f2 (number) and holds its transaction for 2 s;
# session B sends f1 (number) and f2 (string) meanwhile.
$Q -c "BEGIN" -c "SELECT pulse.collect('conc', 'ev', '{\"f1\": 1, \"f2\": 10, \"_id\": \"A\"}')" \
   -c "SELECT pg_sleep(2)" -c "COMMIT" >/tmp/conc_a.out 2>&1 &
A=$!
sleep 0.5
$Q -c "SET pulse.ddl_lock_timeout = '500ms'" -c "SET pulse.ddl_retries = 20" \
   -c "SELECT stored, rejected_fields FROM pulse.collect('conc', 'ev', '{\"f1\": 2, \"f2\": \"text\", \"_id\": \"B\"}')" \
   >/tmp/conc_b.out 2>&1 || fail "session B errored: $(cat /tmp/conc_b.out)"
wait $A || fail "session A errored: $(cat /tmp/conc_a.out)"
[ "$(tail -1 /tmp/conc_b.out)" = "1|1" ] || fail "session B: expected 1 stored, 1 rejected, got $(cat /tmp/conc_b.out)"
rows=$($Q -c "SELECT string_agg(_id || ':' || f1 || ':' || coalesce(f2::text, 'null'), ',' ORDER BY _id) FROM conc.ev WHERE _id IS NOT NULL")
[ "$rows" = "A:1:10,B:2:null" ] || fail "rows: $rows"
ncol=$($Q -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'conc.ev'::regclass AND attname IN ('f1','f2')")
[ "$ncol" = 2 ] || fail "columns: $ncol"
rej=$($Q -c "SELECT field || '|' || raw_value || '|' || expected_type FROM pulse.rejected_fields WHERE event_id = 'B'")
[ "$rej" = 'f2|"text"|double precision' ] || fail "rejected: $rej"
echo "ok 1 - concurrent sessions adding the same field both succeed; type conflict goes to rejected_fields"

# 3: a reader holds AccessShareLock for 4 s.
$Q -c "BEGIN" -c "SELECT count(*) FROM conc.ev" -c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null 2>&1 &
R=$!
sleep 0.5
set +e
out=$(psql -qXAt -d $DB -c "SET pulse.ddl_lock_timeout = '200ms'" -c "SET pulse.ddl_retries = 2" \
      -c "\\set VERBOSITY verbose" -c "SELECT pulse.collect('conc', 'ev', '{\"late\": 1, \"_id\": \"C\"}')" 2>&1)
set -e
grep -q "ERROR:  55P03: could not add columns to collection \"conc.ev\": lock not available" <<<"$out" \
  || fail "expected 55P03, got: $out"
grep -q "HINT:  Retry the call" <<<"$out" || fail "expected a hint, got: $out"
[ "$($Q -c "SELECT count(*) FROM conc.ev WHERE _id = 'C'")" = 0 ] || fail "a failed call stored rows"
echo "ok 2 - a lock held past the retries gives SQLSTATE 55P03 with a hint and stores nothing"
# the same call with enough retries waits the reader out
res=$($Q -c "SET pulse.ddl_lock_timeout = '300ms'" -c "SET pulse.ddl_retries = 40" \
      -c "SELECT stored FROM pulse.collect('conc', 'ev', '{\"late\": 1, \"_id\": \"C\"}')")
[ "$res" = 1 ] || fail "retrying writer: $res"
wait $R
[ "$($Q -c "SELECT late FROM conc.ev WHERE _id = 'C'")" = 1 ] || fail "row C"
echo "ok 3 - with enough retries the writer waits for the lock and stores the event"

# 4: eight sessions race to create the same collection with the same new fields
for k in 1 2 3 4 5 6 7 8; do
  $Q -c "SELECT stored FROM pulse.collect_batch('conc', '{\"n\": $k, \"k$((k % 3))\": \"v\"}', 'race')" >/tmp/conc_r$k.out 2>&1 &
done
wait
for k in 1 2 3 4 5 6 7 8; do [ "$(cat /tmp/conc_r$k.out)" = 1 ] || fail "racer $k: $(cat /tmp/conc_r$k.out)"; done
[ "$($Q -c "SELECT count(*) FROM conc.race")" = 8 ] || fail "race rows"
echo "ok 4 - eight sessions creating one collection concurrently all store their event"
psql -qX -d postgres -c "DROP DATABASE $DB" >/dev/null 2>&1 || true
echo "ddl_concurrency: all ok"
