// Unit tests of src/core/funnel.cc: windowFunnel levels and chains in every mode, order
// independence, state serialisation, and retention flags.
#include "core/funnel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"

namespace pulse {
namespace {

constexpr int64_t kSec = 1000000;

// An event at t seconds matching the given 1-based steps ({} = no step).
FunnelEvent at(int64_t seconds, std::initializer_list<int> steps) {
  uint32_t m = 0;
  for (int s : steps) m |= 1u << (s - 1);
  return FunnelEvent{seconds * kSec, m};
}

FunnelParams params(int64_t window_seconds, int nsteps, uint32_t modes = 0) {
  FunnelParams p;
  p.window = window_seconds * kSec;
  p.nsteps = nsteps;
  p.modes = modes;
  return p;
}

FunnelResult run(std::vector<FunnelEvent> ev, const FunnelParams& p) {
  // A row matching no step is stored only when the mode needs it, as the aggregate does.
  ev.erase(std::remove_if(ev.begin(), ev.end(), [&](const FunnelEvent& e) { return !funnel_keeps(e.steps, p.modes); }),
           ev.end());
  return evaluate_funnel(ev.data(), ev.size(), p);
}

int level(const std::vector<FunnelEvent>& ev, const FunnelParams& p) { return run(ev, p).level; }

// The chain's timestamps in seconds.
std::vector<int64_t> chain(const std::vector<FunnelEvent>& ev, const FunnelParams& p) {
  FunnelResult r = run(ev, p);
  std::vector<int64_t> out;
  for (int k = 0; k < r.level; ++k) out.push_back(r.ts[k] / kSec);
  return out;
}

using V = std::vector<int64_t>;

// Issue 5: one user's events at t = 3..7 match steps 1..5; window 2 -> 3, 3 -> 4, 4 -> 5.
TEST(WindowFunnel, IssueReferenceWindows) {
  std::vector<FunnelEvent> ev = {at(3, {1}), at(4, {2}), at(5, {3}), at(6, {4}), at(7, {5})};
  EXPECT_EQ(level(ev, params(2, 5)), 3);
  EXPECT_EQ(level(ev, params(3, 5)), 4);
  EXPECT_EQ(level(ev, params(4, 5)), 5);
  EXPECT_EQ(level(ev, params(1000, 5)), 5);
  EXPECT_EQ(level(ev, params(0, 5)), 1);
  EXPECT_EQ(chain(ev, params(2, 5)), (V{3, 4, 5}));
}

// Issue 5: A signup 14:00 -> pageview 14:05, C signup 12:00 -> pageview 12:15.
TEST(WindowFunnel, InclusiveWindow) {
  std::vector<FunnelEvent> a = {at(14 * 3600, {1}), at(14 * 3600 + 300, {2})};
  std::vector<FunnelEvent> c = {at(12 * 3600, {1}), at(12 * 3600 + 900, {2})};
  EXPECT_EQ(level(a, params(300, 2)), 2);  // exactly the window: counts
  EXPECT_EQ(level(a, params(299, 2)), 1);
  EXPECT_EQ(level(c, params(300, 2)), 1);
  EXPECT_EQ(level(c, params(14 * 86400, 2)), 2);
  EXPECT_EQ(chain(a, params(300, 2)), (V{14 * 3600, 14 * 3600 + 300}));
}

TEST(WindowFunnel, NoStepOneMeansZero) {
  EXPECT_EQ(level({}, params(10, 3)), 0);
  EXPECT_EQ(level({at(1, {2}), at(2, {3})}, params(10, 3)), 0);
  EXPECT_EQ(level({at(1, {})}, params(10, 3, kFunnelStrictOrder)), 0);
  EXPECT_TRUE(chain({at(1, {2})}, params(10, 3)).empty());
}

TEST(WindowFunnel, LongestChainFromAnyStepOne) {
  // The first a is too old for b; the second one is not.
  std::vector<FunnelEvent> ev = {at(0, {1}), at(100, {1}), at(150, {2})};
  EXPECT_EQ(level(ev, params(60, 2)), 2);
  EXPECT_EQ(chain(ev, params(60, 2)), (V{100, 150}));
  // A long chain from an early start beats a short one from a later start.
  std::vector<FunnelEvent> ev2 = {at(0, {1}), at(1, {2}), at(2, {1}), at(3, {3})};
  EXPECT_EQ(level(ev2, params(10, 3)), 3);
  EXPECT_EQ(chain(ev2, params(10, 3)), (V{0, 1, 3}));
  // Steps out of order do not count without their predecessor.
  EXPECT_EQ(level({at(0, {1}), at(1, {3}), at(2, {2})}, params(10, 3)), 2);
}

TEST(WindowFunnel, ChainIsTheFirstToReachTheTopLevelWithTheLatestStart) {
  // Two conversions: the first one is counted.
  EXPECT_EQ(chain({at(0, {1}), at(10, {2}), at(20, {1}), at(25, {2})}, params(100, 2)), (V{0, 10}));
  // Repeated step-1 events: the latest one before step 2.
  EXPECT_EQ(chain({at(0, {1}), at(5, {1}), at(10, {2})}, params(100, 2)), (V{5, 10}));
  // Intermediate steps: the latest that still leads to the chain.
  EXPECT_EQ(chain({at(0, {1}), at(1, {2}), at(2, {2}), at(3, {3})}, params(100, 3)), (V{0, 2, 3}));
}

TEST(WindowFunnel, TiesAtEqualTimestampsKeepStepOrder) {
  // Two rows at the same instant, given in reverse step order.
  EXPECT_EQ(level({at(5, {2}), at(5, {1})}, params(0, 2)), 2);
  EXPECT_EQ(level({at(5, {3}), at(5, {2}), at(5, {1})}, params(0, 3)), 3);
  // One row matching both steps counts for both (as in ClickHouse).
  EXPECT_EQ(level({at(5, {1, 2})}, params(0, 2)), 2);
  EXPECT_EQ(chain({at(5, {1, 2})}, params(0, 2)), (V{5, 5}));
}

// Issue 5: user 1 does a, b, c; user 2 does a, d, b, c (d matches no step).
TEST(WindowFunnel, StrictOrderReference) {
  std::vector<FunnelEvent> u1 = {at(1, {1}), at(2, {2}), at(3, {3})};
  std::vector<FunnelEvent> u2 = {at(1, {1}), at(2, {}), at(3, {2}), at(4, {3})};
  EXPECT_EQ(level(u1, params(100, 3)), 3);
  EXPECT_EQ(level(u2, params(100, 3)), 3);
  EXPECT_EQ(level(u1, params(100, 3, kFunnelStrictOrder)), 3);
  EXPECT_EQ(level(u2, params(100, 3, kFunnelStrictOrder)), 1);
  EXPECT_EQ(chain(u2, params(100, 3, kFunnelStrictOrder)), (V{1}));
}

TEST(WindowFunnel, StrictOrderDetails) {
  const auto so = params(100, 3, kFunnelStrictOrder);
  // Other events before the first step-1 event do not matter.
  EXPECT_EQ(level({at(0, {}), at(1, {1}), at(2, {2}), at(3, {3})}, so), 3);
  // An out-of-order step stops processing: a, c, b reaches 1 (ordered: 2).
  EXPECT_EQ(level({at(1, {1}), at(2, {3}), at(3, {2})}, so), 1);
  EXPECT_EQ(level({at(1, {1}), at(2, {3}), at(3, {2})}, params(100, 3)), 2);
  // An interruption after a completed prefix keeps the prefix: a, b, d, c reaches 2.
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(3, {}), at(4, {3})}, so), 2);
  // ClickHouse orders a no-step row before step rows of the same instant.
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(2, {})}, so), 1);
  // Repeated steps are not interruptions.
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(3, {2}), at(4, {3})}, so), 3);
  // Events outside the window still interrupt (ClickHouse).
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(500, {}), at(501, {1}), at(502, {2}), at(503, {3})}, so), 2);
}

