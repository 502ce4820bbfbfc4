// Event specs (docs/people.md#event-specs): foreign event dialects mapped onto pg_pulse's own
// (_time, _user, _id, one column per property) before events are routed to collections.
//   pulse    events are already in pg_pulse's dialect (nothing is mapped)
//   segment  the Segment Spec: track / page / screen / identify / group / alias calls, the
//            {"batch": [...]} envelope, timestamp rules, context, identity links and traits
//   posthog  PostHog's capture format: event, distinct_id, properties with $set / $set_once,
//            timestamp, uuid, $identify and $create_alias links, the {"batch": [...]} envelope
//   {"time": "a.b", "user": "c", "id": "d.e"}  any other dialect: dotted paths to the fields
//            that carry the time, the user and the event id
// The mapping is pure: identity links and person property updates come out as actions for the
// pg layer, time or user values that cannot be used as notes (never silent).
#pragma once
#include "core/no_postgres.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/json_decode.h"

namespace pulse {

enum class SpecKind : uint8_t { kPulse, kSegment, kPosthog, kPaths };

struct EventSpec {
  SpecKind kind = SpecKind::kPulse;
  std::vector<std::string> time_path, user_path, id_path;  // kPaths: dotted paths split
  std::string text;                                        // as given (for messages)
};

// Parses a spec argument: "pulse", "segment", "posthog" (any case), or a JSON object with
// "time", "user" and / or "id" naming dotted paths. False with *why when invalid.
bool parse_event_spec(std::string_view text, EventSpec* out, std::string* why);

// An identity link: `other` becomes an id of `id`'s person (identify also marks it identified).
struct SpecLink {
  std::string id, other;
  bool identify = false;
  uint32_t event = 0;  // index in the mapped batch
};

// Property operations for one distinct id, merged over the batch: $set later values win,
// $set_once earlier ones (docs/people.md#person-updates-from-events).
struct SpecPersonOps {
  std::map<std::string, std::string> set, set_once;  // raw property name -> JSON value
  uint32_t event = 0;                                // the first event that carried them
  std::string ops_json() const;                      // {"$set": {...}, "$set_once": {...}}
};

// A time or user field of an event that could not be used (the event is stored with the
// arrival time / a NULL user): recorded as a rejected field.
struct SpecNote {
  uint32_t event = 0;  // index in the mapped batch
  std::string field;   // "_time" or "_user"
  std::string raw_value;
  std::string reason;
};

struct SpecOutput {
  std::vector<SpecLink> links;                  // in event order, repeated pairs left out
  std::map<std::string, SpecPersonOps> people;  // by distinct id
  std::vector<SpecNote> notes;
  std::set<std::pair<std::string, std::string>> seen_links;  // across the chunks of one call
  void clear_actions() {
    links.clear();
    people.clear();
    notes.clear();
  }
};

// Maps the events of one decoded batch. Reuses its parser and decoder; not thread-safe.
class SpecMapper {
 public:
  SpecMapper();
  ~SpecMapper();
  // Each event of `in` becomes zero or more events of `out` (in the pg_pulse dialect, with the
  // collection the spec names, else the input event's), undecodable ones are passed on as they
  // are; actions and notes are appended to *actions. `in` must outlive `out`.
  void map(const EventSpec& spec, const EventBatch& in, const JsonDecodeOptions& opts, EventBatch* out,
           SpecOutput* actions);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse
