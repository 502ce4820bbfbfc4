// bench/enrich/lookups: lookups/s of each enricher alone, without Postgres, over the events
// bench/enrich/run.sh generated: the enrichment step exactly as ingestion runs it (inputs
// found, lookups, derived fields appended), with warm per-backend caches as in steady traffic,
// and the parses the caches save (a user agent through ~1,200 uap-core rules, a referrer).
//   lookups GEOIP.mmdb UAP_REGEXES.yaml REFERERS.yml CHUNK.ndjson...
// Built by run.sh from the extension's own objects (src/core/*.o).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/enrich.h"
#include "core/json_decode.h"
#include "core/text_file.h"

using namespace pulse;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<EnrichSetting> only(int kind) {
  std::string js = std::string("[{\"collection\":\"\",\"enricher\":\"") + enricher_name(kind) +
                   "\",\"enabled\":true,\"inputs\":null,\"options\":{\"internal_hosts\":[\"shop.example\"]}}]";
  return parse_enrich_settings(js);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s GEOIP.mmdb REGEXES.yaml REFERERS.yml CHUNK.ndjson...\n", argv[0]);
    return 2;
  }
  std::string err;
  GeoDb geo;
  UaParser ua;
  RefererParser ref;
  if (!geo.open(argv[1], &err) || !ua.load(argv[2], &err) || !ref.load(argv[3], &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  std::vector<std::string> texts;
  for (int k = 4; k < argc; k++) {
    std::string t;
    if (!read_file(argv[k], &t, &err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return 1;
    }
    texts.push_back(std::move(t));
  }
  LruCache<UaColumns> ua_cache(10000);
  LruCache<RefererInfo> ref_cache(10000);
  EnrichEngines engines;
  engines.geo = &geo;
  engines.ua = &ua;
  engines.referrer = &ref;
  engines.ua_cache = &ua_cache;
  engines.referrer_cache = &ref_cache;
  JsonDecoder decoder;
  JsonDecodeOptions opts;
  for (int kind = 0; kind < kEnricherKinds; kind++) {
    EnrichPlan plan = plan_for_collection(only(kind), "events");
    double spent = 0;
    uint64_t lookups = 0;
    for (int pass = 0; pass < 2; pass++) {  // the first pass fills the caches
      for (const std::string& t : texts) {
        EventBatch batch;
        decoder.decode_payload(t, opts, &batch);
        EventEnricher e;
        double t0 = now();
        for (uint32_t k = 0; k < batch.events.size(); k++) e.enrich(&batch, k, plan, engines);
        if (pass == 1) {
          spent += now() - t0;
          lookups += e.counts().lookups[kind];
        }
      }
    }
    std::printf("%-11s alone: %10.0f lookups/s (%.2f us each, warm caches)\n", enricher_name(kind),
                double(lookups) / spent, 1e6 * spent / double(lookups));
  }
  // what the caches save: every distinct agent / referrer parsed once
  std::vector<std::string> agents, referrers;
  {
    LruCache<int> seen_a(1 << 20), seen_r(1 << 20);
    for (const std::string& t : texts) {
      EventBatch batch;
      decoder.decode_payload(t, opts, &batch);
      for (const Event& ev : batch.events)
        for (const Field& f : ev.fields) {
          const Value& v = ev.values[f.value];
          if (v.kind != Kind::kString) continue;
          if (f.name == "user_agent" && !seen_a.get(v.text))
            agents.emplace_back(*seen_a.put(v.text, 0) == 0 ? v.text : "");
          if (f.name == "referrer" && !seen_r.get(v.text))
            referrers.emplace_back(*seen_r.put(v.text, 0) == 0 ? v.text : "");
        }
    }
  }
  double t0 = now();
  for (const std::string& a : agents) (void)ua.parse(a);
  double ua_s = now() - t0;
  t0 = now();
  for (const std::string& r : referrers) (void)ref.parse(r);
  double ref_s = now() - t0;
  std::printf("uncached parses: user agent %.0f/s (%zu distinct, %zu rules), referrer %.0f/s (%zu distinct)\n",
              double(agents.size()) / ua_s, agents.size(), ua.rules(), double(referrers.size()) / ref_s,
              referrers.size());
  return 0;
}
