// Events built field by field from JSON that is already parsed (an event spec's mapping,
// core/event_spec.h), with the names, interning and values of JsonDecoder's own events: a field
// added here is exactly the field decode_payload would make of the same JSON, without writing
// the event out as JSON and parsing it again.
#pragma once
#include "core/no_postgres.h"

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/json_decode.h"

namespace pulse {

class JsonEventBuilder {
 public:
  explicit JsonEventBuilder(JsonDecoder* decoder) : decoder_(decoder) {}

  // Starts building into `out` (the names interned so far are forgotten).
  void start(EventBatch* out);
  // A new event of `collection` (normalised as an envelope's), built by the calls below until
  // the next begin; returns its index in out->events.
  size_t begin(std::string_view collection, std::string_view source);
  void field(std::string_view raw_name, simdjson::dom::element value);
  void field_string(std::string_view raw_name, std::string_view text);
  // Epoch microseconds as the epoch milliseconds JSON would carry (an integer when whole).
  void field_millis(std::string_view raw_name, int64_t us);
  // The size of the event being built written as pg_pulse's own compact JSON (its envelope
  // included), to apply pulse.max_event_bytes.
  size_t json_size();
  // A bound above json_size(), kept as fields are added (json_size walks the event).
  size_t size_bound() const { return size_bound_; }
  Event& event() { return out_->events.back(); }

 private:
  void add_field(std::string_view raw_name, uint32_t value);
  JsonDecoder* decoder_;
  EventBatch* out_ = nullptr;
  size_t size_bound_ = 0;
};

}  // namespace pulse
