// A Kafka pool worker: one of the at most pulse.kafka_workers background processes of a
// database that consume its subscriptions. Its scheduler (launcher.cc) assigns consumer slots to
// it; each round it adopts the slots assigned to it (starting their consumers, again after a
// failure once the slot's backoff is over), closes those taken away or asked to stop, and steps
// every consumer it holds, in turn, starting one further each round so none waits behind the
// others. It sleeps on its latch and on one notify pipe that librdkafka writes to when any of its
// consumers' queues becomes non-empty. A consumer that fails is closed and recorded (its slot,
// pulse.job_history, the log at most once a minute); the others go on.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kafka/consumer.h"
#include "kafka/shmem.h"
#include "pg/bgworker.h"
#include "pg/gucs.h"
#include "pg/jobs.h"

extern "C" {
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/ps_status.h"

PGDLLEXPORT void pulse_kafka_worker_main(Datum main_arg);
}

namespace pulse::kafka {
namespace {

// librdkafka's prefetch budget of one pool worker, shared by its consumers (KB).
constexpr int kPrefetchBudgetKb = 256 * 1024;

class Pool {
 public:
  explicit Pool(int index) : index_(index), entry_(&shared->pool[index]) {}
  ~Pool() { close_all(false); }
  void run();
  // Closes every consumer (graceful: leaving their groups; dying: without the handshake).
  void close_all(bool dying);

 private:
  bool stop_requested();
  void adopt(TimestampTz now);
  void close_one(int slot, bool dying);
  void fail(int slot, const std::string& message, TimestampTz started);
  void heartbeat(TimestampTz now);
  void show_title(bool force);

