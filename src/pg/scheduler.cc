// The supervisor and the per-database schedulers (see scheduler.h). Their loops are C++ with
// every Postgres call under the guard; a failing round is logged (at most once a minute per
// kind of failure) and retried, never ends the process.
#include "pg/scheduler.h"

#include <string>
#include <vector>

#include "ingest/maintenance.h"
#include "ingest/retention.h"
#include "kafka/launcher.h"
#include "pg/bgworker.h"
#include "pg/jobs.h"
#include "pg/shmem_parts.h"
#include "pg/spi.h"
#include "views/refresher.h"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "tcop/utility.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/backend_status.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT void pulse_supervisor_main(Datum main_arg);
PGDLLEXPORT void pulse_scheduler_main(Datum main_arg);
}

namespace pulse::pg {
namespace {

constexpr int kMaxDatabases = 256;
constexpr int kRecheckMs = 60 * 1000;  // a database without pg_pulse is looked at again after this

struct DatabaseSlot {
  Oid dboid;
  pid_t pid;               // its scheduler (0: none running)
  Latch* latch;            // the scheduler's
  bool has_pulse;          // what the last scheduler found
  TimestampTz next_check;  // when the supervisor may start a scheduler there again
  bool woken;              // pg_pulse asked for a scheduler there now (e.g. after CREATE EXTENSION)
  int failures;            // schedulers that ended in error in a row (backoff)
};

struct Shared {
  LWLock* lock;
  pid_t supervisor_pid;
  Latch* supervisor_latch;
  DatabaseSlot dbs[kMaxDatabases];
};

Shared* shared = nullptr;

Size shared_size() { return MAXALIGN(sizeof(Shared)); }

void shared_startup() {
  bool found = false;
  shared = static_cast<Shared*>(ShmemInitStruct("pg_pulse scheduler", sizeof(Shared), &found));
  if (!found) {
    memset(shared, 0, sizeof(Shared));
    shared->lock = &(GetNamedLWLockTranche("pg_pulse scheduler"))->lock;
  }
}

// The slot of database dboid (created when create is set and there is room), or nullptr.
// Caller holds the lock exclusively when create is set.
DatabaseSlot* slot_of(Oid dboid, bool create) {
  DatabaseSlot* free_slot = nullptr;
  for (auto& d : shared->dbs) {
    if (d.dboid == dboid) return &d;
    if (!free_slot && d.dboid == InvalidOid) free_slot = &d;
  }
  if (!create || !free_slot) return nullptr;
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->dboid = dboid;
  return free_slot;
}

// ---------------------------------------------------------------- the supervisor

struct Database {
  Oid oid;
  char name[NAMEDATALEN];
};

// Databases that accept connections and are not templates (pg_database, a shared catalog).
std::vector<Database> list_databases() {
  std::vector<Database> out;
  Database* found = nullptr;
  int n = 0;
  in_transaction("pg_pulse supervisor: listing databases", [&] {
    call([&] {
      Relation rel = table_open(DatabaseRelationId, AccessShareLock);
      TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
      int cap = 16;
      found = static_cast<Database*>(palloc(sizeof(Database) * cap));
      HeapTuple tup;
      while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL) {
        Form_pg_database db = (Form_pg_database)GETSTRUCT(tup);
        if (!db->datallowconn || db->datistemplate) continue;
        if (n == cap) {
          cap *= 2;
          found = static_cast<Database*>(repalloc(found, sizeof(Database) * cap));
        }
        found[n].oid = db->oid;
        strlcpy(found[n].name, NameStr(db->datname), NAMEDATALEN);
        n++;
      }
      table_endscan(scan);
      table_close(rel, AccessShareLock);
    });
    out.assign(found, found + n);
  });
  return out;
}

BackgroundWorkerHandle* scheduler_handles[kMaxDatabases];

void supervise_round() {
  std::vector<Database> dbs = list_databases();
  TimestampTz now = GetCurrentTimestamp();
  for (int s = 0; s < kMaxDatabases; s++) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    DatabaseSlot& d = shared->dbs[s];
    bool listed = false;
    for (auto& db : dbs) listed |= db.oid == d.dboid;
    // a scheduler that ended: no pg_pulse there (look again later) or an error (back off)
    if (d.dboid != InvalidOid && scheduler_handles[s]) {
      pid_t pid;
      if (GetBackgroundWorkerPid(scheduler_handles[s], &pid) == BGWH_STOPPED) {
        pfree(scheduler_handles[s]);
        scheduler_handles[s] = nullptr;
        d.pid = 0;
        d.latch = nullptr;
        if (!d.has_pulse) {
          d.next_check = std::max(d.next_check, TimestampTzPlusMilliseconds(now, kRecheckMs));
        } else {
          d.failures = std::min(d.failures + 1, 10);
          d.next_check = TimestampTzPlusMilliseconds(now, 1000L << std::min(d.failures, 8));
        }
      }
    }
    Oid dropped = InvalidOid;
    if (d.dboid != InvalidOid && !listed && !scheduler_handles[s]) {  // the database was dropped
      dropped = d.dboid;
      memset(&d, 0, sizeof d);
    }
    LWLockRelease(shared->lock);
    if (OidIsValid(dropped)) kafka::forget_database(dropped);
  }
  for (auto& db : dbs) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    DatabaseSlot* d = slot_of(db.oid, true);
    // (a scheduler started by a previous supervisor still runs until it ends: pid set)
    bool start = d && !scheduler_handles[d - shared->dbs] && d->pid == 0 && (d->woken || d->next_check <= now);
    if (start) d->woken = false;
    LWLockRelease(shared->lock);
    if (!start) continue;
    int s = int(d - shared->dbs);
    std::string name = std::string("pg_pulse scheduler ") + db.name;
    if (!start_dynamic_worker("pulse_scheduler_main", ObjectIdGetDatum(db.oid), name.c_str(), "pg_pulse scheduler",
                              &scheduler_handles[s])) {
      call([] {
        ereport(WARNING, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                          errmsg("pg_pulse could not start a scheduler: no background worker slot is free"),
                          errhint("Raise max_worker_processes.")));
      });
      LWLockAcquire(shared->lock, LW_EXCLUSIVE);
      d->next_check = TimestampTzPlusMilliseconds(now, 10000);
      LWLockRelease(shared->lock);
    }
  }
}

