// See enrich.h.
#include "core/enrich.h"

#include <simdjson.h>

#include <algorithm>

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
  if (segments.size() == 1) normalised = normalize_field_name(full);
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
  std::string scratch;  // a nested string value found
};

EventEnricher::EventEnricher() : impl_(new Impl) {}
EventEnricher::~EventEnricher() = default;

namespace {

// The derived fields one event gets, and the ones it already has.
class Output {
 public:
  Output(EventBatch* batch, Event* ev) : batch_(batch), ev_(ev) {
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
  bool has(std::string_view name) const {
    return std::find(present_.begin(), present_.end(), name) != present_.end();
  }
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
  std::vector<std::string_view> present_;
};

}  // namespace

namespace {

// The first non-empty string among inputs; empty when none. Top-level fields match by the
// name as sent or its normalised form; a dotted path reads into an object field's JSON.
std::string_view find_input(const Event& ev, const std::vector<InputPath>& inputs, dom::parser& parser,
                            const char** parsed_text, size_t* parsed_len, bool* parsed_ok, dom::element* parsed) {
  for (const InputPath& in : inputs) {
    for (const Field& f : ev.fields) {
      if (f.raw_name != in.full && (in.normalised.empty() || f.name != in.normalised)) continue;
      const Value& v = ev.values[f.value];
      if (v.kind == Kind::kString && !v.text.empty()) return v.text;
    }
    if (in.segments.size() < 2) continue;
    const Value* obj = nullptr;
    std::string top_norm = normalize_field_name(in.segments[0]);
    for (const Field& f : ev.fields) {
      if (f.raw_name != in.segments[0] && f.name != top_norm) continue;
      if (ev.values[f.value].kind == Kind::kObject) obj = &ev.values[f.value];
      break;
    }
    if (!obj) continue;
    if (*parsed_text != obj->text.data() || *parsed_len != obj->text.size()) {
      *parsed_text = obj->text.data();
      *parsed_len = obj->text.size();
      *parsed_ok = parser.parse(obj->text.data(), obj->text.size(), true).get(*parsed) == simdjson::SUCCESS;
    }
    if (!*parsed_ok) continue;
    dom::element cur = *parsed;
    bool ok = true;
    for (size_t s = 1; s < in.segments.size() && ok; s++) {
      dom::object o;
      ok = cur.get_object().get(o) == simdjson::SUCCESS && o.at_key(in.segments[s]).get(cur) == simdjson::SUCCESS;
    }
    std::string_view sv;
    if (ok && cur.get_string().get(sv) == simdjson::SUCCESS && !sv.empty()) return sv;
  }
  return std::string_view();
}

// "www.shop.example" -> "shop.example"
std::string_view without_www(std::string_view host) { return host.substr(0, 4) == "www." ? host.substr(4) : host; }

}  // namespace

void EventEnricher::enrich(EventBatch* batch, uint32_t k, const EnrichPlan& plan, const EnrichEngines& engines) {
  Event& ev = batch->events[k];
  if (!ev.error.empty()) return;
  counts_.events++;
  Impl& m = *impl_;
  m.parsed_text = nullptr;
  m.parsed_len = 0;
  auto input = [&](const std::vector<InputPath>& inputs) {
    return find_input(ev, inputs, m.parser, &m.parsed_text, &m.parsed_len, &m.parsed_ok, &m.parsed);
  };
  // inputs are read before any output is appended (values may reallocate)
  std::string_view ip, agent, referrer, url;
  if (plan.on[kEnrichGeo] && engines.geo) ip = input(plan.inputs[kEnrichGeo]);
  if (plan.on[kEnrichUserAgent] && engines.ua) agent = input(plan.inputs[kEnrichUserAgent]);
  if (plan.on[kEnrichReferrer] && engines.referrer) {
    referrer = input(plan.inputs[kEnrichReferrer]);
    if (!referrer.empty()) url = input(plan.url_inputs);
  }
  std::string_view campaign_url;
  if (plan.on[kEnrichCampaign]) campaign_url = input(plan.inputs[kEnrichCampaign]);
  // nested strings point into the parser's buffer: copy them before the next parse
  std::string ip_s(ip), agent_s(agent), referrer_s(referrer), url_s(url), campaign_s(campaign_url);

  Output out(batch, &ev);
  if (!ip_s.empty()) {
    counts_.lookups[kEnrichGeo]++;
    GeoInfo g;
    if (engines.geo->lookup(ip_s, &g)) {
      out.text("_country_code", g.country_code);
      out.text("_region", g.region);
      out.text("_city", g.city);
      if (g.has_location) {
        out.number("_latitude", g.latitude);
        out.number("_longitude", g.longitude);
      }
      out.text("_timezone", g.timezone);
      if (g.has_asn) out.integer("_asn", g.asn);
      out.text("_as_org", g.as_org);
      out.text("_isp", g.isp);
    }
  }
  if (!agent_s.empty()) {
    counts_.lookups[kEnrichUserAgent]++;
    const UaInfo* ua = engines.ua_cache ? engines.ua_cache->get(agent_s) : nullptr;
    UaInfo parsed;
    if (!ua) {
      parsed = engines.ua->parse(agent_s);
      ua = engines.ua_cache ? engines.ua_cache->put(agent_s, std::move(parsed)) : &parsed;
    }
    out.text("_browser", ua->browser.family);
    out.text("_browser_version", ua->browser.version());
    out.text("_os", ua->os.family);
    out.text("_os_version", ua->os.version());
    out.text("_device", ua->device.family);
    out.text("_device_brand", ua->device.brand);
    out.boolean("_is_bot", ua->bot);
  }
  if (!referrer_s.empty()) {
    counts_.lookups[kEnrichReferrer]++;
    const RefererInfo* ref = engines.referrer_cache ? engines.referrer_cache->get(referrer_s) : nullptr;
    RefererInfo parsed;
    if (!ref) {
      parsed = engines.referrer->parse(referrer_s);
      ref = engines.referrer_cache ? engines.referrer_cache->put(referrer_s, std::move(parsed)) : &parsed;
    }
    if (ref->valid) {
      UrlParts page;
      bool internal = host_matches(ref->host, plan.internal_hosts);
      if (!internal && !url_s.empty() && split_url(url_s, &page))
        internal = host_matches(without_www(ref->host), {std::string(without_www(page.host))}) ||
                   host_matches(ref->host, {page.host});
      std::string_view medium = ref->medium.empty() ? std::string_view("unknown") : std::string_view(ref->medium);
      if (internal) {
        medium = "internal";
      } else if (!url_s.empty()) {
        Campaign c = parse_campaign(url_s);
        if (c.paid_click || is_paid_medium(c.medium)) medium = "paid";
      }
      out.text("_referrer_medium", medium);
      if (!internal) {
        out.text("_referrer_source", ref->source);
        out.text("_referrer_term", ref->term);
      }
      out.text("_referrer_domain", ref->host);
    }
  }
  if (!campaign_s.empty()) {
    counts_.lookups[kEnrichCampaign]++;
    Campaign c = parse_campaign(campaign_s);
    out.text("_utm_source", c.source);
    out.text("_utm_medium", c.medium);
    out.text("_utm_campaign", c.name);
    out.text("_utm_term", c.term);
    out.text("_utm_content", c.content);
  }
}

}  // namespace pulse
