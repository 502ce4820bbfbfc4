// Batch assembly (see batch.h): from decoded events to the schema diff, COPY rows, rejected
// fields and dead letters. Values are checked for their column by core/types.h; raw values and
// identities are rendered by core/render.h. Nothing here calls back into a decoder.
#include "core/batch.h"

#include <cstdint>

#include "core/names.h"
#include "core/render.h"
#include "core/time_parse.h"
#include "core/types.h"

namespace pulse {

void TableShape::add(std::string name, ColumnType type) {
  if (classify_field_name(name) == FieldNameClass::kUser) user_columns_++;
  index_.emplace(name, int(columns_.size()));
  columns_.push_back(Column{std::move(name), std::move(type)});
}

int TableShape::index_of(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? -1 : it->second;
}

const Column* TableShape::find(std::string_view name) const {
  int k = index_of(name);
  return k < 0 ? nullptr : &columns_[size_t(k)];
}

namespace {

// Column index and name class by field name, memoised on the name's address: decoders intern
// each normalised name once per batch (and enrichers append string literals), so every event's
// "price" is the same pointer and the lookup costs no allocation. An open-addressed table (a
// power of two, at most half full): three lookups per field of every event, where a
// std::unordered_map's division and node chase were 5 % of a call, and classifying each
// enriched field's name again another 3 %.
class ColumnLookup {
 public:
  struct Found {
    int index = -1;  // into the shape's columns; -1: none
    FieldNameClass cls = FieldNameClass::kUser;
  };
  // names, when given, receives each distinct name (by address) on its first lookup
  explicit ColumnLookup(const TableShape& shape, std::vector<std::string_view>* names = nullptr)
      : shape_(shape), slots_(64), names_(names) {}
  int operator()(std::string_view name) { return find(name).index; }
  Found find(std::string_view name) {
    if (name.empty()) return Found{-1, FieldNameClass::kEmpty};  // (its data may be null: an empty slot's)
    size_t mask = slots_.size() - 1;
    for (size_t i = slot_of(name.data()) & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.name == name.data() && s.size == name.size()) return s.found;
      if (s.name) continue;
      s = Slot{name.data(), name.size(), Found{shape_.index_of(name), classify_field_name(name)}};
      Found f = s.found;
      if (names_) names_->push_back(name);
      if (++used_ * 2 > slots_.size()) grow();
      return f;
    }
  }

 private:
  struct Slot {
    const char* name = nullptr;
    size_t size = 0;
    Found found;
  };
  static size_t slot_of(const char* p) { return size_t((uintptr_t(p) >> 3) * 0x9E3779B97F4A7C15ull >> 32); }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (!s.name) continue;
      size_t i = slot_of(s.name) & mask;
      while (slots_[i].name) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  const TableShape& shape_;
  std::vector<Slot> slots_;
  std::vector<std::string_view>* names_;
  size_t used_ = 0;
};

}  // namespace

std::vector<Column> plan_new_columns(const EventBatch& batch, const std::vector<uint32_t>& events,
                                     const TableShape& shape, size_t max_fields, std::vector<std::string_view>* names) {
  std::vector<Column> add;
  std::unordered_set<std::string_view> typed;  // new names already decided
  if (names) names->clear();
  ColumnLookup lookup(shape, names);
  size_t room = max_fields > shape.user_columns() ? max_fields - shape.user_columns() : 0;
  for (size_t i = 0; i < events.size(); i++) {
    prefetch_events_ahead(batch, events, i);
    const Event& ev = batch.events[events[i]];
    if (!ev.error.empty()) continue;
    for (const Field& f : ev.fields) {
      ColumnLookup::Found c = lookup.find(f.name);
      if (c.cls != FieldNameClass::kUser || c.index >= 0 || typed.count(f.name)) continue;
      std::optional<ColumnType> t;
      if (f.hint >= 0 && size_t(f.hint) < batch.hints.size())
        t = batch.hints[size_t(f.hint)];
      else
        t = infer_type(ev, ev.values[f.value]);
      if (!t) continue;  // null: no column yet
      typed.insert(f.name);
      if (add.size() >= room) continue;
      add.push_back(Column{std::string(f.name), std::move(*t)});
    }
  }
  return add;
}

std::vector<std::string> collect_event_ids(const EventBatch& batch, const std::vector<uint32_t>& events) {
  std::vector<std::string> ids;
  std::unordered_set<std::string> seen;
  for (uint32_t e : events) {
    const Event& ev = batch.events[e];
    if (!ev.error.empty()) continue;
    for (const Field& f : ev.fields) {
      if (f.name != "_id") continue;
      const Value& v = ev.values[f.value];
      std::string id;
      if (v.kind == Kind::kString)
        id = std::string(v.text);
      else if (v.kind == Kind::kInt)
        id = std::to_string(v.i);
      else if (v.kind == Kind::kDouble && v.underflow)
        id = std::string(v.text);
      else if (v.kind == Kind::kDouble)
        append_double(&id, v.d);
      else
        continue;
      if (seen.insert(id).second) ids.push_back(id);
      break;
    }
  }
  return ids;
}

