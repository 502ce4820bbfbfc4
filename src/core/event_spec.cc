// Event specs (see event_spec.h): each input event is read with simdjson and its mapped events
// are built from the parsed values by JsonEventBuilder (core/json_build.h), so names, types,
// limits and rejected fields are exactly those of pg_pulse's own dialect.
#include "core/event_spec.h"

#include <simdjson.h>

#include "core/json_build.h"
#include "core/names.h"
#include "core/render.h"
#include "core/time_parse.h"

namespace pulse {

namespace dom = simdjson::dom;

namespace {

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  for (size_t a = 0, b; a <= p.size(); a = b + 1) {
    b = p.find('.', a);
    if (b == std::string_view::npos) b = p.size();
    out.emplace_back(p.substr(a, b - a));
  }
  return out;
}

}  // namespace

bool parse_event_spec(std::string_view text, EventSpec* out, std::string* why) {
  *out = EventSpec();
  out->text = std::string(text.substr(0, 200));
  std::string t = ascii_lower(text);
  if (t == "pulse") return true;
  if (t == "segment") {
    out->kind = SpecKind::kSegment;
    return true;
  }
  if (t == "posthog") {
    out->kind = SpecKind::kPosthog;
    return true;
  }
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || text[first] != '{') {
    *why = "unknown event spec \"" + std::string(text.substr(0, 100)) + "\"";
    return false;
  }
  dom::parser parser;
  dom::element doc;
  dom::object obj;
  if (parser.parse(std::string(text)).get(doc) != simdjson::SUCCESS || doc.get_object().get(obj) != simdjson::SUCCESS) {
    *why = "an event spec given as JSON must be an object of field paths";
    return false;
  }
  out->kind = SpecKind::kPaths;
  for (auto kv : obj) {
    std::string_view path;
    if (kv.value.get_string().get(path) != simdjson::SUCCESS || path.empty() || path.size() > 1000) {
      *why = "the path of \"" + std::string(kv.key.substr(0, 100)) + "\" must be a non-empty string of dotted names";
      return false;
    }
    std::vector<std::string> parts = split_path(path);
    for (auto& p : parts)
      if (p.empty()) {
        *why = "empty name in path \"" + std::string(path.substr(0, 100)) + "\"";
        return false;
      }
    if (kv.key == "time")
      out->time_path = parts;
    else if (kv.key == "user")
      out->user_path = parts;
    else if (kv.key == "id")
      out->id_path = parts;
    else {
      *why = "unknown key \"" + std::string(kv.key.substr(0, 100)) + "\" in event spec";
      return false;
    }
  }
  if (out->time_path.empty() && out->user_path.empty() && out->id_path.empty()) {
    *why = "an event spec given as JSON names at least one of \"time\", \"user\", \"id\"";
    return false;
  }
  return true;
}

std::string SpecPersonOps::ops_json() const {
  std::string out = "{";
  const std::pair<const char*, const std::map<std::string, std::string>*> parts[] = {{"$set", &set},
                                                                                     {"$set_once", &set_once}};
  bool first_op = true;
  for (auto& [key, m] : parts) {
    if (m->empty()) continue;
    if (!first_op) out += ',';
    first_op = false;
    append_json_string(&out, key);
    out += ":{";
    bool first = true;
    for (auto& [k, v] : *m) {
      if (!first) out += ',';
      first = false;
      append_json_string(&out, k);
      out += ':';
      out += v;
    }
    out += '}';
  }
  out += '}';
  return out;
}

struct SpecMapper::Impl {
  dom::parser parser;
  JsonDecoder decoder;
  JsonEventBuilder builder{&decoder};
  size_t max_event_bytes = 0;
  std::vector<const Event*> passed;  // undecodable input events, passed on as they are
  SpecOutput* actions = nullptr;
  uint32_t line = 0;  // index in the mapped events of the event being built

