// SQL entry points of ingestion: pulse.collect, pulse.collect_batch, pulse.create_collection,
// pulse.replay_dead_letters, and the small helpers the SQL scripts use.
#include <algorithm>
#include <string>
#include <vector>

#include "core/json_decode.h"
#include "core/json_split.h"
#include "core/names.h"
#include "core/url.h"
#include "enrich/enrich.h"
#include "ingest/catalog.h"
#include "ingest/partitions.h"
#include "ingest/spec.h"
#include "ingest/writer.h"
#include "pg/faults.h"
#include "pg/gucs.h"
#include "pg/progress.h"
#include "pg/spi.h"
#include "pg/trust.h"
#include "pg/type_class.h"

extern "C" {
#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "catalog/pg_type.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "parser/parse_type.h"
}

namespace pulse::ingest {
namespace {

using pg::Arg;

JsonDecoder& decoder() {
  static JsonDecoder* d = new JsonDecoder();  // lives as long as the backend
  return *d;
}

using pg::require_text;
using pg::text_arg;

std::string caller_source(const char* fn) {
  char* who = nullptr;
  pg::call([&] { who = GetUserNameFromId(pg::caller_role(), false); });
  return std::string("sql:") + fn + " by " + who;
}

Datum result_datum(FunctionCallInfo fcinfo, const IngestCounts& c) {
  Datum out = 0;
  pg::call([&] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE) elog(ERROR, "return type must be a row type");
    desc = BlessTupleDesc(desc);
    Datum v[5] = {Int64GetDatum(c.stored), Int64GetDatum(c.rejected_fields), Int64GetDatum(c.dead_lettered),
                  Int32GetDatum(int32(c.columns_added)), Int64GetDatum(c.duplicates)};
    bool nulls[5] = {false, false, false, false, false};
    out = HeapTupleGetDatum(heap_form_tuple(desc, v, nulls));
  });
  return out;
}

JsonDecodeOptions decode_options(bool envelope, bool raw_only = false, size_t spare_fields = 0) {
  JsonDecodeOptions o;
  o.spare_fields = spare_fields;
  o.envelope = envelope;
  o.raw_only = raw_only;  // a segment / posthog spec parses the events itself
  o.max_event_bytes = size_t(pulse_max_event_bytes);
  o.interrupt_check = pg::decode_interrupt_check;
  return o;
}

}  // namespace

// pulse.collect(project, collection, event jsonb, spec default null) -> pulse.ingest_result
// With a spec that names collections (segment, posthog) the collection may be NULL.
PULSE_SQL_FUNCTION(pulse_collect) {
  std::string project = ascii_lower(require_text(fcinfo, 0, "project"));
  std::string collection = PG_ARGISNULL(1) ? std::string() : ascii_lower(text_arg(fcinfo, 1));
  if (PG_ARGISNULL(2)) throw Error(sqlstate::kInvalidParameter, "event must not be null");
  std::string spec_text = PG_ARGISNULL(3) ? std::string() : text_arg(fcinfo, 3);
  pg::spi_connect();
  check_project_writer(project);
  EventSpec spec = resolve_event_spec(project, &spec_text, collection);
  if (!PG_ARGISNULL(1) || spec.kind == SpecKind::kPulse || spec.kind == SpecKind::kPaths) {
    if (PG_ARGISNULL(1))
      throw Error(sqlstate::kInvalidParameter, "collection must not be null", "",
                  "Only the segment and posthog specs name the collections of their events.");
    check_collection_name(collection);
  }
  std::string json;
  pg::call([&] {
    Jsonb* j = PG_GETARG_JSONB_P(2);
    char* s = JsonbToCString(NULL, &j->root, int(VARSIZE(j)));
    json.assign(s);
  });
  EventBatch batch;
  bool own_parse = spec.kind == SpecKind::kSegment || spec.kind == SpecKind::kPosthog;
  decoder().decode_event(json, decode_options(false, own_parse), &batch);
  IngestCounts counts;
  ChunkedIngest call(project, collection, caller_source("collect"), &counts);
  if (spec.kind != SpecKind::kPulse) call.set_spec(spec);
  call.add(batch);
  call.finish();
  pg::spi_finish();
  return result_datum(fcinfo, counts);
}

