// Classification of librdkafka consumer settings (see kafka_settings.h). The lists follow
// librdkafka's CONFIGURATION.md; properties that only take C pointers (callbacks, opaque) are
// absent and so refused like any unknown name.
#include "core/kafka_settings.h"

#include <algorithm>
#include <cctype>

namespace pulse {
namespace {

constexpr std::string_view kAllowed[] = {
    "allow.auto.create.topics",
    "api.version.fallback.ms",
    "api.version.request",
    "api.version.request.timeout.ms",
    "auto.offset.reset",
    "broker.address.family",
    "broker.address.ttl",
    "broker.version.fallback",
    "check.crcs",
    "client.id",
    "client.rack",
    "connections.max.idle.ms",
    "coordinator.query.interval.ms",
    "debug",
    "enable.random.seed",
    "enable.sasl.oauthbearer.unsecure.jwt",
    "enable.ssl.certificate.verification",
    "fetch.error.backoff.ms",
    "fetch.max.bytes",
    "fetch.message.max.bytes",
    "fetch.min.bytes",
    "fetch.wait.max.ms",
    "group.instance.id",
    "group.protocol.type",
    "heartbeat.interval.ms",
    "isolation.level",
    "log.connection.close",
    "log.thread.name",
    "log_level",
    "max.in.flight",
    "max.in.flight.requests.per.connection",
    "max.partition.fetch.bytes",
    "max.poll.interval.ms",
    "message.copy.max.bytes",
    "message.max.bytes",
    "metadata.max.age.ms",
    "partition.assignment.strategy",
    "queued.max.messages.kbytes",
    "queued.min.messages",
    "receive.message.max.bytes",
    "reconnect.backoff.jitter.ms",
    "reconnect.backoff.max.ms",
    "reconnect.backoff.ms",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.extensions",
    "sasl.oauthbearer.method",
    "sasl.oauthbearer.scope",
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.password",
    "sasl.username",
    "security.protocol",
    "session.timeout.ms",
    "socket.blocking.max.ms",
    "socket.connection.setup.timeout.ms",
    "socket.keepalive.enable",
    "socket.max.fails",
    "socket.nagle.disable",
    "socket.receive.buffer.bytes",
    "socket.send.buffer.bytes",
    "socket.timeout.ms",
    "ssl.ca.certificate.stores",
    "ssl.ca.pem",
    "ssl.certificate.pem",
    "ssl.cipher.suites",
    "ssl.curves.list",
    "ssl.endpoint.identification.algorithm",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.keystore.password",
    "ssl.sigalgs.list",
    "topic.blacklist",
    "topic.metadata.propagation.max.ms",
    "topic.metadata.refresh.fast.cnt",
    "topic.metadata.refresh.fast.interval.ms",
    "topic.metadata.refresh.interval.ms",
    "topic.metadata.refresh.sparse",
};

// paths of server files that librdkafka opens and reads
constexpr std::string_view kReadsFiles[] = {
    "ssl.ca.location", "ssl.certificate.location", "ssl.crl.location", "ssl.key.location", "ssl.keystore.location",
};

// librdkafka runs the Kerberos kinit command (a shell command line built from these settings),
// dlopen()s plugins, OpenSSL engines and providers
constexpr std::string_view kRunsCode[] = {
    "plugin.library.paths",    "sasl.kerberos.keytab",
    "sasl.kerberos.kinit.cmd", "sasl.kerberos.min.time.before.relogin",
    "sasl.kerberos.principal", "sasl.kerberos.service.name",
    "ssl.engine.id",           "ssl.engine.location",
    "ssl.providers",
};

// pg_pulse's exactly-once consumer depends on these (or takes them as arguments of its own)
constexpr std::string_view kSetByPulse[] = {
    "auto.commit.enable",
    "auto.commit.interval.ms",
    "bootstrap.servers",
    "consume.callback.max.messages",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.partition.eof",
    "group.id",
    "log.queue",
    "metadata.broker.list",
    "offset.store.method",
    "offset.store.path",
    "offset.store.sync.interval.ms",
};

template <size_t N>
bool listed(const std::string_view (&list)[N], std::string_view key) {
  return std::find(std::begin(list), std::end(list), key) != std::end(list);
}

bool contains_ci(std::string_view hay, std::string_view needle) {
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                        [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; });
  return it != hay.end();
}

}  // namespace

KafkaSettingClass classify_kafka_setting(std::string_view key, std::string_view value) {
  if (key == "sasl.mechanism" || key == "sasl.mechanisms")
    return contains_ci(value, "GSSAPI") ? KafkaSettingClass::kRunsCode : KafkaSettingClass::kAllowed;
  if (listed(kAllowed, key)) return KafkaSettingClass::kAllowed;
  if (listed(kReadsFiles, key)) return KafkaSettingClass::kReadsFiles;
  if (listed(kRunsCode, key)) return KafkaSettingClass::kRunsCode;
  if (listed(kSetByPulse, key)) return KafkaSettingClass::kSetByPulse;
  return KafkaSettingClass::kUnknown;
}

std::string kafka_brokers_problem(std::string_view brokers) {
  if (brokers.empty()) return "no broker";
  size_t count = 0;
  for (size_t a = 0; a <= brokers.size();) {
    size_t b = brokers.find(',', a);
    if (b == std::string_view::npos) b = brokers.size();
    std::string_view e = brokers.substr(a, b - a);
    while (!e.empty() && e.front() == ' ') e.remove_prefix(1);
    while (!e.empty() && e.back() == ' ') e.remove_suffix(1);
    a = b + 1;
    if (e.empty()) return "an empty entry";
    size_t proto = e.find("://");
    if (proto != std::string_view::npos) e.remove_prefix(proto + 3);
    size_t colon = e.rfind(':');
    std::string_view host = colon == std::string_view::npos ? e : e.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty() || host.size() > 255) return "an entry without a host name";
    for (char c : host)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':'))
        return "a host name with a character other than letters, digits, '.', '-', '_' or ':'";
    if (colon != std::string_view::npos) {
      std::string_view port = e.substr(colon + 1);
      if (port.empty() || port.size() > 5) return "a port that is not a number from 1 to 65535";
      long v = 0;
      for (char c : port) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return "a port that is not a number from 1 to 65535";
        v = v * 10 + (c - '0');
      }
      if (v < 1 || v > 65535) return "a port that is not a number from 1 to 65535";
    }
    if (++count > 100) return "more than 100 entries";
    if (b == brokers.size()) break;
  }
  return {};
}

}  // namespace pulse
