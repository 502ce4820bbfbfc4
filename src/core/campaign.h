// UTM campaign fields of a page URL (docs/enrichment.md): utm_source, utm_medium,
// utm_campaign, utm_term, utm_content; a Google (gclid) or Facebook (fbclid) click id marks
// the visit as paid.
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <string_view>

namespace pulse {

struct Campaign {
  std::string source, medium, name, term, content;  // empty: absent
  bool paid_click = false;                          // the URL has a gclid or fbclid
  bool any() const { return !source.empty() || !medium.empty() || !name.empty() || !term.empty() || !content.empty(); }
};

// The campaign of a page URL (absolute or relative; only its query string is read). Parameter
// names are matched case-insensitively; the first non-empty value of each wins. A click id
// without utm_source / utm_medium gives source "google" / "facebook" and medium "paid".
Campaign parse_campaign(std::string_view url);

// True for a utm_medium that means paid traffic (cpc, ppc, paid, paidsearch, paid_social ...).
bool is_paid_medium(std::string_view medium);

}  // namespace pulse
