// See user_agent.h.
#include "core/user_agent.h"

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include "core/text_file.h"

namespace pulse {

namespace {

constexpr int kMaxGroups = 10;  // $0..$9

// A replacement with $1..$9 replaced by the match's groups (absent groups: ""), trimmed.
std::string substitute(const std::string& rep, const re2::StringPiece* groups, int ngroups) {
  std::string out;
  out.reserve(rep.size() + 16);
  for (size_t k = 0; k < rep.size(); k++) {
    if (rep[k] == '$' && k + 1 < rep.size() && rep[k + 1] >= '0' && rep[k + 1] <= '9') {
      int g = rep[k + 1] - '0';
      if (g < ngroups && groups[g].data()) out.append(groups[g].data(), groups[g].size());
      k++;
    } else {
      out.push_back(rep[k]);
    }
  }
  size_t a = out.find_first_not_of(" \t");
  if (a == std::string::npos) return std::string();
  size_t b = out.find_last_not_of(" \t");
  return out.substr(a, b - a + 1);
}

std::string group(const re2::StringPiece* groups, int ngroups, int g) {
  if (g >= ngroups || !groups[g].data()) return std::string();
  return std::string(groups[g].data(), groups[g].size());
}

}  // namespace

struct UaParser::Rule {
  std::unique_ptr<RE2> re;
  int ngroups = 0;  // capturing groups + 1
  // replacements (has_*: the rule gives one, even if empty)
  std::string rep[6];
  bool has[6] = {false, false, false, false, false, false};
};

std::string UaPart::version() const {
  if (major.empty()) return std::string();
  std::string v = major;
  for (const std::string* p : {&minor, &patch, &patch_minor}) {
    if (p->empty()) break;
    v += "." + *p;
  }
  return v;
}

UaParser::UaParser() = default;
UaParser::~UaParser() = default;

size_t UaParser::rules() const { return browser_.size() + os_.size() + device_.size(); }

bool UaParser::load(const std::string& path, std::string* error) {
  std::string text;
  if (!read_file(path, &text, error)) return false;
  return load_text(text, error);
}

bool UaParser::load_text(const std::string& yaml, std::string* error) {
  browser_.clear();
  os_.clear();
  device_.clear();
  skipped_ = 0;
  skipped_rules_.clear();
  // the replacement keys of each list, in the order of Rule::rep
  static const char* const kBrowserKeys[] = {"family_replacement", "v1_replacement", "v2_replacement",
                                             "v3_replacement", "v4_replacement", nullptr};
  static const char* const kOsKeys[] = {"os_replacement", "os_v1_replacement", "os_v2_replacement",
                                        "os_v3_replacement", "os_v4_replacement", nullptr};
  static const char* const kDeviceKeys[] = {"device_replacement", "brand_replacement", "model_replacement",
                                            nullptr, nullptr, nullptr};
  try {
    YAML::Node root = YAML::Load(yaml);
    struct List {
      const char* name;
      const char* const* keys;
      std::vector<std::unique_ptr<Rule>>* out;
    };
    for (const List& l : {List{"user_agent_parsers", kBrowserKeys, &browser_}, List{"os_parsers", kOsKeys, &os_},
                          List{"device_parsers", kDeviceKeys, &device_}}) {
      YAML::Node list = root[l.name];
      if (!list || !list.IsSequence()) continue;
      for (auto item : list) {
        if (!item.IsMap() || !item["regex"]) continue;
        std::string pattern = item["regex"].as<std::string>();
        RE2::Options opts;
        opts.set_log_errors(false);
        opts.set_max_mem(1 << 20);
        if (auto flag = item["regex_flag"]; flag && flag.as<std::string>() == "i") opts.set_case_sensitive(false);
        auto rule = std::make_unique<Rule>();
        rule->re = std::make_unique<RE2>(pattern, opts);
        if (!rule->re->ok()) {
          skipped_++;
          if (skipped_rules_.size() < 10) skipped_rules_.push_back(pattern.substr(0, 200) + ": " + rule->re->error());
          continue;
        }
        rule->ngroups = std::min(rule->re->NumberOfCapturingGroups() + 1, kMaxGroups);
        for (int k = 0; k < 6 && l.keys[k]; k++) {
          if (auto r = item[l.keys[k]]; r && !r.IsNull()) {
            rule->has[k] = true;
            rule->rep[k] = r.as<std::string>();
          }
        }
        l.out->push_back(std::move(rule));
      }
    }
  } catch (const std::exception& e) {
    *error = std::string("cannot read user-agent rules: ") + e.what();
    if (error->size() > 500) error->resize(500);
    return false;
  }
  if (browser_.empty() && os_.empty() && device_.empty()) {
    *error = "no user-agent rule in the file";
    return false;
  }
  return true;
}

// The first matching rule of a browser or OS list: family, then the four version parts.
UaPart parse_versioned(const std::vector<std::unique_ptr<UaParser::Rule>>& rules, std::string_view ua) {
  UaPart p;
  re2::StringPiece text(ua.data(), ua.size());
  re2::StringPiece g[kMaxGroups];
  for (const auto& r : rules) {
    if (!r->re->Match(text, 0, text.size(), RE2::UNANCHORED, g, r->ngroups)) continue;
    p.family = r->has[0] ? substitute(r->rep[0], g, r->ngroups) : group(g, r->ngroups, 1);
    std::string* out[] = {&p.major, &p.minor, &p.patch, &p.patch_minor};
    for (int k = 0; k < 4; k++)
      *out[k] = r->has[k + 1] ? substitute(r->rep[k + 1], g, r->ngroups) : group(g, r->ngroups, k + 2);
    break;
  }
  if (p.family.empty()) p.family = "Other";
  return p;
}

UaPart UaParser::parse_browser(std::string_view ua) const { return parse_versioned(browser_, ua); }

UaPart UaParser::parse_os(std::string_view ua) const { return parse_versioned(os_, ua); }

UaPart UaParser::parse_device(std::string_view ua) const {
  UaPart p;
  re2::StringPiece text(ua.data(), ua.size());
  re2::StringPiece g[kMaxGroups];
  for (const auto& r : device_) {
    if (!r->re->Match(text, 0, text.size(), RE2::UNANCHORED, g, r->ngroups)) continue;
    p.family = r->has[0] ? substitute(r->rep[0], g, r->ngroups) : group(g, r->ngroups, 1);
    p.brand = r->has[1] ? substitute(r->rep[1], g, r->ngroups) : std::string();
    p.model = r->has[2] ? substitute(r->rep[2], g, r->ngroups) : group(g, r->ngroups, 1);
    break;
  }
  if (p.family.empty()) p.family = "Other";
  return p;
}

UaInfo UaParser::parse(std::string_view ua) const {
  UaInfo info;
  info.browser = parse_browser(ua);
  info.os = parse_os(ua);
  info.device = parse_device(ua);
  info.bot = info.device.family == "Spider";
  return info;
}

}  // namespace pulse
