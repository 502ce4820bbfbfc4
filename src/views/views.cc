// pulse.create_view and pulse.refresh_view (DESIGN.md section 4).
//
// Objects of a view <p>.<v>, all owned by the extension's owner (a project role owns none, so
// none can add rules, grants or code to them):
//   <p>._pulse_def_<v>     the defining query (deparsed, every name qualified) as a
//                          security_invoker view that only the writer may read
//   <p>._pulse_full_<v>()  that query evaluated in the view's pinned time zone (run as the
//                          writer: by refreshes and by pulse._view_recompute)
//   <p>._pulse_state_<v>   cache: the result; incremental/realtime: one row of partial
//                          aggregate states per group (unique NULLS NOT DISTINCT on the keys)
//   <p>._pulse_delta_<v>(s, t, skip)  partial states of the rows with _shard_time >= t whose
//                          top-level xid is not visible in snapshot s (and is not skip)
//   <p>.<v>                what users read
//
// A refresh, serialised per view by an advisory lock: reads the start times of all running
// transactions (T), then takes its own snapshot S, and under S merges the delta since the
// stored (S_prev, T_prev) into the state and stores (S, T). T before S: a transaction running
// when S is taken is either in the start-time minimum or started after T was read.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "core/names.h"
#include "ingest/catalog.h"
#include "pg/faults.h"
#include "pg/gucs.h"
#include "pg/jobs.h"
#include "pg/progress.h"
#include "pg/scheduler.h"
#include "pg/spi.h"
#include "pg/trust.h"
#include "views/analyze.h"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "utils/ruleutils.h"
#include "funcapi.h"
#include "utils/tuplestore.h"
#include "access/transam.h"
#include "storage/procarray.h"
}

namespace pulse::views {
namespace {

using pg::Arg;
using pg::quote_ident;
using pg::quote_literal;

void check_view_name(const std::string& name) {
  std::string why = collection_name_problem(name);
  if (why.empty() && name.size() > 48) why = "longer than 48 bytes";
  if (!why.empty())
    throw Error(sqlstate::kInvalidName, "invalid view name \"" + name + "\": " + why, "",
                "View names are 1 to 48 characters of a-z, 0-9 and _, not starting with a digit, _ or pg_.");
}

void set_search_path(const std::string& path) {
  pg::call([&] { set_local_search_path(path.c_str()); });
}

std::string s(const char* p) { return p ? std::string(p) : std::string(); }

// SQL pieces of one aggregate: partial expressions over the collection, state column types,
// the merge over u.<col> (finalised), the union of two stored states s.<col> / EXCLUDED.<col>.
struct AggSql {
  std::vector<std::string> partial, types, cols, unions;
  std::string merged;  // over the rows u.<col> of one group
  std::string single;  // the same for a group of one stored row s.<col>
};

std::string null_safe(const std::string& a, const std::string& b, const std::string& both) {
  return "CASE WHEN " + a + " IS NULL THEN " + b + " WHEN " + b + " IS NULL THEN " + a + " ELSE " + both + " END";
}

AggSql agg_sql(const AggPlan& a, int j) {
  AggSql r;
  std::string c = "f" + std::to_string(j), c2 = c + "_2";
  std::string x = s(a.arg), F = s(a.filter);
  std::string agg_type, collate;
  pg::call([&] {
    agg_type = format_type_extended(a.agg_type, -1, FORMAT_TYPE_FORCE_QUALIFY);
    if (OidIsValid(a.collation) && a.collation != DEFAULT_COLLATION_OID && a.collation != get_typcollation(a.agg_type))
      collate = psprintf(" COLLATE %s", generate_collation_name(a.collation));
  });
  auto S = [](const std::string& col) { return "s." + col; };
  auto E = [](const std::string& col) { return "EXCLUDED." + col; };
  auto U = [](const std::string& col) { return "u." + col; };
  auto sum_union = [&](const std::string& col) { return null_safe(S(col), E(col), S(col) + " + " + E(col)); };
  auto count_union = [&](const std::string& col) { return S(col) + " + " + E(col); };
  r.cols = {c};
  switch (a.kind) {
    case AggKind::kCount:
      r.partial = {"pg_catalog.count(" + x + ")" + F};
      r.types = {"bigint"};
      r.unions = {count_union(c)};
      r.merged = "pulse._count_merge(" + U(c) + ")";
      r.single = S(c);
      break;
    case AggKind::kSumInt8:
      r.partial = {"pg_catalog.sum(" + x + ")" + F};
      r.types = {"bigint"};
      r.unions = {sum_union(c)};
      r.merged = "pulse._int8_sum(" + U(c) + ")";
      r.single = S(c);
      break;
    case AggKind::kSum:
      r.partial = {"pg_catalog.sum(" + x + ")" + F};
      r.types = {agg_type};
      r.unions = {sum_union(c)};
      r.merged = "pg_catalog.sum(" + U(c) + ")";
      r.single = S(c);
      break;
    case AggKind::kAvgNumeric:
    case AggKind::kAvgFloat:
    case AggKind::kAvgInterval: {
      std::string sum_type = a.kind == AggKind::kAvgNumeric ? "numeric" : a.kind == AggKind::kAvgFloat ? "double precision" : "interval";
      std::string div = a.kind == AggKind::kAvgNumeric ? "numeric" : "double precision";
      if (a.kind == AggKind::kAvgNumeric) r.partial = {"(pg_catalog.sum(" + x + ")" + F + ")::numeric"};
      else if (a.kind == AggKind::kAvgFloat) r.partial = {"pg_catalog.sum((" + x + ")::double precision)" + F};
      else r.partial = {"pg_catalog.sum(" + x + ")" + F};
      r.partial.push_back("pg_catalog.count(" + x + ")" + F);
      r.types = {sum_type, "bigint"};
      r.cols = {c, c2};
      r.unions = {sum_union(c), count_union(c2)};
      std::string n = "pulse._count_merge(" + U(c2) + ")";
      r.merged = "CASE WHEN " + n + " = 0 THEN NULL ELSE pg_catalog.sum(" + U(c) + ") / (" + n + ")::" + div + " END";
      r.single = "CASE WHEN " + S(c2) + " = 0 THEN NULL ELSE " + S(c) + " / (" + S(c2) + ")::" + div + " END";
      break;
    }
    case AggKind::kMin:
    case AggKind::kMax: {
      std::string f = a.kind == AggKind::kMin ? "min" : "max";
      r.partial = {"pg_catalog." + f + "(" + x + ")" + F};
      r.types = {agg_type + collate};
      r.unions = {std::string(a.kind == AggKind::kMin ? "LEAST(" : "GREATEST(") + S(c) + ", " + E(c) + ")"};
      r.merged = "pg_catalog." + f + "(" + U(c) + ")";
      r.single = S(c);
      break;
    }
    case AggKind::kBoolAnd:
    case AggKind::kBoolOr: {
      std::string f = a.kind == AggKind::kBoolAnd ? "bool_and" : "bool_or";
      r.partial = {"pg_catalog." + f + "(" + x + ")" + F};
      r.types = {"boolean"};
      r.unions = {null_safe(S(c), E(c), S(c) + (a.kind == AggKind::kBoolAnd ? " AND " : " OR ") + E(c))};
      r.merged = "pg_catalog." + f + "(" + U(c) + ")";
      r.single = S(c);
      break;
    }
    case AggKind::kVarFloat:
      r.partial = {"pulse._float8_accum((" + x + ")::double precision)" + F};
      r.types = {"double precision[]"};
      r.unions = {"pg_catalog.float8_combine(" + S(c) + ", " + E(c) + ")"};
      r.merged = "pg_catalog.float8_" + s(a.fn) + "(pulse._float8_merge(" + U(c) + "))";
      r.single = "pg_catalog.float8_" + s(a.fn) + "(" + S(c) + ")";
      break;
    case AggKind::kVarNumeric:
      r.partial = {"pulse._numeric_accum((" + x + ")::numeric)" + F};
      r.types = {"bytea"};
      r.unions = {"pulse._numeric_state_union(" + S(c) + ", " + E(c) + ")"};
      r.merged = "pulse._numeric_state_final(pulse._numeric_merge(" + U(c) + "), '" + s(a.fn) + "')";
      r.single = "pulse._numeric_state_final(" + S(c) + ", '" + s(a.fn) + "')";
      break;
    case AggKind::kHll: {
      std::string nsp = s(a.hll_schema);
      r.partial = {nsp + "." + s(a.fn) + "(" + x + ")" + F};
      r.types = {agg_type};
      r.unions = {null_safe(S(c), E(c), nsp + ".hll_union(" + S(c) + ", " + E(c) + ")")};
      r.merged = nsp + ".hll_union_agg(" + U(c) + ")";
      r.single = S(c);
      break;
    }
    case AggKind::kNone:
      throw Error(sqlstate::kInternal, "unclassified aggregate");
  }
  return r;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t k = 0; k < v.size(); k++) out += (k ? sep : "") + v[k];
  return out;
}

std::string timestamptz_text(TimestampTz t) {
  std::string out;
  pg::call([&] { out = DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(t))); });
  return out;
}

