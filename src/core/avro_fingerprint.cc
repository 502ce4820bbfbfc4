// The Parsing Canonical Form of Avro schemas and its 64-bit Rabin fingerprint (Avro
// specification 1.11, "Parsing Canonical Form for Schemas" and "Schema Fingerprints"), plus the
// logical type attributes pg_pulse decodes by (see avro_decode.h).
#include <simdjson.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "core/avro_decode.h"
#include "core/avro_interrupt.h"
#include "core/render.h"

namespace pulse {

namespace {

namespace dom = simdjson::dom;

bool is_primitive(std::string_view t) {
  return t == "null" || t == "boolean" || t == "int" || t == "long" || t == "float" || t == "double" || t == "bytes" ||
         t == "string";
}

// Member `key` of object e as a string, or false.
bool string_at(const dom::element& e, const char* key, std::string_view* out) {
  return e[key].get_string().get(*out) == simdjson::SUCCESS;
}

// Writes one schema in canonical form. Names are resolved as the specification says: a name with
// a dot is a full name, any other is qualified by the namespace of the most tightly enclosing
// named type; a reference that is not defined (earlier in the text) in that namespace names a
// type of the null namespace.
class Canonicalizer {
 public:
  std::string out;
  std::string error;

  bool schema(const dom::element& e, const std::string& ns, int depth) {
    ticker_.tick();
    if (depth > kAvroMaxSchemaDepth)
      return fail("Avro schema nested deeper than " + std::to_string(kAvroMaxSchemaDepth) + " levels");
    switch (e.type()) {
      case dom::element_type::STRING: {
        std::string_view s;
        if (e.get_string().get(s) != simdjson::SUCCESS) return fail("not an Avro schema");
        if (is_primitive(s)) {
          append_json_string(&out, s);
        } else {
          reference(s, ns);
        }
        return true;
      }
      case dom::element_type::ARRAY: {
        out.push_back('[');
        bool first = true;
        for (dom::element b : dom::array(e)) {
          if (!first) out.push_back(',');
          first = false;
          if (!schema(b, ns, depth + 1)) return false;
        }
        out.push_back(']');
        return true;
      }
      case dom::element_type::OBJECT:
        return object(e, ns, depth);
      default:
        return fail("not an Avro schema: a JSON " + std::string(kind_name(e)) + " where a schema is expected");
    }
  }

 private:
  bool fail(std::string why) {
    if (error.empty()) error = std::move(why);
    return false;
  }

  static const char* kind_name(const dom::element& e) {
    switch (e.type()) {
      case dom::element_type::BOOL:
        return "boolean";
      case dom::element_type::NULL_VALUE:
        return "null";
      default:
        return "number";
    }
  }

  void reference(std::string_view name, const std::string& ns) {
    if (name.find('.') != std::string_view::npos || ns.empty()) {
      append_json_string(&out, name);
      return;
    }
    std::string full = ns + "." + std::string(name);
    if (defined_.count(full) || !defined_.count(std::string(name)))
      append_json_string(&out, full);
    else
      append_json_string(&out, name);
  }

  bool object(const dom::element& e, const std::string& ns, int depth) {
    dom::element type;
    if (e["type"].get(type) != simdjson::SUCCESS) return fail("not an Avro schema: an object without \"type\"");
    if (type.is_object() || type.is_array()) return schema(type, ns, depth + 1);  // {"type": {...}}
    std::string_view t;
    if (type.get_string().get(t) != simdjson::SUCCESS) return fail("not an Avro schema: \"type\" is not a string");
    std::string_view logical;
    bool has_logical = string_at(e, "logicalType", &logical);
    if (is_primitive(t)) {
      if (!has_logical) {
        append_json_string(&out, t);
        return true;
      }
      out.append("{\"type\":");
      append_json_string(&out, t);
      logical_attributes(e, logical);
      out.push_back('}');
      return true;
    }
    bool named = t == "record" || t == "error" || t == "enum" || t == "fixed";
    if (!named && t != "array" && t != "map") {  // {"type": "SomeNamedType"}
      reference(t, ns);
      return true;
    }
    out.push_back('{');
    std::string inner_ns = ns;
    if (named) {
      std::string_view name;
      if (!string_at(e, "name", &name)) return fail("not an Avro schema: a " + std::string(t) + " without a name");
      std::string full;
      size_t dot = name.rfind('.');
      if (dot != std::string_view::npos) {
        full = std::string(name);
        inner_ns = std::string(name.substr(0, dot));
      } else {
        std::string_view space;
        if (string_at(e, "namespace", &space)) inner_ns = std::string(space);
        full = inner_ns.empty() ? std::string(name) : inner_ns + "." + std::string(name);
      }
      defined_.insert(full);
      out.append("\"name\":");
      append_json_string(&out, full);
      out.push_back(',');
    }
    out.append("\"type\":");
    append_json_string(&out, t);
    if (t == "record" || t == "error") {
      dom::array fields;
      if (e["fields"].get_array().get(fields) != simdjson::SUCCESS)
        return fail("not an Avro schema: a record without a \"fields\" array");
      out.append(",\"fields\":[");
      bool first = true;
      for (dom::element f : fields) {
        ticker_.tick();
        std::string_view fname;
        dom::element ftype;
        if (!f.is_object() || !string_at(f, "name", &fname) || f["type"].get(ftype) != simdjson::SUCCESS)
          return fail("not an Avro schema: a record field without a name or a type");
        if (!first) out.push_back(',');
        first = false;
        out.append("{\"name\":");
        append_json_string(&out, fname);
        out.append(",\"type\":");
        if (!schema(ftype, inner_ns, depth + 1)) return false;
        out.push_back('}');
      }
      out.push_back(']');
    } else if (t == "enum") {
      dom::array symbols;
      if (e["symbols"].get_array().get(symbols) != simdjson::SUCCESS)
        return fail("not an Avro schema: an enum without a \"symbols\" array");
      out.append(",\"symbols\":[");
      bool first = true;
      for (dom::element s : symbols) {
        ticker_.tick();
        std::string_view sym;
        if (s.get_string().get(sym) != simdjson::SUCCESS)
          return fail("not an Avro schema: an enum symbol is not a string");
        if (!first) out.push_back(',');
        first = false;
        append_json_string(&out, sym);
      }
      out.push_back(']');
    } else if (t == "array" || t == "map") {
      const char* key = t == "array" ? "items" : "values";
      dom::element kid;
      if (e[key].get(kid) != simdjson::SUCCESS)
        return fail("not an Avro schema: an " + std::string(t) + " without \"" + key + "\"");
      out.append(",\"").append(key).append("\":");
      if (!schema(kid, inner_ns, depth + 1)) return false;
    } else {  // fixed
      dom::element size;
      if (e["size"].get(size) != simdjson::SUCCESS) return fail("not an Avro schema: a fixed without a size");
      out.append(",\"size\":");
      integer(size);
    }
    if (has_logical) logical_attributes(e, logical);
    out.push_back('}');
    return true;
  }