namespace {

// Text of a _user / _id value; false when the value is neither string nor number.
bool identity_text(const Value& v, std::string* out) {
  out->clear();
  switch (v.kind) {
    case Kind::kString:
      out->assign(v.text);
      return true;
    case Kind::kInt:
      *out = std::to_string(v.i);
      return true;
    case Kind::kDouble:
      if (v.underflow)
        out->assign(v.text);
      else
        append_double(out, v.d);
      return true;
    case Kind::kNull:
      return true;
    default:
      return false;
  }
}

}  // namespace

void build_copy_rows(const EventBatch& batch, const std::vector<uint32_t>& events, const TableShape& shape,
                     const BuildOptions& opts, CopyRows* out) {
  const auto& cols = shape.columns();
  ColumnLookup lookup(shape);
  // COPY column list: _time, _user, _id, then the table's user columns that this batch uses.
  std::vector<int> used(cols.size(), 0);
  if (opts.field_names) {
    for (std::string_view name : *opts.field_names) {
      int k = lookup(name);
      if (k >= 0) used[size_t(k)] = 1;
    }
  } else {
    for (size_t i = 0; i < events.size(); i++) {
      prefetch_events_ahead(batch, events, i);
      const Event& ev = batch.events[events[i]];
      if (!ev.error.empty()) continue;
      for (const Field& f : ev.fields) {
        int k = lookup(f.name);
        if (k >= 0) used[size_t(k)] = 1;
      }
    }
  }
  std::vector<int> copy_cols;  // indexes into cols
  for (const char* sys : {"_time", "_user", "_id"}) copy_cols.push_back(shape.index_of(sys));
  for (size_t k = 0; k < cols.size(); k++)
    if (used[k] && classify_field_name(cols[k].name) == FieldNameClass::kUser) copy_cols.push_back(int(k));
  out->columns.clear();
  for (int k : copy_cols) out->columns.push_back(cols[size_t(k)].name);
  out->binary = opts.binary;
  for (int k : copy_cols) out->binary = out->binary && binary_copy_ok(cols[size_t(k)].type);
  std::vector<int> slot_of_col(cols.size(), -1);
  for (size_t s = 0; s < copy_cols.size(); s++) slot_of_col[size_t(copy_cols[s])] = int(s);

  std::unordered_set<std::string> batch_ids;
  std::vector<int32_t> slot_field(copy_cols.size());
  std::vector<RejectedField> rej;
  std::string id, user, time_text, why;
  for (size_t i = 0; i < events.size(); i++) {
    prefetch_events_ahead(batch, events, i);
    const uint32_t e = events[i];
    const Event& ev = batch.events[e];
    if (!ev.error.empty()) {
      out->dead.push_back(DeadLetter{e, ev.error});
      continue;
    }
    std::fill(slot_field.begin(), slot_field.end(), -1);
    rej.clear();
    std::string dead;
    int64_t time_us = 0;
    bool has_time = false, seen_time = false, seen_user = false, seen_id = false;
    id.clear();
    user.clear();
    for (size_t fi = 0; fi < ev.fields.size() && dead.empty(); fi++) {
      const Field& f = ev.fields[fi];
      const Value& v = ev.values[f.value];
      auto reject = [&](std::string expected, std::string reason) {
        RejectedField r;
        r.event = e;
        r.field = std::string(f.name);
        r.raw_name = std::string(f.raw_name);
        r.raw_value = value_json(ev, v);
        r.expected_type = std::move(expected);
        r.reason = std::move(reason);
        rej.push_back(std::move(r));
      };
      const ColumnLookup::Found c = lookup.find(f.name);
      switch (c.cls) {
        case FieldNameClass::kEmpty:
          reject("", "field name is empty after normalisation");
          continue;
        case FieldNameClass::kReserved:
          reject("", "field names starting with \"_\" are reserved (only _time, _user and _id may be set)");
          continue;
        case FieldNameClass::kTime:
          if (seen_time) {
            reject("timestamp with time zone", "another field of this event has the same normalised name");
            continue;
          }
          seen_time = true;
          if (v.kind == Kind::kString) {
            if (!parse_iso_datetime(v.text, &time_us))
              dead = "invalid _time: not an ISO-8601 date-time: " + value_json(ev, v);
          } else if (v.kind == Kind::kInt || v.kind == Kind::kDouble) {
            if (!epoch_millis_to_micros(v.d, &time_us))
              dead = "invalid _time: epoch milliseconds out of range: " + value_json(ev, v);
          } else if (v.kind != Kind::kNull) {
            dead = "invalid _time: expected an ISO-8601 string or epoch milliseconds, got " + value_json(ev, v);
          }
          has_time = v.kind != Kind::kNull;
          continue;
        case FieldNameClass::kUser_:
          if (seen_user) {
            reject("text", "another field of this event has the same normalised name");
            continue;
          }
          seen_user = true;
          if (!identity_text(v, &user)) dead = "invalid _user: expected a string or a number";
          continue;
        case FieldNameClass::kId:
          if (seen_id) {
            reject("text", "another field of this event has the same normalised name");
            continue;
          }
          seen_id = true;
          if (!identity_text(v, &id)) dead = "invalid _id: expected a string or a number";
          continue;
        case FieldNameClass::kUser:
          break;
      }
      const int k = c.index;
      if (k < 0) {
        if (v.kind != Kind::kNull)
          reject("", "collection has no column for this field: limit pulse.max_fields_per_collection (" +
                         std::to_string(opts.max_fields) + ") reached");
        continue;
      }
      int s = slot_of_col[size_t(k)];
      if (slot_field[size_t(s)] >= 0) {
        reject(cols[size_t(k)].type.pg_name, "another field of this event has the same normalised name");
        continue;
      }
      slot_field[size_t(s)] = int32_t(fi);
    }
    if (dead.empty() && opts.dedup && !id.empty()) {
      if ((opts.existing_ids && opts.existing_ids->count(id)) || (opts.earlier_ids && opts.earlier_ids->count(id)) ||
          !batch_ids.insert(id).second) {
        out->duplicates++;
        continue;
      }
      out->ids.push_back(id);
    }
    if (!dead.empty()) {
      out->dead.push_back(DeadLetter{e, std::move(dead)});
      continue;
    }
    if (out->binary) {
      append_be16(&out->data, uint16_t(copy_cols.size()));
      append_be32(&out->data, 8);
      append_be64(&out->data, uint64_t(pg_timestamp_from_unix_micros(has_time ? time_us : opts.arrival_us)));
      auto put_text = [&](const std::string& s) {
        if (s.empty()) {
          append_be32(&out->data, 0xFFFFFFFFu);
        } else {
          append_be32(&out->data, uint32_t(s.size()));
          out->data.append(s);
        }
      };
      put_text(user);
      put_text(id);
    } else {
      if (has_time) time_text = format_timestamp_utc(time_us);
      out->data.append(has_time ? time_text : opts.arrival_time);
      out->data.push_back('\t');
      if (user.empty())
        out->data.append("\\N");
      else
        append_copy_escaped(&out->data, user);
      out->data.push_back('\t');
      if (id.empty())
        out->data.append("\\N");
      else
        append_copy_escaped(&out->data, id);
    }
    for (size_t s = 3; s < copy_cols.size(); s++) {
      if (!out->binary) out->data.push_back('\t');
      int32_t fi = slot_field[s];
      if (fi < 0) {
        if (out->binary)
          append_be32(&out->data, 0xFFFFFFFFu);
        else
          out->data.append("\\N");
        continue;
      }
      const Field& f = ev.fields[size_t(fi)];
      const Value& v = ev.values[f.value];
      const ColumnType& t = cols[size_t(copy_cols[s])].type;
      why = out->binary ? append_binary_value(&out->data, ev, v, t) : append_copy_value(&out->data, ev, v, t);
      if (!why.empty()) {
        if (out->binary)
          append_be32(&out->data, 0xFFFFFFFFu);
        else
          out->data.append("\\N");
        RejectedField r;
        r.event = e;
        r.field = std::string(f.name);
        r.raw_name = std::string(f.raw_name);
        r.raw_value = value_json(ev, v);
        r.expected_type = t.pg_name;
        r.reason = why;
        rej.push_back(std::move(r));
      }
    }
    if (!out->binary) out->data.push_back('\n');
    out->line_end.push_back(out->data.size());
    out->line_time_us.push_back(has_time ? time_us : opts.arrival_us);
    out->line_event.push_back(e);
    if (opts.users && !user.empty()) opts.users->insert(user);
    for (auto& r : rej) {
      r.event_id = id;
      r.event_user = user;
      r.event_time = !has_time ? opts.arrival_time : out->binary ? format_timestamp_utc(time_us) : time_text;
      out->rejected.push_back(std::move(r));
    }
  }
}

}  // namespace pulse
