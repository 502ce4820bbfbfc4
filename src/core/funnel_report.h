// The whole-population funnel of pulse.funnel in one pass: every event of the funnel's
// collections is added with its actor id (core/actor_ids.h), and finish() groups them by actor
// (a counting sort), evaluates each actor's chain with evaluate_funnel, drops actors caught by
// an exclusion, and reduces the chains to per-step figures. Replaces a Postgres GROUP BY _user
// with one aggregate state per actor.
#pragma once
#include "core/no_postgres.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/funnel.h"
#include "core/huge_array.h"

namespace pulse {

// An exclusion of pulse.funnel: an excluded event strictly between the counted chain's steps
// from_step and to_step (1-based, from_step < to_step) removes the actor from every step.
struct FunnelExclusion {
  int from_step;
  int to_step;
};

// One step of the report. The time from the previous step (steps >= 2) is kept the way
// Postgres sums `timestamptz - timestamptz` intervals (justified: whole days, then the
// microseconds within the day), so the caller can rebuild avg() and percentile_cont(0.5)
// of those intervals exactly.
struct FunnelStepReport {
  int64_t users = 0;
  int64_t sum_days = 0;
  int64_t sum_usecs = 0;
  // The durations (microseconds) at positions floor and ceil of (users - 1) / 2 in sorted
  // order: percentile_cont(0.5) interpolates between them. Meaningless when users == 0.
  int64_t median_lo = 0;
  int64_t median_hi = 0;
};

// With a breakdown (ordered and strict funnels), an event of step 1 may carry a value (a
// number the caller gives each distinct value), and an actor is reported under the smallest
// value (value_less, the caller's order) of its step-1 events at the instant its counted chain
// starts; an actor without one under no value (NULL). That is the general plan's
// `min(value)` over those events.
class FunnelReport {
 public:
  // Throws pulse::Error: 22023 for an exclusion outside 1 <= from_step < to_step <= nsteps,
  // 54000 for more than 32 exclusions. value_less: the order of breakdown values, for a
  // breakdown; empty without.
  FunnelReport(const FunnelParams& params, std::vector<FunnelExclusion> exclusions,
               std::function<bool(uint32_t, uint32_t)> value_less = {});

  // One event: the steps it matches (bit k = step k + 1) and the exclusions it matches (bit j
  // = exclusion j + 1). Events matching nothing are only kept in strict_order mode. value: its
  // breakdown value's number + 1, 0 for none.
  void add(uint32_t actor, int64_t ts, uint32_t steps, uint32_t exclusions, uint32_t value = 0) {
    if (exclusions) add_exclusion(actor, ts, exclusions);
    if (!funnel_keeps(steps, params_.modes)) return;
    if (actor >= per_actor_.size())
      per_actor_.resize(std::max({size_t(actor) + 1, per_actor_.size() * 2, size_t(4096)}));
    per_actor_[actor]++;
    if (last_fill_ == kChunk) {
      chunks_.emplace_back(kChunk);
      if (value_less_) value_chunks_.emplace_back(kChunk);
      last_fill_ = 0;
    }
    if (value_less_) value_chunks_.back()[last_fill_] = value;
    chunks_.back()[last_fill_++] = Logged{ts, actor, steps};
    events_++;
  }
  size_t events() const { return events_; }
  // Starts fetching what add(actor, ...) touches.
  void prefetch(uint32_t actor) const {
    if (actor < per_actor_.size()) __builtin_prefetch(&per_actor_[actor], 1);
  }

  // params.nsteps figures; consumes the events (call once). tick is called every few thousand
  // actors and may throw. With a breakdown, values groups and the group of no value after
  // them (values: the number of distinct values given, all below it), nsteps figures each.
  std::vector<FunnelStepReport> finish(FunnelTick tick = nullptr, size_t values = 0);

 private:
  void add_exclusion(uint32_t actor, int64_t ts, uint32_t exclusions);

  FunnelParams params_;
  std::vector<FunnelExclusion> exclusions_;
  std::function<bool(uint32_t, uint32_t)> value_less_;
  struct Logged {
    int64_t ts;
    uint32_t actor;
    uint32_t steps;
  };
  static constexpr size_t kChunk = (size_t(2) << 20) / sizeof(Logged);  // one huge page

  HugeArray<uint32_t> per_actor_;                  // events of each actor
  std::vector<HugeArray<Logged>> chunks_;          // the events in arrival order
  std::vector<HugeArray<uint32_t>> value_chunks_;  // with a breakdown: their values, alike
  size_t last_fill_ = kChunk;
  size_t events_ = 0;
  std::vector<uint32_t> x_actor_;  // excluded events: actor, time, exclusion bits
  std::vector<int64_t> x_ts_;
  std::vector<uint32_t> x_mask_;
};

}  // namespace pulse
