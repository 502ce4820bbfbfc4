// Dense numbering of actors (the _user of events) for the single-pass insight aggregates of
// src/analytics/reports.cc: an actor string becomes an id 0..size()-1 once, so per-actor
// state lives in flat arrays instead of one Postgres hash-aggregate group per actor.
//
// The table is open addressing with linear probing over 32-byte slots that hold the full
// hash, the id and actors of up to 16 bytes inline. Events arrive in time order, so every
// lookup lands on a random slot, and one cache line per lookup is what counts. A general map
// that keeps the keys out of line (absl::flat_hash_map<string_view>) takes a second miss per
// event: bench/analytics' funnel took 7.5 s with it, 6.5 s with this table.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "core/huge_array.h"

namespace pulse {

// An actor of up to 16 bytes as two little-endian words, zero past its end (n <= 16), read
// without a variable-length copy: overlapping loads, shifted into place.
struct Padded {
  uint64_t w0 = 0, w1 = 0;
};
inline Padded padded(const char* p, size_t n) {
  Padded k;
  if (n >= 8) {
    std::memcpy(&k.w0, p, 8);
    if (n > 8) {
      uint64_t t;
      std::memcpy(&t, p + n - 8, 8);  // bytes n-8 .. n-1: keep 8 .. n-1
      k.w1 = t >> (8 * (16 - n));
    }
  } else if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);  // bytes n-4 .. n-1, moved to their places
    k.w0 = uint64_t(lo) | uint64_t(hi) << (8 * (n - 4));
  } else if (n > 0) {
    k.w0 = uint64_t(uint8_t(p[0])) | uint64_t(uint8_t(p[n >> 1])) << (8 * (n >> 1)) |
           uint64_t(uint8_t(p[n - 1])) << (8 * (n - 1));
  }
  return k;
}

class ActorIds {
 public:
  ActorIds();
  // The id of actor, numbering it (first-seen order) when new. The bytes are copied, so the
  // caller's buffer may be transient. Throws pulse::Error (54000) past 2^32 - 2 actors.
  uint32_t intern(std::string_view actor) { return intern_hashed(actor, hash(actor)); }
  // intern() of n actors into ids[0..n-1], prefetching the slots of later actors while
  // probing earlier ones (events arrive in time order, so each probe is a cache miss).
  void intern_many(const std::string_view* actors, size_t n, uint32_t* ids);
  // The ids numbered so far: every id is below size().
  size_t size() const { return count_; }
  // Bytes the table holds (slots and long actors).
  size_t memory_bytes() const { return slots_.size() * sizeof(Slot) + blocks_.size() * kBlockBytes; }

  // Pre-numbering (core/person_map.h): actor gets id, which may be shared with other actors;
  // an actor already present is renumbered. Ids bound this way count in size() once
  // reserve_ids() covers them; intern() numbers new actors from size() on.
  void bind(std::string_view actor, uint32_t id) { bind_hashed(actor, hash(actor), id); }
  // bind() of n actors, prefetching like intern_many().
  void bind_many(const std::string_view* actors, const uint32_t* ids, size_t n);
  void reserve_ids(size_t n);
  // Makes room for n actors in all without growing the table on the way.
  void reserve(size_t n);
  static constexpr uint32_t kNone = UINT32_MAX;
  // The id of actor (hashed with hash()), or kNone: nothing is numbered.
  uint32_t find(std::string_view actor, uint64_t h) const;
  uint32_t find(std::string_view actor) const { return find(actor, hash(actor)); }
  // Starts fetching the slot a find() of an actor with hash h probes first.
  void prefetch(uint64_t h) const { __builtin_prefetch(&slots_[size_t(h) & mask_]); }
  // Calls f(hash(actor)) for every actor present (the hashes are kept: nothing is rehashed).
  template <class F>
  void for_each_hash(F&& f) const {
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].id_plus_1) f(slots_[i].hash);
  }
  // Calls f(actor, id) for every actor present, in no particular order.
  template <class F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].id_plus_1) f(key(slots_[i]), slots_[i].id_plus_1 - 1);
  }
  // The 64-bit hash the table uses (also core/bucket_uniques.h's).
  static uint64_t hash(std::string_view actor);

 private:
  static constexpr size_t kInline = 16;
  static constexpr size_t kBlockBytes = size_t(1) << 20;  // long actors are kept in blocks of at least this
  struct Slot {
    uint64_t hash;
    uint32_t id_plus_1;  // 0: empty
    uint32_t len;
    char bytes[kInline];  // the actor when len <= kInline, else a pointer into blocks_
  };
  static_assert(sizeof(Slot) == 32, "one slot per half cache line");

  uint32_t intern_hashed(std::string_view actor, uint64_t h);
  void bind_hashed(std::string_view actor, uint64_t h, uint32_t id);
  // Calls op(i, hash of actors[i]) for i = 0..n-1, the slots of later actors prefetched.
  template <class Op>
  void prefetched(const std::string_view* actors, size_t n, Op&& op);
  bool matches(const Slot& s, uint64_t h, std::string_view actor) const;
  std::string_view key(const Slot& s) const;
  // The slot of actor, or the empty slot where it would go.
  size_t probe(std::string_view actor, uint64_t h) const;
  void fill(Slot& s, std::string_view actor, uint64_t h, uint32_t id);
  void grow() { rehash(slots_.size() * 2); }
  void rehash(size_t nslots);
  const char* keep(std::string_view s);

  HugeArray<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;                             // ids numbered
  size_t used_ = 0;                              // slots in use (more than count_ after bind())
  std::vector<std::unique_ptr<char[]>> blocks_;  // long actors
  size_t block_left_ = 0;
  char* block_next_ = nullptr;
};

// Per-actor sets of bucket numbers 0..nbuckets-1, one bit each (nbuckets <= kMaxBuckets:
// 64 bytes per actor at most).
class ActorBuckets {
 public:
  static constexpr int kMaxBuckets = 512;
  explicit ActorBuckets(int nbuckets);
  int nbuckets() const { return nbuckets_; }
  void set(uint32_t actor, int bucket) {
    const size_t w = size_t(actor) * words_ + size_t(bucket >> 6);
    if (w >= bits_.size()) grow(actor);
    bits_[w] |= uint64_t(1) << (bucket & 63);
  }
  // Starts fetching the words of actor (a set() or test() soon).
  void prefetch(uint32_t actor) const {
    const size_t w = size_t(actor) * words_;
    if (w < bits_.size()) __builtin_prefetch(&bits_[w], 1);
  }
  bool test(uint32_t actor, int bucket) const {
    const size_t w = size_t(actor) * words_ + size_t(bucket >> 6);
    return w < bits_.size() && (bits_[w] >> (bucket & 63) & 1);
  }
  // A bound of the actors with some bit set (ids >= actors() have none).
  uint32_t actors() const { return uint32_t(bits_.size() / words_); }
  const uint64_t* words(uint32_t actor) const { return &bits_[size_t(actor) * words_]; }
  size_t words_per_actor() const { return words_; }
  // How many actors have each bucket: nbuckets counts.
  std::vector<int64_t> counts() const;

 private:
  void grow(uint32_t actor);
  int nbuckets_;
  size_t words_;
  HugeArray<uint64_t> bits_;
};

}  // namespace pulse
