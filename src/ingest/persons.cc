// Persons (see persons.h): pulse.person_update. Identity links, merges and erasure are SQL
// (sql/ext/parts/50_people.sql); the persons table is created there (pulse._ensure_persons).
#include "ingest/persons.h"

#include <vector>

#include "core/json_decode.h"
#include "core/names.h"
#include "core/person_ops.h"
#include "ingest/catalog.h"
#include "pg/gucs.h"
#include "pg/spi.h"
#include "pg/trust.h"

extern "C" {
#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
}

namespace pulse::ingest {
namespace {

using pg::Arg;

// The table the persons' property columns live in (not a collection: its name starts with _).
constexpr const char* kPersonsTable = "_persons";

JsonDecoder& person_decoder() {
  static JsonDecoder* d = new JsonDecoder();  // lives as long as the backend
  return *d;
}

// The SQL expression an assignment stores into its column (t is the row, $n the value).
std::string assignment_sql(const PersonAssignment& a, int n) {
  std::string col = "t." + pg::quote_ident(a.column);
  std::string val = "$" + std::to_string(n) + "::" + a.pg_type;
  switch (a.op) {
    case PersonOp::kSet:
      return a.is_null ? "NULL" : val;
    case PersonOp::kSetOnce:
      return "coalesce(" + col + ", " + val + ")";
    case PersonOp::kIncrement:
      return "coalesce(" + col + ", 0) + " + val;
    case PersonOp::kAppend:
      return "coalesce(" + col + ", '{}') || " + val;
    case PersonOp::kRemove:
      return "CASE WHEN " + col + " IS NULL THEN NULL ELSE ARRAY(SELECT u.v FROM unnest(" + col +
             ") WITH ORDINALITY AS u(v, o) WHERE NOT coalesce(u.v = ANY(" + val + "), false) ORDER BY u.o) END";
  }
  return "NULL";
}

}  // namespace

PersonUpdateResult update_person(const std::string& project, const std::string& distinct_id,
                                 const std::string& ops_json, const std::string& source) {
  PersonUpdateResult res;
  if (distinct_id.empty() || distinct_id.size() > kMaxPersonIdBytes)
    throw Error(sqlstate::kInvalidParameter, "distinct_id must be 1 to " + std::to_string(kMaxPersonIdBytes) +
                                                 " bytes long (got " + std::to_string(distinct_id.size()) + ")");
  if (!pg::spi_value("SELECT 1 WHERE jsonb_typeof($1::jsonb) = 'object'", {Arg::text(ops_json)}))
    throw Error(sqlstate::kInvalidParameter, "ops must be a JSON object of operations", "",
                "Example: '{\"$set\": {\"plan\": \"pro\"}, \"$increment\": {\"logins\": 1}}'.");
  auto bad = pg::spi_value(
      "SELECT key FROM jsonb_each($1::jsonb) WHERE key NOT IN ('$set', '$set_once', '$increment', '$append',"
      " '$remove', '$unset') OR (key <> '$unset' AND jsonb_typeof(value) <> 'object')"
      " OR (key = '$unset' AND jsonb_typeof(value) <> 'array') ORDER BY key LIMIT 1",
      {Arg::text(ops_json)});
  if (bad)
    throw Error(sqlstate::kInvalidParameter, "invalid person operation \"" + bad->substr(0, 100) + "\"",
                "$set, $set_once, $increment, $append and $remove take an object of properties, $unset an array of "
                "property names.",
                "Example: '{\"$set\": {\"plan\": \"pro\"}, \"$unset\": [\"trial\"]}'.");
  auto relid_text = pg::spi_value("SELECT pulse._ensure_persons($1)::oid::text", {Arg::text(project)});
  Oid relid = Oid(std::stoul(*relid_text));

  // One decoded event per operation; $append / $remove scalars become one-element arrays.
  static const char* kOps[] = {"$set", "$set_once", "$increment", "$append", "$remove"};
  EventBatch batch;
  std::vector<PersonOp> ops;
  JsonDecodeOptions dopts;
  dopts.max_event_bytes = size_t(pulse_max_event_bytes);
  for (const char* key : kOps) {
    auto obj = pg::spi_value(
        "SELECT CASE WHEN $2 IN ('$append', '$remove') THEN"
        " (SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) = 'array' THEN e.value"
        " ELSE jsonb_build_array(e.value) END), '{}') FROM jsonb_each($1::jsonb -> $2) AS e)"
        " ELSE $1::jsonb -> $2 END::text",
        {Arg::text(ops_json), Arg::text(key)});
    if (!obj) continue;
    PersonOp op;
    (void)parse_person_op(key, &op);
    size_t before = batch.events.size();
    person_decoder().decode_event(*obj, dopts, &batch);
    if (batch.events.size() != before + 1 || !batch.events.back().error.empty())
      throw Error(sqlstate::kInvalidParameter, std::string("person operation ") + key + " cannot be stored",
                  batch.events.empty() ? "" : batch.events.back().error.substr(0, 200),
                  "pulse.max_event_bytes bounds the size of one operation's object.");
    ops.push_back(op);
  }
  std::vector<std::string> unset;
  for (auto& n : pg::spi_column("SELECT jsonb_array_elements_text($1::jsonb -> '$unset')", {Arg::text(ops_json)}))
    if (n) unset.push_back(normalize_field_name(*n));

  // New property columns, like a collection's.
  size_t max_fields = size_t(pulse_max_fields_per_collection);
  TableShape shape = read_shape(relid);
  std::vector<Column> add = plan_person_columns(batch, ops, shape, max_fields);
  if (!add.empty()) {
    res.columns_added = add_columns(project, kPersonsTable, relid, add);
    shape = read_shape(relid);
  }
  PersonPlan plan;
  plan_person_update(batch, ops, shape, max_fields, &plan);

  // The person: its id mapping (locked against a concurrent merge, which moves it), its row.
  std::string ids = pg::quote_ident(project) + "._person_ids";
  std::string persons = pg::quote_ident(project) + "." + kPersonsTable;
  pg::spi_exec("INSERT INTO " + ids + " (distinct_id, person_id) VALUES ($1, $1) ON CONFLICT DO NOTHING",
               {Arg::text(distinct_id)});
  auto person =
      pg::spi_value("SELECT person_id FROM " + ids + " WHERE distinct_id = $1 FOR SHARE", {Arg::text(distinct_id)});
  if (!person)  // erased by a transaction that committed meanwhile
    throw Error(sqlstate::kObjectNotInPrerequisiteState,
                "person \"" + distinct_id.substr(0, 200) + "\" was erased meanwhile", "", "Retry the call.");
  res.person_id = *person;
  pg::spi_exec("INSERT INTO " + persons + " (_person) VALUES ($1) ON CONFLICT DO NOTHING", {Arg::text(res.person_id)});

  std::string sql = "UPDATE " + persons + " AS t SET _updated = now()";
  std::vector<Arg> args = {Arg::text(res.person_id)};
  for (auto& a : plan.assignments) {
    if (!a.is_null) args.push_back(Arg::text(a.value));
    sql += ", " + pg::quote_ident(a.column) + " = " + assignment_sql(a, int(args.size()));
  }
  for (auto& name : unset)
    if (shape.find(name) && classify_field_name(name) == FieldNameClass::kUser)
      sql += ", " + pg::quote_ident(name) + " = NULL";
  sql += " WHERE t._person = $1";
  // the mapping row locked above keeps a merge or erasure from removing the row meanwhile
  if (pg::spi_exec(sql, args) != 1)
    throw Error(sqlstate::kObjectNotInPrerequisiteState,
                "person \"" + res.person_id.substr(0, 200) + "\" was merged or erased meanwhile", "",
                "Retry the call.");

  if (!plan.rejected.empty()) {
    std::vector<std::string> f, rn, rv, et, rs;
    for (auto& r : plan.rejected) {
      f.push_back(r.field);
      rn.push_back(r.raw_name);
      rv.push_back(r.raw_value);
      et.push_back(r.expected_type);
      rs.push_back(r.reason);
    }
    pg::spi_exec(
        "INSERT INTO pulse.rejected_fields(project, collection, field, raw_name, raw_value, expected_type, reason,"
        " event_user, event_time, shard_xid, source)"
        " SELECT $1, $2, nullif(f, ''), rn, rv, nullif(et, ''), r, $8, now(), pg_current_xact_id(), $9"
        " FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(f, rn, rv, et, r)",
        {Arg::text(project), Arg::text(kPersonsTable), Arg::text_array(f), Arg::text_array(rn), Arg::text_array(rv),
         Arg::text_array(et), Arg::text_array(rs), Arg::text(distinct_id), Arg::text(source)});
    res.rejected_fields = int64_t(plan.rejected.size());
  }
  return res;
}

// pulse.person_update(project, distinct_id, ops jsonb, OUT person_id, OUT rejected_fields,
//                     OUT columns_added)
PULSE_SQL_FUNCTION(pulse_person_update) {
  std::string project = ascii_lower(pg::require_text(fcinfo, 0, "project"));
  std::string id = pg::require_text(fcinfo, 1, "distinct_id");
  if (PG_ARGISNULL(2)) throw Error(sqlstate::kInvalidParameter, "ops must not be null");
  std::string ops;
  pg::call([&] {
    Jsonb* j = PG_GETARG_JSONB_P(2);
    ops.assign(JsonbToCString(NULL, &j->root, int(VARSIZE(j))));
  });
  pg::spi_connect();
  check_project_writer(project);
  char* who = nullptr;
  pg::call([&] { who = GetUserNameFromId(pg::caller_role(), false); });
  PersonUpdateResult r = update_person(project, id, ops, std::string("sql:person_update by ") + who);
  pg::spi_finish();
  Datum out = 0;
  pg::call([&] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE) elog(ERROR, "return type must be a row type");
    desc = BlessTupleDesc(desc);
    Datum v[3] = {PointerGetDatum(cstring_to_text(r.person_id.c_str())), Int64GetDatum(r.rejected_fields),
                  Int32GetDatum(int32(r.columns_added))};
    bool nulls[3] = {false, false, false};
    out = HeapTupleGetDatum(heap_form_tuple(desc, v, nulls));
  });
  return out;
}

}  // namespace pulse::ingest
