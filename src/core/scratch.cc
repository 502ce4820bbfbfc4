// Reused large byte buffers (see scratch.h).
#include "core/scratch.h"

#include <vector>

namespace pulse {
namespace {

std::vector<std::string>& pool() {
  static std::vector<std::string>* p = new std::vector<std::string>();  // lives as long as the process
  return *p;
}
size_t kept = 0;

}  // namespace

std::string take_scratch() {
  auto& p = pool();
  if (p.empty()) return std::string();
  std::string s = std::move(p.back());
  p.pop_back();
  kept -= s.capacity();
  return s;
}

void give_scratch(std::string&& s) {
  if (s.capacity() < (size_t(1) << 20) || kept + s.capacity() > kMaxScratchBytes) return;  // small or too much: freed
  s.clear();
  kept += s.capacity();
  try {
    pool().push_back(std::move(s));
  } catch (...) {
    kept -= s.capacity();
  }
}

size_t scratch_bytes() { return kept; }

}  // namespace pulse
