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
  // Starts fetching the bit maybe_mapped() tests (the filter is a few MB, read at random).
  void prefetch_filter(uint64_t hash) const { __builtin_prefetch(&filter_[(hash >> filter_shift_) >> 6]); }
  // Starts fetching the table slot row() probes first.
  void prefetch(uint64_t hash) const { ids_.prefetch(hash); }
  // The mapping row of actor (hash: ActorIds::hash(actor)), or kNone when it is its own
  // person. Only without a numbering, after finish().
  static constexpr uint32_t kNone = ActorIds::kNone;
  uint32_t row(std::string_view actor, uint64_t hash) const {
    return maybe_mapped(hash) ? ids_.find(actor, hash) : kNone;
  }
  // Starts fetching what person(row) reads.
  void prefetch_row(uint32_t row) const { __builtin_prefetch(&persons_of_[row]); }
  // The person of a mapping row and its ActorIds::hash, valid while this map lives. Persons of
  // up to 16 bytes are read from the row itself: one cache line per resolved row.
  std::string_view person(uint32_t row) const {
    const Person& p = persons_of_[row];
    return std::string_view(p.len <= sizeof p.inline_bytes ? p.inline_bytes : bytes_.data() + p.off, p.len);
  }
  uint64_t person_hash(uint32_t row) const { return persons_of_[row].hash; }
  // The person of actor: its person_id, or actor itself (one lookup, for tests and single rows).
  std::string_view resolve(std::string_view actor, uint64_t hash) const {
    const uint32_t k = row(actor, hash);
    return k == kNone ? actor : person(k);
  }
  // Mapping rows kept (id != person).
  size_t size() const { return rows_; }
  // Bytes a resolve map holds after finish() (for the cache of analytics/person_cache.h).
  size_t memory_bytes() const {
    return ids_.memory_bytes() + persons_of_.capacity() * sizeof(Person) + bytes_.capacity() +
           filter_.capacity() * sizeof(uint64_t);
  }

 private:
  struct Person {
    uint64_t hash;
    uint32_t len;
    union {
      char inline_bytes[16];  // len <= 16
      size_t off;             // else: in bytes_
    };
  };
  static_assert(sizeof(Person) == 32, "two persons per cache line");
  ActorIds* numbering_;
  ActorIds persons_;                                            // numbering: person strings -> person numbers 0..P-1
  ActorIds ids_;                                                // resolve: mapped ids -> row numbers
  std::string bytes_;                                           // resolve: persons longer than 16 bytes
  std::vector<Person> persons_of_;                              // resolve: row number -> its person
  std::vector<uint64_t> filter_ = std::vector<uint64_t>(1, 0);  // resolve: a bit per hash prefix
  int filter_shift_ = 63;
  size_t rows_ = 0;
  std::vector<std::string_view> kept_ids_, kept_persons_;  // add_many's rows with id != person
  std::vector<uint32_t> numbers_;
};

}  // namespace pulse
