// The one-pass retention cohort matrix (see retention_matrix.h).
#include "core/retention_matrix.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace pulse {

RetentionMatrix::RetentionMatrix(int cohorts, int periods, bool first_time,
                                 std::function<bool(uint32_t, uint32_t)> value_less)
    : cohorts_(cohorts),
      periods_(periods),
      first_time_(first_time),
      starts_(value_less ? 1 : cohorts),
      returns_(cohorts + periods - 1),
      value_less_(std::move(value_less)) {}

void RetentionMatrix::add_start(uint32_t actor, int64_t bucket, int64_t ts, uint32_t value) {
  if (bucket < -1 || bucket >= cohorts_) return;
  if (!first_time_) {
    if (bucket < 0) return;
    if (!value_less_) {
      starts_.set(actor, int(bucket));
      return;
    }
    auto [it, added] =
        cohort_start_.try_emplace(uint64_t(actor) * uint64_t(cohorts_) + uint64_t(bucket), Start{ts, value});
    if (!added && earlier(ts, value, it->second.ts, it->second.value)) it->second = Start{ts, value};
    return;
  }
  if (actor >= first_ts_.size()) {
    const size_t n = std::max(size_t(actor) + 1, first_ts_.size() * 2);
    first_ts_.resize(n, std::numeric_limits<int64_t>::max());
    first_bucket_.resize(n, -1);
    if (value_less_) first_value_.resize(n, 0);
  }
  const bool first = first_ts_[actor] == std::numeric_limits<int64_t>::max();
  if (value_less_ ? first || earlier(ts, value, first_ts_[actor], first_value_[actor]) : ts < first_ts_[actor]) {
    first_ts_[actor] = ts;
    first_bucket_[actor] = int32_t(bucket);
    if (value_less_) first_value_[actor] = value;
  }
}

std::vector<int64_t> RetentionMatrix::finish(size_t values) const {
  const size_t per_value = size_t(cohorts_) * size_t(periods_);
  std::vector<int64_t> out(values * per_value, 0);
  auto count = [&](uint32_t actor, int c, uint32_t value) {
    int64_t* row = &out[size_t(value) * per_value + size_t(c) * size_t(periods_)];
    row[0]++;
    for (int k = 1; k < periods_; ++k)
      if (returns_.test(actor, c + k)) row[k]++;
  };
  if (first_time_) {
    for (size_t a = 0; a < first_bucket_.size(); ++a)
      if (first_bucket_[a] >= 0) count(uint32_t(a), first_bucket_[a], value_less_ ? first_value_[a] : 0);
    return out;
  }
  if (value_less_) {
    for (const auto& [key, start] : cohort_start_)
      count(uint32_t(key / uint64_t(cohorts_)), int(key % uint64_t(cohorts_)), start.value);
    return out;
  }
  const uint32_t n = starts_.actors();
  const size_t words = starts_.words_per_actor();
  for (uint32_t a = 0; a < n; ++a) {
    const uint64_t* w = starts_.words(a);
    for (size_t i = 0; i < words; ++i)
      for (uint64_t bits = w[i]; bits; bits &= bits - 1) count(a, int(i * 64) + __builtin_ctzll(bits), 0);
  }
  return out;
}

}  // namespace pulse
