// JSON decoding with simdjson into EventBatch (see json_decode.h): payload splitting, envelopes,
// size limits, numbers a double cannot hold, field names interned per call.
#include "core/json_decode.h"

#include <charconv>
#include <cmath>
#include <vector>
#include <cstdio>
#include <cstring>
#include <simdjson.h>
#include <unordered_map>

#include "core/json_build.h"
#include "core/names.h"
#include "core/render.h"

namespace pulse {

namespace dom = simdjson::dom;

struct JsonDecoder::Impl {
  dom::parser parser;
  // raw field name -> (raw, normalised), both in the arena of the batch being decoded; cleared
  // at the start of every decode_payload call and when decode_event starts a batch (a later
  // batch may even reuse the same address). Events decoded one by one into one batch (Kafka's
  // messages) share the names, which batch building looks up by address.
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> names;
  const EventBatch* names_batch = nullptr;  // the batch `names` points into (decode_event)

  // One lookup per field: the interned raw name and its normalised form.
  const std::pair<std::string_view, std::string_view>& name_of(EventBatch* out, std::string_view raw) {
    auto it = names.find(raw);
    if (it != names.end()) return it->second;
    std::string_view r = out->arena.copy(raw);
    std::string_view n = out->arena.copy(normalize_field_name(raw));
    return names.emplace(r, std::make_pair(r, n)).first->second;
  }

  // Numbers that a double cannot hold (1e-400 parses as 0): simdjson's DOM keeps no number
  // text, so a decode call that met a double 0 looks for such literals in its text and, when
  // there is one, decodes again in precise mode, where the literals of the span being decoded
  // are matched to the numbers in document order.
  bool saw_zero_double = false;
  size_t elements = 0;                                      // decoded so far by this decoder (paces interrupt checks)
  const std::vector<std::string_view>* literals = nullptr;  // precise mode: the span's number literals
  size_t lit_pos = 0;

  Value scalar_value(EventBatch* out, dom::element el);
  uint32_t add_value(EventBatch* out, Event* ev, dom::element el);
  void decode_element(EventBatch* out, dom::element el, std::string_view raw, const JsonDecodeOptions& o);
  void decode_element_inner(EventBatch* out, dom::element el, std::string_view raw, const JsonDecodeOptions& o);
  void decode_text(EventBatch* out, const char* p, size_t len, const JsonDecodeOptions& o);
  // Copies text into out->source followed by the padding simdjson reads past the end.
  // A batch decoded into more than once keeps earlier sources alive: later ones go to the arena.
  static std::string_view take_source(EventBatch* out, std::string_view text) {
    if (!out->source.empty()) {
      std::string padded(text);
      padded.append(simdjson::SIMDJSON_PADDING, ' ');
      return out->arena.copy(padded).substr(0, text.size());
    }
    out->source.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    out->source.append(text);
    out->source.append(simdjson::SIMDJSON_PADDING, ' ');
    return std::string_view(out->source.data(), text.size());
  }
  size_t payload_bytes = 0;  // size of the payload being decoded
};

// Number literals of JSON text in document order (strings skipped): -?digits[.digits][e[+-]digits].
static void number_literals(std::string_view s, std::vector<std::string_view>* out) {
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    char c = s[i];
    if (c == '"') {
      for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\') i++;
      i++;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t j = i + 1;
      while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
                       ((s[j] == '+' || s[j] == '-') && (s[j - 1] == 'e' || s[j - 1] == 'E'))))
        j++;
      out->push_back(s.substr(i, j - i));
      i = j;
    } else {
      i++;
    }
  }
}

// True when a JSON number literal is not zero but reads as a double 0 (underflow).
static bool literal_underflows(std::string_view lit) {
  size_t e = lit.find_first_of("eE");
  std::string_view mantissa = lit.substr(0, e);
  if (mantissa.find_first_of("123456789") == std::string_view::npos) return false;
  double d = 0;
  auto r = std::from_chars(lit.data(), lit.data() + lit.size(), d);
  return r.ec == std::errc::result_out_of_range ? d == 0 || std::abs(d) < 1e-300 : d == 0;
}

