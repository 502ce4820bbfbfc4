// pulse.create_view (see views.h): the defining query analysed as the writer and checked for
// untrusted objects, then the view's objects made by named builders: the definition, the state
// (cache: a table of results; incremental and realtime: a table of partial aggregate states and
// the delta function), the statements a refresh runs, the read view, the registry row and the
// descriptions. The first build is a full refresh.
#include <optional>
#include <string>
#include <vector>

#include "core/names.h"
#include "ingest/catalog.h"
#include "pg/scheduler.h"
#include "pg/trust.h"
#include "views/analyze.h"
#include "views/views.h"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/ruleutils.h"
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
      std::string sum_type = a.kind == AggKind::kAvgNumeric ? "numeric"
                             : a.kind == AggKind::kAvgFloat ? "double precision"
                                                            : "interval";
      std::string div = a.kind == AggKind::kAvgNumeric ? "numeric" : "double precision";
      if (a.kind == AggKind::kAvgNumeric)
        r.partial = {"(pg_catalog.sum(" + x + ")" + F + ")::numeric"};
      else if (a.kind == AggKind::kAvgFloat)
        r.partial = {"pg_catalog.sum((" + x + ")::double precision)" + F};
      else
        r.partial = {"pg_catalog.sum(" + x + ")" + F};
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

// What pulse.create_view was asked.
struct Request {
  std::string project, name, query, strategy, every;
  std::string writer() const { return project + "_writer"; }
  std::string reader() const { return project + "_reader"; }
};

Request read_request(FunctionCallInfo fcinfo) {
  Request r;
  r.project = ascii_lower(pg::require_text(fcinfo, 0, "project"));
  r.name = ascii_lower(pg::require_text(fcinfo, 1, "name"));
  r.query = pg::require_text(fcinfo, 2, "query");
  r.strategy = ascii_lower(pg::require_text(fcinfo, 3, "strategy"));
  r.every = "5 minutes";
  if (!PG_ARGISNULL(4))
    pg::call([&] { r.every = DatumGetCString(DirectFunctionCall1(interval_out, PG_GETARG_DATUM(4))); });
  return r;
}

// The name, the strategy, the caller (the project's writer), refresh_every and no clash.
void check_request(const Request& r) {
  check_view_name(r.name);
  if (r.strategy != "cache" && r.strategy != "incremental" && r.strategy != "realtime")
    throw Error(sqlstate::kInvalidParameter, "unknown view strategy \"" + r.strategy + "\"", "",
                "Use 'cache', 'incremental' or 'realtime'.");
  ingest::check_project_writer(r.project);
  if (pg::spi_value("SELECT $1::interval <= interval '0'", {Arg::text(r.every)}) == "t")
    throw Error(sqlstate::kInvalidParameter, "refresh_every must be positive");
  if (pg::spi_value("SELECT 1 FROM pulse.view_registry WHERE project = $1 AND name = $2",
                    {Arg::text(r.project), Arg::text(r.name)}) ||
      pg::spi_value("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND "
                    "c.relname = $2",
                    {Arg::text(r.project), Arg::text(r.name)}))
    throw Error(sqlstate::kDuplicateTable, "relation \"" + r.project + "." + r.name + "\" already exists");
}

// The session's TimeZone, DateStyle and IntervalStyle, pinned on the view's functions: the view
// always computes what its creator saw.
struct Pinned {
  std::string timezone, clauses;
};

Pinned pinned_settings() {
  Pinned p;
  p.timezone = *pg::spi_value("SELECT pg_catalog.current_setting('TimeZone')");
  std::string datestyle = *pg::spi_value("SELECT pg_catalog.current_setting('DateStyle')");
  std::string intervalstyle = *pg::spi_value("SELECT pg_catalog.current_setting('IntervalStyle')");
  p.clauses = " SET timezone = " + quote_literal(p.timezone) + " SET datestyle = " + quote_literal(datestyle) +
              " SET intervalstyle = " + quote_literal(intervalstyle);
  return p;
}

