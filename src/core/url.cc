// See url.h.
#include "core/url.h"

namespace pulse {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool valid_utf8_text(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; k++) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return false;
    }
    i += len;
  }
  return true;
}

bool split_url(std::string_view url, UrlParts* out) {
  size_t start;
  size_t scheme_end = url.find("://");
  if (url.substr(0, 2) == "//") {
    start = 2;
  } else if (scheme_end != std::string_view::npos && scheme_end > 0) {
    for (size_t k = 0; k < scheme_end; k++) {
      char c = url[k];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (k > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
      if (!ok) return false;
    }
    start = scheme_end + 3;
  } else {
    return false;
  }
  size_t auth_end = url.find_first_of("/?#", start);
  if (auth_end == std::string_view::npos) auth_end = url.size();
  std::string_view auth = url.substr(start, auth_end - start);
  size_t at = auth.rfind('@');
  if (at != std::string_view::npos) auth = auth.substr(at + 1);
  if (!auth.empty() && auth[0] == '[') {  // IPv6 literal
    size_t close = auth.find(']');
    auth = close == std::string_view::npos ? std::string_view() : auth.substr(0, close + 1);
  } else {
    size_t colon = auth.find(':');
    if (colon != std::string_view::npos) auth = auth.substr(0, colon);
  }
  while (!auth.empty() && auth.back() == '.') auth.remove_suffix(1);
  if (auth.empty()) return false;
  out->host.clear();
  for (char c : auth) out->host.push_back(c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c);
  std::string_view rest = url.substr(auth_end);
  size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t q = rest.find('?');
  out->path = rest.substr(0, q);
  out->query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  return true;
}

std::string_view url_query(std::string_view url) {
  size_t hash = url.find('#');
  if (hash != std::string_view::npos) url = url.substr(0, hash);
  size_t q = url.find('?');
  return q == std::string_view::npos ? std::string_view() : url.substr(q + 1);
}

std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t k = 0; k < s.size(); k++) {
    char c = s[k];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && k + 2 < s.size() && hex_value(s[k + 1]) >= 0 && hex_value(s[k + 2]) >= 0) {
      out.push_back(char(hex_value(s[k + 1]) * 16 + hex_value(s[k + 2])));
      k += 2;
    } else {
      out.push_back(c);
    }
  }
  if (!valid_utf8_text(out)) return std::string(s);
  return out;
}

std::vector<std::pair<std::string, std::string>> query_params(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t a = 0;
  while (a <= query.size()) {
    size_t e = query.find_first_of("&;", a);
    if (e == std::string_view::npos) e = query.size();
    std::string_view part = query.substr(a, e - a);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string_view name = part.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
      out.emplace_back(url_decode(name), url_decode(value));
    }
    a = e + 1;
  }
  return out;
}

}  // namespace pulse