  // The event being built.
  dom::element item;          // the input element it comes from
  std::string_view item_raw;  // its text as sent, when it is a whole input event
  void begin(std::string_view collection, std::string_view source, dom::element el) {
    builder.begin(collection, source);
    item = el;
  }
  void field(std::string_view name, dom::element v) { builder.field(name, v); }
  void field_string(std::string_view name, std::string_view s) { builder.field_string(name, s); }
  // An event larger than pulse.max_event_bytes as pg_pulse's JSON is a dead letter (the call as
  // sent kept; a call of a batch envelope minified), as the same event sent in pg_pulse's
  // dialect would be.
  void end() {
    size_t size = 0;
    if (builder.size_bound() > max_event_bytes && (size = builder.json_size()) > max_event_bytes) {
      Event& ev = builder.event();
      ev.fields.clear();
      ev.values.clear();
      ev.raw = !item_raw.empty() ? item_raw : out->arena.copy(simdjson::minify(item));
      ev.error = "event of about " + std::to_string(size) +
                 " bytes (mapped to pg_pulse's dialect) exceeds pulse.max_event_bytes (" +
                 std::to_string(max_event_bytes) + ")";
    }
    line++;
  }
  // An element that cannot be mapped: kept whole (a dead letter) with the reason.
  std::vector<Event> failed;
  EventBatch* out = nullptr;
  void fail(std::string_view collection, dom::element el, std::string_view source, std::string why) {
    Event ev;
    ev.collection = collection;
    ev.source = source;
    ev.raw = out->arena.copy(simdjson::minify(el));
    ev.error = std::move(why);
    failed.push_back(std::move(ev));
  }

  void note(const char* field, std::string raw, std::string reason) {
    actions->notes.push_back(SpecNote{line, field, std::move(raw), std::move(reason)});
  }
  void link(std::string id, std::string other, bool identify) {
    if (id.empty() || other.empty() || id == other) return;
    if (!actions->seen_links.insert({id, other}).second) return;
    actions->links.push_back(SpecLink{std::move(id), std::move(other), identify, line});
  }
  // Property operations of an object (traits, $set, $set_once) for distinct id `who`.
  void person_ops(const std::string& who, dom::element obj, bool once) {
    dom::object o;
    if (who.empty() || obj.get_object().get(o) != simdjson::SUCCESS) return;
    auto it = actions->people.find(who);
    if (it == actions->people.end()) {
      it = actions->people.emplace(who, SpecPersonOps()).first;
      it->second.event = line;
    }
    for (auto kv : o) {
      std::string k(kv.key);
      if (once)
        it->second.set_once.emplace(k, simdjson::minify(kv.value));  // the first value stays
      else
        it->second.set[k] = simdjson::minify(kv.value);  // the last value wins
    }
  }

  void map_segment(dom::element el, std::string_view coll, std::string_view source);
  void map_posthog(dom::element el, std::string_view coll, std::string_view source);
  void map_paths(const EventSpec& spec, dom::element el, std::string_view coll, std::string_view source);
};

namespace {

bool member(dom::element obj, std::string_view key, dom::element* out) {
  dom::object o;
  if (obj.get_object().get(o) != simdjson::SUCCESS) return false;
  if (o[key].get(*out) != simdjson::SUCCESS) return false;
  return !out->is_null();
}

// The text of an id (a string, or a number written as JSON writes it).
bool id_text(dom::element v, std::string* out) {
  switch (v.type()) {
    case dom::element_type::STRING:
      out->assign(v.get_string().value_unsafe());
      return !out->empty();
    case dom::element_type::INT64:
      *out = std::to_string(v.get_int64().value_unsafe());
      return true;
    case dom::element_type::UINT64:
      *out = std::to_string(v.get_uint64().value_unsafe());
      return true;
    case dom::element_type::DOUBLE:
      out->clear();
      append_double(out, v.get_double().value_unsafe());
      return true;
    default:
      return false;
  }
}

// A time: an ISO-8601 string or epoch milliseconds.
bool time_of(dom::element v, int64_t* us) {
  if (v.is_string()) return parse_iso_datetime(v.get_string().value_unsafe(), us);
  if (v.is_number()) {
    double ms = 0;
    if (v.get_double().get(ms) != simdjson::SUCCESS) return false;
    return epoch_millis_to_micros(ms, us);
  }
  return false;
}

std::string strip_dollars(std::string_view name) {
  size_t k = name.find_first_not_of('$');
  return std::string(k == std::string_view::npos ? name : name.substr(k));
}

bool at_path(dom::element el, const std::vector<std::string>& path, dom::element* out) {
  dom::element cur = el;
  for (auto& p : path)
    if (!member(cur, p, &cur)) return false;
  *out = cur;
  return true;
}

}  // namespace