// The defining query, resolved like the user would (the project's schema first, temporary
// objects last), parsed and analysed by Postgres as the writer: whatever the text makes
// Postgres run while parsing (type input functions of its literals) runs with the writer's
// privileges. Then every object it uses must be trusted: the query is later deparsed, planned
// and (for realtime reads) partly evaluated by other roles. *definition: the query as Postgres
// understands it, every name qualified that pg_catalog does not hold.
Analysis analyse_as_writer(const Request& r, std::string* definition) {
  set_search_path(quote_ident(r.project) + ", public, pg_temp");
  Analysis a;
  // read, and written back as text, with standard_conforming_strings on, as the delta function
  // parses that text again whoever reads the view (as_role restores the caller's setting)
  pg::as_role(pg::role_oid(r.writer()), [&] {
    pg::call([&] {
      (void)set_config_option("standard_conforming_strings", "on", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                              false);
      analyze_query(r.query.c_str(), &a);
    });
  });
  if (a.not_select)
    throw Error(sqlstate::kSyntaxError, "a view's query must be one SELECT statement", "Found " + s(a.problem) + ".");
  std::string untrusted = pg::untrusted_in_query(a.query);
  if (!untrusted.empty())
    throw Error(sqlstate::kInsufficientPrivilege, "a view's query cannot use " + untrusted, "",
                "View queries may use built-in objects and objects owned by a superuser (not temporary ones).");
  set_search_path("pg_catalog, pg_temp");
  pg::call([&] { *definition = pg_get_querydef(a.query, false); });
  if (r.strategy == "cache") return a;
  if (a.problem)
    throw Error(sqlstate::kFeatureNotSupported, r.strategy + " views cannot maintain " + s(a.problem),
                "Incremental and realtime views support one collection, WHERE and GROUP BY on immutable "
                "expressions, and count, sum, avg, min, max, the stddev/variance family, bool_and, bool_or "
                "and hll aggregates, with FILTER and HAVING.",
                "Use strategy => 'cache' for any other query (it is recomputed in full on refresh).");
  if (s(a.nspname) != r.project ||
      !pg::spi_value("SELECT 1 FROM pulse.collection_registry WHERE project = $1 AND name = $2",
                     {Arg::text(r.project), Arg::text(s(a.relname))}))
    throw Error(sqlstate::kFeatureNotSupported,
                r.strategy + " views cannot maintain a query over \"" + s(a.nspname) + "." + s(a.relname) +
                    "\", which is not a collection of project \"" + r.project + "\"",
                "", "Use strategy => 'cache' for queries over other tables.");
  return a;
}

// The defining query as a view of the extension's that reads with the privileges of whoever
// runs it: only the writer may (refreshes and recomputations run as the writer); and the
// function that evaluates it in the pinned settings.
void create_definition(const Request& r, const Names& n, const std::string& definition, const Pinned& pinned) {
  pg::spi_exec("CREATE VIEW " + n.def + " WITH (security_invoker = true) AS " + definition);
  pg::spi_exec("REVOKE ALL ON " + n.def + " FROM PUBLIC");
  pg::spi_exec("GRANT SELECT ON " + n.def + " TO " + quote_ident(r.writer()));
  pg::spi_exec("CREATE FUNCTION " + n.full + "() RETURNS SETOF " + n.def + " LANGUAGE sql STABLE" + pinned.clauses +
               " SET search_path = pg_catalog, pg_temp AS " + quote_literal("SELECT * FROM " + n.def));
  pg::spi_exec("REVOKE ALL ON FUNCTION " + n.full + "() FROM PUBLIC");
  pg::spi_exec("GRANT EXECUTE ON FUNCTION " + n.full + "() TO " + quote_ident(r.writer()));
}

// What the builders produce for the registry and the read view.
struct Built {
  std::string collection;  // empty for cache views
  std::string merge_sql, rebuild_delete, rebuild_insert;
  std::string read_sql;  // what users read ($ID$: the view's id)
};

// A cache view: a table of the query's result, rebuilt in full.
Built build_cache(const Names& n) {
  Built b;
  pg::spi_exec("CREATE TABLE " + n.state + " (LIKE " + n.def + ")");
  b.rebuild_delete = "DELETE FROM " + n.state;
  b.rebuild_insert = "INSERT INTO " + n.state + " SELECT * FROM " + n.full + "()";
  b.read_sql = "SELECT * FROM " + n.state;
  return b;
}

// The columns of an aggregating view's state: group keys g<i> (or a constant _k), then each
// aggregate's state columns, and the SQL of each aggregate.
struct StateShape {
  std::vector<std::string> group_sql, group_cols, coldefs, keys, agg_cols, unions, merged;
  std::vector<AggSql> aggs;
};

