// Analysis of a view's defining query (see analyze.cc). Plain Postgres data (palloc'd), filled
// under pg::call.
#pragma once

#include "pg/guard.h"

extern "C" {
#include "nodes/pg_list.h"
#include "nodes/parsenodes.h"
#include "nodes/primnodes.h"
}

namespace pulse::views {

enum class AggKind {
  kNone,
  kCount,        // count(*), count(x): int8, merged by adding
  kSumInt8,      // sum of int2/int4: int8
  kSum,          // sum of int8 (numeric), numeric, float4, float8, interval, money
  kAvgNumeric,   // avg of integers / numeric: (sum numeric, count int8)
  kAvgFloat,     // avg of float4/float8: (sum float8, count int8)
  kAvgInterval,  // avg of interval: (sum interval, count int8)
  kMin,
  kMax,
  kBoolAnd,
  kBoolOr,
  kVarFloat,    // stddev/variance family of float4/float8: float8[3] (N, Sx, Sxx) of float8_accum
  kVarNumeric,  // stddev/variance family of integers / numeric: serialised NumericAggState
  kHll,         // hll_add_agg / hll_union_agg (postgresql-hll)
};

inline int state_columns(AggKind k) {
  return k == AggKind::kAvgNumeric || k == AggKind::kAvgFloat || k == AggKind::kAvgInterval ? 2 : 1;
}

struct AggPlan {
  AggKind kind;
  char* arg;         // deparsed argument(s) ("*" for count(*))
  char* filter;      // " FILTER (WHERE ...)" or ""
  char* fn;          // variance kind (var_samp, ...) or hll aggregate name
  char* hll_schema;  // quoted schema of postgresql-hll
  Oid agg_type;      // result type of the aggregate
  Oid collation;     // input collation (min/max of text)
};

struct GroupPlan {
  char* sql;       // deparsed group expression over the collection
  char* type_sql;  // its type (qualified, with typmod and COLLATE)
};

struct OutPlan {
  char* name;  // output column name
  Node* expr;  // expression over the state table (group keys and finalised aggregates)
};

struct Analysis {
  Query* query = nullptr;   // the analysed query (for the trust check and the deparsed definition)
  char* problem = nullptr;  // the construct that cannot be maintained incrementally
  bool not_select = false;  // not even a single SELECT (refused for every strategy)
  Oid relid = InvalidOid;
  char* relname = nullptr;
  char* nspname = nullptr;
  char* where_sql = nullptr;
  List* groups = nullptr;   // GroupPlan*
  List* aggs = nullptr;     // AggPlan*
  List* outputs = nullptr;  // OutPlan*
  Node* having = nullptr;
};

void analyze_query(const char* sql, Analysis* out);
char* deparse_against(Node* n, const char* alias, Oid state_relid);
// search_path for the rest of the calling function (SET LOCAL; restored by its SET clause).
void set_local_search_path(const char* path);

}  // namespace pulse::views
