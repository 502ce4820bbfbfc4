// Unit tests of the single-pass report cores: actor numbering and per-actor bucket sets
// (src/core/actor_ids.cc), the whole-population funnel (src/core/funnel_report.cc) and the
// cohort matrix (src/core/retention_matrix.cc). Hand-made cases plus randomized comparisons
// with brute-force references written here (std::unordered_map, std::set, std::sort, and
// evaluate_funnel called per actor on events grouped by the test).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/actor_ids.h"
#include "core/bucket_uniques.h"
#include "core/error.h"
#include "core/funnel.h"
#include "core/funnel_report.h"
#include "core/retention_matrix.h"

namespace pulse {
namespace {

constexpr int64_t kSec = 1000000;
constexpr int64_t kHour = 3600 * kSec;
constexpr int64_t kDay = 24 * kHour;

// The SQLSTATE of the pulse::Error thrown by f ("" when it does not throw; "other" for
// another exception type).
template <typename F>
std::string sqlstate_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.sqlstate;
  } catch (...) {
    return "other";
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// ActorIds

// ActorIds::intern_many(const std::string_view*, size_t, uint32_t*) when the class has it (the
// batch variant is optional): tests of it skip otherwise.
template <typename T, typename = void>
struct HasInternMany : std::false_type {};
template <typename T>
struct HasInternMany<T, std::void_t<decltype(std::declval<T&>().intern_many(std::declval<const std::string_view*>(),
                                                                            size_t(0), std::declval<uint32_t*>()))>>
    : std::true_type {};

template <typename T>
bool intern_batch(T& ids, const std::string_view* actors, size_t n, uint32_t* out) {
  if constexpr (HasInternMany<T>::value) {
    ids.intern_many(actors, n, out);
    return true;
  } else {
    (void)ids, (void)actors, (void)n, (void)out;
    return false;
  }
}

TEST(ActorIds, FirstSeenOrderAndStableIds) {
  ActorIds ids;
  EXPECT_EQ(ids.size(), 0u);
  EXPECT_EQ(ids.intern("alice"), 0u);
  EXPECT_EQ(ids.intern("bob"), 1u);
  EXPECT_EQ(ids.intern("alice"), 0u);
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids.intern(""), 2u);
  EXPECT_EQ(ids.intern(std::string_view()), 2u);  // the empty actor, whatever its pointer
  EXPECT_EQ(ids.intern("carol"), 3u);
  EXPECT_EQ(ids.intern("bob"), 1u);
  EXPECT_EQ(ids.intern(""), 2u);
  EXPECT_EQ(ids.size(), 4u);
}

// Lengths around the inline limit (16 bytes), embedded NULs and zero padding: all distinct.
TEST(ActorIds, LengthsAndBytesAreBothPartOfTheKey) {
  const std::string s16(16, 'x');
  const std::string s17(17, 'x');
  std::vector<std::string> keys = {
      "",
      std::string(1, '\0'),
      std::string(2, '\0'),
      "a",
      std::string("a\0", 2),
      std::string("a\0\0\0\0\0\0\0", 8),
      std::string("a\0\0\0\0\0\0\0\0", 9),
      s16,
      s16.substr(0, 15) + "y",  // 16 bytes, last one differs
      "y" + s16.substr(1),      // 16 bytes, first one differs
      s17,
      s17.substr(0, 16) + "y",  // 17 bytes, last one differs
      "y" + s17.substr(1),
      std::string(15, 'x'),
      std::string(18, 'x'),
      std::string(24, 'x'),
      std::string(25, 'x'),
      std::string("\xff\xfe\x00\x01", 4),
      std::string(1000, 'x'),
      std::string(999, 'x') + "y",
  };
  ActorIds ids;
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(ids.intern(keys[i]), uint32_t(i)) << "key " << i;
  ASSERT_EQ(ids.size(), keys.size());
  for (size_t i = keys.size(); i-- > 0;) EXPECT_EQ(ids.intern(keys[i]), uint32_t(i)) << "key " << i;
  EXPECT_EQ(ids.size(), keys.size());
}

// intern() copies the bytes: the caller's buffer may change or go away afterwards.
TEST(ActorIds, BytesAreCopied) {
  ActorIds ids;
  std::string shortbuf = "user-0001";
  std::string longbuf(40, 'q');
  ASSERT_EQ(ids.intern(shortbuf), 0u);
  ASSERT_EQ(ids.intern(longbuf), 1u);
  shortbuf[5] = '9';
  longbuf[39] = 'r';
  EXPECT_EQ(ids.intern(shortbuf), 2u);
  EXPECT_EQ(ids.intern(longbuf), 3u);
  {
    std::string gone = std::string(30, 'z') + "tail";
    EXPECT_EQ(ids.intern(gone), 4u);
    std::fill(gone.begin(), gone.end(), '#');
  }
  EXPECT_EQ(ids.intern("user-0001"), 0u);
  EXPECT_EQ(ids.intern(std::string(40, 'q')), 1u);
  EXPECT_EQ(ids.intern(std::string(30, 'z') + "tail"), 4u);
  EXPECT_EQ(ids.size(), 5u);
}

// Actors longer than the 1 MiB blocks that hold long actors, between short and long ones.
TEST(ActorIds, ActorsLargerThanABlock) {
  ActorIds ids;
  std::vector<std::string> keys;
  keys.push_back(std::string(700000, 'a'));
  keys.push_back(std::string((1 << 20) + 1, 'b'));
  keys.push_back("short");
  keys.push_back(std::string(700000, 'a') + "!");
  keys.push_back(std::string(1 << 20, 'b'));
  keys.push_back(std::string(3 << 20, 'c'));
  keys.push_back(std::string(100, 'd'));
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(ids.intern(keys[i]), uint32_t(i)) << "key " << i;
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(ids.intern(keys[i]), uint32_t(i)) << "key " << i;
  EXPECT_EQ(ids.size(), keys.size());
}

// Random actors of varied shapes: empty, 1..15, exactly 16 and 17 bytes, long ones sharing a
// long prefix, decimal user ids, arbitrary bytes.
std::string random_actor(std::mt19937_64& rng) {
  static const std::string prefix(200, 'p');
  auto bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = char(rng() & 0xff);
    return s;
  };
  switch (rng() % 9) {
    case 0:
      return rng() % 50 == 0 ? std::string() : bytes(1 + rng() % 2);  // a small space: repeats
    case 1:
      return bytes(1 + rng() % 15);
    case 2:
      return "u" + std::to_string(rng() % 100000000000000ULL);  // decimal ids, <= 15 bytes
    case 3:
      return bytes(16);
    case 4:
      return bytes(17);
    case 5: {
      // 16 and 17 bytes with a shared 12-byte prefix: differ in the last bytes only.
      std::string s = "same-prefix-" + std::to_string(rng() % 100000);
      s.resize(rng() % 2 ? 16 : 17, '.');
      return s;
    }
    case 6:
      return prefix.substr(0, 8 + rng() % 190) + std::to_string(rng() % 30000);
    case 7:
      return prefix + bytes(rng() % 9);  // long, differ only in a short tail
    default:
      return bytes(18 + rng() % 300);
  }
}

// Actors with the same full 64-bit hash, built against a copy of ActorIds' hash of actors
// longer than 8 bytes (8-byte words mixed into the state, murmur3's finaliser; see hash_bytes
// in actor_ids.cc): they land in one probe chain and only their bytes tell them apart. The
// test checks that ActorIds::hash still agrees with the copy.
uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

uint64_t odd_inverse(uint64_t c) {
  uint64_t y = c;
  for (int i = 0; i < 6; ++i) y *= 2 - c * y;  // Newton: doubles the correct low bits
  return y;
}

uint64_t unmix64(uint64_t x) {
  x ^= x >> 33;  // its own inverse: 33 >= 64 / 2
  x *= odd_inverse(0xc4ceb9fe1a85ec53ULL);
  x ^= x >> 33;
  x *= odd_inverse(0xff51afd7ed558ccdULL);
  x ^= x >> 33;
  return x;
}

constexpr uint64_t kStep = 0x9ddfea08eb382d69ULL;

uint64_t mirror_hash(const std::string& s) {
  const size_t n = s.size();
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xc6a4a7935bd1e995ULL);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ mix64(w)) * kStep;
  }
  if (i < n) {
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, n - i);
    h = (h ^ mix64(w ^ 0x5bd1e995ULL)) * kStep;
  }
  return mix64(h);
}