// A JSON array payload bigger than a chunk: its elements (json_split.h) are decoded and written
// a chunk of elements at a time. Every chunk is checked to parse first, so that an array with a
// syntax error anywhere is one dead letter of the whole payload, as when it is one chunk; false
// (nothing written) then, and for a payload that is not one array of elements.
bool collect_array_chunks(std::string_view payload, size_t chunk_bytes, const JsonDecodeOptions& opts,
                          pg::Progress* progress, ChunkedIngest* call) {
  std::vector<std::pair<size_t, size_t>> spans;
  if (!json_array_elements(payload, &spans)) return false;
  std::vector<size_t> starts = json_array_chunks(spans, chunk_bytes);
  std::string text;
  for (size_t c = 0; c < starts.size(); c++) {
    json_array_text(payload, spans, starts[c], c + 1 < starts.size() ? starts[c + 1] : spans.size(), &text);
    if (!decoder().parses(text)) return false;
    pg::check_interrupts();
  }
  for (size_t c = 0; c < starts.size(); c++) {
    size_t to = c + 1 < starts.size() ? starts[c + 1] : spans.size();
    progress->phase("decoding", int64_t(spans[starts[c]].first), int64_t(payload.size()), "bytes");
    pg::Progress::copy_feed = nullptr;
    {
      json_array_text(payload, spans, starts[c], to, &text);
      EventBatch batch;
      decoder().decode_payload(text, opts, &batch);
      pg::Progress::copy_feed = progress;
      call->add(batch);
    }
    pg::check_interrupts();
  }
  return true;
}

