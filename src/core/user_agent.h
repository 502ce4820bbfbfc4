// User-agent parsing over the uap-core rules (regexes.yaml, docs/enrichment.md) with RE2:
// browser, operating system and device, with the reference implementation's semantics (first
// matching rule wins; $1..$9 in replacements; "Other" when nothing matches).
#pragma once
#include "core/no_postgres.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pulse {

struct UaPart {
  std::string family;                            // "Other" when no rule matched
  std::string major, minor, patch, patch_minor;  // empty: absent
  std::string brand, model;                      // devices only
  // "major.minor.patch[.patch_minor]" of the parts present (empty when there is no major)
  std::string version() const;
};

struct UaInfo {
  UaPart browser, os, device;
  bool bot = false;  // the device is a spider (uap-core's family for crawlers)
};

// The enrichment columns of one user agent, computed once (the per-backend cache's value).
struct UaColumns {
  std::string browser, browser_version, os, os_version, device, device_brand;
  bool bot = false;
  explicit UaColumns(const UaInfo& u)
      : browser(u.browser.family),
        browser_version(u.browser.version()),
        os(u.os.family),
        os_version(u.os.version()),
        device(u.device.family),
        device_brand(u.device.brand),
        bot(u.bot) {}
};

class UaParser {
 public:
  UaParser();
  ~UaParser();
  // Each list also gets a literal prefilter (RE2's FilteredRE2): only the rules whose required
  // substrings occur in the agent are tried, in rule order, so the first match is the reference
  // implementation's. Off (or when it cannot be built): every rule in turn.
  void set_prefilter(bool on) { prefilter_ = on; }
  UaParser(const UaParser&) = delete;
  UaParser& operator=(const UaParser&) = delete;

  // Reads regexes.yaml. False with *error set when the file cannot be read or has no usable
  // rule; rules RE2 cannot compile are skipped and counted (skipped()).
  bool load(const std::string& path, std::string* error);
  bool load_text(const std::string& yaml, std::string* error);

  UaInfo parse(std::string_view ua) const;
  UaPart parse_browser(std::string_view ua) const;
  UaPart parse_os(std::string_view ua) const;
  UaPart parse_device(std::string_view ua) const;

  size_t rules() const;
  size_t skipped() const { return skipped_; }
  const std::vector<std::string>& skipped_rules() const { return skipped_rules_; }

  struct Rule;  // one compiled rule (user_agent.cc)
  struct List;  // the rules of one kind and one automaton over all of them (user_agent.cc)

 private:
  std::unique_ptr<List> browser_, os_, device_;
  size_t skipped_ = 0;
  bool prefilter_ = true;
  std::vector<std::string> skipped_rules_;  // first few regexes RE2 refused, with the reason
};

}  // namespace pulse
