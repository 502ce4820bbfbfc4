// Library load: configuration parameters, and (when preloaded) the shared memory and the
// background workers.
#include "analytics/person_cache.h"
#include "core/avro_decode.h"
#include "ingest/metrics.h"
#include "pg/faults.h"
#include "pg/gucs.h"
#include "pg/progress.h"
#include "pg/scheduler.h"
#include "kafka/shmem.h"

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

int pulse_max_fields_per_collection = 500;
int pulse_max_event_bytes = 1024 * 1024;
int pulse_collect_chunk_bytes = 2 * 1024 * 1024;
int pulse_copy_format = kPulseCopyAuto;
int pulse_partition_by = 0;
int pulse_ddl_lock_timeout_ms = 2000;
int pulse_ddl_retries = 5;
int pulse_view_margin_ms = 5000;
bool pulse_analytics_single_pass = true;
char* pulse_debug_pause_at = nullptr;
char* pulse_debug_fail_column = nullptr;
int pulse_debug_fail_allocation = 0;
int pulse_kafka_stall_after_ms = 30000;
int pulse_job_history_retention_s = 7 * 24 * 3600;
int pulse_refresh_timeout_ms = 5 * 60 * 1000;
int pulse_rejected_fields_retention_s = 0;
int pulse_dead_letters_retention_s = 0;
int pulse_kafka_workers = 4;
int pulse_kafka_max_consumers = 1024;
int pulse_kafka_max_partitions = 4096;
char* pulse_geoip_database = nullptr;
char* pulse_user_agent_regexes = nullptr;
char* pulse_referrer_data = nullptr;
int pulse_enrichment_cache_entries = 10000;
int pulse_person_cache_kb = 256 * 1024;

void _PG_init(void);
}

