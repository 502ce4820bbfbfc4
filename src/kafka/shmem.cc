#include "core/error.h"
#include "kafka/shmem.h"

extern "C" {
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
}

namespace pulse::kafka {

Shared* shared = nullptr;

static shmem_request_hook_type prev_shmem_request = nullptr;
static shmem_startup_hook_type prev_shmem_startup = nullptr;

static void shmem_request(void) {
  if (prev_shmem_request) prev_shmem_request();
  RequestAddinShmemSpace(MAXALIGN(sizeof(Shared)));
  RequestNamedLWLockTranche("pg_pulse", 1);
}

static void shmem_startup(void) {
  if (prev_shmem_startup) prev_shmem_startup();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  shared = static_cast<Shared*>(ShmemInitStruct("pg_pulse", sizeof(Shared), &found));
  if (!found) {
    memset(shared, 0, sizeof(Shared));
    shared->lock = &(GetNamedLWLockTranche("pg_pulse"))->lock;
  }
  LWLockRelease(AddinShmemInitLock);
}

void register_preload() {
  prev_shmem_request = shmem_request_hook;
  shmem_request_hook = shmem_request;
  prev_shmem_startup = shmem_startup_hook;
  shmem_startup_hook = shmem_startup;

  BackgroundWorker w;
  memset(&w, 0, sizeof w);
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_RecoveryFinished;
  w.bgw_restart_time = 5;
  snprintf(w.bgw_library_name, BGW_MAXLEN, "pg_pulse");
  snprintf(w.bgw_function_name, BGW_MAXLEN, "pulse_kafka_launcher_main");
  snprintf(w.bgw_name, BGW_MAXLEN, "pg_pulse launcher");
  snprintf(w.bgw_type, BGW_MAXLEN, "pg_pulse launcher");
  RegisterBackgroundWorker(&w);

  // the view refresher (src/views/refresher.cc)
  snprintf(w.bgw_function_name, BGW_MAXLEN, "pulse_view_refresher_main");
  snprintf(w.bgw_name, BGW_MAXLEN, "pg_pulse view refresher");
  snprintf(w.bgw_type, BGW_MAXLEN, "pg_pulse view refresher");
  RegisterBackgroundWorker(&w);
}

void require_preload() {
  if (shared == nullptr)
    throw Error(sqlstate::kObjectNotInPrerequisiteState, "pg_pulse is not loaded at server start",
                "Kafka subscriptions are consumed by background workers, which exist only when the library is preloaded.",
                "Add pg_pulse to shared_preload_libraries and set pulse.database to this database in postgresql.conf, "
                "then restart the server.");
}

void wake_launcher() {
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_SHARED);
  Latch* l = shared->launcher_latch;
  LWLockRelease(shared->lock);
  if (l) SetLatch(l);
}

void note_progress(WorkerSlot* slot, const char* topic, int32 partition, int64 next_offset, int64 high_watermark,
                   uint32 events, TimestampTz now) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  PartitionStat* p = nullptr;
  for (int k = 0; k < slot->nparts; k++)
    if (slot->parts[k].partition == partition && strcmp(slot->parts[k].topic, topic) == 0) p = &slot->parts[k];
  if (!p && slot->nparts < kMaxPartitions) {
    p = &slot->parts[slot->nparts++];
    memset(p, 0, sizeof *p);
    strlcpy(p->topic, topic, sizeof p->topic);
    p->partition = partition;
  }
  if (p) {
    p->stored_offset = next_offset;
    if (high_watermark >= 0) p->high_watermark = high_watermark;
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
  LWLockRelease(shared->lock);
}

void note_error(WorkerSlot* slot, const char* message) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  strlcpy(slot->last_error, message, sizeof slot->last_error);
  slot->last_error_at = GetCurrentTimestamp();
  LWLockRelease(shared->lock);
}

}  // namespace pulse::kafka
