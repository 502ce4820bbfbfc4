// The launcher background worker (one per cluster, in the database named by pulse.database):
// starts one consumer worker per subscription x parallelism, restarts crashed ones, stops
// those of paused or removed subscriptions. It waits on its latch (woken by subscription
// changes) with a one-second timeout as its schedule.
#include <string>
#include <vector>

#include "kafka/shmem.h"
#include "pg/gucs.h"

extern "C" {
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

PGDLLEXPORT void pulse_kafka_launcher_main(Datum main_arg);
}

namespace {

using namespace pulse::kafka;

struct Wanted {
  int64 subscription_id;
  int32 worker_index;
};

BackgroundWorkerHandle* handles[kMaxWorkers];
TimestampTz last_start[kMaxWorkers];

// The (subscription, worker index) pairs that should run now. Plain C under a transaction:
// an error here ends the launcher, which the postmaster restarts.
int read_wanted(Wanted* out, int max) {
  int n = 0;
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  pgstat_report_activity(STATE_RUNNING, "pg_pulse launcher: reading subscriptions");
  int rc = SPI_execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_pulse'", true, 1);
  if (rc == SPI_OK_SELECT && SPI_processed == 1) {
    rc = SPI_execute(
        "SELECT s.id, g.k FROM pulse.kafka_subscriptions s, generate_series(0, s.parallelism - 1) AS g(k)"
        " WHERE NOT s.paused ORDER BY s.id, g.k",
        true, 0);
    if (rc == SPI_OK_SELECT) {
      for (uint64 r = 0; r < SPI_processed && n < max; r++) {
        bool isnull;
        out[n].subscription_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
        out[n].worker_index = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
        n++;
      }
    }
  }
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
  pgstat_report_activity(STATE_IDLE, NULL);
  return n;
}

bool start_worker(int slot) {
  BackgroundWorker w;
  memset(&w, 0, sizeof w);
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_RecoveryFinished;
  w.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher restarts it
  snprintf(w.bgw_library_name, BGW_MAXLEN, "pg_pulse");
  snprintf(w.bgw_function_name, BGW_MAXLEN, "pulse_kafka_worker_main");
  snprintf(w.bgw_name, BGW_MAXLEN, "pg_pulse kafka subscription %lld worker %d",
           (long long)shared->slots[slot].subscription_id, shared->slots[slot].worker_index);
  snprintf(w.bgw_type, BGW_MAXLEN, "pg_pulse kafka consumer");
  w.bgw_main_arg = Int32GetDatum(slot);
  w.bgw_notify_pid = MyProcPid;
  last_start[slot] = GetCurrentTimestamp();
  if (!RegisterDynamicBackgroundWorker(&w, &handles[slot])) {
    ereport(WARNING, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                      errmsg("pg_pulse could not start a Kafka consumer worker"),
                      errhint("Raise max_worker_processes.")));
    handles[slot] = NULL;
    return false;
  }
  return true;
}

// Ends workers left over from a previous launcher (their handles died with it).
void stop_orphans() {
  for (int s = 0; s < kMaxWorkers; s++) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    pid_t pid = shared->slots[s].in_use ? shared->slots[s].pid : 0;
    shared->slots[s].stop_requested = true;
    LWLockRelease(shared->lock);
    if (pid > 0) kill(pid, SIGTERM);
  }
  for (int s = 0; s < kMaxWorkers; s++) {
    for (int tries = 0; tries < 100; tries++) {
      LWLockAcquire(shared->lock, LW_SHARED);
      pid_t pid = shared->slots[s].pid;
      LWLockRelease(shared->lock);
      if (pid <= 0 || kill(pid, 0) != 0) break;
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
    }
  }
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (int s = 0; s < kMaxWorkers; s++) memset(&shared->slots[s], 0, sizeof(WorkerSlot));
  LWLockRelease(shared->lock);
}

void launcher_exit(int, Datum) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  if (shared->launcher_pid == MyProcPid) {
    shared->launcher_pid = 0;
    shared->launcher_latch = NULL;
  }
  LWLockRelease(shared->lock);
}

void reconcile() {
  Wanted wanted[kMaxWorkers * 2];
  int nwanted = read_wanted(wanted, kMaxWorkers * 2);
  TimestampTz now = GetCurrentTimestamp();
  bool covered[kMaxWorkers * 2] = {false};
  for (int s = 0; s < kMaxWorkers; s++) {
    LWLockAcquire(shared->lock, LW_SHARED);
    WorkerSlot slot = shared->slots[s];
    LWLockRelease(shared->lock);
    if (!slot.in_use) continue;
    int want = -1;
    for (int k = 0; k < nwanted; k++)
      if (wanted[k].subscription_id == slot.subscription_id && wanted[k].worker_index == slot.worker_index) want = k;
    pid_t pid = 0;
    BgwHandleStatus st = handles[s] ? GetBackgroundWorkerPid(handles[s], &pid) : BGWH_STOPPED;
    if (want < 0) {
      if (st != BGWH_STOPPED) {
        // Ask first (the worker finishes its batch and leaves its group cleanly); terminate
        // only a worker that has not gone after 10 s.
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        WorkerSlot* w = &shared->slots[s];
        if (!w->stop_requested) {
          w->stop_requested = true;
          w->stop_asked_at = now;
          if (w->latch) SetLatch(w->latch);
        }
        bool overdue = TimestampDifferenceExceeds(w->stop_asked_at, now, 10000);
        LWLockRelease(shared->lock);
        if (overdue) TerminateBackgroundWorker(handles[s]);
      } else {
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        memset(&shared->slots[s], 0, sizeof(WorkerSlot));
        LWLockRelease(shared->lock);
        handles[s] = NULL;
      }
      continue;
    }
    covered[want] = true;
    // crashed or exited: start again, at most once a second
    if (st == BGWH_STOPPED && TimestampDifferenceExceeds(last_start[s], now, 1000)) {
      LWLockAcquire(shared->lock, LW_EXCLUSIVE);
      shared->slots[s].stop_requested = false;
      shared->slots[s].pid = 0;
      LWLockRelease(shared->lock);
      start_worker(s);
    }
  }
  for (int k = 0; k < nwanted; k++) {
    if (covered[k]) continue;
    int free_slot = -1;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (int s = 0; s < kMaxWorkers && free_slot < 0; s++)
      if (!shared->slots[s].in_use) free_slot = s;
    if (free_slot >= 0) {
      memset(&shared->slots[free_slot], 0, sizeof(WorkerSlot));
      shared->slots[free_slot].in_use = true;
      shared->slots[free_slot].subscription_id = wanted[k].subscription_id;
      shared->slots[free_slot].worker_index = wanted[k].worker_index;
    }
    LWLockRelease(shared->lock);
    if (free_slot < 0) {
      ereport(WARNING, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                        errmsg("pg_pulse runs at most %d Kafka consumer workers", kMaxWorkers)));
      break;
    }
    start_worker(free_slot);
  }
}

}  // namespace

// Background worker entry point. Plain C flow: Postgres errors end the process and the
// postmaster restarts the launcher after bgw_restart_time.
void pulse_kafka_launcher_main(Datum) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(pulse_database, NULL, 0);
  pgstat_report_appname("pg_pulse launcher");
  // SQL run by the worker resolves only catalog objects (no schema a role may create in)
  SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);

  stop_orphans();
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  shared->launcher_pid = MyProcPid;
  shared->launcher_latch = MyLatch;
  LWLockRelease(shared->lock);
  before_shmem_exit(launcher_exit, 0);

  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    reconcile();
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}
