// The raw parse of a caller-written expression (a filter, a property) that pg_pulse pastes into
// generated SQL: it must be exactly one expression there, so it cannot close a parenthesis and
// append clauses (FROM, UNION, ORDER BY, a second target, a second statement).
#pragma once

#include "pg/guard.h"  // (first: it orders the C++ and Postgres headers)

extern "C" {
#include "nodes/nodes.h"
}

namespace pulse::analytics {

// The raw expression of `select_sql` ("SELECT (<text>\n)") when it is one SELECT of exactly one
// unnamed target and no clause; nullptr otherwise. Syntax errors are raised as the parser
// reports them. Plain C: call under pg::call.
Node* single_expression(const char* select_sql);

}  // namespace pulse::analytics
