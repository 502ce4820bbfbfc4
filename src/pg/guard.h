// The C++/Postgres boundary (STYLE.md rules 1-3).
//
//  * pg::call(f): runs f, which may call Postgres, under PG_TRY. A Postgres ERROR inside is
//    copied, the error state flushed, and rethrown as pg::PgError once PG_END_TRY has run, so
//    C++ destructors run. A C++ exception thrown by f is caught inside the PG_TRY region (into a
//    std::exception_ptr) and rethrown after PG_END_TRY: no C++ exception ever leaves a PG_TRY
//    region. PG_exception_stack and error_context_stack are restored on every exit (a callee
//    that left an error context callback pushed gets a WARNING); the caller's memory context is
//    restored after an error.
//    f itself must hold no object with a non-trivial destructor across Postgres calls.
//  * PULSE_SQL_FUNCTION(name): defines the extern "C" entry point `name` that runs
//    name##_impl(fcinfo) and turns every C++ exception into ereport(ERROR) with a SQLSTATE,
//    after all C++ frames are gone. Messages are bounded (kMaxMessageBytes per part).
#pragma once

#include <exception>
#include <string>

#include "core/error.h"

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/elog.h"
}

namespace pulse::pg {

// Longest message, detail, hint or context pg_pulse passes on (longer ones are cut).
constexpr size_t kMaxMessageBytes = 2048;

// s cut to at most kMaxMessageBytes on a character boundary (saying how long it was), for
// messages stored in catalog columns or logged.
std::string clip_message(const std::string& s);

// A Postgres error caught by call(); owns a copy of its ErrorData (palloc'd in the memory
// context that was current before the call).
struct PgError : std::exception {
  ErrorData* edata;
  explicit PgError(ErrorData* e) : edata(e) {}
  const char* what() const noexcept override { return edata && edata->message ? edata->message : "postgres error"; }
  int sqlerrcode() const { return edata ? edata->sqlerrcode : 0; }
};

[[noreturn]] void throw_current_pg_error(MemoryContext caller_context);

// A WARNING: a callee returned without popping the error context callback it pushed (call()
// notices it before PG_END_TRY restores the stack).
void report_context_drift();

// Whether an error must end the whole statement (cancel, termination, shutdown, out of memory
// or disk, I/O and other system errors, lock and serialisation failures) rather than be charged
// to the events at hand: such errors are never turned into dead letters, rejected fields or
// bisections. Any other error is isolated down to the event (or collection) that causes it.
bool is_abort_error(int sqlerrcode);

template <class F>
inline void call(F&& f) {
  MemoryContext volatile cxt = CurrentMemoryContext;
  ErrorContextCallback* volatile context = error_context_stack;
  bool volatile failed = false;
  bool volatile drifted = false;
  std::exception_ptr cpp_error;
  PG_TRY();
  {
    try {
      f();
    } catch (...) {
      cpp_error = std::current_exception();
    }
    drifted = error_context_stack != context;
  }
  PG_CATCH();
  { failed = true; }
  PG_END_TRY();  // restores PG_exception_stack and error_context_stack on both paths
  if (failed) throw_current_pg_error(cxt);
  if (drifted) report_context_drift();
  if (cpp_error) std::rethrow_exception(cpp_error);
}

// Entry-point body: returns the Datum of impl, or raises the exception as a Postgres error.
Datum run_entry(FunctionCallInfo fcinfo, Datum (*impl)(FunctionCallInfo));

// Argument n of a SQL function as text (it must not be NULL).
std::string text_arg(FunctionCallInfo fcinfo, int n);
// The same, raising 22023 "<what> must not be null" for NULL.
std::string require_text(FunctionCallInfo fcinfo, int n, const char* what);

// CHECK_FOR_INTERRUPTS through the guard.
inline void check_interrupts() {
  call([] { CHECK_FOR_INTERRUPTS(); });
}

}  // namespace pulse::pg

#define PULSE_SQL_FUNCTION(name)                                                                 \
  static Datum name##_impl(FunctionCallInfo fcinfo);                                             \
  extern "C" {                                                                                   \
  PG_FUNCTION_INFO_V1(name);                                                                     \
  PGDLLEXPORT Datum name(PG_FUNCTION_ARGS) { return pulse::pg::run_entry(fcinfo, name##_impl); } \
  }                                                                                              \
  static Datum name##_impl([[maybe_unused]] FunctionCallInfo fcinfo)