TEST(WindowFunnel, StrictDeduplication) {
  const auto sd = params(100, 3, kFunnelStrictDeduplication);
  // A repeated step interrupts further processing: a, b, b, c reaches 2.
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(3, {2}), at(4, {3})}, sd), 2);
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(3, {2}), at(4, {3})}, params(100, 3)), 3);
  // Repeated step-1 events restart, they do not interrupt.
  EXPECT_EQ(level({at(1, {1}), at(2, {1}), at(3, {2}), at(4, {3})}, sd), 3);
  // Two identical rows at one instant are a repetition.
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(2, {2}), at(4, {3})}, sd), 2);
  // Other events do not interrupt without strict_order.
  EXPECT_EQ(level({at(1, {1}), at(2, {}), at(3, {2})}, sd), 2);
}

TEST(WindowFunnel, StrictIncrease) {
  const auto si = params(100, 3, kFunnelStrictIncrease);
  // Equal timestamps do not advance.
  EXPECT_EQ(level({at(1, {1}), at(1, {2}), at(1, {3})}, si), 1);
  EXPECT_EQ(level({at(1, {1, 2})}, si), 1);
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(2, {3})}, si), 2);
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(3, {3})}, si), 3);
  // Longest chain: a new step-1 event at the step-2 instant does not hide the older start
  // (ClickHouse would say 1 here).
  EXPECT_EQ(level({at(0, {1}), at(5, {1}), at(5, {2})}, params(100, 2, kFunnelStrictIncrease)), 2);
  EXPECT_EQ(chain({at(0, {1}), at(5, {1}), at(5, {2})}, params(100, 2, kFunnelStrictIncrease)), (V{0, 5}));
  // ... and the newer start is used by later steps.
  EXPECT_EQ(chain({at(0, {1}), at(5, {1}), at(5, {2}), at(6, {2})}, params(100, 2, kFunnelStrictIncrease)), (V{0, 5}));
  EXPECT_EQ(level({at(0, {1}), at(5, {1}), at(5, {2}), at(104, {2}), at(104, {3})}, si), 2);
  EXPECT_EQ(level({at(0, {1}), at(5, {1}), at(5, {2}), at(104, {2}), at(105, {3})}, si), 3);
}

