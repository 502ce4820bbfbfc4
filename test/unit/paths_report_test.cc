// Unit tests of src/core/paths_report.cc: the one-pass paths report against a reference that
// follows docs/insights.md#pulsepaths step by step (order, sessions, repeats, start, steps,
// distinct actors or sessions), on hand-made timelines and seeded random ones.
#include "core/paths_report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <tuple>
#include <vector>

namespace pulse {
namespace {

struct In {
  uint32_t actor;
  int64_t ts;
  uint32_t label;  // its rank is the label itself here
  bool start;
};

using Counts = std::map<std::tuple<int, uint32_t, uint32_t>, int64_t>;

Counts run(const std::vector<In>& in, const PathsParams& p, uint32_t nlabels) {
  PathsReport r(p);
  for (const In& e : in) r.add(e.actor, e.ts, e.label, e.start);
  std::vector<uint32_t> rank(nlabels);
  for (uint32_t k = 0; k < nlabels; ++k) rank[k] = k;
  Counts out;
  for (const PathsRow& row : r.finish(rank)) {
    EXPECT_TRUE(out.emplace(std::make_tuple(row.step, row.source, row.target), row.count).second) << "a move twice";
  }
  return out;
}

// The reference: the documented steps one after the other, over each actor's whole list.
Counts reference(std::vector<In> in, const PathsParams& p) {
  std::stable_sort(in.begin(), in.end(), [](const In& a, const In& b) {
    return std::tie(a.actor, a.ts, a.label) < std::tie(b.actor, b.ts, b.label);
  });
  std::map<std::tuple<int, uint32_t, uint32_t>, std::set<std::pair<uint32_t, int>>> who;  // (actor, session)
  size_t i = 0;
  while (i < in.size()) {
    size_t j = i;
    while (j < in.size() && in[j].actor == in[i].actor) ++j;
    // 1. sessions and repeats, on the ordered events
    std::vector<std::pair<int, In>> kept;  // (session, event)
    int session = 0;
    for (size_t k = i; k < j; ++k) {
      const bool gap = k == i || in[k].ts - in[k - 1].ts > p.session_gap;
      if (gap) session++;
      if (!gap && in[k - 1].label == in[k].label) continue;
      kept.push_back({session, in[k]});
    }
    // 2. start, 3. steps
    for (int s = 1; s <= session; ++s) {
      std::vector<uint32_t> seq;
      bool started = !p.has_start;
      for (auto& [ks, e] : kept) {
        if (ks != s) continue;
        if (!started && e.start) started = true;
        if (started) seq.push_back(e.label);
      }
      for (size_t k = 0; k + 1 < seq.size() && int(k) < p.step_limit; ++k)
        who[std::make_tuple(int(k) + 1, seq[k], seq[k + 1])].insert({in[i].actor, p.by_session ? s : 0});
    }
    i = j;
  }
  Counts out;
  for (auto& [k, set] : who) out[k] = int64_t(set.size());
  return out;
}

TEST(PathsReport, Documented) {
  // x: a, a (repeat), b | b, c at one instant (c's label ranks after b) | a, b; y: a, b, c; z: a
  const int64_t h = 3600000000;
  std::vector<In> in = {{0, 10 * h, 0, false},    {0, 10 * h + 1, 0, false}, {0, 10 * h + 2, 1, true},
                        {0, 13 * h, 2, false},    {0, 13 * h, 1, true},      {0, 16 * h, 0, false},
                        {0, 16 * h + 5, 1, true}, {1, 9 * h, 0, false},      {1, 9 * h + 5, 1, true},
                        {1, 9 * h + 6, 2, false}, {2, 9 * h, 0, false}};
  PathsParams p;
  p.session_gap = h;
  EXPECT_EQ(run(in, p, 3), (Counts{{{1, 0, 1}, 2}, {{1, 1, 2}, 1}, {{2, 1, 2}, 1}}));
  p.by_session = true;
  EXPECT_EQ(run(in, p, 3), (Counts{{{1, 0, 1}, 3}, {{1, 1, 2}, 1}, {{2, 1, 2}, 1}}));
  p.by_session = false;
  p.has_start = true;
  EXPECT_EQ(run(in, p, 3), (Counts{{{1, 1, 2}, 2}}));
  p.has_start = false;
  p.step_limit = 1;
  EXPECT_EQ(run(in, p, 3), (Counts{{{1, 0, 1}, 2}, {{1, 1, 2}, 1}}));
  // a gap of exactly session_gap stays in the session
  EXPECT_EQ(run({{0, 0, 0, true}, {0, h, 1, true}, {0, 2 * h + 1, 2, true}}, p, 3), (Counts{{{1, 0, 1}, 1}}));
  EXPECT_TRUE(run({}, p, 0).empty());
}

TEST(PathsReport, RandomAgainstReference) {
  std::mt19937_64 rnd(7);
  for (int round = 0; round < 300; ++round) {
    PathsParams p;
    p.session_gap = int64_t(1 + rnd() % 20);
    p.step_limit = int(1 + rnd() % 6);
    p.by_session = rnd() % 2;
    p.has_start = rnd() % 3 == 0;
    const uint32_t actors = uint32_t(1 + rnd() % 30), labels = uint32_t(1 + rnd() % 5);
    const uint32_t start_label = uint32_t(rnd() % labels);
    std::vector<In> in;
    const size_t n = rnd() % 400;
    for (size_t k = 0; k < n; ++k) {
      const uint32_t l = uint32_t(rnd() % labels);
      in.push_back(In{uint32_t(rnd() % actors), int64_t(rnd() % 200), l, l == start_label});
    }
    SCOPED_TRACE(round);
    EXPECT_EQ(run(in, p, labels), reference(in, p));
  }
}

}  // namespace
}  // namespace pulse
