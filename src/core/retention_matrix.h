// The cohort matrix of pulse.retention in one pass: start and return events are added with
// their actor id (core/actor_ids.h) and bucket number, and finish() counts, for each cohort
// bucket c and period k, the actors who started in c and returned in bucket c + k.
//
// With a breakdown, each start event also carries its value (a number the caller gives each
// distinct value), and an actor's cohort takes the value of the start event that put it there:
// its first start in the bucket (recurring) or its first start ever (first_time), ties at one
// instant going to the smallest value (value_less, the caller's order). Returns count whatever
// their own value (breakdown_returns 'any').
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "core/actor_ids.h"

namespace pulse {

class RetentionMatrix {
 public:
  // Cohorts are buckets 0..cohorts-1; returns count in buckets 1..cohorts+periods-2.
  // first_time: an actor's cohort is the bucket of its earliest start event, and only when
  // that event lies in the range (bucket >= 0; pass -1 for earlier events).
  // Throws pulse::Error (54000) when cohorts + periods - 1 > ActorBuckets::kMaxBuckets.
  // value_less: the order of breakdown values (by their numbers), for a breakdown; empty
  // without.
  RetentionMatrix(int cohorts, int periods, bool first_time, std::function<bool(uint32_t, uint32_t)> value_less = {});
  static bool fits(int64_t cohorts, int64_t periods) {
    return cohorts >= 1 && periods >= 1 && cohorts + periods - 1 <= ActorBuckets::kMaxBuckets;
  }

  // bucket: -1 (first_time: an earlier start) or 0..cohorts-1; others are ignored. value: the
  // start's breakdown value (0 without a breakdown).
  void add_start(uint32_t actor, int64_t bucket, int64_t ts, uint32_t value = 0);
  // Starts fetching what add_return(actor, ...) touches.
  void prefetch(uint32_t actor) const { returns_.prefetch(actor); }
  // bucket: 0..cohorts+periods-2; others are ignored.
  void add_return(uint32_t actor, int64_t bucket) {
    if (bucket >= 0 && bucket < returns_.nbuckets()) returns_.set(actor, int(bucket));
  }

  // cohorts x periods, row-major: [c][0] = actors of cohort c, [c][k] = those of them who did
  // the return event in bucket c + k. With a breakdown, values x cohorts x periods (values:
  // the number of distinct values given, all below it).
  std::vector<int64_t> finish(size_t values = 1) const;

 private:
  int cohorts_;
  int periods_;
  bool first_time_;
  ActorBuckets starts_;
  ActorBuckets returns_;
  std::vector<int64_t> first_ts_;  // first_time: earliest start per actor and its bucket
  std::vector<int32_t> first_bucket_;
  // breakdown
  std::function<bool(uint32_t, uint32_t)> value_less_;
  std::vector<uint32_t> first_value_;  // first_time: the earliest start's value
  struct Start {
    int64_t ts;
    uint32_t value;
  };
  std::unordered_map<uint64_t, Start> cohort_start_;  // recurring: actor * cohorts + bucket -> its first start
  // Whether a start (ts, value) comes before the one kept (kept_ts, kept_value).
  bool earlier(int64_t ts, uint32_t value, int64_t kept_ts, uint32_t kept_value) const {
    return ts < kept_ts || (ts == kept_ts && value != kept_value && value_less_(value, kept_value));
  }
};

}  // namespace pulse
