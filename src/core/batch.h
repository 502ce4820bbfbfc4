// From decoded events to what the pg layer executes: the columns to add (schema diff) and the
// COPY text rows, with every value that does not fit recorded as a rejected field and every
// event that cannot be stored recorded as a dead letter. Nothing is dropped silently.
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/event.h"
#include "core/types.h"

namespace pulse {

struct Column {
  std::string name;
  ColumnType type;
};

// The columns of a collection table in attnum order, system columns included.
class TableShape {
 public:
  void add(std::string name, ColumnType type);
  const Column* find(std::string_view name) const;
  const std::vector<Column>& columns() const { return columns_; }
  size_t user_columns() const { return user_columns_; }  // all but the system columns
  int index_of(std::string_view name) const;

 private:
  std::vector<Column> columns_;
  std::unordered_map<std::string, int> index_;
  size_t user_columns_ = 0;
};

// New columns for the fields of `events` that the table lacks, typed from each field's first
// informative value, at most max_fields user columns in all (the rest are left out and their
// values become rejected fields when rows are built). names, when given, receives the distinct
// normalised field names of the events (BuildOptions::field_names).
std::vector<Column> plan_new_columns(const EventBatch& batch, const std::vector<uint32_t>& events,
                                     const TableShape& shape, size_t max_fields,
                                     std::vector<std::string_view>* names = nullptr);

struct RejectedField {
  uint32_t event = 0;
  std::string field;          // normalised name ("" when the name itself is the problem)
  std::string raw_name;       // as sent
  std::string raw_value;      // JSON text of the value
  std::string expected_type;  // column type, "" when there is no column
  std::string reason;
  std::string event_id, event_user, event_time;  // the stored row this field belonged to
};

struct DeadLetter {
  uint32_t event = 0;
  std::string error;
};

struct CopyRows {
  bool binary = false;  // data is binary COPY rows (without the header and trailer), else COPY text
  // COPY column list: _time, _user, _id and every existing column named by a decodable event
  // of the batch (an event dead-lettered while rows are built may leave a column all NULL)
  std::vector<std::string> columns;
  std::string data = take_scratch();  // COPY text format, one line per stored event (a reused buffer)
  std::vector<size_t> line_end;       // end offset (after '\n') of each line
  std::vector<uint32_t> line_event;   // event index of each line
  std::vector<int64_t>
      line_time_us;  // _time of each line (the arrival time if none), microseconds since the Unix epoch
  std::vector<RejectedField> rejected;
  std::vector<DeadLetter> dead;
  size_t duplicates = 0;
  std::vector<std::string> ids;  // with dedup: the _id of each line that has one

  CopyRows() = default;
  CopyRows(CopyRows&&) = default;
  CopyRows& operator=(CopyRows&&) = default;
  ~CopyRows() { give_scratch(std::move(data)); }
};

struct BuildOptions {
  std::string arrival_time;  // COPY text of the arrival time (used when an event has no _time)
  int64_t arrival_us = 0;    // the same, microseconds since the Unix epoch
  // binary COPY rows when every column of the COPY list takes them (types.h binary_copy_ok)
  bool binary = false;
  size_t max_fields = 500;  // only for the reason text of fields without a column
  bool dedup = false;
  const std::unordered_set<std::string>* existing_ids = nullptr;  // _ids already stored
  // _ids taken by earlier chunks of the same call (duplicates like ids earlier in this batch)
  const std::unordered_set<std::string>* earlier_ids = nullptr;
  // when set: receives the _user of every line (the persons seen, ingest/persons.h)
  std::unordered_set<std::string>* users = nullptr;
  // when set: the distinct normalised field names of the events (plan_new_columns gives them);
  // the COPY column list is read from them instead of from every field of every event again
  const std::vector<std::string_view>* field_names = nullptr;
};

// Lines are COPY text, or binary COPY rows (opts.binary and every column of the list takes them:
// CopyRows::binary), with the same values, rejected fields and dead letters either way.
void build_copy_rows(const EventBatch& batch, const std::vector<uint32_t>& events, const TableShape& shape,
                     const BuildOptions& opts, CopyRows* out);

// The distinct _id values of `events` (strings, or numbers as text), for dedup lookups.
std::vector<std::string> collect_event_ids(const EventBatch& batch, const std::vector<uint32_t>& events);

}  // namespace pulse
