// The one-pass retention cohort matrix (see retention_matrix.h).
#include "core/retention_matrix.h"

#include <algorithm>
#include <limits>

namespace pulse {

RetentionMatrix::RetentionMatrix(int cohorts, int periods, bool first_time)
    : cohorts_(cohorts),
      periods_(periods),
      first_time_(first_time),
      starts_(cohorts),
      returns_(cohorts + periods - 1) {}

void RetentionMatrix::add_start(uint32_t actor, int64_t bucket, int64_t ts) {
  if (bucket < -1 || bucket >= cohorts_) return;
  if (!first_time_) {
    if (bucket >= 0) starts_.set(actor, int(bucket));
    return;
  }
  if (actor >= first_ts_.size()) {
    const size_t n = std::max(size_t(actor) + 1, first_ts_.size() * 2);
    first_ts_.resize(n, std::numeric_limits<int64_t>::max());
    first_bucket_.resize(n, -1);
  }
  if (ts < first_ts_[actor]) {
    first_ts_[actor] = ts;
    first_bucket_[actor] = int32_t(bucket);
  }
}

std::vector<int64_t> RetentionMatrix::finish() const {
  std::vector<int64_t> out(size_t(cohorts_) * size_t(periods_), 0);
  auto count = [&](uint32_t actor, int c) {
    int64_t* row = &out[size_t(c) * size_t(periods_)];
    row[0]++;
    for (int k = 1; k < periods_; ++k)
      if (returns_.test(actor, c + k)) row[k]++;
  };
  if (first_time_) {
    for (size_t a = 0; a < first_bucket_.size(); ++a)
      if (first_bucket_[a] >= 0) count(uint32_t(a), first_bucket_[a]);
    return out;
  }
  const uint32_t n = starts_.actors();
  const size_t words = starts_.words_per_actor();
  for (uint32_t a = 0; a < n; ++a) {
    const uint64_t* w = starts_.words(a);
    for (size_t i = 0; i < words; ++i)
      for (uint64_t bits = w[i]; bits; bits &= bits - 1) count(a, int(i * 64) + __builtin_ctzll(bits));
  }
  return out;
}

}  // namespace pulse
