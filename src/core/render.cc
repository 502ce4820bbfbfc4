// Rendering of decoded values as JSON text and COPY text (see render.h).
#include "core/render.h"

#include <charconv>

namespace pulse {

void append_json_string(std::string* out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(hex[c >> 4]);
          out->push_back(hex[c & 15]);
        } else {
          out->push_back(char(c));
        }
    }
  }
  out->push_back('"');
}

void append_double(std::string* out, double d) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  out->append(buf, size_t(r.ptr - buf));
}

void append_hex(std::string* out, std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  for (unsigned char c : bytes) {
    out->push_back(hex[c >> 4]);
    out->push_back(hex[c & 15]);
  }
}

// The JSON text of one value: arrays and objects are already kept as minified JSON.
static void append_value_json(std::string* out, const Value& v) {
  switch (v.kind) {
    case Kind::kNull:
      out->append("null");
      break;
    case Kind::kBool:
      out->append(v.b ? "true" : "false");
      break;
    case Kind::kInt:
      out->append(std::to_string(v.i));
      break;
    case Kind::kDouble:
      if (v.underflow)
        out->append(v.text);
      else
        append_double(out, v.d);
      break;
    case Kind::kString:
      append_json_string(out, v.text);
      break;
    case Kind::kArray:
    case Kind::kObject:
      out->append(v.text);
      break;
    case Kind::kBytes: {  // as the bytea text form, "\\x..."
      std::string h = "\\x";
      append_hex(&h, v.text);
      append_json_string(out, h);
      break;
    }
  }
}

std::string event_to_json(const Event& ev) {
  if (!ev.raw.empty()) return std::string(ev.raw);
  std::string out = "{";
  for (size_t k = 0; k < ev.fields.size(); k++) {
    if (k) out.push_back(',');
    append_json_string(&out, ev.fields[k].raw_name);
    out.push_back(':');
    append_value_json(&out, ev.values[ev.fields[k].value]);
  }
  out.push_back('}');
  return out;
}

void append_copy_escaped(std::string* out, std::string_view s) {
  size_t start = 0;
  for (size_t k = 0; k < s.size(); k++) {
    char c = s[k];
    const char* rep = nullptr;
    switch (c) {
      case '\\':
        rep = "\\\\";
        break;
      case '\n':
        rep = "\\n";
        break;
      case '\r':
        rep = "\\r";
        break;
      case '\t':
        rep = "\\t";
        break;
      default:
        continue;
    }
    out->append(s.data() + start, k - start);
    out->append(rep);
    start = k + 1;
  }
  out->append(s.data() + start, s.size() - start);
}

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

std::string value_json(const Event& ev, const Value& v) {
  (void)ev;  // arrays keep their JSON text: the elements are not needed
  std::string s;
  append_value_json(&s, v);
  return s;
}

}  // namespace pulse
