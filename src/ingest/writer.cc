#include "ingest/writer.h"

#include <map>
#include <unordered_set>

#include "core/batch.h"
#include "core/json_decode.h"
#include "core/names.h"
#include "ingest/catalog.h"
#include "pg/faults.h"
#include "pg/gucs.h"
#include "pg/spi.h"

extern "C" {
#include "access/table.h"
#include "commands/copy.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/rel.h"
#include "utils/lsyscache.h"
#include "executor/spi.h"
}

namespace pulse::ingest {

using pg::Arg;

namespace {

// The bytes COPY reads through copy_source(); saved and restored around each COPY so a
// trigger that ingests again (nested COPY) cannot clobber an outer one.
struct CopySource {
  const char* data = nullptr;
  size_t len = 0, pos = 0;
};
CopySource g_source;

extern "C" int copy_source(void* outbuf, int /*minread*/, int maxread) {
  // called by COPY inside pg::call: a pause (test hook) or cancel here longjmps out of CopyFrom
  pulse::pg::pause_point("copy");
  size_t n = g_source.len - g_source.pos;
  if (n > size_t(maxread)) n = size_t(maxread);
  memcpy(outbuf, g_source.data + g_source.pos, n);
  g_source.pos += n;
  return int(n);
}

// COPY FROM of data[from, to) into relid through Postgres' own COPY machinery (multi-insert,
// indexes, partitions, triggers, constraints). Raises PgError on any failure.
uint64_t copy_lines(Oid relid, const std::vector<std::string>& columns, const char* data, size_t len) {
  uint64_t processed = 0;
  CopySource saved = g_source;
  g_source = CopySource{data, len, 0};
  const std::string* cols = columns.data();
  size_t ncols = columns.size();
  try {
    pg::call([&] {
      Relation rel = table_open(relid, RowExclusiveLock);
      ParseState* pstate = make_parsestate(NULL);
      ParseNamespaceItem* nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
      nsitem->p_rte->requiredPerms = ACL_INSERT;
      List* attnames = NIL;
      for (size_t k = 0; k < ncols; k++) attnames = lappend(attnames, makeString(pstrdup(cols[k].c_str())));
      List* options = list_make1(makeDefElem(pstrdup("encoding"), (Node*)makeString(pstrdup("UTF8")), -1));
      CopyFromState cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, copy_source, attnames, options);
      processed = CopyFrom(cstate);
      EndCopyFrom(cstate);
      free_parsestate(pstate);
      table_close(rel, NoLock);
    });
  } catch (...) {
    g_source = saved;
    throw;
  }
  g_source = saved;
  return processed;
}

struct LineFailure {
  size_t line;
  std::string error;
  bool unique_violation;
};

// COPY text-format field to its value ("\\N" is NULL and handled by the caller).
std::string copy_unescape(std::string_view f) {
  std::string out;
  out.reserve(f.size());
  for (size_t k = 0; k < f.size(); k++) {
    if (f[k] != '\\' || k + 1 == f.size()) {
      out.push_back(f[k]);
      continue;
    }
    char c = f[++k];
    out.push_back(c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c);
  }
  return out;
}

// A line Postgres refused although every value passed pg_pulse's own checks (types it does
// not check itself: numeric(p,s) overflow, inet, enums, domains ...). Each user column is
// run through its type's input function; the ones Postgres refuses become NULL and rejected
// fields, and the line is stored again. False when no column is to blame (the event then
// goes to dead_letters with the original error).
bool salvage_line(Oid relid, const CopyRows& rows, size_t line, std::vector<RejectedField>* rejected) {
  size_t b = line ? rows.line_end[line - 1] : 0;
  std::string_view text(rows.data.data() + b, rows.line_end[line] - b - 1);
  std::vector<std::string> fields;
  for (size_t a = 0, t;; a = t + 1) {
    t = text.find('\t', a);
    fields.emplace_back(text.substr(a, t == std::string_view::npos ? std::string_view::npos : t - a));
    if (t == std::string_view::npos) break;
  }
  if (fields.size() != rows.columns.size()) return false;
  std::vector<RejectedField> bad;
  for (size_t c = 3; c < fields.size(); c++) {
    if (fields[c] == "\\N") continue;
    std::string value = copy_unescape(fields[c]);
    std::string colname = rows.columns[c];
    char* type_name = nullptr;
    try {
      pg::in_subtransaction([&] {
        pg::call([&] {
          pg::pause_point("salvage");
          Relation rel = table_open(relid, AccessShareLock);
          int attno = SPI_fnumber(RelationGetDescr(rel), colname.c_str());
          if (attno <= 0) elog(ERROR, "column not found");
          Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attno - 1);
          Oid typinput, typioparam;
          getTypeInputInfo(att->atttypid, &typinput, &typioparam);
          type_name = format_type_with_typemod(att->atttypid, att->atttypmod);
          int32 typmod = att->atttypmod;
          table_close(rel, AccessShareLock);
          (void)OidInputFunctionCall(typinput, const_cast<char*>(value.c_str()), typioparam, typmod);
        });
      });
    } catch (pg::PgError& e) {
      if (pg::is_statement_fatal(e.sqlerrcode())) throw;  // a cancel is no rejected field
      RejectedField r;
      r.field = colname;
      r.raw_name = colname;
      append_json_string(&r.raw_value, value);
      r.expected_type = type_name ? type_name : "";
      r.reason = e.edata->message ? e.edata->message : "refused by the column's type";
      r.event_id = fields[2] == "\\N" ? "" : copy_unescape(fields[2]);
      r.event_user = fields[1] == "\\N" ? "" : copy_unescape(fields[1]);
      r.event_time = copy_unescape(fields[0]);
      bad.push_back(std::move(r));
      fields[c] = "\\N";
    }
  }
  if (bad.empty()) return false;
  std::string fixed;
  for (size_t c = 0; c < fields.size(); c++) {
    if (c) fixed.push_back('\t');
    fixed += fields[c];
  }
  fixed.push_back('\n');
  try {
    pg::in_subtransaction([&] { (void)copy_lines(relid, rows.columns, fixed.data(), fixed.size()); });
  } catch (pg::PgError& e) {
    if (pg::is_statement_fatal(e.sqlerrcode())) throw;
    return false;
  }
  for (auto& r : bad) {
    r.event = rows.line_event[line];
    rejected->push_back(std::move(r));
  }
  return true;
}

