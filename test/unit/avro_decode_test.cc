// Unit tests of src/core/avro_decode.cc: every Avro type -> Value kind / Postgres type hint,
// logical types (timestamps, date, decimal, uuid, json), nullable and other unions, nested
// values as JSON, Confluent framing, malformed messages (nothing dropped: errored events keep
// the message bytes), schema evolution across ids, schema refusal, and
// avro_schema_for_columns round trips. Messages are encoded with Avro C's own writer.
#include "core/avro_decode.h"

#include <avro.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/json_decode.h"
#include "core/render.h"
#include "core/types.h"
#include "pg_types.h"

namespace pulse {
namespace {

// A record value of a schema, filled through Avro C's value API and encoded with its writer.
class AvroWriter {
 public:
  explicit AvroWriter(std::string_view schema_json) {
    if (avro_schema_from_json_length(schema_json.data(), schema_json.size(), &schema_) != 0) {
      ADD_FAILURE() << "test schema does not parse: " << avro_strerror();
      schema_ = nullptr;
      return;
    }
    iface_ = avro_generic_class_from_schema(schema_);
    EXPECT_NE(iface_, nullptr) << avro_strerror();
    EXPECT_EQ(avro_generic_value_new(iface_, &root_), 0) << avro_strerror();
  }
  ~AvroWriter() {
    if (iface_) {
      avro_value_decref(&root_);
      avro_value_iface_decref(iface_);
    }
    if (schema_) avro_schema_decref(schema_);
  }
  AvroWriter(const AvroWriter&) = delete;
  AvroWriter& operator=(const AvroWriter&) = delete;

  avro_value_t field(const char* name) {
    avro_value_t f{};
    EXPECT_EQ(avro_value_get_by_name(&root_, name, &f, nullptr), 0) << name << ": " << avro_strerror();
    return f;
  }
  // Selects branch `index` of the union field `name` and returns the branch value.
  avro_value_t branch(const char* name, int index) {
    avro_value_t u = field(name), b{};
    EXPECT_EQ(avro_value_set_branch(&u, index, &b), 0) << avro_strerror();
    return b;
  }
  std::string encode() {
    std::vector<char> buf(1 << 16);
    avro_writer_t w = avro_writer_memory(buf.data(), int64_t(buf.size()));
    EXPECT_EQ(avro_value_write(w, &root_), 0) << avro_strerror();
    int64_t n = avro_writer_tell(w);
    avro_writer_free(w);
    return std::string(buf.data(), size_t(n));
  }

 private:
  avro_schema_t schema_ = nullptr;
  avro_value_iface_t* iface_ = nullptr;
  avro_value_t root_{};
};

void set_long(avro_value_t v, int64_t x) { EXPECT_EQ(avro_value_set_long(&v, x), 0); }
void set_int(avro_value_t v, int32_t x) { EXPECT_EQ(avro_value_set_int(&v, x), 0); }
void set_string(avro_value_t v, const char* s) { EXPECT_EQ(avro_value_set_string(&v, s), 0); }
void set_null(avro_value_t v) { EXPECT_EQ(avro_value_set_null(&v), 0); }
void set_bytes(avro_value_t v, const std::string& b) {
  EXPECT_EQ(avro_value_set_bytes(&v, const_cast<char*>(b.data()), b.size()), 0);
}
void set_fixed(avro_value_t v, const std::string& b) {
  EXPECT_EQ(avro_value_set_fixed(&v, const_cast<char*>(b.data()), b.size()), 0);
}

std::string confluent(int32_t id, const std::string& body) {
  std::string m(1, '\0');
  m.push_back(char(uint32_t(id) >> 24));
  m.push_back(char(uint32_t(id) >> 16));
  m.push_back(char(uint32_t(id) >> 8));
  m.push_back(char(uint32_t(id)));
  return m + body;
}

// The field whose normalised name is `name` (fails the test when absent).
const Field& field_of(const Event& ev, std::string_view name) {
  for (const Field& f : ev.fields)
    if (f.name == name) return f;
  ADD_FAILURE() << "no field " << name;
  static const Field kMissing;
  return kMissing;
}

const Value& value_of(const Event& ev, std::string_view name) {
  const Field& f = field_of(ev, name);
  if (f.value >= ev.values.size()) {
    static const Value kMissing;
    return kMissing;
  }
  return ev.values[f.value];
}

std::string hint_of(const EventBatch& b, const Event& ev, std::string_view name) {
  const Field& f = field_of(ev, name);
  if (f.hint < 0) return "<none>";
  if (size_t(f.hint) >= b.hints.size()) return "<out of range>";
  return b.hints[size_t(f.hint)].pg_name;
}

// Decodes one raw message with schema id 1 into a fresh batch.
const Event& decode_one(AvroDecoder* dec, const std::string& msg, EventBatch* b) {
  dec->decode(msg, AvroFraming::kRaw, 1, b);
  EXPECT_FALSE(b->events.empty());
  return b->events.back();
}

constexpr const char* kScalars = R"({"type":"record","name":"Scalars","fields":[
  {"name":"n","type":"long"},
  {"name":"small","type":"int"},
  {"name":"ratio","type":"float"},
  {"name":"price","type":"double"},
  {"name":"userName","type":"string"},
  {"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
  {"name":"ok","type":"boolean"},
  {"name":"blob","type":"bytes"},
  {"name":"hash","type":{"type":"fixed","name":"Hash","size":4}},
  {"name":"count2","type":"long"}
]})";