void supervisor_exit(int, Datum) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  if (shared->supervisor_pid == MyProcPid) {
    shared->supervisor_pid = 0;
    shared->supervisor_latch = nullptr;
  }
  LWLockRelease(shared->lock);
}

// ---------------------------------------------------------------- a scheduler

// The version of pg_pulse's SQL objects in this database ("" without the extension).
std::string installed_version() {
  std::string version;
  in_transaction("pg_pulse scheduler: looking for the extension", [&] {
    version = spi_value("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_pulse'").value_or("");
  });
  return version;
}

std::string database_name() {
  std::string name;
  in_transaction("pg_pulse scheduler: naming its database",
                 [&] { name = spi_value("SELECT current_database()").value_or(""); });
  return name;
}

void scheduler_exit(int, Datum) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  DatabaseSlot* d = slot_of(MyDatabaseId, false);
  if (d && d->pid == MyProcPid) {
    d->pid = 0;
    d->latch = nullptr;
  }
  LWLockRelease(shared->lock);
}

// Runs one duty of the scheduler; its failure is logged (at most once a minute per duty) and
// does not stop the others.
template <class F>
void duty(const char* what, TimestampTz* last_log, F&& f) {
  try {
    f();
  } catch (PgError& e) {
    if (is_abort_error(e.sqlerrcode()) && e.sqlerrcode() != ERRCODE_QUERY_CANCELED) throw;  // terminate, ...
    TimestampTz now = GetCurrentTimestamp();
    if (TimestampDifferenceExceeds(*last_log, now, 60000)) {
      *last_log = now;
      std::string msg = e.what();
      call([&] { ereport(WARNING, (errmsg("pg_pulse scheduler: %s failed: %s", what, msg.c_str()))); });
    }
  } catch (std::exception& e) {
    TimestampTz now = GetCurrentTimestamp();
    if (TimestampDifferenceExceeds(*last_log, now, 60000)) {
      *last_log = now;
      std::string msg = e.what();
      call([&] { ereport(WARNING, (errmsg("pg_pulse scheduler: %s failed: %s", what, msg.c_str()))); });
    }
  }
}

