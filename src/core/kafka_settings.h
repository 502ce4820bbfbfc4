// The librdkafka settings a Kafka subscription may carry in its `options`, and what each one
// may do on the server (docs/kafka.md lists them). An explicit allowlist: a setting that is not
// listed is refused, so a new librdkafka release cannot add a way to run code unnoticed.
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <string_view>

namespace pulse {

enum class KafkaSettingClass {
  kAllowed,     // any subscription administrator
  kReadsFiles,  // reads a file of the server: superusers and members of pg_read_server_files
  kRunsCode,    // runs a command or loads a library in the server: superusers only
  kSetByPulse,  // pg_pulse sets it itself (exactly-once, logging, routing): refused
  kUnknown,     // not a consumer setting pg_pulse supports: refused
};

// The class of setting `key` with value `value` (the value matters for sasl.mechanism(s):
// GSSAPI runs the Kerberos kinit command).
KafkaSettingClass classify_kafka_setting(std::string_view key, std::string_view value);

// Why a `brokers` list ("host:port,host:port", an optional "proto://" prefix per entry) is not
// usable; empty when it is.
std::string kafka_brokers_problem(std::string_view brokers);

}  // namespace pulse
