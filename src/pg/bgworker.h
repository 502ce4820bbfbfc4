// The skeleton every pg_pulse background worker shares (the supervisor, the per-database
// schedulers, the Kafka consumers): signal handling, connection, a pinned search_path, one
// transaction at a time with SPI and a snapshot, a memory context reset every loop, latch waits.
#pragma once

#include "pg/guard.h"

extern "C" {
#include "postmaster/bgworker.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
}

namespace pulse::pg {

// Installs SIGHUP (reload) and SIGTERM (die) handlers, unblocks signals and connects to the
// database dboid (InvalidOid: to no database, shared catalogs only); sets application_name and
// search_path = pg_catalog, pg_temp (SQL run by workers resolves only catalog objects).
void worker_init(Oid dboid, const char* application_name);

// Reloads the configuration after a SIGHUP and raises pending interrupts (SIGTERM -> FATAL).
void worker_check_interrupts();

// Waits on the latch (and socket fd when >= 0) for at most ms; true when the latch was set.
bool worker_wait(long ms, int fd = -1);

// Starts a dynamic background worker running library function `function` with main_arg and
// the given names, its notifications going to this process. *handle (allocated in
// TopMemoryContext; a previous one there is freed) is null when no slot is free.
bool start_dynamic_worker(const char* function, Datum main_arg, const char* name, const char* type,
                          BackgroundWorkerHandle** handle);

// Runs f in a transaction of its own (SPI connected, a snapshot pushed, pg_stat_activity showing
// `activity`). When f throws, the transaction is aborted before the exception goes on, so no
// lock, snapshot or SPI connection outlives a failure.
template <class F>
void in_transaction(const char* activity, F&& f);

void xact_begin(const char* activity);
void xact_commit();
void xact_abort();

template <class F>
void in_transaction(const char* activity, F&& f) {
  xact_begin(activity);
  try {
    f();
  } catch (...) {
    xact_abort();
    throw;
  }
  xact_commit();
}

// The memory context of a loop iteration, reset at the start of each (pg_cron's habit): what a
// loop allocates in Postgres memory is freed every iteration.
class LoopContext {
 public:
  explicit LoopContext(const char* name);
  // Resets the context and makes it current.
  void begin();
  MemoryContext get() const { return cxt_; }

 private:
  MemoryContext cxt_;
};

// Bounds what a background worker runs (its statements get no statement_timeout): the statement
// timeout is armed for ms (0: none) while the guard lives, disarmed on every way out, and a cancel
// it sent after the work ended is dropped (it must not cancel the worker's next duty). fired():
// whether the work ran that long (a query cancel then came from this guard).
class StatementTimeout {
 public:
  explicit StatementTimeout(int ms) : ms_(ms), start_(GetCurrentTimestamp()) {
    if (ms_ > 0) call([&] { enable_timeout_after(STATEMENT_TIMEOUT, ms_); });
  }
  ~StatementTimeout() {
    if (ms_ <= 0) return;
    disable_timeout(STATEMENT_TIMEOUT, false);
    if (get_timeout_indicator(STATEMENT_TIMEOUT, true)) QueryCancelPending = false;
  }
  bool fired() const { return ms_ > 0 && TimestampDifferenceExceeds(start_, GetCurrentTimestamp(), ms_); }
  StatementTimeout(const StatementTimeout&) = delete;
  StatementTimeout& operator=(const StatementTimeout&) = delete;

 private:
  int ms_;
  TimestampTz start_;
};

}  // namespace pulse::pg
