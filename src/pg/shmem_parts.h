// pg_pulse's parts of shared memory (the scheduler's state, the Kafka workers', the ingestion
// metrics, the progress slots, the person cache's ring), requested and set up through one pair
// of Postgres hooks chained once, rather than a pair per part.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace pulse::pg {

struct ShmemPart {
  const char* name;   // the name of its LWLock tranche, when it asks for locks
  Size (*size)();     // the bytes it requests
  int lwlocks;        // LWLocks of a tranche called `name` (0: none)
  void (*startup)();  // finds or creates it (ShmemInitStruct, ShmemInitHash), under AddinShmemInitLock
};

// From _PG_init while preloading (shared_preload_libraries): the part is requested and set up
// with the others, in the order added. At most kMaxShmemParts parts.
inline constexpr int kMaxShmemParts = 8;
void add_shmem_part(const ShmemPart& part);

}  // namespace pulse::pg
