// See campaign.h.
#include "core/campaign.h"

#include "core/names.h"
#include "core/url.h"

namespace pulse {

bool is_paid_medium(std::string_view medium) {
  std::string m = ascii_lower(medium);
  return m == "cpc" || m == "ppc" || m == "cpm" || m == "paid" || m.rfind("paid", 0) == 0 || m == "paidsearch" ||
         m == "display";
}

namespace {

// a == b, ASCII case-insensitively (b is lower-case)
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); k++) {
    char c = a[k];
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c != b[k]) return false;
  }
  return true;
}

}  // namespace

// Walks the query without copying it: only the values of the parameters it keeps are decoded.
Campaign parse_campaign(std::string_view url) {
  Campaign c;
  std::string_view query = url_query(url);
  const char* click_source = nullptr;
  while (!query.empty()) {
    size_t e = query.find_first_of("&;");
    std::string_view part = query.substr(0, e);
    query = e == std::string_view::npos ? std::string_view() : query.substr(e + 1);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos || eq + 1 == part.size()) continue;
    std::string_view name = part.substr(0, eq), value = part.substr(eq + 1);
    std::string* slot = nullptr;
    if (name.size() > 4 && iequals(name.substr(0, 4), "utm_")) {
      std::string_view rest = name.substr(4);
      slot = iequals(rest, "source")     ? &c.source
             : iequals(rest, "medium")   ? &c.medium
             : iequals(rest, "campaign") ? &c.name
             : iequals(rest, "term")     ? &c.term
             : iequals(rest, "content")  ? &c.content
                                         : nullptr;
    } else if (iequals(name, "gclid") || iequals(name, "fbclid")) {
      c.paid_click = true;
      if (!click_source) click_source = iequals(name, "gclid") ? "google" : "facebook";
    }
    if (slot && slot->empty()) *slot = url_decode(value);
  }
  if (c.paid_click) {
    if (c.source.empty()) c.source = click_source;
    if (c.medium.empty()) c.medium = "paid";
  }
  return c;
}

}  // namespace pulse
