// Identity resolution for the report aggregates (see person_map.h).
#include "core/person_map.h"

#include <algorithm>
#include <cstring>

namespace pulse {

PersonMap::PersonMap(ActorIds* numbering) : numbering_(numbering) {}

void PersonMap::reserve(size_t rows) {
  if (numbering_) {
    // the mapped ids and (finish) the persons' own strings; the persons of a few ids each
    numbering_->reserve(rows_ + rows + rows / 2);
    persons_.reserve(persons_.size() + rows / 2);
  } else {
    ids_.reserve(rows_ + rows);
    persons_of_.reserve(rows_ + rows);
  }
}

void PersonMap::add_many(const std::string_view* ids, const std::string_view* persons, size_t n) {
  kept_ids_.clear();
  kept_persons_.clear();
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] == persons[i]) continue;
    kept_ids_.push_back(ids[i]);
    kept_persons_.push_back(persons[i]);
  }
  const size_t k = kept_ids_.size();
  numbers_.resize(k);
  if (numbering_) {
    persons_.intern_many(kept_persons_.data(), k, numbers_.data());
    numbering_->bind_many(kept_ids_.data(), numbers_.data(), k);
  } else {
    for (size_t i = 0; i < k; ++i) {
      const std::string_view p = kept_persons_[i];
      numbers_[i] = uint32_t(persons_of_.size());
      Person& e = persons_of_.emplace_back();
      e.hash = ActorIds::hash(p);
      e.len = uint32_t(p.size());
      if (p.size() <= sizeof e.inline_bytes) {
        std::memset(e.inline_bytes, 0, sizeof e.inline_bytes);
        std::memcpy(e.inline_bytes, p.data(), p.size());
      } else {
        e.off = bytes_.size();
        bytes_.append(p);
      }
    }
    ids_.bind_many(kept_ids_.data(), numbers_.data(), k);
  }
  rows_ += k;
}

void PersonMap::finish() {
  kept_ids_ = {};
  kept_persons_ = {};
  numbers_ = {};
  if (numbering_) {
    // A person string that is a mapped id too resolves to that id's person: bind() already
    // numbered it, and the person's own number is reached through its other ids only.
    persons_.for_each([&](std::string_view p, uint32_t n) {
      if (numbering_->find(p) == ActorIds::kNone) numbering_->bind(p, n);
    });
    numbering_->reserve_ids(persons_.size());
    persons_ = ActorIds();
    return;
  }
  // 16 bits per mapped id (at least 2^12): about 6 % of the unmapped ids pass the filter
  int bits = 12;
  while (bits < 40 && (size_t(1) << bits) < rows_ * 16) ++bits;
  filter_.assign((size_t(1) << bits) / 64, 0);
  filter_shift_ = 64 - bits;
  ids_.for_each_hash([&](uint64_t h) {
    const uint64_t bit = h >> filter_shift_;
    filter_[bit >> 6] |= uint64_t(1) << (bit & 63);
  });
}

}  // namespace pulse
