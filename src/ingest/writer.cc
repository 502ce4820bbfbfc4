// The batch writer (see writer.h): COPY through Postgres' own machinery, salvage of refused
// values into rejected_fields, per-collection subtransactions, dead letters.
#include "ingest/writer.h"

#include "ingest/metrics.h"

#include <malloc.h>

#include <map>
#include <unordered_set>

#include "core/batch.h"
#include "core/names.h"
#include "core/render.h"
#include "enrich/enrich.h"
#include "ingest/catalog.h"
#include "ingest/direct_insert.h"
#include "ingest/partitions.h"
#include "ingest/persons.h"
#include "ingest/spec.h"
#include "pg/faults.h"
#include "pg/gucs.h"
#include "pg/progress.h"
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
#include "mb/pg_wchar.h"
}

namespace pulse::ingest {

using pg::Arg;

namespace {

// The bytes COPY reads through copy_source(): a header, the rows, a trailer (binary COPY's
// framing; empty for COPY text). Saved and restored around each COPY so a trigger that ingests
// again (nested COPY) cannot clobber an outer one.
struct CopySource {
  std::string_view part[3];
  int at = 0;      // the part being read
  size_t pos = 0;  // in part[at]
  size_t fed = 0;  // bytes of the rows read so far (progress)
};
CopySource g_source;

// Binary COPY's header (signature, flags, no extension area) and trailer (field count -1).
constexpr char kBinaryHeader[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
constexpr size_t kBinaryHeaderLen = 19;
constexpr char kBinaryTrailer[] = "\377\377";

extern "C" int copy_source(void* outbuf, int /*minread*/, int maxread) {
  // called by COPY inside pg::call: a pause (test hook) or cancel here longjmps out of CopyFrom
  pulse::pg::pause_point("copy");
  CopySource& src = g_source;
  while (src.at < 3 && src.pos == src.part[src.at].size()) {
    src.at++;
    src.pos = 0;
  }
  if (src.at == 3) return 0;
  std::string_view p = src.part[src.at];
  size_t n = p.size() - src.pos;
  if (n > size_t(maxread)) n = size_t(maxread);
  memcpy(outbuf, p.data() + src.pos, n);
  src.pos += n;
  if (src.at == 1) {
    src.fed += n;
    if (pulse::pg::Progress::copy_feed) pulse::pg::Progress::copy_feed->advance(int64_t(src.fed));
  }
  return int(n);
}

// Whether binary rows apply (pulse.copy_format auto or copy) and are read as text as pg_pulse sends it (UTF-8): receive
// functions convert text from the client encoding, so the database must be UTF-8 and the client UTF-8 or SQL_ASCII
// (neither converts, both check the bytes). Elsewhere COPY text, which names its encoding.
bool binary_copy_reads_utf8() {
  if (pulse_copy_format == kPulseCopyText) return false;
  bool ok = false;
  pg::call([&] {
    int client = pg_get_client_encoding();
    ok = GetDatabaseEncoding() == PG_UTF8 && (client == PG_UTF8 || client == PG_SQL_ASCII);
  });
  return ok;
}

// The progress phase of writing len bytes of rows into relid.
void report_writing(Oid relid, size_t len) {
  if (pg::Progress* p = pg::Progress::copy_feed) {
    std::string phase = "writing ";
    pg::call([&] {
      const char* rel = get_rel_name(relid);
      phase += rel ? rel : "?";
    });
    p->phase(phase.c_str(), 0, int64_t(len), "bytes");
  }
}

// COPY FROM of data[from, to) into relid through Postgres' own COPY machinery (multi-insert,
// indexes, partitions, triggers, constraints). Raises PgError on any failure.
uint64_t copy_lines(Oid relid, const std::vector<std::string>& columns, const char* data, size_t len,
                    bool binary = false) {
  uint64_t processed = 0;
  report_writing(relid, len);
  CopySource saved = g_source;
  g_source = CopySource{};
  g_source.part[1] = std::string_view(data, len);
  if (binary) {
    g_source.part[0] = std::string_view(kBinaryHeader, kBinaryHeaderLen);
    g_source.part[2] = std::string_view(kBinaryTrailer, 2);
  }
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
      List* options = binary ? list_make1(makeDefElem(pstrdup("format"), (Node*)makeString(pstrdup("binary")), -1))
                             : list_make1(makeDefElem(pstrdup("encoding"), (Node*)makeString(pstrdup("UTF8")), -1));
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

// Binary rows into relid: directly (direct_insert.h) unless pulse.copy_format = copy or the
// collection needs COPY, else by binary COPY.
uint64_t store_binary_rows(Oid relid, const CopyRows& rows, const char** how) {
  uint64_t n = 0;
  if (pulse_copy_format == kPulseCopyAuto) {
    report_writing(relid, rows.data.size());
    *how = "directly";
    if (insert_binary_rows(relid, rows.columns, rows.data, &n)) return n;
  }
  *how = "by binary COPY";
  return copy_lines(relid, rows.columns, rows.data.data(), rows.data.size(), true);
}

// A failure's text for a dead letter: message and detail, bounded.
std::string failure_text(const pg::PgError& e) {
  std::string msg = e.edata->message ? e.edata->message : "error";
  if (e.edata->detail) msg += std::string(" (") + e.edata->detail + ")";
  if (msg.size() > pg::kMaxMessageBytes) msg.resize(pg::kMaxMessageBytes);
  return msg;
}

struct LineFailure {
  size_t line;
  std::string error;
  bool unique_violation;
};

// A line Postgres refused although every value passed pg_pulse's own checks (types it does
// not check itself: numeric(p,s) overflow, inet, enums, domains ...). Each user column is
// run through its type's input function; the ones Postgres refuses become NULL and rejected
// fields, and the line is stored again. False when no column is to blame (the event then
// goes to dead_letters with the original error).
bool salvage_line(Oid relid, const CopyRows& rows, const EventBatch& batch, size_t line,
                  std::vector<RejectedField>* rejected) {
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
      if (pg::is_abort_error(e.sqlerrcode())) throw;  // a cancel is no rejected field
      RejectedField r;
      r.field = colname;
      // the field as the event sent it (its name before normalisation, its JSON value)
      const Event& ev = batch.events[rows.line_event[line]];
      const Field* sent = nullptr;
      for (const Field& f : ev.fields)
        if (f.name == colname) {
          sent = &f;
          break;
        }
      if (sent) {
        r.raw_name = std::string(sent->raw_name);
        r.raw_value = value_json(ev, ev.values[sent->value]);
      } else {
        r.raw_name = colname;
        append_json_string(&r.raw_value, value);
      }
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
    if (pg::is_abort_error(e.sqlerrcode())) throw;
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
uint64_t copy_isolating(Oid relid, const CopyRows& rows, const EventBatch& batch, size_t from, size_t to,
                        std::vector<LineFailure>* failed, std::vector<RejectedField>* salvaged) {
  if (from >= to) return 0;
  size_t b = from ? rows.line_end[from - 1] : 0;
  size_t e = rows.line_end[to - 1];
  try {
    uint64_t n = 0;
    pg::in_subtransaction([&] { n = copy_lines(relid, rows.columns, rows.data.data() + b, e - b); });
    return n;
  } catch (pg::PgError& err) {
    // a cancel, termination, lack of memory or lock ends the whole call: no bisection, no dead letter
    if (pg::is_abort_error(err.sqlerrcode())) throw;
    if (to - from == 1) {
      if (err.sqlerrcode() != ERRCODE_UNIQUE_VIOLATION && salvage_line(relid, rows, batch, from, salvaged)) return 1;
      failed->push_back(LineFailure{from, failure_text(err), err.sqlerrcode() == ERRCODE_UNIQUE_VIOLATION});
      return 0;
    }
    pg::check_interrupts();
    size_t mid = from + (to - from) / 2;
    return copy_isolating(relid, rows, batch, from, mid, failed, salvaged) +
           copy_isolating(relid, rows, batch, mid, to, failed, salvaged);
  }
}

std::string now_copy_text() {
  char* s = nullptr;
  pg::call([&] {
    s = DatumGetCString(
        DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())));
  });
  return std::string(s);
}

// The transaction's start (the arrival time of its events) in microseconds since the Unix epoch.
int64_t arrival_micros() {
  int64_t us = 0;
  pg::call([&] {
    us = int64_t(GetCurrentTransactionStartTimestamp()) +
         int64_t(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * int64_t(USECS_PER_DAY);
  });
  return us;
}

// Text that Postgres can hold: NUL bytes are spelled \u0000.
std::string without_nul(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c)
      out.push_back(c);
    else
      out.append("\\u0000");
  }
  return out;
}

void insert_dead_letters(const std::string& project, const std::vector<std::string>& collections,
                         const std::vector<std::string>& payloads, const std::vector<std::string>& errors,
                         const std::vector<std::string>& sources, const std::vector<std::string>& specs) {
  if (payloads.empty()) return;
  for (auto& c : collections) note_ingest(project, c, 0, 0, 1, 0);
  std::vector<std::string> errs;
  for (auto& e : errors) errs.push_back(without_nul(e));
  pg::spi_exec(
      "INSERT INTO pulse.dead_letters(project, collection, payload, error, source, spec)"
      " SELECT $1, nullif(c, ''), p, e, s, nullif(sp, '')"
      " FROM unnest($2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[]) AS u(c, p, e, s, sp)",
      {Arg::text(project), Arg::text_array(collections), Arg::bytea_array(payloads), Arg::text_array(errs),
       Arg::text_array(sources), Arg::text_array(specs)});
}

}  // namespace

void record_dead_letter(const std::string& project, const std::string& collection, std::string_view payload,
                        const std::string& error, const std::string& source, const std::string& spec) {
  pg::spi_exec(
      "INSERT INTO pulse.dead_letters(project, collection, payload, error, source, spec)"
      " VALUES ($1, nullif($2, ''), $3, $4, $5, nullif($6, ''))",
      {Arg::text(project), Arg::text(collection), Arg::bytea(payload), Arg::text(without_nul(error)), Arg::text(source),
       Arg::text(spec)});
  note_ingest(project, collection, 0, 0, 1, 0);
}

namespace {

// Dead letters of one batch, inserted together at its end.
struct DeadLetters {
  std::vector<std::string> coll, payload, error, source;
  std::vector<std::string> spec;  // the payload's event spec ("": pg_pulse's dialect)
  void add(const std::string& c, std::string p, const std::string& e, const std::string& s,
           const std::string& sp = std::string()) {
    coll.push_back(c);
    payload.push_back(std::move(p));
    error.push_back(e);
    source.push_back(s);
    spec.push_back(sp);
  }
  void append(DeadLetters&& o) {
    for (size_t k = 0; k < o.coll.size(); k++)
      add(o.coll[k], std::move(o.payload[k]), o.error[k], o.source[k], o.spec[k]);
  }
};

// What ingest_group was doing when it failed.
enum class Stage { kCollection, kColumns, kRows };

struct GroupContext {
  const std::string& project;
  const std::string& coll;
  const EventBatch& batch;
  const std::string& source;
  std::string* arrival;                                // the batch's arrival time as COPY text (computed once)
  const std::unordered_set<std::string>* earlier_ids;  // _ids taken by earlier chunks of the call
  std::unordered_set<std::string>* users;              // receives the _user of the stored rows (or null)
};

// The dead letter of one event of the batch.
void dead_event(const GroupContext& g, DeadLetters* dl, const std::string& coll, uint32_t k, const std::string& error) {
  const Event& ev = g.batch.events[k];
  dl->add(coll, event_to_json(ev), error, ev.source.empty() ? g.source : std::string(ev.source));
}

// Stores the events of one collection: creates the collection and its new columns, COPYs the
// rows (isolating rows Postgres refuses), records rejected fields; dead letters go to dl.
// *stage says how far it got (for the caller's isolation).
void ingest_group(const GroupContext& g, const std::vector<uint32_t>& events, Stage* stage, IngestCounts* counts,
                  DeadLetters* dl, std::vector<std::string>* new_ids) {
  const std::string& project = g.project;
  const std::string& coll = g.coll;
  const EventBatch& batch = g.batch;
  *stage = Stage::kCollection;
  CollectionInfo info = ensure_collection(project, coll);
  TableShape shape = read_shape(info.relid);
  std::vector<std::string_view> names;  // the events' distinct field names
  std::vector<Column> add = plan_new_columns(batch, events, shape, size_t(pulse_max_fields_per_collection), &names);
  if (!add.empty()) {
    *stage = Stage::kColumns;
    counts->columns_added += add_columns(project, coll, info.relid, add);
    *stage = Stage::kCollection;
  }
  pg::call([&] { LockRelationOid(info.relid, RowExclusiveLock); });
  shape = read_shape(info.relid);

  std::unordered_set<std::string> existing;
  BuildOptions opts;
  if (g.arrival->empty()) *g.arrival = now_copy_text();
  opts.arrival_time = *g.arrival;
  opts.arrival_us = arrival_micros();
  opts.binary = binary_copy_reads_utf8();
  opts.max_fields = size_t(pulse_max_fields_per_collection);
  opts.dedup = info.dedup;
  opts.users = g.users;
  opts.field_names = &names;
  if (info.dedup) {
    std::vector<std::string> ids = collect_event_ids(batch, events);
    if (!ids.empty()) {
      auto found = pg::spi_column(
          "SELECT _id FROM " + pg::quote_ident(project) + "." + pg::quote_ident(coll) + " WHERE _id = ANY($1)",
          {Arg::text_array(ids)});
      for (auto& f : found)
        if (f) existing.insert(*f);
    }
    opts.existing_ids = &existing;
    opts.earlier_ids = g.earlier_ids;
  }
  CopyRows rows;
  build_copy_rows(batch, events, shape, opts, &rows);
  counts->duplicates += int64_t(rows.duplicates);
  *new_ids = std::move(rows.ids);
  // partitions this batch needs; a range whose partition cannot be made fails alone (below)
  std::map<int64_t, std::string> no_partition;
  if (info.partition != PartitionUnit::kNone)
    (void)ensure_partitions(project, coll, info.relid, info.partition, rows, &no_partition);

  *stage = Stage::kRows;
  std::vector<LineFailure> failed;
  std::vector<RejectedField> salvaged;
  bool stored = false;
  if (rows.binary && !rows.line_end.empty()) {
    // binary rows (direct or COPY); when Postgres refuses any, the rows are made again as COPY text,
    // which the isolation and salvage below read
    try {
      uint64_t n = 0;
      const char* how = "";
      pg::in_subtransaction([&] { n = store_binary_rows(info.relid, rows, &how); });
      pg::call([&] { elog(DEBUG1, "pg_pulse: %lu rows into %s %s", (unsigned long)n, coll.c_str(), how); });
      counts->stored += int64_t(n);
      stored = true;
    } catch (pg::PgError& e) {
      if (pg::is_abort_error(e.sqlerrcode())) throw;
    }
    if (!stored) {
      opts.binary = false;
      CopyRows text;
      build_copy_rows(batch, events, shape, opts, &text);
      rows = std::move(text);
    }
  }
  if (!stored && !rows.line_end.empty())
    counts->stored += int64_t(copy_isolating(info.relid, rows, batch, 0, rows.line_end.size(), &failed, &salvaged));
  for (auto& r : salvaged) rows.rejected.push_back(std::move(r));
  std::unordered_set<uint32_t> failed_events;
  for (auto& f : failed) {
    uint32_t e = rows.line_event[f.line];
    failed_events.insert(e);
    if (f.unique_violation && info.dedup) {
      counts->duplicates++;
      continue;
    }
    if (!no_partition.empty() && no_partition.count(partition_range(info.partition, rows.line_time_us[f.line]).start)) {
      dead_event(g, dl, coll, e,
                 no_partition[partition_range(info.partition, rows.line_time_us[f.line]).start]);  // why its partition
                                                                                                   // could not be made
      continue;
    }
    dead_event(g, dl, coll, e, f.error);
  }
  for (auto& d : rows.dead) dead_event(g, dl, coll, d.event, d.error);

  // Rejected fields of stored rows, one statement for the group.
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
         Arg::text(g.source)});
    counts->rejected_fields += int64_t(f.size());
  }
}

// ingest_group in a subtransaction of its own. One bad event never sinks the others: a failure
// that is not an abort (cancel, lack of resources, ...) while adding columns is bisected over
// the events down to the one that causes it; any other failure (the collection itself cannot
// take events: a view of that name, a dropped schema) dead-letters the group's events.
void ingest_group_isolated(const GroupContext& g, const std::vector<uint32_t>& events, IngestCounts* counts,
                           DeadLetters* dl, std::vector<std::string>* taken_ids) {
  Stage stage = Stage::kCollection;
  IngestCounts c;
  DeadLetters local;
  std::vector<std::string> ids;
  try {
    pg::in_subtransaction([&] { ingest_group(g, events, &stage, &c, &local, &ids); });
  } catch (pg::PgError& e) {
    if (pg::is_abort_error(e.sqlerrcode())) throw;
    if (stage != Stage::kColumns || events.size() == 1) {
      std::string why = failure_text(e);
      for (uint32_t k : events) dead_event(g, dl, g.coll, k, why);
      return;
    }
    pg::check_interrupts();
    std::vector<uint32_t> a(events.begin(), events.begin() + events.size() / 2);
    std::vector<uint32_t> b(events.begin() + events.size() / 2, events.end());
    ingest_group_isolated(g, a, counts, dl, taken_ids);
    ingest_group_isolated(g, b, counts, dl, taken_ids);
    return;
  }
  for (auto& id : ids) taken_ids->push_back(std::move(id));
  counts->stored += c.stored;
  counts->rejected_fields += c.rejected_fields;
  counts->columns_added += c.columns_added;
  counts->duplicates += c.duplicates;
  note_ingest(g.project, g.coll, c.stored, c.rejected_fields, 0, 0);
  dl->append(std::move(local));
}

}  // namespace

