// Single-pass aggregates behind pulse.funnel, pulse.retention, pulse.trends and pulse.paths
// (sql/ext/parts/30_analytics.sql, 31_insights.sql). Each one reads every event of the
// analysis in ONE aggregate state instead of one Postgres group per actor, and the final
// function returns the whole report. The funnel and retention number actors
// (core/actor_ids.h) and keep per-actor data in flat arrays; unique users keep one set of
// actors per bucket (core/bucket_uniques.h). They are internal (pulse._*_report): the insight
// builders validate the arguments and shape the output.
//
// Counted by person (pulse.funnel & co. with actor => 'person'), the aggregates take the
// project's mapping <project>._person_ids as a last regclass argument and resolve ids
// themselves (core/person_map.h) instead of reading events joined with it: the mapping is read
// once, through SPI as the caller, when the first row arrives.
//
// The state is a C++ object created with new and deleted by a reset callback of the aggregate
// context, so it is freed when the query ends or fails. The final functions consume it, so the
// aggregates are FINALFUNC_MODIFY = READ_WRITE (no window or shared use).
#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analytics/person_cache.h"
#include "core/actor_batch.h"
#include "core/actor_ids.h"
#include "core/bucket_uniques.h"
#include "core/funnel_report.h"
#include "core/paths_report.h"
#include "core/person_map.h"
#include "core/retention_matrix.h"
#include "pg/guard.h"
#include "pg/spi.h"

extern "C" {
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/varlena.h"
}

namespace pulse::analytics {
namespace {

// What every report keeps: its bucket bounds, and whether the final function has run.
struct ReportState {
  MemoryContextCallback cb{};
  std::vector<int64_t> bounds;  // bucket k = [bounds[k], bounds[k + 1])
  bool finished = false;

  virtual ~ReportState() = default;
  virtual void flush() {}

  // The bucket of ts, -1 before bounds[0] and nbuckets() at or after the last bound. Rows
  // come mostly in time order: the previous row's bucket is tried first.
  int64_t bucket_of(int64_t ts) {
    const size_t k = last_bucket;
    if (k + 1 < bounds.size() && bounds[k] <= ts && ts < bounds[k + 1]) return int64_t(k);
    const int64_t b = int64_t(std::upper_bound(bounds.begin(), bounds.end(), ts) - bounds.begin()) - 1;
    if (b >= 0 && size_t(b) + 1 < bounds.size()) last_bucket = size_t(b);
    return b;
  }
  size_t last_bucket = 0;
};

// A report over numbered actors: the actor numbering and the rows not yet numbered. Rows are
// numbered 256 at a time so the table's cache misses overlap (ActorIds::intern_many);
// apply() then hands each row to the report.
struct ReportBase : ReportState {
  struct Row {
    int64_t ts;
    uint32_t a, b, c;  // report-specific payload
  };

  ActorIds actors;
  ActorBatch<Row, 256> rows;

  virtual void apply(const Row& r, uint32_t actor) = 0;
  // Starts fetching what apply() for actor touches (the per-actor arrays are probed at random).
  virtual void prefetch(uint32_t actor) const = 0;

  void queue(std::string_view actor, int64_t ts, uint32_t a, uint32_t b, uint32_t c = 0) {
    if (rows.push(actor, Row{ts, a, b, c})) flush();
  }
  void flush() override {
    std::string_view keys[decltype(rows)::kCapacity];
    uint32_t ids[decltype(rows)::kCapacity];
    const size_t n = rows.size();
    for (size_t i = 0; i < n; ++i) keys[i] = rows.actor(i);
    actors.intern_many(keys, n, ids);
    constexpr size_t kAhead = 16;
    for (size_t i = 0; i < n && i < kAhead; ++i) prefetch(ids[i]);
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) prefetch(ids[i + kAhead]);
      apply(rows.payload(i), ids[i]);
    }
    rows.clear();
  }
};

std::string_view text_view(FunctionCallInfo fcinfo, int n);

// The breakdown values of a report: each distinct value (text, or NULL) gets a number at its
// first row; values order as the general plans' `ORDER BY value` and `min(value)` do: by the
// call's collation, NULL last.
struct ValueNumbers {
  Oid collation = InvalidOid;
  std::deque<std::optional<std::string>> values;  // by number
  // The non-NULL values' table (the actors' open addressing, core/actor_ids.h: each start or
  // step-1 row, or each row of a trends breakdown, looks its value up; a node-based map was
  // ~10 % of a trends query by url) and the number of each of its ids.
  ActorIds ids;
  std::vector<uint32_t> number_of_id;
  std::optional<uint32_t> null_number;

  // The order for the report (nothing without a breakdown).
  std::function<bool(uint32_t, uint32_t)> order(bool by_value) {
    if (!by_value) return {};
    return [this](uint32_t a, uint32_t b) { return less(a, b); };
  }
  uint32_t number(const std::string_view* value) {
    if (!value) {
      if (!null_number) {
        null_number = uint32_t(values.size());
        values.emplace_back();
      }
      return *null_number;
    }
    const uint32_t id = ids.intern(*value);
    if (id == number_of_id.size()) {
      number_of_id.push_back(uint32_t(values.size()));
      values.emplace_back(*value);
    }
    return number_of_id[id];
  }
  bool less(uint32_t a, uint32_t b) const {
    const auto &x = values[a], &y = values[b];
    if (!x || !y) return x.has_value() && !y.has_value();
    int c = 0;
    pg::call([&] { c = varstr_cmp(x->data(), int(x->size()), y->data(), int(y->size()), collation); });
    return c < 0;
  }
  // The number + 1 of argument n (a text, NULL included) of a breakdown call.
  uint32_t tag(FunctionCallInfo fcinfo, int n) {
    std::string_view v;
    if (!PG_ARGISNULL(n)) v = text_view(fcinfo, n);
    return number(PG_ARGISNULL(n) ? nullptr : &v) + 1;
  }
  // The values with the numbers in keep, in that order, as a text[] (NULL included).
  ArrayType* text_array(const std::vector<uint32_t>& keep) const;
};

// a: the steps the event matches, b: the exclusions, c: with a breakdown, its value's number + 1
struct FunnelState : ReportBase {
  ValueNumbers values;
  FunnelReport report;
  FunnelState(const FunnelParams& p, std::vector<FunnelExclusion> x, bool by_value)
      : report(p, std::move(x), values.order(by_value)) {}
  void apply(const Row& r, uint32_t actor) override { report.add(actor, r.ts, r.a, r.b, r.c); }
  void prefetch(uint32_t actor) const override { report.prefetch(actor); }
};

struct CohortState : ReportBase {
  ValueNumbers values;
  RetentionMatrix matrix;
  int cohorts;
  int64_t range_from;
  CohortState(int c, int periods, bool first_time, int64_t from, bool by_value)
      : matrix(c, periods, first_time, values.order(by_value)), cohorts(c), range_from(from) {}
  // a: is a start event (with a breakdown: its value's number + 1), b: is a return event
  void prefetch(uint32_t actor) const override { matrix.prefetch(actor); }
  void apply(const Row& r, uint32_t actor) override {
    const int64_t bucket = bucket_of(r.ts);
    if (r.a) matrix.add_start(actor, r.ts < range_from ? -1 : bucket, r.ts, r.a - 1);
    if (r.b) matrix.add_return(actor, bucket);
  }
};