  int index_;
  PoolWorker* entry_;
  int pipe_[2] = {-1, -1};
  std::map<int, std::unique_ptr<Consumer>> consumers_;  // by consumer slot
  std::map<int, TimestampTz> started_;                  // when each was started
  size_t round_ = 0;
  size_t shown_ = size_t(-1);    // consumers counted in the title
  size_t counted_ = size_t(-1);  // consumers counted in the pool entry
};

Pool* current = nullptr;

// Interrupts between batches: a cancel that arrives outside a batch is dropped (it must not end
// the pool worker and every consumer it serves); SIGTERM and SIGHUP act as usual.
void check_interrupts() {
  try {
    pg::worker_check_interrupts();
  } catch (pg::PgError& e) {
    if (e.sqlerrcode() != ERRCODE_QUERY_CANCELED) throw;
  }
}

bool Pool::stop_requested() {
  LWLockAcquire(shared->lock, LW_SHARED);
  bool stop = entry_->stop_requested;
  LWLockRelease(shared->lock);
  return stop;
}

// The process title and application_name: the pool worker and how many consumers it serves.
void Pool::show_title(bool force) {
  if (!force && shown_ == consumers_.size()) return;
  shown_ = consumers_.size();
  std::string title = "pool worker " + std::to_string(entry_->index) + ": " + std::to_string(shown_) + " consumer" +
                      (shown_ == 1 ? "" : "s");
  std::string app = "pg_pulse kafka pool worker " + std::to_string(entry_->index);
  pg::call([&] {
    set_ps_display(title.c_str());
    pgstat_report_appname(app.c_str());
  });
  if (counted_ == shown_) return;
  counted_ = shown_;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  entry_->consumers = int(shown_);
  LWLockRelease(shared->lock);
}

// Starts the consumers of the slots assigned to this worker that it does not hold yet (and
// whose backoff is over); closes those no longer assigned to it or asked to stop.
void Pool::adopt(TimestampTz now) {
  std::vector<int> to_start, to_close;
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (int i = 0; i < shared->max_consumers; i++) {
    WorkerSlot& w = shared->slots[i];
    bool mine = w.in_use && w.dboid == MyDatabaseId && w.pool_worker == index_;
    if (consumers_.count(i)) {
      if (!mine || w.stop_requested || w.pid != MyProcPid) to_close.push_back(i);
    } else if (mine && !w.stop_requested && w.pid == 0 && w.next_start_at <= now) {
      w.pid = MyProcPid;
      w.latch = MyLatch;
      snprintf(w.state, sizeof w.state, "starting");
      to_start.push_back(i);
    }
  }
  LWLockRelease(shared->lock);
  for (int i : to_close) close_one(i, false);
  if (to_start.empty()) return;
  int prefetch_kb = std::clamp(kPrefetchBudgetKb / int(consumers_.size() + to_start.size()), 4096, 65536);
  for (int i : to_start) {
    TimestampTz started = GetCurrentTimestamp();
    auto& c = consumers_[i];  // held before it starts: an exit closes it whatever happens
    c = std::make_unique<Consumer>(i, pipe_[1], prefetch_kb);
    started_[i] = started;
    try {
      c->start();
    } catch (std::exception& e) {
      fail(i, e.what(), started);
    }
    check_interrupts();
  }
}

// Closes the consumer of slot and gives the slot back (pid 0).
void Pool::close_one(int slot, bool dying) {
  auto it = consumers_.find(slot);
  if (it == consumers_.end()) return;
  try {
    it->second->close(dying);
  } catch (...) {
  }
  consumers_.erase(it);
  started_.erase(slot);
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  WorkerSlot& w = shared->slots[slot];
  if (w.pid == MyProcPid) {
    w.pid = 0;
    w.latch = nullptr;
    if (w.stop_requested) snprintf(w.state, sizeof w.state, "stopped");
  }
  LWLockRelease(shared->lock);
}

// A consumer failed: closed, its error recorded in its slot and pulse.job_history, started again
// after the backoff of its consecutive failures; the server log gets at most one line a minute
// per consumer.
void Pool::fail(int slot, const std::string& message, TimestampTz started) {
  int64 id = 0;
  int32 index = 0;
  close_one(slot, true);
  WorkerSlot* w = &shared->slots[slot];
  TimestampTz now = GetCurrentTimestamp();
  bool log = false;
  long wait = note_failure(w, message.c_str(), "waiting to restart after an error", now, &log);
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  w->next_start_at = TimestampTzPlusMilliseconds(now, wait);
  id = w->subscription_id;
  index = w->worker_index;
  LWLockRelease(shared->lock);
  try {
    pg::JobRecord job{"kafka worker", "", "subscription " + std::to_string(id), started, -1, false, message};
    job.subscription_id = id;
    pg::record_job_failure(job);
  } catch (std::exception&) {
  }
  if (log)
    pg::call([&] {
      ereport(LOG, (errmsg("pg_pulse kafka subscription %lld worker %d stopped: %.500s", (long long)id, index,
                           message.c_str()),
                    errhint("It starts again after a backoff; pulse.kafka_status and pulse.job_history show its last "
                            "error.")));
    });
}

// The heartbeat of this worker's loop, for all its consumers (once a second).
void Pool::heartbeat(TimestampTz now) {
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  for (auto& [slot, c] : consumers_) shared->slots[slot].heartbeat_at = now;
  LWLockRelease(shared->lock);
}

void Pool::close_all(bool dying) {
  while (!consumers_.empty()) close_one(consumers_.begin()->first, dying);
  for (int& fd : pipe_)
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
}

void Pool::run() {
  if (pipe2(pipe_, O_NONBLOCK | O_CLOEXEC) != 0) throw Error(sqlstate::kInternal, "pipe2 failed");
  show_title(true);
  pg::LoopContext loop("pg_pulse kafka pool round");
  TimestampTz beat = 0, adopted = 0;
  bool woken = true;  // by the latch: the scheduler changed the slots (or a restart was asked)
  for (;;) {
    loop.begin();
    check_interrupts();
    if (stop_requested()) return;
    TimestampTz now = GetCurrentTimestamp();
    // slots change when the latch is set; backoffs end with time (checked once a second)
    if (woken || TimestampDifferenceExceeds(adopted, now, 1000)) {
      adopted = now;
      adopt(now);
    }
    woken = false;
    char drain[256];
    while (read(pipe_[0], drain, sizeof drain) > 0) {
    }
    // every consumer once, starting one further each round
    std::vector<int> order;
    for (auto& [slot, c] : consumers_) order.push_back(slot);
    if (!order.empty()) std::rotate(order.begin(), order.begin() + long(round_++ % order.size()), order.end());
    TimestampTz next = TimestampTzPlusMilliseconds(now, 1000);
    for (int slot : order) {
      check_interrupts();
      auto it = consumers_.find(slot);
      if (it == consumers_.end()) continue;
      TimestampTz t = GetCurrentTimestamp();
      try {
        next = std::min(next, it->second->step(t));
      } catch (std::exception& e) {
        fail(slot, e.what(), started_[slot]);
      }
    }
    bool retitled = false;  // a batch named its subscription in the title
    for (auto& [slot, c] : consumers_) retitled |= std::exchange(c->titled, false);
    show_title(retitled);
    now = GetCurrentTimestamp();
    if (TimestampDifferenceExceeds(beat, now, 1000)) {
      beat = now;
      heartbeat(now);
    }
    if (next > now) {
      try {
        woken = pg::worker_wait(long((next - now) / 1000) + 1, pipe_[0]);
      } catch (pg::PgError& e) {
        if (e.sqlerrcode() != ERRCODE_QUERY_CANCELED) throw;
      }
    }
  }
}

// On proc_exit (SIGTERM -> die, FATAL): the transaction first (its locks must not outlive
// this), then librdkafka without the group handshake.
void worker_exit(int, Datum) {
  AbortOutOfAnyTransaction();
  if (current) {
    Pool* p = current;
    current = nullptr;
    try {
      p->close_all(true);
    } catch (...) {
    }
  }
  if (shared) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (auto& s : consumer_slots())
      if (s.pid == MyProcPid) {
        s.pid = 0;
        s.latch = nullptr;
      }
    for (auto& p : shared->pool)
      if (p.pid == MyProcPid) {
        p.pid = 0;
        p.latch = nullptr;
      }
    LWLockRelease(shared->lock);
  }
}

}  // namespace
}  // namespace pulse::kafka

