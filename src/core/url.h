// URL pieces the enrichers need (docs/enrichment.md): host of a referrer, query parameters of a
// page URL. Lenient: never throws, an unusable URL simply yields nothing.
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pulse {

struct UrlParts {
  std::string host;        // lower-case, without user info, port and trailing dot
  std::string_view path;   // from the first '/' after the host (may be empty)
  std::string_view query;  // after '?', before '#' (may be empty)
};

// Splits an absolute URL ("scheme://host/path?query" or "//host/...").
// False when there is no host.
bool split_url(std::string_view url, UrlParts* out);

// The query string of any URL, absolute or not: after the first '?', before '#'.
std::string_view url_query(std::string_view url);

// Percent-decoding with '+' as a space. Text that would not be valid UTF-8 (or would contain a
// NUL byte) once decoded is returned as it was.
std::string url_decode(std::string_view s);

// Name/value pairs of a query string, decoded, in order.
std::vector<std::pair<std::string, std::string>> query_params(std::string_view query);

// True when s is well-formed UTF-8 without NUL bytes.
bool valid_utf8_text(std::string_view s);

}  // namespace pulse