StateShape state_shape(const Analysis& a) {
  StateShape st;
  ListCell* lc;
  foreach (lc, a.groups) {
    GroupPlan* g = (GroupPlan*)lfirst(lc);
    std::string col = "g" + std::to_string(st.group_sql.size() + 1);
    st.group_sql.push_back(g->sql);
    st.group_cols.push_back(col);
    st.coldefs.push_back(col + " " + g->type_sql);
  }
  st.keys = st.group_cols;
  if (st.group_cols.empty()) {
    st.coldefs.push_back("_k boolean NOT NULL DEFAULT true");
    st.keys = {"_k"};
  }
  int j = 0;
  foreach (lc, a.aggs) {
    AggSql q = agg_sql(*(AggPlan*)lfirst(lc), ++j);
    for (size_t k = 0; k < q.cols.size(); k++) {
      st.coldefs.push_back(q.cols[k] + " " + q.types[k]);
      st.agg_cols.push_back(q.cols[k]);
      st.unions.push_back(q.cols[k] + " = " + q.unions[k]);
    }
    st.merged.push_back(q.merged + " AS f" + std::to_string(j));
    st.aggs.push_back(q);
  }
  return st;
}

// The delta function: partial aggregates of the rows not merged yet (the read path's readers
// call it too).
void create_delta_function(const Request& r, const Names& n, const Analysis& a, const StateShape& st,
                           const Pinned& pinned) {
  std::string alias = quote_ident(s(a.relname));
  std::vector<std::string> sel = st.group_sql.empty() ? std::vector<std::string>{"true"} : st.group_sql;
  for (auto& q : st.aggs)
    for (auto& p : q.partial) sel.push_back(p);
  std::string partial = "SELECT " + join(sel, ", ") + " FROM " + n.P + "." + alias + " AS " + alias + " WHERE " +
                        alias + "._shard_time >= $2 AND NOT pg_catalog.pg_visible_in_snapshot(" + alias +
                        "._shard_xid, $1) AND ($3 IS NULL OR " + alias + "._shard_xid <> $3)";
  if (a.where_sql) partial += " AND (" + s(a.where_sql) + ")";
  if (!st.group_sql.empty()) {
    std::vector<std::string> pos;
    for (size_t k = 1; k <= st.group_sql.size(); k++) pos.push_back(std::to_string(k));
    partial += " GROUP BY " + join(pos, ", ");
  }
  std::string body = "BEGIN RETURN QUERY EXECUTE " + quote_literal(partial) + " USING s, t, skip; END";
  pg::spi_exec("CREATE FUNCTION " + n.delta +
               "(s pg_catalog.pg_snapshot, t timestamptz, skip xid8 DEFAULT NULL) RETURNS SETOF " + n.state +
               " LANGUAGE plpgsql STABLE ROWS 100" + pinned.clauses +
               " SET enable_sort = off SET search_path = pg_catalog, pg_temp SET standard_conforming_strings = on SET "
               "array_nulls = on AS " +
               quote_literal(body));
  pg::spi_exec("REVOKE ALL ON FUNCTION " + n.delta + "(pg_catalog.pg_snapshot, timestamptz, xid8) FROM PUBLIC");
  pg::spi_exec("GRANT EXECUTE ON FUNCTION " + n.delta + "(pg_catalog.pg_snapshot, timestamptz, xid8) TO " +
               quote_ident(r.reader()));
}

std::vector<std::string> prefixed(const std::string& p, const std::vector<std::string>& cols) {
  std::vector<std::string> out;
  for (auto& c : cols) out.push_back(p + c);
  return out;
}

