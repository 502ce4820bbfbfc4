// Reading a whole data file (the enrichers' rule files) with an error message that names it.
#pragma once
#include "core/no_postgres.h"

#include <string>

namespace pulse {

// Reads path into *out. False with *error set ("cannot open ...: <reason>") on failure.
bool read_file(const std::string& path, std::string* out, std::string* error);

}  // namespace pulse
