// Rows queued for a batched lookup of their actors (ActorIds::intern_many in
// src/analytics/reports.cc, the per-bucket sets of core/bucket_uniques.h): each row's actor
// bytes are copied into one buffer, since the caller's may be transient, next to a payload.
// A batch is full at kRows rows or 1 MB of bytes (so offsets stay below 2^32).
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pulse {

template <class Payload, size_t kRows>
class ActorBatch {
 public:
  static constexpr size_t kCapacity = kRows;
  // Queues one row; true when the batch is full and must be drained (then clear()).
  bool push(std::string_view actor, const Payload& payload) {
    rows_[n_++] = Row{payload, uint32_t(bytes_.size()), uint32_t(actor.size())};
    bytes_.append(actor);
    return n_ == kRows || bytes_.size() >= kBytes;
  }
  size_t size() const { return n_; }
  std::string_view actor(size_t i) const { return std::string_view(bytes_.data() + rows_[i].off, rows_[i].len); }
  const Payload& payload(size_t i) const { return rows_[i].payload; }
  void clear() {
    n_ = 0;
    bytes_.clear();
  }

 private:
  static constexpr size_t kBytes = size_t(1) << 20;
  struct Row {
    Payload payload;
    uint32_t off, len;
  };
  Row rows_[kRows];
  size_t n_ = 0;
  std::string bytes_;
};

}  // namespace pulse