// What users read of an incremental or realtime view: the stored states (plus, for realtime,
// the unmerged delta) merged per group and finalised, then the query's own select list and
// HAVING over them.
std::string read_sql(const Request& r, const Names& n, const Analysis& a, const StateShape& st) {
  Oid state_relid = InvalidOid;
  std::string state_name = "_pulse_state_" + r.name, internal = internal_schema_name(r.project);
  pg::call([&] { state_relid = get_relname_relid(state_name.c_str(), get_namespace_oid(internal.c_str(), false)); });
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
  const auto& gcols = st.group_cols;
  std::vector<std::string> srccols = gcols;
  for (auto& c : st.agg_cols) srccols.push_back(c);
  // one stored row per group: finalised on its own, no aggregation
  std::vector<std::string> single_sel = prefixed("s.", gcols);
  for (size_t k = 0; k < st.aggs.size(); k++) single_sel.push_back(st.aggs[k].single + " AS f" + std::to_string(k + 1));
  std::vector<std::string> merged_sel = prefixed("u.", gcols);
  for (auto& m : st.merged) merged_sel.push_back(m);
  std::string tail = having.empty() ? "" : " AND (" + having + ")";
  if (r.strategy == "incremental")
    return gcols.empty()
               // no GROUP BY: exactly one row, even before the first merge
               ? "SELECT " + join(outs, ", ") + " FROM (SELECT " + join(merged_sel, ", ") + " FROM (SELECT " +
                     join(srccols, ", ") + " FROM " + n.state + ") u) m" + (having.empty() ? "" : " WHERE " + having)
               : "SELECT " + join(outs, ", ") + " FROM (SELECT " + join(single_sel, ", ") + " FROM " + n.state +
                     " s) m" + (having.empty() ? "" : " WHERE " + having);
  // after an UPDATE / DELETE / TRUNCATE a realtime read recomputes the query, as the writer
  std::string recompute = "SELECT * FROM pulse._view_recompute($ID$) AS f(" + column_definitions(n.def) + ")";
  if (gcols.empty()) {
    std::string src = "SELECT " + join(srccols, ", ") + " FROM " + n.state + " UNION ALL SELECT " +
                      join(prefixed("d.", srccols), ", ") + " FROM w CROSS JOIN LATERAL " + n.delta +
                      "(w.snapshot, w.threshold, NULL) d";
    return "WITH w AS MATERIALIZED (SELECT * FROM pulse._view_watermark($ID$)) SELECT " + join(outs, ", ") +
           " FROM (SELECT " + join(merged_sel, ", ") + " FROM (" + src + ") u) m WHERE NOT (SELECT w.dirty FROM w)" +
           tail + " UNION ALL " + recompute + " WHERE (SELECT w.dirty FROM w)";
  }
  // Groups without unmerged rows are finalised straight from their stored row; only the groups
  // the delta touches are merged. The delta's groups are few: keys with no NULL are matched
  // with `=` (a hash anti join over the state for the untouched groups, the state's unique
  // index for the touched ones); a key with a NULL is matched as a record (NULL-safe), through
  // hashed subplans over the delta, which are built only when such keys occur (the record of
  // a state row only for the state's rows with a NULL key). A composite type of the group keys
  // makes the key records hashable. (Records for every state row, twice, took 2.2x as long on
  // a state of 122k groups.)
  std::vector<std::string> keydefs(st.coldefs.begin(), st.coldefs.begin() + long(gcols.size()));
  if (!pg::spi_value("SELECT 1 FROM pg_catalog.pg_type WHERE oid = pg_catalog.to_regtype($1)", {Arg::text(n.keytype)}))
    pg::spi_exec("CREATE TYPE " + n.keytype + " AS (" + join(keydefs, ", ") + ")");  // (_view_reread: it exists)
  std::string key = "ROW(" + join(prefixed("x.", gcols), ", ") + ")::" + n.keytype;
  // each key's equality: its type's default one (GROUP BY's and the state's unique index's),
  // with both operands cast to the operator's declared input types, all schema-qualified (so
  // that no operator of the same name in that schema, for a domain's or another type's exact
  // types, is taken instead; a binary-compatible cast leaves the index usable). A type without
  // one keeps every key a record ("false": no key is matched with `=`, every one through the
  // records). Whether a key is NULL is asked of each whole value (num_nulls): `IS NULL` of a
  // composite value asks its fields.
  std::vector<std::string> eq;
  std::vector<const char*> ops(gcols.size(), nullptr), left(gcols.size(), nullptr), right(gcols.size(), nullptr);
  pg::call([&] {
    for (size_t k = 0; k < gcols.size(); k++) {
      Oid typid = get_atttype(state_relid, get_attnum(state_relid, gcols[k].c_str()));
      Oid opr = lookup_type_cache(typid, TYPECACHE_EQ_OPR)->eq_opr;
      if (!OidIsValid(opr)) continue;
      HeapTuple tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opr));
      if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for operator %u", opr);
      Form_pg_operator op = (Form_pg_operator)GETSTRUCT(tup);
      ops[k] =
          psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(op->oprnamespace)), NameStr(op->oprname));
      left[k] = format_type_be_qualified(op->oprleft);
      right[k] = format_type_be_qualified(op->oprright);
      ReleaseSysCache(tup);
    }
  });
  bool all_eq = true;
  for (size_t k = 0; k < gcols.size(); k++) {
    if (!ops[k])
      all_eq = false;
    else
      eq.push_back("d." + gcols[k] + "::" + left[k] + " " + ops[k] + " s." + gcols[k] + "::" + right[k]);
  }
  if (!all_eq) eq = {"false"};
  std::string s_nulls = "pg_catalog.num_nulls(" + join(prefixed("s.", gcols), ", ") + ")";
  std::string d_nulls = "pg_catalog.num_nulls(" + join(prefixed("d.", gcols), ", ") + ")";
  std::string s_set = all_eq ? s_nulls + " = 0" : "false", s_null = all_eq ? s_nulls + " > 0" : "true",
              d_null = all_eq ? d_nulls + " > 0" : "true";
  std::string d = "d AS MATERIALIZED (SELECT x.*, " + key + " AS _k FROM w CROSS JOIN LATERAL " + n.delta +
                  "(w.snapshot, w.threshold, NULL) x WHERE NOT w.dirty)";
  std::string stc = "s AS NOT MATERIALIZED (SELECT x.*, " + key + " AS _k FROM " + n.state + " x)";
  std::string untouched = "SELECT " + join(single_sel, ", ") + " FROM s WHERE NOT EXISTS (SELECT FROM d WHERE " +
                          join(eq, " AND ") + ") AND (" + s_set + " OR s._k NOT IN (SELECT d._k FROM d))";
  std::string touched = "SELECT " + join(merged_sel, ", ") + " FROM (SELECT " + join(prefixed("s.", srccols), ", ") +
                        " FROM d JOIN s ON " + join(eq, " AND ") + " UNION ALL SELECT " +
                        join(prefixed("s.", srccols), ", ") + " FROM s WHERE (SELECT bool_or(" + d_null +
                        ") FROM d) AND (" + s_null + ") AND (s._k IN (SELECT d._k FROM d)) IS TRUE UNION ALL SELECT " +
                        join(prefixed("d.", srccols), ", ") + " FROM d) u GROUP BY " +
                        join(prefixed("u.", gcols), ", ");
  return "WITH w AS MATERIALIZED (SELECT * FROM pulse._view_watermark($ID$)), " + d + ", " + stc + " SELECT " +
         join(outs, ", ") + " FROM (" + untouched + " UNION ALL " + touched + ") m WHERE NOT (SELECT w.dirty FROM w)" +
         tail + " UNION ALL " + recompute + " WHERE (SELECT w.dirty FROM w)";
}