// count strings of length n (n >= 8 * (j + 2)) equal but for words j and j + 1, all with the
// state of `model` after word j + 1, hence its hash.
std::vector<std::string> colliding(std::string model, size_t j, int count, std::mt19937_64& rng) {
  uint64_t state_j = 0x9e3779b97f4a7c15ULL ^ (model.size() * 0xc6a4a7935bd1e995ULL);
  for (size_t i = 0; i < j; ++i) {
    uint64_t w;
    std::memcpy(&w, model.data() + 8 * i, 8);
    state_j = (state_j ^ mix64(w)) * kStep;
  }
  uint64_t w_j, w_j1;
  std::memcpy(&w_j, model.data() + 8 * j, 8);
  std::memcpy(&w_j1, model.data() + 8 * (j + 1), 8);
  const uint64_t target = ((state_j ^ mix64(w_j)) * kStep) ^ mix64(w_j1);  // the state before * kStep
  std::vector<std::string> out = {model};
  while (int(out.size()) < count) {
    const uint64_t a = rng();
    const uint64_t b = unmix64(target ^ ((state_j ^ mix64(a)) * kStep));
    std::string s = model;
    std::memcpy(&s[8 * j], &a, 8);
    std::memcpy(&s[8 * (j + 1)], &b, 8);
    out.push_back(s);
  }
  return out;
}

TEST(ActorIds, FullHashCollisions) {
  std::mt19937_64 rng(4242);
  ASSERT_EQ(unmix64(mix64(0x0123456789abcdefULL)), 0x0123456789abcdefULL);
  std::vector<std::vector<std::string>> groups = {
      colliding(std::string(16, 'a'), 0, 40, rng),                 // inline, 16 bytes
      colliding(std::string(32, 'b'), 2, 40, rng),                 // out of line, equal first 16 bytes
      colliding(std::string(37, 'c'), 1, 40, rng),                 // out of line, with a tail
      colliding(std::string(300, 'd'), 30, 40, rng),               // a long shared prefix
      colliding(std::string("0123456789abcdef0123"), 0, 40, rng),  // 20 bytes, tail after
  };
  for (const auto& g : groups) {
    const uint64_t h = mirror_hash(g[0]);
    for (const std::string& s : g) {
      ASSERT_EQ(mirror_hash(s), h) << "the test's own collisions";
      ASSERT_EQ(ActorIds::hash(s), h) << "ActorIds' hash of long actors changed: update mirror_hash";
    }
    ASSERT_EQ(std::set<std::string>(g.begin(), g.end()).size(), g.size());
  }
  ActorIds ids;
  std::unordered_map<std::string, uint32_t> want;
  auto check = [&](const std::string& s) {
    auto [it, fresh] = want.emplace(s, uint32_t(want.size()));
    (void)fresh;
    ASSERT_EQ(ids.intern(s), it->second) << "length " << s.size();
  };
  // Interleaved with other actors and across table growth, then all again.
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < 40; ++i) {
      for (const auto& g : groups) check(g[i]);
      for (int k = 0; k < 100; ++k) check("filler-" + std::to_string(i * 100 + size_t(k)));
    }
  }
  EXPECT_EQ(ids.size(), want.size());
  EXPECT_EQ(want.size(), 5u * 40u + 4000u);
  for (const auto& g : groups)
    for (const std::string& s : g) {
      std::string_view v = s;
      uint32_t got = 0xdeadbeef;
      if (intern_batch(ids, &v, 1, &got)) {
        EXPECT_EQ(got, want.at(s));
      }
    }
}

TEST(ActorIds, RandomAgainstUnorderedMap) {
  std::mt19937_64 rng(20240611);
  ActorIds ids;
  std::unordered_map<std::string, uint32_t> want;
  std::vector<std::string> seen;
  constexpr int kN = 200000;
  size_t lens16 = 0, lens17 = 0, empties = 0, repeats = 0;
  for (int i = 0; i < kN; ++i) {
    std::string s;
    if (!seen.empty() && rng() % 4 == 0) {
      s = seen[rng() % seen.size()];  // a known actor again
    } else {
      s = random_actor(rng);
    }
    lens16 += s.size() == 16;
    lens17 += s.size() == 17;
    empties += s.empty();
    auto [it, fresh] = want.emplace(s, uint32_t(want.size()));
    if (fresh) {
      seen.push_back(s);
    } else {
      repeats++;
    }
    const uint32_t got = ids.intern(s);
    ASSERT_EQ(got, it->second) << "event " << i << " length " << s.size();
    ASSERT_EQ(ids.size(), want.size()) << "event " << i;
  }
  EXPECT_GT(want.size(), 100000u);
  EXPECT_GT(lens16, 1000u);
  EXPECT_GT(lens17, 1000u);
  EXPECT_GT(empties, 0u);
  EXPECT_GT(repeats, 40000u);
  // After all the growth, every actor still has its id, in any order.
  std::shuffle(seen.begin(), seen.end(), rng);
  for (const std::string& s : seen) ASSERT_EQ(ids.intern(s), want.at(s));
  EXPECT_EQ(ids.size(), want.size());
}

TEST(ActorIds, BatchAgainstUnorderedMap) {
  ActorIds ids;
  {
    std::string_view none[1];
    uint32_t out[1];
    if (!intern_batch(ids, none, 0, out)) GTEST_SKIP() << "ActorIds has no intern_many";
  }
  std::mt19937_64 rng(99);
  std::unordered_map<std::string, uint32_t> want;
  std::vector<std::string> seen;
  size_t total = 0;
  const size_t chunk_sizes[] = {0, 1, 2, 15, 16, 17, 31, 33, 1000, 5000};
  while (total < 200000) {
    const size_t n = chunk_sizes[rng() % (sizeof chunk_sizes / sizeof chunk_sizes[0])];
    std::vector<std::string> batch;
    for (size_t i = 0; i < n; ++i) {
      if (!batch.empty() && rng() % 8 == 0) {
        batch.push_back(batch[rng() % batch.size()]);  // twice in one batch, maybe close by
      } else if (!seen.empty() && rng() % 4 == 0) {
        batch.push_back(seen[rng() % seen.size()]);
      } else {
        batch.push_back(random_actor(rng));
      }
    }
    std::vector<std::string_view> views(batch.begin(), batch.end());
    std::vector<uint32_t> got(n + 1, 0xdeadbeef);
    if (rng() % 5 == 0) {
      for (size_t i = 0; i < n; ++i) got[i] = ids.intern(views[i]);  // mixed with single interns
    } else {
      intern_batch(ids, views.data(), n, got.data());
    }
    ASSERT_EQ(got[n], 0xdeadbeefu) << "wrote past n";
    for (size_t i = 0; i < n; ++i) {
      auto [it, fresh] = want.emplace(batch[i], uint32_t(want.size()));
      if (fresh) seen.push_back(batch[i]);
      ASSERT_EQ(got[i], it->second) << "batch of " << n << ", element " << i;
    }
    ASSERT_EQ(ids.size(), want.size());
    total += n;
  }
  std::shuffle(seen.begin(), seen.end(), rng);
  std::vector<std::string_view> views(seen.begin(), seen.end());
  std::vector<uint32_t> got(views.size());
  intern_batch(ids, views.data(), views.size(), got.data());
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(got[i], want.at(seen[i]));
  EXPECT_EQ(ids.size(), want.size());
}

// padded(): every length 0..16 against a zero-filled copy, with bytes on both sides of the
// actor that must not leak in.
TEST(ActorIds, PaddedWords) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 200; ++round) {
    char buf[48];
    for (char& c : buf) c = char(rng() & 0xff);
    for (size_t n = 0; n <= 16; ++n) {
      const char* p = buf + 16;
      uint64_t want[2] = {0, 0};
      std::memcpy(want, p, n);
      const Padded got = padded(p, n);
      ASSERT_EQ(got.w0, want[0]) << "length " << n;
      ASSERT_EQ(got.w1, want[1]) << "length " << n;
    }
  }
}

// ActorIds::hash of actors up to 8 bytes (one word through the finaliser): every length and
// every byte position counts, and 2^20 short actors have no full collision.
TEST(ActorIds, ShortActorHashes) {
  std::set<uint64_t> seen;
  size_t n = 0;
  auto add = [&](const std::string& s) {
    ++n;
    seen.insert(ActorIds::hash(s));
  };
  add("");
  for (size_t len = 1; len <= 9; ++len) {
    add(std::string(len, '\0'));
    add(std::string(len, 'a'));
    for (size_t pos = 0; pos < len; ++pos) {
      std::string s(len, 'a');
      s[pos] = 'b';
      add(s);
    }
  }
  EXPECT_EQ(seen.size(), n) << "an actor of up to 9 bytes differing in one byte or the length collided";
  std::mt19937_64 rng(8);
  std::set<uint64_t> random_hashes;
  std::set<std::string> actors;
  while (actors.size() < (1u << 20)) {
    std::string s(1 + rng() % 8, '\0');
    for (char& c : s) c = char(rng() & 0xff);
    if (actors.insert(s).second) random_hashes.insert(ActorIds::hash(s));
  }
  EXPECT_EQ(random_hashes.size(), actors.size());
}

// ---------------------------------------------------------------------------------------------
// BucketUniques

