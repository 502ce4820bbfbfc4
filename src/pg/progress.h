// Progress of long operations (pulse.progress, like pg_stat_progress_*): a slot per backend in
// shared memory that the operation updates and any session reads. Refreshes report their
// phase, replays their dead letters done, ingestion calls the bytes of the current COPY.
#pragma once

#include <cstdint>
#include <string>

#include "pg/guard.h"

namespace pulse::pg {

// From _PG_init while preloading.
void register_progress_shmem();

// Reports an operation for its lifetime (without the preloaded library: nothing). Nested
// reports (a refresh inside create_view) take over the slot and give it back.
class Progress {
 public:
  Progress(const char* command, const std::string& project, const std::string& object);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void phase(const char* phase, int64_t done = 0, int64_t total = 0, const char* unit = "");
  void advance(int64_t done);
  // The view's or collection's name once it is known.
  void rename(const std::string& project, const std::string& object);

  // The report that COPY's byte feed updates (an ingestion call's; null: none).
  static Progress* copy_feed;

 private:
  bool active_ = false;
  bool had_outer_ = false;
  char saved_[512];  // the outer report's slot contents
};

// The progress of the innermost active report of this backend.
void progress_advance(int64_t done);

}  // namespace pulse::pg