// The persons of n actors (actor(i); hashes[i] = ActorIds::hash of it), in passes whose cache
// misses overlap (UniquesState below): keys[i] and key_hashes[i] are the person and its hash,
// or the actor and its own when it is not mapped. rows: room for n; key_hashes may be hashes.
template <class ActorAt>
void resolve_persons(const PersonMap& persons, size_t n, ActorAt actor, const uint64_t* hashes, uint32_t* rows,
                     std::string_view* keys, uint64_t* key_hashes) {
  constexpr uint32_t kMaybe = 0;  // (until the second pass finds the row or kNone)
  for (size_t i = 0; i < n; ++i) {
    rows[i] = persons.maybe_mapped(hashes[i]) ? kMaybe : PersonMap::kNone;
    if (rows[i] == kMaybe) persons.prefetch(hashes[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    if (rows[i] == PersonMap::kNone) continue;
    rows[i] = persons.row(actor(i), hashes[i]);
    if (rows[i] != PersonMap::kNone) persons.prefetch_row(rows[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    const bool mapped = rows[i] != PersonMap::kNone;
    keys[i] = mapped ? persons.person(rows[i]) : actor(i);
    key_hashes[i] = mapped ? persons.person_hash(rows[i]) : hashes[i];
  }
}

// Rows go straight to the per-bucket sets (core/bucket_uniques.h), which batch them. With a
// person mapping, rows are resolved to their persons 256 at a time in passes, so that the
// cache misses of the mapping overlap instead of adding up: the filter bits (most ids are told
// apart as unmapped by one bit, PersonMap::maybe_mapped), the table slots of the ids that may
// be mapped, then the persons of the mapped ones, whose hashes the mapping keeps (no id is
// hashed twice). Without the passes, the filter's misses alone were 16 % of a person-mode
// trends query (bench/analytics/persons.sh, 10M events).
struct UniquesState : ReportState {
  struct Pending {
    uint64_t hash;
    int bucket;
  };
  BucketUniques seen;
  std::shared_ptr<const PersonMap> persons;  // (analytics/person_cache.h)
  ActorBatch<Pending, 256> pending;
  uint32_t rows[decltype(pending)::kCapacity];
  uint64_t hashes[decltype(pending)::kCapacity];
  std::string_view keys[decltype(pending)::kCapacity];
  BucketUniques::Row resolved[decltype(pending)::kCapacity];
  explicit UniquesState(int nbuckets) : seen(nbuckets) {}
  // Counts persons through the mapping of argument n, if any (before the first row).
  void resolve_by(FunctionCallInfo fcinfo, int n);

  void add(int bucket, std::string_view actor) {
    const uint64_t h = ActorIds::hash(actor);
    if (!persons) {
      seen.add_hashed(bucket, actor, h);
      return;
    }
    persons->prefetch_filter(h);
    if (pending.push(actor, Pending{h, bucket})) flush();
  }
  void flush() override {
    const size_t n = pending.size();
    for (size_t i = 0; i < n; ++i) hashes[i] = pending.payload(i).hash;
    resolve_persons(
        *persons, n, [this](size_t i) { return pending.actor(i); }, hashes, rows, keys, hashes);
    for (size_t i = 0; i < n; ++i) resolved[i] = BucketUniques::Row{pending.payload(i).bucket, keys[i], hashes[i]};
    seen.add_many(resolved, n);
    pending.clear();
  }
};

// pulse.trends' unique users with a breakdown, in one pass: every row counts for its value's
// rank (as the general plan's count(*) per value), and each row with an actor in a bucket is
// logged as (actor number, value number, bucket), 12 bytes (16 while it is sorted at the end,
// beside the actors' and values' tables). At the end the values are ranked,
// the top `limit` are groups of their own and the rest one more group ('other'), and the log
// is sorted by (group, bucket) with one counting sort and its distinct actors counted with a
// stamp per actor. Reading the events once to rank the values and again into per-group sets
// took twice the time of one unique_users trends query (bench/analytics/run.sh, trends by url).
struct RankedUniquesState : ReportBase {
  struct Logged {
    uint32_t actor, value, bucket;
  };
  // the log in blocks of three huge pages (core/huge_array.h: no doubling copies, fresh pages
  // dear; 6 MB is a whole number of entries)
  static constexpr size_t kBlock = (size_t(6) << 20) / sizeof(Logged);
  static_assert(kBlock * sizeof(Logged) == size_t(6) << 20, "blocks fill their huge pages");
  ValueNumbers values;
  std::vector<int64_t> rows_of;  // by value number: its rows
  std::vector<HugeArray<Logged>> log;
  size_t last_fill = kBlock, logged = 0;
  size_t limit = 0, nbuckets = 0;
  // Counting persons: the mapping kept between reports (analytics/person_cache.h); each row's
  // actor is resolved to its person, which is numbered (as UniquesState's passes do).
  std::shared_ptr<const PersonMap> persons;
  void apply(const Row& r, uint32_t actor) override {
    if (last_fill == kBlock) {
      log.emplace_back(kBlock);
      last_fill = 0;
    }
    log.back()[last_fill++] = Logged{actor, r.a, r.b};
    logged++;
  }
  // Calls f(entry) for every logged entry, in the order logged, and tick() after each block;
  // release: each block is given back once read.
  template <class F>
  void consume(F&& f, bool release) {
    for (size_t c = 0; c < log.size(); ++c) {
      const size_t n = c + 1 == log.size() ? last_fill : kBlock;
      for (size_t i = 0; i < n; ++i) f(log[c][i]);
      if (release) log[c] = HugeArray<Logged>();
      pg::check_interrupts();
    }
    if (release) log.clear();
  }
  void prefetch(uint32_t) const override {}
  void flush() override {
    if (!persons) {
      ReportBase::flush();
      return;
    }
    constexpr size_t kCap = decltype(rows)::kCapacity;
    std::string_view keys[kCap];
    uint64_t hashes[kCap];
    uint32_t found[kCap], ids[kCap];
    const size_t n = rows.size();
    for (size_t i = 0; i < n; ++i) {
      hashes[i] = ActorIds::hash(rows.actor(i));
      persons->prefetch_filter(hashes[i]);
    }
    resolve_persons(
        *persons, n, [this](size_t i) { return rows.actor(i); }, hashes, found, keys, hashes);
    actors.intern_many(keys, n, ids);
    for (size_t i = 0; i < n; ++i) apply(rows.payload(i), ids[i]);
    rows.clear();
  }
};

void delete_state(void* arg) { delete static_cast<ReportState*>(arg); }

// The aggregate context of this call; 0A000 outside an aggregate.
MemoryContext agg_context(FunctionCallInfo fcinfo, const char* what) {
  MemoryContext cxt = nullptr;
  bool ok = false;
  pg::call([&] { ok = AggCheckCallContext(fcinfo, &cxt) == AGG_CONTEXT_AGGREGATE; });
  if (!ok) throw Error(sqlstate::kFeatureNotSupported, std::string(what) + " can only be called as a plain aggregate");
  return cxt;
}

// Ties a new state's lifetime to the aggregate context.
template <class S>
S* adopt(std::unique_ptr<S> st, MemoryContext cxt) {
  S* raw = st.get();
  raw->cb.func = delete_state;
  raw->cb.arg = static_cast<ReportState*>(raw);
  pg::call([&] { MemoryContextRegisterResetCallback(cxt, &raw->cb); });
  st.release();
  return raw;
}

template <class S>
S* state_arg(FunctionCallInfo fcinfo) {
  return PG_ARGISNULL(0) ? nullptr : reinterpret_cast<S*>(PG_GETARG_POINTER(0));
}

// Argument n, a text, as bytes. Inline values are read in place; compressed or external ones
// are detoasted (in the per-row memory context).
std::string_view text_view(FunctionCallInfo fcinfo, int n) {
  auto* v = reinterpret_cast<struct varlena*>(DatumGetPointer(PG_GETARG_DATUM(n)));
  if (VARATT_IS_COMPRESSED(v) || VARATT_IS_EXTERNAL(v)) pg::call([&] { v = pg_detoast_datum_packed(v); });
  return std::string_view(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
}

// A one-dimensional array argument without NULLs, as int64 values (timestamptz, int4).
std::vector<int64_t> int_array(FunctionCallInfo fcinfo, int n, Oid elem, const char* what) {
  if (PG_ARGISNULL(n)) throw Error(sqlstate::kNullValueNotAllowed, std::string(what) + " must not be null");
  std::vector<int64_t> out;
  bool bad = false;
  Datum* d = nullptr;
  bool* nulls = nullptr;
  int count = 0;
  pg::call([&] {
    ArrayType* a = PG_GETARG_ARRAYTYPE_P(n);
    if (ARR_ELEMTYPE(a) != elem || ARR_NDIM(a) > 1) {
      bad = true;
      return;
    }
    int16 len;
    bool byval;
    char align;
    get_typlenbyvalalign(elem, &len, &byval, &align);
    deconstruct_array(a, elem, len, byval, align, &d, &nulls, &count);
  });
  if (bad) throw Error(sqlstate::kInvalidParameter, std::string(what) + " must be a one-dimensional array");
  out.reserve(size_t(count));
  for (int i = 0; i < count; ++i) {
    if (nulls[i]) throw Error(sqlstate::kInvalidParameter, std::string(what) + " must not contain nulls");
    out.push_back(elem == INT4OID ? int64_t(DatumGetInt32(d[i])) : int64_t(DatumGetTimestampTz(d[i])));
  }
  return out;
}

// Bucket bounds: strictly increasing timestamps, at least two.
std::vector<int64_t> bounds_arg(FunctionCallInfo fcinfo, int n) {
  std::vector<int64_t> b = int_array(fcinfo, n, TIMESTAMPTZOID, "bucket bounds");
  if (b.size() < 2 || !std::is_sorted(b.begin(), b.end()) || std::adjacent_find(b.begin(), b.end()) != b.end())
    throw Error(sqlstate::kInvalidParameter, "bucket bounds must be at least two increasing timestamps");
  return b;
}

int32_t int4_arg(FunctionCallInfo fcinfo, int n, const char* what) {
  if (PG_ARGISNULL(n)) throw Error(sqlstate::kNullValueNotAllowed, std::string(what) + " must not be null");
  return PG_GETARG_INT32(n);
}

template <class S>
S* finishing(FunctionCallInfo fcinfo) {
  S* st = state_arg<S>(fcinfo);
  if (st && st->finished) throw Error(sqlstate::kFeatureNotSupported, "a report aggregate can be finalised only once");
  if (st) {
    st->finished = true;
    st->flush();
  }
  return st;
}

// The mapping argument n (a regclass: <project>._person_ids), or InvalidOid when absent or
// NULL (actors are counted by raw id).
Oid mapping_arg(FunctionCallInfo fcinfo, int n) {
  return PG_NARGS() > n && !PG_ARGISNULL(n) ? PG_GETARG_OID(n) : InvalidOid;
}

// The mapping rel's name (schema-qualified and quoted) and the planner's estimate of its rows
// (0 when never analyzed).
struct MappingMeta {
  const char* name = nullptr;
  double estimate = 0;
};

MappingMeta mapping_meta(Oid rel) {
  MappingMeta m;
  pg::call([&] {
    char* nsp = get_namespace_name(get_rel_namespace(rel));
    char* relname = get_rel_name(rel);
    if (!nsp || !relname)
      ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("person mapping %u does not exist", rel)));
    m.name = quote_qualified_identifier(nsp, relname);
    HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
    if (!HeapTupleIsValid(tup)) return;
    m.estimate = std::max(double(reinterpret_cast<Form_pg_class>(GETSTRUCT(tup))->reltuples), 0.0);
    ReleaseSysCache(tup);
  });
  return m;
}

// The error of a mapping whose columns are not distinct_id and person_id, both text (both
// reading paths raise it).
[[noreturn]] void bad_mapping(const char* name) {
  ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                  errmsg("person mapping %s must have the text columns distinct_id and person_id", name)));
  pg_unreachable();
}

// After the first batch of got rows: room for the rest. Most rows of a project's mapping map
// an id to itself (skipped), so the estimate is scaled by the first batch's share of others.
void reserve_rest(const MappingMeta& m, PersonMap& map, uint64_t got) {
  constexpr double kMaxReserve = double(size_t(1) << 22);  // (a stale estimate reserves no more)
  if (got == 0 || m.estimate <= double(got)) return;
  const double share = double(map.size()) / double(got);
  map.reserve(size_t(std::min((m.estimate - double(got)) * share, kMaxReserve)));
}

// The mapping's rows through SPI (SELECT distinct_id, person_id FROM rel: no operator or
// function the caller could shadow) as the caller, so its privileges and row-level security
// apply as they would to the join, under the query's snapshot (read_only), through a cursor
// kFetch rows at a time with an interrupt check per batch. PersonMap drops the rows that map
// an id to itself, as the join's `distinct_id <> person_id` does (the columns' collation is
// the database's, deterministic: inequality is byte inequality).
void spi_mapping(const MappingMeta& m, PersonMap& map) {
  constexpr long kFetch = 10000;
  const char* name = m.name;
  const std::string sql = std::string("SELECT distinct_id, person_id FROM ") + name;
  const char* q = sql.c_str();
  std::vector<std::string_view> ids, persons;
  ids.reserve(kFetch);
  persons.reserve(kFetch);
  Portal portal = nullptr;
  bool first = true;
  pg::spi_connect();
  pg::call([&] {
    SPIPlanPtr plan = SPI_prepare(q, 0, nullptr);
    if (!plan) elog(ERROR, "SPI_prepare failed (%d): %s", SPI_result, q);
    portal = SPI_cursor_open(nullptr, plan, nullptr, nullptr, true);
  });
  for (;;) {
    ids.clear();
    persons.clear();
    uint64_t got = 0;
    pg::call([&] {
      CHECK_FOR_INTERRUPTS();
      SPI_cursor_fetch(portal, true, kFetch);
      got = SPI_processed;
      if (got == 0) return;
      TupleDesc td = SPI_tuptable->tupdesc;
      if (td->natts != 2 || SPI_gettypeid(td, 1) != TEXTOID || SPI_gettypeid(td, 2) != TEXTOID) bad_mapping(name);
      for (uint64 r = 0; r < got; r++) {
        bool null_id, null_person;
        Datum d = SPI_getbinval(SPI_tuptable->vals[r], td, 1, &null_id);
        Datum p = SPI_getbinval(SPI_tuptable->vals[r], td, 2, &null_person);
        // (a NULL on either side resolves nothing: coalesce(person_id, _user) is the _user)
        if (null_id || null_person) continue;
        auto* dv = pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(DatumGetPointer(d)));
        auto* pv = pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(DatumGetPointer(p)));
        ids.emplace_back(VARDATA_ANY(dv), VARSIZE_ANY_EXHDR(dv));
        persons.emplace_back(VARDATA_ANY(pv), VARSIZE_ANY_EXHDR(pv));
      }
    });
    if (got == 0) break;
    map.add_many(ids.data(), persons.data(), ids.size());
    if (first) reserve_rest(m, map, got);
    first = false;
    pg::call([] { SPI_freetuptable(SPI_tuptable); });
  }
  pg::call([&] { SPI_cursor_close(portal); });
  pg::spi_finish();
}

