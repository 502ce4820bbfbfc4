// The background-worker skeleton (see bgworker.h).
#include "pg/bgworker.h"

#include "pg/spi.h"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"
}

namespace pulse::pg {

void worker_init(Oid dboid, const char* application_name) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
  pgstat_report_appname(application_name);
  SetConfigOption("application_name", application_name, PGC_USERSET, PGC_S_SESSION);
  SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);
  // In a deadlock with a user's session the worker is the one cancelled (it checks for the
  // deadlock first, so long as it began waiting less than a second after the user's session,
  // whose deadlock_timeout is 1 s by default): its work is retried, the user's statement is not
  // (a DROP EXTENSION met the scheduler's catalog scan that way in a test's teardown).
  SetConfigOption("deadlock_timeout", "100ms", PGC_SUSET, PGC_S_SESSION);
}

void worker_check_interrupts() {
  call([] {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
  });
}

bool worker_wait(long ms, int fd) {
  int rc = 0;
  call([&] {
    int events = WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH;
    if (fd >= 0) {
      events |= WL_SOCKET_READABLE;
      rc = WaitLatchOrSocket(MyLatch, events, fd, ms, PG_WAIT_EXTENSION);
    } else {
      rc = WaitLatch(MyLatch, events, ms, PG_WAIT_EXTENSION);
    }
    ResetLatch(MyLatch);
  });
  worker_check_interrupts();
  return (rc & WL_LATCH_SET) != 0;
}

bool start_dynamic_worker(const char* function, Datum main_arg, const char* name, const char* type,
                          BackgroundWorkerHandle** handle) {
  BackgroundWorker w;
  memset(&w, 0, sizeof w);
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_RecoveryFinished;
  w.bgw_restart_time = BGW_NEVER_RESTART;  // the process that started it restarts it
  snprintf(w.bgw_library_name, BGW_MAXLEN, "pg_pulse");
  snprintf(w.bgw_function_name, BGW_MAXLEN, "%s", function);
  snprintf(w.bgw_name, BGW_MAXLEN, "%s", name);
  snprintf(w.bgw_type, BGW_MAXLEN, "%s", type);
  w.bgw_main_arg = main_arg;
  w.bgw_notify_pid = MyProcPid;
  bool ok = false;
  call([&] {
    // the handle outlives the caller's loop context (reset every round)
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    if (*handle) pfree(*handle);
    *handle = nullptr;
    ok = RegisterDynamicBackgroundWorker(&w, handle);
    MemoryContextSwitchTo(old);
  });
  if (!ok) *handle = nullptr;
  return ok;
}

// The memory context current before the worker's transaction started: restored after it ends
// (commit or abort), the transaction's own contexts being gone by then.
static MemoryContext outer_context = nullptr;

void xact_begin(const char* activity) {
  outer_context = CurrentMemoryContext;
  call([&] {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, activity);
  });
  spi_connect();
}

void xact_commit() {
  spi_finish();
  call([] {
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, NULL);
  });
  MemoryContextSwitchTo(outer_context ? outer_context : TopMemoryContext);
}

void xact_abort() {
  call([] {
    AbortCurrentTransaction();  // also ends SPI and pops the snapshot
    pgstat_report_activity(STATE_IDLE, NULL);
  });
  MemoryContextSwitchTo(outer_context ? outer_context : TopMemoryContext);
}

LoopContext::LoopContext(const char* name) {
  cxt_ = AllocSetContextCreate(TopMemoryContext, "pg_pulse loop", ALLOCSET_DEFAULT_SIZES);
  MemoryContextSetIdentifier(cxt_, name);  // name: a string literal, alive as long as the process
}

void LoopContext::begin() {
  MemoryContextSwitchTo(cxt_);
  MemoryContextReset(cxt_);
}

}  // namespace pulse::pg
