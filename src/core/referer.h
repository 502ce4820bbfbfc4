// Referrer classification over the Snowplow referer-parser data (referers.yml, docs/
// enrichment.md): medium (search, social, email, unknown, or whatever section the file has),
// source (the provider's name) and search term, by host and path.
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pulse {

struct RefererInfo {
  bool valid = false;  // the referrer is an absolute URL with a host
  std::string host;    // its host, lower-case
  std::string medium;  // section of the data file; empty: not in the file
  std::string source;  // provider name; empty: not in the file
  std::string term;    // search term (the provider's query parameter); empty: none
};

class RefererParser {
 public:
  // Reads referers.yml. False with *error set when the file cannot be read or has no entry.
  bool load(const std::string& path, std::string* error);
  // The same from YAML text (tests).
  bool load_text(const std::string& yaml, std::string* error);

  // Classifies a referrer URL. Hosts are tried from the full host down to the registered
  // part ("a.b.google.com", "b.google.com", "google.com"), an entry with a path prefix first.
  RefererInfo parse(std::string_view referrer) const;

  size_t entries() const { return entries_; }

 private:
  struct Entry {
    std::string path;  // "" or a path prefix ("/images/search")
    uint32_t provider;
  };
  struct Provider {
    std::string medium, source;
    std::vector<std::string> parameters;
  };
  std::vector<Provider> providers_;
  std::unordered_map<std::string, std::vector<Entry>> hosts_;
  size_t entries_ = 0;
};

// True when host is base or a subdomain of it (lower-case; "www.shop.example" is under
// "shop.example"; an empty base matches nothing).
bool host_under(std::string_view host, std::string_view base);

}  // namespace pulse
