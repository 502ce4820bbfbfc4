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

Datum deserialize(AggState* agg, Datum bytes) {
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