void scheduler_run() {
  LoopContext loop("pg_pulse scheduler loop");
  TimestampTz log_kafka = 0, log_views = 0, log_brin = 0, last_brin = 0, log_trim = 0, last_trim = 0;
  TimestampTz log_retention = 0, last_retention = 0, log_retired = 0;
  TimestampTz log_version = 0;
  kafka::Launcher launcher;
  for (int round = 0;; round++) {
    loop.begin();
    worker_check_interrupts();
    std::string version = installed_version();
    if (version.empty()) {  // DROP EXTENSION: stop this database's consumers and leave
      launcher.stop_all();
      return;
    }
    if (version != PULSE_VERSION) {
      // A new library with the SQL objects of another release (between the restart and ALTER
      // EXTENSION pg_pulse UPDATE): no consumer, refresh or maintenance until the update, whose
      // script wakes this scheduler.
      launcher.stop_all();
      TimestampTz now = GetCurrentTimestamp();
      if (TimestampDifferenceExceeds(log_version, now, 10 * 60 * 1000)) {
        log_version = now;
        std::string db = database_name();
        call([&] {
          ereport(LOG, (errmsg("pg_pulse scheduler: database \"%s\" has pg_pulse %s, the library is %s: waiting for "
                               "ALTER EXTENSION pg_pulse UPDATE",
                               db.c_str(), version.c_str(), PULSE_VERSION)));
        });
      }
      worker_wait(5000);
      continue;
    }
    duty("starting Kafka consumers", &log_kafka, [&] { launcher.reconcile(); });
    bool views_left = false;  // a project's views deferred to the next round: it starts at once
    duty("refreshing views", &log_views, [&] { views_left = views::refresh_due(); });
    TimestampTz now = GetCurrentTimestamp();
    if (TimestampDifferenceExceeds(last_brin, now, 10000)) {
      last_brin = now;
      duty("summarising BRIN ranges", &log_brin, [&] { ingest::summarize_new_ranges(); });
    }
    if (TimestampDifferenceExceeds(last_trim, now, 10000)) {
      last_trim = now;
      duty("trimming the job history", &log_trim, [&] { trim_job_history(); });
      duty("dropping retired partitions", &log_retired, [&] { (void)ingest::purge_retired(true); });
    }
    if (TimestampDifferenceExceeds(last_retention, now, 60000)) {
      last_retention = now;
      duty("applying retention", &log_retention, [&] { (void)ingest::apply_retention(true); });
    }
    worker_wait(views_left ? 10 : 1000);
  }
}

// ---------------------------------------------------------------- DDL on databases
// DROP DATABASE, ALTER DATABASE ... RENAME / SET TABLESPACE and CREATE DATABASE ... TEMPLATE need a
// database nobody is connected to: pg_pulse's workers of that database leave first (and are not
// started again there for 10 s), so these commands work as they would without pg_pulse.

ProcessUtility_hook_type prev_utility = nullptr;

// Ends the scheduler and the Kafka consumers of database dboid and waits (5 s at most) for them.
void release_database(Oid dboid) {
  if (!OidIsValid(dboid) || !shared) return;
  std::vector<pid_t> pids;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  if (DatabaseSlot* d = slot_of(dboid, true)) {
    d->next_check = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 10000);
    d->woken = false;
    if (d->pid > 0) pids.push_back(d->pid);
  }
  LWLockRelease(shared->lock);
  for (pid_t p : kafka::database_worker_pids(dboid)) pids.push_back(p);
  // and any other pg_pulse worker connected there (one starting up has no slot pid yet)
  call([&] {
    pgstat_clear_snapshot();
    int n = pgstat_fetch_stat_numbackends();
    for (int i = 1; i <= n; i++) {
      LocalPgBackendStatus* l = pgstat_fetch_stat_local_beentry(i);
      if (!l || l->backendStatus.st_databaseid != dboid || l->backendStatus.st_backendType != B_BG_WORKER) continue;
      const char* type = GetBackgroundWorkerTypeByPid(l->backendStatus.st_procpid);
      if (type && strncmp(type, "pg_pulse", 8) == 0) pids.push_back(l->backendStatus.st_procpid);
    }
    pgstat_clear_snapshot();
  });
  for (pid_t p : pids) kill(p, SIGTERM);
  for (int tries = 0; tries < 50; tries++) {
    bool alive = false;
    for (pid_t p : pids) alive |= kill(p, 0) == 0;
    if (!alive) break;
    pg_usleep(100000);
  }
}

Oid database_named(const char* name) { return name ? get_database_oid(name, true) : InvalidOid; }

void utility_hook(PlannedStmt* pstmt, const char* query, bool read_only, ProcessUtilityContext context,
                  ParamListInfo params, QueryEnvironment* env, DestReceiver* dest, QueryCompletion* qc) {
  Node* stmt = pstmt->utilityStmt;
  switch (nodeTag(stmt)) {
    case T_DropdbStmt:
      release_database(database_named(((DropdbStmt*)stmt)->dbname));
      break;
    case T_RenameStmt:
      if (((RenameStmt*)stmt)->renameType == OBJECT_DATABASE)
        release_database(database_named(((RenameStmt*)stmt)->subname));
      break;
    case T_AlterDatabaseStmt:
      release_database(database_named(((AlterDatabaseStmt*)stmt)->dbname));
      break;
    case T_CreatedbStmt: {
      ListCell* lc;
      foreach (lc, ((CreatedbStmt*)stmt)->options) {
        DefElem* opt = lfirst_node(DefElem, lc);
        if (strcmp(opt->defname, "template") == 0 && opt->arg) release_database(database_named(defGetString(opt)));
      }
      break;
    }
    default:
      break;
  }
  if (prev_utility)
    prev_utility(pstmt, query, read_only, context, params, env, dest, qc);
  else
    standard_ProcessUtility(pstmt, query, read_only, context, params, env, dest, qc);
}

}  // namespace

