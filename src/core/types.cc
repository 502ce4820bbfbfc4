// Column types: inference for new fields, the check of values for existing columns and their
// COPY text, rendered through core/render.h (see types.h).
#include "core/types.h"

#include <cerrno>
#include <cfloat>
#include <cmath>
#include <charconv>
#include <cstring>

#include "core/render.h"
#include "core/time_parse.h"

namespace pulse {

// Canonical names, as format_type prints them, indexed by TypeClass (kOther has none: text).
ColumnType builtin_type(TypeClass c, bool arr) {
  static const char* names[] = {"text",
                                "double precision",
                                "real",
                                "numeric",
                                "smallint",
                                "integer",
                                "bigint",
                                "boolean",
                                "timestamp with time zone",
                                "timestamp without time zone",
                                "date",
                                "jsonb",
                                "uuid",
                                "bytea",
                                "text"};
  ColumnType t;
  t.cls = c;
  t.is_array = arr;
  t.pg_name = std::string(names[int(c)]) + (arr ? "[]" : "");
  return t;
}

// Scalar inference; kOther stands for "not a scalar" (arrays / objects).
static std::optional<TypeClass> infer_scalar(const Value& v) {
  switch (v.kind) {
    case Kind::kNull:
      return std::nullopt;
    case Kind::kBool:
      return TypeClass::kBool;
    case Kind::kInt:
    case Kind::kDouble:
      return TypeClass::kDouble;
    case Kind::kString: {
      int64_t us;
      int32_t days;
      if (v.text.size() >= 16 && parse_iso_datetime(v.text, &us)) return TypeClass::kTimestamptz;
      if (v.text.size() == 10 && parse_iso_date(v.text, &days)) return TypeClass::kDate;
      return TypeClass::kText;
    }
    default:
      return TypeClass::kOther;
  }
}

std::optional<ColumnType> infer_type(const Event& ev, const Value& v) {
  if (v.kind == Kind::kNull) return std::nullopt;
  if (v.kind == Kind::kObject) return builtin_type(TypeClass::kJson, false);
  if (v.kind != Kind::kArray) return builtin_type(*infer_scalar(v), false);
  std::optional<TypeClass> common;
  for (uint32_t k = 0; k < v.n_children; k++) {
    auto c = infer_scalar(ev.values[v.first_child + k]);
    if (!c) continue;
    if (*c == TypeClass::kOther) return builtin_type(TypeClass::kJson, false);
    if (!common) {
      common = c;
    } else if (*common != *c) {
      bool both_textual =
          (*common == TypeClass::kText || *common == TypeClass::kDate || *common == TypeClass::kTimestamptz) &&
          (*c == TypeClass::kText || *c == TypeClass::kDate || *c == TypeClass::kTimestamptz);
      if (!both_textual) return builtin_type(TypeClass::kJson, false);
      common = TypeClass::kText;
    }
  }
  if (!common) return builtin_type(TypeClass::kJson, false);  // [] or [null]: keep it as JSON
  return builtin_type(*common, true);
}

// Strict decimal number grammar: -?digits[.digits][(e|E)[+-]digits]
static bool is_number_text(std::string_view s, bool integer_only) {
  size_t k = 0, n = s.size();
  if (k < n && (s[k] == '-' || s[k] == '+')) k++;
  size_t d0 = k;
  while (k < n && s[k] >= '0' && s[k] <= '9') k++;
  if (k == d0) return false;
  if (integer_only) return k == n;
  if (k < n && s[k] == '.') {
    k++;
    size_t f0 = k;
    while (k < n && s[k] >= '0' && s[k] <= '9') k++;
    if (k == f0) return false;
  }
  if (k < n && (s[k] == 'e' || s[k] == 'E')) {
    k++;
    if (k < n && (s[k] == '-' || s[k] == '+')) k++;
    size_t e0 = k;
    while (k < n && s[k] >= '0' && s[k] <= '9') k++;
    if (k == e0) return false;
  }
  return k == n;
}

static bool is_uuid_text(std::string_view s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
  if (s.size() == 32) {
    for (char c : s)
      if (!hex(c)) return false;
    return true;
  }
  if (s.size() != 36) return false;
  for (size_t k = 0; k < 36; k++) {
    bool dash = k == 8 || k == 13 || k == 18 || k == 23;
    if (dash ? s[k] != '-' : !hex(s[k])) return false;
  }
  return true;
}

// True when JSON text holds the escape \u0000 (a backslash run of odd length before u0000).
static bool has_escaped_nul(std::string_view s) {
  for (size_t k = s.find("u0000"); k != std::string_view::npos; k = s.find("u0000", k + 1)) {
    size_t run = 0;
    while (run < k && s[k - 1 - run] == '\\') run++;
    if (run % 2 == 1) return true;
  }
  return false;
}

static size_t utf8_chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Renders a scalar for type class c (no COPY escaping yet). Empty return = fits.
static std::string render_scalar(std::string* out, const Value& v, const ColumnType& t, bool in_array) {
  if (v.kind == Kind::kString && v.text.find('\0') != std::string_view::npos)
    return "contains a NUL character, which Postgres text cannot store";
  if (v.kind == Kind::kBytes && t.cls != TypeClass::kBytea) return "bytes fit only a bytea column";
  switch (t.cls) {
    case TypeClass::kText:
    case TypeClass::kOther: {
      std::string_view s;
      std::string tmp;
      switch (v.kind) {
        case Kind::kString:
          s = v.text;
          break;
        case Kind::kBool:
          s = v.b ? "true" : "false";
          break;
        case Kind::kInt:
          tmp = std::to_string(v.i);
          s = tmp;
          break;
        case Kind::kDouble:
          if (v.underflow) {
            s = v.text;
          } else {
            append_double(&tmp, v.d);
            s = tmp;
          }
          break;
        default:
          s = v.text;
          break;
      }
      if (t.max_chars >= 0 && utf8_chars(s) > size_t(t.max_chars))
        return "longer than " + std::to_string(t.max_chars) + " characters";
      if (in_array) {
        out->push_back('"');
        for (char c : s) {
          if (c == '"' || c == '\\') out->push_back('\\');
          out->push_back(c);
        }
        out->push_back('"');
      } else {
        out->append(s);
      }
      return {};
    }
    case TypeClass::kJson: {
      if (in_array) return "arrays of json are not supported";
      std::string s;
      switch (v.kind) {
        case Kind::kString:
          append_json_string(&s, v.text);
          break;
        case Kind::kBool:
          s = v.b ? "true" : "false";
          break;
        case Kind::kInt:
          s = std::to_string(v.i);
          break;
        case Kind::kDouble:
          if (v.underflow)
            s = std::string(v.text);
          else
            append_double(&s, v.d);
          break;
        default:
          if (has_escaped_nul(v.text)) return "contains a NUL character, which jsonb cannot store";
          s = std::string(v.text);
      }
      out->append(s);
      return {};
    }
    case TypeClass::kDouble:
    case TypeClass::kReal:
    case TypeClass::kNumeric: {
      if (v.kind == Kind::kInt) {
        out->append(std::to_string(v.i));
      } else if (v.kind == Kind::kDouble && v.underflow) {
        // a non-zero number too small for a double: numeric keeps it exactly
        if (t.cls != TypeClass::kNumeric) return "out of range for type " + t.pg_name;
        out->append(v.text);
      } else if (v.kind == Kind::kDouble) {
        if (t.cls == TypeClass::kReal && (std::fabs(v.d) > double(FLT_MAX) || (v.d != 0 && float(v.d) == 0.0f)))
          return "out of range for type real";
        append_double(out, v.d);
      } else if (v.kind == Kind::kString && is_number_text(v.text, false)) {
        if (t.cls != TypeClass::kNumeric) {
          // what float8in / float4in refuse: overflow, and underflow to zero
          std::string tmp(v.text);
          errno = 0;
          double d =
              t.cls == TypeClass::kReal ? double(std::strtof(tmp.c_str(), nullptr)) : std::strtod(tmp.c_str(), nullptr);
          if (std::isinf(d) || (errno == ERANGE && d == 0)) return "out of range for type " + t.pg_name;
        }
        out->append(v.text);
      } else {
        return "not a number";
      }
      return {};
    }
    case TypeClass::kInt2:
    case TypeClass::kInt4:
    case TypeClass::kInt8: {
      int64_t lo = t.cls == TypeClass::kInt2 ? -32768 : t.cls == TypeClass::kInt4 ? -2147483648LL : INT64_MIN;
      int64_t hi = t.cls == TypeClass::kInt2 ? 32767 : t.cls == TypeClass::kInt4 ? 2147483647LL : INT64_MAX;
      int64_t x;
      if (v.kind == Kind::kInt) {
        x = v.i;
      } else if (v.kind == Kind::kDouble && !v.underflow && std::trunc(v.d) == v.d && v.d >= -9.2e18 && v.d <= 9.2e18) {
        x = int64_t(v.d);
      } else if (v.kind == Kind::kString && is_number_text(v.text, true)) {
        std::string_view d = v.text;
        if (!d.empty() && d[0] == '+') d.remove_prefix(1);
        auto r = std::from_chars(d.data(), d.data() + d.size(), x);
        if (r.ec == std::errc::result_out_of_range) return "out of range for type " + t.pg_name;
        if (r.ec != std::errc() || r.ptr != d.data() + d.size()) return "not an integer";
      } else {
        return "not an integer";
      }
      if (x < lo || x > hi) return "out of range for type " + t.pg_name;
      out->append(std::to_string(x));
      return {};
    }
    case TypeClass::kBool:
      if (v.kind == Kind::kBool) {
        out->append(v.b ? "t" : "f");
      } else if (v.kind == Kind::kString && (v.text == "true" || v.text == "false")) {
        out->append(v.text == "true" ? "t" : "f");
      } else {
        return "not a boolean";
      }
      return {};
    case TypeClass::kTimestamptz:
    case TypeClass::kTimestamp: {
      int64_t us;
      if (v.kind == Kind::kString) {
        if (!parse_iso_datetime(v.text, &us)) return "not an ISO-8601 date-time";
      } else if (v.kind == Kind::kInt || v.kind == Kind::kDouble) {
        if (!epoch_millis_to_micros(v.d, &us)) return "epoch milliseconds out of range";
      } else {
        return "not a date-time";
      }
      std::string s = format_timestamp_utc(us);
      if (t.cls == TypeClass::kTimestamp) s.resize(s.size() - 3);  // drop "+00"
      if (in_array) out->push_back('"');
      out->append(s);
      if (in_array) out->push_back('"');
      return {};
    }
    case TypeClass::kDate: {
      int32_t days;
      if (v.kind != Kind::kString || !parse_iso_date(v.text, &days)) return "not an ISO-8601 date (YYYY-MM-DD)";
      out->append(v.text);
      return {};
    }
    case TypeClass::kUuid:
      if (v.kind != Kind::kString || !is_uuid_text(v.text)) return "not a uuid";
      out->append(v.text);
      return {};
    case TypeClass::kBytea: {
      if (v.kind != Kind::kBytes && v.kind != Kind::kString) return "not bytes";
      if (in_array) out->push_back('"');
      out->append(in_array ? "\\\\x" : "\\x");
      append_hex(out, v.text);
      if (in_array) out->push_back('"');
      return {};
    }
  }
  return "unsupported type";
}

std::string append_copy_value(std::string* out, const Event& ev, const Value& v, const ColumnType& t) {
  if (v.kind == Kind::kNull) {
    out->append("\\N");
    return {};
  }
  if (!t.is_array && (t.cls == TypeClass::kText || t.cls == TypeClass::kOther) && v.kind == Kind::kString &&
      t.max_chars < 0) {
    // the common case, straight into the COPY buffer
    if (v.text.find('\0') != std::string_view::npos)
      return "contains a NUL character, which Postgres text cannot store";
    append_copy_escaped(out, v.text);
    return {};
  }
  if (!t.is_array && v.kind == Kind::kInt && t.cls <= TypeClass::kNumeric && t.cls != TypeClass::kText) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v.i);
    out->append(buf, size_t(r.ptr - buf));
    return {};
  }
  if (!t.is_array && v.kind == Kind::kDouble && !v.underflow && t.cls == TypeClass::kDouble) {
    append_double(out, v.d);
    return {};
  }
  if (!t.is_array && v.kind == Kind::kBool && t.cls == TypeClass::kBool) {
    out->append(v.b ? "t" : "f");
    return {};
  }
  static thread_local std::string lit;
  lit.clear();
  if (t.is_array) {
    if (v.kind != Kind::kArray) return "not an array";
    lit.push_back('{');
    for (uint32_t k = 0; k < v.n_children; k++) {
      const Value& c = ev.values[v.first_child + k];
      if (k) lit.push_back(',');
      if (c.kind == Kind::kNull) {
        lit.append("NULL");
        continue;
      }
      if (c.kind == Kind::kObject) return "array element is not a scalar";
      std::string why = render_scalar(&lit, c, t, true);
      if (!why.empty()) return "array element " + std::to_string(k + 1) + " " + why;
    }
    lit.push_back('}');
  } else {
    if (t.cls != TypeClass::kJson && t.cls != TypeClass::kText && t.cls != TypeClass::kOther &&
        (v.kind == Kind::kArray || v.kind == Kind::kObject))
      return v.kind == Kind::kArray ? "an array is not a " + t.pg_name : "an object is not a " + t.pg_name;
    std::string why = render_scalar(&lit, v, t, false);
    if (!why.empty()) return why;
  }
  append_copy_escaped(out, lit);
  return {};
}

