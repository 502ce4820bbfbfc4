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
//    id's person string, looked up in a table of the mapped ids only, behind a bit filter that
//    answers "not mapped" for most other ids without touching the table.
// Rows are added in batches, their table slots prefetched (a mapping of 1M rows is ~30 MB of
// tables probed at random).
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

  // Makes room for about rows more mapping rows (an estimate: more or fewer are fine), so the
  // tables need not grow on the way.
  void reserve(size_t rows);
  // Mapping rows ids[i] -> persons[i]. Rows with id == person change nothing.
  void add_many(const std::string_view* ids, const std::string_view* persons, size_t n);
  void add(std::string_view id, std::string_view person) { add_many(&id, &person, 1); }
  // After the last row. With a numbering: a person's own string, unless it is a mapped id
  // itself, interns to the person's id; new actors are numbered after the persons. Without:
  // builds the filter.
  void finish();

  // Whether an actor with this hash (ActorIds::hash) may be mapped: false means it is not.
  bool maybe_mapped(uint64_t hash) const {
    const uint64_t bit = hash >> filter_shift_;
    return filter_[bit >> 6] >> (bit & 63) & 1;
  }
  // Starts fetching the table slot resolve() probes first.
  void prefetch(uint64_t hash) const { ids_.prefetch(hash); }
  // The person of actor (hash: ActorIds::hash(actor)): its person_id, or actor itself. The
  // view stays valid while this map lives. Only without a numbering, after finish().
  std::string_view resolve(std::string_view actor, uint64_t hash) const {
    if (!maybe_mapped(hash)) return actor;
    const uint32_t k = ids_.find(actor, hash);
    if (k == ActorIds::kNone) return actor;
    const Span& s = spans_[k];
    return std::string_view(bytes_.data() + s.off, s.len);
  }
  // Mapping rows kept (id != person).
  size_t size() const { return rows_; }

 private:
  struct Span {
    size_t off;
    uint32_t len;
  };
  ActorIds* numbering_;
  ActorIds persons_;                                            // numbering: person strings -> person numbers 0..P-1
  ActorIds ids_;                                                // resolve: mapped ids -> row numbers
  std::string bytes_;                                           // resolve: the person strings, one per row
  std::vector<Span> spans_;                                     // resolve: row number -> its person in bytes_
  std::vector<uint64_t> filter_ = std::vector<uint64_t>(1, 0);  // resolve: a bit per hash prefix
  int filter_shift_ = 63;
  size_t rows_ = 0;
  std::vector<std::string_view> kept_ids_, kept_persons_;  // add_many's rows with id != person
  std::vector<uint32_t> numbers_;
};

}  // namespace pulse
