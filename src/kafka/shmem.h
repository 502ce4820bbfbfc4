// Shared state of the Kafka consumers: one slot per consumer worker, keyed by database and
// subscription, with per-partition progress for pulse.kafka_status. Written by workers, read by
// any backend of the same database, slots managed by that database's scheduler. Plain C data
// under one LWLock.
#pragma once

#include "core/error.h"

extern "C" {
#include "postgres.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"
}

namespace pulse::kafka {

constexpr int kMaxWorkers = 32;
constexpr int kMaxPartitions = 256;  // per worker; beyond it pulse.kafka_status shows no live progress
constexpr int kRateWindow = 60;      // seconds of history for events/s

struct PartitionStat {
  char topic[128];
  int32 partition;
  int64 stored_offset;            // next offset to read, as committed to pulse.kafka_offsets (-1 unknown)
  int64 high_watermark;           // last known from the broker (-1 unknown)
  TimestampTz high_watermark_at;  // when the worker last read it from the broker
  TimestampTz last_progress_at;   // last commit that moved stored_offset
  int64 bucket_second[kRateWindow];
  uint32 bucket_count[kRateWindow];
};

struct WorkerSlot {
  bool in_use;
  bool stop_requested;
  Oid dboid;
  int64 subscription_id;
  int32 worker_index;
  pid_t pid;
  Latch* latch;  // the worker's, so the scheduler can ask it to stop
  TimestampTz stop_asked_at;
  TimestampTz started_at;
  TimestampTz heartbeat_at;  // the worker's loop went round (a stuck worker stops updating it)
  TimestampTz last_batch_at;
  TimestampTz last_error_at;
  TimestampTz next_start_at;  // backoff: the scheduler starts it again no earlier
  TimestampTz last_log_at;    // errors of this slot reach the server log at most once a minute
  int32 failures;             // consecutive failures (start or batch): the backoff exponent
  char state[64];             // what it is doing or waiting for
  char last_error[256];
  int64 events_total;
  int32 nparts;
  PartitionStat parts[kMaxPartitions];
};

struct Shared {
  LWLock* lock;
  WorkerSlot slots[kMaxWorkers];
};

// Null in a backend of a server started without shared_preload_libraries = 'pg_pulse'.
extern Shared* shared;

// Called from _PG_init while preloading: shared memory and its LWLock tranche.
void register_shmem();

// Raises 55000 with a hint when pg_pulse was not preloaded (no workers).
void require_preload();

// Records `events` events of topic/partition at `next_offset` for the calling worker's slot.
void note_progress(WorkerSlot* slot, const char* topic, int32 partition, int64 next_offset, uint32 events,
                   TimestampTz now);
// Records the partitions assigned to the worker (stored offsets where known, else -1).
void note_assignment(WorkerSlot* slot, int n, const char* const* topics, const int32* partitions, const int64* stored);
// Records a partition's high watermark as read from the broker now.
void note_high_watermark(WorkerSlot* slot, const char* topic, int32 partition, int64 high_watermark, TimestampTz now);
void note_error(WorkerSlot* slot, const char* message);
// Copies message into dst (size bytes), cut on a character boundary.
void copy_message(char* dst, size_t size, const char* message);
void note_state(WorkerSlot* slot, const char* state);
// The heartbeat of the worker's loop.
void note_heartbeat(WorkerSlot* slot, TimestampTz now);

// Backoff after the nth consecutive failure: 1 s, 2 s, 4 s ... at most 5 minutes.
long backoff_ms(int failures);

}  // namespace pulse::kafka