// Stores lines [from, to) of rows; on failure splits the range in halves (each half in its
// own subtransaction) until the failing lines are isolated, then salvages what it can of
// each. Returns rows stored.
uint64_t copy_isolating(Oid relid, const CopyRows& rows, size_t from, size_t to, std::vector<LineFailure>* failed,
                        std::vector<RejectedField>* salvaged) {
  if (from >= to) return 0;
  size_t b = from ? rows.line_end[from - 1] : 0;
  size_t e = rows.line_end[to - 1];
  try {
    uint64_t n = 0;
    pg::in_subtransaction([&] { n = copy_lines(relid, rows.columns, rows.data.data() + b, e - b); });
    return n;
  } catch (pg::PgError& err) {
    // a cancel, termination, lack of memory or lock ends the whole call: no bisection, no dead letter
    if (pg::is_statement_fatal(err.sqlerrcode())) throw;
    if (to - from == 1) {
      if (err.sqlerrcode() != ERRCODE_UNIQUE_VIOLATION && salvage_line(relid, rows, from, salvaged)) return 1;
      std::string msg = err.edata->message ? err.edata->message : "error";
      if (err.edata->detail) msg += std::string(" (") + err.edata->detail + ")";
      failed->push_back(LineFailure{from, msg, err.sqlerrcode() == ERRCODE_UNIQUE_VIOLATION});
      return 0;
    }
    pg::check_interrupts();
    size_t mid = from + (to - from) / 2;
    return copy_isolating(relid, rows, from, mid, failed, salvaged) +
           copy_isolating(relid, rows, mid, to, failed, salvaged);
  }
}

std::string now_copy_text() {
  char* s = nullptr;
  pg::call([&] {
    s = DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())));
  });
  return std::string(s);
}

// Text that Postgres can hold: NUL bytes are spelled \u0000.
std::string without_nul(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c) out.push_back(c);
    else out.append("\\u0000");
  }
  return out;
}

void insert_dead_letters(const std::string& project, const std::vector<std::string>& collections,
                         const std::vector<std::string>& payloads, const std::vector<std::string>& errors,
                         const std::vector<std::string>& sources) {
  if (payloads.empty()) return;
  std::vector<std::string> errs;
  for (auto& e : errors) errs.push_back(without_nul(e));
  pg::spi_exec(
      "INSERT INTO pulse.dead_letters(project, collection, payload, error, source)"
      " SELECT $1, nullif(c, ''), p, e, s"
      " FROM unnest($2::text[], $3::bytea[], $4::text[], $5::text[]) AS u(c, p, e, s)",
      {Arg::text(project), Arg::text_array(collections), Arg::bytea_array(payloads), Arg::text_array(errs),
       Arg::text_array(sources)});
}

}  // namespace

void record_dead_letter(const std::string& project, const std::string& collection, const std::string& payload,
                        const std::string& error, const std::string& source) {
  pg::spi_exec(
      "INSERT INTO pulse.dead_letters(project, collection, payload, error, source)"
      " VALUES ($1, nullif($2, ''), $3::bytea, $4, $5)",
      {Arg::text(project), Arg::text(collection), Arg::text(without_nul(payload)), Arg::text(error),
       Arg::text(source)});
}

