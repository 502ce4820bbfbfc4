// Per-actor funnel and retention state machines (docs/analytics.md), with the
// semantics of ClickHouse windowFunnel and retention. Pure C++: the pg layer keeps the events
// in palloc'd memory and hands them here as plain arrays.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pulse {

inline constexpr int kMaxFunnelSteps = 32;
inline constexpr int64_t kUsecsPerDay = int64_t(86400) * 1000000;

// One input row of one actor: when it happened (microseconds) and which step conditions it
// matched (bit k = step k + 1; 0 = none, kept only in strict_order and strict_sequence modes).
struct FunnelEvent {
  int64_t ts;
  uint32_t steps;
  uint32_t tag = 0;  // the caller's, carried along (core/funnel_report.h: a breakdown value's number + 1)
};

// Mode bits. strict_order, strict_deduplication, strict_increase, strict_once and
// allow_reentry are ClickHouse's; unordered and strict_sequence (PostHog's strict funnel) are
// pg_pulse's own. The values are stored in serialised states: never renumber them.
inline constexpr uint32_t kFunnelStrictOrder = 1u << 0;
inline constexpr uint32_t kFunnelStrictDeduplication = 1u << 1;
inline constexpr uint32_t kFunnelStrictIncrease = 1u << 2;
inline constexpr uint32_t kFunnelUnordered = 1u << 3;
inline constexpr uint32_t kFunnelStrictOnce = 1u << 4;
inline constexpr uint32_t kFunnelAllowReentry = 1u << 5;
inline constexpr uint32_t kFunnelStrictSequence = 1u << 6;
inline constexpr uint32_t kFunnelAllModes = 0x7F;

// The bit of a mode name ("strict_order", ...), 0 when unknown. Exact, case-sensitive match.
uint32_t funnel_mode_bit(std::string_view name);

// Why a set of modes cannot be used together ("" when it can): unordered and strict_sequence
// exclude the others, allow_reentry needs strict_order (as in ClickHouse).
std::string funnel_modes_problem(uint32_t modes);
// The same test without allocating (for Postgres frames).
inline bool funnel_modes_valid(uint32_t modes) {
  if ((modes & kFunnelUnordered) && (modes & ~kFunnelUnordered)) return false;
  if ((modes & kFunnelStrictSequence) && (modes & ~kFunnelStrictSequence)) return false;
  return !(modes & kFunnelAllowReentry) || (modes & kFunnelStrictOrder);
}

// The names of the known modes, comma-separated, for error hints.
const char* funnel_mode_list();

// Why an interval (months, days, microseconds) cannot be a funnel's conversion window:
// months have no fixed length, a window is not negative and fits in int64 microseconds (days
// count as 24 hours). The one check of window_funnel, window_funnel_steps and the single-pass
// funnel report, so both plans of pulse.funnel accept the same windows.
enum class FunnelWindowProblem { kNone, kMonths, kNegative, kTooLong };
FunnelWindowProblem funnel_window(int32_t months, int32_t days, int64_t usecs, int64_t* micros);

// The message for a window problem, about `what` ("window_funnel window"); "" for kNone.
std::string funnel_window_message(FunnelWindowProblem problem, const std::string& what);

// The hint for a window with months.
inline constexpr const char* kFunnelWindowMonthsHint =
    "Months have no fixed length: give the window in days, e.g. '30 days'.";

struct FunnelParams {
  int64_t window = 0;  // microseconds, >= 0; the window is inclusive: t_last - t_first <= window
  int nsteps = 0;      // 1..kMaxFunnelSteps
  uint32_t modes = 0;
  bool operator==(const FunnelParams& o) const { return window == o.window && nsteps == o.nsteps && modes == o.modes; }
  bool operator!=(const FunnelParams& o) const { return !(*this == o); }
};

// Whether a row with this step mask must be kept in the state (rows matching no step only
// matter to strict_order and strict_sequence, where they interrupt the chain).
inline bool funnel_keeps(uint32_t steps, uint32_t modes) {
  return steps != 0 || (modes & (kFunnelStrictOrder | kFunnelStrictSequence)) != 0;
}

// The reached level and the timestamps of the counted chain: ts[0..level-1].
//   ordered modes: ts[k] is the time of the step k+1 event of the first chain (by completion
//                  time) that reaches `level`; each step is the latest event that still leads
//                  to it, as in ClickHouse;
//   strict_sequence: the first chain (by completion time) of consecutive rows reaching `level`;
//   unordered:     ts[k] is when the (k+1)-th distinct step was reached, in the window that
//                  reaches `level` first (ties: the latest start).
struct FunnelResult {
  int level = 0;
  int64_t ts[kMaxFunnelSteps] = {};
};

// Called every few thousand events so long evaluations stay interruptible (may throw).
using FunnelTick = void (*)();

// Evaluates one actor's events. Sorts `events` in place by timestamp (the multiset is kept);
// the result does not depend on the input order. Events with steps bits >= nsteps are ignored.
FunnelResult evaluate_funnel(FunnelEvent* events, size_t n, const FunnelParams& params, FunnelTick tick = nullptr);

// Serialised funnel state (bytea of the aggregate's serial function), little-endian:
//   u8 version (kFunnelStateVersion) | u8 nsteps | u32 modes | i64 window | u64 count |
//   count x (i64 ts | u32 steps)
inline constexpr uint8_t kFunnelStateVersion = 1;
inline constexpr size_t kFunnelStateHeaderBytes = 1 + 1 + 4 + 8 + 8;
inline constexpr size_t kFunnelStateEventBytes = 8 + 4;

size_t funnel_state_bytes(size_t n);
// Writes funnel_state_bytes(n) bytes to out.
void write_funnel_state(const FunnelParams& params, const FunnelEvent* events, size_t n, uint8_t* out);
// Validates a serialised state and returns its parameters and event count; throws
// pulse::Error (SQLSTATE 22P03) for an unknown version or a malformed state.
FunnelParams read_funnel_state_header(const uint8_t* data, size_t len, size_t* count);
// Copies the events of a validated state to out (count elements).
void read_funnel_state_events(const uint8_t* data, size_t count, FunnelEvent* out);

// ClickHouse retention over conds c1..cn (n <= 32): the state is the mask of the conditions
// that held on any row; result[0] = c1 held; result[i] = c1 held and c(i+1) held.
// The aggregate keeps it in one bigint: version (bits 40..47) | n (bits 32..39) | mask.
inline constexpr int kMaxRetentionConds = 32;
inline constexpr uint8_t kRetentionStateVersion = 1;

struct RetentionState {
  int n = 0;          // 0: no row seen yet
  uint32_t mask = 0;  // bit k: condition k+1 held on some row
};

int64_t pack_retention_state(const RetentionState& s);
// Throws pulse::Error (22P03) for an unknown version or n out of range.
RetentionState unpack_retention_state(int64_t packed);
// Combines two states of the same conditions; throws pulse::Error (22023) when both saw rows
// but with different numbers of conditions. Inputs are values: nothing shared is modified.
RetentionState combine_retention(const RetentionState& a, const RetentionState& b);
// Writes s.n flags (0/1) to out.
void retention_flags(const RetentionState& s, int32_t* out);

}  // namespace pulse