TEST(AvroDecode, ScalarKindsValuesAndHints) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kScalars), "");
  AvroWriter w(kScalars);
  set_long(w.field("n"), -9000000000LL);
  set_int(w.field("small"), 42);
  avro_value_t ratio = w.field("ratio");
  ASSERT_EQ(avro_value_set_float(&ratio, 0.1f), 0);
  avro_value_t price = w.field("price");
  ASSERT_EQ(avro_value_set_double(&price, 2.5), 0);
  set_string(w.field("userName"), "ann \"q\"");
  avro_value_t color = w.field("color");
  ASSERT_EQ(avro_value_set_enum(&color, 1), 0);
  avro_value_t ok = w.field("ok");
  ASSERT_EQ(avro_value_set_boolean(&ok, 1), 0);
  set_bytes(w.field("blob"), std::string("a\0b\0", 4));
  set_fixed(w.field("hash"), std::string("\x00\xff\x10\x00", 4));
  set_long(w.field("count2"), 7);

  EventBatch b;
  const Event& ev = decode_one(&dec, w.encode(), &b);
  ASSERT_EQ(ev.error, "");
  ASSERT_EQ(ev.fields.size(), 10u);
  EXPECT_TRUE(ev.raw.empty());

  EXPECT_EQ(value_of(ev, "n").kind, Kind::kInt);
  EXPECT_EQ(value_of(ev, "n").i, -9000000000LL);
  EXPECT_EQ(value_of(ev, "n").d, -9000000000.0);
  EXPECT_EQ(hint_of(b, ev, "n"), "bigint");

  EXPECT_EQ(value_of(ev, "small").kind, Kind::kInt);
  EXPECT_EQ(value_of(ev, "small").i, 42);
  EXPECT_EQ(hint_of(b, ev, "small"), "integer");

  EXPECT_EQ(value_of(ev, "ratio").kind, Kind::kDouble);
  EXPECT_EQ(value_of(ev, "ratio").d, 0.1);  // the float's shortest text, not 0.100000001490116
  EXPECT_EQ(hint_of(b, ev, "ratio"), "real");

  EXPECT_EQ(value_of(ev, "price").kind, Kind::kDouble);
  EXPECT_EQ(value_of(ev, "price").d, 2.5);
  EXPECT_EQ(hint_of(b, ev, "price"), "double precision");

  const Field& un = field_of(ev, "user_name");
  EXPECT_EQ(un.raw_name, "userName");
  EXPECT_EQ(value_of(ev, "user_name").kind, Kind::kString);
  EXPECT_EQ(value_of(ev, "user_name").text, "ann \"q\"");
  EXPECT_EQ(hint_of(b, ev, "user_name"), "text");

  EXPECT_EQ(value_of(ev, "color").kind, Kind::kString);
  EXPECT_EQ(value_of(ev, "color").text, "GREEN");
  EXPECT_EQ(hint_of(b, ev, "color"), "text");

  EXPECT_EQ(value_of(ev, "ok").kind, Kind::kBool);
  EXPECT_TRUE(value_of(ev, "ok").b);
  EXPECT_EQ(hint_of(b, ev, "ok"), "boolean");

  EXPECT_EQ(value_of(ev, "blob").kind, Kind::kBytes);
  EXPECT_EQ(value_of(ev, "blob").text, std::string_view("a\0b\0", 4));
  EXPECT_EQ(hint_of(b, ev, "blob"), "bytea");

  EXPECT_EQ(value_of(ev, "hash").kind, Kind::kBytes);
  EXPECT_EQ(value_of(ev, "hash").text, std::string_view("\x00\xff\x10\x00", 4));
  EXPECT_EQ(hint_of(b, ev, "hash"), "bytea");

  // each distinct type once in out->hints: bigint, integer, real, double precision, text, boolean, bytea
  EXPECT_EQ(b.hints.size(), 7u);
  EXPECT_EQ(field_of(ev, "n").hint, field_of(ev, "count2").hint);
  EXPECT_EQ(field_of(ev, "user_name").hint, field_of(ev, "color").hint);
}

TEST(AvroDecode, HintsInternedAcrossEventsAndBatches) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kScalars), "");
  AvroWriter w(kScalars);
  set_string(w.field("userName"), "x");
  set_bytes(w.field("blob"), "");
  set_fixed(w.field("hash"), "abcd");
  std::string msg = w.encode();
  {
    EventBatch b;
    b.hints.push_back(builtin_type(TypeClass::kText));  // already present: reused, not added again
    for (int k = 0; k < 3; k++) dec.decode(msg, AvroFraming::kRaw, 1, &b);
    ASSERT_EQ(b.events.size(), 3u);
    EXPECT_EQ(b.hints.size(), 7u);
    EXPECT_EQ(b.hints[0], builtin_type(TypeClass::kText));
    EXPECT_EQ(field_of(b.events[2], "user_name").hint, 0);
    EXPECT_EQ(field_of(b.events[0], "n").hint, field_of(b.events[2], "n").hint);
  }
  // a new batch (maybe at the same address) with different hints: the cache is not trusted
  auto b2 = std::make_unique<EventBatch>();
  b2->hints = {builtin_type(TypeClass::kUuid), builtin_type(TypeClass::kInt8)};
  dec.decode(msg, AvroFraming::kRaw, 1, b2.get());
  const Event& ev = b2->events.back();
  ASSERT_EQ(ev.error, "");
  EXPECT_EQ(field_of(ev, "n").hint, 1);
  EXPECT_EQ(hint_of(*b2, ev, "user_name"), "text");
  EXPECT_EQ(hint_of(*b2, ev, "hash"), "bytea");
  EXPECT_EQ(value_of(ev, "user_name").text, "x");
  EXPECT_EQ(b2->hints.size(), 8u);
}

constexpr const char* kNullable = R"({"type":"record","name":"N","fields":[
  {"name":"a","type":["null","long"],"default":null},
  {"name":"b","type":["string","null"]},
  {"name":"c","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null},
  {"name":"d","type":["null",{"type":"array","items":"long"}],"default":null},
  {"name":"e","type":["long"]}
]})";

TEST(AvroDecode, NullableUnionsNullAndNonNull) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kNullable), "");
  EventBatch b;
  {
    AvroWriter w(kNullable);
    set_null(w.branch("a", 0));
    set_null(w.branch("b", 1));
    set_null(w.branch("c", 0));
    set_null(w.branch("d", 0));
    set_long(w.branch("e", 0), 3);
    const Event& ev = decode_one(&dec, w.encode(), &b);
    ASSERT_EQ(ev.error, "");
    for (const char* f : {"a", "b", "c", "d"}) EXPECT_EQ(value_of(ev, f).kind, Kind::kNull) << f;
    // the column type is known from the schema even for null
    EXPECT_EQ(hint_of(b, ev, "a"), "bigint");
    EXPECT_EQ(hint_of(b, ev, "b"), "text");
    EXPECT_EQ(hint_of(b, ev, "c"), "timestamp with time zone");
    EXPECT_EQ(hint_of(b, ev, "d"), "bigint[]");
    EXPECT_EQ(value_of(ev, "e").i, 3);
    EXPECT_EQ(hint_of(b, ev, "e"), "bigint");
  }
  {
    AvroWriter w(kNullable);
    set_long(w.branch("a", 1), 77);
    set_string(w.branch("b", 0), "hi");
    set_long(w.branch("c", 1), 1700000000123LL);
    avro_value_t arr = w.branch("d", 1), el;
    ASSERT_EQ(avro_value_append(&arr, &el, nullptr), 0);
    set_long(el, 5);
    set_long(w.branch("e", 0), 4);
    const Event& ev = decode_one(&dec, w.encode(), &b);
    ASSERT_EQ(ev.error, "");
    EXPECT_EQ(value_of(ev, "a").kind, Kind::kInt);
    EXPECT_EQ(value_of(ev, "a").i, 77);
    EXPECT_EQ(value_of(ev, "b").kind, Kind::kString);
    EXPECT_EQ(value_of(ev, "b").text, "hi");
    EXPECT_EQ(value_of(ev, "c").kind, Kind::kString);
    EXPECT_EQ(value_of(ev, "c").text, "2023-11-14 22:13:20.123000+00");
    const Value& d = value_of(ev, "d");
    ASSERT_EQ(d.kind, Kind::kArray);
    ASSERT_EQ(d.n_children, 1u);
    EXPECT_EQ(ev.values[d.first_child].i, 5);
    EXPECT_EQ(d.text, "[5]");
  }
}

