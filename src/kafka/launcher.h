// The Kafka part of a database's scheduler (src/pg/scheduler.cc): a pool of at most
// pulse.kafka_workers worker processes (as many as the database has consumers, up to that) serves
// every consumer (subscription x parallelism) of this database. The launcher gives each consumer
// a slot and assigns it to the least loaded pool worker (the members of one subscription to
// different workers where it can), starts the pool workers, restarts one that died of an error
// after an exponential backoff (1 s doubling to 5 minutes), and frees the slots of subscriptions
// paused or removed.
#pragma once

#include <vector>

#include "kafka/shmem.h"
#include "pg/guard.h"

extern "C" {
#include "postmaster/bgworker.h"
}

namespace pulse::kafka {

// Pids of the running pool workers of database dboid.
std::vector<pid_t> database_worker_pids(Oid dboid);

// Frees the consumer slots and pool entries of a database that no longer exists.
void forget_database(Oid dboid);

struct Wanted;

class Launcher {
 public:
  Launcher();
  // Gives slots to this database's consumers, assigns them to pool workers and starts, restarts
  // and stops pool workers to match pulse.kafka_subscriptions and pulse.kafka_workers.
  void reconcile();
  // Asks every pool worker of this database to stop, waits for them (10 s), then terminates the
  // rest; frees the database's slots.
  void stop_all();

 private:
  void reconcile_slots(const std::vector<Wanted>& wanted);
  void reconcile_pool(int target, TimestampTz now);
  void assign(int target);

  BackgroundWorkerHandle* handles_[kMaxPoolWorkers] = {};
};

}  // namespace pulse::kafka
