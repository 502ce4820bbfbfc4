// The view refresher background worker (one per cluster, in the database named by
// pulse.database, registered with the launcher when pg_pulse is preloaded): once a second it
// refreshes every view whose last refresh is older than its refresh_every, each view in a
// transaction of its own. A failing refresh is rolled back and its error recorded in
// pulse.view_registry (last_error, last_error_at); the view is tried again after
// refresh_every. Plain C flow: errors are caught with PG_TRY around each view.
#include "pg/gucs.h"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

PGDLLEXPORT void pulse_view_refresher_main(Datum main_arg);
}

namespace {

constexpr int kMaxDue = 256;

// Ids of the views due now (at most kMaxDue, oldest refresh first).
int read_due(int32* ids) {
  int n = 0;
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  int rc = SPI_execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_pulse'", true, 1);
  if (rc == SPI_OK_SELECT && SPI_processed == 1) {
    rc = SPI_execute(
        "SELECT id FROM pulse.view_registry"
        " WHERE greatest(last_refresh, last_error_at) IS NULL"
        "    OR greatest(last_refresh, last_error_at) + refresh_every <= clock_timestamp()"
        " ORDER BY greatest(last_refresh, last_error_at) NULLS FIRST LIMIT 256",
        true, 0);
    if (rc == SPI_OK_SELECT) {
      for (uint64 r = 0; r < SPI_processed && n < kMaxDue; r++) {
        bool isnull;
        ids[n++] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
      }
    }
  }
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
  return n;
}

void run_in_xact(const char* sql, int32 id, const char* text_arg) {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  SPI_connect();
  PushActiveSnapshot(GetTransactionSnapshot());
  Oid types[2] = {INT4OID, TEXTOID};
  Datum values[2] = {Int32GetDatum(id), text_arg ? CStringGetTextDatum(text_arg) : (Datum)0};
  char nulls[3] = {' ', text_arg ? ' ' : 'n', 0};
  SPI_execute_with_args(sql, text_arg ? 2 : 1, types, values, nulls, false, 0);
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
}

void refresh_one(int32 id) {
  MemoryContext cxt = CurrentMemoryContext;
  pgstat_report_activity(STATE_RUNNING, "pg_pulse: refreshing a view");
  PG_TRY();
  {
    run_in_xact("SELECT pulse.refresh_view(project, name) FROM pulse.view_registry WHERE id = $1", id, NULL);
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(cxt);
    ErrorData* e = CopyErrorData();
    FlushErrorState();
    AbortCurrentTransaction();
    ereport(WARNING, (errmsg("pg_pulse: refresh of view %d failed: %s", id, e->message)));
    run_in_xact("UPDATE pulse.view_registry SET last_error = $2, last_error_at = clock_timestamp() WHERE id = $1",
                id, e->message);
    FreeErrorData(e);
  }
  PG_END_TRY();
  pgstat_report_activity(STATE_IDLE, NULL);
}

}  // namespace

void pulse_view_refresher_main(Datum) {
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(pulse_database, NULL, 0);
  pgstat_report_appname("pg_pulse view refresher");
  // SQL run by the worker resolves only catalog objects (no schema a role may create in)
  SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);
  int32 ids[kMaxDue];
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    int n = read_due(ids);
    for (int k = 0; k < n; k++) {
      CHECK_FOR_INTERRUPTS();
      refresh_one(ids[k]);
    }
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}
