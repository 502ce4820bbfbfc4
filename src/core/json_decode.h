// JSON decoding with simdjson: payloads (JSON arrays, NDJSON) and single events into the shared
// EventBatch form. Decoding only: turning values back into text is core/render.h.
#pragma once
#include "core/no_postgres.h"

#include <memory>
#include <string_view>

#include "core/event.h"

namespace pulse {

struct JsonDecodeOptions {
  bool envelope = false;                // elements are {"collection": ..., "properties": {...}}
  bool envelope_auto = false;           // an object with exactly those two keys is an envelope
  std::string_view default_collection;  // Event::collection when no envelope names one
  size_t max_event_bytes = 1 << 20;
  // NDJSON lines and single events are only split and size-checked (Event::raw, and the
  // default collection), not parsed: an event spec (core/event_spec.h) parses them itself.
  // Elements of a JSON array are decoded as usual.
  bool raw_only = false;
  // Called every few hundred events (and may throw to abandon the decode): the pg layer checks
  // for a pending cancel here, so decoding a huge payload stays cancellable.
  void (*interrupt_check)() = nullptr;
  // Room reserved in each event for fields appended after decoding (the enrichers' columns),
  // so that appending them moves no event's fields.
  size_t spare_fields = 0;
};

// Reuses one simdjson parser (and its buffers) across calls; not thread-safe.
class JsonDecoder {
 public:
  JsonDecoder();
  ~JsonDecoder();

  // A payload is a JSON array of events, or NDJSON (one event per line; blank lines are
  // skipped). Every element becomes one Event; an element that cannot be stored gets
  // Event::error set and its text in Event::raw. A JSON array that does not parse becomes a
  // single errored Event holding the whole payload, so nothing is ever dropped.
  void decode_payload(std::string_view payload, const JsonDecodeOptions& opts, EventBatch* out);

  // Whether text is one well-formed JSON value (it is parsed, nothing is decoded).
  bool parses(std::string_view text);

  // One event given as JSON text (pulse.collect). Same error handling as an element.
  void decode_event(std::string_view text, const JsonDecodeOptions& opts, EventBatch* out);

 private:
  friend class JsonEventBuilder;  // core/json_build.h
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse
