// Unit tests of the enrichers' pure parts: URL and query parsing (core/url.cc), UTM campaigns
// (core/campaign.cc), the referrer matcher over the Snowplow data (core/referer.cc), IP parsing
// and a MaxMind database built by test/enrich/make_mmdb.pl (core/geoip.cc), the LRU cache, the
// settings and the event-level enricher (core/enrich.cc).
#include "core/enrich.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "core/campaign.h"
#include "core/json_decode.h"
#include "core/url.h"

namespace pulse {
namespace {

const char* kReferers = "/usr/share/rubygems-integration/all/gems/referer-parser-0.3.0/data/referers.yml";

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

TEST(Url, Split) {
  UrlParts u;
  ASSERT_TRUE(split_url("HTTPS://user:pw@WWW.Google.COM.:443/search?q=a+b&x=1#frag", &u));
  EXPECT_EQ(u.host, "www.google.com");
  EXPECT_EQ(u.path, "/search");
  EXPECT_EQ(u.query, "q=a+b&x=1");
  ASSERT_TRUE(split_url("//cdn.example/x", &u));
  EXPECT_EQ(u.host, "cdn.example");
  ASSERT_TRUE(split_url("http://[2001:db8::1]:8080/", &u));
  EXPECT_EQ(u.host, "[2001:db8::1]");
  EXPECT_FALSE(split_url("not a url", &u));
  EXPECT_FALSE(split_url("/relative?x=1", &u));
  EXPECT_FALSE(split_url("http:///nohost", &u));
  EXPECT_FALSE(split_url("1http://x", &u));
  EXPECT_FALSE(split_url("", &u));
}

TEST(Url, QueryDecoding) {
  auto p = query_params("a=1&b=x%20y+z&&c&d=%E2%82%AC;e=%ZZ");
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[1].second, "x y z");
  EXPECT_EQ(p[2].first, "c");
  EXPECT_EQ(p[2].second, "");
  EXPECT_EQ(p[3].second, "\xE2\x82\xAC");
  EXPECT_EQ(p[4].second, "%ZZ");
  // invalid UTF-8 or NUL once decoded: kept as sent
  EXPECT_EQ(url_decode("%FF%FE"), "%FF%FE");
  EXPECT_EQ(url_decode("a%00b"), "a%00b");
  EXPECT_EQ(url_query("/p?x=1#y=2"), "x=1");
  EXPECT_EQ(url_query("/p#y?=2"), "");
}

TEST(Campaign, UtmAndClickIds) {
  Campaign c = parse_campaign(
      "https://shop.example/?UTM_Source=news&utm_medium=email&utm_campaign=spring%20sale"
      "&utm_term=shoes&utm_content=hero&utm_source=second");
  EXPECT_EQ(c.source, "news");
  EXPECT_EQ(c.medium, "email");
  EXPECT_EQ(c.name, "spring sale");
  EXPECT_EQ(c.term, "shoes");
  EXPECT_EQ(c.content, "hero");
  EXPECT_FALSE(c.paid_click);
  c = parse_campaign("/landing?gclid=abc");
  EXPECT_EQ(c.source, "google");
  EXPECT_EQ(c.medium, "paid");
  EXPECT_TRUE(c.paid_click);
  c = parse_campaign("/landing?fbclid=abc&utm_source=fb_ads");
  EXPECT_EQ(c.source, "fb_ads");
  EXPECT_EQ(c.medium, "paid");
  c = parse_campaign("/landing?gclid=");
  EXPECT_FALSE(c.any());
  EXPECT_FALSE(parse_campaign("https://shop.example/").any());
  EXPECT_TRUE(is_paid_medium("CPC"));
  EXPECT_TRUE(is_paid_medium("paid_social"));
  EXPECT_FALSE(is_paid_medium("email"));
}

TEST(Referer, SmallFile) {
  RefererParser p;
  std::string err;
  ASSERT_TRUE(p.load_text(R"(
search:
  Google:
    parameters: [q]
    domains: [google.com, google.co.uk]
  Google Images:
    parameters: [q]
    domains: [google.com/imgres]
social:
  Facebook:
    domains: [facebook.com, m.facebook.com]
)",
                          &err))
      << err;
  RefererInfo r = p.parse("https://www.google.co.uk/search?hl=en&q=red%20shoes");
  EXPECT_TRUE(r.valid);
  EXPECT_EQ(r.host, "www.google.co.uk");
  EXPECT_EQ(r.medium, "search");
  EXPECT_EQ(r.source, "Google");
  EXPECT_EQ(r.term, "red shoes");
  r = p.parse("https://google.com/imgres?q=cat");
  EXPECT_EQ(r.source, "Google Images");
  r = p.parse("https://l.facebook.com/l.php?u=x");
  EXPECT_EQ(r.medium, "social");
  EXPECT_EQ(r.source, "Facebook");
  EXPECT_EQ(r.term, "");
  r = p.parse("https://blog.example/post");
  EXPECT_TRUE(r.valid);
  EXPECT_EQ(r.medium, "");
  EXPECT_FALSE(p.parse("garbage").valid);
  EXPECT_TRUE(host_under("www.shop.example", "shop.example"));
  EXPECT_TRUE(host_under("shop.example", "shop.example"));
  EXPECT_FALSE(host_under("notshop.example", "shop.example"));
  EXPECT_FALSE(host_under("shop.example", ""));
  EXPECT_FALSE(p.load_text("[1, 2]", &err));
  EXPECT_FALSE(p.load("/nonexistent/referers.yml", &err));
  EXPECT_NE(err.find("cannot open"), std::string::npos);
}

