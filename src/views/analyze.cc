// Analysis of a view's defining query for the incremental and realtime strategies: Postgres'
// own parser and analyzer produce the Query; this file checks it against what can be merged
// exactly, and turns it into the pieces the generated objects are made of (deparsed by
// Postgres' ruleutils, never by string surgery on the user's text).
//
// Plain C flow inside pg::call: walkers run under Postgres, so problems are recorded, not
// thrown, and turned into pulse::Error by the caller.
#include "views/analyze.h"

extern "C" {
#include "catalog/dependency.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "optimizer/optimizer.h"
#include "utils/regproc.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
}

namespace pulse::views {
namespace {

struct Ctx {
  char* problem = nullptr;  // first refusal (palloc'd)
};

void refuse(Ctx* c, const char* what) {
  if (!c->problem) c->problem = pstrdup(what);
}

bool time_type(Oid t) {
  return t == TIMESTAMPTZOID || t == TIMESTAMPOID || t == DATEOID || t == TIMEOID || t == TIMETZOID || t == INTERVALOID;
}

// A stable function is accepted when its result depends only on the session's time zone
// settings, which the view pins: a built-in (pg_catalog) function that takes arguments and
// deals in time types. now() and friends take none; current_setting() deals in text. Stable
// functions of other schemas are not: pulse.last_event_time(regclass) returns a time but reads
// the relation its argument names.
bool stable_allowed(Oid funcid) {
  if (get_func_namespace(funcid) != PG_CATALOG_NAMESPACE) return false;
  Oid* argtypes = nullptr;
  int nargs = 0;
  Oid ret = get_func_signature(funcid, &argtypes, &nargs);
  if (nargs == 0) return false;
  if (time_type(ret)) return true;
  for (int k = 0; k < nargs; k++)
    if (time_type(argtypes[k])) return true;
  return false;
}

struct VolCheck {
  Ctx* ctx;
  Oid bad = InvalidOid;
};

bool check_one_function(Oid funcid, void* arg) {
  VolCheck* v = static_cast<VolCheck*>(arg);
  char vol = func_volatile(funcid);
  if (vol == PROVOLATILE_IMMUTABLE) return false;
  if (vol == PROVOLATILE_STABLE && stable_allowed(funcid)) return false;
  v->bad = funcid;
  return true;
}

bool mutable_walker(Node* node, void* arg) {
  VolCheck* v = static_cast<VolCheck*>(arg);
  if (node == nullptr) return false;
  if (IsA(node, SQLValueFunction)) {
    refuse(v->ctx, "a time- or session-dependent value (CURRENT_TIMESTAMP, CURRENT_USER, ...)");
    return true;
  }
  if (IsA(node, NextValueExpr)) {
    refuse(v->ctx, "a sequence value");
    return true;
  }
  if (IsA(node, Aggref)) return false;  // arguments are checked one by one by the caller
  if (check_functions_in_node(node, check_one_function, v)) {
    char* msg = psprintf("the %s function %s", func_volatile(v->bad) == PROVOLATILE_VOLATILE ? "volatile" : "stable",
                         format_procedure(v->bad));
    refuse(v->ctx, msg);
    return true;
  }
  return expression_tree_walker(node, reinterpret_cast<bool (*)()>(reinterpret_cast<void*>(mutable_walker)), arg);
}

void check_mutable(Ctx* c, Node* n) {
  VolCheck v{c};
  (void)mutable_walker(n, &v);
}

char* deparse(Node* n, List* dpctx) { return deparse_expression(n, dpctx, true, false); }

char* type_sql(Oid typid, int32 typmod, Oid collid) {
  char* t = format_type_extended(typid, typmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
  if (OidIsValid(collid) && collid != DEFAULT_COLLATION_OID && collid != get_typcollation(typid))
    t = psprintf("%s COLLATE %s", t, generate_collation_name(collid));
  return t;
}

bool is_int(Oid t) { return t == INT2OID || t == INT4OID || t == INT8OID; }

// Fills a's kind and state for one aggregate call; records a problem when it cannot be merged.
void classify(Ctx* c, Aggref* ag, AggPlan* a, List* dpctx) {
  char* name = get_func_name(ag->aggfnoid);
  Oid nsp = get_func_namespace(ag->aggfnoid);
  Oid in = ag->aggargtypes ? linitial_oid(ag->aggargtypes) : InvalidOid;
  if (ag->aggkind != AGGKIND_NORMAL) {
    refuse(c, psprintf("the ordered-set aggregate %s(...) WITHIN GROUP", name));
    return;
  }
  if (ag->aggdistinct) {
    refuse(c, psprintf("%s(DISTINCT ...)", name));
    return;
  }
  if (ag->aggorder) {
    refuse(c, psprintf("%s(... ORDER BY ...)", name));
    return;
  }
  for (ListCell* lc = nullptr; (lc = lc ? lnext(ag->args, lc) : list_head(ag->args)) != nullptr;)
    check_mutable(c, (Node*)((TargetEntry*)lfirst(lc))->expr);
  if (ag->aggfilter) check_mutable(c, (Node*)ag->aggfilter);
  if (c->problem) return;

  a->filter = ag->aggfilter ? psprintf(" FILTER (WHERE %s)", deparse((Node*)ag->aggfilter, dpctx)) : pstrdup("");
  a->arg = ag->args ? deparse((Node*)((TargetEntry*)linitial(ag->args))->expr, dpctx) : pstrdup("*");
  a->agg_type = ag->aggtype;
  a->collation = ag->inputcollid;

  Oid hll_ext = get_extension_oid("hll", true);
  if (OidIsValid(hll_ext) && getExtensionOfObject(ProcedureRelationId, ag->aggfnoid) == hll_ext &&
      (strcmp(name, "hll_add_agg") == 0 || strcmp(name, "hll_union_agg") == 0)) {
    a->kind = AggKind::kHll;
    a->hll_schema = pstrdup(quote_identifier(get_namespace_name(nsp)));
    StringInfoData args;
    initStringInfo(&args);
    int k = 0;
    ListCell* lc;
    foreach (lc, ag->args) {
      appendStringInfo(&args, "%s%s", k++ ? ", " : "", deparse((Node*)((TargetEntry*)lfirst(lc))->expr, dpctx));
    }
    a->arg = args.data;
    a->fn = pstrdup(name);
    return;
  }
  bool catalog = nsp == PG_CATALOG_NAMESPACE;
  if (catalog && strcmp(name, "count") == 0) {
    a->kind = AggKind::kCount;
  } else if (catalog && strcmp(name, "sum") == 0) {
    if (in == INT2OID || in == INT4OID)
      a->kind = AggKind::kSumInt8;
    else if (in == INT8OID || in == NUMERICOID || in == FLOAT4OID || in == FLOAT8OID || in == INTERVALOID ||
             in == MONEYOID)
      a->kind = AggKind::kSum;
  } else if (catalog && strcmp(name, "avg") == 0) {
    if (is_int(in) || in == NUMERICOID)
      a->kind = AggKind::kAvgNumeric;
    else if (in == FLOAT4OID || in == FLOAT8OID)
      a->kind = AggKind::kAvgFloat;
    else if (in == INTERVALOID)
      a->kind = AggKind::kAvgInterval;
  } else if (catalog && strcmp(name, "min") == 0) {
    a->kind = AggKind::kMin;
  } else if (catalog && strcmp(name, "max") == 0) {
    a->kind = AggKind::kMax;
  } else if (catalog && (strcmp(name, "bool_and") == 0 || strcmp(name, "every") == 0)) {
    a->kind = AggKind::kBoolAnd;
  } else if (catalog && strcmp(name, "bool_or") == 0) {
    a->kind = AggKind::kBoolOr;
  } else if (catalog &&
             (strcmp(name, "stddev") == 0 || strcmp(name, "stddev_samp") == 0 || strcmp(name, "stddev_pop") == 0 ||
              strcmp(name, "variance") == 0 || strcmp(name, "var_samp") == 0 || strcmp(name, "var_pop") == 0)) {
    const char* kind = strcmp(name, "stddev") == 0 ? "stddev_samp" : strcmp(name, "variance") == 0 ? "var_samp" : name;
    a->fn = pstrdup(kind);
    if (in == FLOAT4OID || in == FLOAT8OID)
      a->kind = AggKind::kVarFloat;
    else if (is_int(in) || in == NUMERICOID)
      a->kind = AggKind::kVarNumeric;
  }
  if (a->kind == AggKind::kNone) refuse(c, psprintf("the aggregate %s", format_procedure(ag->aggfnoid)));
}

struct Replace {
  List* group_exprs;  // Node*, in group key order
  List* group_vars;   // Var* for each
  List* aggs;         // Aggref* in aggregate order (found ones are appended)
  List* agg_vars;     // the Var standing for each of them
  Ctx* ctx;
  List* dpctx;
  List* plans;     // AggPlan*
  int next_attno;  // state table column of the next new aggregate
};

Node* replace_mutator(Node* node, void* arg) {
  Replace* r = static_cast<Replace*>(arg);
  if (node == nullptr) return nullptr;
  ListCell *lg, *lv;
  forboth(lg, r->group_exprs, lv, r->group_vars) {
    if (equal(node, lfirst(lg))) return (Node*)copyObjectImpl(lfirst(lv));
  }
  if (IsA(node, Aggref)) {
    Aggref* ag = (Aggref*)node;
    ListCell *la, *lav;
    forboth(la, r->aggs, lav, r->agg_vars) {
      if (equal(node, lfirst(la))) return (Node*)copyObjectImpl(lfirst(lav));
    }
    AggPlan* p = (AggPlan*)palloc0(sizeof(AggPlan));
    classify(r->ctx, ag, p, r->dpctx);
    Var* v = makeVar(1, AttrNumber(r->next_attno), ag->aggtype, -1, ag->aggcollid, 0);
    r->next_attno += state_columns(p->kind);
    r->aggs = lappend(r->aggs, ag);
    r->agg_vars = lappend(r->agg_vars, v);
    r->plans = lappend(r->plans, p);
    return (Node*)v;
  }
  if (IsA(node, Var) && ((Var*)node)->varlevelsup == 0) {
    // a collection column outside aggregates and group keys (Postgres' analyzer refuses it
    // unless it is functionally dependent on a grouped primary key)
    refuse(r->ctx, "a column outside aggregates that is not a GROUP BY expression");
  }
  return expression_tree_mutator(node, reinterpret_cast<Node* (*)()>(reinterpret_cast<void*>(replace_mutator)), arg);
}

}  // namespace

// Parses and analyses sql (search_path already set by the caller); fills out. Runs under
// pg::call (Postgres errors from the parser surface as PgError).
void analyze_query(const char* sql, Analysis* out) {
  Ctx c;
  List* raw = raw_parser(sql, RAW_PARSE_DEFAULT);
  if (list_length(raw) != 1) {
    out->problem = pstrdup(list_length(raw) == 0 ? "an empty query" : "more than one statement");
    out->not_select = true;
    return;
  }
  RawStmt* rs = linitial_node(RawStmt, raw);
  if (!IsA(rs->stmt, SelectStmt) || ((SelectStmt*)rs->stmt)->intoClause) {
    out->problem = pstrdup("a statement that is not a plain SELECT");
    out->not_select = true;
    return;
  }
  Query* q = parse_analyze_fixedparams(rs, sql, NULL, 0, NULL);
  out->query = q;
  // everything deparsed from here on is qualified unless it lives in pg_catalog
  set_local_search_path("pg_catalog, pg_temp");
  if (q->commandType != CMD_SELECT || q->utilityStmt) {
    out->problem = pstrdup("a statement that is not a plain SELECT");
    out->not_select = true;
    return;
  }
  // relations (for every strategy: cache views read what the project's roles may read)
  if (q->cteList) refuse(&c, "WITH (common table expressions)");
  if (q->setOperations) refuse(&c, "UNION / INTERSECT / EXCEPT");
  if (q->hasWindowFuncs) refuse(&c, "window functions");
  if (q->hasTargetSRFs) refuse(&c, "set-returning functions in the select list");
  if (q->hasSubLinks) refuse(&c, "subqueries");
  if (q->distinctClause) refuse(&c, q->hasDistinctOn ? "DISTINCT ON" : "SELECT DISTINCT");
  if (q->sortClause) refuse(&c, "ORDER BY (sort when reading the view instead)");
  if (q->limitCount || q->limitOffset) refuse(&c, "LIMIT / OFFSET");
  if (q->rowMarks) refuse(&c, "FOR UPDATE / FOR SHARE");
  if (q->groupingSets) refuse(&c, "GROUPING SETS / ROLLUP / CUBE");
  if (list_length(q->rtable) != 1 || list_length(q->jointree->fromlist) != 1 ||
      !IsA(linitial(q->jointree->fromlist), RangeTblRef)) {
    refuse(&c, list_length(q->rtable) == 0 ? "a query without a collection in FROM"
                                           : "joins or more than one relation in FROM");
  } else {
    RangeTblEntry* rte = linitial_node(RangeTblEntry, q->rtable);
    if (rte->rtekind == RTE_SUBQUERY)
      refuse(&c, "a subquery in FROM");
    else if (rte->rtekind == RTE_FUNCTION)
      refuse(&c, "a function in FROM");
    else if (rte->rtekind != RTE_RELATION ||
             (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_PARTITIONED_TABLE))
      refuse(&c, "a FROM item that is not a collection table");
    else {
      out->relid = rte->relid;
      out->relname = get_rel_name(rte->relid);
      out->nspname = get_namespace_name(get_rel_namespace(rte->relid));
      if (rte->inh == false) refuse(&c, "FROM ONLY");
    }
  }
  if (!q->hasAggs && q->groupClause == NIL && !c.problem)
    refuse(&c, "a query without GROUP BY or aggregates (nothing to pre-aggregate)");
  if (c.problem) {
    out->problem = c.problem;
    return;
  }
  List* dpctx = deparse_context_for(out->relname, out->relid);
  if (q->jointree->quals) {
    check_mutable(&c, q->jointree->quals);
    out->where_sql = deparse(q->jointree->quals, dpctx);
  }
  Replace r{};
  r.ctx = &c;
  r.dpctx = dpctx;
  int gi = 0;
  ListCell* lc;
  foreach (lc, q->groupClause) {
    SortGroupClause* sgc = lfirst_node(SortGroupClause, lc);
    Node* e = get_sortgroupclause_expr(sgc, q->targetList);
    check_mutable(&c, e);
    Var* v = makeVar(1, AttrNumber(++gi), exprType(e), exprTypmod(e), exprCollation(e), 0);
    r.group_exprs = lappend(r.group_exprs, e);
    r.group_vars = lappend(r.group_vars, v);
    GroupPlan* g = (GroupPlan*)palloc0(sizeof(GroupPlan));
    g->sql = deparse(e, dpctx);
    g->type_sql = type_sql(exprType(e), exprTypmod(e), exprCollation(e));
    out->groups = lappend(out->groups, g);
  }
  r.next_attno = (gi > 0 ? gi : 1) + 1;  // after the group keys (or the _k column)
  // the output columns and HAVING, with group keys and aggregates replaced by placeholders
  foreach (lc, q->targetList) {
    TargetEntry* te = lfirst_node(TargetEntry, lc);
    if (te->resjunk) continue;
    OutPlan* o = (OutPlan*)palloc0(sizeof(OutPlan));
    o->name = te->resname ? pstrdup(te->resname) : pstrdup("?column?");
    o->expr = replace_mutator((Node*)te->expr, &r);
    out->outputs = lappend(out->outputs, o);
  }
  if (q->havingQual) out->having = replace_mutator(q->havingQual, &r);
  // what is computed over the finalised aggregates runs when the view is read
  foreach (lc, out->outputs) check_mutable(&c, ((OutPlan*)lfirst(lc))->expr);
  if (out->having) check_mutable(&c, out->having);
  out->aggs = r.plans;
  if (c.problem) out->problem = c.problem;
}

void set_local_search_path(const char* path) {
  (void)set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

// Deparses the placeholders' expressions against the state table (group keys g<i>, the first
// state column of aggregate j named f<j>).
char* deparse_against(Node* n, const char* alias, Oid state_relid) {
  List* dpctx = deparse_context_for(alias, state_relid);
  return deparse_expression(n, dpctx, true, false);
}

}  // namespace pulse::views
