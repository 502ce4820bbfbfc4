// See referer.h.
#include "core/referer.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "core/names.h"
#include "core/text_file.h"
#include "core/url.h"

namespace pulse {

bool RefererParser::load_text(const std::string& yaml, std::string* error) {
  try {
    YAML::Node root = YAML::Load(yaml);
    providers_.clear();
    hosts_.clear();
    entries_ = 0;
    if (!root.IsMap()) {
      *error = "not a referer-parser file: the top level is not a mapping";
      return false;
    }
    for (auto medium : root) {
      std::string m = medium.first.as<std::string>();
      if (!medium.second.IsMap()) continue;
      for (auto prov : medium.second) {
        if (!prov.second.IsMap()) continue;
        Provider p;
        p.medium = m;
        p.source = prov.first.as<std::string>();
        if (auto params = prov.second["parameters"]; params && params.IsSequence())
          for (auto q : params) p.parameters.push_back(q.as<std::string>());
        auto domains = prov.second["domains"];
        if (!domains || !domains.IsSequence()) continue;
        uint32_t id = uint32_t(providers_.size());
        providers_.push_back(std::move(p));
        for (auto d : domains) {
          std::string dom = ascii_lower(d.as<std::string>());
          size_t slash = dom.find('/');
          std::string host = dom.substr(0, slash);
          std::string pathp = slash == std::string::npos ? std::string() : dom.substr(slash);
          auto& v = hosts_[host];
          // the first entry of a host wins (the file lists the specific sections first)
          bool seen = false;
          for (auto& e : v) seen = seen || e.path == pathp;
          if (seen) continue;
          v.push_back(Entry{pathp, id});
          entries_++;
        }
      }
    }
  } catch (const std::exception& e) {
    *error = std::string("cannot read referer data: ") + e.what();
    if (error->size() > 500) error->resize(500);
    return false;
  }
  // longer path prefixes first, the host's plain entry last
  for (auto& [h, v] : hosts_)
    std::stable_sort(v.begin(), v.end(), [](const Entry& a, const Entry& b) { return a.path.size() > b.path.size(); });
  if (entries_ == 0) {
    *error = "no referrer in the file";
    return false;
  }
  return true;
}

bool RefererParser::load(const std::string& path, std::string* error) {
  std::string text;
  if (!read_file(path, &text, error)) return false;
  return load_text(text, error);
}

RefererInfo RefererParser::parse(std::string_view referrer) const {
  RefererInfo r;
  UrlParts u;
  if (!split_url(referrer, &u)) return r;
  r.valid = true;
  r.host = u.host;
  std::string_view host = r.host;
  const Provider* hit = nullptr;
  while (!host.empty() && !hit) {
    auto it = hosts_.find(std::string(host));
    if (it != hosts_.end()) {
      for (const Entry& e : it->second) {
        if (e.path.empty() || u.path.substr(0, e.path.size()) == e.path) {
          hit = &providers_[e.provider];
          break;
        }
      }
    }
    size_t dot = host.find('.');
    if (dot == std::string_view::npos) break;
    host = host.substr(dot + 1);
  }
  if (!hit) return r;
  r.medium = hit->medium;
  r.source = hit->source;
  if (!hit->parameters.empty() && !u.query.empty()) {
    for (auto& [name, value] : query_params(u.query)) {
      if (value.empty()) continue;
      if (std::find(hit->parameters.begin(), hit->parameters.end(), name) != hit->parameters.end()) {
        r.term = value;
        break;
      }
    }
  }
  return r;
}

bool host_under(std::string_view host, std::string_view base) {
  if (base.empty()) return false;
  if (host == base) return true;
  return host.size() > base.size() && host.substr(host.size() - base.size()) == base &&
         host[host.size() - base.size() - 1] == '.';
}

}  // namespace pulse