TEST(Referer, SnowplowData) {
  if (!exists(kReferers)) GTEST_SKIP() << "ruby-referer-parser not installed";
  RefererParser p;
  std::string err;
  ASSERT_TRUE(p.load(kReferers, &err)) << err;
  EXPECT_GT(p.entries(), 1000u);
  struct Case {
    const char *url, *medium, *source, *term;
  } cases[] = {
      {"http://www.google.com/search?q=gateway+oracle+cards+denise+linn&hl=en", "search", "Google",
       "gateway oracle cards denise linn"},
      {"https://www.bing.com/search?q=pg_pulse", "search", "Bing", "pg_pulse"},
      {"https://yandex.ru/search/?text=postgres", "search", "Yandex", "postgres"},
      {"https://www.facebook.com/", "social", "Facebook", ""},
      {"https://twitter.com/someone", "social", "Twitter", ""},
      {"https://mail.google.com/mail/u/0/", "email", "Gmail", ""},
      {"https://support.google.com/x", "unknown", "Google", ""},
      {"https://www.example.org/", "", "", ""},
  };
  for (const Case& c : cases) {
    RefererInfo r = p.parse(c.url);
    EXPECT_EQ(r.medium, c.medium) << c.url;
    EXPECT_EQ(r.source, c.source) << c.url;
    EXPECT_EQ(r.term, c.term) << c.url;
  }
}

TEST(Lru, BoundedAndRecent) {
  LruCache<int> c(2);
  c.put("a", 1);
  c.put("b", 2);
  ASSERT_NE(c.get("a"), nullptr);  // a is now the most recent
  c.put("c", 3);                   // evicts b
  EXPECT_EQ(c.get("b"), nullptr);
  EXPECT_EQ(*c.get("a"), 1);
  EXPECT_EQ(*c.get("c"), 3);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.misses(), 1u);
  c.put("a", 10);
  EXPECT_EQ(*c.get("a"), 10);
  c.set_capacity(1);
  c.put("d", 4);
  EXPECT_EQ(c.size(), 1u);
}

