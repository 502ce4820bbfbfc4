// Enrichment of decoded events (docs/enrichment.md): geo-IP, user agent, referrer and UTM
// campaign fields derived from input fields of the event and appended to it as ordinary fields
// (_country_code, _browser, _referrer_medium, _utm_source ...) before schema evolution, so
// they become typed columns like any field. A field the event already carries is never
// overwritten. Pure C++: the Postgres side (src/enrich) loads the data files and the settings.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/geoip.h"
#include "core/lru_cache.h"
#include "core/referer.h"
#include "core/user_agent.h"

namespace pulse {

enum EnricherKind : int { kEnrichGeo = 0, kEnrichUserAgent = 1, kEnrichReferrer = 2, kEnrichCampaign = 3 };
constexpr int kEnricherKinds = 4;
// Most fields each enricher appends to one event (names.cc lists them all), and all four.
constexpr size_t kEnricherOutputs[kEnricherKinds] = {9, 7, 4, 5};
constexpr size_t kEnrichedFieldsAtMost = 25;
static_assert(kEnricherOutputs[0] + kEnricherOutputs[1] + kEnricherOutputs[2] + kEnricherOutputs[3] ==
              kEnrichedFieldsAtMost);

// "geoip", "user_agent", "referrer", "campaign"
const char* enricher_name(int kind);
// The kind of a name above; -1 when unknown.
int enricher_kind(std::string_view name);
// The input fields an enricher reads when its setting names none, in order of preference.
const std::vector<std::string>& default_inputs(int kind);
// The page-URL inputs (campaign's defaults): the referrer enricher reads them to tell internal
// and paid traffic.
const std::vector<std::string>& default_url_inputs();

// An input field: a top-level name ("ip") or a dotted path into nested objects
// ("context.page.url").
struct InputPath {
  std::string full;                   // as given
  std::string normalised;             // the normalised form of the top-level name (or of
                                      // the first segment of a path) also matches
  std::vector<std::string> segments;  // split at '.'
  explicit InputPath(std::string path);
};

// What runs for one collection.
struct EnrichPlan {
  bool on[kEnricherKinds] = {false, false, false, false};
  std::vector<InputPath> inputs[kEnricherKinds];  // referrer: the referrer fields
  std::vector<InputPath> url_inputs;              // the page URL (referrer: internal, paid)
  std::vector<std::string> internal_hosts;        // referrer: the project's own hosts (lower-case)
  bool any() const { return on[0] || on[1] || on[2] || on[3]; }
};

// The loaded data and the per-backend caches; a null engine skips its enricher.
struct EnrichEngines {
  GeoDb* geo = nullptr;  // (its record cache changes on lookups)
  const UaParser* ua = nullptr;
  const RefererParser* referrer = nullptr;
  LruCache<UaColumns>* ua_cache = nullptr;
  LruCache<RefererInfo>* referrer_cache = nullptr;
};

// Lookups done per enricher (cache hits included).
struct EnrichCounts {
  uint64_t lookups[kEnricherKinds] = {0, 0, 0, 0};
  uint64_t events = 0;
};

// One row of pulse.enrichment_settings.
struct EnrichSetting {
  std::string collection;  // "" = every collection of the project
  int kind = -1;
  bool enabled = false;
  bool has_inputs = false;  // false: the defaults
  std::vector<std::string> inputs;
  std::vector<std::string> internal_hosts;  // referrer option
};

// The settings of a project as the JSON array the catalog query gives
// ([{"collection":..,"enricher":..,"enabled":..,"inputs":[..]|null,"options":{..}}, ...]).
// Rows that do not parse are ignored.
std::vector<EnrichSetting> parse_enrich_settings(std::string_view json);

// Most fields the settings can append to one event: the outputs of every enricher that some
// row enables (0 when none does).
size_t fields_added_at_most(const std::vector<EnrichSetting>& settings);

// What runs for collection: per enricher, the collection's own row, else the project's.
EnrichPlan plan_for_collection(const std::vector<EnrichSetting>& settings, std::string_view collection);

class EventEnricher {
 public:
  EventEnricher();
  ~EventEnricher();
  // Appends the derived fields of plan to event k of batch (strings in the batch's arena).
  void enrich(EventBatch* batch, uint32_t k, const EnrichPlan& plan, const EnrichEngines& engines);
  const EnrichCounts& counts() const { return counts_; }
  struct Impl;  // reused parser state (enrich.cc)

 private:
  std::unique_ptr<Impl> impl_;
  EnrichCounts counts_;
};

}  // namespace pulse
