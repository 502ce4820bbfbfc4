// The history of background work (pulse.job_log, read through pulse.job_history): every view
// refresh, every failed Kafka batch and every Kafka worker that stopped on an error, with its
// start, end, rows, status and error; kept for pulse.job_history_retention.
#pragma once

#include <cstdint>
#include <string>

#include "pg/guard.h"

extern "C" {
#include "utils/timestamp.h"
}

namespace pulse::pg {

struct JobRecord {
  const char* kind;  // "refresh", "kafka batch", "kafka worker"
  std::string project;
  std::string object;  // the view's name; the subscription's label
  TimestampTz started_at;
  int64_t rows = -1;  // -1: unknown (NULL)
  bool succeeded = true;
  std::string error;            // cut to kMaxMessageBytes
  int64_t subscription_id = 0;  // with project "": the project is this subscription's
};

// Inserts the record in the current transaction (SPI connected). Nothing when the retention is 0.
void record_job(const JobRecord& job);

// Records a failure in a transaction of its own (the failed one is gone): when even that fails,
// the record is dropped (the failure stays in the status views and, rate-limited, the log).
void record_job_failure(const JobRecord& job);

// Deletes what is older than pulse.job_history_retention (the scheduler, every 10 seconds).
void trim_job_history();

}  // namespace pulse::pg
