// Avro decoding with Avro C into the shared EventBatch form (docs/ingestion.md, docs/kafka.md): raw
// messages written with a subscription's one writer schema, or Confluent-framed messages
// (magic byte 0 + 4-byte big-endian schema id). Every field of the top-level record becomes a
// Field whose hint is the column type (a built-in type, core/types.h) its Avro type maps to, so
// new columns are typed by the schema rather than inferred from one value.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/column_type.h"
#include "core/event.h"
#include "core/no_postgres.h"

namespace pulse {

// Limits on what a writer schema may ask for. AvroDecoder::add_schema refuses a schema beyond any
// of them with the reason, checking its JSON before Avro C builds anything from it.
//
// Bytes of one fixed type. Avro C stores a fixed inline, in the value of every record, union and
// array item that holds it (each use of a named fixed type is its own copy, zeroed when created).
inline constexpr int64_t kAvroMaxFixedSize = int64_t(16) << 20;
// Digits of a decimal logical type: Postgres numeric declares at most 1000.
inline constexpr int64_t kAvroMaxDecimalPrecision = 1000;
// Schema nodes (the record, each field's type, union branches, array items...), counted once in
// the JSON text and once more with named types expanded at every use (the form decoding works
// on): a record of 99999 "long" fields is the largest of its kind. Avro C itself takes ~1.5 KB
// per union node, so this also bounds a schema's memory (~100 MB).
inline constexpr size_t kAvroMaxSchemaNodes = 100000;
// Nesting of records, unions, arrays and maps, named types expanded.
inline constexpr int kAvroMaxSchemaDepth = 64;
// Bytes Avro C keeps inline for one value of the top-level record, or of one array item or map
// value (fixed sizes, the largest branch of each union, ~48 bytes per string...).
inline constexpr size_t kAvroMaxValueBytes = size_t(64) << 20;
// Memory Avro C may need for one message's array items, map entries and strings: this much plus
// kAvroDecodeMemoryPerByte per message byte (an array item of a union can take 1 byte in the
// message and kAvroMaxValueBytes in memory). A message needing more becomes an errored Event.
inline constexpr size_t kAvroDecodeMemoryBase = size_t(64) << 20;
inline constexpr size_t kAvroDecodeMemoryPerByte = 64;
// AvroDecoder::release_memory frees scratch buffers and reusable values larger than this.
inline constexpr size_t kAvroReleaseThreshold = size_t(1) << 20;
// The interrupt check runs once per this many schema nodes, or values / items of a message.
inline constexpr uint32_t kAvroInterruptInterval = 4096;

// Installs a process-wide function that add_schema, decode, avro_schema_canonical_form and
// avro_schema_fingerprint call every kAvroInterruptInterval nodes or items (nullptr: none, the
// default). It may throw (the pg layer throws on a pending cancel): the exception reaches the
// caller unchanged, every Avro C object is freed, and the decoder is left as before the call
// (add_schema keeps the schema id's previous state, decode appends no Event). Never called from
// inside Avro C. The pointer is atomic: it may be set or cleared at any time.
void set_avro_interrupt_check(void (*check)());

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
  // top level is not a record, it is recursive, it has an array whose items encode in zero
  // bytes, or it is beyond one of the kAvroMax* limits above. A refused
  // schema is remembered too: has_schema(id) is then true and every message naming that id
  // becomes an errored Event carrying the reason (so a caller that loads schemas on demand does
  // not retry the load for every message). Takes time linear in the schema's size (named types
  // expanded); the reusable Avro C value is only built when a message needs it.
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
  // A map key holding a NUL byte is kept whole: the field's JSON then holds \u0000, which the
  // batch builder rejects for jsonb, as it does a NUL in a string value for text.
  void decode(std::string_view message, AvroFraming framing, int32_t raw_schema_id, EventBatch* out);

  // Frees what decoding kept for reuse once it is over kAvroReleaseThreshold bytes: the JSON and
  // decimal scratch buffers, the JSON parser, and each schema's reusable Avro C value (with the
  // array, map and string buffers it grew), rebuilt when a message needs it again. Call it after
  // each batch so memory returns to a small baseline between batches.
  void release_memory();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The Avro specification's Parsing Canonical Form of a schema (JSON text): [PRIMITIVES] {"type":
// "int"} -> "int", [FULLNAMES] names and references to named types as full names, [STRIP] only
// name, type, fields, symbols, items, values, size kept (no doc, aliases, default, order,
// namespace...), [ORDER] in that order, [STRINGS] no escapes but for '"', '\\' and control
// characters, [INTEGERS] size as a plain integer, [WHITESPACE] none.
// Deviation: a schema object's "logicalType" (a string) is kept, after size, followed by its
// "precision" and "scale" when present: pg_pulse decodes schemas that differ only there
// differently (a primitive with a logicalType stays an object: {"type":"long","logicalType":
// "timestamp-micros"}). Schemas without logical types get exactly the specification's form.
// Returns "" and sets *error when the text does not parse as JSON, is not shaped like a schema,
// or nests deeper than kAvroMaxSchemaDepth; names are not otherwise validated.
std::string avro_schema_canonical_form(std::string_view schema_json, std::string* error);

// The 64-bit Rabin fingerprint (CRC-64-AVRO, as the specification defines it) of
// avro_schema_canonical_form(schema_json), as 16 lowercase hex digits ("int" ->
// "7275d51a3f395c8f"): a key for schemas whose text may be too long to index. "" and *error
// set as for avro_schema_canonical_form.
std::string avro_schema_fingerprint(std::string_view schema_json, std::string* error);

// An Avro record schema (JSON text) for a collection's columns, for producers. columns are
// (name, column type as src/pg/type_class.h reads it from the catalog) in table order. The
// schema has _time (long, timestamp-micros, required), _user and _id (["null","string"], default
// null), then every user column as ["null", T] with default null; _shard_time and _shard_xid
// are left out.
// T: bigint -> long; integer, smallint -> int; real -> float; double precision -> double;
// boolean -> boolean; numeric(p,s) -> bytes decimal(p,s); unconstrained numeric -> string
// (decimal text); timestamptz -> long timestamp-micros; timestamp -> long
// local-timestamp-micros; date -> int date; uuid -> string uuid; bytea -> bytes; json/jsonb ->
// string with logicalType "json" (JSON text; AvroDecoder stores it as JSON, not as a JSON
// string); T[] -> array of ["null", T]; anything else -> string (Postgres checks the text).
std::string avro_schema_for_columns(std::string_view record_name,
                                    const std::vector<std::pair<std::string, ColumnType>>& columns);

}  // namespace pulse