// Earliest start time of any running transaction (ours included), now() if none, minus
// pulse.view_margin. False when some backend does not publish its transaction start (activity
// tracking off there, or here): then the threshold must not advance.
bool running_xact_floor(TimestampTz* out) {
  bool known = pgstat_track_activities;
  if (!known) return false;
  pg::call([&] {
    TimestampTz now = GetCurrentTimestamp();
    TimestampTz floor = now;
    pgstat_clear_snapshot();
    int n = pgstat_fetch_stat_numbackends();
    for (int i = 1; i <= n; i++) {
      LocalPgBackendStatus* l = pgstat_fetch_stat_local_beentry(i);
      if (!l) continue;
      const PgBackendStatus& be = l->backendStatus;
      if (be.st_state == STATE_DISABLED && be.st_backendType == B_BACKEND) known = false;
      TimestampTz t = be.st_xact_start_timestamp;
      if (t != 0 && t < floor) floor = t;
    }
    *out = floor - int64(pulse_view_margin_ms) * 1000;
  });
  return known;
}

// snap ("xmin:xmax:xip,...") with xid marked in progress.
std::string with_in_progress(const std::string& snap, uint64_t xid) {
  size_t c1 = snap.find(':'), c2 = snap.find(':', c1 + 1);
  uint64_t xmin = std::stoull(snap.substr(0, c1)), xmax = std::stoull(snap.substr(c1 + 1, c2 - c1 - 1));
  if (xid >= xmax) return snap;
  std::vector<uint64_t> xip;
  std::string rest = snap.substr(c2 + 1);
  size_t p = 0;
  while (p < rest.size()) {
    size_t q = rest.find(',', p);
    if (q == std::string::npos) q = rest.size();
    xip.push_back(std::stoull(rest.substr(p, q - p)));
    p = q + 1;
  }
  bool present = false;
  for (uint64_t x : xip) present |= x == xid;
  if (!present) {
    xip.push_back(xid);
    std::sort(xip.begin(), xip.end());
  }
  if (xid < xmin) xmin = xid;
  std::string out = std::to_string(xmin) + ":" + std::to_string(xmax) + ":";
  for (size_t k = 0; k < xip.size(); k++) out += (k ? "," : "") + std::to_string(xip[k]);
  return out;
}

