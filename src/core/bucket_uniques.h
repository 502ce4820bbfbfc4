// Exact distinct actors per time bucket, for pulse.trends' unique_users (the single-pass
// aggregate pulse._uniques_report, src/analytics/reports.cc).
//
// One small set per bucket instead of one table of every actor: events arrive roughly in
// time order, so the rows of a stretch of time all probe the set of one bucket, which stays
// in cache. A table of every actor (core/actor_ids.h) is probed at random over tens of MB,
// one memory miss per event (bench/analytics' daily unique users: 0.70 s with it).
//
// A set is open addressing with linear probing over 16-byte entries: a 32-bit hash tag (which
// also places the entry), the length, and the actor itself when it has at most 8 bytes, else
// the offset of its bytes in the bucket's own byte store. Equal tags are confirmed by comparing
// the bytes, so the counts are exact. Rows are handled 64 at a time: each row's entry is
// prefetched when it is added and probed when the batch is full.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/actor_batch.h"
#include "core/actor_ids.h"
#include "core/huge_array.h"

namespace pulse {

class BucketUniques {
 public:
  static constexpr int kMaxBuckets = 100000;
  // Throws pulse::Error (54000) unless 1 <= nbuckets <= kMaxBuckets.
  explicit BucketUniques(int nbuckets);
  int nbuckets() const { return int(sets_.size()); }

  // Adds actor to bucket (0 <= bucket < nbuckets(), not checked); the bytes are copied.
  void add(int bucket, std::string_view actor) { add_hashed(bucket, actor, ActorIds::hash(actor)); }
  // add() of an actor whose ActorIds::hash the caller has computed already.
  void add_hashed(int bucket, std::string_view actor, uint64_t hash);
  // add_hashed() of n rows whose actors stay valid during the call (no copy: a caller that
  // batches rows already, src/analytics/reports.cc's person resolution).
  struct Row {
    int bucket;
    std::string_view actor;
    uint64_t hash;
  };
  void add_many(const Row* rows, size_t n);
  // The distinct actors of each bucket.
  std::vector<int64_t> counts();

 private:
  struct Entry {
    uint32_t tag;
    uint32_t len_plus_1;  // 0: empty
    uint64_t data;        // the actor (<= 8 bytes, zero-padded) or its offset in bytes
  };
  struct Set {
    HugeArray<Entry> entries;  // empty until the bucket's first actor
    size_t count = 0;
    std::string bytes;
  };
  struct Pending {
    uint32_t tag;
    int bucket;
  };
  void grow(Set& s);
  void insert(Set& s, uint32_t tag, std::string_view actor);
  static uint32_t tag_of(uint64_t h) { return uint32_t(h ^ (h >> 32)); }
  void prefetch(int bucket, uint32_t tag) const {
    const Set& s = sets_[size_t(bucket)];
    if (s.entries.size()) __builtin_prefetch(&s.entries[tag & (s.entries.size() - 1)]);
  }
  void flush();

  std::vector<Set> sets_;
  ActorBatch<Pending, 64> pending_;
  size_t largest_ = 16;  // entries of the largest table so far
  // First tables are at most this large, so presizing adds at most kPresizeBytes in all
  static constexpr size_t kPresizeBytes = size_t(64) << 20;
  size_t presize_cap_ = 16;
};

}  // namespace pulse
