// Per-actor funnel and retention state machines and their serialised states (see funnel.h).
#include "core/funnel.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "core/error.h"

namespace pulse {
namespace {

constexpr size_t kTickEvery = 1u << 16;

uint32_t step_mask(int nsteps) { return nsteps >= 32 ? ~0u : ((1u << nsteps) - 1u); }

int popcount(uint32_t m) { return __builtin_popcount(m); }

// later - earlier <= window, for later >= earlier, without signed overflow at the ends of the
// timestamp range.
bool within(int64_t earlier, int64_t later, int64_t window) {
  return uint64_t(later) - uint64_t(earlier) <= uint64_t(window);
}

void sort_by_time(FunnelEvent* ev, size_t n) {
  auto before = [](const FunnelEvent& a, const FunnelEvent& b) { return a.ts < b.ts; };
  if (!std::is_sorted(ev, ev + n, before)) std::sort(ev, ev + n, before);
}

// Whether the 0-based steps lo..hi can each be given a distinct row of `rows` (masks of the
// rows of one instant) that matches it: strict_once's test for a chain that reaches several
// steps at one instant. Kuhn's augmenting paths; at most 32 steps.
bool distinct_rows_cover(const std::vector<uint32_t>& rows, int lo, int hi) {
  std::vector<int> owner(rows.size(), -1);  // the step a row is given to
  std::vector<char> seen(rows.size());
  // Finds a row for step s, moving other steps to other rows if needed.
  auto place = [&](auto&& self, int s) -> bool {
    for (size_t r = 0; r < rows.size(); ++r) {
      if (!(rows[r] >> s & 1u) || seen[r]) continue;
      seen[r] = 1;
      if (owner[r] < 0 || self(self, owner[r])) {
        owner[r] = s;
        return true;
      }
    }
    return false;
  };
  for (int s = lo; s <= hi; ++s) {
    std::fill(seen.begin(), seen.end(), 0);
    if (!place(place, s)) return false;
  }
  return true;
}

// The rows of one instant for distinct_rows_cover: their masks, at most 32 rows of one mask
// (a chain uses at most 32 rows).
std::vector<uint32_t> instant_rows(const FunnelEvent* ev, size_t n, uint32_t valid) {
  std::vector<uint32_t> rows;
  for (size_t k = 0; k < n; ++k)
    if (ev[k].steps & valid) rows.push_back(ev[k].steps & valid);
  std::sort(rows.begin(), rows.end());
  size_t out = 0;
  for (size_t k = 0; k < rows.size(); ++k)
    if (out < size_t(kMaxFunnelSteps) || rows[out - size_t(kMaxFunnelSteps)] != rows[k]) rows[out++] = rows[k];
  rows.resize(out);
  return rows;
}

// ClickHouse windowFunnel over events sorted by time. Rows of one timestamp are replayed as
// ClickHouse's (timestamp, step) sort orders them: no-step rows first, then steps ascending,
// each step at most twice (a third identical replay changes nothing, even with
// strict_deduplication). slot s holds the chain with the latest start that reached step s+1.
//
// strict_increase differs from ClickHouse in one way: a step extends the chain held before its
// timestamp, so a new step-1 event at the same instant cannot hide an older start that the
// step could extend (ClickHouse then under-counts; we keep the longest chain).
//
// strict_once: a row fills at most one step of a chain. Across instants nothing changes (rows
// of different instants are different rows); at one instant, slot s is extended from the
// chain held before the instant at the lowest level e whose steps e+1..s can be given distinct
// rows of the instant (a fresh start when steps 0..s can), which is the latest start that
// leads to s (starts never increase with the level). The slots read are those held before the
// instant (copied before their first change at it).
FunnelResult evaluate_ordered(const FunnelEvent* ev, size_t n, const FunnelParams& p, FunnelTick tick) {
  const int nsteps = p.nsteps;
  const uint32_t valid = step_mask(nsteps);
  const bool strict_order = p.modes & kFunnelStrictOrder;
  const bool dedup = p.modes & kFunnelStrictDeduplication;
  const bool increase = p.modes & kFunnelStrictIncrease;
  const bool once = p.modes & kFunnelStrictOnce;
  const bool reentry = p.modes & kFunnelAllowReentry;

  bool set[kMaxFunnelSteps] = {};
  int64_t chain[kMaxFunnelSteps][kMaxFunnelSteps];  // chain[s][0..s]; read only where set[s]
  // strict_increase: the state of a level before the current timestamp, for the two levels a
  // step reads and writes (levels alternate between the two buffers).
  int backup_of[2];
  bool backup_set[2];
  int64_t backup[2][kMaxFunnelSteps];
  // strict_once: the slots held before the current instant (bit s of held_saved: slot s saved)
  // and, per step, the lowest step of a run ending at it that distinct rows can fill.
  uint32_t held_saved = 0;
  bool held_set[kMaxFunnelSteps];
  int64_t held[kMaxFunnelSteps][kMaxFunnelSteps];
  int run_start[kMaxFunnelSteps];

  FunnelResult best;
  bool first_event = false;
  size_t since_tick = 0;
  size_t i = 0;
  while (i < n) {
    const int64_t t = ev[i].ts;
    uint8_t count[kMaxFunnelSteps + 1] = {};  // [0]: rows matching no step; [s+1]: step s
    size_t j = i;
    for (; j < n && ev[j].ts == t; ++j) {
      uint32_t m = ev[j].steps & valid;
      if (m == 0) {
        if (count[0] < 1) count[0] = 1;
        continue;
      }
      while (m) {
        int s = __builtin_ctz(m);
        m &= m - 1;
        if (count[s + 1] < 2) count[s + 1]++;
      }
    }
    backup_of[0] = backup_of[1] = -1;
    if (once) {
      held_saved = 0;
      std::vector<uint32_t> rows;
      if (j - i > 1) rows = instant_rows(ev + i, j - i, valid);
      for (int s = 0; s < nsteps; ++s) {
        if (count[s + 1] == 0) continue;
        int lo = (s > 0 && count[s] > 0) ? run_start[s - 1] : s;
        while (lo < s && !distinct_rows_cover(rows, lo, s)) ++lo;
        run_start[s] = lo;
      }
    }
    // Saves slot s as it was before this instant (strict_once), before it changes.
    auto save_held = [&](int s) {
      if (!once || (held_saved >> s & 1u)) return;
      held_saved |= 1u << s;
      held_set[s] = set[s];
      if (set[s]) std::memcpy(held[s], chain[s], sizeof(int64_t) * size_t(s + 1));
    };
    for (int s = -1; s < nsteps; ++s) {
      for (int r = 0; r < count[s + 1]; ++r) {
        if (s < 0) {
          if (strict_order && first_event) return best;
          continue;
        }
        if (increase && backup_of[s % 2] != s) {
          backup_of[s % 2] = s;
          backup_set[s % 2] = set[s];
          if (set[s]) std::memcpy(backup[s % 2], chain[s], sizeof(int64_t) * size_t(s + 1));
        }
        if (s == 0) {
          save_held(0);
          set[0] = true;
          chain[0][0] = t;
          first_event = true;
          if (best.level < 1) {
            best.level = 1;
            best.ts[0] = t;
          }
          if (nsteps == 1) return best;
          continue;
        }
        if (dedup && set[s]) return best;
        if (strict_order && first_event && !set[s - 1]) {
          if (reentry) continue;  // allow_reentry: a step out of order is skipped
          return best;
        }
        if (once) {
          if (r > 0) continue;  // the instant's rows were all considered at r = 0
          // Lowest level held before the instant that a run of distinct rows extends to s.
          const int from = increase ? s - 1 : run_start[s] - 1;
          int e = from;
          if (e >= 0) {
            while (e < s && !((held_saved >> e & 1u) ? held_set[e] : set[e])) ++e;
            if (e == s) continue;
          }
          const int64_t* src = e < 0 ? nullptr : ((held_saved >> e & 1u) ? held[e] : chain[e]);
          if (src && !within(src[0], t, p.window)) continue;
          save_held(s);
          if (src) std::memmove(chain[s], src, sizeof(int64_t) * size_t(e + 1));
          for (int k = e + 1; k <= s; ++k) chain[s][k] = t;
        } else {
          bool src_set = set[s - 1];
          const int64_t* src = chain[s - 1];
          if (increase && backup_of[(s - 1) % 2] == s - 1) {
            src_set = backup_set[(s - 1) % 2];
            src = backup[(s - 1) % 2];
          }
          if (!src_set) continue;
          if (!within(src[0], t, p.window)) continue;   // inclusive window
          if (increase && !(src[s - 1] < t)) continue;  // previous step strictly earlier
          if (src != chain[s]) std::memmove(chain[s], src, sizeof(int64_t) * size_t(s));
          chain[s][s] = t;
        }
        set[s] = true;
        if (s + 1 > best.level) {
          best.level = s + 1;
          std::memcpy(best.ts, chain[s], sizeof(int64_t) * size_t(s + 1));
        }
        if (s + 1 == nsteps) return best;
      }
    }
    since_tick += j - i;
    if (tick && since_tick >= kTickEvery) {
      since_tick = 0;
      tick();
    }
    i = j;
  }
  return best;
}

// strict_sequence (PostHog's strict funnel): a chain is a run of consecutive rows, row k + 1
// matching step k + 1 (within the window of the chain's first row); any row of the input
// between two steps, a repeated earlier step included, ends the chains it does not extend.
// Rows of one instant are ordered: rows matching no step first, then by their lowest step,
// then by their mask, so the answer does not depend on the input order. A row extends the
// chains of the row before it: one row fills one step of a chain.
FunnelResult evaluate_sequence(FunnelEvent* ev, size_t n, const FunnelParams& p, FunnelTick tick) {
  const uint32_t valid = step_mask(p.nsteps);
  // (lowest step + 1, or 0 for none; then the mask): the order of rows at one instant
  auto rank = [valid](const FunnelEvent& e) {
    const uint32_t m = e.steps & valid;
    return std::make_pair(m ? __builtin_ctz(m) + 1 : 0, m);
  };
  auto before = [&](const FunnelEvent& a, const FunnelEvent& b) {
    return a.ts != b.ts ? a.ts < b.ts : rank(a) < rank(b);
  };
  if (!std::is_sorted(ev, ev + n, before)) std::sort(ev, ev + n, before);

  uint32_t live = 0;                                // bit s: a chain reaching step s + 1 ends at the previous row
  int64_t chain[kMaxFunnelSteps][kMaxFunnelSteps];  // chain[s][0..s], read where live
  FunnelResult best;
  for (size_t i = 0; i < n; ++i) {
    const int64_t t = ev[i].ts;
    const uint32_t m = ev[i].steps & valid;
    uint32_t next = 0;
    // Highest step first: chain[s] is written from chain[s - 1] of the previous row.
    for (uint32_t c = m & ((live << 1) | 1u); c; c &= ~(1u << (31 - __builtin_clz(c)))) {
      const int s = 31 - __builtin_clz(c);
      if (s > 0) {
        if (!within(chain[s - 1][0], t, p.window)) continue;
        std::memcpy(chain[s], chain[s - 1], sizeof(int64_t) * size_t(s));
      }
      chain[s][s] = t;
      next |= 1u << s;
      if (s + 1 > best.level) {
        best.level = s + 1;
        std::memcpy(best.ts, chain[s], sizeof(int64_t) * size_t(s + 1));
        if (best.level == p.nsteps) return best;
      }
    }
    live = next;
    if (tick && (i + 1) % kTickEvery == 0) tick();
  }
  return best;
}

// Distinct steps in any order: for every start at a step event's time T, the steps seen in
// [T, T + window]. The counted window reaches the most steps first (ties: the latest start).
FunnelResult evaluate_unordered(const FunnelEvent* ev, size_t n, const FunnelParams& p, FunnelTick tick) {
  const uint32_t valid = step_mask(p.nsteps);
  int cnt[kMaxFunnelSteps];
  uint32_t present = 0;
  auto reset = [&] {
    std::fill(cnt, cnt + kMaxFunnelSteps, 0);
    present = 0;
  };
  auto add = [&](size_t r) {
    for (uint32_t m = ev[r].steps & valid; m; m &= m - 1) {
      int s = __builtin_ctz(m);
      if (cnt[s]++ == 0) present |= 1u << s;
    }
  };
  auto remove = [&](size_t r) {
    for (uint32_t m = ev[r].steps & valid; m; m &= m - 1) {
      int s = __builtin_ctz(m);
      if (--cnt[s] == 0) present &= ~(1u << s);
    }
  };
  size_t since_tick = 0;
  auto maybe_tick = [&](size_t k) {
    since_tick += k;
    if (tick && since_tick >= kTickEvery) {
      since_tick = 0;
      tick();
    }
  };

  // Pass 1: the most distinct steps any window holds (counted before the start group leaves).
  int most = 0;
  reset();
  size_t right = 0;
  for (size_t left = 0; left < n;) {
    const int64_t start = ev[left].ts;
    while (right < n && within(start, ev[right].ts, p.window)) add(right++);
    bool has_step = false;
    size_t g = left;
    for (; g < n && ev[g].ts == start; ++g) has_step |= (ev[g].steps & valid) != 0;
    if (has_step) most = std::max(most, popcount(present));
    for (size_t k = left; k < g; ++k) remove(k);
    maybe_tick(g - left);
    left = g;
  }
  FunnelResult best;
  if (most == 0) return best;

  // Pass 2: for each start, the earliest time `most` steps are reached (non-decreasing in the
  // start, so one forward pointer suffices).
  reset();
  right = 0;
  size_t best_left = 0;
  int64_t best_done = 0;
  bool found = false;
  for (size_t left = 0; left < n;) {
    const int64_t start = ev[left].ts;
    if (right < left) right = left;
    while (popcount(present) < most && right < n && within(start, ev[right].ts, p.window)) add(right++);
    bool has_step = false;
    size_t g = left;
    for (; g < n && ev[g].ts == start; ++g) has_step |= (ev[g].steps & valid) != 0;
    if (has_step && popcount(present) >= most) {
      int64_t done = ev[right - 1].ts;
      if (!found || done <= best_done) {
        found = true;
        best_done = done;
        best_left = left;
      }
    }
    for (size_t k = left; k < g && k < right; ++k) remove(k);
    maybe_tick(g - left);
    left = g;
  }

  uint32_t seen = 0;
  for (size_t r = best_left; r < n && best.level < most; ++r) {
    for (uint32_t m = ev[r].steps & valid & ~seen; m && best.level < most; m &= m - 1) {
      best.ts[best.level++] = ev[r].ts;
      seen |= m & (~m + 1);
    }
  }
  return best;
}

void put_u32(uint8_t* p, uint32_t v) {
  for (int k = 0; k < 4; ++k) p[k] = uint8_t(v >> (8 * k));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int k = 0; k < 8; ++k) p[k] = uint8_t(v >> (8 * k));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int k = 0; k < 4; ++k) v |= uint32_t(p[k]) << (8 * k);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int k = 0; k < 8; ++k) v |= uint64_t(p[k]) << (8 * k);
  return v;
}

}  // namespace

