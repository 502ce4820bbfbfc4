// The Kafka part of a database's scheduler (see launcher.h): workers started, restarted after a
// backoff, stopped.
#include "kafka/launcher.h"

#include <string>
#include <vector>

#include "pg/bgworker.h"
#include "pg/spi.h"

extern "C" {
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
}

namespace pulse::kafka {
namespace {

struct Wanted {
  int64 subscription_id;
  int32 worker_index;
  std::string project;
};

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

// Slot s belongs to this database's scheduler.
bool ours(const WorkerSlot& w) { return w.in_use && w.dboid == MyDatabaseId; }

}  // namespace

std::vector<pid_t> database_worker_pids(Oid dboid) {
  std::vector<pid_t> pids;
  if (!shared) return pids;
  LWLockAcquire(shared->lock, LW_SHARED);
  for (auto& w : shared->slots)
    if (w.in_use && w.dboid == dboid && w.pid > 0) pids.push_back(w.pid);
  LWLockRelease(shared->lock);
  return pids;
}

void forget_database(Oid dboid) {
  if (!shared) return;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (auto& w : shared->slots)
    if (w.in_use && w.dboid == dboid) memset(&w, 0, sizeof w);
  LWLockRelease(shared->lock);
}

Launcher::Launcher() {
  // Workers of a previous scheduler of this database: ask them to stop (their handles died
  // with it); reconcile starts them again.
  stop_all();
}

void Launcher::stop_all() {
  std::vector<pid_t> pids;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (auto& w : shared->slots)
    if (ours(w)) {
      w.stop_requested = true;
      if (w.latch) SetLatch(w.latch);
      if (w.pid > 0) pids.push_back(w.pid);
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
  for (int s = 0; s < kMaxWorkers; s++)
    if (ours(shared->slots[s])) {
      memset(&shared->slots[s], 0, sizeof(WorkerSlot));
      if (handles_[s]) pfree(handles_[s]);
      handles_[s] = nullptr;
    }
  LWLockRelease(shared->lock);
}

void Launcher::reconcile() {
  std::vector<Wanted> wanted = read_wanted();
  TimestampTz now = GetCurrentTimestamp();
  std::vector<bool> covered(wanted.size(), false);
  for (int s = 0; s < kMaxWorkers; s++) {
    LWLockAcquire(shared->lock, LW_SHARED);
    WorkerSlot slot = shared->slots[s];  // a copy: the lock is not held across Postgres calls
    LWLockRelease(shared->lock);
    if (!ours(slot)) continue;
    int want = -1;
    for (size_t k = 0; k < wanted.size(); k++)
      if (wanted[k].subscription_id == slot.subscription_id && wanted[k].worker_index == slot.worker_index)
        want = int(k);
    pid_t pid = 0;
    BgwHandleStatus st = handles_[s] ? GetBackgroundWorkerPid(handles_[s], &pid) : BGWH_STOPPED;
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
        if (overdue) TerminateBackgroundWorker(handles_[s]);
      } else {
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        memset(&shared->slots[s], 0, sizeof(WorkerSlot));
        LWLockRelease(shared->lock);
        if (handles_[s]) pfree(handles_[s]);
        handles_[s] = nullptr;
      }
      continue;
    }
    covered[want] = true;
    if (st != BGWH_STOPPED) continue;
    // exited (asked to, or failed): start again once its backoff is over
    if (slot.next_start_at > now) {
      LWLockAcquire(shared->lock, LW_EXCLUSIVE);
      snprintf(shared->slots[s].state, sizeof shared->slots[s].state, "waiting to restart after an error");
      LWLockRelease(shared->lock);
      continue;
    }
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    shared->slots[s].stop_requested = false;
    shared->slots[s].pid = 0;
    LWLockRelease(shared->lock);
    std::string name = "pg_pulse kafka " + wanted[want].project + " subscription " +
                       std::to_string(slot.subscription_id) + " worker " + std::to_string(slot.worker_index);
    if (!pg::start_dynamic_worker("pulse_kafka_worker_main", Int32GetDatum(s), name.c_str(), "pg_pulse kafka consumer",
                                  &handles_[s])) {
      LWLockAcquire(shared->lock, LW_EXCLUSIVE);
      snprintf(shared->slots[s].state, sizeof shared->slots[s].state, "waiting for a background worker slot");
      LWLockRelease(shared->lock);
    }
  }
  for (size_t k = 0; k < wanted.size(); k++) {
    if (covered[k]) continue;
    int free_slot = -1;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (int s = 0; s < kMaxWorkers && free_slot < 0; s++)
      if (!shared->slots[s].in_use) free_slot = s;
    if (free_slot >= 0) {
      WorkerSlot* w = &shared->slots[free_slot];
      memset(w, 0, sizeof(WorkerSlot));
      w->in_use = true;
      w->dboid = MyDatabaseId;
      w->subscription_id = wanted[k].subscription_id;
      w->worker_index = wanted[k].worker_index;
      snprintf(w->state, sizeof w->state, "starting");
    }
    LWLockRelease(shared->lock);
    if (free_slot < 0) break;  // pulse.kafka_status shows the rest as waiting for a slot
    std::string name = "pg_pulse kafka " + wanted[k].project + " subscription " +
                       std::to_string(wanted[k].subscription_id) + " worker " + std::to_string(wanted[k].worker_index);
    if (!pg::start_dynamic_worker("pulse_kafka_worker_main", Int32GetDatum(free_slot), name.c_str(),
                                  "pg_pulse kafka consumer", &handles_[free_slot])) {
      LWLockAcquire(shared->lock, LW_EXCLUSIVE);
      snprintf(shared->slots[free_slot].state, sizeof shared->slots[free_slot].state,
               "waiting for a background worker slot");
      LWLockRelease(shared->lock);
    }
  }
}

}  // namespace pulse::kafka
