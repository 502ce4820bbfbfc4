// See text_file.h.
#include "core/text_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace pulse {

bool read_file(const std::string& path, std::string* out, std::string* error) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    *error = "cannot open \"" + path.substr(0, 300) + "\": " + std::strerror(errno);
    return false;
  }
  out->clear();
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
  bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) {
    *error = "cannot read \"" + path.substr(0, 300) + "\"";
    return false;
  }
  return true;
}

}  // namespace pulse
