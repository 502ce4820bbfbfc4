// Unit tests of src/core/render.cc: decoded values and events as JSON text (rejected fields,
// dead letters) and COPY text escaping.
#include "core/render.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/event.h"
#include "core/json_decode.h"

namespace pulse {
namespace {

// Decodes payload into a fresh batch.
std::unique_ptr<EventBatch> decode(std::string_view payload) {
  auto b = std::make_unique<EventBatch>();
  JsonDecoder dec;
  dec.decode_payload(payload, JsonDecodeOptions(), b.get());
  return b;
}

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

// ---------------------------------------------------------------------------------------------
// event_to_json and the JSON helpers

TEST(EventToJson, NdjsonEventReturnsItsLine) {
  auto b = decode("  {\"userId\": 1, \"x\" : \"y\"}  \r\n");
  ASSERT_EQ(b->events.size(), 1u);
  EXPECT_EQ(event_to_json(b->events[0]), "{\"userId\": 1, \"x\" : \"y\"}");
}

TEST(EventToJson, RebuildsArrayElementsWithRawNames) {
  auto b = decode(R"([{"userId":"u1","n":1.5,"i":-3,"big":18446744073709551615,"b":true,"f":false,"z":null,)"
                  R"("s":"q\"\\\n\t\u0001\u00e9","o":{"a":[1,{"b":2}]},"arr":[1,"x",null],"e":[]}])");
  ASSERT_EQ(b->events.size(), 1u);
  const std::string j = event_to_json(b->events[0]);
  EXPECT_EQ(j,
            "{\"userId\":\"u1\",\"n\":1.5,\"i\":-3,\"big\":18446744073709551616,\"b\":true,\"f\":false,\"z\":null,"
            "\"s\":\"q\\\"\\\\\\n\\t\\u0001\xC3\xA9\",\"o\":{\"a\":[1,{\"b\":2}]},\"arr\":[1,\"x\",null],\"e\":[]}");
}

TEST(EventToJson, RoundTripGivesTheSameEvent) {
  const std::string payload =
      R"([{"userId":"u1","pageURL":"/p?q=1","n":1.25,"i":-3,"t":true,"z":null,"s":"tab\there \"q\" \\ \u00e9",)"
      R"("o":{"k":[1,2,{"x":null}]},"arr":[1,"two",null,false],"empty":{}}])";
  auto b = decode(payload);
  ASSERT_EQ(b->events.size(), 1u);
  const Event& e1 = b->events[0];
  const std::string j = event_to_json(e1);
  auto b2 = decode(j);  // NDJSON this time
  ASSERT_EQ(b2->events.size(), 1u);
  const Event& e2 = b2->events[0];
  ASSERT_TRUE(e2.error.empty()) << e2.error << " in " << j;
  ASSERT_EQ(e1.fields.size(), e2.fields.size());
  for (size_t k = 0; k < e1.fields.size(); k++) {
    EXPECT_EQ(e1.fields[k].raw_name, e2.fields[k].raw_name);
    EXPECT_EQ(e1.fields[k].name, e2.fields[k].name);
    const Value& v1 = e1.values[e1.fields[k].value];
    const Value& v2 = e2.values[e2.fields[k].value];
    EXPECT_EQ(v1.kind, v2.kind) << e1.fields[k].raw_name;
    EXPECT_EQ(v1.b, v2.b);
    EXPECT_EQ(v1.i, v2.i);
    EXPECT_EQ(v1.d, v2.d);
    EXPECT_EQ(v1.text, v2.text);
    EXPECT_EQ(v1.n_children, v2.n_children);
  }
  // and the rebuilt text itself is stable
  EXPECT_EQ(event_to_json(e2), j);
}

TEST(EventToJson, HandBuiltEvent) {
  Event ev;
  ev.fields.push_back(Field{"a b", "a_b", 0});
  ev.fields.push_back(Field{"d", "d", 1});
  ev.fields.push_back(Field{"q\"", "q_", 2});
  Value v0;
  v0.kind = Kind::kInt;
  v0.i = 12;
  Value v1;
  v1.kind = Kind::kDouble;
  v1.d = 0.1;
  Value v2;
  v2.kind = Kind::kString;
  v2.text = "x";
  ev.values = {v0, v1, v2};
  EXPECT_EQ(event_to_json(ev), "{\"a b\":12,\"d\":0.1,\"q\\\"\":\"x\"}");
  Event empty;
  EXPECT_EQ(event_to_json(empty), "{}");
}

