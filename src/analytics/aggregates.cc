// Layer-1 aggregates (docs/analytics.md): pulse.window_funnel, pulse.window_funnel_steps
// (ClickHouse windowFunnel) and pulse.retention_flags (ClickHouse retention).
//
// window_funnel keeps every relevant row of a group (timestamp + matched steps) in a palloc'd
// array in the aggregate context and evaluates them in src/core at the end. Its state is
// `internal`, with combine, serial and deserial functions so the aggregates run in parallel
// plans. retention_flags needs only the mask of conditions seen: a by-value bigint state.
#include <string>

#include "core/funnel.h"
#include "pg/guard.h"

extern "C" {
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

namespace pulse::analytics {
namespace {

// The transition state: trivially destructible, allocated in the aggregate context.
struct FunnelAggState {
  FunnelParams params;
  uint64 n;
  uint64 cap;
  FunnelEvent* events;
};

// What a transition found wrong; raised after the guarded section (never throw in PG_TRY).
enum class Problem {
  kNone,
  kNotAggregate,
  kWindowNull,
  kWindowMonths,
  kWindowNegative,
  kWindowTooLong,
  kWindowChanged,
  kCondsDims,
  kNoConds,
  kTooManyConds,
  kCondsChanged,
  kModesNull,
  kModeUnknown,
  kModesCombined,
};

[[noreturn]] void raise(Problem p, int got, int want, const char* bad_mode, uint32 modes = 0) {
  using namespace sqlstate;
  switch (p) {
    case Problem::kNotAggregate:
      throw Error(kFeatureNotSupported, "window_funnel support functions can only be called by the aggregate");
    case Problem::kWindowNull:
      throw Error(sqlstate::kNullValueNotAllowed, "window_funnel window must not be null");
    case Problem::kWindowMonths:
      throw Error(kInvalidParameter, funnel_window_message(FunnelWindowProblem::kMonths, "window_funnel window"), "",
                  kFunnelWindowMonthsHint);
    case Problem::kWindowNegative:
      throw Error(kInvalidParameter, funnel_window_message(FunnelWindowProblem::kNegative, "window_funnel window"));
    case Problem::kWindowTooLong:
      throw Error(kInvalidParameter, funnel_window_message(FunnelWindowProblem::kTooLong, "window_funnel window"));
    case Problem::kWindowChanged:
      throw Error(kInvalidParameter, "window_funnel window must be the same for every row of a group");
    case Problem::kCondsDims:
      throw Error(kInvalidParameter, "window_funnel conditions must be a one-dimensional boolean array");
    case Problem::kNoConds:
      throw Error(kInvalidParameter, "window_funnel needs at least one step condition");
    case Problem::kTooManyConds:
      throw Error(kProgramLimit, "window_funnel got " + std::to_string(got) + " step conditions",
                  "At most " + std::to_string(kMaxFunnelSteps) + " steps are supported.");
    case Problem::kCondsChanged:
      throw Error(kInvalidParameter,
                  "window_funnel got " + std::to_string(got) + " step conditions after " + std::to_string(want) +
                      " in the same group",
                  "", "Every row of a group must pass the same number of conditions.");
    case Problem::kModesNull:
      throw Error(sqlstate::kNullValueNotAllowed, "window_funnel modes must not be null");
    case Problem::kModeUnknown:
      throw Error(kInvalidParameter, std::string("unknown window_funnel mode \"") + bad_mode + "\"", "",
                  std::string("Modes: ") + funnel_mode_list() + ".");
    case Problem::kModesCombined:
      throw Error(kInvalidParameter, funnel_modes_problem(modes));
    case Problem::kNone:
      break;
  }
  throw Error(kInternal, "window_funnel: unexpected problem");
}

// Reads a VARIADIC boolean[] into a step mask (NULL elements are false). Postgres frame only.
Problem read_conds(ArrayType* a, int* n, uint32* mask) {
  if (ARR_NDIM(a) == 0) {
    *n = 0;
    return Problem::kNoConds;
  }
  if (ARR_NDIM(a) != 1 || ARR_ELEMTYPE(a) != BOOLOID) return Problem::kCondsDims;
  *n = ARR_DIMS(a)[0];
  if (*n == 0) return Problem::kNoConds;
  if (*n > kMaxFunnelSteps) return Problem::kTooManyConds;
  const bits8* nulls = ARR_NULLBITMAP(a);
  const char* p = ARR_DATA_PTR(a);
  uint32 m = 0;
  for (int k = 0; k < *n; k++) {
    if (nulls && !(nulls[k >> 3] & (1 << (k & 7)))) continue;
    if (*p) m |= 1u << k;
    p++;
  }
  *mask = m;
  return Problem::kNone;
}

// The window in microseconds (core/funnel.h: the check the single-pass report shares).
// Postgres frame only.
Problem window_micros(const Interval* iv, int64* out) {
  int64_t micros = 0;
  switch (funnel_window(iv->month, iv->day, iv->time, &micros)) {
    case FunnelWindowProblem::kMonths:
      return Problem::kWindowMonths;
    case FunnelWindowProblem::kNegative:
      return Problem::kWindowNegative;
    case FunnelWindowProblem::kTooLong:
      return Problem::kWindowTooLong;
    case FunnelWindowProblem::kNone:
      break;
  }
  *out = micros;
  return Problem::kNone;
}

// Mode names of a text[] to bits. Postgres frame only.
Problem read_modes(ArrayType* a, uint32* modes, char** bad_mode) {
  Datum* elems;
  bool* nulls;
  int n;
  deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
  uint32 m = 0;
  for (int k = 0; k < n; k++) {
    if (nulls[k]) return Problem::kModesNull;
    text* t = DatumGetTextPP(elems[k]);
    uint32 bit = funnel_mode_bit(std::string_view(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
    if (bit == 0) {
      *bad_mode = text_to_cstring(t);
      return Problem::kModeUnknown;
    }
    m |= bit;
  }
  *modes = m;
  return funnel_modes_valid(m) ? Problem::kNone : Problem::kModesCombined;
}

constexpr uint64 kInitialCap = 8;

// Appends to st, growing its array in cxt. Postgres frame only.
void append_events(FunnelAggState* st, const FunnelEvent* ev, uint64 k, MemoryContext cxt) {
  if (st->n + k > st->cap) {
    uint64 cap = st->cap ? st->cap : kInitialCap;
    while (cap < st->n + k) cap *= 2;
    Size bytes = Size(cap) * sizeof(FunnelEvent);
    st->events = st->events ? static_cast<FunnelEvent*>(repalloc_huge(st->events, bytes))
                            : static_cast<FunnelEvent*>(MemoryContextAllocHuge(cxt, bytes));
    st->cap = cap;
  }
  memcpy(st->events + st->n, ev, sizeof(FunnelEvent) * k);
  st->n += k;
}

FunnelAggState* new_state(MemoryContext cxt, const FunnelParams& params) {
  auto* st = static_cast<FunnelAggState*>(MemoryContextAllocZero(cxt, sizeof(FunnelAggState)));
  st->params = params;
  return st;
}

// The transition of both window_funnel signatures: args (state, window, [modes,] ts, conds).
Datum funnel_add(FunctionCallInfo fcinfo, bool with_modes) {
  const int ts_arg = with_modes ? 3 : 2;
  const int conds_arg = ts_arg + 1;
  FunnelAggState* st = PG_ARGISNULL(0) ? nullptr : reinterpret_cast<FunnelAggState*>(PG_GETARG_POINTER(0));
  Problem problem = Problem::kNone;
  int nconds = 0;
  char* bad_mode = nullptr;
  uint32 bad_modes = 0;
  pg::call([&] {
    MemoryContext aggcxt;
    if (!AggCheckCallContext(fcinfo, &aggcxt)) {
      problem = Problem::kNotAggregate;
      return;
    }
    if (PG_ARGISNULL(ts_arg) || PG_ARGISNULL(conds_arg)) return;
    TimestampTz ts = PG_GETARG_TIMESTAMPTZ(ts_arg);
    if (TIMESTAMP_NOT_FINITE(ts)) return;
    if (PG_ARGISNULL(1)) {
      problem = Problem::kWindowNull;
      return;
    }
    int64 window = 0;
    if ((problem = window_micros(PG_GETARG_INTERVAL_P(1), &window)) != Problem::kNone) return;
    uint32 mask = 0;
    if ((problem = read_conds(PG_GETARG_ARRAYTYPE_P(conds_arg), &nconds, &mask)) != Problem::kNone) return;
    if (!st) {
      FunnelParams params;
      params.window = window;
      params.nsteps = nconds;
      if (with_modes) {
        if (PG_ARGISNULL(2)) {
          problem = Problem::kModesNull;
          return;
        }
        if ((problem = read_modes(PG_GETARG_ARRAYTYPE_P(2), &params.modes, &bad_mode)) != Problem::kNone) {
          bad_modes = params.modes;
          return;
        }
      }
      st = new_state(aggcxt, params);
    } else if (nconds != st->params.nsteps) {
      problem = Problem::kCondsChanged;
      return;
    } else if (window != st->params.window) {
      problem = Problem::kWindowChanged;
      return;
    }
    if (!funnel_keeps(mask, st->params.modes)) return;
    FunnelEvent ev{ts, mask};
    append_events(st, &ev, 1, aggcxt);
  });
  if (problem != Problem::kNone) raise(problem, nconds, st ? st->params.nsteps : 0, bad_mode, bad_modes);
  if (!st) PG_RETURN_NULL();
  PG_RETURN_POINTER(st);
}

void tick() { pg::check_interrupts(); }

FunnelResult evaluate(FunnelAggState* st) {
  // Sorting in place keeps the state's multiset, so a shared state stays valid.
  return evaluate_funnel(st->events, size_t(st->n), st->params, tick);
}

}  // namespace

// pulse._window_funnel_add(internal, interval, timestamptz, boolean[]) -> internal
PULSE_SQL_FUNCTION(pulse_window_funnel_add) { return funnel_add(fcinfo, false); }

// pulse._window_funnel_add(internal, interval, text[], timestamptz, boolean[]) -> internal
PULSE_SQL_FUNCTION(pulse_window_funnel_add_modes) { return funnel_add(fcinfo, true); }

// pulse._window_funnel_combine(internal, internal) -> internal. The second state is never
// modified: it is copied into the aggregate context when the first is empty.
PULSE_SQL_FUNCTION(pulse_window_funnel_combine) {
  FunnelAggState* a = PG_ARGISNULL(0) ? nullptr : reinterpret_cast<FunnelAggState*>(PG_GETARG_POINTER(0));
  const FunnelAggState* b = PG_ARGISNULL(1) ? nullptr : reinterpret_cast<const FunnelAggState*>(PG_GETARG_POINTER(1));
  MemoryContext aggcxt = nullptr;
  bool is_agg = false;
  pg::call([&] { is_agg = AggCheckCallContext(fcinfo, &aggcxt) != 0; });
  if (!is_agg) raise(Problem::kNotAggregate, 0, 0, nullptr);
  if (!b) {
    if (!a) PG_RETURN_NULL();
    PG_RETURN_POINTER(a);
  }
  if (a && a->params != b->params)
    throw Error(sqlstate::kInvalidParameter, "window_funnel partial states of one group have different parameters", "",
                "The window, the modes and the number of conditions must be the same for every row.");
  pg::call([&] {
    if (!a) a = new_state(aggcxt, b->params);
    if (b->n > 0) append_events(a, b->events, b->n, aggcxt);
  });
  PG_RETURN_POINTER(a);
}

// pulse._window_funnel_serialize(internal) -> bytea: version byte, parameters, events.
PULSE_SQL_FUNCTION(pulse_window_funnel_serialize) {
  const auto* st = reinterpret_cast<const FunnelAggState*>(PG_GETARG_POINTER(0));
  const size_t bytes = funnel_state_bytes(size_t(st->n));
  if (bytes > MaxAllocSize - VARHDRSZ)
    throw Error(sqlstate::kProgramLimit,
                "window_funnel state of " + std::to_string(st->n) + " events is too large to serialize", "",
                "Group by a finer key (e.g. the actor) so each group holds fewer events.");
  bytea* out = nullptr;
  pg::call([&] {
    out = static_cast<bytea*>(palloc(VARHDRSZ + bytes));
    SET_VARSIZE(out, VARHDRSZ + bytes);
  });
  write_funnel_state(st->params, st->events, size_t(st->n), reinterpret_cast<uint8_t*>(VARDATA(out)));
  PG_RETURN_BYTEA_P(out);
}

// pulse._window_funnel_deserialize(bytea, internal) -> internal
PULSE_SQL_FUNCTION(pulse_window_funnel_deserialize) {
  const uint8_t* data = nullptr;
  size_t len = 0;
  bool is_agg = false;
  pg::call([&] {
    is_agg = AggCheckCallContext(fcinfo, NULL) != 0;
    bytea* b = PG_GETARG_BYTEA_PP(0);
    data = reinterpret_cast<const uint8_t*>(VARDATA_ANY(b));
    len = VARSIZE_ANY_EXHDR(b);
  });
  if (!is_agg) raise(Problem::kNotAggregate, 0, 0, nullptr);
  size_t count = 0;
  FunnelParams params = read_funnel_state_header(data, len, &count);
  FunnelAggState* st = nullptr;
  pg::call([&] {
    st = new_state(CurrentMemoryContext, params);
    if (count > 0) {
      st->events = static_cast<FunnelEvent*>(MemoryContextAllocHuge(CurrentMemoryContext, sizeof(FunnelEvent) * count));
      st->cap = count;
    }
  });
  read_funnel_state_events(data, count, st->events);
  st->n = count;
  PG_RETURN_POINTER(st);
}

// pulse._window_funnel_level(internal) -> integer: the level reached, 0 for no step 1.
PULSE_SQL_FUNCTION(pulse_window_funnel_level) {
  if (PG_ARGISNULL(0)) PG_RETURN_INT32(0);
  FunnelResult r = evaluate(reinterpret_cast<FunnelAggState*>(PG_GETARG_POINTER(0)));
  PG_RETURN_INT32(r.level);
}

// pulse._window_funnel_steps(internal) -> timestamptz[]: the counted chain's step times.
PULSE_SQL_FUNCTION(pulse_window_funnel_steps) {
  FunnelResult r;
  if (!PG_ARGISNULL(0)) r = evaluate(reinterpret_cast<FunnelAggState*>(PG_GETARG_POINTER(0)));
  ArrayType* out = nullptr;
  pg::call([&] {
    if (r.level == 0) {
      out = construct_empty_array(TIMESTAMPTZOID);
      return;
    }
    Datum d[kMaxFunnelSteps];
    for (int k = 0; k < r.level; k++) d[k] = TimestampTzGetDatum(r.ts[k]);
    out = construct_array(d, r.level, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
  });
  PG_RETURN_ARRAYTYPE_P(out);
}

// pulse._retention_add(bigint, boolean[]) -> bigint: ORs the conditions that held into the
// packed state (see core/funnel.h).
PULSE_SQL_FUNCTION(pulse_retention_add) {
  int64 packed = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
  if (PG_ARGISNULL(1)) PG_RETURN_INT64(packed);
  int n = 0;
  uint32 mask = 0;
  Problem problem = Problem::kNone;
  pg::call([&] { problem = read_conds(PG_GETARG_ARRAYTYPE_P(1), &n, &mask); });
  switch (problem) {
    case Problem::kNone:
      break;
    case Problem::kNoConds:
      throw Error(sqlstate::kInvalidParameter, "retention_flags needs at least one condition");
    case Problem::kTooManyConds:
      throw Error(sqlstate::kProgramLimit, "retention_flags got " + std::to_string(n) + " conditions",
                  "At most " + std::to_string(kMaxRetentionConds) + " conditions are supported.");
    default:
      throw Error(sqlstate::kInvalidParameter, "retention_flags conditions must be a one-dimensional boolean array");
  }
  RetentionState s = combine_retention(unpack_retention_state(packed), RetentionState{n, mask});
  PG_RETURN_INT64(pack_retention_state(s));
}

// pulse._retention_combine(bigint, bigint) -> bigint
PULSE_SQL_FUNCTION(pulse_retention_combine) {
  RetentionState s =
      combine_retention(unpack_retention_state(PG_GETARG_INT64(0)), unpack_retention_state(PG_GETARG_INT64(1)));
  PG_RETURN_INT64(pack_retention_state(s));
}

// pulse._retention_final(bigint) -> integer[]: NULL when the group had no rows.
PULSE_SQL_FUNCTION(pulse_retention_final) {
  RetentionState s = unpack_retention_state(PG_GETARG_INT64(0));
  if (s.n == 0) PG_RETURN_NULL();
  int32_t flags[kMaxRetentionConds];
  retention_flags(s, flags);
  ArrayType* out = nullptr;
  pg::call([&] {
    Datum d[kMaxRetentionConds];
    for (int k = 0; k < s.n; k++) d[k] = Int32GetDatum(flags[k]);
    out = construct_array(d, s.n, INT4OID, sizeof(int32), true, TYPALIGN_INT);
  });
  PG_RETURN_ARRAYTYPE_P(out);
}

}  // namespace pulse::analytics