// Background worker entry point (main_arg: the index of its entry in the pool). A failure of
// the worker itself (not of one of its consumers) ends it, recorded in its entry: the scheduler
// starts it again after a backoff.
void pulse_kafka_worker_main(Datum main_arg) {
  using namespace pulse::kafka;
  int index = DatumGetInt32(main_arg);
  pulse::pg::worker_init(shared->pool[index].dboid, "pg_pulse kafka pool worker");
  // A batch's rows, dead letters and next offsets commit together, so a commit that a crash
  // loses loses all three: the messages are read again from Kafka, nothing lost or doubled.
  // Waiting for the WAL flush of every batch would only slow down many small batches.
  SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION);
  // Every consumer holds sockets and wake-up fds of librdkafka's own (a few each): a pool worker
  // serving hundreds takes the hard limit of open files, not the soft one (often 1024).
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  before_shmem_exit(worker_exit, 0);
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  shared->pool[index].pid = MyProcPid;
  shared->pool[index].latch = MyLatch;
  LWLockRelease(shared->lock);
  char message[512] = "";
  try {
    Pool p(index);
    current = &p;
    p.run();
    current = nullptr;
  } catch (std::exception& e) {
    current = nullptr;
    snprintf(message, sizeof message, "%s", e.what());
  }
  if (message[0]) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    PoolWorker* p = &shared->pool[index];
    p->failures = std::min(p->failures + 1, 30);
    p->next_start_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), backoff_ms(p->failures));
    LWLockRelease(shared->lock);
    ereport(LOG, (errmsg("pg_pulse kafka pool worker %d stopped: %s", shared->pool[index].index, message)));
  }
  proc_exit(0);
}