// An incremental or realtime view: the state table of partial aggregates, the delta function,
// the merge and rebuild statements and the read SQL.
Built build_aggregating(const Request& r, const Names& n, const Analysis& a, const Pinned& pinned) {
  StateShape st = state_shape(a);
  pg::spi_exec("CREATE TABLE " + n.state + " (" + join(st.coldefs, ", ") + ")");
  pg::spi_exec("ALTER TABLE " + n.state + " ADD CONSTRAINT " + n.key + " UNIQUE NULLS NOT DISTINCT (" +
               join(st.keys, ", ") + ")");
  create_delta_function(r, n, a, st, pinned);
  Built b;
  b.collection = s(a.relname);
  b.merge_sql = "INSERT INTO " + n.state + " AS s SELECT * FROM " + n.delta +
                "($1::pg_catalog.pg_snapshot, $2::timestamptz, $3::xid8) ON CONFLICT ON CONSTRAINT " + n.key +
                (st.unions.empty() ? " DO NOTHING" : " DO UPDATE SET " + join(st.unions, ", ")) +
                " RETURNING (xmax = 0)";
  b.rebuild_delete = "DELETE FROM " + n.state;
  b.rebuild_insert = "INSERT INTO " + n.state + " SELECT * FROM " + n.delta + "('1:1:', '-infinity', $3::xid8)";
  b.read_sql = read_sql(r, n, a, st);
  return b;
}

// The registry row; returns the view's id.
std::string register_view(const Request& r, const Pinned& pinned, const Built& b) {
  return *pg::spi_value(
      "INSERT INTO pulse.view_registry(project, name, collection, strategy, refresh_every, timezone, query,"
      " merge_sql, rebuild_sql) VALUES ($1, $2, $3, $4, $5::interval, $6, $7, $8, ARRAY[$9, $10]) RETURNING id",
      {Arg::text(r.project), Arg::text(r.name), b.collection.empty() ? Arg::null_text() : Arg::text(b.collection),
       Arg::text(r.strategy), Arg::text(r.every), Arg::text(pinned.timezone), Arg::text(r.query),
       b.merge_sql.empty() ? Arg::null_text() : Arg::text(b.merge_sql), Arg::text(b.rebuild_delete),
       Arg::text(b.rebuild_insert)});
}

