// Unit tests of identity resolution in the report aggregates (src/core/person_map.cc): the
// pre-numbering of ActorIds by a person mapping and the resolve() of unique users, against a
// reference written here (std::unordered_map: the person of an id is its mapping row's
// person_id, else the id; no further resolution), on hand-made and random mappings, chains
// and self rows included.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/actor_ids.h"
#include "core/person_map.h"

namespace pulse {
namespace {

using Mapping = std::vector<std::pair<std::string, std::string>>;

std::string resolved(const std::unordered_map<std::string, std::string>& m, const std::string& u) {
  auto it = m.find(u);
  return it == m.end() ? u : it->second;
}

// Every actor's id in a numbering seeded by mapping equals another's exactly when their
// reference persons are equal.
void check_numbering(const Mapping& mapping, const std::vector<std::string>& actors) {
  std::unordered_map<std::string, std::string> ref;
  for (const auto& [d, p] : mapping)
    if (d != p) ref[d] = p;
  ActorIds ids;
  {
    PersonMap seed(&ids);
    seed.reserve(mapping.size() / 2);  // an estimate too low: the tables grow
    for (const auto& [d, p] : mapping) seed.add(d, p);
    seed.finish();
  }
  std::unordered_map<std::string, uint32_t> id_of_person;
  std::unordered_map<uint32_t, std::string> person_of_id;
  for (const std::string& a : actors) {
    const uint32_t id = ids.intern(a);
    const std::string p = resolved(ref, a);
    auto [i, fresh_p] = id_of_person.emplace(p, id);
    EXPECT_EQ(i->second, id) << "actor " << a << " (person " << p << ")";
    auto [j, fresh_id] = person_of_id.emplace(id, p);
    EXPECT_EQ(j->second, p) << "actor " << a << " shares id " << id;
    EXPECT_LT(id, ids.size());
  }
}

void check_resolve(const Mapping& mapping, const std::vector<std::string>& actors) {
  std::unordered_map<std::string, std::string> ref;
  for (const auto& [d, p] : mapping)
    if (d != p) ref[d] = p;
  PersonMap map;
  map.reserve(mapping.size() * 3);  // an estimate too high
  for (const auto& [d, p] : mapping) map.add(d, p);
  map.finish();
  EXPECT_EQ(map.size(), ref.size());
  for (const std::string& a : actors) {
    EXPECT_EQ(map.resolve(a, ActorIds::hash(a)), resolved(ref, a)) << a;
    // the staged lookup of the unique-users report: the row, then its person and kept hash
    const uint32_t row = map.row(a, ActorIds::hash(a));
    EXPECT_EQ(row == PersonMap::kNone, ref.count(a) == 0) << a;
    if (row != PersonMap::kNone) {
      EXPECT_EQ(map.person_hash(row), ActorIds::hash(map.person(row))) << a;
    }
  }
}

TEST(PersonMap, HandMade) {
  // b, c -> a; a -> a (a self row); e -> d, and d itself is mapped to f (a chain the flat
  // mapping never has: d's events count as f, e's as d); long ids and persons
  const std::string long_id(40, 'x'), long_person(30, 'y');
  const Mapping m = {{"b", "a"}, {"a", "a"}, {"c", "a"}, {"e", "d"}, {"d", "f"}, {long_id, long_person}, {"", "empty"}};
  const std::vector<std::string> actors = {"a", "b",     "c",         "d", "e",     "f", "g",
                                           "a", long_id, long_person, "",  "empty", "h", "e"};
  check_numbering(m, actors);
  check_resolve(m, actors);
}

TEST(PersonMap, EmptyMapping) {
  check_numbering({}, {"a", "b", "a"});
  check_resolve({}, {"a", "b"});
  ActorIds ids;
  PersonMap seed(&ids);
  seed.finish();
  EXPECT_EQ(ids.size(), 0u);
  EXPECT_EQ(ids.intern("a"), 0u);
}

TEST(PersonMap, Random) {
  std::mt19937_64 rng(15);
  for (int round = 0; round < 20; ++round) {
    const int users = 1 + int(rng() % 3000);
    auto name = [&](uint64_t k) {
      // short, inline-length and long ids
      switch (k % 3) {
        case 0:
          return "u" + std::to_string(k);
        case 1:
          return "user-" + std::to_string(k) + "-padding";
        default:
          return "a-rather-long-distinct-id-" + std::to_string(k) + "-beyond-sixteen-bytes";
      }
    };
    Mapping m;
    std::unordered_map<std::string, bool> seen;
    for (int i = 0; i < users; ++i) {
      const std::string d = name(rng() % (users * 2));
      if (!seen.emplace(d, true).second) continue;  // distinct_id is the mapping's key
      m.emplace_back(d, rng() % 4 == 0 ? d : name(rng() % users));
    }
    std::vector<std::string> actors;
    for (int i = 0; i < 5 * users; ++i) actors.push_back(name(rng() % (users * 3)));
    check_numbering(m, actors);
    check_resolve(m, actors);
  }
}

TEST(ActorIds, BindFindAndReserve) {
  ActorIds ids;
  ids.bind("x", 7);
  ids.bind("y", 7);
  EXPECT_EQ(ids.find("x"), 7u);
  EXPECT_EQ(ids.find("z"), ActorIds::kNone);
  EXPECT_EQ(ids.size(), 0u);
  ids.reserve_ids(8);
  EXPECT_EQ(ids.intern("z"), 8u);
  EXPECT_EQ(ids.intern("y"), 7u);
  ids.bind("y", 3);  // renumbered
  EXPECT_EQ(ids.intern("y"), 3u);
  // many binds grow the table and keep every key
  for (uint32_t i = 0; i < 10000; ++i) ids.bind("k" + std::to_string(i), i % 5);
  for (uint32_t i = 0; i < 10000; ++i) ASSERT_EQ(ids.find("k" + std::to_string(i)), i % 5);
  size_t n = 0;
  ids.for_each([&](std::string_view, uint32_t) { ++n; });
  EXPECT_EQ(n, 10003u);
}

}  // namespace
}  // namespace pulse