// pulse.collect_batch(project, payload text, collection text default null, spec text default null)
//   -> ingest_result
PULSE_SQL_FUNCTION(pulse_collect_batch) {
  std::string project = ascii_lower(require_text(fcinfo, 0, "project"));
  if (PG_ARGISNULL(1)) throw Error(sqlstate::kInvalidParameter, "payload must not be null");
  std::string collection;
  if (!PG_ARGISNULL(2)) {
    collection = ascii_lower(text_arg(fcinfo, 2));
    check_collection_name(collection);
  }
  std::string spec_text = PG_ARGISNULL(3) ? std::string() : text_arg(fcinfo, 3);
  pg::spi_connect();
  check_project_writer(project);
  EventSpec spec = resolve_event_spec(project, &spec_text, collection);
  std::string_view payload;  // the argument's own memory, valid for this call
  pg::call([&] {
    text* t = PG_GETARG_TEXT_PP(1);
    payload = std::string_view(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
  });
  pg::Progress progress("collect_batch", project, collection);
  IngestCounts counts;
  ChunkedIngest call(project, collection, caller_source("collect_batch"), &counts);
  if (spec.kind != SpecKind::kPulse) call.set_spec(spec);
  // envelopes ({"collection": ..., "properties": ...}) are pg_pulse's (and paths specs'); segment
  // and posthog read events as sent and name their collections themselves
  bool envelopes = collection.empty() && (spec.kind == SpecKind::kPulse || spec.kind == SpecKind::kPaths);
  bool own_parse = spec.kind == SpecKind::kSegment || spec.kind == SpecKind::kPosthog;
  // NDJSON is decoded and written in chunks of whole lines, a JSON array in chunks of whole
  // elements (memory bounded by the chunk, not the payload).
  size_t spare = own_parse ? 0 : enrich::fields_added_at_most(project);  // room for the enrichers' fields
  size_t chunk_bytes = size_t(pulse_collect_chunk_bytes);
  size_t first = payload.find_first_not_of(" \t\r\n");
  bool array = first != std::string_view::npos && payload[first] == '[';
  if (array && payload.size() > chunk_bytes &&
      collect_array_chunks(payload, chunk_bytes, decode_options(envelopes, own_parse, spare), &progress, &call)) {
    call.finish();
    pg::spi_finish();
    return result_datum(fcinfo, counts);
  }
  for (size_t pos = 0; pos < payload.size();) {
    size_t end = payload.size();
    if (!array && payload.size() - pos > chunk_bytes) {
      // ends after a newline; a chunk never starts with '[' (it would decode as a JSON array)
      for (size_t from = pos + chunk_bytes - 1;;) {
        size_t nl = payload.find('\n', from);
        end = nl == std::string_view::npos ? payload.size() : nl + 1;
        size_t next = payload.find_first_not_of(" \t\r\n", end);
        if (next == std::string_view::npos || payload[next] != '[') break;
        from = next;
      }
    }
    progress.phase("decoding", int64_t(pos), int64_t(payload.size()), "bytes");
    pg::Progress::copy_feed = nullptr;
    {
      EventBatch batch;
      decoder().decode_payload(payload.substr(pos, end - pos), decode_options(envelopes, own_parse, spare), &batch);
      pg::Progress::copy_feed = &progress;
      call.add(batch);
    }
    pos = end;
    pg::check_interrupts();
  }
  call.finish();
  pg::spi_finish();
  return result_datum(fcinfo, counts);
}

// pulse.create_collection(project, collection, fields jsonb default '{}', dedup default false,
//                         partition_by default null)
// Declared field types are resolved by Postgres' own type parser.
PULSE_SQL_FUNCTION(pulse_create_collection) {
  std::string project = ascii_lower(require_text(fcinfo, 0, "project"));
  std::string collection = ascii_lower(require_text(fcinfo, 1, "collection"));
  check_collection_name(collection);
  bool dedup = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
  // partition_by: day, week, month, none; NULL: the project's default
  PartitionUnit unit = PartitionUnit::kNone;
  bool unit_given = !PG_ARGISNULL(4);
  if (unit_given) {
    std::string u = ascii_lower(text_arg(fcinfo, 4));
    if (!parse_partition_unit(u, &unit))
      throw Error(sqlstate::kInvalidParameter, "invalid partition_by \"" + u.substr(0, 100) + "\"", "",
                  "Use day, week, month, or none for a plain table (NULL: the project's default).");
  }
  std::string fields_json = "{}";
  if (!PG_ARGISNULL(2)) {
    pg::call([&] {
      Jsonb* j = PG_GETARG_JSONB_P(2);
      fields_json.assign(JsonbToCString(NULL, &j->root, int(VARSIZE(j))));
    });
  }
  pg::spi_connect();
  check_project_writer(project);
  if (pg::spi_value("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = $1 AND c.relname = $2",
                    {Arg::text(project), Arg::text(collection)}))
    throw Error(sqlstate::kDuplicateTable, "collection \"" + project + "." + collection + "\" already exists", "",
                "New fields are added automatically when events carry them.");
  if (!pg::spi_value("SELECT 1 WHERE jsonb_typeof($1::jsonb) = 'object'", {Arg::text(fields_json)}))
    throw Error(sqlstate::kInvalidParameter, "fields must be a JSON object of field name to type name",
                "Got: " + fields_json, "Example: '{\"price\": \"numeric\", \"sku\": \"text\"}'");
  auto names = pg::spi_column(
      "SELECT key FROM jsonb_each($1::jsonb) WITH ORDINALITY AS e(key, value, ordinality) ORDER BY ordinality",
      {Arg::text(fields_json)});
  auto types = pg::spi_column(
      "SELECT CASE jsonb_typeof(value) WHEN 'string' THEN value #>> '{}' END"
      " FROM jsonb_each($1::jsonb) WITH ORDINALITY AS e(key, value, ordinality) ORDER BY ordinality",
      {Arg::text(fields_json)});
  std::vector<Column> cols;
  for (size_t k = 0; k < names.size(); k++) {
    std::string raw = *names[k];
    std::string name = normalize_field_name(raw);
    if (classify_field_name(name) != FieldNameClass::kUser)
      throw Error(sqlstate::kInvalidName, "invalid field name \"" + raw + "\"", "",
                  "Field names starting with _ are reserved for system columns.");
    if (!types[k])
      throw Error(sqlstate::kInvalidParameter, "type of field \"" + raw + "\" must be a string naming a type");
    std::string tname = *types[k];
    Oid typid = InvalidOid;
    int32 typmod = -1;
    bool ok = true;
    try {
      pg::call([&] { parseTypeString(tname.c_str(), &typid, &typmod, false); });
    } catch (pg::PgError& e) {
      if (pg::is_abort_error(e.sqlerrcode())) throw;  // a cancel is no unknown type
      ok = false;
    }
    if (!ok)
      throw Error(sqlstate::kUndefinedObject, "type \"" + tname + "\" of field \"" + raw + "\" does not exist", "",
                  "Use a Postgres type name such as text, numeric, bigint, timestamptz, jsonb or text[].");
    // Ingestion (SECURITY DEFINER) evaluates the type's input function and a domain's checks:
    // only types no project role can have written are accepted.
    std::string untrusted = pg::untrusted_type(typid);
    if (!untrusted.empty())
      throw Error(sqlstate::kInsufficientPrivilege, "type \"" + tname + "\" of field \"" + raw + "\" cannot be used",
                  "It uses " + untrusted + ".",
                  "Collections take built-in types and types owned by a superuser (not temporary ones).");
    cols.push_back(Column{name, pg::column_type(typid, typmod)});
  }
  if (cols.size() > size_t(pulse_max_fields_per_collection))
    throw Error(sqlstate::kProgramLimit, "too many fields: " + std::to_string(cols.size()), "",
                "pulse.max_fields_per_collection is " + std::to_string(pulse_max_fields_per_collection) + ".");
  CollectionInfo info = ensure_collection(project, collection, dedup, unit_given ? &unit : nullptr);
  add_columns(project, collection, info.relid, cols);
  pg::spi_finish();
  PG_RETURN_VOID();
}

// pulse.replay_dead_letters(project, collection default null, ids bigint[] default null)
// Takes the matching dead letters out of pulse.dead_letters and ingests them again, each through
// the event spec of its dialect (dead_letters.spec; NULL: pg_pulse's); those that still fail come
// back as new dead letters with the new error.
PULSE_SQL_FUNCTION(pulse_replay_dead_letters) {
  std::string project = ascii_lower(require_text(fcinfo, 0, "project"));
  pg::spi_connect();
  check_project_writer(project);
  std::vector<Arg> args = {Arg::text(project)};
  std::string where = "project = $1";
  if (!PG_ARGISNULL(1)) {
    args.push_back(Arg::text(ascii_lower(text_arg(fcinfo, 1))));
    where += " AND collection = $" + std::to_string(args.size());
  }
  if (!PG_ARGISNULL(2)) {
    Arg a;
    a.type = INT8ARRAYOID;
    a.value = PG_GETARG_DATUM(2);
    args.push_back(a);
    where += " AND id = ANY($" + std::to_string(args.size()) + ")";
  }
  // The letters, locked; those whose payload is not UTF-8 text (a binary Kafka message: Avro)
  // cannot be replayed as JSON and stay as they are, with their reason.
  uint64_t n = pg::spi_exec(
      "SELECT id, coalesce(collection, ''), payload, source, coalesce(spec, '')"
      " FROM pulse.dead_letters WHERE " +
          where + " ORDER BY id FOR UPDATE SKIP LOCKED",
      args);
  struct Item {
    std::string id, collection, payload, source, spec;
  };
  std::vector<Item> items;
  std::vector<std::string> ids;
  uint64_t binary = 0;
  for (uint64_t r = 0; r < n; r++) {
    char* v[5];
    std::string payload;
    pg::call([&] {
      for (int c : {0, 1, 3, 4}) v[c] = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 1);
      bool isnull = false;
      Datum d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &isnull);
      if (!isnull) {
        bytea* b = DatumGetByteaPP(d);
        payload.assign(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
      }
    });
    if (!valid_utf8_text(payload)) {
      binary++;
      continue;
    }
    ids.push_back(v[0]);
    items.push_back(Item{v[0], v[1] ? v[1] : "", std::move(payload), v[3] ? v[3] : "", v[4] ? v[4] : ""});
  }
  if (!ids.empty())
    pg::spi_exec("DELETE FROM pulse.dead_letters WHERE id = ANY ($1::bigint[])", {Arg::text_array(ids)});
  if (binary > 0)
    pg::call([&] {
      ereport(NOTICE,
              (errmsg("%llu dead letter(s) of project %s left as they are: their payload is not UTF-8 text",
                      (unsigned long long)binary, project.c_str()),
               errhint("Binary Kafka messages (Avro) cannot be replayed as JSON; fix and produce them again.")));
    });
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return std::stoll(a.id) < std::stoll(b.id); });
  IngestCounts counts;
  pg::Progress progress("replay_dead_letters", project,
                        PG_ARGISNULL(1) ? std::string() : ascii_lower(text_arg(fcinfo, 1)));
  int64_t done = 0;
  for (auto& it : items) {
    progress.phase("replaying", done++, int64_t(items.size()), "dead letters");
    pg::call([] { pg::pause_point("replay"); });
    pg::check_interrupts();
    EventSpec spec;
    std::string why;
    if (!it.spec.empty() && !parse_event_spec(it.spec, &spec, &why)) spec = EventSpec();  // not expected: as pulse
    bool own_parse = spec.kind == SpecKind::kSegment || spec.kind == SpecKind::kPosthog;
    bool envelopes = it.collection.empty() && !own_parse;
    EventBatch batch;
    decoder().decode_event(it.payload, decode_options(envelopes, own_parse), &batch);
    std::string src = "replay of dead letter " + it.id + " (" + it.source + ")";
    ChunkedIngest call(project, it.collection, src, &counts);
    if (spec.kind != SpecKind::kPulse) call.set_spec(spec);
    call.add(batch);
    call.finish();
  }
  pg::spi_finish();
  return result_datum(fcinfo, counts);
}

