// The one-pass paths report behind pulse.paths (docs/insights.md#pulsepaths): every event of
// the analysis goes into one report, grouped by actor at the end, where each actor's timeline
// is cut into sessions and the moves between consecutive events are counted, without one
// Postgres window partition per actor.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <functional>
#include <vector>

#include "core/huge_array.h"

namespace pulse {

struct PathsParams {
  int64_t session_gap = 0;  // microseconds: a longer gap between two events starts a session
  int step_limit = 5;       // steps 1 .. step_limit are counted
  bool by_session = false;  // count sessions, not distinct actors
  bool has_start = false;   // sessions start at their first start event (add's start flag)
};

struct PathsRow {
  int step = 0;
  uint32_t source = 0, target = 0;  // label numbers
  int64_t count = 0;
};

// Events carry a label number (the caller numbers labels) and whether they are of the start
// collection. Within an instant, events order by the labels' rank (label_rank: the caller's
// order of labels, as `ORDER BY t, c, l` orders them).
class PathsReport {
 public:
  explicit PathsReport(const PathsParams& params) : params_(params) {}

  void add(uint32_t actor, int64_t ts, uint32_t label, bool start) {
    if (actor >= per_actor_.size())
      per_actor_.resize(std::max({size_t(actor) + 1, per_actor_.size() * 2, size_t(4096)}));
    per_actor_[actor]++;
    if (last_fill_ == kChunk) {
      chunks_.emplace_back(kChunk);
      last_fill_ = 0;
    }
    chunks_.back()[last_fill_++] = Logged{ts, actor, label << 1 | uint32_t(start)};
    events_++;
  }
  void prefetch(uint32_t actor) const {
    if (actor < per_actor_.size()) __builtin_prefetch(&per_actor_[actor], 1);
  }
  size_t events() const { return events_; }

  // The counted moves, in no particular order; consumes the events (call once). label_rank[l]:
  // the rank of label l in the order of labels (labels must be below 2^31). tick is called
  // every few thousand actors and may throw.
  std::vector<PathsRow> finish(const std::vector<uint32_t>& label_rank, void (*tick)() = nullptr);

 private:
  struct Logged {
    int64_t ts;
    uint32_t actor;
    uint32_t label;  // label number << 1 | start flag
  };
  static constexpr size_t kChunk = (size_t(2) << 20) / sizeof(Logged);  // one huge page

  PathsParams params_;
  HugeArray<uint32_t> per_actor_;
  std::vector<HugeArray<Logged>> chunks_;
  size_t last_fill_ = kChunk;
  size_t events_ = 0;
};

}  // namespace pulse