TEST(JsonHelpers, AppendJsonString) {
  std::string s = "pre:";
  append_json_string(&s, std::string_view("a\"b\\c\n\r\t\b\f\x01\x1f \x7f\xC3\xA9/", 17));
  EXPECT_EQ(s, "pre:\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f \x7f\xC3\xA9/\"");
  std::string z;
  append_json_string(&z, std::string_view("\0", 1));
  EXPECT_EQ(z, "\"\\u0000\"");
  std::string e;
  append_json_string(&e, "");
  EXPECT_EQ(e, "\"\"");
}

TEST(JsonHelpers, AppendDoubleIsShortestExact) {
  auto f = [](double d) {
    std::string s;
    append_double(&s, d);
    return s;
  };
  EXPECT_EQ(f(0.1), "0.1");
  EXPECT_EQ(f(1.5), "1.5");
  EXPECT_EQ(f(-2.25), "-2.25");
  EXPECT_EQ(f(3.0), "3");
  EXPECT_EQ(f(1e300), "1e+300");
  EXPECT_EQ(f(0.30000000000000004), "0.30000000000000004");
  EXPECT_EQ(std::stod(f(2.0 / 3.0)), 2.0 / 3.0);
}

// ---------------------------------------------------------------------------------------------
// append_copy_escaped / value_json

TEST(AppendCopyEscaped, EscapesCopySpecials) {
  std::string out = "x";
  append_copy_escaped(&out, "a\tb\nc\\d\re");
  EXPECT_EQ(out, R"(xa\tb\nc\\d\re)");
  std::string plain;
  append_copy_escaped(&plain, "plain text, \"quotes\" and 'apostrophes' \xC3\xA9");
  EXPECT_EQ(plain, "plain text, \"quotes\" and 'apostrophes' \xC3\xA9");
  std::string bsn;
  append_copy_escaped(&bsn, "\\N");
  EXPECT_EQ(bsn, R"(\\N)");  // a literal backslash-N is not NULL
}

TEST(CopyUnescape, InvertsAppendCopyEscaped) {
  for (std::string v : {"a\tb\nc\\d\re", "\\N", "plain", "", "trailing\\"}) {
    std::string field;
    append_copy_escaped(&field, v);
    EXPECT_EQ(copy_unescape(field), v) << field;
  }
}

TEST(ValueJson, AllKinds) {
  Doc d(R"({"a":[1,"x"]})");
  EXPECT_EQ(value_json(d.ev(), d.v()), R"({"a":[1,"x"]})");
  Doc a(R"([1, "x", null])");
  EXPECT_EQ(value_json(a.ev(), a.v()), R"([1,"x",null])");
  Doc s(R"("q\"\n")");
  EXPECT_EQ(value_json(s.ev(), s.v()), R"("q\"\n")");
  Doc i("-42");
  EXPECT_EQ(value_json(i.ev(), i.v()), "-42");
  Doc f("2.5");
  EXPECT_EQ(value_json(f.ev(), f.v()), "2.5");
  Doc b("false");
  EXPECT_EQ(value_json(b.ev(), b.v()), "false");
  Doc n("null");
  EXPECT_EQ(value_json(n.ev(), n.v()), "null");
}

// ---------------------------------------------------------------------------------------------
// the renderers one by one: edges of each text form

TEST(AppendHex, TwoLowercaseDigitsPerByte) {
  std::string out = "\\x";
  append_hex(&out, std::string_view("\x00\x01\x7f\x80\xff ab", 8));
  EXPECT_EQ(out, "\\x00017f80ff206162");
  std::string none;
  append_hex(&none, "");
  EXPECT_EQ(none, "");
}

TEST(AppendCopyEscaped, OnlyTheFourCopySpecials) {
  std::string empty = "keep";
  append_copy_escaped(&empty, "");
  EXPECT_EQ(empty, "keep");  // appends, never replaces
  std::string only;
  append_copy_escaped(&only, "\\\n\r\t");
  EXPECT_EQ(only, R"(\\\n\r\t)");
  // other control characters, quotes and commas are data in COPY text format
  std::string ctl;
  append_copy_escaped(&ctl, std::string_view("\x01\b\f\v\"',;|\x7f", 10));
  EXPECT_EQ(ctl, std::string("\x01\b\f\v\"',;|\x7f", 10));
  // a NUL byte is passed through: callers refuse it before (Postgres text cannot hold it)
  std::string nul;
  append_copy_escaped(&nul, std::string_view("a\0b", 3));
  EXPECT_EQ(nul, std::string("a\0b", 3));
  std::string utf8;
  append_copy_escaped(&utf8, "\xE2\x82\xAC\t\xF0\x9F\x98\x80");
  EXPECT_EQ(utf8, "\xE2\x82\xAC\\t\xF0\x9F\x98\x80");
}