// Numbers in a DOM subtree (the literals precise mode skips over for a nested value).
static size_t count_numbers(dom::element el) {
  switch (el.type()) {
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return 1;
    case dom::element_type::ARRAY: {
      size_t n = 0;
      dom::array a;
      if (el.get_array().get(a) != simdjson::SUCCESS) return 0;
      for (dom::element c : a) n += count_numbers(c);
      return n;
    }
    case dom::element_type::OBJECT: {
      size_t n = 0;
      dom::object o;
      if (el.get_object().get(o) != simdjson::SUCCESS) return 0;
      for (auto kv : o) n += count_numbers(kv.value);
      return n;
    }
    default:
      return 0;
  }
}

// True when some number literal of text underflows (only looked for once a double 0 was met).
static bool has_underflow(std::string_view text) {
  std::vector<std::string_view> lits;
  number_literals(text, &lits);
  for (auto l : lits)
    if (literal_underflows(l)) return true;
  return false;
}

// One JSON value as a Value; arrays and objects keep their minified text (an array's
// elements are added by add_value; a nested array is kept as JSON).
Value JsonDecoder::Impl::scalar_value(EventBatch* out, dom::element el) {
  Value v;
  if (literals) {
    dom::element_type t = el.type();
    if (t == dom::element_type::OBJECT || t == dom::element_type::ARRAY) {
      lit_pos += count_numbers(el);  // nested values keep simdjson's rendering
    } else if ((t == dom::element_type::DOUBLE || t == dom::element_type::INT64 || t == dom::element_type::UINT64) &&
               lit_pos < literals->size()) {
      std::string_view lit = (*literals)[lit_pos++];
      if (t == dom::element_type::DOUBLE && el.get_double().value_unsafe() == 0 && literal_underflows(lit)) {
        v.kind = Kind::kDouble;
        v.d = 0;
        v.underflow = true;
        v.text = out->arena.copy(lit);
        return v;
      }
    }
  }
  switch (el.type()) {
    case dom::element_type::NULL_VALUE:
      v.kind = Kind::kNull;
      break;
    case dom::element_type::BOOL:
      v.kind = Kind::kBool;
      v.b = bool(el.get_bool().value_unsafe());
      break;
    case dom::element_type::INT64:
      v.kind = Kind::kInt;
      v.i = el.get_int64().value_unsafe();
      v.d = double(v.i);
      break;
    case dom::element_type::UINT64:
      v.kind = Kind::kDouble;
      v.d = double(el.get_uint64().value_unsafe());
      break;
    case dom::element_type::DOUBLE:
      v.kind = Kind::kDouble;
      v.d = el.get_double().value_unsafe();
      if (v.d == 0) saw_zero_double = true;
      break;
    case dom::element_type::STRING:
      v.kind = Kind::kString;
      v.text = out->arena.copy(el.get_string().value_unsafe());
      break;
    case dom::element_type::OBJECT:
    case dom::element_type::ARRAY:
      v.kind = el.type() == dom::element_type::ARRAY ? Kind::kArray : Kind::kObject;
      v.text = out->arena.copy(simdjson::to_string(el));
      break;
  }
  return v;
}

