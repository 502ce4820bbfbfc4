// SPI through the guard (see spi.h).
#include "pg/spi.h"

#include <unordered_map>

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/resowner.h"
#include "miscadmin.h"
#include "storage/lock.h"
}

namespace pulse::pg {

Arg Arg::text(const std::string& s) {
  Arg a;
  call([&] { a.value = PointerGetDatum(cstring_to_text_with_len(s.data(), int(s.size()))); });
  return a;
}

Arg Arg::null_text() {
  Arg a;
  a.is_null = true;
  return a;
}

Arg Arg::text_array(const std::vector<std::string>& v) {
  Arg a;
  a.type = TEXTARRAYOID;
  const std::string* items = v.data();
  int n = int(v.size());
  call([&] {
    Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * (n ? n : 1)));
    for (int k = 0; k < n; k++) d[k] = PointerGetDatum(cstring_to_text_with_len(items[k].data(), int(items[k].size())));
    a.value = PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
  });
  return a;
}

Arg Arg::bytea_array(const std::vector<std::string>& v) {
  Arg a;
  a.type = BYTEAARRAYOID;
  const std::string* items = v.data();
  int n = int(v.size());
  call([&] {
    Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * (n ? n : 1)));
    for (int k = 0; k < n; k++) {
      ::bytea* b = static_cast<::bytea*>(palloc(VARHDRSZ + items[k].size()));
      SET_VARSIZE(b, VARHDRSZ + items[k].size());
      memcpy(VARDATA(b), items[k].data(), items[k].size());
      d[k] = PointerGetDatum(b);
    }
    a.value = PointerGetDatum(construct_array(d, n, BYTEAOID, -1, false, TYPALIGN_INT));
  });
  return a;
}

Arg Arg::bytea(std::string_view v) {
  Arg a;
  a.type = BYTEAOID;
  call([&] {
    ::bytea* b = static_cast<::bytea*>(palloc(VARHDRSZ + v.size()));
    SET_VARSIZE(b, VARHDRSZ + v.size());
    memcpy(VARDATA(b), v.data(), v.size());
    a.value = PointerGetDatum(b);
  });
  return a;
}

Arg Arg::int4(int32_t v) {
  Arg a;
  a.type = INT4OID;
  a.value = Int32GetDatum(v);
  return a;
}

Arg Arg::int8(int64_t v) {
  Arg a;
  a.type = INT8OID;
  a.value = Int64GetDatum(v);
  return a;
}

Arg Arg::boolean(bool v) {
  Arg a;
  a.type = BOOLOID;
  a.value = BoolGetDatum(v);
  return a;
}

void spi_connect() {
  call([] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  });
}

void spi_finish() {
  call([] { SPI_finish(); });
}

namespace {

// Runs run(types, values, nulls) under the guard with the arguments laid out for SPI.
template <class F>
uint64_t with_spi_args(const std::vector<Arg>& args, F&& run) {
  int n = int(args.size());
  const Arg* in = args.data();
  uint64_t processed = 0;
  call([&] {
    Oid* types = static_cast<Oid*>(palloc(sizeof(Oid) * (n ? n : 1)));
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * (n ? n : 1)));
    char* nulls = static_cast<char*>(palloc(n + 1));
    for (int k = 0; k < n; k++) {
      types[k] = in[k].type;
      values[k] = in[k].value;
      nulls[k] = in[k].is_null ? 'n' : ' ';
    }
    nulls[n] = 0;
    run(n, types, values, nulls);
    processed = SPI_processed;
  });
  return processed;
}

}  // namespace

namespace {

// Saved plans of single SELECT statements, by text and argument types: the catalog reads every
// ingestion call makes (project, spec, collection) are planned once per backend, not per call.
// Postgres' plan cache revalidates them when what they read changes (and checks privileges and
// search_path at each execution). At kMaxPlans, all are freed and the cache starts again.
constexpr size_t kMaxPlans = 256;
std::unordered_map<std::string, SPIPlanPtr> saved_plans;

bool plan_cacheable(const std::string& sql) {
  return sql.compare(0, 7, "SELECT ") == 0 && sql.find(';') == std::string::npos;
}

std::string plan_key(const std::string& sql, const std::vector<Arg>& args) {
  std::string key = sql;
  for (const Arg& a : args) key += "|" + std::to_string(a.type);
  return key;
}

}  // namespace