constexpr const char* kTimes = R"({"type":"record","name":"T","fields":[
  {"name":"ms","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},
  {"name":"local","type":{"type":"long","logicalType":"local-timestamp-micros"}},
  {"name":"day","type":{"type":"int","logicalType":"date"}},
  {"name":"plain","type":"long"}
]})";

TEST(AvroDecode, TimestampMillisMicrosAndDate) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kTimes), "");
  EventBatch b;
  {
    AvroWriter w(kTimes);
    set_long(w.field("ms"), 1700000000123LL);
    set_long(w.field("us"), 1700000000123456LL);
    set_long(w.field("local"), -1500000LL);
    set_int(w.field("day"), 19675);
    set_long(w.field("plain"), 1700000000123LL);
    const Event& ev = decode_one(&dec, w.encode(), &b);
    ASSERT_EQ(ev.error, "");
    EXPECT_EQ(value_of(ev, "ms").kind, Kind::kString);
    EXPECT_EQ(value_of(ev, "ms").text, "2023-11-14 22:13:20.123000+00");
    EXPECT_EQ(value_of(ev, "us").text, "2023-11-14 22:13:20.123456+00");
    EXPECT_EQ(hint_of(b, ev, "ms"), "timestamp with time zone");
    EXPECT_EQ(hint_of(b, ev, "us"), "timestamp with time zone");
    EXPECT_EQ(value_of(ev, "local").text, "1969-12-31 23:59:58.500000");
    EXPECT_EQ(hint_of(b, ev, "local"), "timestamp without time zone");
    EXPECT_EQ(value_of(ev, "day").kind, Kind::kString);
    EXPECT_EQ(value_of(ev, "day").text, "2023-11-14");
    EXPECT_EQ(hint_of(b, ev, "day"), "date");
    EXPECT_EQ(value_of(ev, "plain").kind, Kind::kInt);  // no logical type: a number
    EXPECT_EQ(hint_of(b, ev, "plain"), "bigint");
  }
  {
    // outside years 1..9999: epoch milliseconds / the day number, refused downstream
    AvroWriter w(kTimes);
    set_long(w.field("ms"), 300000000000000LL);
    set_long(w.field("us"), -70000000000000001LL);
    set_long(w.field("local"), 0);
    set_int(w.field("day"), 3000000);
    const Event& ev = decode_one(&dec, w.encode(), &b);
    ASSERT_EQ(ev.error, "");
    EXPECT_EQ(value_of(ev, "ms").kind, Kind::kInt);
    EXPECT_EQ(value_of(ev, "ms").i, 300000000000000LL);
    EXPECT_EQ(value_of(ev, "us").kind, Kind::kInt);
    EXPECT_EQ(value_of(ev, "us").i, -70000000000001LL);  // floor of micros / 1000
    EXPECT_EQ(value_of(ev, "local").text, "1970-01-01 00:00:00.000000");
    EXPECT_EQ(value_of(ev, "day").kind, Kind::kInt);
    EXPECT_EQ(value_of(ev, "day").i, 3000000);
  }
}

constexpr const char* kDecimals = R"({"type":"record","name":"D","fields":[
  {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":30,"scale":2}},
  {"name":"big","type":{"type":"bytes","logicalType":"decimal","precision":40,"scale":4}},
  {"name":"whole","type":{"type":"bytes","logicalType":"decimal","precision":40}},
  {"name":"fx","type":{"type":"fixed","name":"Money","size":8,"logicalType":"decimal","precision":18,"scale":3}},
  {"name":"fx2","type":["null","Money"]},
  {"name":"bad","type":{"type":"bytes","logicalType":"decimal","precision":2,"scale":5}}
]})";

// The decimal texts of one message of kDecimals.
std::vector<std::string> decode_decimals(AvroDecoder* dec, const std::string& amount, const std::string& big,
                                         const std::string& whole, const std::string& fx, EventBatch* b) {
  AvroWriter w(kDecimals);
  set_bytes(w.field("amount"), amount);
  set_bytes(w.field("big"), big);
  set_bytes(w.field("whole"), whole);
  set_fixed(w.field("fx"), fx);
  set_fixed(w.branch("fx2", 1), fx);
  set_bytes(w.field("bad"), "\x01");
  const Event& ev = decode_one(dec, w.encode(), b);
  EXPECT_EQ(ev.error, "");
  std::vector<std::string> out;
  for (const char* f : {"amount", "big", "whole", "fx", "fx2"}) {
    EXPECT_EQ(value_of(ev, f).kind, Kind::kString) << f;
    EXPECT_EQ(hint_of(*b, ev, f), "numeric") << f;
    out.emplace_back(value_of(ev, f).text);
  }
  // scale > precision: an invalid decimal falls back to its base type
  EXPECT_EQ(value_of(ev, "bad").kind, Kind::kBytes);
  EXPECT_EQ(hint_of(*b, ev, "bad"), "bytea");
  return out;
}

TEST(AvroDecode, DecimalsPositiveNegativeAndBeyondInt64) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kDecimals), "");
  EventBatch b;
  const std::string two70("\x40\0\0\0\0\0\0\0\0", 9);        // 2^70
  const std::string minus_two70("\xc0\0\0\0\0\0\0\0\0", 9);  // -2^70
  auto v = decode_decimals(&dec, "\x30\x39", two70, minus_two70, std::string("\0\0\0\0\0\0\0\x01", 8), &b);
  EXPECT_EQ(v[0], "123.45");
  EXPECT_EQ(v[1], "118059162071741130.3424");
  EXPECT_EQ(v[2], "-1180591620717411303424");
  EXPECT_EQ(v[3], "0.001");
  EXPECT_EQ(v[4], "0.001");

  v = decode_decimals(&dec, "\xcf\xc7", "\x7f\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "\xff",
                      "\xff\xff\xff\xff\xff\xff\xff\xfe", &b);
  EXPECT_EQ(v[0], "-123.45");
  EXPECT_EQ(v[1], "17014118346046923173168730371588410.5727");  // 2^127 - 1
  EXPECT_EQ(v[2], "-1");
  EXPECT_EQ(v[3], "-0.002");

  v = decode_decimals(&dec, "\x05", "", std::string("\0\0", 2), std::string("\x80\0\0\0\0\0\0\0", 8), &b);
  EXPECT_EQ(v[0], "0.05");
  EXPECT_EQ(v[1], "0.0000");  // no bytes: zero
  EXPECT_EQ(v[2], "0");
  EXPECT_EQ(v[3], "-9223372036854775.808");  // int64 minimum

  v = decode_decimals(&dec, "\xfb", std::string("\x00\x80", 2), std::string("\x01\x00", 2),
                      "\x7f\xff\xff\xff\xff\xff\xff\xff", &b);
  EXPECT_EQ(v[0], "-0.05");
  EXPECT_EQ(v[1], "0.0128");
  EXPECT_EQ(v[2], "256");
  EXPECT_EQ(v[3], "9223372036854775.807");
}

constexpr const char* kUuids = R"({"type":"record","name":"U","fields":[
  {"name":"s","type":{"type":"string","logicalType":"uuid"}},
  {"name":"f","type":{"type":"fixed","name":"U16","size":16,"logicalType":"uuid"}}
]})";

