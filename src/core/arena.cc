// The arena that owns an EventBatch's strings (see event.h).
#include "core/event.h"

#include <algorithm>
#include <cstring>

namespace pulse {

// Copies s into the current block, opening a new block (at least 64 KiB) when it is full.
std::string_view Arena::copy(std::string_view s) {
  if (s.empty()) return std::string_view();
  if (blocks_.empty() || block_used_ + s.size() > block_size_) {
    block_size_ = std::max<size_t>(size_t(64) << 10, s.size());
    blocks_.emplace_back(new char[block_size_]);
    block_used_ = 0;
  }
  char* dst = blocks_.back().get() + block_used_;
  std::memcpy(dst, s.data(), s.size());
  block_used_ += s.size();
  used_ += s.size();
  return std::string_view(dst, s.size());
}

}  // namespace pulse
