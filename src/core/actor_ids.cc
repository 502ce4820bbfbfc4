// Dense actor numbering (see actor_ids.h): an open-addressing table of actor strings.
#include "core/actor_ids.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace pulse {
namespace {

constexpr size_t kInitialSlots = 1024;

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Up to 8 bytes: that word and the length through murmur3's 64-bit finaliser. Longer: 8 bytes
// at a time, then the tail, finished with the finaliser.
uint64_t hash_bytes(const char* p, size_t n) {
  if (n <= 8) return mix(padded(p, n).w0 ^ (uint64_t(n + 1) * 0x9e3779b97f4a7c15ULL));
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xc6a4a7935bd1e995ULL);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ mix(w)) * 0x9ddfea08eb382d69ULL;
  }
  if (i < n) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, n - i);
    h = (h ^ mix(w ^ 0x5bd1e995ULL)) * 0x9ddfea08eb382d69ULL;
  }
  return mix(h);
}

}  // namespace

ActorIds::ActorIds() : slots_(kInitialSlots), mask_(kInitialSlots - 1) {}

const char* ActorIds::keep(std::string_view s) {
  if (s.size() > block_left_) {
    const size_t n = std::max(kBlockBytes, s.size());
    blocks_.emplace_back(new char[n]);
    block_next_ = blocks_.back().get();
    block_left_ = n;
  }
  std::memcpy(block_next_, s.data(), s.size());
  const char* kept = block_next_;
  block_next_ += s.size();
  block_left_ -= s.size();
  return kept;
}

bool ActorIds::matches(const Slot& s, uint64_t h, std::string_view actor) const {
  if (s.hash != h || s.len != actor.size()) return false;
  if (actor.size() <= kInline) {
    // the slot's inline bytes are zero past len: two word compares instead of a memcmp call
    uint64_t w[2];
    std::memcpy(w, s.bytes, sizeof w);
    const Padded k = padded(actor.data(), actor.size());
    return w[0] == k.w0 && w[1] == k.w1;
  }
  const char* p;  // longer actors live in blocks_
  std::memcpy(&p, s.bytes, sizeof p);
  return std::memcmp(p, actor.data(), actor.size()) == 0;
}

void ActorIds::rehash(size_t nslots) {
  HugeArray<Slot> old(nslots);
  std::swap(old, slots_);
  mask_ = slots_.size() - 1;
  for (size_t k = 0; k < old.size(); ++k) {
    const Slot& s = old[k];
    if (!s.id_plus_1) continue;
    size_t i = size_t(s.hash) & mask_;
    while (slots_[i].id_plus_1) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void ActorIds::reserve(size_t n) {
  size_t nslots = slots_.size();
  while (n * 2 > nslots) nslots *= 2;
  if (nslots > slots_.size()) rehash(nslots);
}

uint64_t ActorIds::hash(std::string_view actor) { return hash_bytes(actor.data(), actor.size()); }

template <class Op>
void ActorIds::prefetched(const std::string_view* actors, size_t n, Op&& op) {
  constexpr size_t kAhead = 32;
  uint64_t h[kAhead];
  for (size_t i = 0; i < n && i < kAhead; ++i) {
    h[i] = hash(actors[i]);
    prefetch(h[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    const uint64_t hi = h[i % kAhead];
    if (i + kAhead < n) {
      uint64_t& next = h[(i + kAhead) % kAhead];
      next = hash(actors[i + kAhead]);
      prefetch(next);
    }
    op(i, hi);
  }
}

void ActorIds::intern_many(const std::string_view* actors, size_t n, uint32_t* ids) {
  prefetched(actors, n, [&](size_t i, uint64_t h) { ids[i] = intern_hashed(actors[i], h); });
}

void ActorIds::bind_many(const std::string_view* actors, const uint32_t* ids, size_t n) {
  prefetched(actors, n, [&](size_t i, uint64_t h) { bind_hashed(actors[i], h, ids[i]); });
}

std::string_view ActorIds::key(const Slot& s) const {
  if (s.len <= kInline) return std::string_view(s.bytes, s.len);
  const char* p;
  std::memcpy(&p, s.bytes, sizeof p);
  return std::string_view(p, s.len);
}

size_t ActorIds::probe(std::string_view actor, uint64_t h) const {
  size_t i = size_t(h) & mask_;
  while (slots_[i].id_plus_1 && !matches(slots_[i], h, actor)) i = (i + 1) & mask_;
  return i;
}

void ActorIds::fill(Slot& s, std::string_view actor, uint64_t h, uint32_t id) {
  s.hash = h;
  s.id_plus_1 = id + 1;
  s.len = uint32_t(actor.size());
  if (actor.size() <= kInline) {
    std::memcpy(s.bytes, actor.data(), actor.size());
  } else {
    const char* p = keep(actor);
    std::memcpy(s.bytes, &p, sizeof p);
  }
  if (++used_ * 2 > slots_.size()) grow();  // load factor <= 1/2
}

uint32_t ActorIds::intern_hashed(std::string_view actor, uint64_t h) {
  const size_t i = probe(actor, h);
  if (slots_[i].id_plus_1) return slots_[i].id_plus_1 - 1;
  if (count_ >= std::numeric_limits<uint32_t>::max() - 1)
    throw Error(sqlstate::kProgramLimit, "too many distinct actors in one analysis", "",
                "At most 4294967294 distinct _user values are supported.");
  const uint32_t id = uint32_t(count_++);
  fill(slots_[i], actor, h, id);
  return id;
}

void ActorIds::bind_hashed(std::string_view actor, uint64_t h, uint32_t id) {
  if (id >= std::numeric_limits<uint32_t>::max() - 1)
    throw Error(sqlstate::kProgramLimit, "too many distinct actors in one analysis", "",
                "At most 4294967294 distinct _user values are supported.");
  const size_t i = probe(actor, h);
  if (slots_[i].id_plus_1)
    slots_[i].id_plus_1 = id + 1;
  else
    fill(slots_[i], actor, h, id);
}

void ActorIds::reserve_ids(size_t n) { count_ = std::max(count_, n); }

uint32_t ActorIds::find(std::string_view actor, uint64_t h) const {
  const Slot& s = slots_[probe(actor, h)];
  return s.id_plus_1 ? s.id_plus_1 - 1 : kNone;
}

ActorBuckets::ActorBuckets(int nbuckets) : nbuckets_(nbuckets), words_(size_t(std::max(nbuckets, 1) + 63) / 64) {
  if (nbuckets < 1 || nbuckets > kMaxBuckets)
    throw Error(sqlstate::kProgramLimit, "between 1 and " + std::to_string(kMaxBuckets) +
                                             " buckets are supported, not " + std::to_string(nbuckets));
}

void ActorBuckets::grow(uint32_t actor) {
  // Doubling keeps appends amortised O(1) while ids arrive densely.
  const size_t need = (size_t(actor) + 1) * words_;
  bits_.resize(std::max({need, bits_.size() * 2, size_t(4096)}));
}

std::vector<int64_t> ActorBuckets::counts() const {
  std::vector<int64_t> out(size_t(nbuckets_), 0);
  const size_t n = bits_.size();
  for (size_t w = 0; w < n; ++w) {
    uint64_t bits = bits_[w];
    const int base = int(w % words_) * 64;
    while (bits) {
      out[size_t(base + __builtin_ctzll(bits))]++;
      bits &= bits - 1;
    }
  }
  return out;
}

}  // namespace pulse
