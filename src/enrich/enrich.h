// Enrichment at ingestion, the Postgres side (docs/enrichment.md): per-project settings from
// pulse.enrichment_settings, the data files named by GUCs (loaded once per backend, reloaded
// when they change on disk), and the hook the batch writer calls before schema evolution.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/event.h"

namespace pulse::enrich {

// Appends the enrichment fields of project's settings to the events of groups (collection ->
// indexes of its events in batch). A data file that is missing or broken skips its enricher
// (one WARNING per distinct problem, pulse.enrichment_status shows it); events are never lost.
void apply(const std::string& project, const std::map<std::string, std::vector<uint32_t>>& groups, EventBatch* batch);

// How many fields apply may append to an event of project: the outputs of the enrichers some
// setting of project enables, 0 when none does (a decoder reserves this room in each event).
size_t fields_added_at_most(const std::string& project);

}  // namespace pulse::enrich
