// What src/core knows of a column's type: its class (how a value is checked and rendered for
// it), whether it is an array, its limits, and the name Postgres prints for it. Made from the
// catalog by the pg layer (src/pg/type_class.h: type oid and typmod), or by core/types.h for
// the built-in types pg_pulse gives the columns it creates; src/core never parses a type name.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <string>

namespace pulse {

enum class TypeClass : uint8_t {
  kText,  // text, varchar(n), char(n), name, citext
  kDouble,
  kReal,
  kNumeric,
  kInt2,
  kInt4,
  kInt8,
  kBool,
  kTimestamptz,
  kTimestamp,
  kDate,
  kJson,  // json and jsonb
  kUuid,
  kBytea,
  kOther,  // any other type, domains included: values are passed as text and checked by Postgres itself
};

struct ColumnType {
  TypeClass cls = TypeClass::kText;
  bool is_array = false;           // an array of cls; the limits below are its elements'
  int32_t max_chars = -1;          // varchar(n) / char(n): n
  int32_t numeric_precision = -1;  // numeric(p,s): p; -1 for unconstrained numeric
  int32_t numeric_scale = 0;       // numeric(p,s): s
  std::string pg_name;             // as format_type prints it, e.g. "double precision", "text[]"
  // Binary COPY (core/types.h append_binary_value): the oid of the type, an array's of its
  // element type, when pg_pulse can send its values in Postgres' binary form (the built-in
  // types of the classes above but numeric); 0 when its values go as COPY text only. jsonb is
  // sent with its format version byte, json without.
  uint32_t binary_oid = 0;
  bool jsonb = false;
};

inline bool operator==(const ColumnType& a, const ColumnType& b) {
  return a.cls == b.cls && a.is_array == b.is_array && a.max_chars == b.max_chars &&
         a.numeric_precision == b.numeric_precision && a.numeric_scale == b.numeric_scale && a.pg_name == b.pg_name &&
         a.binary_oid == b.binary_oid && a.jsonb == b.jsonb;
}
inline bool operator!=(const ColumnType& a, const ColumnType& b) { return !(a == b); }

}  // namespace pulse
