// Helpers of pulse.funnel (sql/ext/parts/30_analytics.sql) that need the Postgres parser.
#include <string>

#include "analytics/single_expression.h"
#include "pg/guard.h"

extern "C" {
#include "utils/builtins.h"
}

namespace pulse::analytics {

// pulse._funnel_check_filter(filter text) -> void
// A caller-written filter is pasted into generated SQL as "(<filter>\n)": make sure it is
// exactly one expression there, so it cannot close the parenthesis and append clauses
// (FROM, UNION, ORDER BY, a second target...). Syntax errors are raised as the parser
// reports them; the caller turns them into "invalid filter" errors. Types and column names
// are checked afterwards by preparing a query over the collection.
PULSE_SQL_FUNCTION(pulse_funnel_check_filter) {
  if (PG_ARGISNULL(0)) PG_RETURN_VOID();
  std::string filter;
  pg::call([&] {
    text* t = PG_GETARG_TEXT_PP(0);
    filter.assign(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
  });
  if (filter.find('\0') != std::string::npos) throw Error(sqlstate::kInvalidParameter, "a filter must not contain NUL");
  const std::string sql = "SELECT (" + filter + "\n)";
  const char* sql_c = sql.c_str();
  bool single = false;
  pg::call([&] { single = single_expression(sql_c) != nullptr; });
  if (!single)
    throw Error(sqlstate::kInvalidParameter, "a filter must be one SQL expression", "",
                "Parentheses must balance; clauses such as FROM, UNION or ORDER BY are not allowed.");
  PG_RETURN_VOID();
}

}  // namespace pulse::analytics
