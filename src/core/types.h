// Column types as pg_pulse sees them: inference for new fields and the check of a value bound
// for an existing column, with its COPY text made by core/render.h (docs/ingestion.md: the
// existing type always wins).
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/event.h"

namespace pulse {

// The built-in type pg_pulse gives a column it creates (an inferred field, an Avro field) of
// class c (not kOther), by its canonical name: "double precision", "timestamp with time zone[]".
ColumnType builtin_type(TypeClass c, bool is_array = false);

// Parses format_type output ("character varying(20)", "numeric(10,2)", "timestamp with time
// zone", "text[]", "public.hll") into a ColumnType.
ColumnType classify_pg_type(std::string_view format_type_name);

// The column type a new field gets from its first informative value (docs/ingestion.md);
// nullopt for null (no column yet).
std::optional<ColumnType> infer_type(const Event& ev, const Value& v);

// Appends v, converted for a column of type t, in COPY text format (escaped, "\N" for null).
// Returns an empty string on success, else the reason the value does not fit (nothing is
// appended then).
std::string append_copy_value(std::string* out, const Event& ev, const Value& v, const ColumnType& t);

}  // namespace pulse