TEST(BucketUniques, BucketCountLimits) {
  EXPECT_EQ(sqlstate_of([] { BucketUniques b(0); }), "54000");
  EXPECT_EQ(sqlstate_of([] { BucketUniques b(-3); }), "54000");
  EXPECT_EQ(sqlstate_of([] { BucketUniques b(BucketUniques::kMaxBuckets + 1); }), "54000");
  EXPECT_EQ(sqlstate_of([] { BucketUniques b(1); }), "");
  EXPECT_EQ(sqlstate_of([] { BucketUniques b(BucketUniques::kMaxBuckets); }), "");
  EXPECT_EQ(BucketUniques(7).nbuckets(), 7);
  EXPECT_EQ(BucketUniques(3).counts(), std::vector<int64_t>(3, 0));
}

TEST(BucketUniques, InlineAndLongActors) {
  BucketUniques b(3);
  // 8 bytes is the longest actor kept in its entry, 9 the shortest kept in the byte store;
  // "" and "\0" differ only by length; the bytes are copied.
  std::string buf = "12345678";
  b.add(0, buf);
  buf = "123456789";
  b.add(0, buf);
  buf = "xxxxxxxx";
  b.add(0, "12345678");
  b.add(0, "123456789");
  b.add(0, "");
  b.add(0, std::string(1, '\0'));
  b.add(0, std::string(2, '\0'));
  b.add(0, "");
  b.add(1, "123456789");
  b.add(1, std::string(1000, 'q'));
  b.add(1, std::string(1000, 'q'));
  b.add(2, "12345678");
  EXPECT_EQ(b.counts(), (std::vector<int64_t>{5, 2, 1}));
}

// Distinct actors per bucket against std::set, with rows in time order (one bucket at a time,
// as events arrive), in random order, across batches and table growth, for short, 8/9-byte,
// long and colliding actors.
TEST(BucketUniques, RandomAgainstSets) {
  std::mt19937_64 rng(77);
  const std::vector<std::string> colliders = colliding(std::string(24, 'k'), 0, 30, rng);
  for (int iter = 0; iter < 40; ++iter) {
    const int nb = 1 + int(rng() % (iter % 4 == 0 ? 2000 : 40));
    const bool ordered = iter % 2 == 0;
    const size_t n = rng() % (iter % 5 == 0 ? 300000 : 5000);
    std::vector<std::pair<int, std::string>> rows;
    for (size_t i = 0; i < n; ++i) {
      std::string a;
      switch (rng() % 5) {
        case 0:
          a = colliders[rng() % colliders.size()];
          break;
        case 1:
          a = std::string(8 + rng() % 2, 'x');
          a[rng() % a.size()] = char('0' + rng() % 10);
          break;
        default:
          a = random_actor(rng);
      }
      rows.emplace_back(int(rng() % uint64_t(nb)), std::move(a));
    }
    if (ordered)
      std::stable_sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    BucketUniques b(nb);
    std::vector<std::set<std::string>> want(static_cast<size_t>(nb));
    // odd iterations mix add() with add_many() runs of up to 300 rows (the person resolution's)
    std::vector<BucketUniques::Row> run;
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& [k, a] = rows[i];
      want[size_t(k)].insert(a);
      if (iter % 2 == 0 || rng() % 3 == 0) {
        b.add(k, a);
        continue;
      }
      run.push_back(BucketUniques::Row{k, a, ActorIds::hash(a)});
      if (run.size() == 1 + rng() % 300 || i + 1 == rows.size()) {
        b.add_many(run.data(), run.size());
        run.clear();
      }
    }
    if (!run.empty()) b.add_many(run.data(), run.size());
    std::vector<int64_t> counts;
    for (const auto& w : want) counts.push_back(int64_t(w.size()));
    ASSERT_EQ(b.counts(), counts) << "iteration " << iter << ", " << nb << " buckets, " << n << " rows";
    ASSERT_EQ(b.counts(), counts) << "counts() twice";
  }
}

// 32-bit tag collisions between distinct actors of one length in one bucket: the inline bytes
// tell them apart (2^18 random 8-byte actors hold several equal tags).
TEST(BucketUniques, TagCollisions) {
  std::mt19937_64 rng(9);
  std::set<std::string> actors;
  std::map<uint32_t, int> tags;
  BucketUniques b(1);
  while (actors.size() < (1u << 18)) {
    std::string s(8, '\0');
    for (char& c : s) c = char('a' + rng() % 26);
    if (!actors.insert(s).second) continue;
    const uint64_t h = ActorIds::hash(s);
    tags[uint32_t(h ^ (h >> 32))]++;
    b.add(0, s);
    b.add(0, s);
  }
  ASSERT_LT(tags.size(), actors.size()) << "the test needs equal tags";
  EXPECT_EQ(b.counts(), std::vector<int64_t>{int64_t(actors.size())});
}

// ---------------------------------------------------------------------------------------------
// ActorBuckets

TEST(ActorBuckets, BucketCountLimits) {
  EXPECT_EQ(sqlstate_of([] { ActorBuckets b(0); }), "54000");
  EXPECT_EQ(sqlstate_of([] { ActorBuckets b(-1); }), "54000");
  EXPECT_EQ(sqlstate_of([] { ActorBuckets b(513); }), "54000");
  EXPECT_EQ(sqlstate_of([] { ActorBuckets b(std::numeric_limits<int>::max()); }), "54000");
  EXPECT_EQ(sqlstate_of([] { ActorBuckets b(std::numeric_limits<int>::min()); }), "54000");
  EXPECT_EQ(sqlstate_of([] { ActorBuckets b(1); }), "");
  EXPECT_EQ(sqlstate_of([] { ActorBuckets b(512); }), "");
  EXPECT_EQ(ActorBuckets::kMaxBuckets, 512);
  EXPECT_EQ(ActorBuckets(1).words_per_actor(), 1u);
  EXPECT_EQ(ActorBuckets(64).words_per_actor(), 1u);
  EXPECT_EQ(ActorBuckets(65).words_per_actor(), 2u);
  EXPECT_EQ(ActorBuckets(512).words_per_actor(), 8u);
  EXPECT_EQ(ActorBuckets(77).nbuckets(), 77);
}

TEST(ActorBuckets, Empty) {
  ActorBuckets b(100);
  EXPECT_EQ(b.actors(), 0u);
  EXPECT_FALSE(b.test(0, 0));
  EXPECT_FALSE(b.test(12345, 99));
  EXPECT_EQ(b.counts(), std::vector<int64_t>(100, 0));
}

TEST(ActorBuckets, WordEdges) {
  ActorBuckets b(512);
  for (int k : {0, 63, 64, 511}) b.set(0, k);
  b.set(1, 63);
  b.set(5, 511);
  b.set(5, 64);
  b.set(5, 64);  // twice: one bit
  b.set(0, 0);
  std::vector<int64_t> want(512, 0);
  want[0] = 1;
  want[63] = 2;
  want[64] = 2;
  want[511] = 2;
  EXPECT_EQ(b.counts(), want);
  EXPECT_GE(b.actors(), 6u);
  for (int k = 0; k < 512; ++k) {
    EXPECT_EQ(b.test(0, k), k == 0 || k == 63 || k == 64 || k == 511) << k;
    EXPECT_EQ(b.test(1, k), k == 63) << k;
    EXPECT_EQ(b.test(5, k), k == 64 || k == 511) << k;
    for (uint32_t a : {2u, 3u, 4u, 6u, 1000u}) EXPECT_FALSE(b.test(a, k)) << a << " " << k;
  }
  ASSERT_EQ(b.words_per_actor(), 8u);
  const uint64_t* w0 = b.words(0);
  EXPECT_EQ(w0[0], (uint64_t(1) << 63) | 1u);
  EXPECT_EQ(w0[1], 1u);
  for (int i = 2; i < 7; ++i) EXPECT_EQ(w0[i], 0u);
  EXPECT_EQ(w0[7], uint64_t(1) << 63);
  const uint64_t* w5 = b.words(5);
  EXPECT_EQ(w5[0], 0u);
  EXPECT_EQ(w5[1], 1u);
  EXPECT_EQ(w5[7], uint64_t(1) << 63);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(b.words(3)[i], 0u);
}

