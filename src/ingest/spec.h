// Event specs in the write path (docs/people.md#event-specs): ChunkedIngest maps each chunk
// through core/event_spec.h before routing it, then applies what the mapping asked for: identity
// links, person property updates, and rejected-field rows for unusable time / user fields.
#pragma once

#include <memory>
#include <string>

#include "core/event_spec.h"
#include "pg/guard.h"

namespace pulse::ingest {

// Parses a spec argument (NULL / empty: the spec of the collection the call names,
// pulse.collection_registry.event_spec, else the project's, pulse.projects.event_spec, else
// "pulse"); raises 22023 for an invalid one.
EventSpec resolve_event_spec(const std::string& project, const std::string* spec_text,
                             const std::string& collection = std::string());

class SpecStage {
 public:
  SpecStage(const std::string& project, const EventSpec& spec, const std::string& source);
  ~SpecStage();
  // The events to route: the mapped form of `in` (kept in *mapped, which `in` must outlive).
  EventBatch& map(EventBatch& in, EventBatch* mapped);
  // After the mapped events of the chunk are stored (same transaction): notes, links, person
  // updates; each link or update in a subtransaction, a failure or a refusal becomes a
  // rejected field of the event that asked for it. fixed_collection: the call's collection.
  // Returns the rejected fields recorded.
  int64_t apply(const EventBatch& mapped, const std::string& fixed_collection);

 private:
  std::string project_, source_;
  EventSpec spec_;
  SpecOutput out_;
};

}  // namespace pulse::ingest
