// Persons of a project (docs/people.md): the persons table <project>._persons, whose property
// columns evolve like a collection's, and the id mapping <project>._person_ids.
#pragma once

#include <string>

#include "pg/guard.h"

namespace pulse::ingest {

struct PersonUpdateResult {
  std::string person_id;
  int64_t rejected_fields = 0;
  int64_t columns_added = 0;
};

// Applies the operations of ops (a JSON object: $set, $set_once, $increment, $unset, $append,
// $remove) to the person of distinct_id, created (with its id mapping) when missing. Atomic per
// person: concurrent callers serialise on the person's row. Values that do not fit go to
// pulse.rejected_fields with `source`. Raises 22023 for a malformed ops object. The caller has
// checked the project writer and connected SPI.
PersonUpdateResult update_person(const std::string& project, const std::string& distinct_id,
                                 const std::string& ops_json, const std::string& source);

}  // namespace pulse::ingest

#include <unordered_set>

namespace pulse::ingest {

// The longest id (bytes) that can be a person: the persons tables' btree entries must fit a
// page. Longer ids are stored with their events but are not made persons; person operations
// and links refuse them (22023). pulse._person_link has the same bound.
constexpr size_t kMaxPersonIdBytes = 1024;

// Persons on first sight (docs/people.md#persons-on-first-sight): every distinct id of `users`
// (the _user of events just stored, up to kMaxPersonIdBytes) gets its mapping to itself and its person row when it has
// no mapping yet, in one set-based statement for the ids this backend does not already know to be mapped (a per-backend
// cache, per mapping table; an erasure invalidates it). Creates the persons tables when missing. A failure is a WARNING
// and never fails the ingestion.
void note_persons_seen(const std::string& project, const std::unordered_set<std::string>& users);

// Identity links this backend knows to be made, in the same per-backend cache (an erasure
// invalidates them too): a link (id, other, identify) is made when both ids map to one person,
// identified when identify is set. Links only ever join persons (a merge keeps every id with
// the winner, identified when either was), so a link made stays made until an erasure.
// mapping_of(project): the mapping table's oid, InvalidOid when it does not exist (nothing is
// known of it).
Oid mapping_of(const std::string& project);
bool link_known(Oid mapping, const std::string& id, const std::string& other, bool identify);
// The link was made in the current (sub)transaction: known from its commit on.
void note_link_made(Oid mapping, const std::string& id, const std::string& other, bool identify);

}  // namespace pulse::ingest