// Segment: https://segment.com/docs/connections/spec/common/ and the call pages.
void SpecMapper::Impl::map_segment(dom::element el, std::string_view coll, std::string_view source) {
  dom::element v;
  std::string type;
  if (member(el, "type", &v) && v.is_string()) type = ascii_lower(v.get_string().value_unsafe());
  if (type.empty() && member(el, "event", &v)) type = "track";
  std::string collection;
  if (type == "track") {
    if (!member(el, "event", &v) || !v.is_string())
      return fail(coll, el, source, "segment: a track call without an \"event\" name");
    collection = std::string(v.get_string().value_unsafe());
  } else if (type == "page" || type == "screen") {
    collection = type + "s";
  } else if (type == "identify") {
    collection = "identifies";
  } else if (type == "group") {
    collection = "groups";
  } else if (type == "alias") {
    collection = "aliases";
  } else {
    return fail(coll, el, source, "segment: unknown call type \"" + type.substr(0, 100) + "\"");
  }
  begin(collection, source, el);
  // _time: timestamp; else receivedAt - (sentAt - originalTimestamp) (clock-skew correction);
  // else originalTimestamp, receivedAt, sentAt
  int64_t t = 0, sent = 0, recv = 0, orig = 0;
  bool has_t = member(el, "timestamp", &v) && time_of(v, &t);
  bool has_sent = member(el, "sentAt", &v) && time_of(v, &sent);
  bool has_recv = member(el, "receivedAt", &v) && time_of(v, &recv);
  bool has_orig = member(el, "originalTimestamp", &v) && time_of(v, &orig);
  if (!has_t && has_orig && has_sent && has_recv) {
    t = recv - (sent - orig);
    has_t = true;
  } else if (!has_t && (has_orig || has_recv || has_sent)) {
    t = has_orig ? orig : has_recv ? recv : sent;
    has_t = true;
  }
  if (has_t) {
    builder.field_millis("_time", t);
  } else {
    std::string raw = member(el, "timestamp", &v) ? simdjson::minify(v) : "null";
    note("_time", raw,
         "segment: no usable timestamp, originalTimestamp, receivedAt or sentAt: the arrival time is used");
  }
  std::string user, anon, tmp;
  if (member(el, "userId", &v) && id_text(v, &tmp)) user = tmp;
  if (member(el, "anonymousId", &v) && id_text(v, &tmp)) anon = tmp;
  std::string who = user.empty() ? anon : user;
  if (!who.empty())
    field_string("_user", who);
  else
    note("_user", "null", "segment: no usable userId or anonymousId: the event has no user");
  if (member(el, "messageId", &v) && id_text(v, &tmp)) field_string("_id", tmp);
  if (!anon.empty()) field_string("anonymous_id", anon);
  // what the call carries
  dom::object o;
  if (type == "identify" || type == "group") {
    if (member(el, "traits", &v) && v.get_object().get(o) == simdjson::SUCCESS)
      for (auto kv : o) field(kv.key, kv.value);
    if (type == "group" && member(el, "groupId", &v)) field("group_id", v);
  } else if (type == "alias") {
    if (member(el, "previousId", &v)) field("previous_id", v);
  } else {
    if ((type == "page" || type == "screen")) {
      if (member(el, "name", &v)) field("name", v);
      if (member(el, "category", &v)) field("category", v);
    }
    if (member(el, "properties", &v) && v.get_object().get(o) == simdjson::SUCCESS)
      for (auto kv : o) field(kv.key, kv.value);
  }
  dom::element ctx, c;
  if (member(el, "context", &ctx) && ctx.is_object()) {
    field("context", ctx);
    if (member(ctx, "ip", &c)) field("context_ip", c);
    if (member(ctx, "userAgent", &c)) field("context_user_agent", c);
    if (member(ctx, "locale", &c)) field("context_locale", c);
    dom::element page;
    if (member(ctx, "page", &page) && member(page, "url", &c)) field("context_page_url", c);
    dom::element camp;
    if (member(ctx, "campaign", &camp))
      for (const char* k : {"name", "source", "medium", "term", "content"})
        if (member(camp, k, &c)) field(std::string("context_campaign_") + k, c);
  }
  // identity: a userId with an anonymousId links them; alias links previousId; traits
  if (!user.empty() && !anon.empty()) link(user, anon, true);
  if (type == "alias" && !user.empty() && member(el, "previousId", &v) && id_text(v, &tmp)) link(user, tmp, false);
  if (type == "identify" && member(el, "traits", &v)) person_ops(who, v, false);
  end();
}