TEST(ActorBuckets, RandomAgainstSets) {
  std::mt19937 rng(5);
  for (int iter = 0; iter < 60; ++iter) {
    const int nb = iter < 4 ? std::vector<int>{1, 64, 65, 512}[size_t(iter)] : 1 + int(rng() % 512);
    ActorBuckets b(nb);
    std::map<uint32_t, std::set<int>> want;
    const uint32_t id_range = 1 + rng() % 1000;
    const int n = int(rng() % 4000);
    for (int i = 0; i < n; ++i) {
      const uint32_t a = rng() % id_range;
      const int k = int(rng() % uint32_t(nb));
      b.set(a, k);
      want[a].insert(k);
    }
    std::vector<int64_t> counts(size_t(nb), 0);
    for (const auto& [a, ks] : want)
      for (int k : ks) counts[size_t(k)]++;
    ASSERT_EQ(b.counts(), counts) << "iter " << iter;
    if (!want.empty()) {
      ASSERT_GT(b.actors(), want.rbegin()->first);
    }
    for (uint32_t a = 0; a < id_range + 2; ++a) {
      // The expected words of the actor; test() and words() agree with them (and nothing is
      // set past nbuckets).
      std::vector<uint64_t> bits(b.words_per_actor(), 0);
      const auto it = want.find(a);
      if (it != want.end())
        for (int k : it->second) bits[size_t(k) / 64] |= uint64_t(1) << (k % 64);
      for (int k = 0; k < nb; ++k)
        ASSERT_EQ(b.test(a, k), bool(bits[size_t(k) / 64] >> (k % 64) & 1)) << "iter " << iter << " " << a << " " << k;
      if (a < b.actors()) {
        const std::vector<uint64_t> got(b.words(a), b.words(a) + b.words_per_actor());
        ASSERT_EQ(got, bits) << "iter " << iter << " actor " << a;
      } else {
        ASSERT_EQ(bits, std::vector<uint64_t>(b.words_per_actor(), 0)) << "iter " << iter << " actor " << a;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// FunnelReport

FunnelParams fparams(int64_t window, int nsteps, uint32_t modes = 0) {
  FunnelParams p;
  p.window = window;
  p.nsteps = nsteps;
  p.modes = modes;
  return p;
}

uint32_t steps_mask(std::initializer_list<int> steps) {
  uint32_t m = 0;
  for (int s : steps) m |= 1u << (s - 1);
  return m;
}

// The doc example: A signup 14:00 -> pageview 14:05; B signup 14:03 alone; C signup 12:00 ->
// pageview 12:15.
void add_doc_events(FunnelReport& r) {
  const uint32_t A = 0, B = 1, C = 2;
  r.add(A, 14 * kHour, steps_mask({1}), 0);
  r.add(B, 14 * kHour + 3 * 60 * kSec, steps_mask({1}), 0);
  r.add(A, 14 * kHour + 5 * 60 * kSec, steps_mask({2}), 0);
  r.add(C, 12 * kHour + 15 * 60 * kSec, steps_mask({2}), 0);
  r.add(C, 12 * kHour, steps_mask({1}), 0);
}

TEST(FunnelReport, DocExampleFourteenDays) {
  FunnelReport r(fparams(14 * kDay, 2), {});
  add_doc_events(r);
  EXPECT_EQ(r.events(), 5u);
  const std::vector<FunnelStepReport> s = r.finish();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].users, 3);
  EXPECT_EQ(s[0].sum_days, 0);
  EXPECT_EQ(s[0].sum_usecs, 0);
  EXPECT_EQ(s[1].users, 2);
  EXPECT_EQ(s[1].sum_days, 0);
  EXPECT_EQ(s[1].sum_usecs, 1200 * kSec);  // 5 min + 15 min
  EXPECT_EQ(s[1].median_lo, 300 * kSec);
  EXPECT_EQ(s[1].median_hi, 900 * kSec);
}

TEST(FunnelReport, DocExampleFiveMinutes) {
  FunnelReport r(fparams(5 * 60 * kSec, 2), {});
  add_doc_events(r);
  const std::vector<FunnelStepReport> s = r.finish();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].users, 3);
  EXPECT_EQ(s[1].users, 1);  // the window is inclusive: A's 5 minutes count, C's 15 do not
  EXPECT_EQ(s[1].sum_days, 0);
  EXPECT_EQ(s[1].sum_usecs, 300 * kSec);
  EXPECT_EQ(s[1].median_lo, 300 * kSec);
  EXPECT_EQ(s[1].median_hi, 300 * kSec);
}

TEST(FunnelReport, NoEvents) {
  FunnelReport r(fparams(kDay, 3), {FunnelExclusion{1, 3}});
  r.add(7, 100, 0, 1);  // an exclusion event only
  EXPECT_EQ(r.events(), 0u);
  const std::vector<FunnelStepReport> s = r.finish();
  ASSERT_EQ(s.size(), 3u);
  for (const FunnelStepReport& x : s) {
    EXPECT_EQ(x.users, 0);
    EXPECT_EQ(x.sum_days, 0);
    EXPECT_EQ(x.sum_usecs, 0);
  }
}

// Durations are summed as whole days plus the microseconds within the day, per step.
TEST(FunnelReport, DurationsSplitIntoDaysAndMicroseconds) {
  FunnelReport r(fparams(30 * kDay, 3), {});
  // actor 0: 1 day + 1 s, then 2 days exactly; actor 1: 3 h, then 23:59:59.999999;
  // actor 2: 0, then 5 days + 7 h + 1 us; actor 3 reaches step 1 only.
  const int64_t t0 = 1700000000 * kSec;
  r.add(0, t0, steps_mask({1}), 0);
  r.add(0, t0 + kDay + kSec, steps_mask({2}), 0);
  r.add(0, t0 + 3 * kDay + kSec, steps_mask({3}), 0);
  r.add(1, t0, steps_mask({1}), 0);
  r.add(1, t0 + 3 * kHour, steps_mask({2}), 0);
  r.add(1, t0 + 3 * kHour + kDay - 1, steps_mask({3}), 0);
  r.add(2, t0, steps_mask({1}), 0);
  r.add(2, t0, steps_mask({2}), 0);
  r.add(2, t0 + 5 * kDay + 7 * kHour + 1, steps_mask({3}), 0);
  r.add(3, t0, steps_mask({1}), 0);
  const std::vector<FunnelStepReport> s = r.finish();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].users, 4);
  EXPECT_EQ(s[1].users, 3);
  EXPECT_EQ(s[1].sum_days, 1);
  EXPECT_EQ(s[1].sum_usecs, kSec + 3 * kHour);
  EXPECT_EQ(s[1].median_lo, 3 * kHour);
  EXPECT_EQ(s[1].median_hi, 3 * kHour);
  EXPECT_EQ(s[2].users, 3);
  EXPECT_EQ(s[2].sum_days, 2 + 0 + 5);
  EXPECT_EQ(s[2].sum_usecs, 0 + (kDay - 1) + (7 * kHour + 1));
  EXPECT_EQ(s[2].median_lo, 2 * kDay);
  EXPECT_EQ(s[2].median_hi, 2 * kDay);
}

// With a breakdown: random events (step-1 events with or without a value, several at one
// instant) against a reference that evaluates each actor's chain alone and picks the smallest
// value (the callback's order: reversed numbers) of its step-1 events at the chain's start;
// the groups add up to the report without breakdown, durations included.
TEST(FunnelReport, ByValueRandom) {
  std::mt19937 rnd(5);
  for (int round = 0; round < 200; ++round) {
    const int nsteps = 2 + int(rnd() % 3);
    const uint32_t modes = round % 2 ? kFunnelStrictSequence : 0;
    const uint32_t nvalues = 1 + rnd() % 4;
    const FunnelParams p = fparams(3 * kHour, nsteps, modes);
    FunnelReport by_value(p, {}, [](uint32_t a, uint32_t b) { return a > b; });
    FunnelReport plain(p, {});
    const uint32_t actors = 1 + rnd() % 15;
    std::vector<std::vector<FunnelEvent>> per_actor(actors);
    for (int i = 0; i < 120; ++i) {
      const uint32_t a = rnd() % actors;
      const int64_t ts = int64_t(rnd() % 12) * kHour;  // equal times are common
      const uint32_t steps = 1u << (rnd() % uint32_t(nsteps));
      const uint32_t value = (steps & 1) && rnd() % 4 ? 1 + rnd() % nvalues : 0;
      by_value.add(a, ts, steps, 0, value);
      plain.add(a, ts, steps, 0);
      per_actor[a].push_back(FunnelEvent{ts, steps, value});
    }
    std::vector<int64_t> want(size_t(nvalues + 1) * size_t(nsteps), 0);
    for (auto& events : per_actor) {
      if (events.empty()) continue;
      const FunnelResult r = evaluate_funnel(events.data(), events.size(), p);
      if (r.level == 0) continue;
      uint32_t best = 0;
      for (const FunnelEvent& e : events)
        if (e.ts == r.ts[0] && (e.steps & 1) && e.tag && (best == 0 || e.tag - 1 > best - 1)) best = e.tag;
      const size_t group = best == 0 ? nvalues : best - 1;
      for (int k = 0; k < r.level; ++k) want[group * size_t(nsteps) + size_t(k)]++;
    }
    const std::vector<FunnelStepReport> got = by_value.finish(nullptr, nvalues);
    const std::vector<FunnelStepReport> all = plain.finish();
    ASSERT_EQ(got.size(), want.size());
    std::vector<FunnelStepReport> sum(static_cast<size_t>(nsteps));
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].users, want[i]) << round << " " << i;
      sum[i % size_t(nsteps)].users += got[i].users;
      sum[i % size_t(nsteps)].sum_days += got[i].sum_days;
      sum[i % size_t(nsteps)].sum_usecs += got[i].sum_usecs;
    }
    for (int k = 0; k < nsteps; ++k) {
      EXPECT_EQ(sum[size_t(k)].users, all[size_t(k)].users) << round;
      EXPECT_EQ(sum[size_t(k)].sum_days * kDay + sum[size_t(k)].sum_usecs,
                all[size_t(k)].sum_days * kDay + all[size_t(k)].sum_usecs)
          << round;
    }
  }
}

