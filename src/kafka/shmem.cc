// Shared state of the Kafka consumers (see shmem.h).
#include "kafka/shmem.h"

#include <algorithm>

#include "core/error.h"
#include "pg/gucs.h"
#include "pg/scheduler.h"
#include "pg/shmem_parts.h"

extern "C" {
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
}

namespace pulse::kafka {

Shared* shared = nullptr;

// Bytes of the shared state: the header, then the consumer slots, then the partition stats.
static Size shmem_size() {
  Size size = MAXALIGN(sizeof(Shared));
  size = add_size(size, mul_size(Size(pulse_kafka_max_consumers), sizeof(WorkerSlot)));
  size = MAXALIGN(size);
  return add_size(size, mul_size(Size(pulse_kafka_max_partitions), sizeof(PartitionStat)));
}

static void shmem_startup(void) {
  bool found = false;
  shared = static_cast<Shared*>(ShmemInitStruct("pg_pulse kafka", shmem_size(), &found));
  if (!found) {
    memset(shared, 0, shmem_size());
    shared->lock = &(GetNamedLWLockTranche("pg_pulse kafka"))->lock;
    shared->max_consumers = pulse_kafka_max_consumers;
    shared->max_partitions = pulse_kafka_max_partitions;
    char* base = reinterpret_cast<char*>(shared);
    shared->slots = reinterpret_cast<WorkerSlot*>(base + MAXALIGN(sizeof(Shared)));
    shared->parts = reinterpret_cast<PartitionStat*>(
        base + MAXALIGN(MAXALIGN(sizeof(Shared)) + Size(pulse_kafka_max_consumers) * sizeof(WorkerSlot)));
  }
}

void register_shmem() { pg::add_shmem_part({"pg_pulse kafka", shmem_size, 1, shmem_startup}); }

void require_preload() {
  if (shared == nullptr)
    throw Error(
        sqlstate::kObjectNotInPrerequisiteState, "pg_pulse is not loaded at server start",
        "Kafka subscriptions are consumed by background workers, which exist only when the library is preloaded.",
        "Add pg_pulse to shared_preload_libraries in postgresql.conf and restart the server.");
}

// The stat of topic/partition in slot (taken from the free stats when missing and there is
// room). Lock held exclusively.
static PartitionStat* part_of(WorkerSlot* slot, const char* topic, int32 partition) {
  for (int k = 0; k < slot->nparts; k++) {
    PartitionStat* p = &shared->parts[slot->part_index[k]];
    if (p->partition == partition && strcmp(p->topic, topic) == 0) return p;
  }
  if (slot->nparts >= kMaxPartitionsPerConsumer) return nullptr;
  for (int i = 0; i < shared->max_partitions; i++) {
    PartitionStat* p = &shared->parts[i];
    if (p->in_use) continue;
    memset(p, 0, sizeof *p);
    p->in_use = true;
    strlcpy(p->topic, topic, sizeof p->topic);
    p->partition = partition;
    p->stored_offset = -1;
    p->high_watermark = -1;
    slot->part_index[slot->nparts++] = i;
    return p;
  }
  return nullptr;
}

// Returns the slot's partition stats to the free ones. Lock held exclusively.
static void release_parts(WorkerSlot* slot) {
  for (int k = 0; k < slot->nparts; k++) shared->parts[slot->part_index[k]].in_use = false;
  slot->nparts = 0;
}

void free_slot(WorkerSlot* slot) {
  release_parts(slot);
  memset(slot, 0, sizeof *slot);
}

void note_progress(WorkerSlot* slot, const char* topic, int32 partition, int64 next_offset, uint32 events,
                   TimestampTz now) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  if (PartitionStat* p = part_of(slot, topic, partition)) {
    if (next_offset != p->stored_offset) p->last_progress_at = now;
    p->stored_offset = next_offset;
    int64 sec = now / USECS_PER_SEC;
    int idx = int(sec % kRateWindow);
    if (p->bucket_second[idx] != sec) {
      p->bucket_second[idx] = sec;
      p->bucket_count[idx] = 0;
    }
    p->bucket_count[idx] += events;
  }
  slot->events_total += events;
  slot->last_batch_at = now;
  slot->failures = 0;
  LWLockRelease(shared->lock);
}

void note_assignment(WorkerSlot* slot, int n, const char* const* topics, const int32* partitions, const int64* stored) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  release_parts(slot);
  for (int k = 0; k < n; k++)
    if (PartitionStat* p = part_of(slot, topics[k], partitions[k])) p->stored_offset = stored[k];
  LWLockRelease(shared->lock);
}

void note_high_watermark(WorkerSlot* slot, const char* topic, int32 partition, int64 high_watermark, TimestampTz now) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  if (PartitionStat* p = part_of(slot, topic, partition)) {
    p->high_watermark = high_watermark;
    p->high_watermark_at = now;
  }
  LWLockRelease(shared->lock);
}

void copy_message(char* dst, size_t size, const char* message) {
  // cut on a character boundary: the status views return it as text
  int len = int(strlen(message));
  int keep = len < int(size) ? len : pg_mbcliplen(message, len, int(size) - 1);
  memcpy(dst, message, size_t(keep));
  dst[keep] = '\0';
}

void note_error(WorkerSlot* slot, const char* message) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  copy_message(slot->last_error, sizeof slot->last_error, message);
  slot->last_error_at = GetCurrentTimestamp();
  LWLockRelease(shared->lock);
}

void note_state(WorkerSlot* slot, const char* state) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  strlcpy(slot->state, state, sizeof slot->state);
  LWLockRelease(shared->lock);
}

long note_failure(WorkerSlot* slot, const char* message, const char* state, TimestampTz now, bool* log) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  slot->failures = std::min(slot->failures + 1, 30);
  long wait = backoff_ms(slot->failures);
  copy_message(slot->last_error, sizeof slot->last_error, message);
  slot->last_error_at = now;
  strlcpy(slot->state, state, sizeof slot->state);
  *log = TimestampDifferenceExceeds(slot->last_log_at, now, 60000);
  if (*log) slot->last_log_at = now;
  LWLockRelease(shared->lock);
  return wait;
}

long backoff_ms(int failures) {
  if (failures <= 0) return 0;
  return std::min(300000L, 1000L << std::min(failures - 1, 9));
}

}  // namespace pulse::kafka
