// Rendering: decoded values back to text, as JSON text (rejected_fields.raw_value, dead letters,
// Avro values kept as JSON) and COPY text. A leaf of the write path (decode -> batch / types ->
// render): it knows the event form and nothing else of src/core, so nothing here calls back up.
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <string_view>

#include "core/event.h"

namespace pulse {

// Appends s as a JSON string literal (quotes and escapes).
void append_json_string(std::string* out, std::string_view s);

// Shortest text that reads back as exactly d (std::to_chars).
void append_double(std::string* out, double d);

// Appends the bytes as lowercase hex digits, two per byte (bytea's hex form without its "\\x").
void append_hex(std::string* out, std::string_view bytes);

// Appends s escaped for COPY text format.
void append_copy_escaped(std::string* out, std::string_view s);

// A COPY text-format field back to its value (the inverse of append_copy_escaped; "\\N" is
// NULL and is the caller's to recognise).
std::string copy_unescape(std::string_view field);

// The JSON text of a value (rejected_fields.raw_value, error texts); an array's is its kept
// JSON text, so ev is not read.
std::string value_json(const Event& ev, const Value& v);

// Rebuilds an event's JSON text from its decoded form (used when a decoder did not keep the
// raw text and the event must be dead-lettered). Field order and values are preserved.
std::string event_to_json(const Event& ev);

}  // namespace pulse