// median_lo / median_hi: positions floor and ceil of (n - 1) / 2 of the sorted durations.
TEST(FunnelReport, MedianPair) {
  auto medians = [](const std::vector<int64_t>& durations) {
    FunnelReport r(fparams(kDay, 2), {});
    for (size_t a = 0; a < durations.size(); ++a) {
      r.add(uint32_t(a), 1000, steps_mask({1}), 0);
      r.add(uint32_t(a), 1000 + durations[a], steps_mask({2}), 0);
    }
    const std::vector<FunnelStepReport> s = r.finish();
    EXPECT_EQ(s[1].users, int64_t(durations.size()));
    return std::make_pair(s[1].median_lo, s[1].median_hi);
  };
  using P = std::pair<int64_t, int64_t>;
  EXPECT_EQ(medians({7}), (P{7, 7}));
  EXPECT_EQ(medians({9, 3}), (P{3, 9}));
  EXPECT_EQ(medians({10, 30, 20}), (P{20, 20}));
  EXPECT_EQ(medians({40, 10, 30, 20}), (P{20, 30}));
  EXPECT_EQ(medians({5, 5, 1, 5}), (P{5, 5}));
  EXPECT_EQ(medians({1, 1, 9, 9}), (P{1, 9}));
  EXPECT_EQ(medians({0, 100, 0, 100, 50, 50}), (P{50, 50}));
  EXPECT_EQ(medians({6, 5, 4, 3, 2, 1, 0, 7}), (P{3, 4}));
}

// Exclusion 1 (from step 1 to step 2) and exclusion 2 (from step 2 to step 3).
TEST(FunnelReport, ExclusionRule) {
  const std::vector<FunnelExclusion> x = {FunnelExclusion{1, 2}, FunnelExclusion{2, 3}};
  FunnelReport r(fparams(kDay, 3), x);
  const uint32_t s1 = steps_mask({1}), s2 = steps_mask({2}), s3 = steps_mask({3});
  // 0: an exclusion-1 event strictly between steps 1 and 2: out of every step.
  r.add(0, 10, s1, 0);
  r.add(0, 15, 0, 1);
  r.add(0, 20, s2, 0);
  r.add(0, 30, s3, 0);
  // 1: exclusion-1 events at the very times of steps 1 and 2: kept.
  r.add(1, 10, s1, 0);
  r.add(1, 10, 0, 1);
  r.add(1, 20, 0, 1);
  r.add(1, 20, s2, 0);
  // 2: an exclusion-1 event after step 1, but step 2 never reached: kept (level 1).
  r.add(2, 10, s1, 0);
  r.add(2, 15, 0, 1);
  // 3: an exclusion-1 event between steps 2 and 3: kept (exclusion 1 is steps 1..2).
  r.add(3, 10, s1, 0);
  r.add(3, 20, s2, 0);
  r.add(3, 25, 0, 1);
  r.add(3, 30, s3, 0);
  // 4: an exclusion-2 event between steps 1 and 2: kept; between 2 and 3 for 5: out.
  r.add(4, 10, s1, 0);
  r.add(4, 15, 0, 2);
  r.add(4, 20, s2, 0);
  r.add(4, 30, s3, 0);
  r.add(5, 10, s1, 0);
  r.add(5, 20, s2, 0);
  r.add(5, 25, 0, 2);
  r.add(5, 30, s3, 0);
  // 6: an exclusion-2 event between steps 2 and 3, but step 3 never reached: kept (level 2).
  r.add(6, 10, s1, 0);
  r.add(6, 20, s2, 0);
  r.add(6, 25, 0, 2);
  // 7: the exclusion event is before the counted chain's step 1 (the latest step 1 that
  // leads to step 2): kept.
  r.add(7, 0, s1, 0);
  r.add(7, 5, 0, 1);
  r.add(7, 10, s1, 0);
  r.add(7, 20, s2, 0);
  // 8: rows that match a step and an exclusion: the step-2 row at 20 is also an exclusion-2
  // event, at the very time of step 2 (not strictly between steps 2 and 3), but the
  // (too early) step-3 row at 15 is an exclusion-1 event between steps 1 and 2: out.
  r.add(8, 10, s1, 0);
  r.add(8, 15, steps_mask({3}), 1);  // a step-3 row too early to count, and an exclusion-1 event
  r.add(8, 20, s2, 2);
  r.add(8, 30, s3, 0);
  // 9: both exclusion bits on one event between steps 1 and 2: out.
  r.add(9, 10, s1, 0);
  r.add(9, 15, 0, 3);
  r.add(9, 20, s2, 0);
  // 10: an exclusion event of an actor with no step events; 11: excluded events after it all.
  r.add(10, 15, 0, 3);
  r.add(11, 10, s1, 0);
  r.add(11, 20, s2, 0);
  r.add(11, 30, s3, 0);
  r.add(11, 40, 0, 3);
  const std::vector<FunnelStepReport> s = r.finish();
  ASSERT_EQ(s.size(), 3u);
  // kept: 1 (level 2), 2 (1), 3 (3), 4 (3), 6 (2), 7 (2), 11 (3); out: 0, 5, 8, 9.
  EXPECT_EQ(s[0].users, 7);
  EXPECT_EQ(s[1].users, 6);
  EXPECT_EQ(s[2].users, 3);
  EXPECT_EQ(s[1].sum_usecs, 6 * 10);
  EXPECT_EQ(s[2].sum_usecs, 3 * 10);
}

// Exclusions are not step events: without strict_order a row matching only exclusions is not
// kept; with strict_order it is (and interrupts the chain like any other non-step row).
TEST(FunnelReport, ExclusionOnlyRowsAndStrictOrder) {
  {
    FunnelReport r(fparams(kDay, 2), {FunnelExclusion{1, 2}});
    r.add(0, 10, steps_mask({1}), 0);
    r.add(0, 15, 0, 0);
    r.add(0, 16, 0, 1);
    EXPECT_EQ(r.events(), 1u);
  }
  FunnelReport r(fparams(kDay, 2, kFunnelStrictOrder), {});
  r.add(0, 10, steps_mask({1}), 0);
  r.add(0, 15, 0, 1);  // no exclusions configured: just a row matching no step
  r.add(0, 20, steps_mask({2}), 0);
  r.add(1, 10, steps_mask({1}), 0);
  r.add(1, 20, steps_mask({2}), 0);
  EXPECT_EQ(r.events(), 5u);
  const std::vector<FunnelStepReport> s = r.finish();
  EXPECT_EQ(s[0].users, 2);
  EXPECT_EQ(s[1].users, 1);  // actor 0's chain is interrupted
}

TEST(FunnelReport, ConstructorValidation) {
  auto make = [](int nsteps, std::vector<FunnelExclusion> x) {
    return [nsteps, x] { FunnelReport r(fparams(kDay, nsteps), x); };
  };
  EXPECT_EQ(sqlstate_of(make(3, {})), "");
  EXPECT_EQ(sqlstate_of(make(3, {{1, 2}, {2, 3}, {1, 3}})), "");
  EXPECT_EQ(sqlstate_of(make(3, {{0, 2}})), "22023");
  EXPECT_EQ(sqlstate_of(make(3, {{-1, 2}})), "22023");
  EXPECT_EQ(sqlstate_of(make(3, {{1, 4}})), "22023");
  EXPECT_EQ(sqlstate_of(make(3, {{2, 2}})), "22023");
  EXPECT_EQ(sqlstate_of(make(3, {{3, 2}})), "22023");
  EXPECT_EQ(sqlstate_of(make(3, {{1, 2}, {2, 1}})), "22023");
  EXPECT_EQ(sqlstate_of(make(1, {{1, 2}})), "22023");
  EXPECT_EQ(sqlstate_of(make(32, std::vector<FunnelExclusion>(32, FunnelExclusion{1, 32}))), "");
  // More than 32 exclusions is refused (the event's exclusion bits are 32 wide).
  EXPECT_NE(sqlstate_of(make(32, std::vector<FunnelExclusion>(33, FunnelExclusion{1, 32}))), "");
  EXPECT_NE(sqlstate_of(make(32, std::vector<FunnelExclusion>(33, FunnelExclusion{1, 32}))), "other");
}