// pulse._name_problem(kind, name): why a project / collection name is invalid, or NULL.
PULSE_SQL_FUNCTION(pulse_name_problem) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
  std::string kind = text_arg(fcinfo, 0), name = text_arg(fcinfo, 1);
  std::string why = kind == "project" ? project_name_problem(name) : collection_name_problem(name);
  if (why.empty()) PG_RETURN_NULL();
  Datum d = 0;
  pg::call([&] { d = PointerGetDatum(cstring_to_text(why.c_str())); });
  return d;
}

// pulse._event_spec_problem(spec): why a spec argument is invalid, or NULL.
PULSE_SQL_FUNCTION(pulse_event_spec_problem) {
  if (PG_ARGISNULL(0)) PG_RETURN_NULL();
  EventSpec spec;
  std::string why;
  if (parse_event_spec(text_arg(fcinfo, 0), &spec, &why)) PG_RETURN_NULL();
  Datum d = 0;
  pg::call([&] { d = PointerGetDatum(cstring_to_text(why.c_str())); });
  return d;
}

// pulse._caller(): the role whose privileges pg_pulse checks (pg::caller_role: the session's
// current role, which a SECURITY DEFINER function cannot see through current_user, or the
// project role whose query pg_pulse runs).
PULSE_SQL_FUNCTION(pulse_caller) {
  Datum d = 0;
  pg::call([&] {
    d = CStringGetDatum(GetUserNameFromId(pg::caller_role(), false));
    d = DirectFunctionCall1(namein, d);
  });
  return d;
}

