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

// While set, listener(arg, message) hears every skip of an enricher whose file cannot be
// loaded (message: 'enrichment "geoip" is skipped: ...'), at each use, not only the first: a
// Kafka consumer shows it in pulse.kafka_status.last_error, where the WARNING alone would reach
// only the server log. nullptr unsets.
using SkipListener = void (*)(void* arg, const char* message);
void set_skip_listener(SkipListener listener, void* arg);

}  // namespace pulse::enrich