// The mapping's rows read straight from its heap, when nothing the query would apply differs:
// a plain table the caller may SELECT from as a whole, without row-level security for them.
// Otherwise false, and spi_mapping reads it (and raises what the query would). Under the
// query's snapshot; the column values are copied kFetch rows at a time, with an interrupt
// check per batch. Through SPI (executor, tuple copies), the mapping's load was 17 % of a
// person-mode trends query at 10M events (bench/analytics/persons.sh).
bool scan_mapping(Oid rel, const MappingMeta& m, PersonMap& map) {
  constexpr size_t kFetch = 10000;
  if (!mapping_readable_whole(rel)) return false;
  Relation r = nullptr;
  TableScanDesc scan = nullptr;
  TupleTableSlot* slot = nullptr;
  MemoryContext detoasted = nullptr;
  AttrNumber id_att = InvalidAttrNumber, person_att = InvalidAttrNumber;
  pg::call([&] {
    r = table_open(rel, AccessShareLock);
    id_att = get_attnum(rel, "distinct_id");
    person_att = get_attnum(rel, "person_id");
    if (id_att == InvalidAttrNumber || person_att == InvalidAttrNumber || get_atttype(rel, id_att) != TEXTOID ||
        get_atttype(rel, person_att) != TEXTOID)
      bad_mapping(m.name);
    scan = table_beginscan(r, GetActiveSnapshot(), 0, nullptr);
    slot = table_slot_create(r, nullptr);
    detoasted = AllocSetContextCreate(CurrentMemoryContext, "person mapping", ALLOCSET_DEFAULT_SIZES);
  });
  const int natts = std::max(id_att, person_att);
  struct Pair {
    size_t off;
    uint32_t id_len, person_len;
  };
  std::string bytes;
  std::vector<Pair> pairs;
  std::vector<std::string_view> ids, persons;
  uint64_t rows_read = 0;
  pairs.reserve(kFetch);
  bytes.reserve(kFetch * 32);
  bool done = false;
  while (!done) {
    pairs.clear();
    bytes.clear();
    pg::call([&] {
      CHECK_FOR_INTERRUPTS();
      MemoryContextReset(detoasted);
      MemoryContext old = MemoryContextSwitchTo(detoasted);
      while (pairs.size() < kFetch) {
        if (!table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
          done = true;
          break;
        }
        slot_getsomeattrs(slot, natts);
        // (a NULL on either side resolves nothing: coalesce(person_id, _user) is the _user)
        if (slot->tts_isnull[id_att - 1] || slot->tts_isnull[person_att - 1]) continue;
        auto* dv =
            pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(DatumGetPointer(slot->tts_values[id_att - 1])));
        auto* pv = pg_detoast_datum_packed(
            reinterpret_cast<struct varlena*>(DatumGetPointer(slot->tts_values[person_att - 1])));
        const size_t dn = VARSIZE_ANY_EXHDR(dv), pn = VARSIZE_ANY_EXHDR(pv);
        pairs.push_back(Pair{bytes.size(), uint32_t(dn), uint32_t(pn)});
        bytes.append(VARDATA_ANY(dv), dn);
        bytes.append(VARDATA_ANY(pv), pn);
      }
      MemoryContextSwitchTo(old);
    });
    ids.clear();
    persons.clear();
    for (const Pair& p : pairs) {
      ids.emplace_back(bytes.data() + p.off, p.id_len);
      persons.emplace_back(bytes.data() + p.off + p.id_len, p.person_len);
    }
    map.add_many(ids.data(), persons.data(), ids.size());
    if (rows_read == 0) reserve_rest(m, map, pairs.size());
    rows_read += pairs.size();
  }
  pg::call([&] {
    ExecDropSingleTupleTableSlot(slot);
    table_endscan(scan);
    table_close(r, AccessShareLock);
    MemoryContextDelete(detoasted);
  });
  return true;
}