TEST(AvroDecode, UuidOnStringAndFixed) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kUuids), "");
  AvroWriter w(kUuids);
  set_string(w.field("s"), "123e4567-e89b-12d3-a456-426614174000");
  set_fixed(w.field("f"), "\x12\x3e\x45\x67\xe8\x9b\x12\xd3\xa4\x56\x42\x66\x14\x17\x40\x01");
  EventBatch b;
  const Event& ev = decode_one(&dec, w.encode(), &b);
  ASSERT_EQ(ev.error, "");
  EXPECT_EQ(value_of(ev, "s").kind, Kind::kString);
  EXPECT_EQ(value_of(ev, "s").text, "123e4567-e89b-12d3-a456-426614174000");
  EXPECT_EQ(hint_of(b, ev, "s"), "uuid");
  EXPECT_EQ(value_of(ev, "f").text, "123e4567-e89b-12d3-a456-426614174001");
  EXPECT_EQ(hint_of(b, ev, "f"), "uuid");
}

constexpr const char* kNested = R"({"type":"record","name":"Outer","fields":[
  {"name":"inner","type":{"type":"record","name":"Inner","fields":[
     {"name":"a","type":"long"},
     {"name":"b","type":"string"},
     {"name":"c","type":["null","double"]},
     {"name":"when","type":{"type":"long","logicalType":"timestamp-micros"}},
     {"name":"raw","type":"bytes"},
     {"name":"kind","type":{"type":"enum","name":"K","symbols":["X","Y"]}},
     {"name":"m","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2}}]}},
  {"name":"again","type":"Inner"},
  {"name":"attrs","type":{"type":"map","values":"long"}},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"ids","type":{"type":"array","items":"long"}},
  {"name":"maybe","type":{"type":"array","items":["null","string"]}},
  {"name":"rows","type":{"type":"array","items":"Inner"}},
  {"name":"grid","type":{"type":"array","items":{"type":"array","items":"int"}}},
  {"name":"multi","type":["null","string","long"]},
  {"name":"empty","type":{"type":"array","items":"long"}}
]})";

void fill_inner(avro_value_t rec, int64_t a, const char* s, double c) {
  avro_value_t f, br;
  ASSERT_EQ(avro_value_get_by_name(&rec, "a", &f, nullptr), 0);
  set_long(f, a);
  ASSERT_EQ(avro_value_get_by_name(&rec, "b", &f, nullptr), 0);
  set_string(f, s);
  ASSERT_EQ(avro_value_get_by_name(&rec, "c", &f, nullptr), 0);
  if (std::isnan(c)) {
    ASSERT_EQ(avro_value_set_branch(&f, 1, &br), 0);
    ASSERT_EQ(avro_value_set_double(&br, c), 0);
  } else if (c == 0) {
    ASSERT_EQ(avro_value_set_branch(&f, 0, &br), 0);
    set_null(br);
  } else {
    ASSERT_EQ(avro_value_set_branch(&f, 1, &br), 0);
    ASSERT_EQ(avro_value_set_double(&br, c), 0);
  }
  ASSERT_EQ(avro_value_get_by_name(&rec, "when", &f, nullptr), 0);
  set_long(f, 1000001);
  ASSERT_EQ(avro_value_get_by_name(&rec, "raw", &f, nullptr), 0);
  set_bytes(f, std::string("\x00\xff", 2));
  ASSERT_EQ(avro_value_get_by_name(&rec, "kind", &f, nullptr), 0);
  ASSERT_EQ(avro_value_set_enum(&f, 1), 0);
  ASSERT_EQ(avro_value_get_by_name(&rec, "m", &f, nullptr), 0);
  set_bytes(f, "\xff\x38");  // -200 -> -2.00
}

