#include "pg/guard.h"

#include <new>

extern "C" {
#include "utils/memutils.h"
}

namespace pulse::pg {

void throw_current_pg_error(MemoryContext caller_context) {
  MemoryContextSwitchTo(caller_context);
  ErrorData* e = CopyErrorData();
  FlushErrorState();
  throw PgError(e);
}

static int to_sqlstate(const std::string& s) {
  if (s.size() != 5) return ERRCODE_INTERNAL_ERROR;
  return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
}

Datum run_entry(FunctionCallInfo fcinfo, Datum (*impl)(FunctionCallInfo)) {
  // What to raise once no C++ frame is left: a Postgres error to rethrow, or our own.
  ErrorData* pg_error = nullptr;
  char state[6] = "XX000";
  char* message = nullptr;
  char* detail = nullptr;
  char* hint = nullptr;
  auto keep = [](const std::string& s) -> char* { return s.empty() ? nullptr : pstrdup(s.c_str()); };
  try {
    return impl(fcinfo);
  } catch (PgError& e) {
    pg_error = e.edata;
  } catch (Error& e) {
    snprintf(state, sizeof state, "%s", e.sqlstate.c_str());
    message = keep(e.what());
    detail = keep(e.detail);
    hint = keep(e.hint);
  } catch (std::bad_alloc&) {
    snprintf(state, sizeof state, "53200");
    message = pstrdup("out of memory in pg_pulse");
  } catch (std::exception& e) {
    message = pstrdup(e.what());
  } catch (...) {
    message = pstrdup("unknown C++ exception in pg_pulse");
  }
  if (pg_error) ReThrowError(pg_error);
  ereport(ERROR, (errcode(to_sqlstate(state)), errmsg_internal("%s", message),
                  detail ? errdetail_internal("%s", detail) : 0, hint ? errhint("%s", hint) : 0));
  pg_unreachable();
}

std::string text_arg(FunctionCallInfo fcinfo, int n) {
  std::string out;
  call([&] {
    text* t = PG_GETARG_TEXT_PP(n);
    out.assign(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
  });
  return out;
}

std::string require_text(FunctionCallInfo fcinfo, int n, const char* what) {
  if (PG_ARGISNULL(n)) throw Error(sqlstate::kInvalidParameter, std::string(what) + " must not be null");
  return text_arg(fcinfo, n);
}

}  // namespace pulse::pg
