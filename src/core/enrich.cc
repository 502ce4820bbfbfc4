// See enrich.h.
#include "core/enrich.h"

#include <simdjson.h>

#include <algorithm>
#include <optional>

#include "core/campaign.h"
#include "core/names.h"
#include "core/url.h"

namespace pulse {

namespace dom = simdjson::dom;

const char* enricher_name(int kind) {
  static const char* const kNames[] = {"geoip", "user_agent", "referrer", "campaign"};
  return kind >= 0 && kind < kEnricherKinds ? kNames[kind] : "?";
}

int enricher_kind(std::string_view name) {
  for (int k = 0; k < kEnricherKinds; k++)
    if (name == enricher_name(k)) return k;
  return -1;
}

const std::vector<std::string>& default_inputs(int kind) {
  static const std::vector<std::string> kInputs[] = {
      {"_ip", "ip", "context.ip"},
      {"user_agent", "context.userAgent"},
      {"referrer", "context.page.referrer"},
      {"url", "context.page.url"},
  };
  return kInputs[kind];
}

const std::vector<std::string>& default_url_inputs() { return default_inputs(kEnrichCampaign); }

InputPath::InputPath(std::string path) : full(std::move(path)) {
  size_t a = 0;
  for (;;) {
    size_t dot = full.find('.', a);
    segments.push_back(full.substr(a, dot == std::string::npos ? std::string::npos : dot - a));
    if (dot == std::string::npos) break;
    a = dot + 1;
  }
  normalised = normalize_field_name(segments[0]);
}

std::vector<EnrichSetting> parse_enrich_settings(std::string_view json) {
  std::vector<EnrichSetting> out;
  dom::parser parser;
  dom::element root;
  if (parser.parse(json.data(), json.size(), true).get(root) != simdjson::SUCCESS) return out;
  dom::array rows;
  if (root.get_array().get(rows) != simdjson::SUCCESS) return out;
  for (dom::element row : rows) {
    EnrichSetting s;
    std::string_view sv;
    if (row["enricher"].get_string().get(sv) != simdjson::SUCCESS) continue;
    s.kind = enricher_kind(sv);
    if (s.kind < 0) continue;
    if (row["collection"].get_string().get(sv) == simdjson::SUCCESS) s.collection = std::string(sv);
    bool b = false;
    if (row["enabled"].get_bool().get(b) == simdjson::SUCCESS) s.enabled = b;
    dom::array inputs;
    if (row["inputs"].get_array().get(inputs) == simdjson::SUCCESS) {
      s.has_inputs = true;
      for (dom::element in : inputs)
        if (in.get_string().get(sv) == simdjson::SUCCESS && !sv.empty()) s.inputs.emplace_back(sv);
    }
    dom::array hosts;
    if (row["options"]["internal_hosts"].get_array().get(hosts) == simdjson::SUCCESS) {
      for (dom::element h : hosts)
        if (h.get_string().get(sv) == simdjson::SUCCESS && !sv.empty()) s.internal_hosts.push_back(ascii_lower(sv));
    }
    out.push_back(std::move(s));
  }
  return out;
}

size_t fields_added_at_most(const std::vector<EnrichSetting>& settings) {
  bool on[kEnricherKinds] = {false, false, false, false};
  for (const EnrichSetting& s : settings)
    if (s.enabled && s.kind >= 0 && s.kind < kEnricherKinds) on[s.kind] = true;
  size_t n = 0;
  for (int k = 0; k < kEnricherKinds; k++) n += on[k] ? kEnricherOutputs[k] : 0;
  return n;
}

EnrichPlan plan_for_collection(const std::vector<EnrichSetting>& settings, std::string_view collection) {
  EnrichPlan plan;
  const EnrichSetting* chosen[kEnricherKinds] = {nullptr, nullptr, nullptr, nullptr};
  for (const EnrichSetting& s : settings) {
    if (!s.collection.empty() && s.collection != collection) continue;
    const EnrichSetting*& c = chosen[s.kind];
    if (!c || (c->collection.empty() && !s.collection.empty())) c = &s;
  }
  for (int k = 0; k < kEnricherKinds; k++) {
    const EnrichSetting* s = chosen[k];
    if (!s || !s->enabled) continue;
    plan.on[k] = true;
    for (const std::string& in : s->has_inputs ? s->inputs : default_inputs(k)) plan.inputs[k].emplace_back(in);
    if (k == kEnrichReferrer) plan.internal_hosts = s->internal_hosts;
  }
  // the page URL: the campaign setting's inputs when it names some
  const EnrichSetting* c = chosen[kEnrichCampaign];
  for (const std::string& in : c && c->has_inputs ? c->inputs : default_url_inputs()) plan.url_inputs.emplace_back(in);
  return plan;
}

struct EventEnricher::Impl {
  dom::parser parser;
  // the object field parsed last (one event's "context" serves several inputs)
  const char* parsed_text = nullptr;
  size_t parsed_len = 0;
  bool parsed_ok = false;
  dom::element parsed;
  UrlParts page;                          // the page URL's parts (its host string reused from event to event)
  std::vector<std::string_view> present;  // Output's, reused from event to event
};

EventEnricher::EventEnricher() : impl_(new Impl) {}
EventEnricher::~EventEnricher() = default;

namespace {

// The derived fields one event gets, and the ones it already has.
class Output {
 public:
  // present: a buffer for the names of the event's own '_' fields (kept by the caller, so that
  // no event allocates one)
  Output(EventBatch* batch, Event* ev, size_t most, std::vector<std::string_view>* present)
      : batch_(batch), ev_(ev), present_(*present) {
    ev->fields.reserve(ev->fields.size() + most);
    ev->values.reserve(ev->values.size() + most);
    present_.clear();
    for (const Field& f : ev->fields)
      if (!f.name.empty() && f.name[0] == '_') present_.push_back(f.name);
  }
  void text(std::string_view name, std::string_view value) {
    if (value.empty()) return;
    Value v;
    v.kind = Kind::kString;
    if (!has(name)) v.text = batch_->arena.copy(value);
    add(name, v);
  }
  void number(std::string_view name, double d) {
    Value v;
    v.kind = Kind::kDouble;
    v.d = d;
    add(name, v);
  }
  void integer(std::string_view name, int64_t i) {
    Value v;
    v.kind = Kind::kInt;
    v.i = i;
    v.d = double(i);
    add(name, v);
  }
  void boolean(std::string_view name, bool b) {
    Value v;
    v.kind = Kind::kBool;
    v.b = b;
    add(name, v);
  }

