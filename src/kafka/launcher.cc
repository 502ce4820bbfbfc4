// The Kafka part of a database's scheduler (see launcher.h): consumer slots given and freed,
// consumers assigned to pool workers, pool workers started, restarted after a backoff, stopped.
#include "kafka/launcher.h"

#include <algorithm>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include "pg/bgworker.h"
#include "pg/gucs.h"
#include "pg/spi.h"

extern "C" {
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
}

namespace pulse::kafka {

struct Wanted {
  int64 subscription_id;
  int32 worker_index;
  std::string project;
};

namespace {

// The (subscription, worker index) pairs of this database that should run now.
std::vector<Wanted> read_wanted() {
  std::vector<Wanted> out;
  pg::in_transaction("pg_pulse scheduler: reading Kafka subscriptions", [&] {
    uint64_t n = pg::spi_exec(
        "SELECT s.id, g.k, s.project FROM pulse.kafka_subscriptions s,"
        " pg_catalog.generate_series(0, s.parallelism - 1) AS g(k) WHERE NOT s.paused ORDER BY s.id, g.k");
    for (uint64_t r = 0; r < n; r++) {
      Wanted w;
      char* project = nullptr;
      pg::call([&] {
        bool isnull;
        w.subscription_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
        w.worker_index = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
        project = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3);
      });
      w.project = project ? project : "";
      out.push_back(std::move(w));
    }
  });
  return out;
}

// Slot or pool entry of this database.
bool ours(const WorkerSlot& w) { return w.in_use && w.dboid == MyDatabaseId; }
bool ours(const PoolWorker& p) { return p.in_use && p.dboid == MyDatabaseId; }

}  // namespace

std::vector<pid_t> database_worker_pids(Oid dboid) {
  std::vector<pid_t> pids;
  if (!shared) return pids;
  LWLockAcquire(shared->lock, LW_SHARED);
  for (auto& p : shared->pool)
    if (p.in_use && p.dboid == dboid && p.pid > 0) pids.push_back(p.pid);
  LWLockRelease(shared->lock);
  return pids;
}

void forget_database(Oid dboid) {
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (auto& w : consumer_slots())
    if (w.in_use && w.dboid == dboid) free_slot(&w);
  for (auto& p : shared->pool)
    if (p.in_use && p.dboid == dboid) memset(&p, 0, sizeof p);
  LWLockRelease(shared->lock);
}

Launcher::Launcher() {
  // Pool workers of a previous scheduler of this database: ask them to stop (their handles died
  // with it); reconcile starts them again.
  stop_all();
}

void Launcher::stop_all() {
  std::vector<pid_t> pids;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (auto& p : shared->pool)
    if (ours(p)) {
      p.stop_requested = true;
      if (p.latch) SetLatch(p.latch);
      if (p.pid > 0) pids.push_back(p.pid);
    }
  LWLockRelease(shared->lock);
  for (int tries = 0; tries < 100; tries++) {
    bool alive = false;
    for (pid_t p : pids) alive |= kill(p, 0) == 0;
    if (!alive) break;
    pg::worker_wait(100);
  }
  for (pid_t p : pids)
    if (kill(p, 0) == 0) kill(p, SIGTERM);
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (int k = 0; k < kMaxPoolWorkers; k++)
    if (ours(shared->pool[k])) {
      memset(&shared->pool[k], 0, sizeof(PoolWorker));
      if (handles_[k]) pfree(handles_[k]);
      handles_[k] = nullptr;
    }
  for (auto& w : consumer_slots())
    if (ours(w)) free_slot(&w);
  LWLockRelease(shared->lock);
}

// A slot for every wanted consumer (while there are free ones); slots of consumers no longer
// wanted are asked to stop and freed once their pool worker has let them go. A slot asked to stop
// by a restart (pulse._kafka_restart) and let go is started again.
void Launcher::reconcile_slots(const std::vector<Wanted>& wanted) {
  std::vector<bool> covered(wanted.size(), false);
  std::map<std::pair<int64, int32>, int> index;  // (subscription, worker index) -> wanted[k]
  for (size_t k = 0; k < wanted.size(); k++) index[{wanted[k].subscription_id, wanted[k].worker_index}] = int(k);
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (auto& w : consumer_slots()) {
    if (!ours(w)) continue;
    auto it = index.find({w.subscription_id, w.worker_index});
    int want = it == index.end() ? -1 : it->second;
    if (want >= 0 && !covered[size_t(want)]) {
      covered[size_t(want)] = true;
      if (w.stop_requested && w.pid == 0) w.stop_requested = false;  // a restart: start it again
      continue;
    }
    if (!w.stop_requested) {
      w.stop_requested = true;
      if (w.latch) SetLatch(w.latch);
    }
    if (w.pid == 0) free_slot(&w);
  }
  WorkerSlot* next = shared->slots;
  WorkerSlot* end = shared->slots + shared->max_consumers;
  for (size_t k = 0; k < wanted.size(); k++) {
    if (covered[k]) continue;
    while (next < end && next->in_use) next++;
    if (next == end) break;  // pulse.kafka_status shows the rest as waiting for a consumer slot
    memset(next, 0, sizeof *next);
    next->in_use = true;
    next->dboid = MyDatabaseId;
    next->subscription_id = wanted[k].subscription_id;
    next->worker_index = wanted[k].worker_index;
    next->pool_worker = -1;
    snprintf(next->state, sizeof next->state, "starting");
  }
  LWLockRelease(shared->lock);
}

