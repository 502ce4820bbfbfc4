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

}  // namespace pulse