// Reads the mapping rel (text columns distinct_id, person_id: <project>._person_ids) into map,
// then finishes it: the rows that map an id to another, as the join of pulse._insight_from
// reads them, under the query's snapshot, as the caller. The table is named by its oid
// (schema-qualified and quoted: nothing the caller can shadow). Returns whether it read the
// whole table straight from its heap (scan_mapping).
bool load_mapping(Oid rel, PersonMap& map) {
  const MappingMeta m = mapping_meta(rel);
  const bool whole = scan_mapping(rel, m, map);
  if (!whole) spi_mapping(m, map);
  map.finish();
  return whole;
}

// Numbers the actors of a new report by the mapping rel, if any (before its first row).
void seed_actors(ReportBase* st, Oid rel) {
  if (!OidIsValid(rel)) return;
  PersonMap seed(&st->actors);
  load_mapping(rel, seed);
}

void tick() { pg::check_interrupts(); }

// values as a bigint array of ndims (at most 3) dimensions (row-major), lower bounds 1.
ArrayType* bigint_array(const std::vector<int64_t>& values, int ndims, int* dims) {
  ArrayType* out = nullptr;
  pg::call([&] {
    auto* d = static_cast<Datum*>(palloc(sizeof(Datum) * (values.size() + 1)));
    for (size_t i = 0; i < values.size(); ++i) d[i] = Int64GetDatum(values[i]);
    int lbs[3] = {1, 1, 1};
    out = construct_md_array(d, nullptr, ndims, dims, lbs, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
  });
  return out;
}

ArrayType* empty_array(Oid elem) {
  ArrayType* out = nullptr;
  pg::call([&] { out = construct_empty_array(elem); });
  return out;
}

ArrayType* ValueNumbers::text_array(const std::vector<uint32_t>& keep) const {
  if (keep.empty()) return empty_array(TEXTOID);
  ArrayType* out = nullptr;
  pg::call([&] {
    auto* d = static_cast<Datum*>(palloc(sizeof(Datum) * keep.size()));
    auto* nulls = static_cast<bool*>(palloc(sizeof(bool) * keep.size()));
    for (size_t k = 0; k < keep.size(); ++k) {
      const auto& v = values[keep[k]];
      nulls[k] = !v.has_value();
      d[k] = v ? PointerGetDatum(cstring_to_text_with_len(v->data(), int(v->size()))) : Datum(0);
    }
    int dims[1] = {int(keep.size())}, lbs[1] = {1};
    out = construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
  });
  return out;
}

// A row of the calling function's composite result type from non-NULL values.
Datum composite(FunctionCallInfo fcinfo, Datum* values, const char* what) {
  Datum result = 0;
  pg::call([&] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
      elog(ERROR, "%s: result type is not composite", what);
    desc = BlessTupleDesc(desc);
    auto* nulls = static_cast<bool*>(palloc0(sizeof(bool) * size_t(desc->natts)));
    result = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
  });
  return result;
}

