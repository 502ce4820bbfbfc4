// The Kafka settings allowlist (src/core/kafka_settings.cc): every property librdkafka knows is
// classified on purpose, the dangerous ones are never allowed, broker lists are checked.
#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "core/kafka_settings.h"

namespace pulse {
namespace {

using C = KafkaSettingClass;

// Names and C/P/* columns of the properties librdkafka itself documents.
std::vector<std::pair<std::string, std::string>> librdkafka_properties() {
  std::vector<std::pair<std::string, std::string>> out;
  FILE* f = tmpfile();
  rd_kafka_conf_properties_show(f);
  rewind(f);
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    std::string l(line);
    size_t bar = l.find('|');
    if (bar == std::string::npos) continue;
    std::string name = l.substr(0, bar), cp = l.substr(bar + 1, l.find('|', bar + 1) - bar - 1);
    auto trim = [](std::string s) {
      while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
      while (!s.empty() && s.front() == ' ') s.erase(0, 1);
      return s;
    };
    name = trim(name);
    cp = trim(cp);
    if (name.empty() || name == "Property" || name[0] == '-') continue;
    out.emplace_back(name, cp);
  }
  fclose(f);
  return out;
}

TEST(KafkaSettings, DangerousSettingsAreNeverAllowed) {
  for (const char* k : {"sasl.kerberos.kinit.cmd", "plugin.library.paths", "ssl.engine.location", "ssl.providers",
                        "ssl.engine.id", "sasl.kerberos.principal", "sasl.kerberos.keytab"})
    EXPECT_EQ(classify_kafka_setting(k, "x"), C::kRunsCode) << k;
  for (const char* k :
       {"ssl.key.location", "ssl.certificate.location", "ssl.ca.location", "ssl.crl.location", "ssl.keystore.location"})
    EXPECT_EQ(classify_kafka_setting(k, "/etc/passwd"), C::kReadsFiles) << k;
  EXPECT_EQ(classify_kafka_setting("sasl.mechanisms", "GSSAPI"), C::kRunsCode);
  EXPECT_EQ(classify_kafka_setting("sasl.mechanism", "gssapi"), C::kRunsCode);
  EXPECT_EQ(classify_kafka_setting("sasl.mechanisms", "SCRAM-SHA-256"), C::kAllowed);
  for (const char* k : {"enable.auto.commit", "group.id", "bootstrap.servers", "log.queue", "enable.auto.offset.store",
                        "offset.store.path", "offset.store.method"})
    EXPECT_EQ(classify_kafka_setting(k, "x"), C::kSetByPulse) << k;
  for (const char* k : {"", "nonsense", "statistics.interval.ms", "internal.termination.signal", "rebalance_cb",
                        "opaque", "SSL.KEY.LOCATION", "transactional.id"})
    EXPECT_EQ(classify_kafka_setting(k, "x"), C::kUnknown) << k;
}

// A librdkafka upgrade that adds a consumer setting fails here until someone classifies it.
TEST(KafkaSettings, EveryLibrdkafkaPropertyIsClassifiedOnPurpose) {
  // pointer-valued or producer-side properties, and the ones refused as unsupported
  const std::set<std::string> refused = {"builtin.features",
                                         "error_cb",
                                         "throttle_cb",
                                         "stats_cb",
                                         "log_cb",
                                         "background_event_cb",
                                         "socket_cb",
                                         "connect_cb",
                                         "closesocket_cb",
                                         "open_cb",
                                         "resolve_cb",
                                         "opaque",
                                         "default_topic_conf",
                                         "enabled_events",
                                         "internal.termination.signal",
                                         "statistics.interval.ms",
                                         "ssl_key",
                                         "ssl_certificate",
                                         "ssl_ca",
                                         "ssl_engine_callback_data",
                                         "ssl.certificate.verify_cb",
                                         "oauthbearer_token_refresh_cb",
                                         "interceptors",
                                         "consume_cb",
                                         "rebalance_cb",
                                         "offset_commit_cb"};
  auto props = librdkafka_properties();
  ASSERT_GT(props.size(), 100u);
  size_t consumer = 0;
  for (auto& [name, cp] : props) {
    if (cp == "P") continue;  // producer only
    consumer++;
    C c = classify_kafka_setting(name, "");
    if (refused.count(name)) {
      EXPECT_EQ(c, C::kUnknown) << name;
    } else {
      EXPECT_NE(c, C::kUnknown) << name << " is a librdkafka consumer setting that pg_pulse does not classify";
    }
  }
  EXPECT_GT(consumer, 100u);
}

TEST(KafkaSettings, BrokerLists) {
  EXPECT_EQ(kafka_brokers_problem("127.0.0.1:9092"), "");
  EXPECT_EQ(kafka_brokers_problem("k1:9092, k2:9093,k3"), "");
  EXPECT_EQ(kafka_brokers_problem("SSL://kafka.example.com:9093"), "");
  EXPECT_EQ(kafka_brokers_problem("[::1]:9092"), "");
  EXPECT_NE(kafka_brokers_problem(""), "");
  EXPECT_NE(kafka_brokers_problem("k1:9092,"), "");
  EXPECT_NE(kafka_brokers_problem("k1:0"), "");
  EXPECT_NE(kafka_brokers_problem("k1:65536"), "");
  EXPECT_NE(kafka_brokers_problem("k1:http"), "");
  EXPECT_NE(kafka_brokers_problem(":9092"), "");
  EXPECT_NE(kafka_brokers_problem("k1;rm -rf /:9092"), "");
  std::string many;
  for (int k = 0; k < 101; k++) many += (k ? ",h" : "h") + std::to_string(k) + ":1";
  EXPECT_NE(kafka_brokers_problem(many), "");
}

}  // namespace
}  // namespace pulse
