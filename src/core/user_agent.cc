// See user_agent.h.
#include "core/user_agent.h"

#include <re2/re2.h>
#include <re2/filtered_re2.h>

#include <algorithm>
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
  std::unique_ptr<RE2> own;  // until the list's prefilter holds the compiled pattern
  const RE2* re = nullptr;
  int ngroups = 0;  // capturing groups + 1
  // replacements (has_*: the rule gives one, even if empty)
  std::string rep[6];
  bool has[6] = {false, false, false, false, false, false};
};

struct UaParser::List {
  std::vector<std::unique_ptr<Rule>> rules;
  // The same rules behind a literal prefilter (RE2's FilteredRE2): only the rules whose
  // required substrings ("atoms") occur in the text are tried, in rule order.
  std::unique_ptr<re2::FilteredRE2> filter;
  std::vector<std::string> atoms;  // lower-case
  bool filter_ok = false;

  // Builds the prefilter after the last rule was added.
  void build_filter() {
    filter = std::make_unique<re2::FilteredRE2>(3);
    for (const auto& r : rules) {
      int id = -1;
      if (filter->Add(r->own->pattern(), r->own->options(), &id) != RE2::NoError) {
        filter.reset();
        return;
      }
    }
    filter->Compile(&atoms);
    filter_ok = true;
    // one compiled copy of each pattern: the prefilter's (same pattern, same options)
    for (size_t k = 0; k < rules.size(); k++) {
      rules[k]->re = &filter->GetRE2(int(k));
      rules[k]->own.reset();
    }
  }

  // Index of the first rule that matches text (captures in g), or -1.
  int first_match(re2::StringPiece text, bool prefilter, re2::StringPiece* g) const {
    size_t from = 0;
    if (prefilter && filter_ok) {
      std::string lower(text.data(), text.size());
      for (char& c : lower)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
      std::vector<int> present;
      for (size_t a = 0; a < atoms.size(); a++)
        if (lower.find(atoms[a]) != std::string::npos) present.push_back(int(a));
      int k = filter->FirstMatch(text, present);
      if (k < 0) return -1;
      const Rule& r = *rules[size_t(k)];
      if (r.re->Match(text, 0, text.size(), RE2::UNANCHORED, g, r.ngroups)) return k;
      from = size_t(k);  // (cannot happen: the same pattern) rule by rule from there
    }
    for (size_t k = from; k < rules.size(); k++) {
      const Rule& r = *rules[k];
      if (r.re->Match(text, 0, text.size(), RE2::UNANCHORED, g, r.ngroups)) return int(k);
    }
    return -1;
  }
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

size_t UaParser::rules() const {
  return (browser_ ? browser_->rules.size() : 0) + (os_ ? os_->rules.size() : 0) +
         (device_ ? device_->rules.size() : 0);
}

bool UaParser::load(const std::string& path, std::string* error) {
  std::string text;
  if (!read_file(path, &text, error)) return false;
  return load_text(text, error);
}

bool UaParser::load_text(const std::string& yaml, std::string* error) {
  browser_ = std::make_unique<List>();
  os_ = std::make_unique<List>();
  device_ = std::make_unique<List>();
  skipped_ = 0;
  skipped_rules_.clear();
  // the replacement keys of each list, in the order of Rule::rep
  static const char* const kBrowserKeys[] = {"family_replacement", "v1_replacement", "v2_replacement",
                                             "v3_replacement",     "v4_replacement", nullptr};
  static const char* const kOsKeys[] = {"os_replacement",    "os_v1_replacement", "os_v2_replacement",
                                        "os_v3_replacement", "os_v4_replacement", nullptr};
  static const char* const kDeviceKeys[] = {
      "device_replacement", "brand_replacement", "model_replacement", nullptr, nullptr, nullptr};
  try {
    YAML::Node root = YAML::Load(yaml);
    struct Source {
      const char* name;
      const char* const* keys;
      List* out;
    };
    for (const Source& l :
         {Source{"user_agent_parsers", kBrowserKeys, browser_.get()}, Source{"os_parsers", kOsKeys, os_.get()},
          Source{"device_parsers", kDeviceKeys, device_.get()}}) {
      YAML::Node list = root[l.name];
      if (!list || !list.IsSequence()) continue;
      for (auto item : list) {
        if (!item.IsMap() || !item["regex"]) continue;
        std::string pattern = item["regex"].as<std::string>();
        RE2::Options opts;
        opts.set_log_errors(false);
        opts.set_max_mem(256 << 10);  // per rule: ~1,200 rules live in every backend
        if (auto flag = item["regex_flag"]; flag && flag.as<std::string>() == "i") opts.set_case_sensitive(false);
        auto rule = std::make_unique<Rule>();
        rule->own = std::make_unique<RE2>(pattern, opts);
        rule->re = rule->own.get();
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
        l.out->rules.push_back(std::move(rule));
      }
      l.out->build_filter();
    }
  } catch (const std::exception& e) {
    *error = std::string("cannot read user-agent rules: ") + e.what();
    if (error->size() > 500) error->resize(500);
    return false;
  }
  if (rules() == 0) {
    *error = "no user-agent rule in the file";
    return false;
  }
  return true;
}

// The first matching rule of a browser or OS list: family, then the four version parts.
UaPart parse_versioned(const UaParser::List* list, bool prefilter, std::string_view ua) {
  UaPart p;
  re2::StringPiece text(ua.data(), ua.size());
  re2::StringPiece g[kMaxGroups];
  int k = list ? list->first_match(text, prefilter, g) : -1;
  if (k >= 0) {
    const UaParser::Rule& r = *list->rules[size_t(k)];
    p.family = r.has[0] ? substitute(r.rep[0], g, r.ngroups) : group(g, r.ngroups, 1);
    std::string* out[] = {&p.major, &p.minor, &p.patch, &p.patch_minor};
    for (int v = 0; v < 4; v++)
      *out[v] = r.has[v + 1] ? substitute(r.rep[v + 1], g, r.ngroups) : group(g, r.ngroups, v + 2);
  }
  if (p.family.empty()) p.family = "Other";
  return p;
}

UaPart UaParser::parse_browser(std::string_view ua) const { return parse_versioned(browser_.get(), prefilter_, ua); }

UaPart UaParser::parse_os(std::string_view ua) const { return parse_versioned(os_.get(), prefilter_, ua); }

UaPart UaParser::parse_device(std::string_view ua) const {
  UaPart p;
  re2::StringPiece text(ua.data(), ua.size());
  re2::StringPiece g[kMaxGroups];
  int k = device_ ? device_->first_match(text, prefilter_, g) : -1;
  if (k >= 0) {
    const Rule& r = *device_->rules[size_t(k)];
    p.family = r.has[0] ? substitute(r.rep[0], g, r.ngroups) : group(g, r.ngroups, 1);
    p.brand = r.has[1] ? substitute(r.rep[1], g, r.ngroups) : std::string();
    p.model = r.has[2] ? substitute(r.rep[2], g, r.ngroups) : group(g, r.ngroups, 1);
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