uint32_t funnel_mode_bit(std::string_view name) {
  if (name == "strict_order") return kFunnelStrictOrder;
  if (name == "strict_deduplication") return kFunnelStrictDeduplication;
  if (name == "strict_increase") return kFunnelStrictIncrease;
  if (name == "unordered") return kFunnelUnordered;
  if (name == "strict_once") return kFunnelStrictOnce;
  if (name == "allow_reentry") return kFunnelAllowReentry;
  if (name == "strict_sequence") return kFunnelStrictSequence;
  return 0;
}

std::string funnel_modes_problem(uint32_t modes) {
  if ((modes & kFunnelUnordered) && (modes & ~kFunnelUnordered))
    return "mode unordered cannot be combined with other modes";
  if ((modes & kFunnelStrictSequence) && (modes & ~kFunnelStrictSequence))
    return "mode strict_sequence cannot be combined with other modes";
  if ((modes & kFunnelAllowReentry) && !(modes & kFunnelStrictOrder)) return "mode allow_reentry needs strict_order";
  return {};
}

const char* funnel_mode_list() {
  return "strict_order, strict_deduplication, strict_increase, strict_once, allow_reentry, unordered, strict_sequence";
}

FunnelWindowProblem funnel_window(int32_t months, int32_t days, int64_t usecs, int64_t* micros) {
  if (months != 0) return FunnelWindowProblem::kMonths;
  int64_t total;
  if (__builtin_mul_overflow(int64_t(days), kUsecsPerDay, &total) || __builtin_add_overflow(total, usecs, &total))
    return (days < 0 || (days == 0 && usecs < 0)) ? FunnelWindowProblem::kNegative : FunnelWindowProblem::kTooLong;
  if (total < 0) return FunnelWindowProblem::kNegative;
  *micros = total;
  return FunnelWindowProblem::kNone;
}