TEST(AvroDecode, NestedValuesAsJsonAndScalarArraysAsArrays) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kNested), "");
  AvroWriter w(kNested);
  fill_inner(w.field("inner"), 1, "x\"y", 0);
  fill_inner(w.field("again"), -2, "é", std::nan(""));
  avro_value_t map = w.field("attrs"), el;
  ASSERT_EQ(avro_value_add(&map, "k1", &el, nullptr, nullptr), 0);
  set_long(el, 10);
  ASSERT_EQ(avro_value_add(&map, "k\n2", &el, nullptr, nullptr), 0);
  set_long(el, 20);
  avro_value_t tags = w.field("tags");
  for (const char* t : {"a", "b,c"}) {
    ASSERT_EQ(avro_value_append(&tags, &el, nullptr), 0);
    set_string(el, t);
  }
  avro_value_t ids = w.field("ids");
  for (int64_t x : {1, -2, 3}) {
    ASSERT_EQ(avro_value_append(&ids, &el, nullptr), 0);
    set_long(el, x);
  }
  avro_value_t maybe = w.field("maybe"), br;
  ASSERT_EQ(avro_value_append(&maybe, &el, nullptr), 0);
  ASSERT_EQ(avro_value_set_branch(&el, 1, &br), 0);
  set_string(br, "p");
  ASSERT_EQ(avro_value_append(&maybe, &el, nullptr), 0);
  ASSERT_EQ(avro_value_set_branch(&el, 0, &br), 0);
  set_null(br);
  avro_value_t rows = w.field("rows");
  ASSERT_EQ(avro_value_append(&rows, &el, nullptr), 0);
  fill_inner(el, 5, "r", 1.5);
  avro_value_t grid = w.field("grid"), row, cell;
  ASSERT_EQ(avro_value_append(&grid, &row, nullptr), 0);
  ASSERT_EQ(avro_value_append(&row, &cell, nullptr), 0);
  set_int(cell, 9);
  ASSERT_EQ(avro_value_append(&grid, &row, nullptr), 0);
  set_string(w.branch("multi", 1), "s");

  EventBatch b;
  const Event& ev = decode_one(&dec, w.encode(), &b);
  ASSERT_EQ(ev.error, "");

  EXPECT_EQ(value_of(ev, "inner").kind, Kind::kObject);
  EXPECT_EQ(
      value_of(ev, "inner").text,
      R"({"a":1,"b":"x\"y","c":null,"when":"1970-01-01 00:00:01.000001+00","raw":"\\x00ff","kind":"Y","m":-2.00})");
  EXPECT_EQ(hint_of(b, ev, "inner"), "jsonb");
  // a named type used by reference keeps its logical types; NaN becomes a JSON string
  EXPECT_EQ(
      value_of(ev, "again").text,
      R"({"a":-2,"b":"é","c":"NaN","when":"1970-01-01 00:00:01.000001+00","raw":"\\x00ff","kind":"Y","m":-2.00})");

  EXPECT_EQ(value_of(ev, "attrs").kind, Kind::kObject);
  EXPECT_EQ(value_of(ev, "attrs").text, R"({"k1":10,"k\n2":20})");
  EXPECT_EQ(hint_of(b, ev, "attrs"), "jsonb");

  const Value& tv = value_of(ev, "tags");
  ASSERT_EQ(tv.kind, Kind::kArray);
  EXPECT_EQ(hint_of(b, ev, "tags"), "text[]");
  ASSERT_EQ(tv.n_children, 2u);
  EXPECT_EQ(ev.values[tv.first_child].text, "a");
  EXPECT_EQ(ev.values[tv.first_child + 1].text, "b,c");
  EXPECT_EQ(tv.text, R"(["a","b,c"])");

  const Value& iv = value_of(ev, "ids");
  ASSERT_EQ(iv.kind, Kind::kArray);
  EXPECT_EQ(hint_of(b, ev, "ids"), "bigint[]");
  ASSERT_EQ(iv.n_children, 3u);
  for (uint32_t k = 0; k < 3; k++) EXPECT_EQ(ev.values[iv.first_child + k].kind, Kind::kInt);
  EXPECT_EQ(ev.values[iv.first_child].i, 1);
  EXPECT_EQ(ev.values[iv.first_child + 1].i, -2);
  EXPECT_EQ(ev.values[iv.first_child + 2].i, 3);
  EXPECT_EQ(iv.text, "[1,-2,3]");

  const Value& mv = value_of(ev, "maybe");
  ASSERT_EQ(mv.kind, Kind::kArray);
  EXPECT_EQ(hint_of(b, ev, "maybe"), "text[]");
  ASSERT_EQ(mv.n_children, 2u);
  EXPECT_EQ(ev.values[mv.first_child].text, "p");
  EXPECT_EQ(ev.values[mv.first_child + 1].kind, Kind::kNull);
  EXPECT_EQ(mv.text, R"(["p",null])");

  EXPECT_EQ(value_of(ev, "rows").kind, Kind::kObject);
  EXPECT_EQ(value_of(ev, "rows").text,
            R"([{"a":5,"b":"r","c":1.5,"when":"1970-01-01 00:00:01.000001+00","raw":"\\x00ff","kind":"Y","m":-2.00}])");
  EXPECT_EQ(hint_of(b, ev, "rows"), "jsonb");

  EXPECT_EQ(value_of(ev, "grid").kind, Kind::kObject);
  EXPECT_EQ(value_of(ev, "grid").text, "[[9],[]]");
  EXPECT_EQ(hint_of(b, ev, "grid"), "jsonb");

  EXPECT_EQ(value_of(ev, "multi").kind, Kind::kObject);
  EXPECT_EQ(value_of(ev, "multi").text, "\"s\"");
  EXPECT_EQ(hint_of(b, ev, "multi"), "jsonb");

  const Value& ev_empty = value_of(ev, "empty");
  EXPECT_EQ(ev_empty.kind, Kind::kArray);
  EXPECT_EQ(ev_empty.n_children, 0u);
  EXPECT_EQ(ev_empty.text, "[]");

  // a decoded event dead-lettered later is rebuilt as JSON from its fields
  std::string j = event_to_json(ev);
  EXPECT_NE(j.find(R"("ids":[1,-2,3])"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("multi":"s")"), std::string::npos) << j;
}

TEST(AvroDecode, OtherUnionsNullAndLong) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kNested), "");
  AvroWriter w(kNested);
  fill_inner(w.field("inner"), 1, "a", 0);
  fill_inner(w.field("again"), 1, "a", 0);
  set_long(w.branch("multi", 2), 5);
  EventBatch b;
  const Event& ev = decode_one(&dec, w.encode(), &b);
  ASSERT_EQ(ev.error, "");
  EXPECT_EQ(value_of(ev, "multi").kind, Kind::kObject);
  EXPECT_EQ(value_of(ev, "multi").text, "5");

  AvroWriter w2(kNested);
  fill_inner(w2.field("inner"), 1, "a", 0);
  fill_inner(w2.field("again"), 1, "a", 0);
  set_null(w2.branch("multi", 0));
  const Event& ev2 = decode_one(&dec, w2.encode(), &b);
  ASSERT_EQ(ev2.error, "");
  EXPECT_EQ(value_of(ev2, "multi").kind, Kind::kNull);
  EXPECT_EQ(hint_of(b, ev2, "multi"), "jsonb");
}

constexpr const char* kV1 = R"({"type":"record","name":"Click","namespace":"shop","fields":[
  {"name":"url","type":"string"},
  {"name":"_time","type":{"type":"long","logicalType":"timestamp-millis"}}
]})";
constexpr const char* kV2 = R"({"type":"record","name":"Click","namespace":"shop","fields":[
  {"name":"url","type":"string"},
  {"name":"_time","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"referrer","type":["null","string"],"default":null}
]})";

std::string click_v1(const char* url, int64_t t) {
  AvroWriter w(kV1);
  set_string(w.field("url"), url);
  set_long(w.field("_time"), t);
  return w.encode();
}

std::string click_v2(const char* url, int64_t t, const char* ref) {
  AvroWriter w(kV2);
  set_string(w.field("url"), url);
  set_long(w.field("_time"), t);
  if (ref)
    set_string(w.branch("referrer", 1), ref);
  else
    set_null(w.branch("referrer", 0));
  return w.encode();
}

TEST(AvroDecode, ConfluentFramingAndSchemaEvolution) {
  AvroDecoder dec;
  EXPECT_FALSE(dec.has_schema(1));
  ASSERT_EQ(dec.add_schema(1, kV1), "");
  ASSERT_EQ(dec.add_schema(2, kV2), "");
  EXPECT_TRUE(dec.has_schema(1));
  EXPECT_TRUE(dec.has_schema(2));
  EXPECT_FALSE(dec.has_schema(3));

  EventBatch b;
  dec.decode(confluent(1, click_v1("/a", 1000)), AvroFraming::kConfluent, 0, &b);
  dec.decode(confluent(2, click_v2("/b", 2000, "g")), AvroFraming::kConfluent, 0, &b);
  dec.decode(confluent(1, click_v1("/c", 3000)), AvroFraming::kConfluent, 0, &b);
  dec.decode(confluent(2, click_v2("/d", 4000, nullptr)), AvroFraming::kConfluent, 0, &b);
  ASSERT_EQ(b.events.size(), 4u);
  for (const Event& ev : b.events) EXPECT_EQ(ev.error, "");
  EXPECT_EQ(b.events[0].fields.size(), 2u);
  EXPECT_EQ(value_of(b.events[0], "url").text, "/a");
  EXPECT_EQ(value_of(b.events[0], "_time").text, "1970-01-01 00:00:01.000000+00");
  EXPECT_EQ(b.events[1].fields.size(), 3u);
  EXPECT_EQ(value_of(b.events[1], "url").text, "/b");
  EXPECT_EQ(value_of(b.events[1], "referrer").text, "g");
  EXPECT_EQ(hint_of(b, b.events[1], "referrer"), "text");
  EXPECT_EQ(value_of(b.events[2], "url").text, "/c");
  EXPECT_EQ(b.events[2].fields.size(), 2u);
  EXPECT_EQ(value_of(b.events[3], "referrer").kind, Kind::kNull);
  EXPECT_EQ(value_of(b.events[3], "_time").text, "1970-01-01 00:00:04.000000+00");

  // raw framing: the subscription's schema id is the argument
  dec.decode(click_v2("/e", 5000, "h"), AvroFraming::kRaw, 2, &b);
  EXPECT_EQ(b.events.back().error, "");
  EXPECT_EQ(value_of(b.events.back(), "referrer").text, "h");
}