void _PG_init(void) {
  DefineCustomIntVariable("pulse.max_fields_per_collection",
                          "Most user fields (columns) a collection may get from events.",
                          "Fields beyond the limit are recorded in pulse.rejected_fields.",
                          &pulse_max_fields_per_collection, 500, 1, 1500, PGC_SUSET, 0, NULL, NULL, NULL);
  DefineCustomIntVariable("pulse.max_event_bytes", "Largest event accepted, in bytes.",
                          "Larger events are recorded whole in pulse.dead_letters.", &pulse_max_event_bytes,
                          1024 * 1024, 64, 256 * 1024 * 1024, PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
  DefineCustomIntVariable(
      "pulse.collect_chunk_bytes", "Bytes of an NDJSON payload collect_batch decodes and writes at a time.",
      "A payload is stored chunk by chunk, in one transaction, with the outcome of one batch.",
      &pulse_collect_chunk_bytes, 2 * 1024 * 1024, 1, 1024 * 1024 * 1024, PGC_USERSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
  static const struct config_enum_entry copy_formats[] = {{"auto", kPulseCopyAuto, false},
                                                          {"copy", kPulseCopyBinary, false},
                                                          {"text", kPulseCopyText, false},
                                                          {NULL, 0, false}};
  DefineCustomEnumVariable(
      "pulse.copy_format",
      "How ingestion writes rows: auto (directly when it can), copy (binary COPY) or text (COPY text).",
      "auto writes the binary rows of a batch with the table and index routines COPY uses when the "
      "collection has no triggers, generated columns or volatile defaults, else by binary COPY; "
      "copy always uses binary COPY, text COPY text. Rows whose columns have no binary form "
      "pg_pulse makes go as COPY text. All store the same values.",
      &pulse_copy_format, kPulseCopyAuto, copy_formats, PGC_USERSET, 0, NULL, NULL, NULL);
  static const struct config_enum_entry partition_units[] = {
      {"none", 0, false}, {"day", 1, false}, {"week", 2, false}, {"month", 3, false}, {NULL, 0, false}};
  DefineCustomEnumVariable("pulse.partition_by",
                           "Time partitioning of new collections in projects without a default of their own.",
                           "none, day, week or month; a project's default (pulse.set_project_defaults) and "
                           "pulse.create_collection's partition_by win over it.",
                           &pulse_partition_by, 0, partition_units, PGC_USERSET, 0, NULL, NULL, NULL);
  DefineCustomIntVariable("pulse.ddl_lock_timeout",
                          "lock_timeout used for each attempt to add columns to a collection.", NULL,
                          &pulse_ddl_lock_timeout_ms, 2000, 1, 600000, PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
  DefineCustomIntVariable("pulse.ddl_retries",
                          "Attempts to add columns before the ingestion call fails with SQLSTATE 55P03.", NULL,
                          &pulse_ddl_retries, 5, 1, 1000, PGC_USERSET, 0, NULL, NULL, NULL);
  DefineCustomIntVariable("pulse.view_margin",
                          "Safety margin below the earliest running transaction's start for view refreshes.",
                          "Rows of a view's collection newer than the stored threshold are re-checked against "
                          "the stored snapshot; the margin covers transactions whose start time is not yet visible.",
                          &pulse_view_margin_ms, 5000, 0, 3600 * 1000, PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
  DefineCustomBoolVariable("pulse.analytics_single_pass",
                           "Lets pulse.funnel, pulse.retention and pulse.trends read their events in one "
                           "aggregate pass.",
                           "Off: they use their general SQL plans, which give the same answers more slowly.",
                           &pulse_analytics_single_pass, true, PGC_USERSET, 0, NULL, NULL, NULL);
  DefineCustomIntVariable("pulse.kafka_stall_after",
                          "How long a Kafka partition may wait without progress before pulse.kafka_status calls it "
                          "stalled.",
                          "Stalled: messages wait but nothing was stored for this long, or the worker's loop has not "
                          "gone round for this long.",
                          &pulse_kafka_stall_after_ms, 30000, 1000, 86400000, PGC_USERSET, GUC_UNIT_MS, NULL, NULL,
                          NULL);
  DefineCustomIntVariable(
      "pulse.job_history_retention", "How long pulse.job_history keeps what the background work did.",
      "Every view refresh, failed Kafka batch and failed Kafka worker is recorded; the "
      "scheduler deletes older records every 10 seconds. 0 records nothing.",
      &pulse_job_history_retention_s, 7 * 24 * 3600, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
  DefineCustomIntVariable("pulse.refresh_timeout", "Longest a refresh by the scheduler may run.",
                          "A view or cohort refresh that the scheduler runs is cancelled after this long (recorded as "
                          "its failure, retried after its refresh_every), so that one project's slow query cannot hold "
                          "the refreshes, retention and Kafka restarts of the whole database. 0 waits forever.",
                          &pulse_refresh_timeout_ms, 5 * 60 * 1000, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL,
                          NULL);
  DefineCustomIntVariable("pulse.rejected_fields_retention", "How long pulse.rejected_fields keeps its rows.",
                          "The scheduler deletes older rows every minute (each deletion is in pulse.job_history). "
                          "0 (the default) keeps them forever.",
                          &pulse_rejected_fields_retention_s, 0, 0, INT_MAX, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
  DefineCustomIntVariable("pulse.dead_letters_retention", "How long pulse.dead_letters keeps its rows.",
                          "The scheduler deletes older rows every minute (each deletion is in pulse.job_history). "
                          "0 (the default) keeps them forever.",
                          &pulse_dead_letters_retention_s, 0, 0, INT_MAX, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
  DefineCustomIntVariable("pulse.kafka_workers",
                          "Most background worker processes that consume the Kafka subscriptions of one database.",
                          "Every subscription of the database is served by this pool, whatever their number; a "
                          "database starts only as many as it has consumers.",
                          &pulse_kafka_workers, 4, 1, 64, PGC_SIGHUP, 0, NULL, NULL, NULL);
  // Enrichment data files (docs/enrichment.md): superuser-only, so that no project role can make
  // the server read a file of its choice.
  DefineCustomStringVariable("pulse.geoip_database", "MaxMind-format database (.mmdb) of the geoip enricher.",
                             "Memory-mapped once per backend and reopened when the file changes on disk.",
                             &pulse_geoip_database, "/var/lib/GeoIP/GeoLite2-City.mmdb", PGC_SUSET, 0, NULL, NULL,
                             NULL);
  DefineCustomStringVariable("pulse.user_agent_regexes", "uap-core rules (regexes.yaml) of the user_agent enricher.",
                             "Loaded once per backend and reloaded when the file changes on disk.",
                             &pulse_user_agent_regexes, "/usr/share/uap-core/regexes.yaml", PGC_SUSET, 0, NULL, NULL,
                             NULL);
  DefineCustomStringVariable(
      "pulse.referrer_data", "Snowplow referer-parser data (referers.yml) of the referrer enricher.",
      "Loaded once per backend and reloaded when the file changes on disk.", &pulse_referrer_data,
      "/usr/share/rubygems-integration/all/gems/referer-parser-0.3.0/data/referers.yml", PGC_SUSET, 0, NULL, NULL,
      NULL);
  DefineCustomIntVariable("pulse.enrichment_cache_entries",
                          "Most parsed user agents, referrers and geo-IP records each backend keeps (per cache).", NULL,
                          &pulse_enrichment_cache_entries, 10000, 1, 10000000, PGC_SUSET, 0, NULL, NULL, NULL);
  DefineCustomIntVariable("pulse.person_cache_size",
                          "Largest person mapping a backend keeps between the reports that count unique users by "
                          "person.",
                          "The last mapping a backend loaded serves later reports whose snapshot sees the same rows "
                          "of it; larger ones are loaded by every report. 0 keeps none.",
                          &pulse_person_cache_kb, 256 * 1024, 0, INT_MAX, PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
  DefineCustomStringVariable("pulse.debug_pause_at",
                             "Test hook: makes pg_pulse wait at this phase until the backend is interrupted.",
                             "Phases: decode, copy, salvage, refresh, replay, kafka. Empty (the default) is off.",
                             &pulse_debug_pause_at, "", PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
  DefineCustomStringVariable("pulse.debug_fail_column",
                             "Test hook: adding a column of this name to a collection fails.", NULL,
                             &pulse_debug_fail_column, "", PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
  DefineCustomIntVariable("pulse.debug_fail_allocation",
                          "Test hook: the Nth C++ allocation of each pg_pulse call fails (0, the default, is off).",
                          NULL, &pulse_debug_fail_allocation, 0, 0, INT_MAX, PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL,
                          NULL);
  // Sizes of shared memory: they exist only in a server that preloads the library (a
  // PGC_POSTMASTER parameter cannot be defined later).
  if (process_shared_preload_libraries_in_progress) {
    DefineCustomIntVariable("pulse.kafka_max_consumers",
                            "Most Kafka consumers (subscriptions times their parallelism) of the whole server.",
                            "Consumers beyond it wait (pulse.kafka_status says so). Sizes shared memory at start.",
                            &pulse_kafka_max_consumers, 1024, 1, 100000, PGC_POSTMASTER, 0, NULL, NULL, NULL);
    DefineCustomIntVariable("pulse.kafka_max_partitions",
                            "Most Kafka partitions whose live progress pulse.kafka_status shows, for the whole server.",
                            "Partitions beyond it are consumed all the same; their lag shows once others free up. "
                            "Sizes shared memory at start.",
                            &pulse_kafka_max_partitions, 4096, 16, 1000000, PGC_POSTMASTER, 0, NULL, NULL, NULL);
  }
  MarkGUCPrefixReserved("pulse");

  // Avro schemas and messages can be large: their loops check for a pending cancel
  pulse::set_avro_interrupt_check(pulse::pg::decode_interrupt_check);

  // Background workers (the supervisor, a scheduler per database, Kafka consumers) and their
  // shared memory exist only when the library is preloaded; the SQL functions that need them
  // say so otherwise.
  if (process_shared_preload_libraries_in_progress) {
    pulse::kafka::register_shmem();
    pulse::ingest::register_metrics_shmem();
    pulse::pg::register_progress_shmem();
    pulse::analytics::register_person_cache_shmem();
    pulse::pg::register_scheduler();
  }

  // (No process-wide malloc tuning: the large buffers of ingestion are pg_pulse's own and
  // reused from call to call, src/core/scratch.h.)
}