  // ,"logicalType":...,"precision":...,"scale":... (the last two when present)
  void logical_attributes(const dom::element& e, std::string_view logical) {
    out.append(",\"logicalType\":");
    append_json_string(&out, logical);
    for (const char* key : {"precision", "scale"}) {
      dom::element v;
      if (e[key].get(v) != simdjson::SUCCESS) continue;
      out.append(",\"").append(key).append("\":");
      if (v.is_number())
        integer(v);
      else
        out.append(simdjson::minify(v));  // kept as written: it does not make a valid decimal
    }
  }

  // [INTEGERS]: an integer without quotes or leading zeros; any other value as minified JSON.
  void integer(const dom::element& v) {
    int64_t i;
    uint64_t u;
    std::string_view s;
    if (v.get_int64().get(i) == simdjson::SUCCESS) {
      out.append(std::to_string(i));
    } else if (v.get_uint64().get(u) == simdjson::SUCCESS) {
      out.append(std::to_string(u));
    } else if (v.get_string().get(s) == simdjson::SUCCESS && !s.empty() &&
               s.find_first_not_of("0123456789") == std::string_view::npos) {
      size_t nz = s.find_first_not_of('0');
      out.append(nz == std::string_view::npos ? std::string_view("0") : s.substr(nz));
    } else {
      out.append(simdjson::minify(v));
    }
  }

  avro_internal::Ticker ticker_;
  std::unordered_set<std::string> defined_;  // full names of the named types seen so far
};

// CRC-64-AVRO lookup table, from the specification's algorithm.
constexpr uint64_t kRabinEmpty = 0xc15d213aa4d7a795ULL;

const std::array<uint64_t, 256>& rabin_table() {
  static const std::array<uint64_t, 256> table = [] {
    std::array<uint64_t, 256> t{};
    for (uint64_t i = 0; i < 256; i++) {
      uint64_t fp = i;
      for (int j = 0; j < 8; j++) fp = (fp >> 1) ^ (kRabinEmpty & (0 - (fp & 1)));
      t[i] = fp;
    }
    return t;
  }();
  return table;
}

uint64_t rabin_fingerprint(std::string_view bytes) {
  const std::array<uint64_t, 256>& table = rabin_table();
  uint64_t fp = kRabinEmpty;
  for (unsigned char b : bytes) fp = (fp >> 8) ^ table[(fp ^ b) & 0xff];
  return fp;
}

}  // namespace

std::string avro_schema_canonical_form(std::string_view schema_json, std::string* error) {
  try {
    dom::parser parser;
    dom::element doc;
    if (auto rc = parser.parse(schema_json.data(), schema_json.size(), true).get(doc); rc != simdjson::SUCCESS) {
      *error = std::string("invalid Avro schema: the JSON text does not parse (") + simdjson::error_message(rc) + ")";
      return {};
    }
    Canonicalizer c;
    if (!c.schema(doc, std::string(), 1)) {
      *error = c.error;
      return {};
    }
    error->clear();
    return std::move(c.out);
  } catch (const avro_internal::Interrupted& i) {
    std::rethrow_exception(i.original);
  }
}

std::string avro_schema_fingerprint(std::string_view schema_json, std::string* error) {
  std::string form = avro_schema_canonical_form(schema_json, error);
  if (form.empty()) return {};
  uint64_t fp = rabin_fingerprint(form);
  static const char* hex = "0123456789abcdef";
  std::string out(16, '0');
  for (int k = 15; k >= 0; k--, fp >>= 4) out[size_t(k)] = hex[fp & 15];
  return out;
}

}  // namespace pulse
