// The one-pass whole-population funnel (see funnel_report.h).
#include "core/funnel_report.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace pulse {
namespace {

constexpr size_t kTickEvery = 4096;

// percentile_cont(0.5) needs the values at floor and ceil of (n - 1) / 2 in sorted order.
void median_pair(std::vector<int64_t>& v, FunnelStepReport* r) {
  if (v.empty()) return;
  const size_t lo = (v.size() - 1) / 2;
  const size_t hi = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + lo, v.end());
  r->median_lo = v[lo];
  r->median_hi = hi == lo ? v[lo] : *std::min_element(v.begin() + lo + 1, v.end());
}

}  // namespace

FunnelReport::FunnelReport(const FunnelParams& params, std::vector<FunnelExclusion> exclusions,
                           std::function<bool(uint32_t, uint32_t)> value_less)
    : params_(params), exclusions_(std::move(exclusions)), value_less_(std::move(value_less)) {
  if (exclusions_.size() > 32)
    throw Error(sqlstate::kProgramLimit,
                "a funnel has at most 32 exclusions, got " + std::to_string(exclusions_.size()));
  for (const auto& x : exclusions_)
    if (x.from_step < 1 || x.to_step > params_.nsteps || x.from_step >= x.to_step)
      throw Error(sqlstate::kInvalidParameter,
                  "an exclusion needs steps 1 <= from_step < to_step <= " + std::to_string(params_.nsteps));
}

void FunnelReport::add_exclusion(uint32_t actor, int64_t ts, uint32_t exclusions) {
  x_actor_.push_back(actor);
  x_ts_.push_back(ts);
  x_mask_.push_back(exclusions);
}

std::vector<FunnelStepReport> FunnelReport::finish(FunnelTick tick, size_t values) {
  const int nsteps = params_.nsteps;
  const size_t groups = value_less_ ? values + 1 : 1;
  std::vector<FunnelStepReport> report(groups * static_cast<size_t>(nsteps));
  // Group the events by actor: one counting sort, then each actor's run is contiguous.
  const std::vector<size_t> start = counting_starts(per_actor_);
  HugeArray<FunnelEvent> grouped(events_);
  {
    std::vector<size_t> next(start.begin(), start.end() - 1);
    for (size_t c = 0; c < chunks_.size(); ++c) {
      const size_t n = c + 1 == chunks_.size() ? last_fill_ : kChunk;
      for (size_t i = 0; i < n; ++i) {
        const Logged& e = chunks_[c][i];
        grouped[next[e.actor]++] = FunnelEvent{e.ts, e.steps, value_less_ ? value_chunks_[c][i] : 0};
      }
    }
  }
  chunks_.clear();
  value_chunks_.clear();

  // Excluded events by actor (usually none): a sorted index.
  std::vector<size_t> x_order(x_actor_.size());
  for (size_t i = 0; i < x_order.size(); ++i) x_order[i] = i;
  std::sort(x_order.begin(), x_order.end(), [&](size_t a, size_t b) { return x_actor_[a] < x_actor_[b]; });
  size_t x_pos = 0;

  std::vector<std::vector<int64_t>> durations(report.size());
  for (size_t a = 0; a + 1 < start.size(); ++a) {
    if (tick && a % kTickEvery == 0) tick();
    const size_t n = start[a + 1] - start[a];
    while (x_pos < x_order.size() && x_actor_[x_order[x_pos]] < a) ++x_pos;
    if (n == 0) continue;
    const FunnelResult r = evaluate_funnel(grouped.data() + start[a], n, params_, nullptr);
    if (r.level == 0) continue;
    bool excluded = false;
    for (size_t x = x_pos; !excluded && x < x_order.size() && x_actor_[x_order[x]] == a; ++x) {
      const size_t e = x_order[x];
      for (size_t j = 0; j < exclusions_.size() && !excluded; ++j) {
        const FunnelExclusion& ex = exclusions_[j];
        excluded = (x_mask_[e] >> j & 1) && r.level >= ex.to_step && x_ts_[e] > r.ts[ex.from_step - 1] &&
                   x_ts_[e] < r.ts[ex.to_step - 1];
      }
    }
    if (excluded) continue;
    // the group: the smallest value of the step-1 events at the chain's start (the events are
    // sorted by time now), else the group of no value
    size_t group = 0;
    if (value_less_) {
      uint32_t best = 0;
      const FunnelEvent* ev = grouped.data() + start[a];
      for (size_t i = 0; i < n; ++i) {
        if (ev[i].ts != r.ts[0] || !(ev[i].steps & 1) || ev[i].tag == 0) continue;
        if (best == 0 || value_less_(ev[i].tag - 1, best - 1)) best = ev[i].tag;
      }
      group = best == 0 ? values : size_t(best - 1);
    }
    FunnelStepReport* row = &report[group * size_t(nsteps)];
    row[0].users++;
    for (int k = 1; k < r.level; ++k) {
      const int64_t d = r.ts[k] - r.ts[k - 1];
      FunnelStepReport& s = row[k];
      s.users++;
      s.sum_days += d / kUsecsPerDay;
      s.sum_usecs += d % kUsecsPerDay;
      durations[group * size_t(nsteps) + size_t(k)].push_back(d);
    }
  }
  for (size_t k = 0; k < report.size(); ++k)
    if (k % size_t(nsteps) != 0) median_pair(durations[k], &report[k]);
  return report;
}

}  // namespace pulse