// ---------------------------------------------------------------- funnel

// A duration as `timestamptz - timestamptz` returns it: justified to whole days + time.
Interval justified(int64_t usecs) {
  Interval iv;
  iv.month = 0;
  iv.day = int32(usecs / kUsecsPerDay);
  iv.time = usecs % kUsecsPerDay;
  return iv;
}

// pulse._funnel_step values of one step: (users, avg_time_to_convert, median_time_to_convert),
// the averages and medians computed with Postgres' own interval arithmetic, as avg() and
// percentile_cont(0.5) over the per-actor intervals would.
void step_values(const FunnelStepReport& s, bool first, Datum* values, bool* nulls) {
  values[0] = Int64GetDatum(s.users);
  nulls[0] = false;
  nulls[1] = nulls[2] = first || s.users == 0;
  if (nulls[1]) return;
  if (s.sum_days > PG_INT32_MAX)
    ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("interval out of range")));
  auto* sum = static_cast<Interval*>(palloc(sizeof(Interval)));
  sum->month = 0;
  sum->day = int32(s.sum_days);
  sum->time = s.sum_usecs;
  values[1] = DirectFunctionCall2(interval_div, IntervalPGetDatum(sum), Float8GetDatum(double(s.users)));
  auto* lo = static_cast<Interval*>(palloc(sizeof(Interval)));
  *lo = justified(s.median_lo);
  if (s.median_lo == s.median_hi) {
    values[2] = IntervalPGetDatum(lo);
  } else {
    // percentile_cont's interpolation: lo + (hi - lo) * 0.5
    auto* hi = static_cast<Interval*>(palloc(sizeof(Interval)));
    *hi = justified(s.median_hi);
    Datum diff = DirectFunctionCall2(interval_mi, IntervalPGetDatum(hi), IntervalPGetDatum(lo));
    Datum half = DirectFunctionCall2(interval_mul, diff, Float8GetDatum(0.5));
    values[2] = DirectFunctionCall2(interval_pl, half, IntervalPGetDatum(lo));
  }
}

}  // namespace

// pulse._funnel_report_add(internal, actor text, ts timestamptz, steps int, exclusions int,
//   window interval, modes int, nsteps int, excl_from int[], excl_to int[] [, mapping regclass])
//   -> internal
// steps / exclusions: bit k = step / exclusion k + 1 matched by the row. (The transition of
// both funnel reports; by_value: the breakdown value is argument 5 and the others follow it.)
Datum funnel_add(FunctionCallInfo fcinfo, bool by_value) {
  const int o = by_value ? 1 : 0;
  auto* st = state_arg<FunnelState>(fcinfo);
  if (!st) {
    MemoryContext cxt = agg_context(fcinfo, "pulse._funnel_report");
    FunnelParams p;
    if (PG_ARGISNULL(5 + o)) throw Error(sqlstate::kNullValueNotAllowed, "the conversion window must not be null");
    // the same check as window_funnel_steps, the general plan's aggregate (core/funnel.h)
    const Interval* w = PG_GETARG_INTERVAL_P(5 + o);
    const FunnelWindowProblem problem = funnel_window(w->month, w->day, w->time, &p.window);
    if (problem != FunnelWindowProblem::kNone)
      throw Error(sqlstate::kInvalidParameter, funnel_window_message(problem, "conversion_window"), "",
                  problem == FunnelWindowProblem::kMonths ? kFunnelWindowMonthsHint : "");
    p.modes = uint32_t(int4_arg(fcinfo, 6 + o, "modes"));
    p.nsteps = int4_arg(fcinfo, 7 + o, "nsteps");
    if (p.nsteps < 1 || p.nsteps > kMaxFunnelSteps || (p.modes & ~kFunnelAllModes) ||
        !funnel_modes_problem(p.modes).empty())
      throw Error(sqlstate::kInvalidParameter, "invalid funnel steps or modes");
    const std::vector<int64_t> from = int_array(fcinfo, 8 + o, INT4OID, "exclusion from_step");
    const std::vector<int64_t> to = int_array(fcinfo, 9 + o, INT4OID, "exclusion to_step");
    if (from.size() != to.size()) throw Error(sqlstate::kInvalidParameter, "exclusion steps must pair up");
    std::vector<FunnelExclusion> x;
    for (size_t i = 0; i < from.size(); ++i) x.push_back(FunnelExclusion{int(from[i]), int(to[i])});
    st = adopt(std::make_unique<FunnelState>(p, std::move(x), by_value), cxt);
    st->values.collation = PG_GET_COLLATION();
    seed_actors(st, mapping_arg(fcinfo, 10 + o));
  }
  if (PG_ARGISNULL(1) || PG_ARGISNULL(2)) PG_RETURN_POINTER(st);
  const TimestampTz ts = PG_GETARG_TIMESTAMPTZ(2);
  if (TIMESTAMP_NOT_FINITE(ts)) PG_RETURN_POINTER(st);
  const uint32_t steps = PG_ARGISNULL(3) ? 0 : uint32_t(PG_GETARG_INT32(3));
  const uint32_t excl = PG_ARGISNULL(4) ? 0 : uint32_t(PG_GETARG_INT32(4));
  // (only step-1 events carry a value: the others' would never be read)
  st->queue(text_view(fcinfo, 1), ts, steps, excl,
            by_value && (steps & 1) && !PG_ARGISNULL(5) ? st->values.tag(fcinfo, 5) : 0);
  PG_RETURN_POINTER(st);
}

PULSE_SQL_FUNCTION(pulse_funnel_report_add) { return funnel_add(fcinfo, false); }