// ---------------------------------------------------------------- binary COPY

void append_be16(std::string* out, uint16_t x) {
  char b[2] = {char(x >> 8), char(x)};
  out->append(b, 2);
}

void append_be32(std::string* out, uint32_t x) {
  char b[4] = {char(x >> 24), char(x >> 16), char(x >> 8), char(x)};
  out->append(b, 4);
}

void append_be64(std::string* out, uint64_t x) {
  append_be32(out, uint32_t(x >> 32));
  append_be32(out, uint32_t(x));
}

// 2000-01-01 (Postgres' epoch) - 1970-01-01, in microseconds and in days
static constexpr int64_t kPgEpochMicros = 946684800LL * 1000000LL;
static constexpr int32_t kPgEpochDays = 10957;

int64_t pg_timestamp_from_unix_micros(int64_t us) { return us - kPgEpochMicros; }

bool binary_copy_ok(const ColumnType& t) { return t.binary_oid != 0 && !(t.is_array && t.cls == TypeClass::kJson); }

static void put_double(std::string* out, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  append_be32(out, 8);
  append_be64(out, bits);
}

static void put_bytes(std::string* out, std::string_view b) {
  append_be32(out, uint32_t(b.size()));
  out->append(b);
}

static int hex_digit(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

// One non-null scalar (t.is_array ignored): the fast paths for the common kinds, else the COPY
// text that append_copy_value would send, read back into the binary form. Empty return = fits.
static std::string binary_scalar(std::string* out, const Value& v, const ColumnType& t) {
  switch (t.cls) {
    case TypeClass::kText:
      if (v.kind == Kind::kString && t.max_chars < 0) {
        if (v.text.find('\0') != std::string_view::npos)
          return "contains a NUL character, which Postgres text cannot store";
        put_bytes(out, v.text);
        return {};
      }
      break;
    case TypeClass::kInt8:
      if (v.kind == Kind::kInt) {
        append_be32(out, 8);
        append_be64(out, uint64_t(v.i));
        return {};
      }
      break;
    case TypeClass::kDouble:
      if (v.kind == Kind::kInt || (v.kind == Kind::kDouble && !v.underflow)) {
        put_double(out, v.d);  // kInt: v.d is the integer rounded as float8in rounds its digits
        return {};
      }
      break;
    case TypeClass::kBool:
      if (v.kind == Kind::kBool) {
        append_be32(out, 1);
        out->push_back(v.b ? 1 : 0);
        return {};
      }
      break;
    case TypeClass::kTimestamptz:
    case TypeClass::kTimestamp:
      if (v.kind == Kind::kString) {
        int64_t us;
        if (v.text.find('\0') != std::string_view::npos)
          return "contains a NUL character, which Postgres text cannot store";
        if (!parse_iso_datetime(v.text, &us)) return "not an ISO-8601 date-time";
        append_be32(out, 8);
        append_be64(out, uint64_t(pg_timestamp_from_unix_micros(us)));
        return {};
      }
      break;
    default:
      break;
  }
  static thread_local std::string text;
  text.clear();
  std::string why = render_scalar(&text, v, t, false);
  if (!why.empty()) return why;
  switch (t.cls) {
    case TypeClass::kText:
      put_bytes(out, text);
      return {};
    case TypeClass::kInt2:
    case TypeClass::kInt4:
    case TypeClass::kInt8: {
      int64_t x = 0;
      std::from_chars(text.data(), text.data() + text.size(), x);  // render_scalar's own digits
      uint32_t n = t.cls == TypeClass::kInt2 ? 2 : t.cls == TypeClass::kInt4 ? 4 : 8;
      append_be32(out, n);
      if (n == 2)
        append_be16(out, uint16_t(int16_t(x)));
      else if (n == 4)
        append_be32(out, uint32_t(int32_t(x)));
      else
        append_be64(out, uint64_t(x));
      return {};
    }
    case TypeClass::kDouble: {
      std::string_view d = text;
      if (!d.empty() && d[0] == '+') d.remove_prefix(1);
      double x = 0;
      std::from_chars(d.data(), d.data() + d.size(), x);  // correctly rounded, as float8in's strtod
      put_double(out, x);
      return {};
    }
    case TypeClass::kReal: {
      float f = std::strtof(text.c_str(), nullptr);  // as float4in
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      append_be32(out, 4);
      append_be32(out, bits);
      return {};
    }
    case TypeClass::kBool:
      append_be32(out, 1);
      out->push_back(text == "t" ? 1 : 0);
      return {};
    case TypeClass::kTimestamptz:
    case TypeClass::kTimestamp: {
      int64_t us = 0;
      if (!parse_iso_datetime(text, &us)) return "not an ISO-8601 date-time";
      append_be32(out, 8);
      append_be64(out, uint64_t(pg_timestamp_from_unix_micros(us)));
      return {};
    }
    case TypeClass::kDate: {
      int32_t days = 0;
      if (!parse_iso_date(text, &days)) return "not an ISO-8601 date (YYYY-MM-DD)";
      append_be32(out, 4);
      append_be32(out, uint32_t(days - kPgEpochDays));
      return {};
    }
    case TypeClass::kJson:
      if (t.jsonb) {
        append_be32(out, uint32_t(text.size() + 1));
        out->push_back(1);  // jsonb's binary format version
        out->append(text);
      } else {
        put_bytes(out, text);
      }
      return {};
    case TypeClass::kUuid: {
      append_be32(out, 16);
      int hi = -1;
      for (char c : text) {
        int h = hex_digit(c);
        if (h < 0) continue;  // a dash
        if (hi < 0) {
          hi = h;
        } else {
          out->push_back(char((hi << 4) | h));
          hi = -1;
        }
      }
      return {};
    }
    case TypeClass::kBytea:
      put_bytes(out, v.text);  // the bytes themselves (COPY text sends them as hex)
      return {};
    default:
      return "unsupported type";
  }
}

std::string append_binary_value(std::string* out, const Event& ev, const Value& v, const ColumnType& t) {
  if (v.kind == Kind::kNull) {
    append_be32(out, 0xFFFFFFFFu);
    return {};
  }
  if (!t.is_array) {
    if (t.cls != TypeClass::kJson && t.cls != TypeClass::kText && (v.kind == Kind::kArray || v.kind == Kind::kObject))
      return v.kind == Kind::kArray ? "an array is not a " + t.pg_name : "an object is not a " + t.pg_name;
    return binary_scalar(out, v, t);
  }
  if (v.kind != Kind::kArray) return "not an array";
  // int32 ndim, int32 has-nulls flag, element oid, then per dimension: size and lower bound;
  // then every element as a field (length, bytes)
  static thread_local std::string elems;
  elems.clear();
  bool has_null = false;
  for (uint32_t k = 0; k < v.n_children; k++) {
    const Value& c = ev.values[v.first_child + k];
    if (c.kind == Kind::kNull) {
      has_null = true;
      append_be32(&elems, 0xFFFFFFFFu);
      continue;
    }
    if (c.kind == Kind::kObject) return "array element is not a scalar";
    std::string why = binary_scalar(&elems, c, t);
    if (!why.empty()) return "array element " + std::to_string(k + 1) + " " + why;
  }
  bool empty = v.n_children == 0;
  append_be32(out, uint32_t(12 + (empty ? 0 : 8) + elems.size()));
  append_be32(out, empty ? 0 : 1);
  append_be32(out, has_null ? 1 : 0);
  append_be32(out, t.binary_oid);
  if (!empty) {
    append_be32(out, v.n_children);
    append_be32(out, 1);
  }
  out->append(elems);
  return {};
}

}  // namespace pulse
