// Shared state of the Kafka consumers: a bounded pool of worker processes per database, each
// serving any number of consumers (a subscription's worker_index-th member of its consumer
// group), and one slot per consumer with its state and per-partition progress for
// pulse.kafka_status. Consumer slots are written by the pool worker serving them, read by any
// backend of the same database, managed (assigned to pool workers, freed) by that database's
// scheduler. Plain C data under one LWLock; the number of consumer slots and partition stats is
// fixed at server start (pulse.kafka_max_consumers, pulse.kafka_max_partitions).
#pragma once

#include "core/error.h"

extern "C" {
#include "postgres.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"
}

namespace pulse::kafka {

constexpr int kMaxPoolWorkers = 64;             // pool processes, every database together
constexpr int kMaxPartitionsPerConsumer = 256;  // beyond it pulse.kafka_status shows no live progress
constexpr int kRateWindow = 60;                 // seconds of history for events/s

struct PartitionStat {
  bool in_use;
  char topic[128];
  int32 partition;
  int64 stored_offset;            // next offset to read, as committed to pulse.kafka_offsets (-1 unknown)
  int64 high_watermark;           // last known from the broker (-1 unknown)
  TimestampTz high_watermark_at;  // when the consumer last read it from the broker
  TimestampTz last_progress_at;   // last commit that moved stored_offset
  int64 bucket_second[kRateWindow];
  uint32 bucket_count[kRateWindow];
};

// One consumer: subscription_id's worker_index-th member of its consumer group.
struct WorkerSlot {
  bool in_use;
  bool stop_requested;  // its pool worker closes the consumer (then pid = 0)
  Oid dboid;
  int64 subscription_id;
  int32 worker_index;
  int32 pool_worker;  // index in Shared::pool of the process assigned to serve it; -1: none yet
  pid_t pid;          // that process while it holds a live consumer for this slot, else 0
  Latch* latch;       // that process's, so a restart request wakes it
  TimestampTz started_at;
  TimestampTz heartbeat_at;  // its pool worker's loop went round (a stuck worker stops updating it)
  TimestampTz last_batch_at;
  TimestampTz last_error_at;
  TimestampTz next_start_at;  // backoff: its pool worker starts it again no earlier
  TimestampTz last_log_at;    // errors of this slot reach the server log at most once a minute
  int32 failures;             // consecutive failures (start or batch): the backoff exponent
  char state[64];             // what it is doing or waiting for
  char last_error[256];
  int64 events_total;
  int32 nparts;
  int32 part_index[kMaxPartitionsPerConsumer];  // into the partition stats
};

// A process of a database's pool.
struct PoolWorker {
  bool in_use;
  bool stop_requested;
  Oid dboid;
  int32 index;  // within its database's pool
  pid_t pid;
  Latch* latch;
  TimestampTz stop_asked_at;
  TimestampTz next_start_at;  // backoff after the process died of an error
  int32 failures;
  int32 consumers;  // live consumers it serves (for the process title and balancing)
};

struct Shared {
  LWLock* lock;
  int max_consumers;
  int max_partitions;
  PoolWorker pool[kMaxPoolWorkers];
  WorkerSlot* slots;     // max_consumers of them
  PartitionStat* parts;  // max_partitions of them
};

// Null in a backend of a server started without shared_preload_libraries = 'pg_pulse'.
extern Shared* shared;

// The consumer slots, for range-for.
struct SlotRange {
  WorkerSlot* b;
  WorkerSlot* e;
  WorkerSlot* begin() const { return b; }
  WorkerSlot* end() const { return e; }
};
inline SlotRange consumer_slots() { return {shared->slots, shared->slots + shared->max_consumers}; }
inline int slot_index(const WorkerSlot* s) { return int(s - shared->slots); }

// Called from _PG_init while preloading: GUCs that size it, shared memory and its LWLock tranche.
void register_shmem();

// Raises 55000 with a hint when pg_pulse was not preloaded (no workers).
void require_preload();

// Frees a consumer slot and its partition stats. Lock held exclusively.
void free_slot(WorkerSlot* slot);

// Records `events` events of topic/partition at `next_offset` for the calling worker's slot.
void note_progress(WorkerSlot* slot, const char* topic, int32 partition, int64 next_offset, uint32 events,
                   TimestampTz now);
// Records the partitions assigned to the consumer (stored offsets where known, else -1).
void note_assignment(WorkerSlot* slot, int n, const char* const* topics, const int32* partitions, const int64* stored);
// Records a partition's high watermark as read from the broker now.
void note_high_watermark(WorkerSlot* slot, const char* topic, int32 partition, int64 high_watermark, TimestampTz now);
void note_error(WorkerSlot* slot, const char* message);
// Copies message into dst (size bytes), cut on a character boundary.
void copy_message(char* dst, size_t size, const char* message);
void note_state(WorkerSlot* slot, const char* state);

// Records a failure of the slot's consumer: one more consecutive failure (the backoff exponent),
// its error and time, and `state`. Returns the backoff to wait (ms) and sets *log when the
// server log may get a line (at most once a minute per slot).
long note_failure(WorkerSlot* slot, const char* message, const char* state, TimestampTz now, bool* log);

// Backoff after the nth consecutive failure: 1 s, 2 s, 4 s ... at most 5 minutes.
long backoff_ms(int failures);

}  // namespace pulse::kafka