// What one call keeps from chunk to chunk: what its single batch would have kept.
struct ChunkedIngest::State {
  std::string project, collection, source;
  IngestCounts* counts;
  std::string arrival;                                           // the call's arrival time as COPY text
  DeadLetters early;                                             // undecodable events, invalid collection names
  std::map<std::string, DeadLetters> late;                       // per collection (every collection written)
  std::map<std::string, std::unordered_set<std::string>> taken;  // dedup: _ids of earlier chunks
  std::unique_ptr<SpecStage> spec;                               // set_spec: the dialect's mapping
  int track_persons = -1;                                        // the project's track_persons (-1: not read yet)
  std::string spec_text;                                         // set_spec's spec as given ("": none)
};

namespace {

// A backend that ingests keeps up to kKeptHeap of freed memory for its next call: glibc would
// return it to the system after each call (its default trim threshold is 128 kB, raised only by
// big frees) and fault it in again, page by page (7 % of a 1,000-event call). Blocks of
// kOwnMapping and more keep their own mapping, returned when freed (a big payload).
constexpr int kKeptHeap = 16 * 1024 * 1024;
constexpr int kOwnMapping = 4 * 1024 * 1024;

void keep_heap_between_calls() {
  static bool done = false;
  if (done) return;
  done = true;
  mallopt(M_MMAP_THRESHOLD, kOwnMapping);
  mallopt(M_TRIM_THRESHOLD, kKeptHeap);
}

}  // namespace

