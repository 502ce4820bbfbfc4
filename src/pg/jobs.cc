// pulse.job_log writes (see jobs.h).
#include "pg/jobs.h"

#include "pg/bgworker.h"
#include "pg/gucs.h"
#include "pg/spi.h"

namespace pulse::pg {

void record_job(const JobRecord& job) {
  if (pulse_job_history_retention_s <= 0) return;
  spi_exec(
      "INSERT INTO pulse.job_log(kind, project, object, started_at, finished_at, rows, status, error)"
      " SELECT $1, coalesce($2, (SELECT project FROM pulse.kafka_subscriptions WHERE id = $8)), $3, $4,"
      " pg_catalog.clock_timestamp(), $5, $6, $7 WHERE $2 IS NOT NULL OR EXISTS"
      " (SELECT FROM pulse.kafka_subscriptions WHERE id = $8)",
      {Arg::text(job.kind), job.project.empty() ? Arg::null_text() : Arg::text(job.project), Arg::text(job.object),
       Arg{TIMESTAMPTZOID, TimestampTzGetDatum(job.started_at), false},
       job.rows >= 0 ? Arg::int8(job.rows) : Arg{INT8OID, 0, true}, Arg::text(job.succeeded ? "succeeded" : "failed"),
       job.error.empty() ? Arg::null_text() : Arg::text(clip_message(job.error)), Arg::int8(job.subscription_id)});
}

void record_job_failure(const JobRecord& job) {
  if (pulse_job_history_retention_s <= 0) return;
  try {
    in_transaction("pg_pulse: recording a failed job", [&] { record_job(job); });
  } catch (PgError& e) {
    if (is_abort_error(e.sqlerrcode()) && e.sqlerrcode() != ERRCODE_QUERY_CANCELED) throw;  // e.g. terminate
  } catch (Error&) {
  }
}

void trim_job_history() {
  in_transaction("pg_pulse scheduler: trimming the job history", [&] {
    spi_exec("DELETE FROM pulse.job_log WHERE finished_at < pg_catalog.clock_timestamp() - $1 * interval '1 second'",
             {Arg::int8(pulse_job_history_retention_s)});
  });
}

}  // namespace pulse::pg