// Exclusion 32 (bit 31) works like the others.
TEST(FunnelReport, ThirtySecondExclusion) {
  std::vector<FunnelExclusion> x(31, FunnelExclusion{2, 3});
  x.push_back(FunnelExclusion{1, 2});
  FunnelReport r(fparams(kDay, 3), x);
  r.add(0, 10, steps_mask({1}), 0);
  r.add(0, 15, 0, 1u << 31);
  r.add(0, 20, steps_mask({2}), 0);
  r.add(1, 10, steps_mask({1}), 0);
  r.add(1, 15, 0, 1u << 30);  // exclusion 31: steps 2..3
  r.add(1, 20, steps_mask({2}), 0);
  const std::vector<FunnelStepReport> s = r.finish();
  EXPECT_EQ(s[0].users, 1);
  EXPECT_EQ(s[1].users, 1);
}

int g_ticks = 0;
void tick_counter() { ++g_ticks; }
void tick_thrower() { throw Error(sqlstate::kInternal, "canceled"); }

TEST(FunnelReport, TickIsCalledAndMayThrow) {
  auto fill = [](FunnelReport& r) {
    for (uint32_t a = 0; a < 10000; ++a) {
      r.add(a, 1, steps_mask({1}), 0);
      r.add(a, 2, steps_mask({2}), 0);
    }
  };
  {
    FunnelReport r(fparams(kDay, 2), {});
    fill(r);
    g_ticks = 0;
    const std::vector<FunnelStepReport> s = r.finish(tick_counter);
    EXPECT_GE(g_ticks, 1);
    EXPECT_LE(g_ticks, 10000);
    EXPECT_EQ(s[0].users, 10000);
    EXPECT_EQ(s[1].users, 10000);
    EXPECT_EQ(s[1].sum_usecs, 10000);
  }
  FunnelReport r(fparams(kDay, 2), {});
  fill(r);
  EXPECT_EQ(sqlstate_of([&] { r.finish(tick_thrower); }), "XX000");
}

// A brute-force report: the kept events grouped by actor, evaluate_funnel per actor, the
// exclusion rule checked against every excluded event of the actor, then counts, sums and
// sorted durations.
struct RawEvent {
  uint32_t actor;
  int64_t ts;
  uint32_t steps;
  uint32_t exclusions;
};

struct BruteStats {
  int64_t excluded = 0;  // actors with a chain dropped by an exclusion
  int64_t spared = 0;    // actors with an excluded event of a configured exclusion, not dropped
};

std::vector<FunnelStepReport> brute_force_report(const std::vector<RawEvent>& events, const FunnelParams& p,
                                                 const std::vector<FunnelExclusion>& x, BruteStats* stats) {
  std::map<uint32_t, std::vector<FunnelEvent>> kept;
  std::map<uint32_t, std::vector<std::pair<int64_t, uint32_t>>> excl;
  for (const RawEvent& e : events) {
    if (e.steps != 0 || (p.modes & kFunnelStrictOrder)) kept[e.actor].push_back(FunnelEvent{e.ts, e.steps});
    if (e.exclusions) excl[e.actor].push_back({e.ts, e.exclusions});
  }
  std::vector<FunnelStepReport> out(size_t(p.nsteps));
  std::vector<std::vector<int64_t>> durations(size_t(p.nsteps));
  for (auto& [actor, ev] : kept) {
    const FunnelResult r = evaluate_funnel(ev.data(), ev.size(), p);
    if (r.level == 0) continue;
    bool dropped = false, candidate = false;
    for (const auto& [ts, mask] : excl[actor]) {
      for (size_t j = 0; j < x.size(); ++j) {
        if (!(mask >> j & 1)) continue;
        candidate = true;
        if (r.level >= x[j].to_step && r.ts[x[j].from_step - 1] < ts && ts < r.ts[x[j].to_step - 1]) dropped = true;
      }
    }
    if (dropped) {
      stats->excluded++;
      continue;
    }
    stats->spared += candidate;
    for (int k = 0; k < r.level; ++k) {
      out[size_t(k)].users++;
      if (k == 0) continue;
      const int64_t d = r.ts[k] - r.ts[k - 1];
      EXPECT_GE(d, 0);
      out[size_t(k)].sum_days += d / kDay;
      out[size_t(k)].sum_usecs += d % kDay;
      durations[size_t(k)].push_back(d);
    }
  }
  for (int k = 1; k < p.nsteps; ++k) {
    std::vector<int64_t>& v = durations[size_t(k)];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    out[size_t(k)].median_lo = v[(v.size() - 1) / 2];
    out[size_t(k)].median_hi = v[v.size() / 2];
  }
  return out;
}

void expect_same_report(const std::vector<FunnelStepReport>& got, const std::vector<FunnelStepReport>& want,
                        const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(got[k].users, want[k].users) << what << " step " << k + 1;
    EXPECT_EQ(got[k].sum_days, want[k].sum_days) << what << " step " << k + 1;
    EXPECT_EQ(got[k].sum_usecs, want[k].sum_usecs) << what << " step " << k + 1;
    if (want[k].users > 0 && k > 0) {
      EXPECT_EQ(got[k].median_lo, want[k].median_lo) << what << " step " << k + 1;
      EXPECT_EQ(got[k].median_hi, want[k].median_hi) << what << " step " << k + 1;
    }
    if (k > 0) {
      EXPECT_LE(got[k].users, got[k - 1].users) << what << " step " << k + 1;
    }
  }
}

TEST(FunnelReport, RandomAgainstBruteForce) {
  std::mt19937_64 rng(31337);
  const uint32_t modes_list[] = {0,
                                 kFunnelStrictOrder,
                                 kFunnelStrictDeduplication,
                                 kFunnelStrictIncrease,
                                 kFunnelStrictOrder | kFunnelStrictDeduplication,
                                 kFunnelStrictDeduplication | kFunnelStrictIncrease,
                                 kFunnelStrictOrder | kFunnelStrictDeduplication | kFunnelStrictIncrease,
                                 kFunnelUnordered};
  const int64_t units[] = {1, kSec, kHour, 7 * kHour, kDay + 13};
  BruteStats stats;
  int64_t step2_users = 0, multi_day = 0;
  for (int iter = 0; iter < 250; ++iter) {
    const int nsteps = 1 + int(rng() % 6);
    const uint32_t modes = modes_list[rng() % (sizeof modes_list / sizeof modes_list[0])];
    const int64_t unit = units[rng() % (sizeof units / sizeof units[0])];
    const int64_t span = 1 + int64_t(rng() % 40);
    const int64_t window =
        rng() % 8 == 0 ? std::numeric_limits<int64_t>::max() / 4 : int64_t(rng() % uint64_t(span + 1)) * unit;
    const FunnelParams p = fparams(window, nsteps, modes);
    std::vector<FunnelExclusion> x;
    if (nsteps >= 2) {
      const int nx = int(rng() % 4);
      for (int j = 0; j < nx; ++j) {
        const int from = 1 + int(rng() % uint64_t(nsteps - 1));
        const int to = from + 1 + int(rng() % uint64_t(nsteps - from));
        x.push_back(FunnelExclusion{from, to});
      }
    }
    // Sparse actor ids (gaps are actors of other reports), a few events each, in any order.
    const int nactors = 1 + int(rng() % 150);
    const uint32_t stride = 1 + uint32_t(rng() % 5);
    const int64_t base = int64_t(rng() % 2 ? 0 : 1600000000 * kSec) - int64_t(rng() % 3) * kDay;
    std::vector<RawEvent> events;
    for (int i = 0; i < nactors; ++i) {
      const uint32_t actor = uint32_t(i) * stride + uint32_t(rng() % stride);
      const int n = int(rng() % 10);
      for (int k = 0; k < n; ++k) {
        RawEvent e;
        e.actor = actor;
        e.ts = base + int64_t(rng() % uint64_t(span)) * unit;
        const uint32_t r = uint32_t(rng() % 10);
        if (r < 5) {
          e.steps = 1u << (rng() % uint64_t(nsteps));  // one step
        } else if (r < 7) {
          e.steps = uint32_t(rng()) & ((1u << nsteps) - 1u);  // several or none
        } else if (r < 8) {
          e.steps = uint32_t(rng());  // bits beyond nsteps too
        } else {
          e.steps = 0;
        }
        e.exclusions = (!x.empty() && rng() % 3 == 0) ? uint32_t(rng()) & ((1u << x.size()) - 1u) : 0;
        if (rng() % 20 == 0) e.exclusions |= 1u << (x.size() + rng() % 4);  // bits of no exclusion
        events.push_back(e);
      }
    }
    std::shuffle(events.begin(), events.end(), rng);
    const std::vector<FunnelStepReport> want = brute_force_report(events, p, x, &stats);
    step2_users += nsteps >= 2 ? want[1].users : 0;
    for (const FunnelStepReport& s : want) multi_day += s.sum_days > 0;

    FunnelReport r(p, x);
    size_t kept = 0;
    for (const RawEvent& e : events) {
      r.add(e.actor, e.ts, e.steps, e.exclusions);
      kept += funnel_keeps(e.steps, modes);
    }
    ASSERT_EQ(r.events(), kept);
    const std::string what = "iter " + std::to_string(iter) + " modes " + std::to_string(modes);
    expect_same_report(r.finish(), want, what);

    // The same events in another order: the same report.
    std::shuffle(events.begin(), events.end(), rng);
    FunnelReport again(p, x);
    for (const RawEvent& e : events) again.add(e.actor, e.ts, e.steps, e.exclusions);
    expect_same_report(again.finish(), want, what + " reshuffled");
    if (HasFailure()) return;
  }
  // The generator exercised what it should.
  EXPECT_GT(stats.excluded, 100);
  EXPECT_GT(stats.spared, 100);
  EXPECT_GT(step2_users, 1000);
  EXPECT_GT(multi_day, 50);
}