// Converts one JSON value into ev->values; a top-level array's elements follow it
// contiguously (first_child, n_children), nested arrays inside it stay JSON (jsonb).
uint32_t JsonDecoder::Impl::add_value(EventBatch* out, Event* ev, dom::element el) {
  uint32_t idx = uint32_t(ev->values.size());
  dom::array arr;
  if (el.type() != dom::element_type::ARRAY || el.get_array().get(arr) != simdjson::SUCCESS) {
    ev->values.push_back(scalar_value(out, el));
    return idx;
  }
  // a top-level array: its text, then its elements (which consume the literals in precise mode)
  Value whole;
  whole.kind = Kind::kArray;
  whole.text = out->arena.copy(simdjson::to_string(el));
  ev->values.push_back(whole);
  uint32_t first = uint32_t(ev->values.size());
  for (dom::element c : arr) {
    Value child = scalar_value(out, c);
    if (child.kind == Kind::kArray) child.kind = Kind::kObject;
    ev->values.push_back(child);
  }
  ev->values[idx].first_child = first;
  ev->values[idx].n_children = uint32_t(ev->values.size() - first);
  return idx;
}

static std::string_view kNotObject = "event is not a JSON object";

// One element of a payload. In precise mode the element's literals are all accounted for,
// whichever way decoding it ends.
void JsonDecoder::Impl::decode_element(EventBatch* out, dom::element el, std::string_view raw,
                                       const JsonDecodeOptions& o) {
  if (o.interrupt_check && (++elements & 255) == 0) o.interrupt_check();
  size_t start = lit_pos;
  decode_element_inner(out, el, raw, o);
  if (literals) lit_pos = start + count_numbers(el);
}

// One element of a payload: a properties object, or an envelope around one.
void JsonDecoder::Impl::decode_element_inner(EventBatch* out, dom::element el, std::string_view raw,
                                             const JsonDecodeOptions& o) {
  out->events.emplace_back();
  Event& ev = out->events.back();
  ev.raw = raw;
  auto keep_raw = [&] {
    if (ev.raw.empty()) ev.raw = out->arena.copy(simdjson::to_string(el));
  };
  if (!ev.raw.empty() && ev.raw.size() > o.max_event_bytes) {
    ev.error = "event of " + std::to_string(ev.raw.size()) + " bytes exceeds pulse.max_event_bytes (" +
               std::to_string(o.max_event_bytes) + ")";
    return;
  }
  dom::object props;
  if (el.type() != dom::element_type::OBJECT) {
    keep_raw();
    ev.error = std::string(kNotObject);
    return;
  }
  bool envelope = o.envelope;
  if (!envelope && o.envelope_auto) {
    dom::object obj = el.get_object().value_unsafe();
    dom::element c, p;
    envelope = obj.size() == 2 && obj["collection"].get(c) == simdjson::SUCCESS &&
               c.type() == dom::element_type::STRING && obj["properties"].get(p) == simdjson::SUCCESS &&
               p.type() == dom::element_type::OBJECT;
  }
  if (!envelope && !o.default_collection.empty())
    ev.collection = out->arena.copy(normalize_collection_name(o.default_collection));
  if (envelope) {
    dom::object env = el.get_object().value_unsafe();
    dom::element coll, p;
    if (env["collection"].get(coll) != simdjson::SUCCESS || coll.type() != dom::element_type::STRING) {
      keep_raw();
      ev.error = "envelope has no \"collection\" string";
      return;
    }
    ev.collection = out->arena.copy(normalize_collection_name(coll.get_string().value_unsafe()));
    if (env["properties"].get(p) != simdjson::SUCCESS) {
      keep_raw();
      ev.error = "envelope has no \"properties\" object";
      return;
    }
    if (p.type() != dom::element_type::OBJECT) {
      keep_raw();
      ev.error = "envelope \"properties\" is not a JSON object";
      return;
    }
    props = p.get_object().value_unsafe();
    // raw for an envelope event is the properties object: the collection is kept apart
    ev.raw = std::string_view();
    el = p;
  } else {
    props = el.get_object().value_unsafe();
  }
  const size_t arena_before = out->arena.bytes();
  ev.fields.reserve(props.size() + o.spare_fields);
  ev.values.reserve(props.size() + 4 + o.spare_fields);
  for (auto kv : props) {
    Field f;
    const auto& nm = name_of(out, kv.key);
    f.raw_name = nm.first;
    f.name = nm.second;
    f.value = add_value(out, &ev, kv.value);
    ev.fields.push_back(f);
  }
  (void)arena_before;
  if (ev.raw.empty()) {
    // An array element carries no raw span: its size is that of its minified JSON, measured
    // whenever the whole payload is over the limit (otherwise no element can be).
    if (payload_bytes > o.max_event_bytes) {
      keep_raw();
      if (ev.raw.size() > o.max_event_bytes) {
        ev.fields.clear();
        ev.values.clear();
        ev.error = "event of " + std::to_string(ev.raw.size()) + " bytes exceeds pulse.max_event_bytes (" +
                   std::to_string(o.max_event_bytes) + ")";
      }
    }
  }
}