// Pool workers 0 .. target-1 of this database run (started, or started again once the backoff of
// a failure is over); the others are asked to stop, terminated when they have not gone after
// 10 s, and their entries freed.
void Launcher::reconcile_pool(int target, TimestampTz now) {
  std::vector<bool> have(size_t(target), false);
  for (int k = 0; k < kMaxPoolWorkers; k++) {
    LWLockAcquire(shared->lock, LW_SHARED);
    PoolWorker p = shared->pool[k];  // a copy: the lock is not held across Postgres calls
    LWLockRelease(shared->lock);
    if (!ours(p)) continue;
    pid_t pid = 0;
    BgwHandleStatus st = handles_[k] ? GetBackgroundWorkerPid(handles_[k], &pid) : BGWH_STOPPED;
    if (p.index >= target || have[size_t(p.index)]) {
      if (st != BGWH_STOPPED) {
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        PoolWorker* e = &shared->pool[k];
        if (!e->stop_requested) {
          e->stop_requested = true;
          e->stop_asked_at = now;
          if (e->latch) SetLatch(e->latch);
        }
        bool overdue = TimestampDifferenceExceeds(e->stop_asked_at, now, 10000);
        LWLockRelease(shared->lock);
        if (overdue) TerminateBackgroundWorker(handles_[k]);
      } else {
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        memset(&shared->pool[k], 0, sizeof(PoolWorker));
        LWLockRelease(shared->lock);
        if (handles_[k]) pfree(handles_[k]);
        handles_[k] = nullptr;
      }
      continue;
    }
    have[size_t(p.index)] = true;
    if (st != BGWH_STOPPED || p.next_start_at > now) continue;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    shared->pool[k].stop_requested = false;
    shared->pool[k].pid = 0;
    LWLockRelease(shared->lock);
    std::string name = "pg_pulse kafka pool worker " + std::to_string(p.index);
    pg::start_dynamic_worker("pulse_kafka_worker_main", Int32GetDatum(k), name.c_str(), "pg_pulse kafka consumer",
                             &handles_[k]);
  }
  for (int index = 0; index < target; index++) {
    if (have[size_t(index)]) continue;
    int k = -1;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (int e = 0; e < kMaxPoolWorkers && k < 0; e++)
      if (!shared->pool[e].in_use) k = e;
    if (k >= 0) {
      memset(&shared->pool[k], 0, sizeof(PoolWorker));
      shared->pool[k].in_use = true;
      shared->pool[k].dboid = MyDatabaseId;
      shared->pool[k].index = index;
    }
    LWLockRelease(shared->lock);
    if (k < 0) break;
    std::string name = "pg_pulse kafka pool worker " + std::to_string(index);
    pg::start_dynamic_worker("pulse_kafka_worker_main", Int32GetDatum(k), name.c_str(), "pg_pulse kafka consumer",
                             &handles_[k]);
  }
}

// Every consumer slot of this database not stopping is assigned to a pool worker that runs or is
// starting: one it has, else the least loaded (preferring one that serves no other member of the
// same subscription). Without any such worker, the slots say they wait for a background worker.
void Launcher::assign(int target) {
  std::vector<int> usable;
  for (int k = 0; k < kMaxPoolWorkers; k++) {
    if (!handles_[k]) continue;
    pid_t pid = 0;
    if (GetBackgroundWorkerPid(handles_[k], &pid) == BGWH_STOPPED) continue;
    LWLockAcquire(shared->lock, LW_SHARED);
    bool ok = ours(shared->pool[k]) && shared->pool[k].index < target && !shared->pool[k].stop_requested;
    LWLockRelease(shared->lock);
    if (ok) usable.push_back(k);
  }
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  std::vector<int> load(kMaxPoolWorkers, 0);
  for (auto& w : consumer_slots())
    if (ours(w) && w.pool_worker >= 0 && std::find(usable.begin(), usable.end(), w.pool_worker) != usable.end())
      load[size_t(w.pool_worker)]++;
  for (auto& w : consumer_slots()) {
    if (!ours(w) || w.stop_requested) continue;
    if (w.pool_worker >= 0 && std::find(usable.begin(), usable.end(), w.pool_worker) != usable.end()) continue;
    if (usable.empty()) {
      if (w.pid == 0) snprintf(w.state, sizeof w.state, "waiting for a background worker slot");
      continue;
    }
    int best = -1;
    for (int pass = 0; pass < 2 && best < 0; pass++)
      for (int k : usable) {
        bool sibling = false;
        if (pass == 0)
          for (auto& o : consumer_slots())
            sibling |= ours(o) && &o != &w && o.subscription_id == w.subscription_id && o.pool_worker == k;
        if (!sibling && (best < 0 || load[size_t(k)] < load[size_t(best)])) best = k;
      }
    w.pool_worker = best;
    load[size_t(best)]++;
    if (shared->pool[best].latch) SetLatch(shared->pool[best].latch);
  }
  LWLockRelease(shared->lock);
}

void Launcher::reconcile() {
  std::vector<Wanted> wanted = read_wanted();
  TimestampTz now = GetCurrentTimestamp();
  reconcile_slots(wanted);
  int target = std::min<int>(pulse_kafka_workers, int(wanted.size()));
  reconcile_pool(target, now);
  assign(target);
}

}  // namespace pulse::kafka
