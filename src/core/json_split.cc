// Structural scan of a JSON array payload (see json_split.h).
#include "core/json_split.h"

namespace pulse {

namespace {
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
}  // namespace

bool json_array_elements(std::string_view s, std::vector<std::pair<size_t, size_t>>* spans) {
  spans->clear();
  size_t n = s.size(), i = 0;
  while (i < n && is_ws(s[i])) i++;
  if (i == n || s[i] != '[') return false;
  i++;
  while (i < n && is_ws(s[i])) i++;
  if (i < n && s[i] == ']') {  // []
    for (i++; i < n; i++)
      if (!is_ws(s[i])) return false;
    return true;
  }
  for (;;) {
    // one element: up to the ',' or ']' at depth 0
    while (i < n && is_ws(s[i])) i++;
    size_t begin = i, last = i;  // last: one past the last non-blank byte of the element
    int depth = 0;
    for (; i < n; i++) {
      char c = s[i];
      if (c == '"') {
        for (i++; i < n && s[i] != '"'; i++)
          if (s[i] == '\\') i++;
        if (i >= n) return false;  // an unclosed string
        last = i + 1;
        continue;
      }
      if (depth == 0 && (c == ',' || c == ']')) break;
      if (c == '{' || c == '[') {
        depth++;
      } else if (c == '}' || c == ']') {
        if (--depth < 0) return false;
      }
      if (!is_ws(c)) last = i + 1;
    }
    if (i >= n || last == begin) return false;  // unterminated, or an empty element
    spans->emplace_back(begin, last);
    if (s[i++] == ']') break;
  }
  for (; i < n; i++)
    if (!is_ws(s[i])) return false;
  return true;
}

std::vector<size_t> json_array_chunks(const std::vector<std::pair<size_t, size_t>>& spans, size_t chunk_bytes) {
  std::vector<size_t> starts;
  size_t bytes = 0;
  for (size_t k = 0; k < spans.size(); k++) {
    if (starts.empty() || bytes >= chunk_bytes) {
      starts.push_back(k);
      bytes = 0;
    }
    bytes += spans[k].second - spans[k].first + 1;
  }
  return starts;
}

void json_array_text(std::string_view text, const std::vector<std::pair<size_t, size_t>>& spans, size_t from, size_t to,
                     std::string* out) {
  out->clear();
  out->push_back('[');
  for (size_t k = from; k < to; k++) {
    if (k > from) out->push_back(',');
    out->append(text.substr(spans[k].first, spans[k].second - spans[k].first));
  }
  out->push_back(']');
}

}  // namespace pulse
