#!/usr/bin/env bash
# Person properties under concurrency (docs/people.md#concurrency): 8 sessions increment and
# append to the same person and to 20 others, each call logged with its delta in the same
# transaction; then 8 sessions do the same on 20 ids while identify merges them pairwise
# (a_i into u_i). Every person's total and array must equal the log exactly: a lost update,
# an update of the wrong row or an update lost to a merge fails the test.
#
# Runs against the running test cluster (test/cluster.sh; from test/run_all.sh or by hand:
#   PULSE_TEST_DIR=/tmp/pg_pulse_g PULSE_TEST_PORT=54331 bash test/integration/persons_concurrency.sh)
# in a database of its own, pulse_persons_conc.
set -euo pipefail
REPO=${PULSE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/lib.sh
. "$REPO/test/lib.sh"
pulse_client_env
DB=pulse_persons_conc
TX=${PERSONS_CONC_TX:-150}
WORK=$(mktemp -d /tmp/pulse_persons_conc.XXXXXX)
BG=()
cleanup() {
    local p
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
Q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
PGBENCH="$PGBIN/pgbench"
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench)

psql -qX -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
Q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_pulse;
SELECT pulse.create_project('pc');
-- what every committed call did: the test's own record, written in the call's transaction
CREATE TABLE public.expect (id text NOT NULL, d int NOT NULL, tag text NOT NULL);
SQL

# one transaction: the shared person first, then one of 20 (always in this order: no deadlock)
cat > "$WORK/same.sql" <<'EOF2'
\set d random(1, 9)
\set p random(1, 20)
BEGIN;
SELECT pulse.person_update('pc', 'hot', format('{"$increment": {"n": %s}, "$append": {"tags": "c%s"}}', :d, :client_id)::jsonb);
INSERT INTO expect VALUES ('hot', :d, 'c' || :client_id);
SELECT pulse.person_update('pc', 'p' || :p, format('{"$increment": {"n": %s}, "$append": {"tags": "c%s"}}', :d, :client_id)::jsonb);
INSERT INTO expect VALUES ('p' || :p, :d, 'c' || :client_id);
END;
EOF2
# the anonymous side writes na / ta, the user side nu / tu: a merge copies the anonymous
# person's values into the user's (whose are NULL), so every total stays exact
cat > "$WORK/merge.sql" <<'EOF2'
\set d random(1, 9)
\set i random(1, 10)
\set side random(0, 1)
BEGIN;
SELECT pulse.person_update('pm', CASE WHEN :side = 0 THEN 'a' ELSE 'u' END || :i,
                           format('{"$increment": {"n%1$s": %2$s}, "$append": {"t%1$s": "c%3$s"}}',
                                  CASE WHEN :side = 0 THEN 'a' ELSE 'u' END, :d, :client_id)::jsonb);
INSERT INTO expect VALUES (CASE WHEN :side = 0 THEN 'a' ELSE 'u' END || :i, :d, 'c' || :client_id);
END;
EOF2

# Every person's n and tags against the log, ids resolved through the final mapping.
check() {
    local bad
    bad=$(Q -v p="$1" <<'SQL'
WITH want AS (
  SELECT coalesce(m.person_id, e.id) AS person, sum(e.d) AS n, count(*) AS tags,
         string_agg(e.tag, ',' ORDER BY e.tag) AS tag_list
    FROM expect e LEFT JOIN :"p"._person_ids m ON m.distinct_id = e.id GROUP BY 1),
have AS (
  SELECT p._person AS person, p.n::bigint AS n, cardinality(p.tags)::bigint AS tags,
         (SELECT string_agg(t, ',' ORDER BY t) FROM unnest(p.tags) t) AS tag_list
    FROM :"p"._persons p)
(SELECT 'want', * FROM want EXCEPT SELECT 'want', * FROM have)
UNION ALL
(SELECT 'have', * FROM have EXCEPT SELECT 'have', * FROM want)
ORDER BY 2, 1 LIMIT 20
SQL
)
    [ -z "$bad" ] || { printf '%s\n' "$bad"; return 1; }
}

"$PGBENCH" -n -c 8 -j 4 -t "$TX" -f "$WORK/same.sql" "$DB" >"$WORK/bench1.log" 2>&1 ||
    { tail -20 "$WORK/bench1.log"; fail "pgbench (same persons) failed"; }
grep -q "number of failed transactions: 0" "$WORK/bench1.log" || grep -q "^number of transactions actually processed: $((8 * TX))/" "$WORK/bench1.log" ||
    { tail -20 "$WORK/bench1.log"; fail "pgbench (same persons): not every transaction committed"; }
[ "$(Q -c "SELECT count(*) FROM expect WHERE id = 'hot'")" = "$((8 * TX))" ] || fail "hot: not every transaction was logged"
check pc || fail "person totals differ from the calls made by 8 concurrent writers"
[ "$(Q -c "SELECT n::bigint = (SELECT sum(d) FROM expect WHERE id = 'hot') FROM pc._persons WHERE _person = 'hot'")" = t ] ||
    fail "hot person's total"
echo "ok 1 - 8 writers x $TX transactions on one shared and 20 other persons: every increment and append kept, on its own person"

# merges under load: identify a_i -> u_i while 8 writers update both ids of every pair
Q -c "TRUNCATE expect" -c "SELECT pulse.create_project('pm')" >/dev/null
"$PGBENCH" -n -c 8 -j 4 -t "$TX" -f "$WORK/merge.sql" "$DB" >"$WORK/bench2.log" 2>&1 &
BENCH=$!
BG+=("$BENCH")
for i in $(seq 1 10); do
    Q -c "SELECT pulse.identify('pm', 'a$i', 'u$i')" >/dev/null
    sleep 0.1
done
wait "$BENCH" || { tail -20 "$WORK/bench2.log"; fail "pgbench (merges) failed"; }
BG=()
[ "$(Q -c "SELECT count(*) FROM expect")" = "$((8 * TX))" ] || fail "merges: not every transaction was logged"
[ "$(Q -c "SELECT count(*) FROM pm._person_ids WHERE distinct_id ~ '^[au]' AND person_id <> 'u' || substr(distinct_id, 2)")" = 0 ] ||
    fail "merges: an id is not mapped to its user's person"
[ "$(Q -c "SELECT count(*) FROM pm._persons WHERE _person ~ '^a'")" = 0 ] || fail "merges: an anonymous person row survived"
bad=$(Q <<'SQL'
WITH want AS (
  SELECT 'u' || substr(e.id, 2) AS person, left(e.id, 1) AS side, sum(e.d) AS n,
         string_agg(e.tag, ',' ORDER BY e.tag) AS tags
    FROM expect e GROUP BY 1, 2),
have AS (
  SELECT p._person AS person, s.side,
         CASE s.side WHEN 'a' THEN p.na ELSE p.nu END::bigint AS n,
         (SELECT string_agg(t, ',' ORDER BY t) FROM unnest(CASE s.side WHEN 'a' THEN p.ta ELSE p.tu END) t) AS tags
    FROM pm._persons p CROSS JOIN (VALUES ('a'), ('u')) AS s(side)
   WHERE CASE s.side WHEN 'a' THEN p.na ELSE p.nu END IS NOT NULL)
(SELECT 'want', * FROM want EXCEPT SELECT 'want', * FROM have)
UNION ALL
(SELECT 'have', * FROM have EXCEPT SELECT 'have', * FROM want)
ORDER BY 2, 3, 1 LIMIT 20
SQL
)
[ -z "$bad" ] || { printf '%s\n' "$bad"; fail "person totals differ from the calls made while identify merged the persons"; }
echo "ok 2 - 8 writers on 20 ids while identify merged them pairwise: every increment and append kept on the merged person"
echo "persons_concurrency: 2 passed"
