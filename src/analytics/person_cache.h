// The backend's cache of a project's person mapping for the unique-user reports
// (src/analytics/reports.cc, docs/people.md#the-mapping-cache).
//
// Loading <project>._person_ids is most of what counting unique users by person adds to a
// query (100 of 173 ms of a 30-day trends query over 10M events with 900k mapped ids), and a
// breakdown loaded it once per group. A backend keeps the last mapping it loaded, with the
// snapshot it was loaded under, and hands it to later reports whose snapshot sees the same
// rows of it:
//  * every write to a mapping table that can change a resolution (a row mapping an id to
//    another: persons on first sight map ids to themselves and change none) records its
//    top-level transaction in a ring in shared memory, through the table's triggers
//    (pulse._person_ids_written, ENABLE ALWAYS);
//  * a cached mapping serves a snapshot that sees every recorded writer of the table as the
//    load's snapshot saw it (core/xid_snapshot.h), when the ring dropped no writer that may
//    be in progress for either, the caller may read the whole table (SELECT, no row-level
//    security: what scan_mapping requires), and the current transaction wrote no mapping.
// Otherwise the mapping is loaded again. Without the library preloaded (no shared memory), on
// a standby, or with pulse.person_cache_size = 0, nothing is kept across reports.
#pragma once

#include <functional>
#include <memory>

#include "core/person_map.h"

extern "C" {
#include "postgres.h"
}

namespace pulse::analytics {

// Asks for the ring's shared memory (from _PG_init, when preloaded).
void register_person_cache_shmem();

// Whether the current user reads the whole of rel through a plain scan (a plain table with
// SELECT on it, no row-level security for them).
bool mapping_readable_whole(Oid rel);

// The finished resolve map of mapping table rel under the active snapshot: the cached one
// when it holds the same rows, else made by load (which returns whether it read the table
// whole, mapping_readable_whole; only such a load is kept).
std::shared_ptr<const PersonMap> person_map(Oid rel, const std::function<bool(PersonMap&)>& load);

}  // namespace pulse::analytics