void lock_view(int32 id) { pg::lock_exclusive(uint32(id), pg::kLockView); }

}  // namespace

// Refreshes view id (SPI connected). Returns the groups merged (rows stored for rebuilds).
int64_t refresh_by_id(int32 id, bool full) {
  TimestampTz t0 = GetCurrentTimestamp();
  pg::Progress progress("refresh", "", "");
  {
    auto who = pg::spi_column("SELECT x FROM pulse.view_registry v, LATERAL unnest(ARRAY[v.project, v.name]) x WHERE v.id = $1",
                              {Arg::int4(id)});
    if (who.size() == 2 && who[0] && who[1]) progress.rename(*who[0], *who[1]);
  }
  progress.phase("waiting for the view's lock (another refresh)");
  lock_view(id);  // a cancellable wait
  progress.phase("starting");
  pg::call([] { pg::pause_point("refresh"); });
  TimestampTz floor = 0;
  bool advance = running_xact_floor(&floor);
  Snapshot snap = nullptr;
  pg::call([&] { snap = RegisterSnapshot(GetLatestSnapshot()); });
  int64_t merged = 0;
  try {
    auto row = [&](const std::string& sql, const std::vector<Arg>& args = {}) {
      pg::spi_exec_snapshot(sql, args, snap);
      std::vector<std::optional<std::string>> out;
      pg::call([&] {
        if (SPI_processed == 0) return;
        for (int k = 1; k <= SPI_tuptable->tupdesc->natts; k++) {
          char* v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, k);
          out.push_back(v ? std::optional<std::string>(v) : std::nullopt);
        }
      });
      return out;
    };
    auto reg = row(
        "SELECT v.project, v.name, v.strategy, v.collection, v.snapshot::text, v.threshold::text, v.merge_sql,"
        " v.rebuild_sql[1], v.rebuild_sql[2], p.writer_role, pg_catalog.pg_current_snapshot()::text,"
        " (SELECT count(*) FROM pg_catalog.pg_prepared_xacts)::text, v.rows::text, v.snapshot_origin,"
        " pulse._snapshot_origin(v.project, v.collection)"
        " FROM pulse.view_registry v JOIN pulse.projects p ON p.name = v.project WHERE v.id = $1",
        {Arg::int4(id)});
    if (reg.empty()) throw Error(sqlstate::kUndefinedObject, "view " + std::to_string(id) + " does not exist");
    std::string project = *reg[0], strategy = *reg[2];
    progress.rename(project, *reg[1]);
    progress.phase("looking for invalidations");
    std::optional<std::string> prev_snap = reg[4], prev_t = reg[5];
    std::string cur_snap = *reg[10];
    bool prepared = *reg[11] != "0";
    uint64_t own = 0;
    pg::call([&] {
      FullTransactionId f = GetTopFullTransactionIdIfAny();
      if (FullTransactionIdIsValid(f)) own = U64FromFullTransactionId(f);
    });
    if (own) cur_snap = with_in_progress(cur_snap, own);
    // a snapshot taken in another database or cluster, or of another incarnation of the
    // collection (a dump restored), says nothing about these rows' transaction ids
    std::string origin = *reg[14];
    bool origin_changed = prev_snap && reg[13] != std::optional<std::string>(origin);
    bool rebuild = full || !prev_snap || strategy == "cache" || origin_changed;
    if (!rebuild && reg[3]) {
      auto inv = row(
          "SELECT 1 FROM pulse.view_invalidations WHERE project = $1 AND collection = $2"
          " AND NOT pg_catalog.pg_visible_in_snapshot(xid, $3::pg_catalog.pg_snapshot) LIMIT 1",
          {Arg::text(project), Arg::text(*reg[3]), Arg::text(*prev_snap)});
      rebuild = !inv.empty();
    }
    // The new threshold. Prepared transactions (start times unknown) and backends that do not
    // publish their start time keep it where it was: rows of such a transaction that S does
    // not see were already at or above the previous threshold (or, with none, anywhere).
    std::string new_t;
    if (strategy != "cache") {
      if (advance && !prepared) new_t = timestamptz_text(floor);
      else new_t = prev_t && !full && !origin_changed ? *prev_t : "-infinity";
    }
    // Restored rows keep the _shard_xid of the cluster they were written in: ids this cluster
    // has not reached yet look "not merged" to every snapshot here. After the rebuild they
    // must lie below the new threshold, or deltas would count them again: until the oldest
    // running transaction is younger than the newest of them, the rebuild waits (reads
    // evaluate the defining query meanwhile).
    if (origin_changed && reg[3] && strategy != "cache") {
      auto foreign = row("SELECT 1 FROM " + quote_ident(project) + "." + quote_ident(*reg[3]) +
                             " WHERE _shard_time >= $1::timestamptz"
                             " AND NOT pg_catalog.pg_visible_in_snapshot(_shard_xid, $2::pg_catalog.pg_snapshot)"
                             " AND ($3::pg_catalog.xid8 IS NULL OR _shard_xid <> $3::pg_catalog.xid8) LIMIT 1",
                         {Arg::text(new_t), Arg::text(cur_snap),
                          own ? Arg::text(std::to_string(own)) : Arg::null_text()});
      if (!foreign.empty())
        throw Error(sqlstate::kObjectNotInPrerequisiteState,
                    "view \"" + project + "." + *reg[1] + "\" cannot be rebuilt yet: its collection holds rows "
                    "restored from another cluster that are newer than the oldest running transaction",
                    "", "Refresh it again once the transactions now running have ended and pulse.view_margin has "
                    "passed; until then reads evaluate its defining query.");
    }
    std::vector<Arg> args = {prev_snap ? Arg::text(*prev_snap) : Arg::null_text(),
                             prev_t ? Arg::text(*prev_t) : Arg::null_text(),
                             own ? Arg::text(std::to_string(own)) : Arg::null_text()};
    Oid writer = pg::role_oid(*reg[9]);
    int64_t rows = 0;
    progress.phase(rebuild ? "rebuilding (the defining query over the whole collection)" : "merging new rows");
    pg::as_role(writer, [&] {
      if (rebuild) {
        pg::spi_exec_snapshot(*reg[7], args, snap);
        merged = rows = int64_t(pg::spi_exec_snapshot(*reg[8], args, snap));
      } else {
        // the merge returns one row per group merged: true for a new group
        merged = int64_t(pg::spi_exec_snapshot(*reg[6], args, snap));
        int64_t added = 0;
        pg::call([&] {
          for (uint64 r = 0; r < SPI_processed; r++) {
            bool isnull;
            Datum d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
            if (!isnull && DatumGetBool(d)) added++;
          }
        });
        rows = (reg[12] ? std::stoll(*reg[12]) : 0) + added;
      }
    });
    // fresh statistics for the planner after a rebuild (as the owner: ANALYZE needs it)
    if (rebuild) progress.phase("analyzing the state");
    if (rebuild)
      pg::spi_exec_snapshot("ANALYZE " + quote_ident(project) + "." + quote_ident("_pulse_state_" + *reg[1]), {}, snap);
    long secs;
    int usecs;
    TimestampDifference(t0, GetCurrentTimestamp(), &secs, &usecs);
    std::string dur = std::to_string(secs) + "." + std::to_string(1000000 + usecs).substr(1) + " seconds";
    pg::spi_exec_snapshot(
        "UPDATE pulse.view_registry SET snapshot = $2::pg_catalog.pg_snapshot, threshold = $3::timestamptz,"
        " last_refresh = pg_catalog.clock_timestamp(), last_duration = $4::interval, last_error = NULL,"
        " last_merged = $5, rows = $6, snapshot_origin = $7 WHERE id = $1",
        {Arg::int4(id), Arg::text(cur_snap), new_t.empty() ? Arg::null_text() : Arg::text(new_t), Arg::text(dur),
         Arg::int8(merged), Arg::int8(rows), Arg::text(origin)},
        snap);
    pg::record_job({"refresh", project, *reg[1], t0, merged, true, ""});
    pg::call([&] {
      ereport(DEBUG1, (errmsg("pg_pulse: %s view %s.%s: %lld %s in %s", rebuild ? "rebuilt" : "refreshed",
                              project.c_str(), reg[1]->c_str(), (long long)merged,
                              rebuild ? "rows stored" : "groups merged", dur.c_str())));
    });
    // Invalidations every snapshot now held or taken later sees, and every stored snapshot of
    // the collection's views sees, are done with.
    uint64_t horizon = 0;
    pg::call([&] {
      TransactionId h = GetOldestNonRemovableTransactionId(NULL);
      FullTransactionId next = ReadNextFullTransactionId();
      horizon = U64FromFullTransactionId(next) - uint32(XidFromFullTransactionId(next) - h);
    });
    pg::spi_exec_snapshot(
        "DELETE FROM pulse.view_invalidations i WHERE i.xid < $1::text::xid8 AND NOT EXISTS"
        " (SELECT 1 FROM pulse.view_registry v WHERE v.project = i.project AND v.collection = i.collection"
        "  AND (v.snapshot IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(i.xid, v.snapshot)))",
        {Arg::text(std::to_string(horizon))}, snap);
  } catch (...) {
    pg::call([&] { UnregisterSnapshot(snap); });
    throw;
  }
  pg::call([&] { UnregisterSnapshot(snap); });
  return merged;
}

