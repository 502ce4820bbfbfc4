// Checks of a Kafka subscription's brokers and librdkafka settings against what its owner may
// do on the server (the allowlist of src/core/kafka_settings.h), made when a subscription is
// created or altered and again by the worker before it connects.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "pg/guard.h"

namespace pulse::kafka {

using Settings = std::vector<std::pair<std::string, std::string>>;

// Raises 22023 naming the setting for an unknown, pg_pulse-managed or invalid setting (values
// are checked by librdkafka itself) or for an unusable broker list, and 42501 for a setting
// that reads server files (superusers, pg_read_server_files) or runs code (superusers only)
// when role `owner` may not use it.
void check_settings(const std::string& brokers, const Settings& settings, Oid owner);

}  // namespace pulse::kafka