 private:
  bool has(std::string_view name) const { return std::find(present_.begin(), present_.end(), name) != present_.end(); }
  // Appends name = v unless the event already has that field.
  void add(std::string_view name, const Value& v) {
    if (has(name)) return;
    Field f;
    f.raw_name = name;  // the names are string literals: they outlive every batch
    f.name = name;
    f.value = uint32_t(ev_->values.size());
    ev_->values.push_back(v);
    ev_->fields.push_back(f);
  }
  EventBatch* batch_;
  Event* ev_;
  std::vector<std::string_view>& present_;
};

}  // namespace

namespace {

// The first non-empty string among inputs; empty when none. Top-level fields match by the
// name as sent or its normalised form; a dotted path reads into an object field's JSON (the
// value found is copied into the batch's arena: the parser's buffer is reused).
std::string_view find_input(EventBatch* batch, const Event& ev, const std::vector<InputPath>& inputs,
                            EventEnricher::Impl& m);

// "www.shop.example" -> "shop.example"
std::string_view without_www(std::string_view host) { return host.substr(0, 4) == "www." ? host.substr(4) : host; }

std::string_view find_input(EventBatch* batch, const Event& ev, const std::vector<InputPath>& inputs,
                            EventEnricher::Impl& m) {
  for (const InputPath& in : inputs) {
    const bool nested = in.segments.size() > 1;
    const Value* obj = nullptr;
    for (const Field& f : ev.fields) {
      const Value& v = ev.values[f.value];
      if (f.raw_name == in.full || (!nested && f.name == in.normalised)) {
        if (v.kind == Kind::kString && !v.text.empty()) return v.text;
      } else if (nested && !obj && v.kind == Kind::kObject &&
                 (f.raw_name == in.segments[0] || f.name == in.normalised)) {
        obj = &v;
      }
    }
    if (!obj) continue;
    if (m.parsed_text != obj->text.data() || m.parsed_len != obj->text.size()) {
      m.parsed_text = obj->text.data();
      m.parsed_len = obj->text.size();
      m.parsed_ok = m.parser.parse(obj->text.data(), obj->text.size(), true).get(m.parsed) == simdjson::SUCCESS;
    }
    if (!m.parsed_ok) continue;
    dom::element cur = m.parsed;
    bool ok = true;
    for (size_t s = 1; s < in.segments.size() && ok; s++) {
      dom::object o;
      ok = cur.get_object().get(o) == simdjson::SUCCESS && o.at_key(in.segments[s]).get(cur) == simdjson::SUCCESS;
    }
    std::string_view sv;
    if (ok && cur.get_string().get(sv) == simdjson::SUCCESS && !sv.empty()) return batch->arena.copy(sv);
  }
  return std::string_view();
}

}  // namespace

void EventEnricher::enrich(EventBatch* batch, uint32_t k, const EnrichPlan& plan, const EnrichEngines& engines) {
  Event& ev = batch->events[k];
  if (!ev.error.empty()) return;
  counts_.events++;
  Impl& m = *impl_;
  m.parsed_text = nullptr;
  m.parsed_len = 0;
  // inputs are read before any output is appended (values may reallocate); all stay valid
  std::string_view ip, agent, referrer, url, campaign_url;
  if (plan.on[kEnrichGeo] && engines.geo) ip = find_input(batch, ev, plan.inputs[kEnrichGeo], m);
  if (plan.on[kEnrichUserAgent] && engines.ua) agent = find_input(batch, ev, plan.inputs[kEnrichUserAgent], m);
  if (plan.on[kEnrichReferrer] && engines.referrer) {
    referrer = find_input(batch, ev, plan.inputs[kEnrichReferrer], m);
    if (!referrer.empty()) url = find_input(batch, ev, plan.url_inputs, m);
  }
  if (plan.on[kEnrichCampaign]) campaign_url = find_input(batch, ev, plan.inputs[kEnrichCampaign], m);

  size_t most = (ip.empty() ? 0 : kEnricherOutputs[kEnrichGeo]) +
                (agent.empty() ? 0 : kEnricherOutputs[kEnrichUserAgent]) +
                (referrer.empty() ? 0 : kEnricherOutputs[kEnrichReferrer]) +
                (campaign_url.empty() ? 0 : kEnricherOutputs[kEnrichCampaign]);
  if (most == 0) return;
  Output out(batch, &ev, most, &m.present);
  if (!ip.empty()) {
    counts_.lookups[kEnrichGeo]++;
    if (const GeoInfo* g = engines.geo->lookup_cached(ip)) {
      out.text("_country_code", g->country_code);
      out.text("_region", g->region);
      out.text("_city", g->city);
      if (g->has_location) {
        out.number("_latitude", g->latitude);
        out.number("_longitude", g->longitude);
      }
      out.text("_timezone", g->timezone);
      if (g->has_asn) out.integer("_asn", g->asn);
      out.text("_as_org", g->as_org);
      out.text("_isp", g->isp);
    }
  }
  if (!agent.empty()) {
    counts_.lookups[kEnrichUserAgent]++;
    const UaColumns* ua = engines.ua_cache ? engines.ua_cache->get(agent) : nullptr;
    std::unique_ptr<UaColumns> uncached;
    if (!ua) {
      UaColumns parsed(engines.ua->parse(agent));
      if (engines.ua_cache) {
        ua = engines.ua_cache->put(agent, std::move(parsed));
      } else {
        uncached = std::make_unique<UaColumns>(std::move(parsed));
        ua = uncached.get();
      }
    }
    out.text("_browser", ua->browser);
    out.text("_browser_version", ua->browser_version);
    out.text("_os", ua->os);
    out.text("_os_version", ua->os_version);
    out.text("_device", ua->device);
    out.text("_device_brand", ua->device_brand);
    out.boolean("_is_bot", ua->bot);
  }
  std::optional<Campaign> campaign;  // of the page URL, parsed once for both enrichers
  if (!referrer.empty()) {
    counts_.lookups[kEnrichReferrer]++;
    const RefererInfo* ref = engines.referrer_cache ? engines.referrer_cache->get(referrer) : nullptr;
    RefererInfo parsed;
    if (!ref) {
      parsed = engines.referrer->parse(referrer);
      ref = engines.referrer_cache ? engines.referrer_cache->put(referrer, std::move(parsed)) : &parsed;
    }
    if (ref->valid) {
      bool internal = false;
      for (const std::string& h : plan.internal_hosts) internal = internal || host_under(ref->host, h);
      if (!internal && !url.empty() && split_url(url, &m.page))
        internal = host_under(without_www(ref->host), without_www(m.page.host));
      std::string_view medium = ref->medium.empty() ? std::string_view("unknown") : std::string_view(ref->medium);
      if (internal) {
        medium = "internal";
      } else if (url.find('?') != std::string_view::npos) {
        campaign = parse_campaign(url);
        if (campaign->paid_click || is_paid_medium(campaign->medium)) medium = "paid";
      }
      out.text("_referrer_medium", medium);
      if (!internal) {
        out.text("_referrer_source", ref->source);
        out.text("_referrer_term", ref->term);
      }
      out.text("_referrer_domain", ref->host);
    }
  }
  if (!campaign_url.empty() && campaign_url.find('?') != std::string_view::npos) {
    counts_.lookups[kEnrichCampaign]++;
    if (!campaign || campaign_url != url) campaign = parse_campaign(campaign_url);
    out.text("_utm_source", campaign->source);
    out.text("_utm_medium", campaign->medium);
    out.text("_utm_campaign", campaign->name);
    out.text("_utm_term", campaign->term);
    out.text("_utm_content", campaign->content);
  }
}

}  // namespace pulse
