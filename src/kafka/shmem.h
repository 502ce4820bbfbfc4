// Shared state of the Kafka consumers: one slot per running worker, with per-partition
// progress for pulse.kafka_status. Written by workers, read by any backend, slots managed by
// the launcher. Everything here is plain C data under one LWLock.
#pragma once

extern "C" {
#include "postgres.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"
}

namespace pulse::kafka {

constexpr int kMaxWorkers = 32;
constexpr int kMaxPartitions = 256;  // per worker; beyond it pulse.kafka_status shows no live progress
constexpr int kRateWindow = 60;  // seconds of history for events/s

struct PartitionStat {
  char topic[128];
  int32 partition;
  int64 stored_offset;   // next offset to read, as committed to pulse.kafka_offsets
  int64 high_watermark;  // last known from the broker (-1 unknown)
  int64 bucket_second[kRateWindow];
  uint32 bucket_count[kRateWindow];
};

struct WorkerSlot {
  bool in_use;
  bool stop_requested;
  int64 subscription_id;
  int32 worker_index;
  pid_t pid;
  Latch* latch;              // the worker's, so the launcher can ask it to stop
  TimestampTz stop_asked_at;
  TimestampTz started_at;
  TimestampTz last_batch_at;
  TimestampTz last_error_at;
  char last_error[256];
  int64 events_total;
  int32 nparts;
  PartitionStat parts[kMaxPartitions];
};

struct Shared {
  LWLock* lock;
  pid_t launcher_pid;
  Latch* launcher_latch;
  WorkerSlot slots[kMaxWorkers];
};

// Null in a backend of a server started without shared_preload_libraries = 'pg_pulse'.
extern Shared* shared;

// Called from _PG_init while preloading: shared memory, LWLock tranche, launcher worker.
void register_preload();

// Raises 55000 with a hint when pg_pulse was not preloaded (no launcher, no workers).
void require_preload();

// Wakes the launcher so it reacts to subscription changes at once.
void wake_launcher();

// Records `events` events of topic/partition at `next_offset` for the calling worker's slot.
void note_progress(WorkerSlot* slot, const char* topic, int32 partition, int64 next_offset, int64 high_watermark,
                   uint32 events, TimestampTz now);
void note_error(WorkerSlot* slot, const char* message);

}  // namespace pulse::kafka