std::string funnel_window_message(FunnelWindowProblem problem, const std::string& what) {
  switch (problem) {
    case FunnelWindowProblem::kMonths:
      return what + " must not have a month or year part";
    case FunnelWindowProblem::kNegative:
      return what + " must not be negative";
    case FunnelWindowProblem::kTooLong:
      return what + " is too long";
    case FunnelWindowProblem::kNone:
      break;
  }
  return {};
}

FunnelResult evaluate_funnel(FunnelEvent* events, size_t n, const FunnelParams& params, FunnelTick tick) {
  if (n == 0 || params.nsteps <= 0) return FunnelResult{};
  if (params.modes & kFunnelStrictSequence) return evaluate_sequence(events, n, params, tick);
  sort_by_time(events, n);
  if (params.modes & kFunnelUnordered) return evaluate_unordered(events, n, params, tick);
  return evaluate_ordered(events, n, params, tick);
}

size_t funnel_state_bytes(size_t n) { return kFunnelStateHeaderBytes + n * kFunnelStateEventBytes; }

void write_funnel_state(const FunnelParams& params, const FunnelEvent* events, size_t n, uint8_t* out) {
  out[0] = kFunnelStateVersion;
  out[1] = uint8_t(params.nsteps);
  put_u32(out + 2, params.modes);
  put_u64(out + 6, uint64_t(params.window));
  put_u64(out + 14, uint64_t(n));
  uint8_t* p = out + kFunnelStateHeaderBytes;
  for (size_t k = 0; k < n; ++k, p += kFunnelStateEventBytes) {
    put_u64(p, uint64_t(events[k].ts));
    put_u32(p + 8, events[k].steps);
  }
}