void register_scheduler() {
  prev_utility = ProcessUtility_hook;
  ProcessUtility_hook = utility_hook;
  add_shmem_part({"pg_pulse scheduler", shared_size, 1, shared_startup});

  BackgroundWorker w;
  memset(&w, 0, sizeof w);
  w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  w.bgw_start_time = BgWorkerStart_RecoveryFinished;
  w.bgw_restart_time = 5;
  snprintf(w.bgw_library_name, BGW_MAXLEN, "pg_pulse");
  snprintf(w.bgw_function_name, BGW_MAXLEN, "pulse_supervisor_main");
  snprintf(w.bgw_name, BGW_MAXLEN, "pg_pulse supervisor");
  snprintf(w.bgw_type, BGW_MAXLEN, "pg_pulse supervisor");
  RegisterBackgroundWorker(&w);
}

bool background_workers_available() { return shared != nullptr; }

namespace {

bool wake_pending = false;
bool callback_registered = false;

void wake_callback(XactEvent event, void*) {
  if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT) return;
  bool wake = wake_pending && event == XACT_EVENT_COMMIT;
  wake_pending = false;
  if (!wake || !shared) return;
  Latch* sup = nullptr;
  Latch* sched = nullptr;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  DatabaseSlot* d = slot_of(MyDatabaseId, true);
  if (d) {
    d->woken = true;
    sched = d->latch;
  }
  sup = shared->supervisor_latch;
  LWLockRelease(shared->lock);
  if (sup) SetLatch(sup);
  if (sched) SetLatch(sched);
}

}  // namespace

void wake_scheduler_at_commit() {
  if (!shared) return;
  if (!callback_registered) {
    call([] { RegisterXactCallback(wake_callback, nullptr); });
    callback_registered = true;
  }
  wake_pending = true;
}

// The supervisor: connected to no database; lists them every 10 s (or when woken).
void supervisor_main() {
  worker_init(InvalidOid, "pg_pulse supervisor");
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  shared->supervisor_pid = MyProcPid;
  shared->supervisor_latch = MyLatch;
  for (auto& d : shared->dbs) d.next_check = 0;  // look at every database now
  LWLockRelease(shared->lock);
  before_shmem_exit(supervisor_exit, 0);
  LoopContext loop("pg_pulse supervisor loop");
  TimestampTz last_log = 0;
  try {
    for (;;) {
      loop.begin();
      worker_check_interrupts();
      try {
        supervise_round();
      } catch (PgError& e) {
        if (e.sqlerrcode() == ERRCODE_ADMIN_SHUTDOWN) throw;
        TimestampTz now = GetCurrentTimestamp();
        if (TimestampDifferenceExceeds(last_log, now, 60000)) {
          last_log = now;
          std::string msg = e.what();
          call([&] { ereport(WARNING, (errmsg("pg_pulse supervisor: %s", msg.c_str()))); });
        }
      }
      worker_wait(10000);
    }
  } catch (std::exception& e) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", e.what());
    ereport(ERROR, (errmsg("pg_pulse supervisor: %s", msg)));
  }
}

// A scheduler: serves the database dboid while pg_pulse is installed there.
void scheduler_main(Oid dboid) {
  worker_init(dboid, "pg_pulse scheduler");
  char msg[512] = "";
  try {
    bool installed = !installed_version().empty();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    DatabaseSlot* d = slot_of(dboid, true);
    if (d) {
      d->has_pulse = installed;
      if (installed) {
        d->pid = MyProcPid;
        d->latch = MyLatch;
      }
    }
    LWLockRelease(shared->lock);
    if (!installed) proc_exit(0);
    before_shmem_exit(scheduler_exit, 0);
    scheduler_run();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    if (DatabaseSlot* s = slot_of(dboid, false)) s->has_pulse = false;
    LWLockRelease(shared->lock);
  } catch (PgError& e) {
    snprintf(msg, sizeof msg, "%s", e.what());
  } catch (std::exception& e) {
    snprintf(msg, sizeof msg, "%s", e.what());
  }
  if (msg[0]) ereport(ERROR, (errmsg("pg_pulse scheduler: %s", msg)));
  proc_exit(0);
}

}  // namespace pulse::pg

// The background workers' entry points (bgw_function_name).
void pulse_supervisor_main(Datum) { pulse::pg::supervisor_main(); }
void pulse_scheduler_main(Datum main_arg) { pulse::pg::scheduler_main(DatumGetObjectId(main_arg)); }