TEST(WindowFunnel, CombinedModes) {
  const auto all = params(100, 3, kFunnelStrictOrder | kFunnelStrictDeduplication | kFunnelStrictIncrease);
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(3, {3})}, all), 3);
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(2, {3})}, all), 2);
  EXPECT_EQ(level({at(1, {1}), at(2, {}), at(3, {2})}, all), 1);
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(3, {2})}, all), 2);
}

TEST(WindowFunnel, SingleStep) {
  EXPECT_EQ(level({at(7, {1})}, params(0, 1)), 1);
  EXPECT_EQ(level({at(6, {}), at(7, {1})}, params(0, 1, kFunnelStrictOrder)), 1);
  EXPECT_EQ(chain({at(9, {1}), at(7, {1})}, params(0, 1)), (V{7}));
}

TEST(WindowFunnel, ThirtyTwoSteps) {
  std::vector<FunnelEvent> ev;
  for (int s = 1; s <= 32; ++s) ev.push_back(at(s, {s}));
  EXPECT_EQ(level(ev, params(31, 32)), 32);
  EXPECT_EQ(level(ev, params(30, 32)), 31);
  EXPECT_EQ(chain(ev, params(31, 32)).back(), 32);
}

TEST(WindowFunnel, ExtremeTimestampsDoNotOverflow) {
  const int64_t lo = -211813488000000000LL;      // Postgres' earliest timestamp
  const int64_t hi = 9223371331200000000LL - 1;  // and its latest: hi - lo exceeds INT64_MAX
  const int64_t max = std::numeric_limits<int64_t>::max();
  FunnelParams p;
  p.nsteps = 2;
  p.window = max;
  std::vector<FunnelEvent> ev = {{lo, 1u}, {hi, 2u}};
  EXPECT_EQ(evaluate_funnel(ev.data(), ev.size(), p).level, 1);  // no wrap-around
  ev = {{lo, 1u}, {lo + max, 2u}};
  EXPECT_EQ(evaluate_funnel(ev.data(), ev.size(), p).level, 2);  // exactly the window
  p.window = max - 1;
  EXPECT_EQ(evaluate_funnel(ev.data(), ev.size(), p).level, 1);
  p.modes = kFunnelUnordered;
  ev = {{lo, 1u}, {hi, 2u}};
  EXPECT_EQ(evaluate_funnel(ev.data(), ev.size(), p).level, 1);
}

TEST(WindowFunnel, StepBitsBeyondStepCountAreIgnored) {
  std::vector<FunnelEvent> ev = {at(1, {1}), at(2, {3}), at(3, {2})};
  EXPECT_EQ(level(ev, params(10, 2)), 2);
}

TEST(WindowFunnel, Unordered) {
  const auto un = params(100, 3, kFunnelUnordered);
  EXPECT_EQ(level({at(0, {3}), at(1, {1}), at(2, {2})}, un), 3);
  EXPECT_EQ(chain({at(0, {3}), at(1, {1}), at(2, {2})}, un), (V{0, 1, 2}));
  EXPECT_EQ(level({at(0, {2}), at(1, {2}), at(2, {2})}, un), 1);
  EXPECT_EQ(level({}, un), 0);
  // Window 1: two steps at most; the window that gets there first counts.
  EXPECT_EQ(chain({at(0, {3}), at(1, {1}), at(2, {2})}, params(1, 3, kFunnelUnordered)), (V{0, 1}));
  // Inclusive, from any step event.
  EXPECT_EQ(level({at(0, {1}), at(50, {2}), at(150, {3})}, params(100, 3, kFunnelUnordered)), 2);
  EXPECT_EQ(chain({at(0, {1}), at(50, {2}), at(150, {3})}, params(100, 3, kFunnelUnordered)), (V{0, 50}));
  EXPECT_EQ(level({at(0, {1}), at(50, {2}), at(150, {3})}, params(150, 3, kFunnelUnordered)), 3);
  // Completion first, then the latest start: starts at 10 and 20 both finish at 30.
  EXPECT_EQ(chain({at(10, {1}), at(20, {1}), at(30, {2})}, params(100, 2, kFunnelUnordered)), (V{20, 30}));
  // A row matching several steps reaches them at once.
  EXPECT_EQ(chain({at(5, {1, 3}), at(6, {2})}, un), (V{5, 5, 6}));
  // Later windows can be better.
  EXPECT_EQ(chain({at(0, {1}), at(200, {2}), at(201, {3}), at(202, {1})}, un), (V{200, 201, 202}));
}

