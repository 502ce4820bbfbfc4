// pg_pulse's configuration parameters (documented in docs/configuration.md).
#pragma once

extern "C" {
extern int pulse_max_fields_per_collection;
extern int pulse_max_event_bytes;
extern int pulse_collect_chunk_bytes;
extern int pulse_copy_format;   // PulseCopyFormat
extern int pulse_partition_by;  // 0 none, 1 day, 2 week, 3 month (pulse.partition_by)
extern int pulse_ddl_lock_timeout_ms;
extern int pulse_ddl_retries;
extern int pulse_view_margin_ms;
extern bool pulse_analytics_single_pass;
extern char* pulse_debug_pause_at;
extern char* pulse_debug_fail_column;
extern int pulse_debug_fail_allocation;
extern int pulse_job_history_retention_s;
extern int pulse_refresh_timeout_ms;
extern int pulse_rejected_fields_retention_s;
extern int pulse_dead_letters_retention_s;
extern int pulse_kafka_workers;
extern int pulse_kafka_max_consumers;
extern int pulse_kafka_max_partitions;
extern char* pulse_geoip_database;
extern char* pulse_user_agent_regexes;
extern char* pulse_referrer_data;
extern int pulse_enrichment_cache_entries;
extern int pulse_person_cache_kb;
}

// pulse.copy_format: how the write path hands rows to COPY.
enum PulseCopyFormat { kPulseCopyAuto = 0, kPulseCopyText = 1, kPulseCopyBinary = 2 };