TEST(JsonHelpers, AppendJsonStringKeepsUtf8AndAppends) {
  std::string s = "[";
  append_json_string(&s, "\xE2\x82\xAC");
  s.push_back(',');
  append_json_string(&s, "</script>");
  EXPECT_EQ(s, "[\"\xE2\x82\xAC\",\"</script>\"");
}

TEST(JsonHelpers, AppendDoubleEdges) {
  auto f = [](double d) {
    std::string s = "=";
    append_double(&s, d);
    return s;
  };
  EXPECT_EQ(f(0.0), "=0");
  EXPECT_EQ(f(-0.0), "=-0");
  EXPECT_EQ(f(100.0), "=100");
  EXPECT_EQ(f(1e15), "=1e+15");
  EXPECT_EQ(f(123456.75), "=123456.75");
  EXPECT_EQ(f(5e-324), "=5e-324");  // the smallest subnormal reads back
  EXPECT_EQ(f(1.7976931348623157e308), "=1.7976931348623157e+308");
  for (double d : {1e-7, 9007199254740993.0, 0.1 + 0.2, -1e-300, 3.141592653589793}) {
    EXPECT_EQ(std::stod(f(d).substr(1)), d) << f(d);
  }
}

TEST(ValueJson, BytesUnderflowAndHandBuiltValues) {
  Event ev;
  Value bytes;
  bytes.kind = Kind::kBytes;
  bytes.text = std::string_view("\x00\xff", 2);
  EXPECT_EQ(value_json(ev, bytes), R"("\\x00ff")");  // the bytea text form as a JSON string
  Value empty_bytes;
  empty_bytes.kind = Kind::kBytes;
  EXPECT_EQ(value_json(ev, empty_bytes), R"("\\x")");
  Value tiny;
  tiny.kind = Kind::kDouble;
  tiny.underflow = true;
  tiny.text = "1e-400";
  EXPECT_EQ(value_json(ev, tiny), "1e-400");  // the literal, not 0
  Value big;
  big.kind = Kind::kInt;
  big.i = INT64_MIN;
  EXPECT_EQ(value_json(ev, big), "-9223372036854775808");
  Value obj;
  obj.kind = Kind::kObject;
  obj.text = R"({"a":[1,{"b":null}]})";
  EXPECT_EQ(value_json(ev, obj), obj.text);
  Value s;
  s.kind = Kind::kString;
  s.text = std::string_view("tab\there\0", 9);
  EXPECT_EQ(value_json(ev, s), R"("tab\there\u0000")");
}

TEST(ValueJson, NumbersOfDecodedEvents) {
  Doc big("18446744073709551615");                                   // beyond int64: a double
  EXPECT_EQ(value_json(big.ev(), big.v()), "18446744073709551616");  // 2^64, its shortest text
  Doc exp("1.5e3");
  EXPECT_EQ(value_json(exp.ev(), exp.v()), "1500");
  Doc tiny("1e-400");
  EXPECT_EQ(value_json(tiny.ev(), tiny.v()), "1e-400");
  Doc neg("-0.0");
  EXPECT_EQ(value_json(neg.ev(), neg.v()), "-0");
}

TEST(EventToJson, RawTextWinsAndBytesRender) {
  Event raw;
  raw.raw = R"({"kept": "as sent"})";
  raw.fields.push_back(Field{"other", "other", 0});
  raw.values.push_back(Value());
  EXPECT_EQ(event_to_json(raw), R"({"kept": "as sent"})");
  Event ev;  // what an Avro event looks like: no raw text, bytes and the same raw name twice
  Value b;
  b.kind = Kind::kBytes;
  b.text = "\x01\x02";
  Value n;
  n.kind = Kind::kNull;
  ev.values = {b, n};
  ev.fields.push_back(Field{"Blob", "blob", 0});
  ev.fields.push_back(Field{"Blob", "blob", 1});
  EXPECT_EQ(event_to_json(ev), R"({"Blob":"\\x0102","Blob":null})");
}

}  // namespace
}  // namespace pulse