// strict_sequence (PostHog's strict funnel): a chain is a run of consecutive rows; any row in
// between (no step, or a repeated earlier step) ends it; a later step-1 row starts over.
TEST(WindowFunnel, StrictSequence) {
  const FunnelParams sq = params(3600, 3, kFunnelStrictSequence);
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(3, {3})}, sq), 3);
  // a, x, b, c: x ends the chain -> 1
  EXPECT_EQ(level({at(1, {1}), at(2, {}), at(3, {2}), at(4, {3})}, sq), 1);
  // a, b, a, c: the repeated step 1 ends a -> b; the new a is followed by c, not b -> 2
  EXPECT_EQ(chain({at(1, {1}), at(2, {2}), at(3, {1}), at(4, {3})}, sq), (V{1, 2}));
  // a, b, b, c: the repeated step 2 ends the chain -> 2
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(3, {2}), at(4, {3})}, sq), 2);
  // a, x, a, b, c: unlike strict_order, a later step 1 starts a new chain -> 3
  EXPECT_EQ(chain({at(1, {1}), at(2, {}), at(3, {1}), at(4, {2}), at(5, {3})}, sq), (V{3, 4, 5}));
  EXPECT_EQ(level({at(1, {1}), at(2, {}), at(3, {1}), at(4, {2}), at(5, {3})}, params(3600, 3, kFunnelStrictOrder)), 1);
  // a, a, b, c: the chain starts at the second a -> 3 (the first to reach 3)
  EXPECT_EQ(chain({at(1, {1}), at(2, {1}), at(3, {2}), at(4, {3})}, sq), (V{2, 3, 4}));
  // 4 steps a, b, c, d with a repeated after c: a, b, c, a, d -> 3
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(3, {3}), at(4, {1}), at(5, {4})}, params(3600, 4, kFunnelStrictSequence)),
            3);
  // c, b, a: out of order -> 1
  EXPECT_EQ(level({at(1, {3}), at(2, {2}), at(3, {1})}, sq), 1);
  // the window is inclusive from the chain's first row
  EXPECT_EQ(level({at(0, {1}), at(5, {2}), at(10, {3})}, params(10, 3, kFunnelStrictSequence)), 3);
  EXPECT_EQ(level({at(0, {1}), at(5, {2}), at(11, {3})}, params(10, 3, kFunnelStrictSequence)), 2);
  // a row matching steps 1 and 2 fills one step of a chain: pageview -> pageview
  const FunnelParams twice = params(3600, 2, kFunnelStrictSequence);
  EXPECT_EQ(level({at(1, {1, 2})}, twice), 1);
  EXPECT_EQ(chain({at(1, {1, 2}), at(2, {1, 2})}, twice), (V{1, 2}));
  // one instant: rows matching no step first, then by lowest step
  EXPECT_EQ(level({at(1, {1}), at(2, {2}), at(2, {})}, params(3600, 2, kFunnelStrictSequence)), 1);
  EXPECT_EQ(level({at(1, {2}), at(1, {1})}, params(3600, 2, kFunnelStrictSequence)), 2);
}

// strict_once (ClickHouse): a row fills at most one step of a chain.
TEST(WindowFunnel, StrictOnce) {
  const uint32_t once = kFunnelStrictOnce;
  // ClickHouse's test: one row matching all three conditions -> 1 (3 without strict_once)
  EXPECT_EQ(level({at(2, {1, 2, 3})}, params(10000, 3, once)), 1);
  EXPECT_EQ(level({at(2, {1, 2, 3})}, params(10000, 3)), 3);
  // two rows at one instant, masks {1,2} and {2,3}: steps 1, 2 from different rows -> 2;
  // a third row {3} -> 3
  EXPECT_EQ(level({at(1, {1, 2}), at(1, {2, 3})}, params(100, 3, once)), 2);
  EXPECT_EQ(level({at(1, {1, 2}), at(1, {2, 3}), at(1, {3})}, params(100, 3, once)), 3);
  // rows {1,2} and {1}: row {1} takes step 1, row {1,2} step 2 -> 2
  EXPECT_EQ(level({at(1, {1, 2}), at(1, {1})}, params(100, 2, once)), 2);
  // a chain from before the instant extends with the single row: a@0, then {1,2}@5 -> 2
  EXPECT_EQ(chain({at(0, {1}), at(5, {1, 2})}, params(100, 2, once)), (V{0, 5}));
  // ... unless the window from the old start is exceeded: the row alone reaches 1
  EXPECT_EQ(level({at(0, {1}), at(5, {1, 2})}, params(4, 2, once)), 1);
  // 'start', 'a', 'b', 'a', 'end' with conditions start, a, b|a... rows of different
  // instants are always different rows: start@1, {2,3}@2, {2,3}@3 -> 3 with strict_once
  EXPECT_EQ(level({at(1, {1}), at(2, {2, 3}), at(3, {2, 3})}, params(100, 3, once)), 3);
  EXPECT_EQ(level({at(1, {1}), at(2, {2, 3})}, params(100, 3, once)), 2);
  // combined with strict_increase and strict_order
  EXPECT_EQ(level({at(1, {1}), at(2, {2, 3}), at(3, {3})}, params(100, 3, once | kFunnelStrictIncrease)), 3);
  EXPECT_EQ(level({at(1, {1}), at(2, {}), at(3, {2})}, params(100, 2, once | kFunnelStrictOrder)), 1);
}

