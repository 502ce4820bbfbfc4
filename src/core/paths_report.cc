// The one-pass paths report (see paths_report.h).
#include "core/paths_report.h"

#include <algorithm>
#include <unordered_map>

namespace pulse {
namespace {

constexpr size_t kTickEvery = 4096;

struct MoveKey {
  uint32_t step, source, target;
  bool operator==(const MoveKey& o) const { return step == o.step && source == o.source && target == o.target; }
  bool operator<(const MoveKey& o) const {
    if (step != o.step) return step < o.step;
    if (source != o.source) return source < o.source;
    return target < o.target;
  }
};
struct MoveHash {
  size_t operator()(const MoveKey& k) const {
    uint64_t h = (uint64_t(k.source) << 32 | k.target) * 0x9E3779B97F4A7C15ull;
    return size_t(h ^ (h >> 29) ^ (uint64_t(k.step) * 0xC2B2AE3D27D4EB4Full));
  }
};

}  // namespace

std::vector<PathsRow> PathsReport::finish(const std::vector<uint32_t>& label_rank, void (*tick)()) {
  // group the events by actor: one counting sort
  const std::vector<size_t> start = counting_starts(per_actor_);
  struct Ev {
    int64_t ts;
    uint32_t rank;
    uint32_t label;  // number << 1 | start flag
  };
  HugeArray<Ev> grouped(events_);
  {
    std::vector<size_t> next(start.begin(), start.end() - 1);
    for (size_t c = 0; c < chunks_.size(); ++c) {
      const size_t n = c + 1 == chunks_.size() ? last_fill_ : kChunk;
      for (size_t i = 0; i < n; ++i) {
        const Logged& e = chunks_[c][i];
        grouped[next[e.actor]++] = Ev{e.ts, label_rank[e.label >> 1], e.label};
      }
      chunks_[c] = HugeArray<Logged>();  // (given back as soon as it is scattered)
    }
  }
  chunks_.clear();

  std::unordered_map<MoveKey, int64_t, MoveHash> counts;
  std::vector<MoveKey> moves;  // one actor's moves (distinct actors: counted once each)
  const uint32_t limit = uint32_t(params_.step_limit);
  for (size_t a = 0; a + 1 < start.size(); ++a) {
    if (tick && a % kTickEvery == 0) tick();
    Ev* ev = grouped.data() + start[a];
    const size_t n = start[a + 1] - start[a];
    if (n < 2) continue;
    std::sort(ev, ev + n, [](const Ev& x, const Ev& y) { return x.ts != y.ts ? x.ts < y.ts : x.rank < y.rank; });
    moves.clear();
    // the session being walked: its kept events so far (the step of the next move), whether it
    // has started (with a start collection), and the label of its last kept event
    uint32_t kept = 0, last = 0;
    bool started = !params_.has_start;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t label = ev[i].label >> 1;
      const bool new_session = i == 0 || __int128(ev[i].ts) - ev[i - 1].ts > params_.session_gap;
      if (new_session) {
        kept = 0;
        started = !params_.has_start;
      } else if ((ev[i - 1].label >> 1) == label) {
        continue;  // a repeat of the previous event's label in its session
      }
      if (!started) {
        if (!(ev[i].label & 1)) continue;
        started = true;
      }
      if (kept > 0 && kept <= limit) {
        const MoveKey k{kept, last, label};
        if (params_.by_session)
          counts[k]++;
        else
          moves.push_back(k);
      }
      kept++;
      last = label;
    }
    if (moves.empty()) continue;
    std::sort(moves.begin(), moves.end());
    for (size_t m = 0; m < moves.size(); ++m)
      if (m == 0 || !(moves[m] == moves[m - 1])) counts[moves[m]]++;
  }
  std::vector<PathsRow> out;
  out.reserve(counts.size());
  for (const auto& [k, c] : counts) out.push_back(PathsRow{int(k.step), k.source, k.target, c});
  return out;
}

}  // namespace pulse
