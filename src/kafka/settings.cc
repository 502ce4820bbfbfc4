// Kafka brokers and client settings checked against their owner's privileges (see settings.h).
#include "kafka/settings.h"

#include <librdkafka/rdkafka.h>

#include <memory>

#include "core/kafka_settings.h"

extern "C" {
#include "catalog/pg_authid_d.h"
#include "miscadmin.h"
#include "utils/acl.h"
}

namespace pulse::kafka {

void check_settings(const std::string& brokers, const Settings& settings, Oid owner) {
  std::string why = kafka_brokers_problem(brokers);
  if (!why.empty())
    throw Error(sqlstate::kInvalidParameter, "invalid Kafka brokers: " + why, "",
                "Example: 'kafka1:9092,kafka2:9092'.");
  bool super = false, files = false;
  pg::call([&] {
    super = superuser_arg(owner);
    files = super || has_privs_of_role(owner, ROLE_PG_READ_SERVER_FILES);
  });
  std::unique_ptr<rd_kafka_conf_t, void (*)(rd_kafka_conf_t*)> conf(rd_kafka_conf_new(), rd_kafka_conf_destroy);
  for (auto& [key, value] : settings) {
    if (key == "avro.schema_id") continue;  // pg_pulse's own, checked by kafka_subscribe
    switch (classify_kafka_setting(key, value)) {
      case KafkaSettingClass::kAllowed:
        break;
      case KafkaSettingClass::kReadsFiles:
        if (!files)
          throw Error(sqlstate::kInsufficientPrivilege, "permission denied to set Kafka setting \"" + key + "\"",
                      "It makes the server read a file.",
                      "Superusers and members of pg_read_server_files may set it; the PEM settings "
                      "(ssl.key.pem, ssl.certificate.pem, ssl.ca.pem) take the contents instead.");
        break;
      case KafkaSettingClass::kRunsCode:
        if (!super)
          throw Error(sqlstate::kInsufficientPrivilege, "permission denied to set Kafka setting \"" + key + "\"",
                      "It makes the server run a command or load a library (Kerberos kinit, plugins, OpenSSL "
                      "engines and providers).",
                      "Only superusers may set it.");
        break;
      case KafkaSettingClass::kSetByPulse:
        throw Error(sqlstate::kInvalidParameter, "Kafka setting \"" + key + "\" is set by pg_pulse",
                    "pg_pulse stores offsets in Postgres (exactly once) and takes brokers and the group id as "
                    "arguments of their own.",
                    "Remove it from options; use the brokers and group_id arguments instead.");
      case KafkaSettingClass::kUnknown:
        throw Error(sqlstate::kInvalidParameter, "unknown Kafka setting \"" + key.substr(0, 100) + "\"", "",
                    "docs/kafka.md lists the librdkafka consumer settings a subscription may carry.");
    }
    char err[512];
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw Error(sqlstate::kInvalidParameter, "invalid value for Kafka setting \"" + key + "\"", err);
  }
}

}  // namespace pulse::kafka