// A brute force for strict_once: the longest chain of distinct rows in time order (ties in
// step order) within the window.
int brute_force_once(std::vector<FunnelEvent> ev, const FunnelParams& p) {
  int best = 0;
  std::vector<char> used(ev.size());
  auto grow = [&](auto&& self, int step, int64_t start, int64_t last) -> void {
    best = std::max(best, step);
    if (step == p.nsteps) return;
    for (size_t k = 0; k < ev.size(); ++k) {
      if (used[k] || !(ev[k].steps >> step & 1u) || ev[k].ts < last || ev[k].ts - start > p.window) continue;
      used[k] = 1;
      self(self, step + 1, start, ev[k].ts);
      used[k] = 0;
    }
  };
  for (size_t k = 0; k < ev.size(); ++k) {
    if (!(ev[k].steps & 1u)) continue;
    used[k] = 1;
    grow(grow, 1, ev[k].ts, ev[k].ts);
    used[k] = 0;
  }
  return best;
}

// Random cases: up to max_rows rows at 0..max_ts - 1 matching random step sets, 1 to 4 steps,
// a window of 0..max_ts - 1; the mode's answer must equal a brute force's.
void check_against(uint32_t modes, unsigned seed, int max_rows, int max_ts,
                   int (*brute_force)(std::vector<FunnelEvent>, const FunnelParams&)) {
  std::mt19937 rng(seed);
  for (int iter = 0; iter < 3000; ++iter) {
    FunnelParams p;
    p.nsteps = 1 + int(rng() % 4);
    p.modes = modes;
    std::vector<FunnelEvent> ev;
    for (int k = int(rng() % unsigned(max_rows + 1)); k > 0; --k)
      ev.push_back(FunnelEvent{int64_t(rng() % unsigned(max_ts)), uint32_t(rng() % (1u << p.nsteps))});
    p.window = int64_t(rng() % unsigned(max_ts));
    std::vector<FunnelEvent> copy = ev;
    FunnelResult r = evaluate_funnel(copy.data(), copy.size(), p);
    ASSERT_EQ(r.level, brute_force(ev, p)) << "modes " << modes << " iter " << iter;
    if (r.level > 0) {
      ASSERT_LE(r.ts[r.level - 1] - r.ts[0], p.window);
    }
  }
}

TEST(WindowFunnel, StrictOnceIsTheLongestChainOfDistinctRows) {
  check_against(kFunnelStrictOnce, 5, 7, 4, brute_force_once);
}

// A brute force for strict_sequence: the longest run of consecutive rows (in the documented
// order of one instant) matching steps 1, 2, ... within the window.
int brute_force_sequence(std::vector<FunnelEvent> ev, const FunnelParams& p) {
  const uint32_t valid = p.nsteps >= 32 ? ~0u : (1u << p.nsteps) - 1;
  std::sort(ev.begin(), ev.end(), [&](const FunnelEvent& a, const FunnelEvent& b) {
    const uint32_t ma = a.steps & valid, mb = b.steps & valid;
    const int ra = ma ? __builtin_ctz(ma) + 1 : 0, rb = mb ? __builtin_ctz(mb) + 1 : 0;
    return a.ts != b.ts ? a.ts < b.ts : (ra != rb ? ra < rb : ma < mb);
  });
  int best = 0;
  for (size_t k = 0; k < ev.size(); ++k) {
    int step = 0;
    while (k + size_t(step) < ev.size() && step < p.nsteps && (ev[k + size_t(step)].steps >> step & 1u) &&
           ev[k + size_t(step)].ts - ev[k].ts <= p.window)
      ++step;
    best = std::max(best, step);
  }
  return best;
}

TEST(WindowFunnel, StrictSequenceIsTheLongestRunOfConsecutiveRows) {
  check_against(kFunnelStrictSequence, 9, 9, 6, brute_force_sequence);
}

// allow_reentry (ClickHouse, with strict_order): a step out of order is skipped instead of
// ending the evaluation; rows matching no step still end it.
TEST(WindowFunnel, AllowReentry) {
  const uint32_t so = kFunnelStrictOrder;
  const uint32_t re = kFunnelStrictOrder | kFunnelAllowReentry;
  // a, c, b, c: strict_order stops at the first c -> 1; allow_reentry skips it -> 3
  std::vector<FunnelEvent> acbc = {at(1, {1}), at(2, {3}), at(3, {2}), at(4, {3})};
  EXPECT_EQ(level(acbc, params(100, 3, so)), 1);
  EXPECT_EQ(level(acbc, params(100, 3, re)), 3);
  // ClickHouse's doc example a, a, b, c -> 3 (both modes)
  std::vector<FunnelEvent> aabc = {at(1, {1}), at(2, {1}), at(3, {2}), at(4, {3})};
  EXPECT_EQ(level(aabc, params(100, 3, so)), 3);
  EXPECT_EQ(level(aabc, params(100, 3, re)), 3);
  // a, d, b, c (d matches no step): still stops at d -> 1
  EXPECT_EQ(level({at(1, {1}), at(2, {}), at(3, {2}), at(4, {3})}, params(100, 3, re)), 1);
}

