#!/usr/bin/env bash
# The Prometheus recipe of docs/operations.md: prometheus-postgres-exporter with
# contrib/prometheus/queries.yaml, connected as a login role that has only pg_monitor, scrapes
# pg_pulse's collection counters, Kafka partition status, views and job history.
set -euo pipefail
DB=pulse_test
fail() { echo "FAIL: $*"; exit 1; }
EXPORTER=$(command -v prometheus-postgres-exporter || true)
[ -n "$EXPORTER" ] || fail "prometheus-postgres-exporter is not installed (Debian package prometheus-postgres-exporter)"
Q="psql -qXAt -v ON_ERROR_STOP=1 -d $DB"
PORT=$((20000 + ${PGPORT:-54329} % 10000 + 23))  # below the ephemeral range (32768-60999)
LOG=$(mktemp /tmp/pulse_exporter.XXXXXX)
cleanup() {
    [ -n "${EXP_PID:-}" ] && kill "$EXP_PID" 2>/dev/null || true
    $Q -c "SET client_min_messages = warning" -c "SELECT pulse.drop_project('prom', force => true)" -c "DROP ROLE IF EXISTS prom_monitor" >/dev/null 2>&1 || true
    rm -f "$LOG"
}
trap cleanup EXIT
$Q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_pulse" -c "SELECT pulse.create_project('prom')" \
   -c "DROP ROLE IF EXISTS prom_monitor" -c "CREATE ROLE prom_monitor LOGIN IN ROLE pg_monitor" >/dev/null
$Q -c "SELECT pulse.collect_batch('prom', E'{\"n\": 1}\n{\"n\": 2}\n{\"n\": \"x\"}\n{oops', 'ev')" \
   -c "SELECT pulse.create_view('prom', 'per_n', 'SELECT n, count(*) AS c FROM ev GROUP BY n', 'incremental', '1 hour')" \
   -c "SELECT pulse.kafka_subscribe('prom', ARRAY['t'], '127.0.0.1:9', collection => 'ev')" >/dev/null
$Q -c "INSERT INTO pulse.kafka_offsets(subscription_id, topic, partition, next_offset) SELECT id, 't', 0, 5 FROM pulse.kafka_subscriptions WHERE project = 'prom'" >/dev/null

DATA_SOURCE_NAME="host=$PGHOST port=$PGPORT user=prom_monitor dbname=$DB sslmode=disable" \
    "$EXPORTER" --web.listen-address="127.0.0.1:$PORT" --extend.query-path="$PULSE_REPO/contrib/prometheus/queries.yaml" \
    --disable-default-metrics --disable-settings-metrics >"$LOG" 2>&1 &
EXP_PID=$!
out=""
for _ in $(seq 1 100); do
    out=$(curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null || true)
    grep -q '^pg_pulse_collection_events_stored' <<<"$out" && break
    sleep 0.2
done
has() { echo "$out" | grep -Eq "$1" || { echo "$out" | grep pg_pulse | head -20; tail -5 "$LOG"; fail "no $2 in the scrape"; }; }
has '^pg_pulse_collection_events_stored\{[^}]*collection="ev"[^}]*project="prom"[^}]*\} 3$' "events_stored 3 for prom/ev"
has '^pg_pulse_collection_rejected_fields\{[^}]*collection="ev"[^}]*project="prom"[^}]*\} 1$' "rejected_fields 1"
has '^pg_pulse_collection_dead_letters\{[^}]*collection="ev"[^}]*project="prom"[^}]*\} 1$' "dead_letters 1"
has '^pg_pulse_kafka_lag\{[^}]*partition="0"[^}]*project="prom"[^}]*topic="t"[^}]*\} -1$' "the Kafka partition's lag (-1: unknown)"
has '^pg_pulse_view_needs_rebuild\{[^}]*project="prom"[^}]*view="per_n"[^}]*\} 0$' "the view"
has '^pg_pulse_jobs_runs_last_5m\{[^}]*kind="refresh"[^}]*project="prom"[^}]*\} [1-9]' "the job history"
! grep -qi "error" "$LOG" || { tail -5 "$LOG"; fail "the exporter logged errors"; }
echo "ok 1 - prometheus-postgres-exporter with contrib/prometheus/queries.yaml, as a pg_monitor role, scrapes collections, Kafka partitions, views and jobs"
echo "prometheus: all ok"
