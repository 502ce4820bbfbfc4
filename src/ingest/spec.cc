// Event specs in the write path (see spec.h).
#include "ingest/spec.h"

#include <vector>

#include "core/render.h"
#include "ingest/persons.h"
#include "pg/faults.h"
#include "pg/gucs.h"
#include "pg/spi.h"

namespace pulse::ingest {

using pg::Arg;

namespace {

SpecMapper& mapper() {
  static SpecMapper* m = new SpecMapper();  // lives as long as the backend
  return *m;
}

// Rows of pulse.rejected_fields for things a spec could not do with an event.
struct SpecRejects {
  std::vector<std::string> coll, field, raw_value, expected, reason, event_id, event_user;
  void add(const std::string& c, const std::string& f, const std::string& v, const std::string& t, const std::string& r,
           const Event* ev) {
    std::string id, user;
    if (ev)
      for (const Field& fl : ev->fields) {
        const Value& val = ev->values[fl.value];
        if (val.kind != Kind::kString) continue;
        if (fl.name == "_id") id = std::string(val.text);
        if (fl.name == "_user") user = std::string(val.text);
      }
    coll.push_back(c.empty() ? "(none)" : c);
    field.push_back(f);
    raw_value.push_back(v);
    expected.push_back(t);
    reason.push_back(r.substr(0, pg::kMaxMessageBytes));
    event_id.push_back(id);
    event_user.push_back(user);
  }
  void insert(const std::string& project, const std::string& source) {
    if (coll.empty()) return;
    pg::spi_exec(
        "INSERT INTO pulse.rejected_fields(project, collection, field, raw_name, raw_value, expected_type, reason,"
        " event_id, event_user, shard_xid, source)"
        " SELECT $1, c, f, f, v, nullif(t, ''), r, nullif(i, ''), nullif(u, ''), pg_current_xact_id(), $9"
        " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])"
        " AS x(c, f, v, t, r, i, u)",
        {Arg::text(project), Arg::text_array(coll), Arg::text_array(field), Arg::text_array(raw_value),
         Arg::text_array(expected), Arg::text_array(reason), Arg::text_array(event_id), Arg::text_array(event_user),
         Arg::text(source)});
  }
};

}  // namespace

EventSpec resolve_event_spec(const std::string& project, const std::string* spec_text, const std::string& collection) {
  std::string text = spec_text ? *spec_text : "";
  if (text.empty()) {
    auto d = pg::spi_value(
        "SELECT coalesce((SELECT r.event_spec FROM pulse.collection_registry r WHERE r.project = $1 AND r.name = $2),"
        " p.event_spec) FROM pulse.projects p WHERE p.name = $1",
        {Arg::text(project), Arg::text(collection)});
    text = d ? *d : "pulse";
  }
  EventSpec spec;
  std::string why;
  if (!parse_event_spec(text, &spec, &why))
    throw Error(sqlstate::kInvalidParameter, "invalid event spec: " + why, "",
                "Use 'pulse', 'segment', 'posthog', or a JSON object of dotted paths such as "
                "'{\"time\": \"meta.ts\", \"user\": \"actor.id\", \"id\": \"meta.event_id\"}'.");
  return spec;
}

SpecStage::SpecStage(const std::string& project, const EventSpec& spec, const std::string& source)
    : project_(project), source_(source), spec_(spec) {}

SpecStage::~SpecStage() = default;

EventBatch& SpecStage::map(EventBatch& in, EventBatch* mapped) {
  if (spec_.kind == SpecKind::kPulse) return in;
  JsonDecodeOptions o;
  o.max_event_bytes = size_t(pulse_max_event_bytes);
  o.interrupt_check = pg::decode_interrupt_check;
  out_.clear_actions();
  mapper().map(spec_, in, o, mapped, &out_);
  return *mapped;
}

int64_t SpecStage::apply(const EventBatch& mapped, const std::string& fixed_collection) {
  if (spec_.kind == SpecKind::kPulse) return 0;
  SpecRejects rej;
  auto coll_of = [&](uint32_t k) {
    if (!fixed_collection.empty() || k >= mapped.events.size()) return fixed_collection;
    return std::string(mapped.events[k].collection);
  };
  auto event_at = [&](uint32_t k) { return k < mapped.events.size() ? &mapped.events[k] : nullptr; };
  for (auto& n : out_.notes)
    rej.add(coll_of(n.event), n.field, n.raw_value, n.field == "_time" ? "timestamp with time zone" : "text", n.reason,
            event_at(n.event));
  // the links of the chunk this backend does not know to be made (a stream repeats its links),
  // in one set-based call; if it fails, one by one (the failing one noted)
  std::vector<std::string> failures(out_.links.size());
  std::vector<size_t> todo;  // indexes of those links
  if (!out_.links.empty()) {
    const Oid mapping = mapping_of(project_);
    for (size_t k = 0; k < out_.links.size(); k++)
      if (!link_known(mapping, out_.links[k].id, out_.links[k].other, out_.links[k].identify)) todo.push_back(k);
  }
  bool bulk_done = false;
  if (!todo.empty()) {
    std::vector<std::string> ids, others, flags;
    for (size_t k : todo) {
      ids.push_back(out_.links[k].id);
      others.push_back(out_.links[k].other);
      flags.push_back(out_.links[k].identify ? "t" : "f");
    }
    try {
      std::vector<std::optional<std::string>> refused;
      pg::in_subtransaction([&] {
        refused = pg::spi_column(
            "SELECT unnest(pulse._person_link_many($1, $2, $3, $4::boolean[]))",
            {Arg::text(project_), Arg::text_array(ids), Arg::text_array(others), Arg::text_array(flags)});
      });
      for (auto& k : refused)
        if (k) failures[todo[size_t(std::stoul(*k)) - 1]] = "it belongs to another identified person";
      bulk_done = true;
    } catch (pg::PgError& e) {
      if (pg::is_abort_error(e.sqlerrcode())) throw;
    }
  }
  for (size_t k : todo) {
    if (bulk_done) break;
    const SpecLink& l = out_.links[k];
    pg::check_interrupts();
    std::optional<std::string> person;
    try {
      pg::in_subtransaction([&] {
        person = pg::spi_value("SELECT pulse._person_link($1, $2, $3, $4, false)",
                               {Arg::text(project_), Arg::text(l.id), Arg::text(l.other), Arg::boolean(l.identify)});
      });
      if (!person) failures[k] = "it belongs to another identified person";
    } catch (pg::PgError& e) {
      if (pg::is_abort_error(e.sqlerrcode())) throw;
      failures[k] = e.edata->message ? e.edata->message : "error";
    }
  }
  if (!todo.empty()) {
    const Oid mapping = mapping_of(project_);  // (the call may have created it)
    for (size_t k : todo)
      if (failures[k].empty()) note_link_made(mapping, out_.links[k].id, out_.links[k].other, out_.links[k].identify);
  }
  for (size_t k = 0; k < out_.links.size(); k++) {
    if (failures[k].empty()) continue;
    const SpecLink& l = out_.links[k];
    std::string v;
    append_json_string(&v, l.other);
    std::string why = "not linked to " + l.id.substr(0, 200) + ": " + failures[k];
    if (failures[k] == "it belongs to another identified person")
      why += " (pulse.identify with force => true merges them)";
    rej.add(coll_of(l.event), "_user", v, "text", why, event_at(l.event));
  }
  for (auto& [who, ops] : out_.people) {
    pg::check_interrupts();
    std::string failure;
    std::string json = ops.ops_json();
    try {
      pg::in_subtransaction([&] { (void)update_person(project_, who, json, source_); });
    } catch (pg::PgError& e) {
      if (pg::is_abort_error(e.sqlerrcode())) throw;
      failure = e.edata->message ? e.edata->message : "error";
    } catch (Error& e) {
      failure = e.what();
    }
    if (!failure.empty())
      rej.add(coll_of(ops.event), "_persons", json.substr(0, pg::kMaxMessageBytes), "",
              "person properties not updated: " + failure, event_at(ops.event));
  }
  rej.insert(project_, source_);
  out_.clear_actions();
  return int64_t(rej.coll.size());
}

}  // namespace pulse::ingest
