// See single_expression.h.
#include "analytics/single_expression.h"

extern "C" {
#include "nodes/parsenodes.h"
#include "parser/parser.h"
}

namespace pulse::analytics {

Node* single_expression(const char* select_sql) {
  List* stmts = raw_parser(select_sql, RAW_PARSE_DEFAULT);
  if (list_length(stmts) != 1) return nullptr;
  Node* n = linitial_node(RawStmt, stmts)->stmt;
  if (!IsA(n, SelectStmt)) return nullptr;
  SelectStmt* s = (SelectStmt*)n;
  if (s->op != SETOP_NONE || list_length(s->targetList) != 1 || s->distinctClause != NIL || s->intoClause != nullptr ||
      s->fromClause != NIL || s->whereClause != nullptr || s->groupClause != NIL || s->havingClause != nullptr ||
      s->windowClause != NIL || s->valuesLists != NIL || s->sortClause != NIL || s->limitOffset != nullptr ||
      s->limitCount != nullptr || s->lockingClause != NIL || s->withClause != nullptr)
    return nullptr;
  ResTarget* target = linitial_node(ResTarget, s->targetList);
  return target->name == nullptr ? target->val : nullptr;
}

}  // namespace pulse::analytics