ChunkedIngest::ChunkedIngest(const std::string& project, const std::string& collection, const std::string& source,
                             IngestCounts* counts)
    : s_(new State{project, collection, source, counts, {}, {}, {}, {}, {}, -1, {}}) {
  keep_heap_between_calls();
}

void ChunkedIngest::set_spec(const EventSpec& spec) {
  s_->spec.reset(new SpecStage(s_->project, spec, s_->source));
  s_->spec_text = spec.kind == SpecKind::kPulse ? std::string() : spec.text;
}

ChunkedIngest::~ChunkedIngest() = default;

void ChunkedIngest::add(EventBatch& chunk) {
  State& st = *s_;
  EventBatch mapped;
  EventBatch& batch = st.spec ? st.spec->map(chunk, &mapped) : chunk;
  const std::string& fixed_collection = st.collection;
  // Route events to collections, keeping arrival order inside each.
  std::map<std::string, std::vector<uint32_t>> groups;
  for (uint32_t k = 0; k < batch.events.size(); k++) {
    const Event& ev = batch.events[k];
    std::string ev_source = ev.source.empty() ? st.source : std::string(ev.source);
    std::string coll = fixed_collection.empty() ? std::string(ev.collection) : fixed_collection;
    if (!ev.error.empty()) {
      // an envelope event keeps its whole envelope as payload: replayed as an envelope
      // as sent: in the spec's dialect when the spec could not map it (replayed through it)
      st.early.add(fixed_collection, event_to_json(ev), ev.error, ev_source, st.spec_text);  // bytea: Avro stays binary
      continue;
    }
    std::string why = collection_name_problem(coll);
    if (!why.empty()) {
      std::string env = "{\"collection\":";
      append_json_string(&env, coll);
      env += ",\"properties\":" + event_to_json(ev) + "}";
      st.early.add("", env, "invalid collection name \"" + coll.substr(0, 200) + "\": " + why, ev_source);
      continue;
    }
    groups[coll].push_back(k);
  }
  enrich::apply(st.project, groups, &batch);  // before schema evolution: derived fields become columns
  std::unordered_set<std::string> users;      // the _user of the chunk's rows: persons on first sight
  if (st.track_persons < 0 && !groups.empty())
    st.track_persons =
        pg::spi_value("SELECT 1 FROM pulse.projects WHERE name = $1 AND track_persons", {Arg::text(st.project)}) ? 1
                                                                                                                 : 0;
  for (auto& [coll, events] : groups) {
    pg::check_interrupts();
    std::unordered_set<std::string>& taken = st.taken[coll];
    GroupContext g{st.project, coll, batch, st.source, &st.arrival, &taken, st.track_persons > 0 ? &users : nullptr};
    std::vector<std::string> ids;  // merged after the chunk: halves of a bisection do not see each other's
    ingest_group_isolated(g, events, st.counts, &st.late[coll], &ids);
    for (auto& id : ids) taken.insert(std::move(id));
  }
  // links first: an id a link maps already is no new person to be merged later
  if (st.spec) st.counts->rejected_fields += st.spec->apply(batch, fixed_collection);
  if (st.track_persons) note_persons_seen(st.project, users);
}

void ChunkedIngest::finish() {
  State& st = *s_;
  DeadLetters dl = std::move(st.early);
  for (auto& [coll, letters] : st.late) {
    dl.append(std::move(letters));
    note_ingest(st.project, coll, 0, 0, 0, 1);
  }
  insert_dead_letters(st.project, dl.coll, dl.payload, dl.error, dl.source, dl.spec);
  st.counts->dead_lettered += int64_t(dl.payload.size());
}

void ingest_batch(const std::string& project, const std::string& fixed_collection, EventBatch& batch,
                  const std::string& source, IngestCounts* counts) {
  ChunkedIngest call(project, fixed_collection, source, counts);
  call.add(batch);
  call.finish();
}

}  // namespace pulse::ingest