TEST(AvroDecode, ConfluentErrorsKeepTheMessage) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kV1), "");
  EventBatch b;
  std::string unknown = confluent(42, click_v1("/a", 1));
  dec.decode(unknown, AvroFraming::kConfluent, 1, &b);
  EXPECT_EQ(b.events.back().error, "unknown Avro schema id 42");
  EXPECT_EQ(b.events.back().raw, unknown);
  EXPECT_TRUE(b.events.back().fields.empty());

  std::string high = confluent(int32_t(0x01020304), click_v1("/a", 1));
  dec.decode(high, AvroFraming::kConfluent, 1, &b);
  EXPECT_EQ(b.events.back().error, "unknown Avro schema id 16909060");  // big-endian

  std::string bad_magic = confluent(1, click_v1("/a", 1));
  bad_magic[0] = 1;
  dec.decode(bad_magic, AvroFraming::kConfluent, 1, &b);
  EXPECT_EQ(b.events.back().error, "bad Avro magic byte 1 (Confluent framing expects 0)");
  EXPECT_EQ(b.events.back().raw, bad_magic);

  std::string short_header("\0\0\0", 3);
  dec.decode(short_header, AvroFraming::kConfluent, 1, &b);
  EXPECT_EQ(b.events.back().error, "truncated Avro message (a Confluent header needs 5 bytes)");
  EXPECT_EQ(b.events.back().raw, short_header);

  dec.decode("", AvroFraming::kConfluent, 1, &b);
  EXPECT_NE(b.events.back().error.find("empty Avro message"), std::string::npos);

  dec.decode(click_v1("/a", 1), AvroFraming::kRaw, 7, &b);
  EXPECT_EQ(b.events.back().error, "unknown Avro schema id 7");
  EXPECT_EQ(b.events.size(), 6u);
}

TEST(AvroDecode, TruncatedAndTrailingBytes) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kV2), "");
  std::string full = click_v2("/page", 1234, "ref");
  EventBatch b;
  for (size_t cut = 0; cut < full.size(); cut++) {
    std::string part = full.substr(0, cut);
    dec.decode(part, AvroFraming::kRaw, 1, &b);
    EXPECT_EQ(b.events.back().error, "truncated Avro message") << "cut at " << cut;
    EXPECT_EQ(b.events.back().raw, part);
    EXPECT_TRUE(b.events.back().fields.empty());
  }
  std::string trailing = full + std::string("\x00\x07", 2);
  dec.decode(trailing, AvroFraming::kRaw, 1, &b);
  EXPECT_EQ(b.events.back().error, "2 trailing bytes after the Avro record (schema id 1)");
  EXPECT_EQ(b.events.back().raw, trailing);

  // the decoder is still fine afterwards
  dec.decode(full, AvroFraming::kRaw, 1, &b);
  EXPECT_EQ(b.events.back().error, "");
  EXPECT_EQ(value_of(b.events.back(), "url").text, "/page");
}

TEST(AvroDecode, MalformedDataNeverReachesAvroC) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, R"({"type":"record","name":"R","fields":[
    {"name":"s","type":"string"},
    {"name":"xs","type":{"type":"array","items":"long"}},
    {"name":"u","type":["null","long"]},
    {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}]})"),
            "");
  EventBatch b;
  auto err = [&](const std::string& m) {
    dec.decode(m, AvroFraming::kRaw, 1, &b);
    EXPECT_EQ(b.events.back().raw, m);
    return b.events.back().error;
  };
  // s claims 100 MB
  EXPECT_EQ(err(std::string("\x80\x90\xd0\x5f"
                            "abc",
                            7)),
            "truncated Avro message");
  // negative string length
  EXPECT_EQ(err(std::string("\x01", 1)), "invalid Avro message: negative length -1");
  // array block claims 2^31 items
  EXPECT_EQ(err(std::string("\x00\x80\x80\x80\x80\x10\x02", 7)), "truncated Avro message");
  // a varint that never ends
  EXPECT_EQ(err(std::string("\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12)),
            "invalid Avro message: varint longer than 10 bytes");
  // union branch 2 of 2
  EXPECT_EQ(err(std::string("\x00\x00\x04\x00", 4)), "invalid Avro message: union branch 2 out of range");
  // enum index 1 of 1
  EXPECT_EQ(err(std::string("\x00\x00\x00\x02", 4)), "invalid Avro message: enum index 1 out of range");
  // valid, with an array written as one block with a byte count (negative item count)
  dec.decode(std::string("\x04hi\x03\x04\x02\x04\x00\x02\x06\x00", 11), AvroFraming::kRaw, 1, &b);
  const Event& ok = b.events.back();
  ASSERT_EQ(ok.error, "");
  EXPECT_EQ(value_of(ok, "s").text, "hi");
  EXPECT_EQ(value_of(ok, "xs").text, "[1,2]");
  EXPECT_EQ(value_of(ok, "u").i, 3);
  EXPECT_EQ(value_of(ok, "e").text, "A");
}

TEST(AvroDecode, InvalidUtf8IsAnError) {
  constexpr const char* kS = R"({"type":"record","name":"S","fields":[{"name":"s","type":"string"},
    {"name":"m","type":{"type":"map","values":"long"}}]})";
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kS), "");
  EventBatch b;
  {
    AvroWriter w(kS);
    set_string(w.field("s"), "ok\xff");
    std::string m = w.encode();
    dec.decode(m, AvroFraming::kRaw, 1, &b);
    EXPECT_EQ(b.events.back().error, "Avro string in field \"s\" is not valid UTF-8");
    EXPECT_EQ(b.events.back().raw, m);
    EXPECT_TRUE(b.events.back().fields.empty());
    EXPECT_TRUE(b.events.back().values.empty());
  }
  {
    AvroWriter w(kS);
    set_string(w.field("s"), "ok");
    avro_value_t map = w.field("m"), el;
    ASSERT_EQ(avro_value_add(&map, "\xc3\x28", &el, nullptr, nullptr), 0);
    set_long(el, 1);
    dec.decode(w.encode(), AvroFraming::kRaw, 1, &b);
    EXPECT_EQ(b.events.back().error, "Avro string in field \"m\" is not valid UTF-8");
  }
}