// pulse._funnel_report_add(internal, actor, ts, steps, exclusions, value text, window, modes,
//   nsteps, from_steps, to_steps [, mapping]) -> internal: the same with a breakdown (value: the
// event's breakdown value; read for step-1 events only, core/funnel_report.h).
PULSE_SQL_FUNCTION(pulse_funnel_report_by_value_add) { return funnel_add(fcinfo, true); }

// The steps of a report as a pulse._funnel_step[] (the element type of the result of the
// calling function, or of its second column when composite).
ArrayType* step_array(FunctionCallInfo fcinfo, const FunnelStepReport* steps, size_t n, int nsteps, bool in_composite) {
  ArrayType* out = nullptr;
  pg::call([&] {
    Oid elem = InvalidOid;
    if (in_composite) {
      TupleDesc rd;
      if (get_call_result_type(fcinfo, nullptr, &rd) == TYPEFUNC_COMPOSITE && rd->natts == 2)
        elem = get_element_type(TupleDescAttr(rd, 1)->atttypid);
    } else {
      elem = get_element_type(get_fn_expr_rettype(fcinfo->flinfo));
    }
    if (!OidIsValid(elem)) elog(ERROR, "pulse._funnel_report: result type unknown");
    TupleDesc desc = lookup_rowtype_tupdesc_copy(elem, -1);
    BlessTupleDesc(desc);
    auto* d = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    for (size_t k = 0; k < n; ++k) {
      Datum values[3];
      bool nulls[3];
      step_values(steps[k], k % size_t(nsteps) == 0, values, nulls);
      d[k] = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
    }
    int16 len;
    bool byval;
    char align;
    get_typlenbyvalalign(elem, &len, &byval, &align);
    out = construct_array(d, int(n), elem, len, byval, align);
  });
  return out;
}

// pulse._funnel_report_final(internal) -> pulse._funnel_step[]: one element per step.
PULSE_SQL_FUNCTION(pulse_funnel_report_final) {
  auto* st = finishing<FunnelState>(fcinfo);
  if (!st) PG_RETURN_NULL();
  const std::vector<FunnelStepReport> steps = st->report.finish(tick);
  PG_RETURN_ARRAYTYPE_P(step_array(fcinfo, steps.data(), steps.size(), int(steps.size()), false));
}

// pulse._funnel_report_by_value_final(internal) -> pulse._funnel_by_value: the breakdown values
// of the actors who reached step 1 (NULL: no value), and nsteps steps per value, one value
// after the other; without such actors, NULL alone with zero users.
PULSE_SQL_FUNCTION(pulse_funnel_report_by_value_final) {
  auto* st = finishing<FunnelState>(fcinfo);
  if (!st) PG_RETURN_NULL();
  const size_t nvalues = st->values.values.size();
  const std::vector<FunnelStepReport> all = st->report.finish(tick, nvalues);
  const size_t nsteps = all.size() / (nvalues + 1);
  std::vector<uint32_t> keep;
  std::vector<FunnelStepReport> steps;
  auto take = [&](size_t group, uint32_t value) {
    keep.push_back(value);
    steps.insert(steps.end(), all.begin() + long(group * nsteps), all.begin() + long((group + 1) * nsteps));
  };
  // (the group of no value is the last; a NULL value given to the report is no value too)
  const uint32_t null_value = st->values.number(nullptr);
  for (size_t g = 0; g < nvalues; ++g)
    if (all[g * nsteps].users > 0 && g != null_value) take(g, uint32_t(g));
  if (all[nvalues * nsteps].users > 0 || keep.empty()) take(nvalues, null_value);
  Datum values[2] = {PointerGetDatum(st->values.text_array(keep)),
                     PointerGetDatum(step_array(fcinfo, steps.data(), steps.size(), int(nsteps), true))};
  return composite(fcinfo, values, "pulse._funnel_report_by_value_final");
}

// The transition of both retention reports; by_value: the breakdown value is argument 5 and
// the others follow it.
Datum retention_add(FunctionCallInfo fcinfo, bool by_value) {
  const int o = by_value ? 1 : 0;
  auto* st = state_arg<CohortState>(fcinfo);
  if (!st) {
    MemoryContext cxt = agg_context(fcinfo, "pulse._retention_report");
    std::vector<int64_t> bounds = bounds_arg(fcinfo, 5 + o);
    const int cohorts = int4_arg(fcinfo, 6 + o, "cohorts");
    const int periods = int4_arg(fcinfo, 7 + o, "periods");
    if (PG_ARGISNULL(8 + o) || PG_ARGISNULL(9 + o))
      throw Error(sqlstate::kNullValueNotAllowed, "first_time and range_from must not be null");
    if (!RetentionMatrix::fits(cohorts, periods) || bounds.size() != size_t(cohorts + periods))
      throw Error(sqlstate::kInvalidParameter, "retention report needs cohorts + periods bucket bounds");
    auto s =
        std::make_unique<CohortState>(cohorts, periods, PG_GETARG_BOOL(8 + o), PG_GETARG_TIMESTAMPTZ(9 + o), by_value);
    s->bounds = std::move(bounds);
    s->values.collation = PG_GET_COLLATION();
    st = adopt(std::move(s), cxt);
    seed_actors(st, mapping_arg(fcinfo, 10 + o));
  }
  if (PG_ARGISNULL(1) || PG_ARGISNULL(2)) PG_RETURN_POINTER(st);
  const TimestampTz ts = PG_GETARG_TIMESTAMPTZ(2);
  const bool is_start = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
  const bool is_return = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
  if (!is_start && !is_return) PG_RETURN_POINTER(st);
  const uint32_t start = !is_start ? 0 : by_value ? st->values.tag(fcinfo, 5) : 1;
  st->queue(text_view(fcinfo, 1), ts, start, is_return);
  PG_RETURN_POINTER(st);
}

// pulse._retention_report_add(internal, actor text, ts timestamptz, is_start boolean,
//   is_return boolean, bounds timestamptz[], cohorts int, periods int, first_time boolean,
//   range_from timestamptz [, mapping regclass]) -> internal
// bounds: the starts of buckets 0 .. cohorts + periods - 1 and the end of the last one.
PULSE_SQL_FUNCTION(pulse_retention_report_add) { return retention_add(fcinfo, false); }

// pulse._retention_report_add(internal, actor, ts, is_start, is_return, breakdown text, bounds,
//   cohorts, periods, first_time, range_from [, mapping]) -> internal: the same by breakdown
// value (that of the start event that puts the actor in the cohort, core/retention_matrix.h).
PULSE_SQL_FUNCTION(pulse_retention_report_by_value_add) { return retention_add(fcinfo, true); }

// pulse._retention_report_final(internal) -> bigint[][]: cohorts x periods counts, [c][1] =
// the cohort's size, [c][k + 1] = its actors who returned in period k.
PULSE_SQL_FUNCTION(pulse_retention_report_final) {
  auto* st = finishing<CohortState>(fcinfo);
  if (!st) PG_RETURN_NULL();
  const std::vector<int64_t> m = st->matrix.finish();
  int dims[2] = {st->cohorts, int(m.size() / size_t(st->cohorts))};
  PG_RETURN_ARRAYTYPE_P(bigint_array(m, 2, dims));
}

