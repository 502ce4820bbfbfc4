// Background work of pg_pulse, for every database that has it installed (like TimescaleDB's
// launcher and per-database schedulers):
//
//  * the supervisor (one per cluster, connected to no database, registered when pg_pulse is
//    preloaded) lists the databases and keeps one scheduler running in each that has pg_pulse;
//    a database without it is looked at again every minute, or at once when pg_pulse is
//    created there (the install script wakes the supervisor after its commit);
//  * a scheduler (one per database) starts and supervises that database's Kafka consumers,
//    refreshes its views when due and summarises new BRIN ranges of its collections.
//
// Nothing is configured: the README's install steps (preload, restart, CREATE EXTENSION in any
// database) give a working setup.
#pragma once

#include "pg/guard.h"

namespace pulse::pg {

// Registers the shared memory and the supervisor (from _PG_init while preloading).
void register_scheduler();

// True when the background workers exist (pg_pulse preloaded).
bool background_workers_available();

// After the current transaction commits, the supervisor looks at this database at once and its
// scheduler re-reads its work (subscriptions, views).
void wake_scheduler_at_commit();

}  // namespace pulse::pg
