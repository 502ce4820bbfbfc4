// SPI through the guard: every call may raise a Postgres error, which surfaces as PgError.
#pragma once

#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "pg/guard.h"

extern "C" {
#include "executor/spi.h"
#include "utils/snapshot.h"
}

namespace pulse::pg {

// A statement argument: text (or NULL) unless a type oid is given with a ready Datum.
struct Arg {
  Oid type = TEXTOID;
  Datum value = 0;
  bool is_null = false;
  static Arg text(const std::string& s);
  static Arg null_text();
  static Arg text_array(const std::vector<std::string>& v);
  static Arg bytea_array(const std::vector<std::string>& v);
  static Arg bytea(std::string_view v);
  static Arg int4(int32_t v);
  static Arg int8(int64_t v);
  static Arg boolean(bool v);
};

void spi_connect();
void spi_finish();

// Runs sql; returns SPI_processed. Rows are left in SPI_tuptable for the caller.
uint64_t spi_exec(const std::string& sql, const std::vector<Arg>& args = {}, bool read_only = false);

// Runs sql under the given snapshot (its command id advanced, like SPI_execute_snapshot with
// read_only = false): every statement of a refresh sees exactly the same rows.
uint64_t spi_exec_snapshot(const std::string& sql, const std::vector<Arg>& args, Snapshot snapshot);

// First column of every row as text (NULL -> nullopt).
std::vector<std::optional<std::string>> spi_column(const std::string& sql, const std::vector<Arg>& args = {});

// First column of the first row as text; nullopt when no row or NULL.
std::optional<std::string> spi_value(const std::string& sql, const std::vector<Arg>& args = {});

// Transaction-scoped exclusive advisory locks of pg_pulse (first key "puls"), one space per
// kind of object. The wait is cancellable: a cancel surfaces as PgError. The space is the fourth
// field of the lock tag: SQL's pg_advisory_lock and its kin only make 1 (one bigint key) and 2
// (two integer keys), so no role can take or hold these locks to stall pg_pulse's writers.
enum LockSpace : uint16 {
  kLockCollection = 0x7002,
  kLockView = 0x7003,
  kLockPersons = 0x7004,
  kLockPersonLink = 0x7005
};
void lock_exclusive(uint32 key, LockSpace space);
// The same, keyed by a name (hashed).
void lock_exclusive(const std::string& name, LockSpace space);

// quote_identifier as a std::string.
std::string quote_ident(const std::string& s);
std::string quote_literal(const std::string& s);

// Runs f in an internal subtransaction: commits it when f returns, rolls it back and
// rethrows when f throws. The memory context and resource owner are restored either way.
template <class F>
void in_subtransaction(F&& f);

void subxact_begin(MemoryContext* cxt, ResourceOwner* owner);
void subxact_commit(MemoryContext cxt, ResourceOwner owner);
void subxact_rollback(MemoryContext cxt, ResourceOwner owner);

template <class F>
void in_subtransaction(F&& f) {
  MemoryContext cxt;
  ResourceOwner owner;
  subxact_begin(&cxt, &owner);
  try {
    f();
  } catch (...) {
    subxact_rollback(cxt, owner);
    throw;
  }
  subxact_commit(cxt, owner);
}

}  // namespace pulse::pg