static std::string parse_error_text(simdjson::error_code e) {
  return std::string("invalid JSON: ") + simdjson::error_message(e);
}

// Parses one NDJSON line / single event lying in out->source (so followed by padding).
void JsonDecoder::Impl::decode_text(EventBatch* out, const char* p, size_t len, const JsonDecodeOptions& o) {
  if (o.interrupt_check && (++elements & 255) == 0) o.interrupt_check();
  std::string_view raw(p, len);
  if (len > o.max_event_bytes) {
    out->events.emplace_back();
    out->events.back().raw = raw;
    out->events.back().error = "event of " + std::to_string(len) + " bytes exceeds pulse.max_event_bytes (" +
                               std::to_string(o.max_event_bytes) + ")";
    return;
  }
  if (o.raw_only) {
    out->events.emplace_back();
    out->events.back().raw = raw;
    if (!o.default_collection.empty())
      out->events.back().collection = out->arena.copy(normalize_collection_name(o.default_collection));
    return;
  }
  dom::element el;
  auto err = parser.parse(p, len, false).get(el);
  if (err) {
    out->events.emplace_back();
    out->events.back().raw = raw;
    out->events.back().error = parse_error_text(err);
    return;
  }
  saw_zero_double = false;
  size_t before = out->events.size();
  decode_element(out, el, raw, o);
  if (!saw_zero_double || literals || !has_underflow(raw)) return;
  // a literal a double cannot hold: decode the event again, matching numbers to literals
  out->events.resize(before);
  std::vector<std::string_view> lits;
  number_literals(raw, &lits);
  literals = &lits;
  lit_pos = 0;
  decode_element(out, el, raw, o);
  literals = nullptr;
}

JsonDecoder::JsonDecoder() : impl_(new Impl) {}
JsonDecoder::~JsonDecoder() = default;

bool JsonDecoder::parses(std::string_view text) {
  simdjson::padded_string padded(text);
  dom::element doc;
  return impl_->parser.parse(padded).get(doc) == simdjson::SUCCESS;
}

void JsonDecoder::decode_payload(std::string_view payload, const JsonDecodeOptions& o, EventBatch* out) {
  impl_->names.clear();
  impl_->names_batch = nullptr;
  impl_->payload_bytes = payload.size();
  std::string_view buf = Impl::take_source(out, payload);
  const char* p = buf.data();
  const char* end = p + buf.size();
  const char* q = p;
  while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
  if (q < end && *q == '[') {
    dom::element doc;
    auto err = impl_->parser.parse(p, buf.size(), false).get(doc);
    if (err) {
      out->events.emplace_back();
      out->events.back().raw = buf;
      out->events.back().error = parse_error_text(err) + " (the whole payload is kept)";
      return;
    }
    // A single huge array: elements are decoded one by one.
    JsonDecodeOptions eo = o;
    dom::array arr;
    if (doc.get_array().get(arr) != simdjson::SUCCESS) return;
    impl_->saw_zero_double = false;
    size_t before = out->events.size();
    for (dom::element el : arr) impl_->decode_element(out, el, std::string_view(), eo);
    if (!impl_->saw_zero_double || !has_underflow(buf)) return;
    out->events.resize(before);
    std::vector<std::string_view> lits;
    number_literals(buf, &lits);
    impl_->literals = &lits;
    impl_->lit_pos = 0;
    for (dom::element el : arr) impl_->decode_element(out, el, std::string_view(), eo);
    impl_->literals = nullptr;
    return;
  }
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', size_t(end - p)));
    const char* line_end = nl ? nl : end;
    const char* s = p;
    const char* e = line_end;
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\r')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
    if (e > s) impl_->decode_text(out, s, size_t(e - s), o);
    p = nl ? nl + 1 : end;
  }
}