// More events than one of FunnelReport's event chunks holds (2 MB of 16-byte entries: 131072),
// around the chunk boundaries, with every actor's events spread over the chunks.
TEST(FunnelReport, ManyEventsAgainstBruteForce) {
  std::mt19937_64 rng(808);
  const std::vector<FunnelExclusion> x = {FunnelExclusion{1, 3}, FunnelExclusion{2, 3}};
  const FunnelParams p = fparams(3 * kDay, 3);
  BruteStats stats;
  for (size_t total : {size_t(131072), size_t(131073), size_t(262144 + 7)}) {
    const uint32_t nactors = 20000;
    std::vector<RawEvent> events;
    events.reserve(total);
    while (events.size() < total) {
      RawEvent e;
      e.actor = uint32_t(rng() % nactors) * 3;
      e.ts = int64_t(rng() % (10 * 24)) * kHour + int64_t(rng() % 1000);
      e.steps = rng() % 10 == 0 ? 0 : 1u << (rng() % 3);
      e.exclusions = rng() % 25 == 0 ? 1 + uint32_t(rng() % 3) : 0;
      events.push_back(e);
    }
    FunnelReport r(p, x);
    for (const RawEvent& e : events) r.add(e.actor, e.ts, e.steps, e.exclusions);
    const std::vector<FunnelStepReport> want = brute_force_report(events, p, x, &stats);
    EXPECT_GT(want[2].users, 1000);
    expect_same_report(r.finish(), want, "total " + std::to_string(total));
  }
  EXPECT_GT(stats.excluded, 300);

  // Every event counts: each actor has one step-1 and one step-2 event (in any order), so a
  // single lost or duplicated event changes the users or the sum.
  for (size_t total : {size_t(131072 + 2), size_t(262144), size_t(393216 + 10)}) {
    const uint32_t nactors = uint32_t(total / 2);
    std::vector<RawEvent> events;
    int64_t sum = 0;
    std::vector<int64_t> durations;
    for (uint32_t a = 0; a < nactors; ++a) {
      const int64_t t = int64_t(rng() % 1000) * kHour;
      const int64_t d = 1 + int64_t(a % 5000);
      events.push_back(RawEvent{a, t, 1, 0});
      events.push_back(RawEvent{a, t + d, 2, 0});
      sum += d;
      durations.push_back(d);
    }
    std::shuffle(events.begin(), events.end(), rng);
    for (uint32_t modes : {0u, kFunnelStrictOrder}) {
      FunnelReport r(fparams(kDay, 2, modes), {});
      for (const RawEvent& e : events) r.add(e.actor, e.ts, e.steps, e.exclusions);
      ASSERT_EQ(r.events(), total);
      const std::vector<FunnelStepReport> got = r.finish();
      EXPECT_EQ(got[0].users, int64_t(nactors)) << total;
      EXPECT_EQ(got[1].users, int64_t(nactors)) << total;
      EXPECT_EQ(got[1].sum_days, 0) << total;
      EXPECT_EQ(got[1].sum_usecs, sum) << total;
      std::sort(durations.begin(), durations.end());
      EXPECT_EQ(got[1].median_lo, durations[(durations.size() - 1) / 2]) << total;
      EXPECT_EQ(got[1].median_hi, durations[durations.size() / 2]) << total;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RetentionMatrix

using Counts = std::vector<int64_t>;

TEST(RetentionMatrix, Fits) {
  EXPECT_TRUE(RetentionMatrix::fits(1, 1));
  EXPECT_TRUE(RetentionMatrix::fits(512, 1));
  EXPECT_TRUE(RetentionMatrix::fits(1, 512));
  EXPECT_TRUE(RetentionMatrix::fits(256, 257));
  EXPECT_FALSE(RetentionMatrix::fits(256, 258));
  EXPECT_FALSE(RetentionMatrix::fits(513, 1));
  EXPECT_FALSE(RetentionMatrix::fits(0, 5));
  EXPECT_FALSE(RetentionMatrix::fits(5, 0));
  EXPECT_FALSE(RetentionMatrix::fits(-1, 5));
  EXPECT_FALSE(RetentionMatrix::fits(int64_t(1) << 40, 1));
}

TEST(RetentionMatrix, SizeLimit) {
  EXPECT_EQ(sqlstate_of([] { RetentionMatrix m(500, 14, false); }), "54000");
  EXPECT_EQ(sqlstate_of([] { RetentionMatrix m(1, 513, true); }), "54000");
  EXPECT_EQ(sqlstate_of([] { RetentionMatrix m(513, 1, false); }), "54000");
  EXPECT_EQ(sqlstate_of([] { RetentionMatrix m(0, 1, false); }), "54000");
  EXPECT_EQ(sqlstate_of([] { RetentionMatrix m(500, 13, false); }), "");
  EXPECT_EQ(sqlstate_of([] { RetentionMatrix m(1, 512, true); }), "");
  // The largest: a return in the last bucket (511) counts.
  RetentionMatrix m(1, 512, false);
  m.add_start(0, 0, 0);
  m.add_return(0, 511);
  m.add_return(0, 512);  // outside: ignored
  const Counts got = m.finish();
  ASSERT_EQ(got.size(), 512u);
  EXPECT_EQ(got[0], 1);
  EXPECT_EQ(got[511], 1);
  EXPECT_EQ(std::count(got.begin(), got.end(), 0), 510);
}

TEST(RetentionMatrix, Empty) {
  for (bool first_time : {false, true}) {
    RetentionMatrix m(4, 3, first_time);
    m.add_return(0, 1);
    EXPECT_EQ(m.finish(), Counts(12, 0)) << first_time;
  }
}

TEST(RetentionMatrix, Recurring) {
  RetentionMatrix m(3, 3, false);  // returns count in buckets 0..4
  m.add_start(0, 0, 0);
  m.add_return(0, 1);
  m.add_return(0, 2);
  m.add_return(0, 2);
  m.add_start(1, 0, 0);
  m.add_start(1, 1, 0);
  m.add_start(1, 1, 0);
  m.add_return(1, 2);
  m.add_start(2, 2, 0);
  m.add_return(2, 4);
  m.add_return(2, 2);     // its own cohort's bucket: period 0 is the cohort size anyway
  m.add_return(3, 1);     // returns without starts
  m.add_start(4, -1, 0);  // before the range: ignored when recurring
  m.add_start(4, 3, 0);   // past the cohorts: ignored
  m.add_start(4, -7, 0);
  m.add_return(4, 1);
  m.add_start(5, 1, 0);
  m.add_return(5, 5);  // past the last return bucket: ignored
  m.add_return(5, -1);
  // row 0: {0, 1}; 0 returned in 1 and 2, 1 in 2.   row 1: {1, 5}; 1 returned in 2.
  // row 2: {2}; returned in 4.
  EXPECT_EQ(m.finish(), (Counts{2, 1, 2,  //
                                2, 1, 0,  //
                                1, 0, 1}));
  // finish() is const and repeatable.
  EXPECT_EQ(m.finish(), (Counts{2, 1, 2, 2, 1, 0, 1, 0, 1}));
}

TEST(RetentionMatrix, FirstTime) {
  RetentionMatrix m(3, 3, true);
  // 0: starts in bucket 1, then an earlier one in bucket 0 arrives: cohort 0.
  m.add_start(0, 1, 100);
  m.add_start(0, 0, 50);
  m.add_return(0, 1);
  // 1: an earlier start before the range: in no cohort, though it started in bucket 0 too.
  m.add_start(1, 0, 60);
  m.add_start(1, -1, 10);
  m.add_return(1, 1);
  // 2: cohort 2.
  m.add_start(2, 2, 300);
  m.add_start(2, 2, 310);
  m.add_return(2, 3);
  m.add_return(2, 4);
  // 3: a start past the cohorts is ignored (it is not the earliest): cohort 1.
  m.add_start(3, 5, 1);
  m.add_start(3, 1, 150);
  m.add_return(3, 3);
  // 4: only an out-of-range start: nothing.
  m.add_start(4, 3, 400);
  m.add_start(4, -2, 0);
  // 5: the before-range start arrives last but is the earliest: nothing.
  m.add_start(5, 0, 20);
  m.add_start(5, -1, 5);
  EXPECT_EQ(m.finish(), (Counts{1, 1, 0,  //
                                1, 0, 1,  //
                                1, 1, 1}));
}

// With a breakdown: random starts (with values, ties at one instant) and returns against a
// reference that keeps every start and picks, per actor and cohort (recurring) or per actor
// (first_time), the earliest start, ties to the smallest value; the matrices without breakdown
// are the sums over values.
TEST(RetentionMatrix, ByValueRandom) {
  std::mt19937 rnd(11);
  for (int round = 0; round < 200; ++round) {
    const int cohorts = 1 + int(rnd() % 6), periods = 1 + int(rnd() % 5);
    const bool first_time = round % 2;
    const uint32_t nvalues = 1 + rnd() % 4;
    // value order: reversed numbers (the matrix must follow the callback, not the numbers)
    RetentionMatrix m(cohorts, periods, first_time, [](uint32_t a, uint32_t b) { return a > b; });
    RetentionMatrix plain(cohorts, periods, first_time);
    struct Start {
      uint32_t actor;
      int64_t bucket, ts;
      uint32_t value;
    };
    std::vector<Start> starts;
    std::set<std::pair<uint32_t, int64_t>> returns;
    const uint32_t actors = 1 + rnd() % 20;
    for (int i = 0; i < 60; ++i) {
      const uint32_t a = rnd() % actors;
      if (rnd() % 2) {
        const int64_t bucket = int64_t(rnd() % uint32_t(cohorts + 1)) - (first_time ? 1 : 0);
        const int64_t ts = bucket * 10 + int64_t(rnd() % 3);  // ties at one instant
        const uint32_t v = rnd() % nvalues;
        starts.push_back(Start{a, bucket, ts, v});
        m.add_start(a, bucket, ts, v);
        plain.add_start(a, bucket, ts);
      } else {
        const int64_t bucket = int64_t(rnd() % uint32_t(cohorts + periods));
        returns.insert({a, bucket});
        m.add_return(a, bucket);
        plain.add_return(a, bucket);
      }
    }
    // reference: the chosen start per (actor, cohort)
    std::map<std::pair<uint32_t, int64_t>, Start> chosen;
    auto better = [](const Start& x, const Start& y) { return x.ts < y.ts || (x.ts == y.ts && x.value > y.value); };
    for (const Start& st : starts) {
      if (st.bucket >= cohorts || (!first_time && st.bucket < 0)) continue;
      const auto key = std::make_pair(st.actor, first_time ? int64_t(0) : st.bucket);
      auto it = chosen.find(key);
      if (it == chosen.end() || better(st, it->second)) chosen[key] = st;
    }
    Counts want(size_t(nvalues) * size_t(cohorts) * size_t(periods), 0);
    for (const auto& [key, st] : chosen) {
      if (st.bucket < 0) continue;  // first_time: the first start is before the range
      int64_t* row = &want[(size_t(st.value) * size_t(cohorts) + size_t(st.bucket)) * size_t(periods)];
      row[0]++;
      for (int k = 1; k < periods; ++k)
        if (returns.count({st.actor, st.bucket + k})) row[k]++;
    }
    const Counts got = m.finish(nvalues);
    EXPECT_EQ(got, want) << round;
    Counts sum(size_t(cohorts) * size_t(periods), 0);
    for (size_t i = 0; i < got.size(); ++i) sum[i % sum.size()] += got[i];
    EXPECT_EQ(sum, plain.finish()) << round;
  }
}

// The same starts differ between the modes: recurring counts every cohort an actor started
// in, first_time only the first.
TEST(RetentionMatrix, RecurringVersusFirstTime) {
  for (bool first_time : {false, true}) {
    RetentionMatrix m(3, 2, first_time);
    m.add_start(7, 0, 0);
    m.add_start(7, 1, 10);
    m.add_start(7, 2, 20);
    m.add_return(7, 1);
    m.add_return(7, 3);
    const Counts got = m.finish();
    if (first_time) {
      EXPECT_EQ(got, (Counts{1, 1, 0, 0, 0, 0}));
    } else {
      EXPECT_EQ(got, (Counts{1, 1, 1, 0, 1, 1}));
    }
  }
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// Brute force with std::set: starts and returns per actor.
Counts brute_force_matrix(int cohorts, int periods, bool first_time,
                          const std::vector<std::tuple<uint32_t, int64_t, int64_t>>& starts,
                          const std::vector<std::pair<uint32_t, int64_t>>& returns) {
  std::map<uint32_t, std::set<int64_t>> cohort_of;
  if (first_time) {
    std::map<uint32_t, std::pair<int64_t, int64_t>> first;  // actor -> (ts, bucket)
    for (const auto& [a, bucket, ts] : starts) {
      if (bucket < -1 || bucket >= cohorts) continue;
      auto it = first.find(a);
      if (it == first.end() || ts < it->second.first) first[a] = {ts, bucket};
    }
    for (const auto& [a, tb] : first)
      if (tb.second >= 0) cohort_of[a].insert(tb.second);
  } else {
    for (const auto& [a, bucket, ts] : starts)
      if (bucket >= 0 && bucket < cohorts) cohort_of[a].insert(bucket);
  }
  std::map<uint32_t, std::set<int64_t>> returned;
  for (const auto& [a, bucket] : returns) returned[a].insert(bucket);
  Counts out(size_t(cohorts) * size_t(periods), 0);
  for (const auto& [a, cs] : cohort_of)
    for (int64_t c : cs) {
      out[size_t(c) * size_t(periods)]++;
      for (int k = 1; k < periods; ++k)
        if (c + k < cohorts + periods - 1 && returned[a].count(c + k)) out[size_t(c) * size_t(periods) + size_t(k)]++;
    }
  return out;
}

TEST(RetentionMatrix, RandomAgainstSets) {
  std::mt19937_64 rng(2718);
  int64_t nonzero_returns = 0, skipped_by_first_time = 0;
  for (int iter = 0; iter < 300; ++iter) {
    int cohorts = 1 + int(rng() % 30);
    int periods = 1 + int(rng() % 30);
    if (iter % 30 == 0) {
      cohorts = 1 + int(rng() % 300);
      periods = 513 - cohorts;  // the largest matrices
    }
    const bool first_time = iter % 2 == 1;
    const int64_t width = 1 + int64_t(rng() % 1000);  // bucket width in microseconds
    const uint32_t id_range = 1 + uint32_t(rng() % (rng() % 10 == 0 ? 100000 : 300));
    std::vector<std::tuple<uint32_t, int64_t, int64_t>> starts;
    std::vector<std::pair<uint32_t, int64_t>> returns;
    const int n = int(rng() % 1500);
    for (int i = 0; i < n; ++i) {
      const uint32_t a = uint32_t(rng() % id_range);
      if (rng() % 2) {
        // A start at ts, in bucket floor(ts / width): -2 and below and >= cohorts are outside,
        // -1 is the "before the range" bucket of first_time.
        const int64_t ts = int64_t(rng() % uint64_t((cohorts + 4) * width)) - 3 * width;
        starts.emplace_back(a, floor_div(ts, width), ts);
      } else {
        returns.emplace_back(a, int64_t(rng() % uint64_t(cohorts + periods + 3)) - 2);
      }
    }
    RetentionMatrix m(cohorts, periods, first_time);
    // Starts and returns interleaved in a random order.
    size_t si = 0, ri = 0;
    while (si < starts.size() || ri < returns.size()) {
      if (ri == returns.size() || (si < starts.size() && rng() % 2)) {
        const auto& [a, bucket, ts] = starts[si++];
        m.add_start(a, bucket, ts);
      } else {
        m.add_return(returns[ri].first, returns[ri].second);
        ri++;
      }
    }
    const Counts want = brute_force_matrix(cohorts, periods, first_time, starts, returns);
    const Counts got = m.finish();
    ASSERT_EQ(got, want) << "iter " << iter << " cohorts " << cohorts << " periods " << periods << " first_time "
                         << first_time;
    for (int c = 0; c < cohorts; ++c)
      for (int k = 1; k < periods; ++k) nonzero_returns += want[size_t(c) * size_t(periods) + size_t(k)] > 0;
    if (first_time) skipped_by_first_time += brute_force_matrix(cohorts, periods, false, starts, returns) != want;
  }
  EXPECT_GT(nonzero_returns, 1000);
  EXPECT_GT(skipped_by_first_time, 50);
}

}  // namespace
}  // namespace pulse
