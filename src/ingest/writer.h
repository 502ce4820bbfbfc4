// The batch writer: events of one collection in, rows / rejected fields / dead letters out,
// all inside the caller's transaction.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/event.h"
#include "pg/guard.h"

namespace pulse {
struct EventSpec;
}

namespace pulse::ingest {

struct IngestCounts {
  int64_t stored = 0;
  int64_t rejected_fields = 0;
  int64_t dead_lettered = 0;
  int64_t columns_added = 0;
  int64_t duplicates = 0;
};

// Ingests every event of the batch into project's collections. `collection` set: all events
// go there; empty: each event names its collection (envelope). `source` is recorded with
// rejected fields and dead letters.
void ingest_batch(const std::string& project, const std::string& collection, EventBatch& batch,
                  const std::string& source, IngestCounts* counts);

// One ingestion call fed in chunks (a large collect_batch payload), with the outcome of one
// ingest_batch over all its events: columns and their types from the first event that carries
// a field, duplicates of _ids taken by earlier chunks, dead letters inserted at finish() (those
// of undecodable events first, then per collection in chunk order), one batch counted per
// collection. Everything stays in the caller's transaction.
class ChunkedIngest {
 public:
  ChunkedIngest(const std::string& project, const std::string& collection, const std::string& source,
                IngestCounts* counts);
  ~ChunkedIngest();
  // Maps every chunk through an event spec first (ingest/spec.h); none: pg_pulse's dialect.
  void set_spec(const EventSpec& spec);
  // Stores the events of one chunk (the chunk may be freed once this returns). The spec's
  // mapping, then enrichment (src/enrich), which appends its fields to the events, come first.
  void add(EventBatch& chunk);
  // Inserts the dead letters and counts the batch.
  void finish();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Records one payload as it was received (bytes kept as they are) with the reason it could not
// be stored; spec: the event spec of its dialect ("": pg_pulse's), replay_dead_letters maps it
// through that spec.
void record_dead_letter(const std::string& project, const std::string& collection, std::string_view payload,
                        const std::string& error, const std::string& source, const std::string& spec = std::string());

}  // namespace pulse::ingest