FunnelParams read_funnel_state_header(const uint8_t* data, size_t len, size_t* count) {
  if (len < 1) throw Error(sqlstate::kInvalidBinary, "invalid window_funnel state: empty");
  if (data[0] != kFunnelStateVersion)
    throw Error(sqlstate::kInvalidBinary, "unsupported window_funnel state version " + std::to_string(int(data[0])),
                "This build reads version " + std::to_string(int(kFunnelStateVersion)) + ".");
  if (len < kFunnelStateHeaderBytes)
    throw Error(sqlstate::kInvalidBinary, "invalid window_funnel state: truncated header");
  FunnelParams p;
  p.nsteps = data[1];
  p.modes = get_u32(data + 2);
  p.window = int64_t(get_u64(data + 6));
  uint64_t n = get_u64(data + 14);
  if (p.nsteps < 1 || p.nsteps > kMaxFunnelSteps || (p.modes & ~kFunnelAllModes) || p.window < 0)
    throw Error(sqlstate::kInvalidBinary, "invalid window_funnel state: bad parameters");
  if (n > (len - kFunnelStateHeaderBytes) / kFunnelStateEventBytes ||
      len != kFunnelStateHeaderBytes + n * kFunnelStateEventBytes)
    throw Error(sqlstate::kInvalidBinary, "invalid window_funnel state: length does not match its event count");
  *count = size_t(n);
  return p;
}