TEST(WindowFunnel, ModeNames) {
  EXPECT_EQ(funnel_mode_bit("strict_order"), kFunnelStrictOrder);
  EXPECT_EQ(funnel_mode_bit("strict_deduplication"), kFunnelStrictDeduplication);
  EXPECT_EQ(funnel_mode_bit("strict_increase"), kFunnelStrictIncrease);
  EXPECT_EQ(funnel_mode_bit("unordered"), kFunnelUnordered);
  EXPECT_EQ(funnel_mode_bit("strict"), 0u);
  EXPECT_EQ(funnel_mode_bit("Strict_Order"), 0u);
  EXPECT_EQ(funnel_mode_bit(""), 0u);
  EXPECT_TRUE(funnel_modes_problem(kFunnelStrictOrder | kFunnelStrictIncrease).empty());
  EXPECT_TRUE(funnel_modes_problem(kFunnelUnordered).empty());
  EXPECT_FALSE(funnel_modes_problem(kFunnelUnordered | kFunnelStrictOrder).empty());
  EXPECT_EQ(funnel_mode_bit("strict_once"), kFunnelStrictOnce);
  EXPECT_EQ(funnel_mode_bit("allow_reentry"), kFunnelAllowReentry);
  EXPECT_EQ(funnel_mode_bit("strict_sequence"), kFunnelStrictSequence);
  EXPECT_EQ(funnel_modes_problem(kFunnelAllowReentry), "mode allow_reentry needs strict_order");
  EXPECT_TRUE(funnel_modes_problem(kFunnelAllowReentry | kFunnelStrictOrder | kFunnelStrictOnce).empty());
  EXPECT_FALSE(funnel_modes_problem(kFunnelStrictSequence | kFunnelStrictIncrease).empty());
  for (uint32_t m = 0; m <= kFunnelAllModes; ++m) {
    EXPECT_EQ(funnel_modes_valid(m), funnel_modes_problem(m).empty()) << m;
  }
}

// Windows: days are 24 hours, a negative day part may be made up by the time part (the
// interval '1 day -1 hour' is 23 hours), months and negative totals are refused, and so is a
// window beyond int64 microseconds. Both plans of pulse.funnel use this one check.
TEST(WindowFunnel, Windows) {
  const int64_t hour = int64_t(3600) * 1000000;
  int64_t w = -1;
  EXPECT_EQ(funnel_window(0, 1, -hour, &w), FunnelWindowProblem::kNone);
  EXPECT_EQ(w, 23 * hour);
  EXPECT_EQ(funnel_window(0, -1, 25 * hour, &w), FunnelWindowProblem::kNone);
  EXPECT_EQ(w, hour);
  EXPECT_EQ(funnel_window(0, 0, 0, &w), FunnelWindowProblem::kNone);
  EXPECT_EQ(w, 0);
  EXPECT_EQ(funnel_window(1, 0, 0, &w), FunnelWindowProblem::kMonths);
  EXPECT_EQ(funnel_window(-12, 400, 0, &w), FunnelWindowProblem::kMonths);
  EXPECT_EQ(funnel_window(0, 0, -1, &w), FunnelWindowProblem::kNegative);
  EXPECT_EQ(funnel_window(0, 1, -25 * hour, &w), FunnelWindowProblem::kNegative);
  EXPECT_EQ(funnel_window(0, 2147483647, 0, &w), FunnelWindowProblem::kTooLong);
  EXPECT_EQ(funnel_window(0, -2147483647, 0, &w), FunnelWindowProblem::kNegative);
  EXPECT_EQ(funnel_window_message(FunnelWindowProblem::kMonths, "conversion_window"),
            "conversion_window must not have a month or year part");
  EXPECT_EQ(funnel_window_message(FunnelWindowProblem::kNone, "conversion_window"), "");
}