TEST(AvroDecode, SystemFields) {
  constexpr const char* kSys = R"({"type":"record","name":"S","fields":[
    {"name":"_time","type":"long"},{"name":"_user","type":"long"},{"name":"_id","type":"string"}]})";
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kSys), "");
  AvroWriter w(kSys);
  set_long(w.field("_time"), 1700000000123LL);
  set_long(w.field("_user"), 99);
  set_string(w.field("_id"), "e-1");
  EventBatch b;
  const Event& ev = decode_one(&dec, w.encode(), &b);
  ASSERT_EQ(ev.error, "");
  // a plain long _time is epoch milliseconds, like JSON (the batch builder reads Value::d)
  EXPECT_EQ(value_of(ev, "_time").kind, Kind::kInt);
  EXPECT_EQ(value_of(ev, "_time").d, 1700000000123.0);
  EXPECT_EQ(value_of(ev, "_user").kind, Kind::kInt);
  EXPECT_EQ(value_of(ev, "_user").i, 99);
  EXPECT_EQ(value_of(ev, "_id").text, "e-1");
}

TEST(AvroDecode, MaxEventBytes) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kV1), "");
  dec.set_max_event_bytes(8);
  EventBatch b;
  std::string m = click_v1("/a-long-url", 1);
  dec.decode(m, AvroFraming::kRaw, 1, &b);
  EXPECT_EQ(b.events.back().error, "event of " + std::to_string(m.size()) + " bytes exceeds pulse.max_event_bytes (8)");
  EXPECT_EQ(b.events.back().raw, m);
  dec.set_max_event_bytes(m.size());
  dec.decode(m, AvroFraming::kRaw, 1, &b);
  EXPECT_EQ(b.events.back().error, "");
}

TEST(AvroDecode, RefusedSchemasAreRemembered) {
  AvroDecoder dec;
  EXPECT_NE(dec.add_schema(1, "{not json"), "");
  EXPECT_TRUE(dec.has_schema(1));
  EventBatch b;
  dec.decode("x", AvroFraming::kRaw, 1, &b);
  EXPECT_EQ(b.events.back().error.rfind("Avro schema id 1 is unusable: invalid Avro schema", 0), 0u)
      << b.events.back().error;
  EXPECT_EQ(b.events.back().raw, "x");

  EXPECT_EQ(dec.add_schema(2, R"("long")"), "the top-level Avro schema is long, not a record");
  dec.decode(std::string("\x02", 1), AvroFraming::kConfluent, 0, &b);
  EXPECT_EQ(b.events.back().error, "bad Avro magic byte 2 (Confluent framing expects 0)");
  dec.decode(std::string("\x02", 1), AvroFraming::kRaw, 2, &b);
  EXPECT_EQ(b.events.back().error, "Avro schema id 2 is unusable: the top-level Avro schema is long, not a record");

  EXPECT_EQ(dec.add_schema(3, R"({"type":"record","name":"Node","fields":[
    {"name":"v","type":"long"},{"name":"next","type":["null","Node"]}]})"),
            "recursive Avro schemas are not supported (record Node)");
  EXPECT_EQ(dec.add_schema(4, R"({"type":"record","name":"R","fields":[
    {"name":"xs","type":{"type":"array","items":"null"}}]})"),
            "arrays whose items encode in zero bytes (null, empty records) are not supported");

  // types used twice per level: 2^20 nodes once expanded
  std::string doubling = R"({"type":"record","name":"L0","fields":[{"name":"a","type":"long"}]})";
  for (int k = 1; k <= 20; k++) {
    std::string n = "L" + std::to_string(k);
    std::string prev = "L" + std::to_string(k - 1);
    std::string def = doubling;
    doubling = R"({"type":"record","name":")" + n + R"(","fields":[{"name":"x","type":)" + def +
               R"(},{"name":"y","type":")" + prev + R"("}]})";
  }
  EXPECT_EQ(dec.add_schema(5, doubling), "Avro schema too large (over 100000 nodes with named types expanded)");

  // a later good schema under the same id replaces the refusal
  ASSERT_EQ(dec.add_schema(1, kV1), "");
  dec.decode(click_v1("/ok", 1), AvroFraming::kRaw, 1, &b);
  EXPECT_EQ(b.events.back().error, "");
  // and a refused one replaces a good one
  EXPECT_NE(dec.add_schema(1, "[]"), "");
  dec.decode(click_v1("/ok", 1), AvroFraming::kRaw, 1, &b);
  EXPECT_NE(b.events.back().error.find("is unusable"), std::string::npos);
}

TEST(AvroDecode, JsonLogicalTypeStoresJson) {
  constexpr const char* kJ = R"({"type":"record","name":"J","fields":[
    {"name":"props","type":["null",{"type":"string","logicalType":"json"}]}]})";
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kJ), "");
  EventBatch b;
  AvroWriter w(kJ);
  set_string(w.branch("props", 1), R"({ "a" : [1, 2], "b": "x" })");
  const Event& ev = decode_one(&dec, w.encode(), &b);
  ASSERT_EQ(ev.error, "");
  EXPECT_EQ(value_of(ev, "props").kind, Kind::kObject);
  EXPECT_EQ(value_of(ev, "props").text, R"({"a":[1,2],"b":"x"})");
  EXPECT_EQ(hint_of(b, ev, "props"), "jsonb");

  AvroWriter w2(kJ);
  set_string(w2.branch("props", 1), "not json");
  const Event& ev2 = decode_one(&dec, w2.encode(), &b);
  ASSERT_EQ(ev2.error, "");
  EXPECT_EQ(value_of(ev2, "props").kind, Kind::kString);  // kept, as a JSON string
  EXPECT_EQ(value_of(ev2, "props").text, "not json");
}