// PostHog: https://posthog.com/docs/api/capture
void SpecMapper::Impl::map_posthog(dom::element el, std::string_view coll, std::string_view source) {
  dom::element v, props;
  if (!member(el, "event", &v) || !v.is_string())
    return fail(coll, el, source, "posthog: an event without an \"event\" name");
  std::string name(v.get_string().value_unsafe());
  bool has_props = member(el, "properties", &props) && props.is_object();
  begin(strip_dollars(name), source, el);
  int64_t t = 0;
  if (member(el, "timestamp", &v) && time_of(v, &t)) {
    builder.field_millis("_time", t);
  } else {
    std::string raw = member(el, "timestamp", &v) ? simdjson::minify(v) : "null";
    note("_time", raw, "posthog: no usable timestamp: the arrival time is used");
  }
  std::string who, tmp;
  if ((member(el, "distinct_id", &v) ||
       (has_props && (member(props, "distinct_id", &v) || member(props, "$distinct_id", &v)))) &&
      id_text(v, &tmp))
    who = tmp;
  if (!who.empty())
    field_string("_user", who);
  else
    note("_user", "null", "posthog: no usable distinct_id: the event has no user");
  if (member(el, "uuid", &v) && id_text(v, &tmp)) field_string("_id", tmp);
  dom::object o;
  if (has_props && props.get_object().get(o) == simdjson::SUCCESS)
    for (auto kv : o) {
      if (kv.key == "$set" || kv.key == "$set_once" || kv.key == "distinct_id" || kv.key == "$distinct_id") continue;
      field(strip_dollars(kv.key), kv.value);
    }
  // identity and person properties
  if (name == "$identify" && has_props && member(props, "$anon_distinct_id", &v) && id_text(v, &tmp))
    link(who, tmp, true);
  if (name == "$create_alias" && has_props && member(props, "alias", &v) && id_text(v, &tmp)) link(who, tmp, false);
  if (member(el, "$set", &v)) person_ops(who, v, false);
  if (member(el, "$set_once", &v)) person_ops(who, v, true);
  if (has_props && member(props, "$set", &v)) person_ops(who, v, false);
  if (has_props && member(props, "$set_once", &v)) person_ops(who, v, true);
  end();
}