void JsonDecoder::decode_event(std::string_view text, const JsonDecodeOptions& o, EventBatch* out) {
  if (out != impl_->names_batch || out->events.empty()) {
    impl_->names.clear();
    impl_->names_batch = out;
  }
  impl_->payload_bytes = text.size();
  std::string_view buf = Impl::take_source(out, text);
  impl_->decode_text(out, buf.data(), buf.size(), o);
}

void JsonEventBuilder::start(EventBatch* out) {
  out_ = out;
  decoder_->impl_->names.clear();
  decoder_->impl_->names_batch = nullptr;
}

size_t JsonEventBuilder::begin(std::string_view collection, std::string_view source) {
  out_->events.emplace_back();
  Event& ev = out_->events.back();
  ev.collection = out_->arena.copy(normalize_collection_name(collection));
  ev.source = source;
  size_bound_ = 28 + 6 * collection.size() + 2;  // {"collection":...,"properties":{}}
  return out_->events.size() - 1;
}

void JsonEventBuilder::add_field(std::string_view raw_name, uint32_t value) {
  Event& ev = out_->events.back();
  const auto& nm = decoder_->impl_->name_of(out_, raw_name);
  Field f;
  f.raw_name = nm.first;
  f.name = nm.second;
  f.value = value;
  ev.fields.push_back(f);
  // "name":value, at most: every byte escaped as \u00XX, numbers 24 bytes (a double's longest)
  const Value& v = ev.values[value];
  size_bound_ += 6 * raw_name.size() + 4 +
                 (v.kind == Kind::kString                             ? 6 * v.text.size() + 2
                  : v.kind == Kind::kArray || v.kind == Kind::kObject ? v.text.size()
                  : v.underflow                                       ? v.text.size()
                                                                      : 24);
}

// The event as the envelope pg_pulse's own writer makes of it ({"collection":...,"properties":
// <the event's JSON>}): only called when size_bound() passes the limit.
size_t JsonEventBuilder::json_size() {
  const Event& ev = out_->events.back();
  std::string collection;
  append_json_string(&collection, ev.collection);
  return 28 + collection.size() + event_to_json(ev).size();
}

void JsonEventBuilder::field(std::string_view raw_name, simdjson::dom::element value) {
  Event& ev = out_->events.back();
  add_field(raw_name, decoder_->impl_->add_value(out_, &ev, value));
}

void JsonEventBuilder::field_string(std::string_view raw_name, std::string_view text) {
  Event& ev = out_->events.back();
  Value v;
  v.kind = Kind::kString;
  v.text = out_->arena.copy(text);
  ev.values.push_back(v);
  add_field(raw_name, uint32_t(ev.values.size() - 1));
}

void JsonEventBuilder::field_millis(std::string_view raw_name, int64_t us) {
  Event& ev = out_->events.back();
  Value v;
  if (us % 1000 == 0) {
    v.kind = Kind::kInt;
    v.i = us / 1000;
    v.d = double(v.i);
  } else {
    v.kind = Kind::kDouble;
    v.d = double(us) / 1000.0;
  }
  ev.values.push_back(v);
  add_field(raw_name, uint32_t(ev.values.size() - 1));
}

}  // namespace pulse
