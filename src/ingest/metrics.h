// Ingestion counters per database, project and collection since the server started or since
// pulse.metrics_reset: events stored, rejected fields, dead letters, batches (read through
// pulse.metrics). They live in shared memory (only with the library preloaded) and count what
// committed: a backend keeps its counts per (sub)transaction level and adds them at commit,
// so rolled-back work (a ROLLBACK, a savepoint, a bisection's failed half) is not counted.
#pragma once

#include <cstdint>
#include <string>

namespace pulse::ingest {

// Most (database, project, collection) entries; beyond, new collections are not counted.
constexpr long kMaxMetricEntries = 8192;

// From _PG_init while preloading.
void register_metrics_shmem();

// Counts for collection project.collection (collection "": dead letters of events that name
// no valid collection), applied when the current transaction commits.
void note_ingest(const std::string& project, const std::string& collection, int64_t stored, int64_t rejected_fields,
                 int64_t dead_letters, int64_t batches);

}  // namespace pulse::ingest