TEST(GeoIp, ParseAndPrivate) {
  bool v6;
  unsigned char a[16];
  EXPECT_TRUE(parse_ip(" 81.2.69.160 ", &v6, a));
  EXPECT_FALSE(v6);
  EXPECT_FALSE(is_private_ip(v6, a));
  EXPECT_TRUE(parse_ip("2001:480::1", &v6, a));
  EXPECT_TRUE(v6);
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "example.com", "1.2.3.4:80", "::g", "localhost"})
    EXPECT_FALSE(parse_ip(bad, &v6, a)) << bad;
  for (const char* priv :
       {"10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "127.0.0.1", "169.254.1.1", "100.64.0.1", "0.0.0.0",
        "224.0.0.1", "::1", "::", "fe80::1", "fd00::1", "::ffff:192.168.0.1", "2001:db8::1"}) {
    ASSERT_TRUE(parse_ip(priv, &v6, a)) << priv;
    EXPECT_TRUE(is_private_ip(v6, a)) << priv;
  }
  ASSERT_TRUE(parse_ip("172.32.0.1", &v6, a));
  EXPECT_FALSE(is_private_ip(v6, a));
}

// A test database built with the Perl writer (skipped when it is not installed).
class GeoDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* repo = std::getenv("PULSE_REPO");
    std::string script = std::string(repo ? repo : ".") + "/test/enrich/make_mmdb.pl";
    if (!exists(script)) script = std::string(SOURCE_DIR) + "/test/enrich/make_mmdb.pl";
    path_ = "/tmp/pulse_unit_geo_" + std::to_string(getpid()) + ".mmdb";
    std::string cmd =
        "printf '81.2.69.0/24\\tGB\\tEngland\\tLondon\\t51.5142\\t-0.0931\\tEurope/London\\t20712\\tA&A\\n"
        "2001:480::/32\\tUS\\tCalifornia\\tSan Diego\\t32.7203\\t-117.1552\\tAmerica/Los_Angeles\\t\\t\\n"
        "10.0.0.0/8\\tZZ\\t\\t\\t\\t\\t\\t\\t\\n' | perl " +
        script + " " + path_ + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "cannot build a test database (libmaxmind-db-writer-perl)";
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
};

TEST_F(GeoDbTest, Lookups) {
  GeoDb db;
  std::string err;
  ASSERT_TRUE(db.open(path_, &err)) << err;
  EXPECT_EQ(db.database_type(), "PulseTest-City");
  GeoInfo g;
  ASSERT_TRUE(db.lookup("81.2.69.160", &g));
  EXPECT_EQ(g.country_code, "GB");
  EXPECT_EQ(g.region, "England");
  EXPECT_EQ(g.city, "London");
  EXPECT_EQ(g.timezone, "Europe/London");
  EXPECT_TRUE(g.has_location);
  EXPECT_DOUBLE_EQ(g.latitude, 51.5142);
  EXPECT_TRUE(g.has_asn);
  EXPECT_EQ(g.asn, 20712);
  EXPECT_EQ(g.as_org, "A&A");
  GeoInfo h;
  ASSERT_TRUE(db.lookup("2001:480:1::5", &h));
  EXPECT_EQ(h.city, "San Diego");
  EXPECT_FALSE(h.has_asn);
  ASSERT_TRUE(db.lookup("::ffff:81.2.69.1", &h));
  EXPECT_EQ(h.country_code, "GB");
  GeoInfo none;
  EXPECT_FALSE(db.lookup("10.1.2.3", &none));  // private, even though the file has it
  EXPECT_FALSE(db.lookup("8.8.8.8", &none));   // not in the file
  EXPECT_FALSE(db.lookup("garbage", &none));
  EXPECT_TRUE(none.country_code.empty());
  // the record cache: two addresses of one network share a record
  const GeoInfo* c1 = db.lookup_cached("81.2.69.160");
  ASSERT_NE(c1, nullptr);
  EXPECT_EQ(c1->city, "London");
  EXPECT_EQ(db.lookup_cached("81.2.69.7"), c1);
  EXPECT_EQ(db.lookup_cached("10.0.0.1"), nullptr);
  EXPECT_EQ(db.lookup_cached("8.8.8.8"), nullptr);
  db.set_cache_capacity(1);
  ASSERT_NE(db.lookup_cached("2001:480::1"), nullptr);
  EXPECT_EQ(db.lookup_cached("81.2.69.7")->country_code, "GB");
  // the address cache (kAddressesPerRecord addresses per record): past its bound it is emptied
  // and filled again, and every answer stays the uncached one
  db.set_cache_capacity(2);
  const size_t bound = 2 * GeoDb::kAddressesPerRecord;
  size_t most = 0;
  for (int round = 0; round < 3; round++) {
    for (int k = 0; k < 60; k++) {
      std::string ip = (k % 3 == 0 ? "81.2.69." : k % 3 == 1 ? "2001:480::" : "8.8.4.") + std::to_string(k);
      const GeoInfo* c = db.lookup_cached(ip);
      GeoInfo u;
      bool found = db.lookup(ip, &u);
      ASSERT_EQ(c != nullptr, found) << ip;
      if (found) {
        EXPECT_EQ(c->country_code, u.country_code) << ip;
        EXPECT_EQ(c->city, u.city) << ip;
      }
      ASSERT_LE(db.cached_addresses(), bound);
      most = std::max(most, db.cached_addresses());
    }
  }
  EXPECT_EQ(most, bound);
  // the family is part of the key: 5102:4509:: has the 16 bytes of 81.2.69.9's key
  ASSERT_NE(db.lookup_cached("81.2.69.9"), nullptr);
  EXPECT_EQ(db.lookup_cached("5102:4509::"), nullptr);
  EXPECT_EQ(db.lookup_cached("81.2.69.9")->city, "London");
  // every byte of the address is part of the key: two addresses that differ in their first
  // eight bytes, and two that differ only in their last eight, one of each pair in the file
  ASSERT_NE(db.lookup_cached("2001:480::1"), nullptr);
  EXPECT_EQ(db.lookup_cached("2001:481::1"), nullptr);
  ASSERT_NE(db.lookup_cached("::ffff:81.2.69.1"), nullptr);
  EXPECT_EQ(db.lookup_cached("::ffff:8.8.8.8"), nullptr);
  ASSERT_NE(db.lookup_cached(" 81.2.69.9 "), nullptr);  // blanks around an address
  EXPECT_EQ(db.lookup_cached("not an address"), nullptr);
  GeoDb bad;
  EXPECT_FALSE(bad.open("/nonexistent.mmdb", &err));
  EXPECT_FALSE(bad.open("/etc/hostname", &err));
  EXPECT_FALSE(bad.lookup("81.2.69.160", &none));
}