TEST(AvroSchemaForColumns, RoundTrip) {
  std::vector<std::pair<std::string, std::string>> typed = {
      {"_time", "timestamp with time zone"},
      {"_user", "text"},
      {"_id", "text"},
      {"_shard_time", "timestamp with time zone"},
      {"_shard_xid", "xid8"},
      {"amount", "numeric(10,2)"},
      {"loose", "numeric"},
      {"n", "bigint"},
      {"small", "smallint"},
      {"price", "double precision"},
      {"ratio", "real"},
      {"ok", "boolean"},
      {"seen", "timestamp with time zone"},
      {"local", "timestamp without time zone"},
      {"day", "date"},
      {"tags", "text[]"},
      {"props", "jsonb"},
      {"uid", "uuid"},
      {"blob", "bytea"},
      {"name", "character varying(20)"},
  };
  std::vector<std::pair<std::string, ColumnType>> cols;
  for (const auto& [name, type] : typed) cols.emplace_back(name, pg_type(type));
  std::string js = avro_schema_for_columns("pageview", cols);

  avro_schema_t s = nullptr;
  ASSERT_EQ(avro_schema_from_json_length(js.data(), js.size(), &s), 0) << avro_strerror() << "\n" << js;
  ASSERT_TRUE(is_avro_record(s));
  EXPECT_STREQ(avro_schema_name(s), "pageview");
  std::vector<std::string> names;
  for (size_t k = 0; k < avro_schema_record_size(s); k++) names.emplace_back(avro_schema_record_field_name(s, int(k)));
  EXPECT_EQ(names, (std::vector<std::string>{"_time", "_user", "_id", "amount", "loose", "n", "small", "price", "ratio",
                                             "ok", "seen", "local", "day", "tags", "props", "uid", "blob", "name"}));
  EXPECT_TRUE(is_avro_int64(avro_schema_record_field_get(s, "_time")));
  for (const std::string& n : names) {
    if (n == "_time") continue;
    avro_schema_t u = avro_schema_record_field_get(s, n.c_str());
    ASSERT_TRUE(is_avro_union(u)) << n;
    ASSERT_EQ(avro_schema_union_size(u), 2u) << n;
    EXPECT_TRUE(is_avro_null(avro_schema_union_branch(u, 0))) << n;
  }
  auto branch_type = [&](const char* n) {
    return avro_typeof(avro_schema_union_branch(avro_schema_record_field_get(s, n), 1));
  };
  EXPECT_EQ(branch_type("_user"), AVRO_STRING);
  EXPECT_EQ(branch_type("amount"), AVRO_BYTES);
  EXPECT_EQ(branch_type("loose"), AVRO_STRING);
  EXPECT_EQ(branch_type("n"), AVRO_INT64);
  EXPECT_EQ(branch_type("small"), AVRO_INT32);
  EXPECT_EQ(branch_type("price"), AVRO_DOUBLE);
  EXPECT_EQ(branch_type("ratio"), AVRO_FLOAT);
  EXPECT_EQ(branch_type("ok"), AVRO_BOOLEAN);
  EXPECT_EQ(branch_type("seen"), AVRO_INT64);
  EXPECT_EQ(branch_type("day"), AVRO_INT32);
  EXPECT_EQ(branch_type("tags"), AVRO_ARRAY);
  EXPECT_EQ(branch_type("props"), AVRO_STRING);
  EXPECT_EQ(branch_type("uid"), AVRO_STRING);
  EXPECT_EQ(branch_type("blob"), AVRO_BYTES);
  EXPECT_EQ(branch_type("name"), AVRO_STRING);

  // the logical types come back through the decoder as the original column types
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, js), "");
  AvroWriter w(js);
  set_long(w.field("_time"), 1700000000123456LL);
  for (const std::string& n : names)
    if (n != "_time") set_null(w.branch(n.c_str(), 0));
  set_bytes(w.branch("amount", 1), "\x30\x39");
  set_long(w.branch("seen", 1), 1700000000123456LL);
  set_long(w.branch("local", 1), 1700000000123456LL);
  set_int(w.branch("day", 1), 19675);
  avro_value_t tags = w.branch("tags", 1), el, br;
  ASSERT_EQ(avro_value_append(&tags, &el, nullptr), 0);
  ASSERT_EQ(avro_value_set_branch(&el, 1, &br), 0);
  set_string(br, "t1");
  set_string(w.branch("props", 1), R"({"k":1})");
  set_string(w.branch("uid", 1), "123e4567-e89b-12d3-a456-426614174000");
  EventBatch b;
  const Event& ev = decode_one(&dec, w.encode(), &b);
  ASSERT_EQ(ev.error, "");
  EXPECT_EQ(value_of(ev, "_time").text, "2023-11-14 22:13:20.123456+00");
  EXPECT_EQ(value_of(ev, "amount").text, "123.45");
  EXPECT_EQ(hint_of(b, ev, "amount"), "numeric");
  EXPECT_EQ(hint_of(b, ev, "loose"), "text");  // numeric text: the existing numeric column wins
  EXPECT_EQ(hint_of(b, ev, "n"), "bigint");
  EXPECT_EQ(hint_of(b, ev, "small"), "integer");
  EXPECT_EQ(hint_of(b, ev, "price"), "double precision");
  EXPECT_EQ(hint_of(b, ev, "ratio"), "real");
  EXPECT_EQ(hint_of(b, ev, "ok"), "boolean");
  EXPECT_EQ(hint_of(b, ev, "seen"), "timestamp with time zone");
  EXPECT_EQ(value_of(ev, "seen").text, "2023-11-14 22:13:20.123456+00");
  EXPECT_EQ(hint_of(b, ev, "local"), "timestamp without time zone");
  EXPECT_EQ(value_of(ev, "local").text, "2023-11-14 22:13:20.123456");
  EXPECT_EQ(hint_of(b, ev, "day"), "date");
  EXPECT_EQ(value_of(ev, "day").text, "2023-11-14");
  EXPECT_EQ(hint_of(b, ev, "tags"), "text[]");
  EXPECT_EQ(value_of(ev, "tags").text, R"(["t1"])");
  EXPECT_EQ(hint_of(b, ev, "props"), "jsonb");
  EXPECT_EQ(value_of(ev, "props").kind, Kind::kObject);
  EXPECT_EQ(hint_of(b, ev, "uid"), "uuid");
  EXPECT_EQ(hint_of(b, ev, "blob"), "bytea");
  EXPECT_EQ(value_of(ev, "blob").kind, Kind::kNull);
  avro_schema_decref(s);
}

TEST(AvroSchemaForColumns, NamesAreValidAvroNames) {
  std::string js = avro_schema_for_columns("1st-topic", {{"a", pg_type("text")}});
  avro_schema_t s = nullptr;
  ASSERT_EQ(avro_schema_from_json_length(js.data(), js.size(), &s), 0) << avro_strerror() << "\n" << js;
  EXPECT_STREQ(avro_schema_name(s), "_1st_topic");
  EXPECT_EQ(avro_schema_record_size(s), 4u);
  avro_schema_decref(s);
}

// numeric(p,s) becomes a decimal only when Avro can say it: 0 <= s <= p; arrays wrap the element
TEST(AvroSchemaForColumns, NumericScalesAndArrays) {
  auto type_of = [](const ColumnType& t) {
    std::string js = avro_schema_for_columns("r", {{"x", t}});
    size_t at = js.find(R"({"name":"x","type":["null",)");
    EXPECT_NE(at, std::string::npos) << js;
    return js.substr(at + 27, js.size() - at - 27 - std::string(R"(],"default":null}]})").size());
  };
  ColumnType n = pg_type("numeric(10,2)");
  EXPECT_EQ(type_of(n), R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":2})");
  n.numeric_scale = 0;
  EXPECT_EQ(type_of(n), R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":0})");
  n.numeric_scale = 10;
  EXPECT_EQ(type_of(n), R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":10})");
  n.numeric_scale = -3;  // numeric(10,-3): rounds to thousands, no Avro decimal
  EXPECT_EQ(type_of(n), R"("string")");
  n.numeric_scale = 11;  // numeric(10,11)
  EXPECT_EQ(type_of(n), R"("string")");
  EXPECT_EQ(type_of(pg_type("numeric")), R"("string")");
  EXPECT_EQ(type_of(pg_type("numeric(10,2)[]")),
            R"({"type":"array","items":["null",{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}]})");
  EXPECT_EQ(type_of(pg_type("citext")), R"("string")");
  EXPECT_EQ(type_of(pg_type("inet[]")), R"({"type":"array","items":["null","string"]})");
  EXPECT_EQ(type_of(pg_type("smallint[]")), R"({"type":"array","items":["null","int"]})");
}

}  // namespace
}  // namespace pulse