// The read SQL of view `id` (read_sql leaves its id as $ID$: the registry row comes after).
std::string with_id(std::string sql, const std::string& id) {
  for (size_t p; (p = sql.find("$ID$")) != std::string::npos;) sql.replace(p, 4, id);
  return sql;
}

// What users read, for the project's readers.
void create_read_view(const Request& r, const Names& n, const std::string& sql, const std::string& id) {
  pg::spi_exec("CREATE VIEW " + n.view + " AS " + with_id(sql, id));
  pg::spi_exec("GRANT SELECT ON " + n.view + " TO " + quote_ident(r.reader()));
}

// Descriptions for psql's \d+ and BI tools; the hidden objects say they are not to be used.
void describe_view(const Request& r, const Names& n) {
  std::string kind = r.strategy == "realtime"      ? "realtime view (exact at every read)"
                     : r.strategy == "incremental" ? "incremental view (as of its last refresh, every " + r.every + ")"
                                                   : "cache view (as of its last refresh, every " + r.every + ")";
  pg::spi_exec("COMMENT ON VIEW " + n.view + " IS " +
               quote_literal(pg::clip_message("pg_pulse " + kind + " of: " + r.query)));
  std::string internal = quote_literal("pg_pulse internal object of view " + r.name + ": read the view, not this");
  pg::spi_exec("COMMENT ON VIEW " + n.def + " IS " + internal);
  pg::spi_exec("COMMENT ON TABLE " + n.state + " IS " + internal);
  pg::spi_exec("COMMENT ON FUNCTION " + n.full + "() IS " + internal);
  if (r.strategy == "cache") return;
  pg::spi_exec("COMMENT ON FUNCTION " + n.delta + "(pg_catalog.pg_snapshot, timestamptz, xid8) IS " + internal);
  if (pg::spi_value("SELECT 1 FROM pg_catalog.pg_type WHERE oid = pg_catalog.to_regtype($1)", {Arg::text(n.keytype)}))
    pg::spi_exec("COMMENT ON TYPE " + n.keytype + " IS " + internal);
}

}  // namespace

// pulse.create_view(project, name, query, strategy default 'realtime', refresh_every default '5 minutes')
PULSE_SQL_FUNCTION(pulse_create_view) {
  Request r = read_request(fcinfo);
  pg::spi_connect();
  check_request(r);
  Pinned pinned = pinned_settings();
  Names n = names_of(r.project, r.name);
  std::string definition;
  Analysis a = analyse_as_writer(r, &definition);
  create_definition(r, n, definition, pinned);
  Built b = r.strategy == "cache" ? build_cache(n) : build_aggregating(r, n, a, pinned);
  pg::spi_exec("GRANT SELECT, INSERT, UPDATE, DELETE ON " + n.state + " TO " + quote_ident(r.writer()));
  std::string id = register_view(r, pinned, b);
  if (!b.collection.empty()) ensure_invalidation_trigger(r.project, b.collection);
  create_read_view(r, n, b.read_sql, id);
  describe_view(r, n);
  refresh_by_id(std::stoi(id), true);
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

// pulse._view_reread(view_id): what the project's readers read of a realtime view, made again
// by this version's code from the view's stored query (CREATE OR REPLACE VIEW: same columns,
// grants and comment; the stored states, the delta function and the registry row stay). The
// update from 0.2.0 runs it for each realtime view (outside the extension script: the view is
// the project's, not the extension's); a view's read SQL is fixed when it is created.
PULSE_SQL_FUNCTION(pulse_view_reread) {
  int32 id = PG_GETARG_INT32(0);
  pg::spi_connect();
  auto row = pg::spi_column(
      "SELECT x FROM pulse.view_registry v, LATERAL unnest(ARRAY[v.project, v.name, v.query, v.strategy,"
      " v.refresh_every::text]) x WHERE v.id = $1",
      {Arg::int4(id)});
  if (row.size() != 5) throw Error(sqlstate::kUndefinedObject, "view " + std::to_string(id) + " does not exist");
  Request r{*row[0], *row[1], *row[2], *row[3], *row[4]};
  if (r.strategy == "realtime") {
    Names n = names_of(r.project, r.name);
    std::string definition;
    Analysis a = analyse_as_writer(r, &definition);
    StateShape st = state_shape(a);
    pg::spi_exec("CREATE OR REPLACE VIEW " + n.view + " AS " + with_id(read_sql(r, n, a, st), std::to_string(id)));
  }
  pg::spi_finish();
  PG_RETURN_VOID();
}

}  // namespace pulse::views
