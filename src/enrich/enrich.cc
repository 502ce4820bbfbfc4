// See enrich.h: the writer's hook, and the settings functions' helpers.
#include "enrich/enrich.h"

#include "core/enrich.h"
#include "enrich/data_files.h"
#include "pg/spi.h"

namespace pulse::enrich {

namespace {

EventEnricher& enricher() {
  static EventEnricher* e = new EventEnricher();  // lives as long as the backend
  return *e;
}

}  // namespace

void apply(const std::string& project, const std::map<std::string, std::vector<uint32_t>>& groups, EventBatch* batch) {
  if (groups.empty()) return;
  std::optional<std::string> json = pg::spi_value(
      "SELECT json_agg(json_build_object('collection', collection, 'enricher', enricher, 'enabled', enabled,"
      " 'inputs', inputs, 'options', options))::text FROM pulse.enrichment_settings WHERE project = $1",
      {pg::Arg::text(project)});
  if (!json) return;  // no setting: nothing to do (the common case costs one index probe)
  std::vector<EnrichSetting> settings = parse_enrich_settings(*json);
  bool wanted[kEnricherKinds] = {false, false, false, false};
  std::vector<std::pair<const std::vector<uint32_t>*, EnrichPlan>> plans;
  for (const auto& [coll, events] : groups) {
    EnrichPlan plan = plan_for_collection(settings, coll);
    if (!plan.any()) continue;
    for (int k = 0; k < kEnricherKinds; k++) wanted[k] = wanted[k] || plan.on[k];
    plans.emplace_back(&events, std::move(plan));
  }
  if (plans.empty()) return;
  EnrichEngines engines = current_engines(wanted);
  EventEnricher& e = enricher();
  for (auto& [events, plan] : plans) {
    pg::check_interrupts();
    for (uint32_t k : *events) e.enrich(batch, k, plan, engines);
  }
}

}  // namespace pulse::enrich