// pulse._retention_report_by_value_final(internal) -> pulse._retention_by_value: the breakdown
// values (text[], NULL included, in no order) and their counts (bigint[][][]: values x cohorts
// x periods, laid out as _retention_report_final's per value).
PULSE_SQL_FUNCTION(pulse_retention_report_by_value_final) {
  auto* st = finishing<CohortState>(fcinfo);
  if (!st) PG_RETURN_NULL();
  const size_t nvalues = st->values.values.size();
  const std::vector<int64_t> m = st->matrix.finish(nvalues);
  std::vector<uint32_t> all(nvalues);
  for (size_t k = 0; k < nvalues; ++k) all[k] = uint32_t(k);
  ArrayType* counts = empty_array(INT8OID);
  if (nvalues > 0) {
    int dims[3] = {int(nvalues), st->cohorts, int(m.size() / nvalues / size_t(st->cohorts))};
    counts = bigint_array(m, 3, dims);
  }
  Datum values[2] = {PointerGetDatum(st->values.text_array(all)), PointerGetDatum(counts)};
  return composite(fcinfo, values, "pulse._retention_report_by_value_final");
}

// pulse._uniques_report_add(internal, actor text, ts timestamptz, bounds timestamptz[]
//   [, mapping regclass]) -> internal: the distinct actors of each bucket [bounds[k], bounds[k + 1]).
void UniquesState::resolve_by(FunctionCallInfo fcinfo, int n) {
  if (const Oid rel = mapping_arg(fcinfo, n); OidIsValid(rel))
    persons = person_map(rel, [rel](PersonMap& m) { return load_mapping(rel, m); });
}

PULSE_SQL_FUNCTION(pulse_uniques_report_add) {
  auto* st = state_arg<UniquesState>(fcinfo);
  if (!st) {
    MemoryContext cxt = agg_context(fcinfo, "pulse._uniques_report");
    std::vector<int64_t> bounds = bounds_arg(fcinfo, 3);
    auto s = std::make_unique<UniquesState>(int(bounds.size() - 1));
    s->bounds = std::move(bounds);
    st = adopt(std::move(s), cxt);
    st->resolve_by(fcinfo, 4);
  }
  if (PG_ARGISNULL(1) || PG_ARGISNULL(2)) PG_RETURN_POINTER(st);
  const int64_t b = st->bucket_of(PG_GETARG_TIMESTAMPTZ(2));
  if (b < 0 || b >= st->seen.nbuckets()) PG_RETURN_POINTER(st);
  st->add(int(b), text_view(fcinfo, 1));
  PG_RETURN_POINTER(st);
}

// pulse._uniques_report_final(internal) -> bigint[]: distinct actors per bucket.
PULSE_SQL_FUNCTION(pulse_uniques_report_final) {
  auto* st = finishing<UniquesState>(fcinfo);
  if (!st) PG_RETURN_NULL();
  const std::vector<int64_t> c = st->seen.counts();
  int dims[1] = {int(c.size())};
  PG_RETURN_ARRAYTYPE_P(bigint_array(c, 1, dims));
}

// pulse._uniques_report_add(internal, actor text, ts timestamptz, value text, limit int,
//   bounds timestamptz[] [, mapping regclass]) -> internal: the distinct actors per bucket of
// each breakdown group, for pulse.trends with a breakdown (RankedUniquesState).
PULSE_SQL_FUNCTION(pulse_uniques_report_ranked_add) {
  auto* st = state_arg<RankedUniquesState>(fcinfo);
  if (!st) {
    MemoryContext cxt = agg_context(fcinfo, "pulse._uniques_report");
    const int limit = int4_arg(fcinfo, 4, "the breakdown limit");
    if (limit < 1) throw Error(sqlstate::kInvalidParameter, "the breakdown limit must be at least 1");
    std::vector<int64_t> bounds = bounds_arg(fcinfo, 5);
    const size_t nb = bounds.size() - 1;
    if ((size_t(limit) + 1) * nb > size_t(BucketUniques::kMaxBuckets))
      throw Error(sqlstate::kProgramLimit, "too many breakdown groups times buckets for one report");
    auto s = std::make_unique<RankedUniquesState>();
    s->bounds = std::move(bounds);
    s->limit = size_t(limit);
    s->nbuckets = nb;
    st = adopt(std::move(s), cxt);
    st->values.collation = PG_GET_COLLATION();
    if (const Oid rel = mapping_arg(fcinfo, 6); OidIsValid(rel))
      st->persons = person_map(rel, [rel](PersonMap& m) { return load_mapping(rel, m); });
  }
  std::string_view value;
  if (!PG_ARGISNULL(3)) value = text_view(fcinfo, 3);
  const uint32_t v = st->values.number(PG_ARGISNULL(3) ? nullptr : &value);
  if (v == st->rows_of.size()) st->rows_of.push_back(0);
  st->rows_of[v]++;
  if (PG_ARGISNULL(1) || PG_ARGISNULL(2)) PG_RETURN_POINTER(st);
  const TimestampTz ts = PG_GETARG_TIMESTAMPTZ(2);
  const int64_t b = st->bucket_of(ts);
  if (b < 0 || size_t(b) >= st->nbuckets) PG_RETURN_POINTER(st);
  st->queue(text_view(fcinfo, 1), ts, v, uint32_t(b));
  PG_RETURN_POINTER(st);
}

