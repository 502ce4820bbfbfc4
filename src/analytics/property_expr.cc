// Property expressions of the insights (docs/insights.md#property-expressions): the `property`
// and `breakdown` arguments may be a column or a JSON path over a jsonb column,
// `properties->>'revenue'`, `(properties->>'revenue')::numeric`, `context->'page'->>'url'`.
// The text is pasted into the insight's query, so it is checked twice: its raw parse tree must
// have exactly that shape (no function call, subquery, qualified or other operator can hide in
// it), and the expression analysed as the caller over the collection may use trusted objects
// only (pg/trust.h): a project role cannot have planted the operator, cast or type it resolves
// to, whatever the caller's search_path.
#include <string>

#include "analytics/single_expression.h"
#include "pg/guard.h"
#include "pg/trust.h"

extern "C" {
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/builtins.h"
}

namespace pulse::analytics {
namespace {

constexpr const char* kShapeHint =
    "A property is a column, a JSON path over a jsonb column such as properties->>'revenue' or "
    "context->'page'->>'url' (operators ->, ->>, #>, #>> with constant keys), or such a path cast to a type: "
    "(properties->>'revenue')::numeric.";

// Whether an operator name (raw, unqualified) is one of the JSON path operators.
bool json_path_operator(List* name) {
  if (list_length(name) != 1) return false;  // OPERATOR(schema.op) is refused
  const char* op = strVal(linitial(name));
  return strcmp(op, "->") == 0 || strcmp(op, "->>") == 0 || strcmp(op, "#>") == 0 || strcmp(op, "#>>") == 0;
}

// What in a raw expression is not a column or a JSON path over one ("" when nothing); `top`:
// a cast is allowed there only. Plain C: runs under pg::call.
const char* shape_problem(Node* n, bool top, int depth) {
  if (depth > 64) return "a path nested too deeply";
  switch (nodeTag(n)) {
    case T_ColumnRef: {
      List* fields = ((ColumnRef*)n)->fields;
      if (list_length(fields) != 1 || !IsA(linitial(fields), String)) return "a qualified column or *";
      return nullptr;
    }
    case T_TypeCast:
      if (!top) return "a cast inside the path";
      return shape_problem(((TypeCast*)n)->arg, false, depth + 1);
    case T_A_Expr: {
      A_Expr* e = (A_Expr*)n;
      if (e->kind != AEXPR_OP || !json_path_operator(e->name)) return "an operator other than ->, ->>, #> and #>>";
      if (e->lexpr == nullptr || e->rexpr == nullptr) return "a prefix operator";
      if (!IsA(e->rexpr, A_Const)) return "a key that is not a constant";
      A_Const* k = (A_Const*)e->rexpr;
      if (k->isnull || !(IsA(&k->val, String) || IsA(&k->val, Integer)))
        return "a key that is not a string or an integer";
      return shape_problem(e->lexpr, false, depth + 1);
    }
    default:
      return "an expression other than a column or a JSON path";
  }
}

}  // namespace

// pulse._insight_expr_type(project text, collection text, expr text) -> regtype
// The type of a property expression over project.collection, analysed as the caller; raises
// 22023 for a text that is not one column or JSON path (with the reason), 42501 when it
// resolves to an untrusted object, and Postgres' own errors (42703 unknown column, 42883 no
// such operator for the column's type, ...).
PULSE_SQL_FUNCTION(pulse_insight_expr_type) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2)) PG_RETURN_NULL();
  std::string project, collection, expr;
  pg::call([&] {
    text* p = PG_GETARG_TEXT_PP(0);
    text* c = PG_GETARG_TEXT_PP(1);
    text* e = PG_GETARG_TEXT_PP(2);
    project.assign(VARDATA_ANY(p), VARSIZE_ANY_EXHDR(p));
    collection.assign(VARDATA_ANY(c), VARSIZE_ANY_EXHDR(c));
    expr.assign(VARDATA_ANY(e), VARSIZE_ANY_EXHDR(e));
  });
  if (expr.find('\0') != std::string::npos || project.find('\0') != std::string::npos ||
      collection.find('\0') != std::string::npos)
    throw Error(sqlstate::kInvalidParameter, "a property must not contain NUL");

  // 1. the raw shape of "SELECT (<expr>\n)": one target, no clause, a column or a JSON path
  const std::string alone = "SELECT (" + expr + "\n)";
  const char* alone_c = alone.c_str();
  const char* problem = "more than one expression";
  pg::call([&] {
    if (Node* e = single_expression(alone_c)) problem = shape_problem(e, true, 0);
  });
  if (problem) throw Error(sqlstate::kInvalidParameter, std::string("a property cannot be ") + problem, "", kShapeHint);

  // 2. analysed as the caller over the collection: trusted objects only, and its type
  std::string from;
  pg::call([&] { from = quote_qualified_identifier(project.c_str(), collection.c_str()); });
  const std::string sql = alone + " FROM " + from;
  const char* sql_c = sql.c_str();
  Query* query = nullptr;
  Oid type = InvalidOid;
  pg::call([&] {
    List* stmts = raw_parser(sql_c, RAW_PARSE_DEFAULT);
    query = parse_analyze_fixedparams(linitial_node(RawStmt, stmts), sql_c, nullptr, 0, nullptr);
    type = exprType((Node*)linitial_node(TargetEntry, query->targetList)->expr);
  });
  const std::string untrusted = pg::untrusted_in_query(query);
  if (!untrusted.empty())
    throw Error(sqlstate::kInsufficientPrivilege, "a property cannot use " + untrusted, "",
                "Properties may use built-in objects and objects owned by a superuser (not temporary ones); "
                "check the search_path.");
  PG_RETURN_OID(type);
}

}  // namespace pulse::analytics