TEST(EnrichSettings, PlanPerCollection) {
  auto s = parse_enrich_settings(
      R"([{"collection":"","enricher":"geoip","enabled":true,"inputs":null,"options":{}},
          {"collection":"","enricher":"referrer","enabled":true,"inputs":["ref"],"options":{"internal_hosts":["Shop.Example"]}},
          {"collection":"pageview","enricher":"geoip","enabled":false,"inputs":null,"options":{}},
          {"collection":"pageview","enricher":"campaign","enabled":true,"inputs":["page.href"],"options":{}},
          {"collection":"","enricher":"bogus","enabled":true}])");
  ASSERT_EQ(s.size(), 4u);
  EnrichPlan a = plan_for_collection(s, "click");
  EXPECT_TRUE(a.on[kEnrichGeo]);
  EXPECT_TRUE(a.on[kEnrichReferrer]);
  EXPECT_FALSE(a.on[kEnrichCampaign]);
  ASSERT_EQ(a.inputs[kEnrichGeo].size(), 3u);
  EXPECT_EQ(a.inputs[kEnrichGeo][2].segments.size(), 2u);
  EXPECT_EQ(a.inputs[kEnrichReferrer][0].full, "ref");
  EXPECT_EQ(a.internal_hosts, std::vector<std::string>{"shop.example"});
  EXPECT_EQ(a.url_inputs[0].full, "url");
  EnrichPlan b = plan_for_collection(s, "pageview");
  EXPECT_FALSE(b.on[kEnrichGeo]);  // the collection's own row wins
  EXPECT_TRUE(b.on[kEnrichCampaign]);
  EXPECT_EQ(b.url_inputs[0].full, "page.href");
  EXPECT_TRUE(parse_enrich_settings("not json").empty());
  EXPECT_FALSE(plan_for_collection({}, "x").any());
  // the room a decoder reserves: the outputs of every enricher some row enables
  EXPECT_EQ(fields_added_at_most(s), 9u + 4u + 5u);
  EXPECT_EQ(fields_added_at_most({}), 0u);
  EXPECT_EQ(fields_added_at_most(parse_enrich_settings(
                R"([{"collection":"","enricher":"user_agent","enabled":false,"inputs":null,"options":{}}])")),
            0u);
}