// The result depends only on the multiset of events: any order, any split into partial
// states that are serialised and concatenated (what parallel aggregation does).
TEST(WindowFunnel, OrderAndSplitIndependent) {
  std::mt19937 rng(42);
  const uint32_t modes_list[] = {0,
                                 kFunnelStrictOrder,
                                 kFunnelStrictDeduplication,
                                 kFunnelStrictIncrease,
                                 kFunnelStrictOrder | kFunnelStrictDeduplication | kFunnelStrictIncrease,
                                 kFunnelUnordered,
                                 kFunnelStrictOnce,
                                 kFunnelStrictOnce | kFunnelStrictOrder | kFunnelStrictDeduplication,
                                 kFunnelStrictOrder | kFunnelAllowReentry,
                                 kFunnelStrictSequence};
  for (int iter = 0; iter < 300; ++iter) {
    int nsteps = 1 + int(rng() % 4);
    std::vector<FunnelEvent> ev;
    int n = int(rng() % 12);
    for (int k = 0; k < n; ++k) ev.push_back(FunnelEvent{int64_t(rng() % 8) * kSec, uint32_t(rng() % (1u << nsteps))});
    for (uint32_t modes : modes_list) {
      FunnelParams p = params(int64_t(rng() % 5), nsteps, modes);
      std::vector<FunnelEvent> base = ev;
      FunnelResult want = evaluate_funnel(base.data(), base.size(), p);
      std::vector<FunnelEvent> shuffled = ev;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      size_t cut = shuffled.empty() ? 0 : rng() % (shuffled.size() + 1);
      std::vector<uint8_t> a(funnel_state_bytes(cut)), b(funnel_state_bytes(shuffled.size() - cut));
      write_funnel_state(p, shuffled.data(), cut, a.data());
      write_funnel_state(p, shuffled.data() + cut, shuffled.size() - cut, b.data());
      size_t na = 0, nb = 0;
      FunnelParams pa = read_funnel_state_header(a.data(), a.size(), &na);
      FunnelParams pb = read_funnel_state_header(b.data(), b.size(), &nb);
      ASSERT_EQ(pa, p);
      ASSERT_EQ(pb, p);
      std::vector<FunnelEvent> merged(na + nb);
      read_funnel_state_events(a.data(), na, merged.data());
      read_funnel_state_events(b.data(), nb, merged.data() + na);
      FunnelResult got = evaluate_funnel(merged.data(), merged.size(), p);
      ASSERT_EQ(got.level, want.level) << "iter " << iter << " modes " << modes;
      for (int k = 0; k < want.level; ++k) ASSERT_EQ(got.ts[k], want.ts[k]) << "iter " << iter << " step " << k;
    }
  }
}

// A brute-force longest chain for the default mode: the most steps s1 < s2 < ... matched by
// events in time order (ties in step order; strictly later with strict_increase) with
// last - first <= window.
int brute_force_level(const std::vector<FunnelEvent>& ev, const FunnelParams& p) {
  const bool increase = p.modes & kFunnelStrictIncrease;
  int best = 0;
  for (const auto& start : ev) {
    if (!(start.steps & 1u)) continue;
    int reached = 1;
    int64_t last = start.ts;
    for (int s = 1; s < p.nsteps; ++s) {
      bool found = false;
      int64_t when = 0;
      for (const auto& e : ev) {
        if ((e.steps >> s & 1u) && (increase ? e.ts > last : e.ts >= last) && e.ts - start.ts <= p.window &&
            (!found || e.ts < when)) {
          found = true;
          when = e.ts;
        }
      }
      if (!found) break;
      last = when;
      reached++;
    }
    best = std::max(best, reached);
  }
  return best;
}

TEST(WindowFunnel, DefaultModeIsTheLongestChain) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 2000; ++iter) {
    int nsteps = 1 + int(rng() % 5);
    std::vector<FunnelEvent> ev;
    int n = int(rng() % 10);
    for (int k = 0; k < n; ++k) ev.push_back(FunnelEvent{int64_t(rng() % 10), 1u << (rng() % nsteps)});
    FunnelParams p;
    p.nsteps = nsteps;
    p.window = int64_t(rng() % 6);
    std::vector<FunnelEvent> copy = ev;
    ASSERT_EQ(evaluate_funnel(copy.data(), copy.size(), p).level, brute_force_level(ev, p)) << "iter " << iter;
    p.modes = kFunnelStrictIncrease;
    copy = ev;
    ASSERT_EQ(evaluate_funnel(copy.data(), copy.size(), p).level, brute_force_level(ev, p))
        << "increase, iter " << iter;
  }
}

// Unordered, brute force: the most distinct steps in [T, T + window] over step-event times T.
TEST(WindowFunnel, UnorderedIsTheMostDistinctStepsInAWindow) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 2000; ++iter) {
    int nsteps = 1 + int(rng() % 5);
    std::vector<FunnelEvent> ev;
    int n = int(rng() % 10);
    for (int k = 0; k < n; ++k) ev.push_back(FunnelEvent{int64_t(rng() % 10), uint32_t(rng() % (1u << nsteps))});
    FunnelParams p;
    p.nsteps = nsteps;
    p.window = int64_t(rng() % 6);
    p.modes = kFunnelUnordered;
    int want = 0;
    for (const auto& start : ev) {
      if (!start.steps) continue;
      uint32_t seen = 0;
      for (const auto& e : ev) {
        if (e.ts >= start.ts && e.ts - start.ts <= p.window) seen |= e.steps;
      }
      want = std::max(want, __builtin_popcount(seen));
    }
    std::vector<FunnelEvent> copy = ev;
    FunnelResult r = evaluate_funnel(copy.data(), copy.size(), p);
    ASSERT_EQ(r.level, want) << "iter " << iter;
    if (r.level > 0) {
      ASSERT_LE(r.ts[r.level - 1] - r.ts[0], p.window);
    }
    for (int k = 1; k < r.level; ++k) {
      ASSERT_LE(r.ts[k - 1], r.ts[k]);
    }
  }
}

