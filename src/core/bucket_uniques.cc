// Exact distinct actors per time bucket (see bucket_uniques.h).
#include "core/bucket_uniques.h"

#include <algorithm>
#include <cstring>

#include "core/actor_ids.h"
#include "core/error.h"

namespace pulse {
namespace {

constexpr size_t kInline = sizeof(uint64_t);

}  // namespace

BucketUniques::BucketUniques(int nbuckets) {
  if (nbuckets < 1 || nbuckets > kMaxBuckets)
    throw Error(sqlstate::kProgramLimit, "between 1 and " + std::to_string(kMaxBuckets) +
                                             " buckets are supported, not " + std::to_string(nbuckets));
  sets_.resize(size_t(nbuckets));
  while (presize_cap_ * 2 * sizeof(Entry) * size_t(nbuckets) <= kPresizeBytes) presize_cap_ *= 2;
}

void BucketUniques::grow(Set& s) {
  // A bucket's first table is as large as the largest so far, up to presize_cap_: neighbouring
  // buckets tend to have alike numbers of actors, and that skips most of the doublings.
  HugeArray<Entry> old(s.entries.size() ? s.entries.size() * 2 : std::min(largest_, presize_cap_));
  largest_ = std::max(largest_, old.size());
  std::swap(old, s.entries);
  const size_t mask = s.entries.size() - 1;
  for (size_t k = 0; k < old.size(); ++k) {
    const Entry& e = old[k];
    if (!e.len_plus_1) continue;
    size_t i = e.tag & mask;
    while (s.entries[i].len_plus_1) i = (i + 1) & mask;
    s.entries[i] = e;
  }
}

void BucketUniques::add_hashed(int bucket, std::string_view actor, uint64_t h) {
  const uint32_t tag = tag_of(h);
  prefetch(bucket, tag);
  if (pending_.push(actor, Pending{tag, bucket})) flush();
}

void BucketUniques::add_many(const Row* rows, size_t n) {
  constexpr size_t kAhead = 16;  // (a few more than the loads a core keeps in flight)
  for (size_t k = 0; k < n && k < kAhead; ++k) prefetch(rows[k].bucket, tag_of(rows[k].hash));
  for (size_t k = 0; k < n; ++k) {
    if (k + kAhead < n) prefetch(rows[k + kAhead].bucket, tag_of(rows[k + kAhead].hash));
    insert(sets_[size_t(rows[k].bucket)], tag_of(rows[k].hash), rows[k].actor);
  }
}

void BucketUniques::flush() {
  for (size_t k = 0; k < pending_.size(); ++k) {
    const Pending& p = pending_.payload(k);
    insert(sets_[size_t(p.bucket)], p.tag, pending_.actor(k));
  }
  pending_.clear();
}

void BucketUniques::insert(Set& s, uint32_t tag, std::string_view actor) {
  if ((s.count + 1) * 2 > s.entries.size()) grow(s);  // load factor <= 1/2
  const bool inline_actor = actor.size() <= kInline;
  const uint64_t w = inline_actor ? padded(actor.data(), actor.size()).w0 : 0;
  const uint32_t len_plus_1 = uint32_t(actor.size() + 1);
  const size_t mask = s.entries.size() - 1;
  size_t i = tag & mask;
  for (;; i = (i + 1) & mask) {
    const Entry& e = s.entries[i];
    if (!e.len_plus_1) break;
    if (e.tag != tag || e.len_plus_1 != len_plus_1) continue;
    if (inline_actor ? e.data == w : std::memcmp(s.bytes.data() + e.data, actor.data(), actor.size()) == 0) return;
  }
  uint64_t data = w;
  if (!inline_actor) {
    data = s.bytes.size();
    s.bytes.append(actor);
  }
  s.entries[i] = Entry{tag, len_plus_1, data};
  s.count++;
}

std::vector<int64_t> BucketUniques::counts() {
  flush();
  std::vector<int64_t> out;
  out.reserve(sets_.size());
  for (const Set& s : sets_) out.push_back(int64_t(s.count));
  return out;
}

}  // namespace pulse
