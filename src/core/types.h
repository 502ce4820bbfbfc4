// Column types at work: the built-in types of the columns pg_pulse creates, inference for new
// fields, and the check of a value bound for an existing column (whose ColumnType the pg layer
// read from the catalog, src/pg/type_class.h), with its COPY text made by core/render.h
// (docs/ingestion.md: the existing type always wins).
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <optional>
#include <string>

#include "core/event.h"

namespace pulse {

// The built-in type pg_pulse gives a column it creates (an inferred field, an Avro field) of
// class c (not kOther), by its canonical name: "double precision", "timestamp with time zone[]".
ColumnType builtin_type(TypeClass c, bool is_array = false);

// The column type a new field gets from its first informative value (docs/ingestion.md);
// nullopt for null (no column yet).
std::optional<ColumnType> infer_type(const Event& ev, const Value& v);

// Appends v, converted for a column of type t, in COPY text format (escaped, "\N" for null).
// Returns an empty string on success, else the reason the value does not fit (nothing is
// appended then).
std::string append_copy_value(std::string* out, const Event& ev, const Value& v, const ColumnType& t);

// Whether values for a column of type t can go in binary COPY form: t.binary_oid is set and
// t is not an array of json.
bool binary_copy_ok(const ColumnType& t);

// Appends v, converted for a column of type t (binary_copy_ok), as one field of a binary COPY
// row: its length (int32, -1 for null) and the bytes of the type's binary form, which Postgres'
// receive function reads as the same value as its input function reads append_copy_value's
// text. Same checks and reasons as append_copy_value; nothing is appended on failure.
std::string append_binary_value(std::string* out, const Event& ev, const Value& v, const ColumnType& t);

// Binary COPY framing: a 32-bit or 64-bit integer, big-endian; microseconds since the Unix
// epoch as a timestamp's binary form (microseconds since 2000-01-01).
void append_be16(std::string* out, uint16_t x);
void append_be32(std::string* out, uint32_t x);
void append_be64(std::string* out, uint64_t x);
int64_t pg_timestamp_from_unix_micros(int64_t us);

}  // namespace pulse