TEST(FunnelState, RoundTripAndValidation) {
  FunnelParams p = params(3600, 3, kFunnelStrictOrder | kFunnelStrictIncrease);
  std::vector<FunnelEvent> ev = {at(-5, {1}), at(1, {}), {INT64_C(1) << 60, 4u}};
  std::vector<uint8_t> buf(funnel_state_bytes(ev.size()));
  write_funnel_state(p, ev.data(), ev.size(), buf.data());
  EXPECT_EQ(buf[0], kFunnelStateVersion);
  EXPECT_EQ(buf.size(), kFunnelStateHeaderBytes + 3 * kFunnelStateEventBytes);
  size_t n = 0;
  EXPECT_EQ(read_funnel_state_header(buf.data(), buf.size(), &n), p);
  ASSERT_EQ(n, 3u);
  std::vector<FunnelEvent> back(n);
  read_funnel_state_events(buf.data(), n, back.data());
  for (size_t k = 0; k < n; ++k) {
    EXPECT_EQ(back[k].ts, ev[k].ts);
    EXPECT_EQ(back[k].steps, ev[k].steps);
  }
  auto state_of = [&](const std::vector<uint8_t>& b) {
    try {
      size_t c = 0;
      read_funnel_state_header(b.data(), b.size(), &c);
      return std::string("ok");
    } catch (const Error& e) {
      return e.sqlstate + ": " + e.what();
    }
  };
  std::vector<uint8_t> bad = buf;
  bad[0] = 2;
  EXPECT_EQ(state_of(bad), "22P03: unsupported window_funnel state version 2");
  bad = buf;
  bad.pop_back();
  EXPECT_EQ(state_of(bad), "22P03: invalid window_funnel state: length does not match its event count");
  bad = buf;
  bad[1] = 33;
  EXPECT_EQ(state_of(bad), "22P03: invalid window_funnel state: bad parameters");
  EXPECT_EQ(state_of(std::vector<uint8_t>(buf.begin(), buf.begin() + 5)),
            "22P03: invalid window_funnel state: truncated header");
  EXPECT_EQ(state_of(std::vector<uint8_t>{}), "22P03: invalid window_funnel state: empty");
  // A count so large that count * 12 would wrap.
  bad = buf;
  for (int k = 14; k < 22; ++k) bad[size_t(k)] = 0xFF;
  EXPECT_EQ(state_of(bad), "22P03: invalid window_funnel state: length does not match its event count");
}

std::vector<int32_t> flags(const RetentionState& s) {
  std::vector<int32_t> out(size_t(s.n));
  retention_flags(s, out.data());
  return out;
}

TEST(Retention, ClickHouseSemantics) {
  // result[0] = c1 held; result[i] = c1 held and c(i+1) held, on any rows.
  EXPECT_EQ(flags({3, 0b111}), (std::vector<int32_t>{1, 1, 1}));
  EXPECT_EQ(flags({3, 0b101}), (std::vector<int32_t>{1, 0, 1}));
  EXPECT_EQ(flags({3, 0b110}), (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(flags({1, 0b1}), (std::vector<int32_t>{1}));
  EXPECT_EQ(flags({32, 0xFFFFFFFFu}), std::vector<int32_t>(32, 1));
}

TEST(Retention, PackCombine) {
  RetentionState a{3, 0b001}, b{3, 0b100}, empty;
  EXPECT_EQ(pack_retention_state(empty) >> 40, kRetentionStateVersion);
  EXPECT_EQ(unpack_retention_state(0).n, 0);
  RetentionState back = unpack_retention_state(pack_retention_state(a));
  EXPECT_EQ(back.n, 3);
  EXPECT_EQ(back.mask, 0b001u);
  RetentionState c = combine_retention(a, b);
  EXPECT_EQ(c.n, 3);
  EXPECT_EQ(c.mask, 0b101u);
  EXPECT_EQ(a.mask, 0b001u);  // inputs untouched
  EXPECT_EQ(b.mask, 0b100u);
  EXPECT_EQ(combine_retention(empty, b).mask, 0b100u);
  EXPECT_EQ(combine_retention(a, empty).mask, 0b001u);
  EXPECT_THROW(combine_retention(a, RetentionState{2, 1}), Error);
  RetentionState full{32, 0xFFFFFFFFu};
  EXPECT_EQ(unpack_retention_state(pack_retention_state(full)).mask, 0xFFFFFFFFu);
  EXPECT_THROW(unpack_retention_state(int64_t(2) << 40), Error);
  EXPECT_THROW(unpack_retention_state((int64_t(1) << 40) | (int64_t(33) << 32)), Error);
  EXPECT_THROW(unpack_retention_state((int64_t(1) << 40) | (int64_t(2) << 32) | 4), Error);
}

}  // namespace
}  // namespace pulse