void read_funnel_state_events(const uint8_t* data, size_t count, FunnelEvent* out) {
  const uint8_t* p = data + kFunnelStateHeaderBytes;
  for (size_t k = 0; k < count; ++k, p += kFunnelStateEventBytes) {
    out[k].ts = int64_t(get_u64(p));
    out[k].steps = get_u32(p + 8);
  }
}

int64_t pack_retention_state(const RetentionState& s) {
  return int64_t((uint64_t(kRetentionStateVersion) << 40) | (uint64_t(uint8_t(s.n)) << 32) | s.mask);
}

RetentionState unpack_retention_state(int64_t packed) {
  uint64_t v = uint64_t(packed);
  RetentionState s;
  if (v == 0) return s;  // the initial state
  if ((v >> 40) != kRetentionStateVersion)
    throw Error(sqlstate::kInvalidBinary, "unsupported retention_flags state version " + std::to_string(v >> 40));
  s.n = int((v >> 32) & 0xFF);
  s.mask = uint32_t(v);
  if (s.n < 0 || s.n > kMaxRetentionConds || (s.n < 32 && (s.mask >> s.n) != 0))
    throw Error(sqlstate::kInvalidBinary, "invalid retention_flags state");
  return s;
}

RetentionState combine_retention(const RetentionState& a, const RetentionState& b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  if (a.n != b.n)
    throw Error(
        sqlstate::kInvalidParameter,
        "retention_flags got " + std::to_string(a.n) + " and " + std::to_string(b.n) + " conditions in one group",
        "Every row of a group must pass the same number of conditions.");
  return RetentionState{a.n, a.mask | b.mask};
}

void retention_flags(const RetentionState& s, int32_t* out) {
  if (s.n <= 0) return;
  const bool first = s.mask & 1u;
  out[0] = first ? 1 : 0;
  for (int k = 1; k < s.n; ++k) out[k] = (first && (s.mask >> k) & 1u) ? 1 : 0;
}

}  // namespace pulse
