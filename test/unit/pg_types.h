// Column types for the unit tests, by the name format_type prints ("character varying(3)",
// "numeric(10,2)", "timestamp(3) with time zone[]", "inet"): the ColumnType src/pg/type_class.cc
// makes from the catalog for a column of that type (that side is tested by the regress test
// ingest_types), so fixtures read like the tables they stand for. A fixed table, not a parser:
// src/core never classifies a type by its name.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/column_type.h"

namespace pulse {

// The ColumnType of a column of type `name`, optionally followed by "[]" (fails the test for a
// name the table lacks).
inline ColumnType pg_type(std::string_view name) {
  struct Row {
    const char* name;
    TypeClass cls;
    int32_t max_chars;
    int32_t numeric_precision;
    int32_t numeric_scale;
  };
  static const Row kRows[] = {
      {"text", TypeClass::kText, -1, -1, 0},
      {"name", TypeClass::kText, -1, -1, 0},
      {"citext", TypeClass::kText, -1, -1, 0},
      {"bpchar", TypeClass::kText, -1, -1, 0},
      {"character varying", TypeClass::kText, -1, -1, 0},
      {"character varying(1)", TypeClass::kText, 1, -1, 0},
      {"character varying(2)", TypeClass::kText, 2, -1, 0},
      {"character varying(3)", TypeClass::kText, 3, -1, 0},
      {"character varying(5)", TypeClass::kText, 5, -1, 0},
      {"character varying(10)", TypeClass::kText, 10, -1, 0},
      {"character varying(20)", TypeClass::kText, 20, -1, 0},
      {"character(1)", TypeClass::kText, 1, -1, 0},
      {"double precision", TypeClass::kDouble, -1, -1, 0},
      {"real", TypeClass::kReal, -1, -1, 0},
      {"numeric", TypeClass::kNumeric, -1, -1, 0},
      {"numeric(10,2)", TypeClass::kNumeric, -1, 10, 2},
      {"smallint", TypeClass::kInt2, -1, -1, 0},
      {"integer", TypeClass::kInt4, -1, -1, 0},
      {"bigint", TypeClass::kInt8, -1, -1, 0},
      {"boolean", TypeClass::kBool, -1, -1, 0},
      {"timestamp with time zone", TypeClass::kTimestamptz, -1, -1, 0},
      {"timestamp(3) with time zone", TypeClass::kTimestamptz, -1, -1, 0},
      {"timestamp without time zone", TypeClass::kTimestamp, -1, -1, 0},
      {"timestamp(0) without time zone", TypeClass::kTimestamp, -1, -1, 0},
      {"date", TypeClass::kDate, -1, -1, 0},
      {"json", TypeClass::kJson, -1, -1, 0},
      {"jsonb", TypeClass::kJson, -1, -1, 0},
      {"uuid", TypeClass::kUuid, -1, -1, 0},
      {"bytea", TypeClass::kBytea, -1, -1, 0},
      {"inet", TypeClass::kOther, -1, -1, 0},
      {"interval", TypeClass::kOther, -1, -1, 0},
      {"time with time zone", TypeClass::kOther, -1, -1, 0},
      {"bit(3)", TypeClass::kOther, -1, -1, 0},
      {"xid8", TypeClass::kOther, -1, -1, 0},
      {"public.hll", TypeClass::kOther, -1, -1, 0},
  };
  std::string_view base = name;
  bool is_array = base.size() > 2 && base.substr(base.size() - 2) == "[]";
  if (is_array) base.remove_suffix(2);
  for (const Row& r : kRows) {
    if (base != r.name) continue;
    ColumnType t;
    t.cls = r.cls;
    t.is_array = is_array;
    t.max_chars = r.max_chars;
    t.numeric_precision = r.numeric_precision;
    t.numeric_scale = r.numeric_scale;
    t.pg_name = std::string(name);
    return t;
  }
  ADD_FAILURE() << "test/unit/pg_types.h has no type named " << name;
  return ColumnType();
}

}  // namespace pulse