uint64_t spi_exec(const std::string& sql, const std::vector<Arg>& args, bool read_only) {
  const char* q = sql.c_str();
  if (!plan_cacheable(sql))
    return with_spi_args(args, [&](int n, Oid* types, Datum* values, char* nulls) {
      int rc = SPI_execute_with_args(q, n, types, values, nulls, read_only, 0);
      if (rc < 0) elog(ERROR, "SPI_execute_with_args failed (%d): %s", rc, q);
    });
  std::string key = plan_key(sql, args);
  auto it = saved_plans.find(key);
  SPIPlanPtr plan = it == saved_plans.end() ? nullptr : it->second;
  if (!plan && saved_plans.size() >= kMaxPlans) {
    for (auto& [k, p] : saved_plans) call([&] { SPI_freeplan(p); });
    saved_plans.clear();
  }
  if (!plan) {
    call([&] {
      Oid* types = static_cast<Oid*>(palloc(sizeof(Oid) * (args.empty() ? 1 : args.size())));
      for (size_t k = 0; k < args.size(); k++) types[k] = args[k].type;
      plan = SPI_prepare(q, int(args.size()), types);
      if (!plan) elog(ERROR, "SPI_prepare failed (%d): %s", SPI_result, q);
      if (SPI_keepplan(plan) != 0) elog(ERROR, "SPI_keepplan failed: %s", q);
    });
    saved_plans.emplace(std::move(key), plan);
  }
  uint64_t processed = with_spi_args(args, [&](int, Oid*, Datum* values, char* nulls) {
    int rc = SPI_execute_plan(plan, values, nulls, read_only, 0);
    if (rc < 0) elog(ERROR, "SPI_execute_plan failed (%d): %s", rc, q);
  });
  return processed;
}

uint64_t spi_exec_snapshot(const std::string& sql, const std::vector<Arg>& args, Snapshot snapshot) {
  const char* q = sql.c_str();
  return with_spi_args(args, [&](int n, Oid* types, Datum* values, char* nulls) {
    SPIPlanPtr plan = SPI_prepare(q, n, types);
    if (!plan) elog(ERROR, "SPI_prepare failed (%d): %s", SPI_result, q);
    int rc = SPI_execute_snapshot(plan, values, nulls, snapshot, InvalidSnapshot, false, true, 0);
    if (rc < 0) elog(ERROR, "SPI_execute_snapshot failed (%d): %s", rc, q);
    SPI_freeplan(plan);
  });
}

std::vector<std::optional<std::string>> spi_column(const std::string& sql, const std::vector<Arg>& args) {
  uint64_t n = spi_exec(sql, args, false);
  std::vector<std::optional<std::string>> out;
  out.reserve(n);
  for (uint64_t r = 0; r < n; r++) {
    char* v = nullptr;
    call([&] { v = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1); });
    if (v)
      out.emplace_back(std::string(v));
    else
      out.emplace_back(std::nullopt);
  }
  return out;
}

std::optional<std::string> spi_value(const std::string& sql, const std::vector<Arg>& args) {
  auto col = spi_column(sql, args);
  if (col.empty()) return std::nullopt;
  return col[0];
}

void lock_exclusive(uint32 key, LockSpace space) {
  call([&] {
    LOCKTAG tag;
    SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0x70756c73 /* "puls" */, key, space);
    (void)LockAcquire(&tag, ExclusiveLock, false, false);
  });
}

void lock_exclusive(const std::string& name, LockSpace space) {
  uint32 h = 0;
  call([&] { h = hash_bytes(reinterpret_cast<const unsigned char*>(name.data()), int(name.size())); });
  lock_exclusive(h, space);
}

std::string quote_ident(const std::string& s) {
  const char* q = nullptr;
  call([&] { q = quote_identifier(s.c_str()); });
  return std::string(q);
}

std::string quote_literal(const std::string& s) {
  char* q = nullptr;
  call([&] { q = quote_literal_cstr(s.c_str()); });
  return std::string(q);
}

void subxact_begin(MemoryContext* cxt, ResourceOwner* owner) {
  *cxt = CurrentMemoryContext;
  *owner = CurrentResourceOwner;
  call([] { BeginInternalSubTransaction(NULL); });
  MemoryContextSwitchTo(*cxt);
}

void subxact_commit(MemoryContext cxt, ResourceOwner owner) {
  call([] { ReleaseCurrentSubTransaction(); });
  MemoryContextSwitchTo(cxt);
  CurrentResourceOwner = owner;
}

void subxact_rollback(MemoryContext cxt, ResourceOwner owner) {
  try {
    call([] { RollbackAndReleaseCurrentSubTransaction(); });
  } catch (...) {
    MemoryContextSwitchTo(cxt);
    CurrentResourceOwner = owner;
    throw;
  }
  MemoryContextSwitchTo(cxt);
  CurrentResourceOwner = owner;
}

}  // namespace pulse::pg