// Any other dialect: the fields as they are, plus _time / _user / _id from the spec's paths.
void SpecMapper::Impl::map_paths(const EventSpec& spec, dom::element el, std::string_view coll,
                                 std::string_view source) {
  begin(coll, source, el);
  dom::element v;
  std::string tmp;
  auto path_text = [](const std::vector<std::string>& p) {
    std::string s;
    for (auto& x : p) s += (s.empty() ? "" : ".") + x;
    return s.substr(0, 200);
  };
  if (!spec.time_path.empty()) {
    int64_t t = 0;
    bool found = at_path(el, spec.time_path, &v);
    if (found && time_of(v, &t))
      builder.field_millis("_time", t);
    else
      note("_time", found ? simdjson::minify(v) : "null",
           "no usable time at \"" + path_text(spec.time_path) + "\": the arrival time is used");
  }
  if (!spec.user_path.empty()) {
    bool found = at_path(el, spec.user_path, &v);
    if (found && id_text(v, &tmp))
      field_string("_user", tmp);
    else
      note("_user", found ? simdjson::minify(v) : "null",
           "no usable user at \"" + path_text(spec.user_path) + "\": the event has no user");
  }
  if (!spec.id_path.empty() && at_path(el, spec.id_path, &v) && id_text(v, &tmp)) field_string("_id", tmp);
  dom::object o;
  if (el.get_object().get(o) == simdjson::SUCCESS)
    for (auto kv : o) field(kv.key, kv.value);
  end();
}

SpecMapper::SpecMapper() : impl_(new Impl()) {}
SpecMapper::~SpecMapper() = default;

void SpecMapper::map(const EventSpec& spec, const EventBatch& in, const JsonDecodeOptions& opts, EventBatch* out,
                     SpecOutput* actions) {
  Impl& m = *impl_;
  m.passed.clear();
  m.failed.clear();
  m.out = out;
  m.actions = actions;
  m.max_event_bytes = opts.max_event_bytes;
  m.line = uint32_t(out->events.size());
  m.builder.start(out);
  std::string text;
  std::vector<dom::element> items;
  // an event lying in the input's source is followed by the padding simdjson reads past its end
  const char* src_begin = in.source.data();
  const char* src_end = src_begin + in.source.size();
  for (const Event& ev : in.events) {
    if (!ev.error.empty()) {
      m.passed.push_back(&ev);
      continue;
    }
    dom::element doc;
    simdjson::error_code err;
    if (!ev.raw.empty() && ev.raw.data() >= src_begin &&
        ev.raw.data() + ev.raw.size() + simdjson::SIMDJSON_PADDING <= src_end) {
      err = m.parser.parse(ev.raw.data(), ev.raw.size(), false).get(doc);
    } else {
      text = ev.raw.empty() ? event_to_json(ev) : std::string(ev.raw);
      err = m.parser.parse(text).get(doc);
    }
    if (err || !doc.is_object()) {  // an event split but not parsed (JsonDecodeOptions::raw_only)
      Event bad = ev;
      bad.error = err ? std::string("invalid JSON: ") + simdjson::error_message(err) : "event is not a JSON object";
      m.failed.push_back(std::move(bad));
      continue;
    }
    dom::element batch;
    bool enveloped = spec.kind != SpecKind::kPaths && member(doc, "batch", &batch) && batch.is_array();
    items.clear();
    m.item_raw = enveloped ? std::string_view() : ev.raw;
    if (enveloped) {
      dom::array arr = batch.get_array().value_unsafe();
      for (dom::element e : arr) items.push_back(e);
    } else
      items.push_back(doc);
    for (dom::element e : items) {
      if (opts.interrupt_check && (m.line & 255) == 0) opts.interrupt_check();
      if (!e.is_object()) {
        m.fail(ev.collection, e, ev.source, "not a JSON object");
        continue;
      }
      switch (spec.kind) {
        case SpecKind::kSegment:
          m.map_segment(e, ev.collection, ev.source);
          break;
        case SpecKind::kPosthog:
          m.map_posthog(e, ev.collection, ev.source);
          break;
        default:
          m.map_paths(spec, e, ev.collection, ev.source);
          break;
      }
    }
  }
  for (const Event* ev : m.passed) out->events.push_back(*ev);
  for (Event& ev : m.failed) out->events.push_back(std::move(ev));
}

}  // namespace pulse
