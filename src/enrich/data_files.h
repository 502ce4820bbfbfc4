// The enrichers' data files (docs/enrichment.md): paths from superuser-only GUCs
// (pulse.geoip_database, pulse.user_agent_regexes, pulse.referrer_data), loaded once per
// backend, checked (stat: device, inode, size, mtime) at every use and reloaded when they
// change; per-backend LRU caches for user agents and referrers. A file that cannot be loaded
// disables its enricher with one WARNING per distinct problem; pulse.enrichment_status shows
// the state.
#pragma once

#include "core/enrich.h"

namespace pulse::enrich {

// The loaded engines for the enrichers in wanted (files checked and reloaded as needed); an
// engine whose file cannot be loaded is null.
EnrichEngines current_engines(const bool wanted[kEnricherKinds]);

}  // namespace pulse::enrich