// pulse._uniques_report_ranked_final(internal) -> pulse._uniques_by_value: the top values in
// rank order (by rows, descending, then by value in the call's collation, NULL last; NULL
// included) and the distinct actors per bucket of each group, one group after the other: the
// top values', then 'other' when more values had rows.
PULSE_SQL_FUNCTION(pulse_uniques_report_ranked_final) {
  auto* st = finishing<RankedUniquesState>(fcinfo);
  if (!st) PG_RETURN_NULL();
  const std::vector<int64_t>& rows = st->rows_of;
  std::vector<uint32_t> order(rows.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = uint32_t(k);
  const size_t top = std::min(order.size(), st->limit);
  std::partial_sort(order.begin(), order.begin() + ptrdiff_t(top), order.end(), [&](uint32_t a, uint32_t b) {
    return rows[a] != rows[b] ? rows[a] > rows[b] : st->values.less(a, b);
  });
  order.resize(top);
  const size_t groups = top + (rows.size() > top ? 1 : 0), nb = st->nbuckets, cells = groups * nb;
  std::vector<uint32_t> group(rows.size(), uint32_t(top));
  for (size_t r = 0; r < top; ++r) group[order[r]] = uint32_t(r);
  // the logged rows' actors by cell (group * nb + bucket), then each cell's distinct actors
  using Logged = RankedUniquesState::Logged;
  std::vector<size_t> start(cells + 1, 0);
  st->consume([&](const Logged& e) { start[group[e.value] * nb + e.bucket + 1]++; }, false);
  for (size_t c = 0; c < cells; ++c) start[c + 1] += start[c];
  HugeArray<uint32_t> actors(st->logged);
  {
    std::vector<size_t> at(start.begin(), start.end() - 1);
    st->consume([&](const Logged& e) { actors[at[group[e.value] * nb + e.bucket]++] = e.actor; }, true);
  }
  std::vector<uint32_t> stamp(st->actors.size(), UINT32_MAX);
  std::vector<int64_t> counts(cells, 0);
  for (size_t c = 0, since_tick = 0; c < cells; ++c) {
    if ((since_tick += start[c + 1] - start[c]) > (size_t(1) << 20)) {
      tick();
      since_tick = 0;
    }
    for (size_t i = start[c]; i < start[c + 1]; ++i) {
      uint32_t& s = stamp[actors[i]];
      if (s != uint32_t(c)) {
        s = uint32_t(c);
        counts[c]++;
      }
    }
  }
  int dims[1] = {int(cells)};
  Datum values[2] = {PointerGetDatum(st->values.text_array(order)),
                     PointerGetDatum(cells ? bigint_array(counts, 1, dims) : empty_array(INT8OID))};
  return composite(fcinfo, values, "pulse._uniques_report_ranked_final");
}

// ---------------------------------------------------------------- paths

namespace {

// a: the label's number << 1 | whether the event is of the start collection
struct PathsState : ReportBase {
  ValueNumbers labels;            // each label text (the collection, or "collection:value")
  std::deque<std::string> colls;  // by label number: the collection it comes from
  PathsReport report;
  explicit PathsState(const PathsParams& p) : report(p) {}
  void apply(const Row& r, uint32_t actor) override { report.add(actor, r.ts, r.a >> 1, r.a & 1); }
  void prefetch(uint32_t actor) const override { report.prefetch(actor); }
  // label_rank: the order of `ORDER BY c, l` over the labels, by the call's collation
  std::vector<uint32_t> ranks() const {
    std::vector<uint32_t> order(labels.values.size()), rank(order.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = uint32_t(k);
    auto cmp = [&](const std::string& x, const std::string& y) {
      int c = 0;
      pg::call([&] { c = varstr_cmp(x.data(), int(x.size()), y.data(), int(y.size()), labels.collation); });
      return c;
    };
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      const int c = cmp(colls[a], colls[b]);
      return c != 0 ? c < 0 : cmp(*labels.values[a], *labels.values[b]) < 0;
    });
    for (size_t k = 0; k < order.size(); ++k) rank[order[k]] = uint32_t(k);
    return rank;
  }
};

}  // namespace

// pulse._paths_report_add(internal, actor text, ts timestamptz, collection text, label text,
//   is_start boolean, session_gap interval, step_limit int, by_session boolean
//   [, mapping regclass]) -> internal (core/paths_report.h)
PULSE_SQL_FUNCTION(pulse_paths_report_add) {
  auto* st = state_arg<PathsState>(fcinfo);
  if (!st) {
    MemoryContext cxt = agg_context(fcinfo, "pulse._paths_report");
    PathsParams p;
    if (PG_ARGISNULL(6) || PG_ARGISNULL(8))
      throw Error(sqlstate::kNullValueNotAllowed, "session_gap and by_session must not be null");
    // interval comparison's span: 30-day months, 24-hour days (t - pt > session_gap)
    const Interval* g = PG_GETARG_INTERVAL_P(6);
    const __int128 span = __int128(g->month) * 30 * kUsecsPerDay + __int128(g->day) * kUsecsPerDay + g->time;
    if (span <= 0) throw Error(sqlstate::kInvalidParameter, "session_gap must be positive");
    p.session_gap = span > __int128(INT64_MAX) ? INT64_MAX : int64_t(span);
    p.step_limit = int4_arg(fcinfo, 7, "step_limit");
    if (p.step_limit < 1 || p.step_limit > 100) throw Error(sqlstate::kInvalidParameter, "step_limit must be 1 to 100");
    p.by_session = PG_GETARG_BOOL(8);
    p.has_start = true;  // (without a start collection every event is a start: see is_start)
    st = adopt(std::make_unique<PathsState>(p), cxt);
    // labels and collections order in the default collation (the builder gives both in it,
    // whatever the actor's or the node column's collation)
    st->labels.collation = DEFAULT_COLLATION_OID;
    seed_actors(st, mapping_arg(fcinfo, 9));
  }
  if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4)) PG_RETURN_POINTER(st);
  const TimestampTz ts = PG_GETARG_TIMESTAMPTZ(2);
  if (TIMESTAMP_NOT_FINITE(ts)) PG_RETURN_POINTER(st);
  const std::string_view label = text_view(fcinfo, 4);
  const size_t before = st->labels.values.size();
  const uint32_t n = st->labels.number(&label);
  if (st->labels.values.size() != before) st->colls.emplace_back(text_view(fcinfo, 3));
  if (n >= (uint32_t(1) << 30)) throw Error(sqlstate::kProgramLimit, "pulse.paths counts at most 2^30 distinct labels");
  const bool start = !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
  st->queue(text_view(fcinfo, 1), ts, n << 1 | uint32_t(start), 0);
  PG_RETURN_POINTER(st);
}

// pulse._paths_report_final(internal) -> pulse._paths_moves: (steps int[], sources text[],
// targets text[], users bigint[]), one element per counted move, in no order.
PULSE_SQL_FUNCTION(pulse_paths_report_final) {
  auto* st = finishing<PathsState>(fcinfo);
  if (!st) PG_RETURN_NULL();
  const std::vector<PathsRow> rows = st->report.finish(st->ranks(), tick);
  Datum values[4];
  std::vector<Datum> label_text(st->labels.values.size(), Datum(0));  // (outside pg::call: it has a destructor)
  pg::call([&] {
    const size_t n = rows.size();
    auto* steps = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    auto* sources = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    auto* targets = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    auto* users = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    auto text_of = [&](uint32_t l) {
      if (!label_text[l])
        label_text[l] =
            PointerGetDatum(cstring_to_text_with_len(st->labels.values[l]->data(), int(st->labels.values[l]->size())));
      return label_text[l];
    };
    for (size_t k = 0; k < n; ++k) {
      steps[k] = Int32GetDatum(rows[k].step);
      sources[k] = text_of(rows[k].source);
      targets[k] = text_of(rows[k].target);
      users[k] = Int64GetDatum(rows[k].count);
    }
    values[0] = PointerGetDatum(construct_array(steps, int(n), INT4OID, 4, true, TYPALIGN_INT));
    values[1] = PointerGetDatum(construct_array(sources, int(n), TEXTOID, -1, false, TYPALIGN_INT));
    values[2] = PointerGetDatum(construct_array(targets, int(n), TEXTOID, -1, false, TYPALIGN_INT));
    values[3] =
        PointerGetDatum(construct_array(users, int(n), INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
  });
  return composite(fcinfo, values, "pulse._paths_report_final");
}

}  // namespace pulse::analytics
