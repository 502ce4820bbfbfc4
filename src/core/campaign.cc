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

Campaign parse_campaign(std::string_view url) {
  Campaign c;
  std::string_view query = url_query(url);
  if (query.empty()) return c;
  std::string click_source;
  for (auto& [raw_name, value] : query_params(query)) {
    std::string name = ascii_lower(raw_name);
    std::string* slot = nullptr;
    if (name == "utm_source")
      slot = &c.source;
    else if (name == "utm_medium")
      slot = &c.medium;
    else if (name == "utm_campaign")
      slot = &c.name;
    else if (name == "utm_term")
      slot = &c.term;
    else if (name == "utm_content")
      slot = &c.content;
    else if ((name == "gclid" || name == "fbclid") && !value.empty()) {
      c.paid_click = true;
      if (click_source.empty()) click_source = name == "gclid" ? "google" : "facebook";
    }
    if (slot && slot->empty()) *slot = value;
  }
  if (c.paid_click) {
    if (c.source.empty()) c.source = click_source;
    if (c.medium.empty()) c.medium = "paid";
  }
  return c;
}

}  // namespace pulse