TEST(EnrichEvent, InputsOutputsAndExistingFields) {
  JsonDecoder dec;
  JsonDecodeOptions opts;
  EventBatch batch;
  dec.decode_payload(
      "{\"userAgent\":\"Mozilla/5.0 Foo\",\"context\":{\"page\":{\"url\":\"https://s.example/?utm_source=a\","
      "\"referrer\":\"https://www.google.com/search?q=x\"}},\"_utm_source\":\"kept\"}\n"
      "{\"referrer\":\"https://s.example/cart\",\"url\":\"https://www.s.example/\"}\n"
      "{\"referrer\":\"https://other.example/\",\"url\":\"/p?gclid=1\"}\n",
      opts, &batch);
  ASSERT_EQ(batch.events.size(), 3u);
  RefererParser ref;
  std::string err;
  ASSERT_TRUE(ref.load_text("search:\n  Google:\n    parameters: [q]\n    domains: [google.com]\n", &err)) << err;
  UaParser ua;
  ASSERT_TRUE(ua.load_text("user_agent_parsers:\n  - regex: '(Foo)'\n", &err)) << err;
  LruCache<UaColumns> uc;
  LruCache<RefererInfo> rc;
  EnrichEngines engines;
  engines.ua = &ua;
  engines.referrer = &ref;
  engines.ua_cache = &uc;
  engines.referrer_cache = &rc;
  std::vector<EnrichSetting> settings = parse_enrich_settings(
      R"([{"collection":"","enricher":"user_agent","enabled":true,"inputs":null,"options":{}},
          {"collection":"","enricher":"referrer","enabled":true,"inputs":null,"options":{}},
          {"collection":"","enricher":"campaign","enabled":true,"inputs":null,"options":{}},
          {"collection":"","enricher":"geoip","enabled":true,"inputs":null,"options":{}}])");
  EnrichPlan plan = plan_for_collection(settings, "e");
  EventEnricher e;
  for (uint32_t k = 0; k < 3; k++) e.enrich(&batch, k, plan, engines);  // geo: no engine, skipped
  auto get = [&](uint32_t k, std::string_view name) -> std::string {
    const Event& ev = batch.events[k];
    std::string out;
    int n = 0;
    for (const Field& f : ev.fields) {
      if (f.name != name) continue;
      n++;
      const Value& v = ev.values[f.value];
      out = v.kind == Kind::kString ? std::string(v.text) : v.kind == Kind::kBool ? (v.b ? "true" : "false") : "?";
    }
    return n > 1 ? "DUPLICATE" : out;
  };
  EXPECT_EQ(get(0, "_browser"), "Foo");
  EXPECT_EQ(get(0, "_is_bot"), "false");
  EXPECT_EQ(get(0, "_referrer_medium"), "search");
  EXPECT_EQ(get(0, "_referrer_term"), "x");
  EXPECT_EQ(get(0, "_utm_source"), "kept");  // never overwritten
  EXPECT_EQ(get(0, "_country_code"), "");
  EXPECT_EQ(get(1, "_referrer_medium"), "internal");  // the page's own host (www. aside)
  EXPECT_EQ(get(1, "_referrer_source"), "");
  EXPECT_EQ(get(1, "_browser"), "");
  EXPECT_EQ(get(2, "_referrer_medium"), "paid");
  EXPECT_EQ(get(2, "_referrer_domain"), "other.example");
  EXPECT_EQ(get(2, "_utm_source"), "google");
  EXPECT_EQ(e.counts().lookups[kEnrichUserAgent], 1u);
  EXPECT_EQ(e.counts().lookups[kEnrichReferrer], 3u);
  EXPECT_EQ(e.counts().lookups[kEnrichGeo], 0u);
}

}  // namespace
}  // namespace pulse
