// Identity resolution inside the report aggregates (src/analytics/reports.cc): the rows of a
// project's mapping <project>._person_ids (distinct_id -> person_id, docs/people.md) make every
// event's _user count as its person, as the insights' SQL `coalesce(person_id, _user)` over a
// LEFT JOIN with the mapping does, without that join: an id without a mapping row (or mapped to
// itself) is its own person, and a person is the string person_id (never resolved further).
//
// Two uses:
//  * numbering (funnel, retention): the mapping pre-numbers the report's ActorIds so that every
//    id of a person interns to one id, the person's. Events then cost what they cost by raw id.
//  * resolve (unique users per bucket, core/bucket_uniques.h, which keeps actor strings): an
//    id's person string, looked up in a table of the mapped ids only.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/actor_ids.h"

namespace pulse {

class PersonMap {
 public:
  // numbering: the empty ActorIds of a report, numbered by add() and finish(); nullptr keeps
  // the mapping here for resolve().
  explicit PersonMap(ActorIds* numbering = nullptr);

  // One mapping row. Rows with id == person change nothing.
  void add(std::string_view id, std::string_view person);
  // After the last row. With a numbering: a person's own string, unless it is a mapped id
  // itself, interns to the person's id; new actors are numbered after the persons.
  void finish();

  // The person of actor (hash: ActorIds::hash(actor)): its person_id, or actor itself. The
  // view stays valid while this map lives. Only without a numbering.
  std::string_view resolve(std::string_view actor, uint64_t hash) const {
    const uint32_t k = ids_.find(actor, hash);
    if (k == ActorIds::kNone) return actor;
    const Span& s = spans_[k];
    return std::string_view(bytes_.data() + s.off, s.len);
  }
  // Starts fetching what resolve() of an actor with this hash probes first.
  void prefetch(uint64_t hash) const { ids_.prefetch(hash); }
  // Mapping rows kept (id != person).
  size_t size() const { return rows_; }

 private:
  struct Span {
    size_t off;
    uint32_t len;
  };
  ActorIds* numbering_;
  ActorIds persons_;         // person strings -> person numbers 0..P-1
  ActorIds ids_;             // resolve: mapped ids -> person numbers
  std::string bytes_;        // resolve: the person strings
  std::vector<Span> spans_;  // resolve: person number -> its string in bytes_
  size_t rows_ = 0;
};

}  // namespace pulse
