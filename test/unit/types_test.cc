// Unit tests of src/core/types.cc: the built-in types of new columns, type inference for new
// fields (docs/ingestion.md) and the check/format of values bound for existing columns (COPY
// text). Existing columns' types are named as Postgres prints them (pg_types.h).
#include "core/types.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/event.h"
#include "core/json_decode.h"
#include "pg_types.h"

namespace pulse {
namespace {

// One decoded event {"v": <json>} kept alive with its batch.
class Doc {
 public:
  explicit Doc(const std::string& value_json) {
    JsonDecoder dec;
    dec.decode_event("{\"v\":" + value_json + "}", JsonDecodeOptions(), &batch_);
    EXPECT_EQ(batch_.events.size(), 1u);
    EXPECT_TRUE(batch_.events.front().error.empty()) << batch_.events.front().error << " for " << value_json;
  }
  const Event& ev() const { return batch_.events.front(); }
  const Value& v() const {
    static const Value kNull;
    if (ev().fields.empty()) return kNull;
    return ev().values[ev().fields[0].value];
  }

 private:
  EventBatch batch_;
};

// pg_name of the inferred type, or "<none>".
std::string infer(const std::string& value_json) {
  Doc d(value_json);
  std::optional<ColumnType> t = infer_type(d.ev(), d.v());
  return t ? t->pg_name : "<none>";
}

struct Copied {
  std::string text;    // what was appended (after "prefix|")
  std::string reason;  // "" when the value fits
};

// append_copy_value for {"v": value_json} into a column of type `type` (pg_types.h). Checks that
// nothing is appended when the value is refused.
Copied copy(const std::string& value_json, const std::string& type) {
  Doc d(value_json);
  std::string out = "prefix|";
  Copied c;
  c.reason = append_copy_value(&out, d.ev(), d.v(), pg_type(type));
  EXPECT_EQ(out.rfind("prefix|", 0), 0u);
  c.text = out.substr(7);
  if (!c.reason.empty()) {
    EXPECT_EQ(c.text, "") << "appended although refused: " << value_json << " -> " << type;
  }
  return c;
}

// The COPY text of a value that must fit.
std::string ok(const std::string& value_json, const std::string& type) {
  Copied c = copy(value_json, type);
  EXPECT_EQ(c.reason, "") << value_json << " -> " << type;
  return c.text;
}

// The reason a value that must not fit is refused.
std::string refused(const std::string& value_json, const std::string& type) {
  Copied c = copy(value_json, type);
  EXPECT_NE(c.reason, "") << value_json << " -> " << type << " was accepted as " << c.text;
  return c.reason;
}

// ---------------------------------------------------------------------------------------------
// builtin_type: the types of the columns pg_pulse creates

TEST(BuiltinType, CanonicalNamesOfEveryClass) {
  struct Case {
    TypeClass cls;
    const char* name;
  } cases[] = {
      {TypeClass::kText, "text"},
      {TypeClass::kDouble, "double precision"},
      {TypeClass::kReal, "real"},
      {TypeClass::kNumeric, "numeric"},
      {TypeClass::kInt2, "smallint"},
      {TypeClass::kInt4, "integer"},
      {TypeClass::kInt8, "bigint"},
      {TypeClass::kBool, "boolean"},
      {TypeClass::kTimestamptz, "timestamp with time zone"},
      {TypeClass::kTimestamp, "timestamp without time zone"},
      {TypeClass::kDate, "date"},
      {TypeClass::kJson, "jsonb"},
      {TypeClass::kUuid, "uuid"},
      {TypeClass::kBytea, "bytea"},
  };
  for (const Case& c : cases) {
    ColumnType t = builtin_type(c.cls);
    EXPECT_EQ(t.cls, c.cls) << c.name;
    EXPECT_FALSE(t.is_array) << c.name;
    EXPECT_EQ(t.max_chars, -1) << c.name;
    EXPECT_EQ(t.numeric_precision, -1) << c.name;
    EXPECT_EQ(t.pg_name, c.name);
    ColumnType a = builtin_type(c.cls, true);
    EXPECT_EQ(a.cls, c.cls) << c.name;
    EXPECT_TRUE(a.is_array) << c.name;
    EXPECT_EQ(a.pg_name, std::string(c.name) + "[]");
    EXPECT_NE(a, t) << c.name;
    EXPECT_EQ(t, builtin_type(c.cls)) << c.name;
  }
}

// ---------------------------------------------------------------------------------------------
// infer_type (docs/ingestion.md)

TEST(InferType, Scalars) {
  EXPECT_EQ(infer("1"), "double precision");
  EXPECT_EQ(infer("-12"), "double precision");
  EXPECT_EQ(infer("1.5"), "double precision");
  EXPECT_EQ(infer("18446744073709551615"), "double precision");
  EXPECT_EQ(infer("true"), "boolean");
  EXPECT_EQ(infer("false"), "boolean");
  EXPECT_EQ(infer("null"), "<none>");
}

TEST(InferType, Strings) {
  EXPECT_EQ(infer("\"2024-01-01T10:00:00Z\""), "timestamp with time zone");
  EXPECT_EQ(infer("\"2024-01-01T10:00:00.123+02:00\""), "timestamp with time zone");
  EXPECT_EQ(infer("\"2024-01-01 10:00:00\""), "timestamp with time zone");
  EXPECT_EQ(infer("\"2024-01-01T10:00\""), "timestamp with time zone");  // shortest date-time
  EXPECT_EQ(infer("\"2024-01-01\""), "date");
  EXPECT_EQ(infer("\"2024-02-29\""), "date");
  EXPECT_EQ(infer("\"2023-02-29\""), "text");  // not a calendar date
  EXPECT_EQ(infer("\"2024-13-01\""), "text");
  EXPECT_EQ(infer("\"2024-01-01T25:00:00Z\""), "text");
  EXPECT_EQ(infer("\"2024-1-1\""), "text");
  EXPECT_EQ(infer("\"01/02/2024\""), "text");
  EXPECT_EQ(infer("\"2024-01-01x\""), "text");
  EXPECT_EQ(infer("\"hello\""), "text");
  EXPECT_EQ(infer("\"42\""), "text");  // numeric-looking strings stay text
  EXPECT_EQ(infer("\"true\""), "text");
  EXPECT_EQ(infer("\"\""), "text");
}

TEST(InferType, ArraysAndObjects) {
  EXPECT_EQ(infer("[1,2,3]"), "double precision[]");
  EXPECT_EQ(infer("[1,2.5,-3]"), "double precision[]");
  EXPECT_EQ(infer("[1,null,2]"), "double precision[]");
  EXPECT_EQ(infer("[\"a\",\"b\"]"), "text[]");
  EXPECT_EQ(infer("[\"a\",null]"), "text[]");
  EXPECT_EQ(infer("[true,false]"), "boolean[]");
  EXPECT_EQ(infer("[\"2024-01-01T00:00:00Z\",\"2024-01-02T00:00:00Z\"]"), "timestamp with time zone[]");
  EXPECT_EQ(infer("[\"2024-01-01\",\"2024-01-02\"]"), "date[]");
  EXPECT_EQ(infer("[\"2024-01-01\",\"x\"]"), "text[]");  // all strings
  EXPECT_EQ(infer("[\"2024-01-01\",\"2024-01-01T00:00:00Z\"]"), "text[]");
  EXPECT_EQ(infer("[1,\"a\"]"), "jsonb");  // mixed
  EXPECT_EQ(infer("[1,true]"), "jsonb");
  EXPECT_EQ(infer("[\"a\",false]"), "jsonb");
  EXPECT_EQ(infer("[]"), "jsonb");
  EXPECT_EQ(infer("[null]"), "jsonb");
  EXPECT_EQ(infer("[[1],[2]]"), "jsonb");
  EXPECT_EQ(infer("[{\"a\":1}]"), "jsonb");
  EXPECT_EQ(infer("[1,{\"a\":1}]"), "jsonb");
  EXPECT_EQ(infer("{\"a\":1}"), "jsonb");
  EXPECT_EQ(infer("{}"), "jsonb");
}

TEST(InferType, ClassAndFlags) {
  Doc d("[1,2]");
  auto t = infer_type(d.ev(), d.v());
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->cls, TypeClass::kDouble);
  EXPECT_TRUE(t->is_array);
  EXPECT_EQ(t->max_chars, -1);
  Doc s("\"x\"");
  auto ts = infer_type(s.ev(), s.v());
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(ts->cls, TypeClass::kText);
  EXPECT_FALSE(ts->is_array);
  Doc o("{\"a\":[1]}");
  auto to = infer_type(o.ev(), o.v());
  ASSERT_TRUE(to.has_value());
  EXPECT_EQ(to->cls, TypeClass::kJson);
  EXPECT_FALSE(to->is_array);
  // an inferred type is the built-in type of its class, as the catalog gives it back once the
  // column exists
  for (const char* json :
       {"1", "true", "\"x\"", "\"2024-01-01\"", "\"2024-01-01T00:00:00Z\"", "[\"a\"]", "[1]", "{}"}) {
    Doc dd(json);
    auto it = infer_type(dd.ev(), dd.v());
    ASSERT_TRUE(it.has_value()) << json;
    EXPECT_EQ(*it, builtin_type(it->cls, it->is_array)) << json;
    EXPECT_EQ(*it, pg_type(it->pg_name)) << json;
  }
}

// ---------------------------------------------------------------------------------------------
// append_copy_value: text

TEST(AppendCopyValue, NullIsBackslashN) {
  for (const char* t : {"text", "double precision", "integer", "boolean", "timestamp with time zone", "date", "jsonb",
                        "uuid", "text[]", "character varying(1)", "inet"}) {
    EXPECT_EQ(ok("null", t), R"(\N)") << t;
  }
}

TEST(AppendCopyValue, TextIsCopyEscaped) {
  EXPECT_EQ(ok(R"("hello")", "text"), "hello");
  EXPECT_EQ(ok(R"("a\tb\nc\\d\re")", "text"), R"(a\tb\nc\\d\re)");
  EXPECT_EQ(ok(R"("\\N")", "text"), R"(\\N)");
  EXPECT_EQ(ok(R"("")", "text"), "");
  EXPECT_EQ(ok(R"("\u00e9\u4e2d")", "text"), "\xC3\xA9\xE4\xB8\xAD");
  EXPECT_EQ(ok(R"("say \"hi\"")", "text"), "say \"hi\"");
}

TEST(AppendCopyValue, NonStringsIntoText) {
  EXPECT_EQ(ok("42", "text"), "42");
  EXPECT_EQ(ok("-1.5", "text"), "-1.5");
  EXPECT_EQ(ok("true", "text"), "true");
  EXPECT_EQ(ok("false", "text"), "false");
  EXPECT_EQ(ok(R"({"a": 1, "b": [1, 2]})", "text"), R"({"a":1,"b":[1,2]})");
  EXPECT_EQ(ok(R"({"a":"x\ty"})", "text"), R"({"a":"x\\ty"})");  // JSON escape, then COPY escape
  EXPECT_EQ(ok("[1, 2]", "text"), "[1,2]");
}

TEST(AppendCopyValue, VarcharLengthLimit) {
  EXPECT_EQ(ok(R"("abc")", "character varying(3)"), "abc");
  EXPECT_EQ(refused(R"("abcd")", "character varying(3)"), "longer than 3 characters");
  // characters, not bytes
  EXPECT_EQ(ok(R"("ééé")", "character varying(3)"), "ééé");
  EXPECT_EQ(refused(R"("éééé")", "character varying(3)"), "longer than 3 characters");
  EXPECT_EQ(ok("123", "character varying(3)"), "123");
  EXPECT_EQ(refused("1234", "character varying(3)"), "longer than 3 characters");
  EXPECT_EQ(ok(R"("a\tb")", "character varying(3)"), R"(a\tb)");  // counted before escaping
  EXPECT_EQ(ok(R"("x")", "character(1)"), "x");
  EXPECT_EQ(refused(R"("xy")", "character(1)"), "longer than 1 characters");
}

TEST(AppendCopyValue, NulCharactersRefused) {
  EXPECT_EQ(refused(R"("a\u0000b")", "text"), "contains a NUL character, which Postgres text cannot store");
  EXPECT_NE(refused(R"("a\u0000b")", "character varying(10)"), "");
  EXPECT_NE(refused(R"("\u0000")", "jsonb"), "");
  EXPECT_NE(refused(R"("\u0000")", "inet"), "");
  EXPECT_NE(refused(R"(["ok","a\u0000"])", "text[]").find("array element 2"), std::string::npos);
  EXPECT_EQ(refused(R"({"k":"\u0000"})", "jsonb"), "contains a NUL character, which jsonb cannot store");
  // an object's JSON text holds the escape, not the byte: fine for text
  EXPECT_EQ(ok(R"({"k":"\u0000"})", "text"), R"({"k":"\\u0000"})");
}

// A string holding the six characters \u0000 (an escaped backslash in JSON) is not a NUL:
// jsonb stores it.
TEST(AppendCopyValue, EscapedBackslashBeforeU0000IsNotANul) {
  EXPECT_EQ(ok(R"({"path":"C:\\u0000dir"})", "jsonb"), R"({"path":"C:\\\\u0000dir"})");
}

// ---------------------------------------------------------------------------------------------
// append_copy_value: numbers

TEST(AppendCopyValue, IntegersIntoIntegerColumns) {
  EXPECT_EQ(ok("42", "integer"), "42");
  EXPECT_EQ(ok("-7", "smallint"), "-7");
  EXPECT_EQ(ok("32767", "smallint"), "32767");
  EXPECT_EQ(ok("-32768", "smallint"), "-32768");
  EXPECT_EQ(refused("32768", "smallint"), "out of range for type smallint");
  EXPECT_EQ(refused("-32769", "smallint"), "out of range for type smallint");
  EXPECT_EQ(ok("2147483647", "integer"), "2147483647");
  EXPECT_EQ(ok("-2147483648", "integer"), "-2147483648");
  EXPECT_EQ(refused("2147483648", "integer"), "out of range for type integer");
  EXPECT_EQ(refused("-2147483649", "integer"), "out of range for type integer");
  EXPECT_EQ(ok("9223372036854775807", "bigint"), "9223372036854775807");
  EXPECT_EQ(ok("-9223372036854775808", "bigint"), "-9223372036854775808");
  refused("18446744073709551615", "bigint");  // above INT64_MAX
}

TEST(AppendCopyValue, OtherValuesIntoIntegerColumns) {
  EXPECT_EQ(ok("3.0", "integer"), "3");  // integral double
  EXPECT_EQ(ok("1e3", "integer"), "1000");
  EXPECT_EQ(ok("-2.0", "smallint"), "-2");
  EXPECT_EQ(refused("1.5", "integer"), "not an integer");
  EXPECT_EQ(refused("1e10", "integer"), "out of range for type integer");
  EXPECT_EQ(ok(R"("123")", "integer"), "123");
  EXPECT_EQ(ok(R"("-5")", "smallint"), "-5");
  EXPECT_EQ(refused(R"("70000")", "smallint"), "out of range for type smallint");
  EXPECT_EQ(refused(R"("12a")", "integer"), "not an integer");
  EXPECT_EQ(refused(R"("1.5")", "integer"), "not an integer");
  EXPECT_EQ(refused(R"("")", "integer"), "not an integer");
  EXPECT_EQ(refused(R"(" 1")", "integer"), "not an integer");
  EXPECT_EQ(refused("true", "integer"), "not an integer");
  EXPECT_EQ(refused("[1]", "integer"), "an array is not a integer");
  EXPECT_EQ(refused(R"({"a":1})", "bigint"), "an object is not a bigint");
}

// Every bigint fits a bigint column, whatever its spelling.
TEST(AppendCopyValue, LongIntegerStringsIntoBigint) {
  EXPECT_EQ(ok(R"("1000000000000000000")", "bigint"), "1000000000000000000");    // 19 digits
  EXPECT_EQ(ok(R"("9223372036854775807")", "bigint"), "9223372036854775807");    // INT64_MAX
  EXPECT_EQ(ok(R"("-9223372036854775808")", "bigint"), "-9223372036854775808");  // INT64_MIN
  EXPECT_EQ(refused(R"("9223372036854775808")", "bigint"), "out of range for type bigint");
  EXPECT_EQ(refused(R"("99999999999999999999")", "integer"), "out of range for type integer");
}

TEST(AppendCopyValue, DoublePrecision) {
  EXPECT_EQ(ok("42", "double precision"), "42");
  EXPECT_EQ(ok("1.5", "double precision"), "1.5");
  EXPECT_EQ(ok("0.1", "double precision"), "0.1");
  EXPECT_EQ(ok("-2.5e-3", "double precision"), "-0.0025");
  EXPECT_EQ(ok("1e300", "double precision"), "1e+300");
  EXPECT_EQ(ok("18446744073709551615", "double precision"), "18446744073709551616");
  EXPECT_EQ(ok(R"("3.25")", "double precision"), "3.25");
  EXPECT_EQ(ok(R"("-1e5")", "double precision"), "-1e5");
  EXPECT_EQ(refused(R"("abc")", "double precision"), "not a number");
  EXPECT_EQ(refused(R"("")", "double precision"), "not a number");
  EXPECT_EQ(refused(R"("1.")", "double precision"), "not a number");
  EXPECT_EQ(refused(R"("NaN")", "double precision"), "not a number");
  EXPECT_EQ(refused(R"("1e999")", "double precision"), "out of range for type double precision");
  EXPECT_EQ(refused("true", "double precision"), "not a number");
  EXPECT_EQ(refused("[1.5]", "double precision"), "an array is not a double precision");
  EXPECT_EQ(refused(R"({"x":1})", "double precision"), "an object is not a double precision");
}

TEST(AppendCopyValue, RealAndNumeric) {
  EXPECT_EQ(ok("1.5", "real"), "1.5");
  EXPECT_EQ(ok("7", "real"), "7");
  EXPECT_EQ(refused("1e39", "real"), "out of range for type real");
  EXPECT_EQ(refused(R"("1e39")", "real"), "out of range for type real");
  EXPECT_EQ(ok("12", "numeric"), "12");
  EXPECT_EQ(ok("12.5", "numeric"), "12.5");
  EXPECT_EQ(ok(R"("12.50")", "numeric"), "12.50");  // digits kept as sent
  EXPECT_EQ(ok(R"("123456789012345678901234567890.123")", "numeric"), "123456789012345678901234567890.123");
  EXPECT_EQ(ok(R"("1e999")", "numeric"), "1e999");
  EXPECT_EQ(ok(R"("-0.5")", "numeric(10,2)"), "-0.5");
  EXPECT_EQ(refused(R"("abc")", "numeric"), "not a number");
  EXPECT_EQ(refused(R"("1,5")", "numeric"), "not a number");
  EXPECT_EQ(refused("false", "numeric"), "not a number");
}

// Postgres refuses float input that underflows to zero ("1e-50" is out of range for type real,
// "1e-400" for double precision): such a value must become a rejected field here, not a COPY
// error that takes the whole row down.
TEST(AppendCopyValue, FloatUnderflowRefused) {
  EXPECT_EQ(refused("1e-400", "double precision"), "out of range for type double precision");
  EXPECT_EQ(ok("1e-400", "numeric"), "1e-400");  // numeric holds it exactly
  EXPECT_EQ(refused(R"("1e-400")", "double precision"), "out of range for type double precision");
  EXPECT_EQ(refused("1e-50", "real"), "out of range for type real");
  EXPECT_EQ(refused(R"("1e-50")", "real"), "out of range for type real");
  EXPECT_EQ(ok("1e-30", "real"), "1e-30");  // a normal float
  EXPECT_EQ(ok("0", "real"), "0");
}

// ---------------------------------------------------------------------------------------------
// append_copy_value: booleans, date-times, dates, uuids, json, other

TEST(AppendCopyValue, Booleans) {
  EXPECT_EQ(ok("true", "boolean"), "t");
  EXPECT_EQ(ok("false", "boolean"), "f");
  EXPECT_EQ(ok(R"("true")", "boolean"), "t");
  EXPECT_EQ(ok(R"("false")", "boolean"), "f");
  EXPECT_EQ(refused("1", "boolean"), "not a boolean");
  EXPECT_EQ(refused("0", "boolean"), "not a boolean");
  EXPECT_EQ(refused(R"("yes")", "boolean"), "not a boolean");
  EXPECT_EQ(refused(R"("TRUE")", "boolean"), "not a boolean");
  EXPECT_EQ(refused("[true]", "boolean"), "an array is not a boolean");
}

TEST(AppendCopyValue, TimestamptzInUtc) {
  EXPECT_EQ(ok(R"("2024-01-01T12:00:00Z")", "timestamp with time zone"), "2024-01-01 12:00:00.000000+00");
  EXPECT_EQ(ok(R"("2024-01-01T12:00:00+02:00")", "timestamp with time zone"), "2024-01-01 10:00:00.000000+00");
  EXPECT_EQ(ok(R"("2024-01-01T01:30:00.5-05:30")", "timestamp with time zone"), "2024-01-01 07:00:00.500000+00");
  EXPECT_EQ(ok(R"("2024-03-01 00:15:00+01")", "timestamp with time zone"), "2024-02-29 23:15:00.000000+00");
  EXPECT_EQ(ok(R"("2024-01-01T12:00")", "timestamp with time zone"), "2024-01-01 12:00:00.000000+00");
  EXPECT_EQ(ok(R"("2024-01-01T12:00:00Z")", "timestamp(3) with time zone"), "2024-01-01 12:00:00.000000+00");
  // epoch milliseconds
  EXPECT_EQ(ok("1700000000000", "timestamp with time zone"), "2023-11-14 22:13:20.000000+00");
  EXPECT_EQ(ok("1700000000123", "timestamp with time zone"), "2023-11-14 22:13:20.123000+00");
  EXPECT_EQ(ok("0", "timestamp with time zone"), "1970-01-01 00:00:00.000000+00");
  EXPECT_EQ(ok("-1000", "timestamp with time zone"), "1969-12-31 23:59:59.000000+00");
  EXPECT_EQ(ok("1700000000000.5", "timestamp with time zone"), "2023-11-14 22:13:20.000500+00");
  EXPECT_EQ(refused("1e20", "timestamp with time zone"), "epoch milliseconds out of range");
  EXPECT_EQ(refused(R"("yesterday")", "timestamp with time zone"), "not an ISO-8601 date-time");
  EXPECT_EQ(refused(R"("2024-01-01")", "timestamp with time zone"), "not an ISO-8601 date-time");
  EXPECT_EQ(refused(R"("2024-02-30T00:00:00Z")", "timestamp with time zone"), "not an ISO-8601 date-time");
  EXPECT_EQ(refused("true", "timestamp with time zone"), "not a date-time");
  EXPECT_EQ(refused(R"({"t":1})", "timestamp with time zone"), "an object is not a timestamp with time zone");
}

TEST(AppendCopyValue, TimestampWithoutTimeZone) {
  EXPECT_EQ(ok(R"("2024-01-01T12:00:00+02:00")", "timestamp without time zone"), "2024-01-01 10:00:00.000000");
  EXPECT_EQ(ok("1700000000000", "timestamp without time zone"), "2023-11-14 22:13:20.000000");
  EXPECT_EQ(refused(R"("nope")", "timestamp without time zone"), "not an ISO-8601 date-time");
}

TEST(AppendCopyValue, Dates) {
  EXPECT_EQ(ok(R"("2024-02-29")", "date"), "2024-02-29");
  EXPECT_EQ(ok(R"("1999-12-31")", "date"), "1999-12-31");
  EXPECT_EQ(refused(R"("2023-02-29")", "date"), "not an ISO-8601 date (YYYY-MM-DD)");
  EXPECT_EQ(refused(R"("2024-01-01T00:00:00Z")", "date"), "not an ISO-8601 date (YYYY-MM-DD)");
  EXPECT_EQ(refused(R"("01/02/2024")", "date"), "not an ISO-8601 date (YYYY-MM-DD)");
  EXPECT_EQ(refused("20240101", "date"), "not an ISO-8601 date (YYYY-MM-DD)");
}

TEST(AppendCopyValue, Uuids) {
  EXPECT_EQ(ok(R"("123e4567-e89b-12d3-a456-426614174000")", "uuid"), "123e4567-e89b-12d3-a456-426614174000");
  EXPECT_EQ(ok(R"("123E4567-E89B-12D3-A456-426614174000")", "uuid"), "123E4567-E89B-12D3-A456-426614174000");
  EXPECT_EQ(ok(R"("123e4567e89b12d3a456426614174000")", "uuid"), "123e4567e89b12d3a456426614174000");
  EXPECT_EQ(refused(R"("not-a-uuid")", "uuid"), "not a uuid");
  EXPECT_EQ(refused(R"("123e4567-e89b-12d3-a456-42661417400g")", "uuid"), "not a uuid");
  EXPECT_EQ(refused(R"("123e4567e-89b-12d3-a456-426614174000")", "uuid"), "not a uuid");
  EXPECT_EQ(refused(R"("123e4567-e89b-12d3-a456-4266141740000")", "uuid"), "not a uuid");
  EXPECT_EQ(refused("42", "uuid"), "not a uuid");
}

TEST(AppendCopyValue, Jsonb) {
  EXPECT_EQ(ok(R"({"a": 1, "b": [true, null]})", "jsonb"), R"({"a":1,"b":[true,null]})");
  EXPECT_EQ(ok(R"({"s":"x\ty\\z"})", "jsonb"), R"({"s":"x\\ty\\\\z"})");
  EXPECT_EQ(ok("[1, \"a\"]", "jsonb"), R"([1,"a"])");
  EXPECT_EQ(ok(R"("hi")", "jsonb"), R"("hi")");
  EXPECT_EQ(ok(R"("say \"hi\"\n")", "jsonb"), R"("say \\"hi\\"\\n")");
  EXPECT_EQ(ok("1.5", "jsonb"), "1.5");
  EXPECT_EQ(ok("-3", "jsonb"), "-3");
  EXPECT_EQ(ok("true", "jsonb"), "true");
  EXPECT_EQ(ok(R"({"a":1})", "json"), R"({"a":1})");
}

TEST(AppendCopyValue, OtherTypesPassedAsText) {
  EXPECT_EQ(ok(R"("10.0.0.1")", "inet"), "10.0.0.1");
  EXPECT_EQ(ok("5", "inet"), "5");
  EXPECT_EQ(ok(R"("a\tb")", "public.hll"), R"(a\tb)");
  EXPECT_EQ(ok(R"({"k":1})", "public.hll"), R"({"k":1})");
}

// ---------------------------------------------------------------------------------------------
// append_copy_value: arrays

TEST(AppendCopyValue, TextArrays) {
  EXPECT_EQ(ok(R"(["a","b"])", "text[]"), R"({"a","b"})");
  EXPECT_EQ(ok(R"(["a",null,"b"])", "text[]"), R"({"a",NULL,"b"})");
  // array quoting (\" and \\ inside elements), then COPY escaping doubles every backslash
  EXPECT_EQ(ok(R"(["a\"b"])", "text[]"), R"({"a\\"b"})");
  EXPECT_EQ(ok(R"(["c\\d"])", "text[]"), R"({"c\\\\d"})");
  EXPECT_EQ(ok(R"(["NULL",""," x ","{,}"])", "text[]"), R"({"NULL",""," x ","{,}"})");
  EXPECT_EQ(ok(R"(["a\tb"])", "text[]"), R"({"a\tb"})");
  EXPECT_EQ(ok(R"([1, true, 2.5])", "text[]"), R"({"1","true","2.5"})");
  EXPECT_EQ(ok("[]", "text[]"), "{}");
  EXPECT_EQ(ok("[null]", "text[]"), "{NULL}");
  EXPECT_EQ(refused(R"("abc")", "text[]"), "not an array");
  EXPECT_EQ(refused("1", "text[]"), "not an array");
  EXPECT_EQ(refused(R"({"a":1})", "text[]"), "not an array");
  EXPECT_EQ(refused(R"(["a",{"b":1}])", "text[]"), "array element is not a scalar");
  EXPECT_EQ(refused(R"([["a"]])", "text[]"), "array element is not a scalar");
  EXPECT_EQ(refused(R"(["ab","abc"])", "character varying(2)[]"), "array element 2 longer than 2 characters");
}

TEST(AppendCopyValue, NumberAndOtherArrays) {
  EXPECT_EQ(ok("[1, 2.5, null, -3]", "double precision[]"), "{1,2.5,NULL,-3}");
  EXPECT_EQ(ok(R"(["1.5", 2])", "double precision[]"), "{1.5,2}");
  EXPECT_EQ(refused(R"([1, "x"])", "double precision[]"), "array element 2 not a number");
  EXPECT_EQ(ok("[1, 2]", "integer[]"), "{1,2}");
  EXPECT_EQ(refused("[1, 2.5]", "integer[]"), "array element 2 not an integer");
  EXPECT_EQ(refused("[1, 40000]", "smallint[]").rfind("array element 2 out of range for type smallint", 0), 0u);
  EXPECT_EQ(ok("[true, false, null]", "boolean[]"), "{t,f,NULL}");
  EXPECT_EQ(ok(R"(["2024-01-01T00:00:00+01:00", 0])", "timestamp with time zone[]"),
            R"({"2023-12-31 23:00:00.000000+00","1970-01-01 00:00:00.000000+00"})");
  EXPECT_EQ(ok(R"(["2024-01-01", null])", "date[]"), "{2024-01-01,NULL}");
  EXPECT_EQ(ok(R"(["123e4567-e89b-12d3-a456-426614174000"])", "uuid[]"), "{123e4567-e89b-12d3-a456-426614174000}");
  EXPECT_EQ(refused(R"([1])", "jsonb[]"), "array element 1 arrays of json are not supported");
}

}  // namespace
}  // namespace pulse
