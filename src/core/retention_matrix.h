// The cohort matrix of pulse.retention in one pass (no breakdown): start and return events are
// added with their actor id (core/actor_ids.h) and bucket number, and finish() counts, for
// each cohort bucket c and period k, the actors who started in c and returned in bucket c + k.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/actor_ids.h"

namespace pulse {

class RetentionMatrix {
 public:
  // Cohorts are buckets 0..cohorts-1; returns count in buckets 1..cohorts+periods-2.
  // first_time: an actor's cohort is the bucket of its earliest start event, and only when
  // that event lies in the range (bucket >= 0; pass -1 for earlier events).
  // Throws pulse::Error (54000) when cohorts + periods - 1 > ActorBuckets::kMaxBuckets.
  RetentionMatrix(int cohorts, int periods, bool first_time);
  static bool fits(int64_t cohorts, int64_t periods) {
    return cohorts >= 1 && periods >= 1 && cohorts + periods - 1 <= ActorBuckets::kMaxBuckets;
  }

  // bucket: -1 (first_time: an earlier start) or 0..cohorts-1; others are ignored.
  void add_start(uint32_t actor, int64_t bucket, int64_t ts);
  // Starts fetching what add_return(actor, ...) touches.
  void prefetch(uint32_t actor) const { returns_.prefetch(actor); }
  // bucket: 0..cohorts+periods-2; others are ignored.
  void add_return(uint32_t actor, int64_t bucket) {
    if (bucket >= 0 && bucket < returns_.nbuckets()) returns_.set(actor, int(bucket));
  }

  // cohorts x periods, row-major: [c][0] = actors of cohort c, [c][k] = those of them who did
  // the return event in bucket c + k.
  std::vector<int64_t> finish() const;

 private:
  int cohorts_;
  int periods_;
  bool first_time_;
  ActorBuckets starts_;
  ActorBuckets returns_;
  std::vector<int64_t> first_ts_;  // first_time: earliest start per actor and its bucket
  std::vector<int32_t> first_bucket_;
};

}  // namespace pulse
