// Identifier rules: project, collection and field names (see names.h).
#include "core/names.h"

#include <cstdint>

namespace pulse {

namespace {

// Byte classes with explicit ASCII ranges: names must never depend on the C locale.
inline bool is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
inline bool is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline bool is_ident_char(unsigned char c) { return is_lower(c) || is_digit(c) || c == '_'; }
inline bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF), or 0 when s[i] does not start one. Only called
// for bytes >= 0x80.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const unsigned char lead = static_cast<unsigned char>(s[i]);
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // stray continuation byte, C0/C1 (overlong) or F5..FF
  }
  if (i + len > s.size()) return 0;
  const unsigned char first = static_cast<unsigned char>(s[i + 1]);
  if (first < lo || first > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (!is_continuation(static_cast<unsigned char>(s[i + k]))) return 0;
  }
  return len;
}

// 64-bit FNV-1a: cheap, deterministic across platforms and builds, good enough to keep
// truncated long names apart.
uint64_t fnv1a_64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Shared checks of project and collection names: length, alphabet, leading digit, pg_.
std::string common_name_problem(std::string_view name) {
  if (name.empty() || name.size() > kMaxIdentifierBytes) return "must be 1 to 63 characters";
  for (char c : name) {
    if (!is_ident_char(static_cast<unsigned char>(c))) {
      return "may contain only lower-case letters, digits and underscores";
    }
  }
  if (is_digit(static_cast<unsigned char>(name[0]))) return "must not start with a digit";
  if (name.substr(0, 3) == "pg_") return "names starting with pg_ are reserved";
  return std::string();
}

}  // namespace

// Project names become schema names: common rules plus the schemas Postgres and pg_pulse
// already own (pulse, and the internal schemas _pulse_<project>).
std::string project_name_problem(std::string_view name) {
  // the roles <name>_writer / <name>_reader and the schema _pulse_<name> must fit in 63 bytes too
  if (name.empty() || name.size() > kMaxIdentifierBytes - 7) return "must be 1 to 56 characters";
  std::string problem = common_name_problem(name);
  if (!problem.empty()) return problem;
  if (name.substr(0, kInternalSchemaPrefix.size()) == kInternalSchemaPrefix) {
    return "names starting with _pulse_ are reserved";
  }
  if (name == "public" || name == "information_schema" || name == "pulse") {
    return "\"" + std::string(name) + "\" is reserved";
  }
  return std::string();
}

// Collection names become table names: common rules, and a leading '_' is kept for
// pg_pulse's own names (_pulse_*).
std::string collection_name_problem(std::string_view name) {
  std::string problem = common_name_problem(name);
  if (!problem.empty()) return problem;
  if (name[0] == '_') return "names starting with _ are reserved";
  return std::string();
}

std::string internal_schema_name(std::string_view project) {
  std::string out(kInternalSchemaPrefix);
  out.append(project);
  return out;
}

// Byte-wise A-Z -> a-z; every other byte (including UTF-8) is copied unchanged.
std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (is_upper(static_cast<unsigned char>(c))) c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Postgres' system columns: a user column of that name cannot exist.
bool is_system_column_name(std::string_view n) {
  return n == "tableoid" || n == "ctid" || n == "xmin" || n == "xmax" || n == "cmin" || n == "cmax";
}

std::string normalize_field_name(std::string_view raw) {
  std::string out = normalize_collection_name(raw);
  if (is_system_column_name(out)) out.push_back('_');
  return out;
}

// See names.h. A '_' goes before an upper-case letter that follows a lower-case letter or
// digit ("userId", "a1B"), or that follows an upper-case letter and precedes a lower-case
// one (the last capital of an acronym: "HTTPServer"). Repeated '_' are kept as they are.
std::string normalize_collection_name(std::string_view raw) {
  std::string out;
  if (raw.empty()) return out;
  out.reserve(raw.size() + raw.size() / 2 + 1);
  const size_t n = raw.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (is_upper(c)) {
      if (i > 0) {
        const unsigned char prev = static_cast<unsigned char>(raw[i - 1]);
        const bool next_lower = i + 1 < n && is_lower(static_cast<unsigned char>(raw[i + 1]));
        if (is_lower(prev) || is_digit(prev) || (is_upper(prev) && next_lower)) out.push_back('_');
      }
      out.push_back(static_cast<char>(c - 'A' + 'a'));
      ++i;
    } else if (is_ident_char(c)) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x80) {
      out.push_back('_');
      ++i;
    } else {
      // One '_' per well-formed code point; each byte of a malformed sequence gets its own.
      const size_t len = utf8_sequence_length(raw, i);
      out.push_back('_');
      i += len == 0 ? 1 : len;
    }
  }
  if (is_digit(static_cast<unsigned char>(out[0]))) out.insert(out.begin(), '_');
  if (out.size() > kMaxIdentifierBytes) {
    static const char kHex[] = "0123456789abcdef";
    const uint32_t h = static_cast<uint32_t>(fnv1a_64(out));
    constexpr size_t kKeep = kMaxIdentifierBytes - 9;  // 54 bytes, '_', 8 hex digits
    out.resize(kKeep);
    out.push_back('_');
    for (int shift = 28; shift >= 0; shift -= 4) out.push_back(kHex[(h >> shift) & 0xF]);
  }
  return out;
}

bool is_enrichment_column(std::string_view n) {
  // (string_views: no strlen per comparison. Every field of every event whose name starts
  // with '_' is checked, twice per batch: as const char* this was 10 % of an enriched batch.)
  static constexpr std::string_view kColumns[] = {
      "_country_code",  "_region",          "_city",         "_latitude",   "_longitude",       "_timezone",
      "_asn",           "_as_org",          "_isp",          "_browser",    "_browser_version", "_os",
      "_os_version",    "_device",          "_device_brand", "_is_bot",     "_referrer_medium", "_referrer_source",
      "_referrer_term", "_referrer_domain", "_utm_source",   "_utm_medium", "_utm_campaign",    "_utm_term",
      "_utm_content"};
  for (std::string_view c : kColumns)
    if (n == c) return true;
  return false;
}

// See names.h: the three special fields, then '_' + digit (a prefixed leading digit) is an
// ordinary field and any other leading '_' is reserved.
FieldNameClass classify_field_name(std::string_view normalised) {
  if (normalised.empty()) return FieldNameClass::kEmpty;
  if (normalised == "_time") return FieldNameClass::kTime;
  if (normalised == "_user") return FieldNameClass::kUser_;
  if (normalised == "_id") return FieldNameClass::kId;
  if (normalised[0] == '_') {
    if (normalised.size() > 1 && is_digit(static_cast<unsigned char>(normalised[1]))) {
      return FieldNameClass::kUser;
    }
    return is_enrichment_column(normalised) ? FieldNameClass::kUser : FieldNameClass::kReserved;
  }
  return FieldNameClass::kUser;
}

}  // namespace pulse