// pulse._lock_project(what, project): the transaction-scoped lock of the project's persons
// tables ('persons': their creation) or identity links ('person_link': links and erasures run
// one at a time), in pg_pulse's own lock space (pg::LockSpace: no role can take it with
// pg_advisory_lock to stall them).
PULSE_SQL_FUNCTION(pulse_lock_project) {
  std::string what = pg::require_text(fcinfo, 0, "what");
  std::string project = pg::require_text(fcinfo, 1, "project");
  pg::LockSpace space;
  if (what == "persons")
    space = pg::kLockPersons;
  else if (what == "person_link")
    space = pg::kLockPersonLink;
  else
    throw Error(sqlstate::kInvalidParameter, "unknown project lock \"" + what.substr(0, 50) + "\"");
  pg::lock_exclusive(project, space);
  PG_RETURN_VOID();
}

// pulse._require_writer(project): the caller's write check, for the SQL-language functions.
PULSE_SQL_FUNCTION(pulse_require_writer) {
  std::string project = ascii_lower(pg::require_text(fcinfo, 0, "project"));
  pg::spi_connect();
  check_project_writer(project);
  pg::spi_finish();
  PG_RETURN_VOID();
}

// pulse._make_partitions(project, collection, times timestamptz[]): the partitions of a
// partitioned collection that hold these _time values, made as ingestion makes them (for
// pulse.partition_collection, which moves a plain collection's rows into them). Returns how many
// it made; a partition that cannot be made is an error.
PULSE_SQL_FUNCTION(pulse_make_partitions) {
  std::string project = ascii_lower(pg::require_text(fcinfo, 0, "project"));
  std::string collection = ascii_lower(pg::require_text(fcinfo, 1, "collection"));
  CopyRows rows;
  if (!PG_ARGISNULL(2)) {
    pg::call([&] {
      ArrayType* a = PG_GETARG_ARRAYTYPE_P(2);
      Datum* values;
      bool* nulls;
      int n;
      deconstruct_array(a, TIMESTAMPTZOID, 8, true, TYPALIGN_DOUBLE, &values, &nulls, &n);
      for (int k = 0; k < n; k++) {
        if (nulls[k]) continue;
        rows.line_time_us.push_back(int64_t(DatumGetTimestampTz(values[k])) +
                                    int64_t(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * int64_t(USECS_PER_DAY));
        rows.line_end.push_back(0);
      }
    });
  }
  pg::spi_connect();
  check_project_writer(project);
  CollectionInfo info = ensure_collection(project, collection);
  std::map<int64_t, std::string> failed;
  int made = ensure_partitions(project, collection, info.relid, info.partition, rows, &failed);
  if (!failed.empty())
    throw Error(sqlstate::kObjectNotInPrerequisiteState,
                "cannot make a partition of \"" + project + "." + collection + "\"", failed.begin()->second);
  pg::spi_finish();
  PG_RETURN_INT32(made);
}

}  // namespace pulse::ingest
