// See enrich.h: the writer's hook, and the settings functions' helpers.
#include "enrich/enrich.h"

#include "core/enrich.h"
#include "enrich/data_files.h"
#include "pg/spi.h"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"
}

namespace pulse::enrich {

namespace {

EventEnricher& enricher() {
  static EventEnricher* e = new EventEnricher();  // lives as long as the backend
  return *e;
}

// The project's settings as a JSON array (NULL: none): one index probe through a plan prepared
// once per backend (the plan cache replans it after DDL), so that ingestion calls of projects
// without enrichment pay next to nothing.
std::optional<std::string> read_settings(const std::string& project) {
  static SPIPlanPtr plan = nullptr;
  const char* p = project.c_str();
  char* json = nullptr;
  pg::call([&] {
    if (!plan) {
      Oid types[1] = {TEXTOID};
      SPIPlanPtr fresh = SPI_prepare(
          "SELECT json_agg(json_build_object('collection', collection, 'enricher', enricher, 'enabled', enabled,"
          " 'inputs', inputs, 'options', options))::text FROM pulse.enrichment_settings WHERE project = $1",
          1, types);
      if (!fresh) elog(ERROR, "SPI_prepare failed (%d) for the enrichment settings", SPI_result);
      if (SPI_keepplan(fresh) != 0) elog(ERROR, "SPI_keepplan failed for the enrichment settings");
      plan = fresh;
    }
    Datum values[1] = {CStringGetTextDatum(p)};
    int rc = SPI_execute_plan(plan, values, NULL, false, 1);
    if (rc < 0) elog(ERROR, "SPI_execute_plan failed (%d) for the enrichment settings", rc);
    if (SPI_processed > 0) json = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  });
  if (!json) return std::nullopt;
  return std::string(json);
}

}  // namespace

void apply(const std::string& project, const std::map<std::string, std::vector<uint32_t>>& groups, EventBatch* batch) {
  if (groups.empty()) return;
  std::optional<std::string> json = read_settings(project);
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
    for (size_t i = 0; i < events->size(); i++) {
      prefetch_events_ahead(*batch, *events, i, true);
      e.enrich(batch, (*events)[i], plan, engines);
    }
  }
}

size_t fields_added_at_most(const std::string& project) {
  std::optional<std::string> json = read_settings(project);
  return json ? fields_added_at_most(parse_enrich_settings(*json)) : 0;
}

}  // namespace pulse::enrich
