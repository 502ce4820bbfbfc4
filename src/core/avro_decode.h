// Avro decoding with Avro C into the shared EventBatch form (DESIGN.md sections 2-3): raw
// messages written with a subscription's one writer schema, or Confluent-framed messages
// (magic byte 0 + 4-byte big-endian schema id). Every field of the top-level record becomes a
// Field whose hint names the Postgres type its Avro type maps to, so new columns are typed by
// the schema rather than inferred from one value.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/no_postgres.h"

namespace pulse {

enum class AvroFraming {
  kRaw,        // the message is one binary-encoded record of the subscription's writer schema
  kConfluent,  // magic byte 0, 4-byte big-endian schema id, then the binary-encoded record
};

// Keeps parsed writer schemas by id, each with its compiled decoding plan, its Avro C value
// class and one reusable value. Not thread-safe; meant to be reused across batches.
class AvroDecoder {
 public:
  AvroDecoder();
  ~AvroDecoder();
  AvroDecoder(const AvroDecoder&) = delete;
  AvroDecoder& operator=(const AvroDecoder&) = delete;

  // Parses a writer schema (JSON text) and keeps it under id, replacing any schema kept under
  // that id before. Returns "" or the reason the schema cannot be used: it does not parse, its
  // top level is not a record, it is recursive, or it has an array whose items encode in zero
  // bytes. A refused schema is remembered too: has_schema(id) is then true and every message
  // naming that id becomes an errored Event carrying the reason (so a caller that loads schemas
  // on demand does not retry the load for every message).
  std::string add_schema(int32_t id, std::string_view schema_json);

  // True once add_schema(id, ...) was called, whether or not the schema was usable.
  bool has_schema(int32_t id) const;

  // Messages larger than this become errored Events (pulse.max_event_bytes). Default 1 MiB.
  void set_max_event_bytes(size_t n);

  // Decodes one message into a new Event appended to out->events. raw_schema_id is the schema
  // used for AvroFraming::kRaw (ignored for kConfluent). A message that cannot be stored (size
  // over the limit, bad magic byte, unknown or unusable schema id, truncated, trailing bytes,
  // malformed data, a string that is not UTF-8) gets Event::error set and Event::raw = a copy of
  // the whole message (binary) in out->arena; it has no fields. A decoded Event has an empty
  // raw (event_to_json rebuilds JSON from its fields when it must be dead-lettered).
  void decode(std::string_view message, AvroFraming framing, int32_t raw_schema_id, EventBatch* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An Avro record schema (JSON text) for a collection's columns, for producers. columns are
// (name, Postgres type name as format_type prints it) in table order. The schema has _time
// (long, timestamp-micros, required), _user and _id (["null","string"], default null), then
// every user column as ["null", T] with default null; _shard_time and _shard_xid are left out.
// T: bigint -> long; integer, smallint -> int; real -> float; double precision -> double;
// boolean -> boolean; numeric(p,s) -> bytes decimal(p,s); unconstrained numeric -> string
// (decimal text); timestamptz -> long timestamp-micros; timestamp -> long
// local-timestamp-micros; date -> int date; uuid -> string uuid; bytea -> bytes; json/jsonb ->
// string with logicalType "json" (JSON text; AvroDecoder stores it as JSON, not as a JSON
// string); T[] -> array of ["null", T]; anything else -> string (Postgres checks the text).
std::string avro_schema_for_columns(std::string_view record_name,
                                    const std::vector<std::pair<std::string, std::string>>& columns);

}  // namespace pulse
