// Scalar access to Postgres' own numeric variance state (NumericAggState, serialised by
// numeric_serialize): union of two serialised states and the four final functions. The
// builtins insist on being called by an aggregate (AggCheckCallContext); an aggregate context
// is only a memory context to them, so these functions hand them a minimal AggState whose
// aggregate context is the current memory context. Plain C flow: no C++ objects live across
// the Postgres calls, and errors propagate as ordinary Postgres errors.
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

PG_FUNCTION_INFO_V1(pulse_numeric_state_union);
PG_FUNCTION_INFO_V1(pulse_numeric_state_final);
}

namespace {

AggState* fake_agg_state() {
  AggState* agg = makeNode(AggState);
  ExprContext* ec = makeNode(ExprContext);
  ec->ecxt_per_tuple_memory = CurrentMemoryContext;
  agg->curaggcontext = ec;
  return agg;
}

Datum call_builtin(PGFunction fn, AggState* agg, int nargs, Datum a0, bool n0, Datum a1, bool n1, bool* isnull) {
  LOCAL_FCINFO(fc, 2);
  InitFunctionCallInfoData(*fc, NULL, nargs, InvalidOid, (Node*)agg, NULL);
  fc->args[0].value = a0;
  fc->args[0].isnull = n0;
  fc->args[1].value = a1;
  fc->args[1].isnull = n1;
  Datum r = fn(fc);
  *isnull = fc->isnull;
  return r;
}

// Big-endian integers of a serialised state (pq_getmsgint's order).
uint32 read_be(const unsigned char* p, int n) {
  uint32 v = 0;
  for (int k = 0; k < n; k++) v = (v << 8) | p[k];
  return v;
}

// Whether bytes are a state numeric_serialize could have written: numeric_deserialize trusts its
// input (a negative digit count or a short buffer makes it write out of bounds), and these
// functions take states from view rows and from their callers. Layout (PG 15): N int8, sumX and
// sumX2 as (ndigits, weight, sign, dscale int4, ndigits digits int2), maxScale int4,
// maxScaleCount, NaNcount, pInfcount, nInfcount int8. sumX2 is kept at twice the scale of the
// squared values (do_numeric_accum), so its scale and weight may reach twice a numeric's.
bool valid_state(bytea* b) {
  const unsigned char* p = (const unsigned char*)VARDATA_ANY(b);
  const unsigned char* end = p + VARSIZE_ANY_EXHDR(b);
  auto take = [&](int n) -> const unsigned char* {
    if (end - p < n) return nullptr;
    const unsigned char* at = p;
    p += n;
    return at;
  };
  auto count = [&]() {  // a non-negative int8
    const unsigned char* at = take(8);
    return at && read_be(at, 4) < 0x80000000u;
  };
  if (!count()) return false;
  for (int v = 0; v < 2; v++) {
    const int32 max_dscale = v == 0 ? 0x3FFF : 2 * 0x3FFF, max_weight = v == 0 ? 0x10000 : 0x20000;
    const unsigned char* h = take(16);
    if (!h) return false;
    const int32 ndigits = (int32)read_be(h, 4), weight = (int32)read_be(h + 4, 4), sign = (int32)read_be(h + 8, 4),
                dscale = (int32)read_be(h + 12, 4);
    if (ndigits < 0 || ndigits > (end - p) / 2 || weight < -max_weight || weight > max_weight ||
        (sign != 0x0000 && sign != 0x4000) || dscale < 0 || dscale > max_dscale)
      return false;
    for (int32 k = 0; k < ndigits; k++)
      if (read_be(take(2), 2) >= 10000) return false;
  }
  const unsigned char* ms = take(4);
  if (!ms || (int32)read_be(ms, 4) < 0) return false;
  for (int k = 0; k < 4; k++)
    if (!count()) return false;
  return p == end;
}

Datum deserialize(AggState* agg, Datum bytes) {
  if (!valid_state(DatumGetByteaPP(bytes)))
    ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED), errmsg("invalid numeric aggregate state")));
  bool isnull;
  return call_builtin(numeric_deserialize, agg, 2, bytes, false, (Datum)0, false, &isnull);
}

}  // namespace

// pulse._numeric_state_union(bytea, bytea) → bytea: the state of both inputs together.
extern "C" Datum pulse_numeric_state_union(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0) && PG_ARGISNULL(1)) PG_RETURN_NULL();
  if (PG_ARGISNULL(0)) PG_RETURN_DATUM(PG_GETARG_DATUM(1));
  if (PG_ARGISNULL(1)) PG_RETURN_DATUM(PG_GETARG_DATUM(0));
  AggState* agg = fake_agg_state();
  Datum s1 = deserialize(agg, PG_GETARG_DATUM(0));
  Datum s2 = deserialize(agg, PG_GETARG_DATUM(1));
  bool isnull;
  Datum both = call_builtin(numeric_combine, agg, 2, s1, false, s2, false, &isnull);
  if (isnull) PG_RETURN_NULL();
  Datum out = call_builtin(numeric_serialize, agg, 1, both, false, (Datum)0, true, &isnull);
  if (isnull) PG_RETURN_NULL();
  PG_RETURN_DATUM(out);
}

// pulse._numeric_state_final(bytea, kind text) → numeric, kind one of var_samp, var_pop,
// stddev_samp, stddev_pop: exactly what the builtin aggregate returns for the same rows.
extern "C" Datum pulse_numeric_state_final(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
  char* kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
  PGFunction fn = NULL;
  if (strcmp(kind, "var_samp") == 0)
    fn = numeric_var_samp;
  else if (strcmp(kind, "var_pop") == 0)
    fn = numeric_var_pop;
  else if (strcmp(kind, "stddev_samp") == 0)
    fn = numeric_stddev_samp;
  else if (strcmp(kind, "stddev_pop") == 0)
    fn = numeric_stddev_pop;
  else
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown variance kind \"%s\"", kind)));
  AggState* agg = fake_agg_state();
  Datum state = deserialize(agg, PG_GETARG_DATUM(0));
  bool isnull;
  Datum r = call_builtin(fn, agg, 1, state, false, (Datum)0, true, &isnull);
  if (isnull) PG_RETURN_NULL();
  PG_RETURN_DATUM(r);
}