void ingest_batch(const std::string& project, const std::string& fixed_collection, const EventBatch& batch,
                  const std::string& source, IngestCounts* counts) {
  // Route events to collections, keeping arrival order inside each.
  std::map<std::string, std::vector<uint32_t>> groups;
  std::vector<std::string> dl_coll, dl_payload, dl_error, dl_source;
  auto dead = [&](const std::string& coll, const Event& ev, const std::string& error) {
    dl_coll.push_back(coll);
    dl_payload.push_back(event_to_json(ev));  // bytea: binary (Avro) payloads stay intact
    dl_error.push_back(error);
    dl_source.push_back(ev.source.empty() ? source : std::string(ev.source));
  };
  for (uint32_t k = 0; k < batch.events.size(); k++) {
    const Event& ev = batch.events[k];
    std::string coll = fixed_collection.empty() ? std::string(ev.collection) : fixed_collection;
    if (!ev.error.empty()) {
      // an envelope event keeps its whole envelope as payload: replayed as an envelope
      dead(fixed_collection, ev, ev.error);
      continue;
    }
    std::string why = collection_name_problem(coll);
    if (!why.empty()) {
      std::string env = "{\"collection\":";
      append_json_string(&env, coll);
      env += ",\"properties\":" + event_to_json(ev) + "}";
      dl_coll.push_back("");
      dl_payload.push_back(env);
      dl_error.push_back("invalid collection name \"" + coll + "\": " + why);
      dl_source.push_back(ev.source.empty() ? source : std::string(ev.source));
      continue;
    }
    groups[coll].push_back(k);
  }
  std::string arrival;
  for (auto& [coll, events] : groups) {
    pg::check_interrupts();
    CollectionInfo info = ensure_collection(project, coll);
    TableShape shape = read_shape(info.relid);
    std::vector<Column> add = plan_new_columns(batch, events, shape, size_t(pulse_max_fields_per_collection));
    if (!add.empty()) counts->columns_added += add_columns(project, coll, info.relid, add);
    pg::call([&] { LockRelationOid(info.relid, RowExclusiveLock); });
    shape = read_shape(info.relid);

    std::unordered_set<std::string> existing;
    BuildOptions opts;
    if (arrival.empty()) arrival = now_copy_text();
    opts.arrival_time = arrival;
    opts.max_fields = size_t(pulse_max_fields_per_collection);
    opts.dedup = info.dedup;
    if (info.dedup) {
      std::vector<std::string> ids = collect_event_ids(batch, events);
      if (!ids.empty()) {
        auto found = pg::spi_column("SELECT _id FROM " + pg::quote_ident(project) + "." + pg::quote_ident(coll) +
                                        " WHERE _id = ANY($1)",
                                    {Arg::text_array(ids)});
        for (auto& f : found)
          if (f) existing.insert(*f);
      }
      opts.existing_ids = &existing;
    }
    CopyRows rows;
    build_copy_rows(batch, events, shape, opts, &rows);
    counts->duplicates += int64_t(rows.duplicates);

    std::vector<LineFailure> failed;
    std::vector<RejectedField> salvaged;
    if (!rows.line_end.empty())
      counts->stored += int64_t(copy_isolating(info.relid, rows, 0, rows.line_end.size(), &failed, &salvaged));
    for (auto& r : salvaged) rows.rejected.push_back(std::move(r));
    std::unordered_set<uint32_t> failed_events;
    for (auto& f : failed) {
      uint32_t e = rows.line_event[f.line];
      failed_events.insert(e);
      if (f.unique_violation && info.dedup) {
        counts->duplicates++;
        continue;
      }
      dead(coll, batch.events[e], f.error);
    }
    for (auto& d : rows.dead) dead(coll, batch.events[d.event], d.error);

    // Rejected fields of stored rows, one statement for the batch.
    std::vector<std::string> f, rn, rv, et, rs, ei, eu, tt;
    for (auto& r : rows.rejected) {
      if (failed_events.count(r.event)) continue;
      f.push_back(r.field);
      rn.push_back(without_nul(r.raw_name));
      rv.push_back(r.raw_value);
      et.push_back(r.expected_type);
      rs.push_back(r.reason);
      ei.push_back(without_nul(r.event_id));
      eu.push_back(without_nul(r.event_user));
      tt.push_back(r.event_time);
    }
    if (!f.empty()) {
      pg::spi_exec(
          "INSERT INTO pulse.rejected_fields(project, collection, field, raw_name, raw_value, expected_type, reason,"
          " event_id, event_user, event_time, shard_xid, source)"
          " SELECT $1, $2, nullif(f, ''), rn, rv, nullif(et, ''), r, nullif(ei, ''), nullif(eu, ''),"
          " tt::timestamptz, pg_current_xact_id(), $11"
          " FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],"
          " $10::text[]) AS u(f, rn, rv, et, r, ei, eu, tt)",
          {Arg::text(project), Arg::text(coll), Arg::text_array(f), Arg::text_array(rn), Arg::text_array(rv),
           Arg::text_array(et), Arg::text_array(rs), Arg::text_array(ei), Arg::text_array(eu), Arg::text_array(tt),
           Arg::text(source)});
      counts->rejected_fields += int64_t(f.size());
    }
  }
  insert_dead_letters(project, dl_coll, dl_payload, dl_error, dl_source);
  counts->dead_lettered += int64_t(dl_payload.size());
}

}  // namespace pulse::ingest
