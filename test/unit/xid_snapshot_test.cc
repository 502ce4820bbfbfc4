// Unit tests of src/core/xid_snapshot.cc: which writers two snapshots see alike, against a
// reference written here from the definition (a writer is seen alike when it had ended before
// both snapshots or before neither), on hand-made snapshots and random ones, around the
// wrap-around of transaction ids too.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "core/xid_snapshot.h"

namespace pulse {
namespace {

XidSnapshot snap(uint32_t xmin, uint32_t xmax, std::vector<uint32_t> running) {
  XidSnapshot s;
  s.xmin = xmin;
  s.xmax = xmax;
  s.set_running(running.data(), running.size());
  return s;
}

bool same(const XidSnapshot& a, const XidSnapshot& b, const std::vector<uint32_t>& w) {
  return sees_same_writes(a, b, WriterLog{w.data(), w.size(), false, 0});
}

TEST(XidSnapshot, Ended) {
  const XidSnapshot s = snap(100, 110, {100, 104, 107});
  EXPECT_TRUE(s.ended(99));
  EXPECT_FALSE(s.ended(100));
  EXPECT_TRUE(s.ended(101));
  EXPECT_FALSE(s.ended(104));
  EXPECT_TRUE(s.ended(109));
  EXPECT_FALSE(s.ended(110));
  EXPECT_FALSE(s.ended(500));
}

TEST(XidSnapshot, Writers) {
  const XidSnapshot early = snap(100, 105, {100, 103});
  const XidSnapshot later = snap(103, 108, {103, 106});
  EXPECT_TRUE(same(early, later, {}));
  EXPECT_TRUE(same(early, later, {90, 101, 102}));  // ended before both
  EXPECT_TRUE(same(early, later, {103, 110}));      // in progress in both, started after both
  EXPECT_FALSE(same(early, later, {100}));          // in progress, then ended
  EXPECT_FALSE(same(early, later, {105}));          // started after the first, ended before the second
  EXPECT_TRUE(same(early, later, {106}));           // in progress in the second
  // either order: an older snapshot (a cursor's) against a cache made under a later one
  EXPECT_FALSE(same(later, early, {100}));
  EXPECT_TRUE(same(early, early, {100, 103, 105}));
}

TEST(XidSnapshot, DroppedWriters) {
  const XidSnapshot a = snap(100, 105, {100});
  const XidSnapshot b = snap(101, 106, {});
  const std::vector<uint32_t> none;
  EXPECT_TRUE(sees_same_writes(a, b, WriterLog{none.data(), 0, true, 99}));
  // a dropped writer that may still run (or have ended between the snapshots): not known
  EXPECT_FALSE(sees_same_writes(a, b, WriterLog{none.data(), 0, true, 100}));
  EXPECT_FALSE(sees_same_writes(a, b, WriterLog{none.data(), 0, true, 103}));
}

TEST(XidSnapshot, FarApartOrWrapped) {
  EXPECT_FALSE(same(snap(100, 101, {}), snap(100 + (1u << 28), 101 + (1u << 28), {}), {}));
  // around the wrap-around: 0xfffffff0 precedes 5
  const XidSnapshot a = snap(0xfffffff0u, 0xfffffffau, {0xfffffff2u});
  const XidSnapshot b = snap(0xfffffff8u, 5, {3});
  EXPECT_TRUE(a.ended(0xffffffe0u));
  EXPECT_FALSE(a.ended(2));
  EXPECT_TRUE(b.ended(0xfffffff2u));
  EXPECT_TRUE(b.ended(1));
  EXPECT_FALSE(b.ended(3));
  EXPECT_FALSE(same(a, b, {0xfffffff2u}));
  EXPECT_TRUE(same(a, b, {0xffffffe0u, 3, 7}));
  EXPECT_FALSE(same(a, b, {1}));
}

// Random snapshots of one history: transactions start in id order and end at random times.
TEST(XidSnapshot, RandomHistories) {
  std::mt19937 rnd(7);
  for (int round = 0; round < 300; ++round) {
    const uint32_t base = rnd();  // anywhere, wrap-around included
    const int n = 60;
    std::vector<int> end_time(n);  // transaction k starts at time k, ends at end_time[k]
    for (int k = 0; k < n; ++k) end_time[k] = k + 1 + int(rnd() % 40);
    auto take = [&](int t) {
      // the snapshot at time t: transactions 0..t-1 started; those not ended are running
      XidSnapshot s;
      std::vector<uint32_t> running;
      int first_running = t;
      for (int k = 0; k < t && k < n; ++k)
        if (end_time[k] > t) {
          running.push_back(base + uint32_t(k));
          first_running = std::min(first_running, k);
        }
      s.xmin = base + uint32_t(first_running);
      s.xmax = base + uint32_t(std::min(t, n));
      s.set_running(running.data(), running.size());
      return s;
    };
    const int ta = int(rnd() % 70), tb = int(rnd() % 70);
    const XidSnapshot a = take(ta), b = take(tb);
    std::vector<uint32_t> writers;
    for (int k = 0; k < n; ++k)
      if (rnd() % 5 == 0) writers.push_back(base + uint32_t(k));
    bool expected = true;
    for (uint32_t w : writers) {
      const int k = int(w - base);
      const bool ended_a = end_time[k] <= ta, ended_b = end_time[k] <= tb;
      EXPECT_EQ(a.ended(w), ended_a) << round;
      if (ended_a != ended_b) expected = false;
    }
    EXPECT_EQ(same(a, b, writers), expected) << round;
  }
}

}  // namespace
}  // namespace pulse
