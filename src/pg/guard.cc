// The C++/Postgres boundary (see guard.h): the error conversions in both directions.
#include "pg/guard.h"

#include <cstdio>
#include <cstring>
#include <new>

#include "pg/faults.h"

extern "C" {
#include "mb/pg_wchar.h"
#include "utils/memutils.h"
}

namespace pulse::pg {

// The copy of the error is made under a PG_TRY of its own: were it to fail (out of memory,
// most likely right after a 53200), the new error would otherwise jump over every C++ frame
// up to the caller's sigsetjmp.
void throw_current_pg_error(MemoryContext caller_context) {
  MemoryContextSwitchTo(caller_context);
  ErrorData* volatile e = nullptr;
  bool volatile copied = false;
  PG_TRY();
  {
    e = CopyErrorData();
    copied = true;
  }
  PG_CATCH();
  { MemoryContextSwitchTo(caller_context); }
  PG_END_TRY();
  FlushErrorState();
  if (!copied) throw std::bad_alloc();
  throw PgError(e);
}

void report_context_drift() {
  ereport(WARNING, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg_internal("pg_pulse: a Postgres call returned without popping its error context callback")));
}

bool is_abort_error(int code) {
  switch (ERRCODE_TO_CATEGORY(code)) {
    case ERRCODE_OPERATOR_INTERVENTION:             // 57: cancel, termination, shutdown
    case ERRCODE_INSUFFICIENT_RESOURCES:            // 53: out of memory, disk full, too many connections
    case ERRCODE_SYSTEM_ERROR:                      // 58: I/O errors
    case ERRCODE_TRANSACTION_ROLLBACK:              // 40: deadlock, serialisation failure
    case ERRCODE_INVALID_TRANSACTION_STATE:         // 25
    case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:  // 55: lock not available (55P03), ...
    case ERRCODE_CONFIG_FILE_ERROR:                 // F0
      return true;
    default:
      return false;
  }
}

static int to_sqlstate(const char* s) {
  if (strlen(s) != 5) return ERRCODE_INTERNAL_ERROR;
  return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
}

// s cut to at most kMaxMessageBytes (on a character boundary), saying how long it was; s
// itself when it is short. palloc'd in the current memory context.
static char* bounded(const char* s) {
  if (!s) return nullptr;
  size_t len = strlen(s);
  if (len <= kMaxMessageBytes) return const_cast<char*>(s);
  int keep = pg_mbcliplen(s, int(len), int(kMaxMessageBytes));
  return psprintf("%.*s... (%zu bytes in all)", keep, s, len);
}

std::string clip_message(const std::string& s) {
  if (s.size() <= kMaxMessageBytes) return s;
  int keep = int(kMaxMessageBytes);
  call([&] { keep = pg_mbcliplen(s.data(), int(s.size()), int(kMaxMessageBytes)); });
  return s.substr(0, size_t(keep)) + "... (" + std::to_string(s.size()) + " bytes in all)";
}

static void bound_error(ErrorData* e) {
  e->message = bounded(e->message);
  e->detail = bounded(e->detail);
  e->detail_log = bounded(e->detail_log);
  e->hint = bounded(e->hint);
  e->context = bounded(e->context);
  e->internalquery = bounded(e->internalquery);
  if (e->internalquery != nullptr && e->internalpos > int(strlen(e->internalquery))) e->internalpos = 0;
}

// Copies s into buf (at most n bytes with its NUL, cut on a character boundary later by
// bounded()); never allocates, so it is safe inside a catch handler.
static void keep(char* buf, size_t n, const std::string& s) { snprintf(buf, n, "%s", s.c_str()); }

Datum run_entry(FunctionCallInfo fcinfo, Datum (*impl)(FunctionCallInfo)) {
  // What to raise once no C++ frame is left: a Postgres error to rethrow, or our own. The
  // handlers below only copy into these fixed buffers: nothing in a catch handler may raise a
  // Postgres error while the C++ exception is alive.
  ErrorData* pg_error = nullptr;
  // (every row of an aggregate enters here: no pg_snprintf before an error, it was 5 % of a
  // trends query)
  char state[6], message[kMaxMessageBytes + 1], detail[kMaxMessageBytes + 1], hint[kMaxMessageBytes + 1];
  state[0] = message[0] = detail[0] = hint[0] = 0;
  arm_allocation_failure();
  try {
    Datum result = impl(fcinfo);
    disarm_allocation_failure();
    return result;
  } catch (PgError& e) {
    pg_error = e.edata;
  } catch (Error& e) {
    snprintf(state, sizeof state, "%s", e.sqlstate.c_str());
    keep(message, sizeof message, e.what());
    keep(detail, sizeof detail, e.detail);
    keep(hint, sizeof hint, e.hint);
  } catch (std::bad_alloc&) {
    snprintf(state, sizeof state, "%s", sqlstate::kOutOfMemory);
    snprintf(message, sizeof message, "out of memory in pg_pulse");
  } catch (std::exception& e) {
    snprintf(message, sizeof message, "%s", e.what());
  } catch (...) {
    snprintf(message, sizeof message, "unknown C++ exception in pg_pulse");
  }
  disarm_allocation_failure();
  if (pg_error) {
    bound_error(pg_error);
    ReThrowError(pg_error);
  }
  if (!state[0]) snprintf(state, sizeof state, "%s", sqlstate::kInternal);
  // cut on a character boundary (snprintf may have cut a multi-byte character)
  char* m = pstrdup(message);
  m[pg_mbcliplen(m, int(strlen(m)), int(kMaxMessageBytes))] = 0;
  ereport(ERROR, (errcode(to_sqlstate(state)), errmsg_internal("%s", m),
                  detail[0] ? errdetail_internal("%s", detail) : 0, hint[0] ? errhint("%s", hint) : 0));
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