namespace {

// "name type [COLLATE c], ..." of a relation's columns, for a column definition list.
std::string column_definitions(const std::string& relation) {
  return *pg::spi_value(
      "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) || ' ' ||"
      " pg_catalog.format_type(a.atttypid, a.atttypmod) ||"
      " CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END,"
      " ', ' ORDER BY a.attnum) FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
      " WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
      {Arg::text(relation)});
}

struct Names {
  std::string P, view, def, full, state, delta, key, keytype;
};

Names names_of(const std::string& project, const std::string& name) {
  Names n;
  n.P = quote_ident(project);
  n.view = n.P + "." + quote_ident(name);
  n.def = n.P + "." + quote_ident("_pulse_def_" + name);
  n.full = n.P + "." + quote_ident("_pulse_full_" + name);
  n.state = n.P + "." + quote_ident("_pulse_state_" + name);
  n.delta = n.P + "." + quote_ident("_pulse_delta_" + name);
  n.key = quote_ident("_pulse_key_" + name);
  n.keytype = n.P + "." + quote_ident("_pulse_keys_" + name);
  return n;
}

}  // namespace

// pulse.create_view(project, name, query, strategy default 'realtime', refresh_every default '5 minutes')
PULSE_SQL_FUNCTION(pulse_create_view) {
  std::string project = ascii_lower(pg::require_text(fcinfo, 0, "project"));
  std::string name = ascii_lower(pg::require_text(fcinfo, 1, "name"));
  std::string query = pg::require_text(fcinfo, 2, "query");
  std::string strategy = ascii_lower(pg::require_text(fcinfo, 3, "strategy"));
  std::string every = "5 minutes";
  if (!PG_ARGISNULL(4))
    pg::call([&] { every = DatumGetCString(DirectFunctionCall1(interval_out, PG_GETARG_DATUM(4))); });
  check_view_name(name);
  if (strategy != "cache" && strategy != "incremental" && strategy != "realtime")
    throw Error(sqlstate::kInvalidParameter, "unknown view strategy \"" + strategy + "\"", "",
                "Use 'cache', 'incremental' or 'realtime'.");
  pg::spi_connect();
  ingest::check_project_writer(project);
  if (pg::spi_value("SELECT $3::interval <= interval '0'", {Arg::text(project), Arg::text(name), Arg::text(every)}) == "t")
    throw Error(sqlstate::kInvalidParameter, "refresh_every must be positive");
  if (pg::spi_value("SELECT 1 FROM pulse.view_registry WHERE project = $1 AND name = $2", {Arg::text(project), Arg::text(name)}) ||
      pg::spi_value("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                    {Arg::text(project), Arg::text(name)}))
    throw Error("42P07", "relation \"" + project + "." + name + "\" already exists");
  std::string tz = *pg::spi_value("SELECT pg_catalog.current_setting('TimeZone')");
  std::string datestyle = *pg::spi_value("SELECT pg_catalog.current_setting('DateStyle')");
  std::string intervalstyle = *pg::spi_value("SELECT pg_catalog.current_setting('IntervalStyle')");
  std::string pinned = " SET timezone = " + quote_literal(tz) + " SET datestyle = " + quote_literal(datestyle) +
                       " SET intervalstyle = " + quote_literal(intervalstyle);
  std::string writer = project + "_writer", reader = project + "_reader";
  Names n = names_of(project, name);

  // The defining query, resolved like the user would (the project's schema first, temporary
  // objects last), parsed and analysed by Postgres as the writer: whatever the text makes
  // Postgres run while parsing (type input functions of its literals) runs with the writer's
  // privileges. Then every object it uses must be trusted: the query is later deparsed,
  // planned and (for realtime reads) partly evaluated by other roles.
  set_search_path(quote_ident(project) + ", public, pg_temp");
  Oid writer_oid = pg::role_oid(writer);
  Analysis a;
  pg::as_role(writer_oid, [&] { pg::call([&] { analyze_query(query.c_str(), &a); }); });
  if (a.not_select)
    throw Error("42601", "a view's query must be one SELECT statement", "Found " + s(a.problem) + ".");
  std::string untrusted = pg::untrusted_in_query(a.query);
  if (!untrusted.empty())
    throw Error(sqlstate::kInsufficientPrivilege, "a view's query cannot use " + untrusted, "",
                "View queries may use built-in objects and objects owned by a superuser (not temporary ones).");
  // the definition as Postgres understands it, every name qualified that pg_catalog does not hold
  std::string definition;
  set_search_path("pg_catalog, pg_temp");
  pg::call([&] { definition = pg_get_querydef(a.query, false); });
  if (strategy != "cache") {
    if (a.problem)
      throw Error(sqlstate::kFeatureNotSupported,
                  strategy + " views cannot maintain " + s(a.problem),
                  "Incremental and realtime views support one collection, WHERE and GROUP BY on immutable "
                  "expressions, and count, sum, avg, min, max, the stddev/variance family, bool_and, bool_or "
                  "and hll aggregates, with FILTER and HAVING.",
                  "Use strategy => 'cache' for any other query (it is recomputed in full on refresh).");
    if (s(a.nspname) != project ||
        !pg::spi_value("SELECT 1 FROM pulse.collection_registry WHERE project = $1 AND name = $2",
                       {Arg::text(project), Arg::text(s(a.relname))}))
      throw Error(sqlstate::kFeatureNotSupported,
                  strategy + " views cannot maintain a query over \"" + s(a.nspname) + "." + s(a.relname) +
                      "\", which is not a collection of project \"" + project + "\"",
                  "", "Use strategy => 'cache' for queries over other tables.");
  }
  // The defining query as a view of the extension's that reads with the privileges of whoever
  // runs it: only the writer may (refreshes and recomputations run as the writer).
  pg::spi_exec("CREATE VIEW " + n.def + " WITH (security_invoker = true) AS " + definition);
  pg::spi_exec("REVOKE ALL ON " + n.def + " FROM PUBLIC");
  pg::spi_exec("GRANT SELECT ON " + n.def + " TO " + quote_ident(writer));
  pg::spi_exec("CREATE FUNCTION " + n.full + "() RETURNS SETOF " + n.def + " LANGUAGE sql STABLE" + pinned + " SET search_path = pg_catalog, pg_temp AS " + quote_literal("SELECT * FROM " + n.def));
  pg::spi_exec("REVOKE ALL ON FUNCTION " + n.full + "() FROM PUBLIC");
  pg::spi_exec("GRANT EXECUTE ON FUNCTION " + n.full + "() TO " + quote_ident(writer));

  std::string merge_sql, rebuild1 = "DELETE FROM " + n.state, rebuild2, view_sql;
  std::string collection = strategy == "cache" ? std::string() : s(a.relname);
  if (strategy == "cache") {
    pg::spi_exec("CREATE TABLE " + n.state + " (LIKE " + n.def + ")");
    rebuild2 = "INSERT INTO " + n.state + " SELECT * FROM " + n.full + "()";
  } else {
    // state table: group keys g<i> (or a constant _k), then each aggregate's state columns
    std::vector<std::string> gsql, gcols, coldefs, acols, unions, merged;
    std::vector<AggSql> aggs;
    ListCell* lc;
    foreach (lc, a.groups) {
      GroupPlan* g = (GroupPlan*)lfirst(lc);
      std::string col = "g" + std::to_string(gsql.size() + 1);
      gsql.push_back(g->sql);
      gcols.push_back(col);
      coldefs.push_back(col + " " + g->type_sql);
    }
    std::vector<std::string> keys = gcols;
    if (gcols.empty()) {
      coldefs.push_back("_k boolean NOT NULL DEFAULT true");
      keys = {"_k"};
    }
    int j = 0;
    foreach (lc, a.aggs) {
      AggSql q = agg_sql(*(AggPlan*)lfirst(lc), ++j);
      for (size_t k = 0; k < q.cols.size(); k++) {
        coldefs.push_back(q.cols[k] + " " + q.types[k]);
        acols.push_back(q.cols[k]);
        unions.push_back(q.cols[k] + " = " + q.unions[k]);
      }
      merged.push_back(q.merged + " AS f" + std::to_string(j));
      aggs.push_back(q);
    }
    pg::spi_exec("CREATE TABLE " + n.state + " (" + join(coldefs, ", ") + ")");
    pg::spi_exec("ALTER TABLE " + n.state + " ADD CONSTRAINT " + n.key + " UNIQUE NULLS NOT DISTINCT (" + join(keys, ", ") + ")");

    // the delta function: partial aggregates of the rows not merged yet
    std::string alias = quote_ident(s(a.relname));
    std::vector<std::string> sel = gsql.empty() ? std::vector<std::string>{"true"} : gsql;
    for (auto& q : aggs)
      for (auto& p : q.partial) sel.push_back(p);
    std::string partial = "SELECT " + join(sel, ", ") + " FROM " + n.P + "." + alias + " AS " + alias + " WHERE " +
                          alias + "._shard_time >= $2 AND NOT pg_catalog.pg_visible_in_snapshot(" + alias +
                          "._shard_xid, $1) AND ($3 IS NULL OR " + alias + "._shard_xid <> $3)";
    if (a.where_sql) partial += " AND (" + s(a.where_sql) + ")";
    if (!gsql.empty()) {
      std::vector<std::string> pos;
      for (size_t k = 1; k <= gsql.size(); k++) pos.push_back(std::to_string(k));
      partial += " GROUP BY " + join(pos, ", ");
    }
    std::string body = "BEGIN RETURN QUERY EXECUTE " + quote_literal(partial) + " USING s, t, skip; END";
    pg::spi_exec("CREATE FUNCTION " + n.delta +
                 "(s pg_catalog.pg_snapshot, t timestamptz, skip xid8 DEFAULT NULL) RETURNS SETOF " + n.state +
                 " LANGUAGE plpgsql STABLE ROWS 100" + pinned + " SET enable_sort = off SET search_path = pg_catalog, pg_temp AS " + quote_literal(body));
    pg::spi_exec("REVOKE ALL ON FUNCTION " + n.delta + "(pg_catalog.pg_snapshot, timestamptz, xid8) FROM PUBLIC");
    pg::spi_exec("GRANT EXECUTE ON FUNCTION " + n.delta + "(pg_catalog.pg_snapshot, timestamptz, xid8) TO " +
                 quote_ident(reader));
    merge_sql = "INSERT INTO " + n.state + " AS s SELECT * FROM " + n.delta +
                "($1::pg_catalog.pg_snapshot, $2::timestamptz, $3::xid8) ON CONFLICT ON CONSTRAINT " + n.key +
                (unions.empty() ? " DO NOTHING" : " DO UPDATE SET " + join(unions, ", ")) + " RETURNING (xmax = 0)";
    rebuild2 = "INSERT INTO " + n.state + " SELECT * FROM " + n.delta + "('1:1:', '-infinity', $3::xid8)";

    // what users read: states (plus, for realtime, the unmerged delta) merged per group and
    // finalised, then the query's own select list and HAVING over them
    Oid state_relid = InvalidOid;
    std::string state_name = "_pulse_state_" + name;
    pg::call([&] { state_relid = get_relname_relid(state_name.c_str(), get_namespace_oid(project.c_str(), false)); });
    std::vector<std::string> outs;
    std::string having;
    pg::call([&] {
      ListCell* l;
      foreach (l, a.outputs) {
        OutPlan* o = (OutPlan*)lfirst(l);
        outs.push_back(psprintf("%s AS %s", deparse_against(o->expr, "m", state_relid), quote_identifier(o->name)));
      }
      if (a.having) having = deparse_against(a.having, "m", state_relid);
    });
    std::vector<std::string> srccols = gcols;
    for (auto& c : acols) srccols.push_back(c);
    auto prefixed = [](const std::string& p, const std::vector<std::string>& cols) {
      std::vector<std::string> out;
      for (auto& c : cols) out.push_back(p + c);
      return out;
    };
    // one stored row per group: finalised on its own, no aggregation
    std::vector<std::string> single_sel = prefixed("s.", gcols);
    for (size_t k = 0; k < aggs.size(); k++) single_sel.push_back(aggs[k].single + " AS f" + std::to_string(k + 1));
    std::vector<std::string> merged_sel = prefixed("u.", gcols);
    for (auto& m : merged) merged_sel.push_back(m);
    std::string tail = having.empty() ? "" : " AND (" + having + ")";
    // after an UPDATE / DELETE / TRUNCATE a realtime read recomputes the query, as the writer
    std::string recompute = "SELECT * FROM pulse._view_recompute($ID$) AS f(" + column_definitions(n.def) + ")";
    if (strategy == "incremental") {
      view_sql = gcols.empty()
                     // no GROUP BY: exactly one row, even before the first merge
                     ? "SELECT " + join(outs, ", ") + " FROM (SELECT " + join(merged_sel, ", ") + " FROM (SELECT " +
                           join(srccols, ", ") + " FROM " + n.state + ") u) m" + (having.empty() ? "" : " WHERE " + having)
                     : "SELECT " + join(outs, ", ") + " FROM (SELECT " + join(single_sel, ", ") + " FROM " + n.state +
                           " s) m" + (having.empty() ? "" : " WHERE " + having);
    } else if (gcols.empty()) {
      std::string src = "SELECT " + join(srccols, ", ") + " FROM " + n.state + " UNION ALL SELECT " +
                        join(prefixed("d.", srccols), ", ") + " FROM w CROSS JOIN LATERAL " + n.delta +
                        "(w.snapshot, w.threshold, NULL) d";
      view_sql = "WITH w AS MATERIALIZED (SELECT * FROM pulse._view_watermark($ID$)) SELECT " + join(outs, ", ") +
                 " FROM (SELECT " + join(merged_sel, ", ") + " FROM (" + src + ") u) m WHERE NOT (SELECT w.dirty FROM w)" +
                 tail + " UNION ALL " + recompute + " WHERE (SELECT w.dirty FROM w)";
    } else {
      // Groups without unmerged rows are finalised straight from their stored row; only the
      // groups the delta touches are merged. Keys are matched as records (NULL-safe) through
      // hashed subplans over the few delta groups: a join would sort the whole state.
      // a composite type of the group keys makes the key records hashable
      std::vector<std::string> keydefs;
      for (size_t k = 0; k < gcols.size(); k++) keydefs.push_back(coldefs[k]);
      pg::spi_exec("CREATE TYPE " + n.keytype + " AS (" + join(keydefs, ", ") + ")");
      pg::spi_exec("COMMENT ON TYPE " + n.keytype + " IS " +
                   quote_literal("pg_pulse internal object of view " + name + ": read the view, not this"));
      std::string key = "ROW(" + join(prefixed("x.", gcols), ", ") + ")::" + n.keytype;
      std::string d = "d AS MATERIALIZED (SELECT x.*, " + key + " AS _k FROM w CROSS JOIN LATERAL " + n.delta +
                      "(w.snapshot, w.threshold, NULL) x WHERE NOT w.dirty)";
      std::string st = "s AS NOT MATERIALIZED (SELECT x.*, " + key + " AS _k FROM " + n.state + " x)";
      std::string untouched = "SELECT " + join(single_sel, ", ") + " FROM s WHERE s._k NOT IN (SELECT d._k FROM d)";
      std::string touched = "SELECT " + join(merged_sel, ", ") + " FROM (SELECT " + join(prefixed("s.", srccols), ", ") +
                            " FROM s WHERE (s._k IN (SELECT d._k FROM d)) IS TRUE UNION ALL SELECT " +
                            join(prefixed("d.", srccols), ", ") + " FROM d) u GROUP BY " + join(prefixed("u.", gcols), ", ");
      view_sql = "WITH w AS MATERIALIZED (SELECT * FROM pulse._view_watermark($ID$)), " + d + ", " + st + " SELECT " +
                 join(outs, ", ") + " FROM (" + untouched + " UNION ALL " + touched +
                 ") m WHERE NOT (SELECT w.dirty FROM w)" + tail + " UNION ALL " + recompute +
                 " WHERE (SELECT w.dirty FROM w)";
    }
  }
  pg::spi_exec("GRANT SELECT, INSERT, UPDATE, DELETE ON " + n.state + " TO " + quote_ident(writer));
  auto id = pg::spi_value(
      "INSERT INTO pulse.view_registry(project, name, collection, strategy, refresh_every, timezone, query,"
      " merge_sql, rebuild_sql) VALUES ($1, $2, $3, $4, $5::interval, $6, $7, $8, ARRAY[$9, $10]) RETURNING id",
      {Arg::text(project), Arg::text(name), collection.empty() ? Arg::null_text() : Arg::text(collection),
       Arg::text(strategy), Arg::text(every), Arg::text(tz), Arg::text(query),
       merge_sql.empty() ? Arg::null_text() : Arg::text(merge_sql), Arg::text(rebuild1), Arg::text(rebuild2)});
  if (strategy == "cache") {
    view_sql = "SELECT * FROM " + n.state;
  } else {
    for (size_t p; (p = view_sql.find("$ID$")) != std::string::npos;) view_sql.replace(p, 4, *id);
    // UPDATE, DELETE and TRUNCATE on the collection mark its views for rebuild
    std::string coll = n.P + "." + quote_ident(collection);
    if (!pg::spi_value("SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = '_pulse_views_invalidate'",
                       {Arg::text(coll)}))
      pg::spi_exec("CREATE TRIGGER _pulse_views_invalidate AFTER UPDATE OR DELETE OR TRUNCATE ON " + coll +
                   " FOR EACH STATEMENT EXECUTE FUNCTION pulse._views_invalidate()");
  }
  pg::spi_exec("CREATE VIEW " + n.view + " AS " + view_sql);
  pg::spi_exec("GRANT SELECT ON " + n.view + " TO " + quote_ident(reader));
  // descriptions for psql's \d+ and BI tools; the hidden objects say they are not to be used
  std::string kind = strategy == "realtime" ? "realtime view (exact at every read)"
                     : strategy == "incremental" ? "incremental view (as of its last refresh, every " + every + ")"
                                                 : "cache view (as of its last refresh, every " + every + ")";
  pg::spi_exec("COMMENT ON VIEW " + n.view + " IS " + quote_literal(pg::clip_message("pg_pulse " + kind + " of: " + query)));
  std::string internal = quote_literal("pg_pulse internal object of view " + name + ": read the view, not this");
  pg::spi_exec("COMMENT ON VIEW " + n.def + " IS " + internal);
  pg::spi_exec("COMMENT ON TABLE " + n.state + " IS " + internal);
  pg::spi_exec("COMMENT ON FUNCTION " + n.full + "() IS " + internal);
  if (strategy != "cache")
    pg::spi_exec("COMMENT ON FUNCTION " + n.delta + "(pg_catalog.pg_snapshot, timestamptz, xid8) IS " + internal);
  refresh_by_id(std::stoi(*id), true);
  pg::spi_finish();
  if (!pg::background_workers_available())
    pg::call([] {
      ereport(WARNING, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("refresh_every is not honoured: no background worker serves this server"),
                        errdetail("pg_pulse is not in shared_preload_libraries, so its scheduler does not run."),
                        errhint("Add pg_pulse to shared_preload_libraries and restart, or refresh with "
                                "pulse.refresh_view (from pg_cron, for example).")));
    });
  PG_RETURN_VOID();
}

// pulse.refresh_view(project, name, full default false) → groups merged
PULSE_SQL_FUNCTION(pulse_refresh_view) {
  std::string project = ascii_lower(pg::require_text(fcinfo, 0, "project"));
  std::string name = ascii_lower(pg::require_text(fcinfo, 1, "name"));
  bool full = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
  pg::spi_connect();
  ingest::check_project_writer(project);
  auto id = pg::spi_value("SELECT id FROM pulse.view_registry WHERE project = $1 AND name = $2",
                          {Arg::text(project), Arg::text(name)});
  if (!id) throw Error(sqlstate::kUndefinedObject, "view \"" + project + "." + name + "\" does not exist", "",
                       "pulse.views lists the views of a project.");
  int64_t n = refresh_by_id(std::stoi(*id), full);
  pg::spi_finish();
  PG_RETURN_INT64(n);
}

// pulse._view_recompute(view_id) → SETOF record: the view's defining query evaluated now, as
// the project's writer (never as the caller: the query is the writer's code), for a caller
// (the session's role, as for every SECURITY DEFINER function) with the privileges of the
// project's reader. Realtime views read it after an UPDATE, DELETE
// or TRUNCATE of their collection until the next refresh.
PULSE_SQL_FUNCTION(pulse_view_recompute) {
  int32 id = PG_GETARG_INT32(0);
  ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
  pg::call([&] { InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC); });
  pg::spi_connect();
  auto row = pg::spi_column(
      "SELECT x FROM pulse.view_registry v JOIN pulse.projects p ON p.name = v.project,"
      " LATERAL unnest(ARRAY[v.project, v.name, p.writer_role, p.reader_role]) x WHERE v.id = $1",
      {Arg::int4(id)});
  if (row.size() != 4) throw Error(sqlstate::kUndefinedObject, "view " + std::to_string(id) + " does not exist");
  std::string project = *row[0], name = *row[1], writer = *row[2], reader = *row[3];
  Oid reader_oid = pg::role_oid(reader);
  bool allowed = false;
  pg::call([&] { allowed = has_privs_of_role(GetOuterUserId(), reader_oid); });
  if (!allowed)
    throw Error(sqlstate::kInsufficientPrivilege, "permission denied to read view \"" + project + "." + name + "\"", "",
                "Views are read by members of " + quote_ident(reader) + ".");
  std::string sql = "SELECT * FROM " + names_of(project, name).full + "()";
  pg::as_role(pg::role_oid(writer), [&] {
    pg::call([&] {
      // streamed through a cursor: a recomputation can be large
      SPIPlanPtr plan = SPI_prepare(sql.c_str(), 0, NULL);
      if (!plan) elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
      Portal portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
      for (;;) {
        SPI_cursor_fetch(portal, true, 1000);
        if (SPI_processed == 0) break;
        if (SPI_tuptable->tupdesc->natts != rsinfo->setDesc->natts)
          ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("view %d changed its columns", id)));
        for (uint64 r = 0; r < SPI_processed; r++) tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[r]);
        SPI_freetuptable(SPI_tuptable);
        CHECK_FOR_INTERRUPTS();
      }
      SPI_cursor_close(portal);
    });
  });
  pg::spi_finish();
  return (Datum)0;
}

// pulse._require_writer(project): the caller's write check, for the SQL-language functions.
PULSE_SQL_FUNCTION(pulse_require_writer) {
  std::string project = ascii_lower(pg::require_text(fcinfo, 0, "project"));
  pg::spi_connect();
  ingest::check_project_writer(project);
  pg::spi_finish();
  PG_RETURN_VOID();
}

}  // namespace pulse::views
