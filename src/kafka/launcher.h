// The Kafka part of a database's scheduler (src/pg/scheduler.cc): one consumer worker per
// subscription x parallelism of this database, started, restarted after a failure with an
// exponential backoff (1 s doubling to 5 minutes), and stopped when its subscription is paused
// or removed.
#pragma once

#include <vector>

#include "kafka/shmem.h"
#include "pg/guard.h"

extern "C" {
#include "postmaster/bgworker.h"
}

namespace pulse::kafka {

// Pids of the running consumer workers of database dboid.
std::vector<pid_t> database_worker_pids(Oid dboid);

// Frees the worker slots of a database that no longer exists.
void forget_database(Oid dboid);

class Launcher {
 public:
  Launcher();
  // Starts, restarts and stops this database's workers to match pulse.kafka_subscriptions.
  void reconcile();
  // Asks every worker of this database to stop, waits for them (10 s), then terminates the rest.
  void stop_all();

 private:
  BackgroundWorkerHandle* handles_[kMaxWorkers] = {};
};

}  // namespace pulse::kafka
