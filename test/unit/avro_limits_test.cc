// Unit tests of AvroDecoder's bounds and resource handling (src/core/avro_decode.h): schema
// limits checked before Avro C builds anything (fixed sizes, decimal precision, node count,
// depth, inline value size), the memory one message may make Avro C take, linear-time compile
// of wide schemas, the interrupt hook (exceptions reach the caller, the decoder stays usable),
// release_memory, and map keys holding a NUL byte. Messages are encoded by hand (Avro C cannot
// write a map key with a NUL byte).
#include <gtest/gtest.h>
#include <malloc.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/avro_decode.h"
#include "core/event.h"
#include "core/types.h"

namespace pulse {
namespace {

// Avro binary encoding, by hand.
std::string zz(int64_t v) {
  uint64_t u = (uint64_t(v) << 1) ^ uint64_t(v >> 63);
  std::string s;
  while (u >= 0x80) {
    s.push_back(char((u & 0x7f) | 0x80));
    u >>= 7;
  }
  s.push_back(char(u));
  return s;
}
std::string str(std::string_view b) { return zz(int64_t(b.size())) + std::string(b); }
std::string f32(float f) {
  char b[4];
  std::memcpy(b, &f, 4);  // little-endian hosts only, like the rest of these tests
  return std::string(b, 4);
}
std::string f64(double d) {
  char b[8];
  std::memcpy(b, &d, 8);
  return std::string(b, 8);
}

const Value* value_named(const Event& ev, std::string_view name) {
  for (const Field& f : ev.fields)
    if (f.name == name) return &ev.values[f.value];
  return nullptr;
}

std::string text_of(const Event& ev, std::string_view name) {
  const Value* v = value_named(ev, name);
  return v ? std::string(v->text) : "<no field " + std::string(name) + ">";
}

// Bytes glibc's allocator has handed out, from the heap and from mmap (big blocks are mmapped
// until glibc raises its threshold); 0 when it cannot tell, e.g. under valgrind.
size_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A record of n fields f0..f{n-1}, each of JSON type `type`.
std::string wide_record(int n, const std::string& type) {
  std::string s = R"({"type":"record","name":"Wide","fields":[)";
  for (int k = 0; k < n; k++) {
    if (k) s += ",";
    s += R"({"name":"f)" + std::to_string(k) + R"(","type":)" + type + "}";
  }
  return s + "]}";
}

std::string nested_arrays(int levels, const std::string& inner) {
  std::string t;
  for (int k = 0; k < levels; k++) t += R"({"type":"array","items":)";
  t += inner;
  t.append(size_t(levels), '}');
  return t;
}

TEST(AvroLimits, FixedSizesAreBoundedBeforeAvroCAllocates) {
  AvroDecoder dec;
  // the issue's schema: each use of F was 2 GB of zeroed memory in the reusable value
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(dec.add_schema(1, R"({"type":"record","name":"R","fields":[
    {"name":"a","type":{"type":"fixed","name":"F","size":2147483647}},{"name":"b","type":"F"}]})"),
            "Avro fixed \"F\" has size 2147483647, over the limit of 16777216 bytes");
  EXPECT_LT(seconds_since(t0), 10.0);
  EXPECT_EQ(dec.add_schema(2, R"({"type":"record","name":"R","fields":[
    {"name":"a","type":{"type":"fixed","name":"F","size":16777217}}]})"),
            "Avro fixed \"F\" has size 16777217, over the limit of 16777216 bytes");
  EXPECT_EQ(dec.add_schema(3, R"({"type":"record","name":"R","fields":[
    {"name":"a","type":["null",{"type":"fixed","name":"F","size":-1}]}]})"),
            "Avro fixed \"F\" has a negative size");
  EXPECT_EQ(dec.add_schema(4, R"({"type":"record","name":"R","fields":[
    {"name":"a","type":{"type":"fixed","name":"F","size":1e30}}]})"),
            "Avro fixed \"F\" has size 1e+30, over the limit of 16777216 bytes");

  // at the limit, used twice: accepted, and nothing that large is allocated before a message
  size_t before = heap_in_use();
  ASSERT_EQ(dec.add_schema(5, R"({"type":"record","name":"R","fields":[
    {"name":"a","type":{"type":"fixed","name":"F","size":16777216}},{"name":"b","type":"F"}]})"),
            "");
  if (before) {
    EXPECT_LT(heap_in_use() - before, size_t(4) << 20);
  }
  dec.set_max_event_bytes(size_t(40) << 20);
  std::string msg(size_t(32) << 20, '\x07');
  msg[0] = 'A';
  msg[(size_t(16) << 20)] = 'B';
  EventBatch b;
  dec.decode(msg, AvroFraming::kRaw, 5, &b);
  ASSERT_EQ(b.events.back().error, "");
  EXPECT_EQ(text_of(b.events.back(), "a").size(), size_t(16) << 20);
  EXPECT_EQ(text_of(b.events.back(), "b")[0], 'B');
}

TEST(AvroLimits, InlineValueSizeIsBounded) {
  AvroDecoder dec;
  std::string five = R"({"type":"record","name":"R","fields":[
    {"name":"a","type":{"type":"fixed","name":"F","size":16777216}},
    {"name":"b","type":"F"},{"name":"c","type":"F"},{"name":"d","type":"F"},{"name":"e","type":"F"}]})";
  EXPECT_EQ(dec.add_schema(1, five),
            "Avro schema too large: one record takes 83886080 bytes in memory (fixed types and the largest branch "
            "of each union, named types expanded), over the limit of 67108864");
  std::string items =
      R"({"type":"record","name":"Outer","fields":[{"name":"xs","type":{"type":"array","items":)" + five + "}}]}";
  EXPECT_EQ(dec.add_schema(2, items).rfind("Avro schema too large: one array item takes 83886080 bytes", 0), 0u)
      << dec.add_schema(2, items);
}

TEST(AvroLimits, MessageMemoryIsBounded) {
  // An array item of ["null", 16 MiB fixed] takes 1 byte in a message and 16 MiB in Avro C:
  // the issue's 105-byte message that grew the consumer to 2.2 GB.
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, R"({"type":"record","name":"R","fields":[
    {"name":"xs","type":{"type":"array","items":["null",{"type":"fixed","name":"F","size":16777216}]}}]})"),
            "");
  EventBatch b;
  std::string three = zz(3) + zz(0) + zz(0) + zz(0) + zz(0);
  dec.decode(three, AvroFraming::kRaw, 1, &b);
  ASSERT_EQ(b.events.back().error, "");
  EXPECT_EQ(text_of(b.events.back(), "xs"), "[null,null,null]");
  std::string hundred = zz(100) + std::string(100, '\0') + zz(0);
  dec.decode(hundred, AvroFraming::kRaw, 1, &b);
  EXPECT_EQ(b.events.back().error,
            "decoding this Avro message would take over " +
                std::to_string(kAvroDecodeMemoryBase + kAvroDecodeMemoryPerByte * hundred.size()) +
                " bytes of memory (limit: 67108864 + 64 per message byte)");
  EXPECT_EQ(b.events.back().raw, hundred);
  // the decoder is fine afterwards
  dec.decode(three, AvroFraming::kRaw, 1, &b);
  EXPECT_EQ(b.events.back().error, "");
}

TEST(AvroLimits, DecimalPrecisionIsBounded) {
  AvroDecoder dec;
  EXPECT_EQ(dec.add_schema(1, R"({"type":"record","name":"R","fields":[
    {"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":1001,"scale":2}}]})"),
            "Avro decimal precision 1001 is over 1000, the most Postgres numeric allows");
  EXPECT_EQ(dec.add_schema(2, R"({"type":"record","name":"R","fields":[
    {"name":"d","type":{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":123456789012}}]})"),
            "Avro decimal precision 123456789012 is over 1000, the most Postgres numeric allows");
  ASSERT_EQ(dec.add_schema(3, R"({"type":"record","name":"R","fields":[
    {"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":1000,"scale":1000}}]})"),
            "");
  EventBatch b;
  dec.decode(str("\x01"), AvroFraming::kRaw, 3, &b);
  ASSERT_EQ(b.events.back().error, "");
  EXPECT_EQ(text_of(b.events.back(), "d"), "0." + std::string(999, '0') + "1");
}

TEST(AvroLimits, DepthIsBounded) {
  AvroDecoder dec;
  // the record is level 1, its field's type level 2, each array one more
  EXPECT_EQ(dec.add_schema(1, R"({"type":"record","name":"R","fields":[{"name":"a","type":)" +
                                  nested_arrays(62, R"("long")") + "}]}"),
            "");
  EXPECT_EQ(dec.add_schema(2, R"({"type":"record","name":"R","fields":[{"name":"a","type":)" +
                                  nested_arrays(63, R"("long")") + "}]}"),
            "Avro schema nested deeper than 64 levels");
  // shallow as written, deep once the named type is expanded where it is used
  std::string deep =
      R"({"type":"record","name":"Deep","fields":[{"name":"x","type":)" + nested_arrays(58, R"("long")") + "}]}";
  EXPECT_EQ(dec.add_schema(3, R"({"type":"record","name":"R","fields":[{"name":"a","type":)" + deep +
                                  R"(},{"name":"b","type":)" + nested_arrays(30, R"("Deep")") + "}]}"),
            "Avro schema nested deeper than 64 levels");
  // far deeper than the JSON parser goes: refused, no stack overflow
  std::string very =
      R"({"type":"record","name":"R","fields":[{"name":"a","type":)" + nested_arrays(100000, R"("long")") + "}]}";
  EXPECT_NE(dec.add_schema(4, very), "");
}

TEST(AvroLimits, NodeCountIsBoundedInTheJsonText) {
  AvroDecoder dec;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(dec.add_schema(1, wide_record(100000, R"("long")")), "Avro schema too large (over 100000 nodes)");
  EXPECT_LT(seconds_since(t0), 10.0);
}

// The old compile matched each field to its JSON by a scan of all fields: 36 s for this schema.
TEST(AvroLimits, WideRecordsCompileInLinearTime) {
  const int n = int(kAvroMaxSchemaNodes) - 1;  // the widest record of longs the limit allows
  std::string schema = wide_record(n, R"("long")");
  AvroDecoder dec;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(dec.add_schema(1, schema), "");
  double s = seconds_since(t0);
  std::printf("[ timing   ] add_schema of a %d-field record (%zu bytes of JSON): %.3f s\n", n, schema.size(), s);
  EXPECT_LT(s, 10.0);
  std::string msg;
  for (int k = 0; k < n; k++) msg += zz(k % 50);
  EventBatch b;
  dec.decode(msg, AvroFraming::kRaw, 1, &b);
  const Event& ev = b.events.back();
  ASSERT_EQ(ev.error, "");
  ASSERT_EQ(ev.fields.size(), size_t(n));
  EXPECT_EQ(ev.fields[1234].name, "f1234");
  EXPECT_EQ(ev.values[ev.fields[1234].value].i, 1234 % 50);

  const int m = (int(kAvroMaxSchemaNodes) - 1) / 3;  // ["null","long"]: three nodes a field
  std::string nullable = wide_record(m, R"(["null","long"])");
  t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(dec.add_schema(2, nullable), "");
  s = seconds_since(t0);
  std::printf("[ timing   ] add_schema of a %d-field record of [\"null\",\"long\"]: %.3f s\n", m, s);
  EXPECT_LT(s, 10.0);

  // a union of many named types (its branches were looked up by index in the JSON array)
  std::string branches;
  for (int k = 0; k < 30000; k++)
    branches += std::string(k ? "," : "") + R"({"type":"fixed","name":"F)" + std::to_string(k) + R"(","size":1})";
  t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(dec.add_schema(3, R"({"type":"record","name":"R","fields":[{"name":"u","type":[)" + branches + "]}]}"), "");
  std::printf("[ timing   ] add_schema of a union of 30000 fixed types: %.3f s\n", seconds_since(t0));
  dec.decode(zz(29999) + "\x05", AvroFraming::kRaw, 3, &b);
  ASSERT_EQ(b.events.back().error, "");
  EXPECT_EQ(text_of(b.events.back(), "u"), R"("\\x05")");
}

// The interrupt check: throws its own exception type (derived from std::exception, as
// pulse::Error is, so a catch of std::exception on the way would show) after `throw_at` calls.
struct Canceled : std::runtime_error {
  Canceled() : std::runtime_error("canceling statement due to user request") {}
};
int check_calls = 0;
int check_throw_at = 0;
void counting_check() {
  if (++check_calls == check_throw_at) throw Canceled();
}

// Installs counting_check for one test, throwing at the given call; uninstalls it at the end.
struct CheckInstalled {
  CheckInstalled() { set_avro_interrupt_check(&counting_check); }
  ~CheckInstalled() { set_avro_interrupt_check(nullptr); }
  void arm(int throw_at) {
    check_calls = 0;
    check_throw_at = throw_at;
  }
};

TEST(AvroInterrupt, AddSchemaThrowsTheChecksExceptionAndKeepsThePreviousState) {
  constexpr const char* kSmall = R"({"type":"record","name":"S","fields":[{"name":"x","type":"long"}]})";
  std::string wide = wide_record(8000, R"(["null",{"type":"array","items":"long"}])");
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kSmall), "");
  CheckInstalled check;
  // every point where add_schema polls: the JSON limits, the plan, the top-level fields
  int interrupted = 0;
  for (int at = 1;; at++) {
    check.arm(at);
    bool threw = false;
    try {
      dec.add_schema(1, wide);
    } catch (const Canceled&) {
      threw = true;
    }
    if (!threw) break;
    interrupted++;
    EXPECT_TRUE(dec.has_schema(1));
    EXPECT_FALSE(dec.has_schema(2));
    EventBatch b;
    dec.decode(zz(21), AvroFraming::kRaw, 1, &b);  // still the small schema
    ASSERT_EQ(b.events.back().error, "") << "after an interrupt at call " << at;
    EXPECT_EQ(b.events.back().values[b.events.back().fields[0].value].i, 21);
    ASSERT_LT(at, 1000);
  }
  std::printf("[ info     ] add_schema of an 8000-field schema polls the check %d times\n", check_calls);
  EXPECT_GE(interrupted, 10);
  check.arm(1);
  EXPECT_THROW(dec.add_schema(2, wide), Canceled);
  EXPECT_FALSE(dec.has_schema(2));
  check.arm(0);  // never throws
  EXPECT_EQ(dec.add_schema(2, wide), "");
  EventBatch b;
  std::string msg;
  for (int k = 0; k < 8000; k++) msg += k == 7 ? zz(1) + zz(1) + zz(42) + zz(0) : zz(0);
  dec.decode(msg, AvroFraming::kRaw, 2, &b);
  ASSERT_EQ(b.events.back().error, "");
  EXPECT_EQ(text_of(b.events.back(), "f7"), "[42]");
}

TEST(AvroInterrupt, DecodeThrowsTheChecksExceptionAndAppendsNoEvent) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, R"({"type":"record","name":"R","fields":[
    {"name":"xs","type":{"type":"array","items":"long"}},
    {"name":"m","type":{"type":"map","values":{"type":"array","items":"int"}}}]})"),
            "");
  std::string msg = zz(30000);
  for (int k = 0; k < 30000; k++) msg += zz(k);
  msg += zz(0) + zz(20000);
  for (int k = 0; k < 20000; k++) msg += str("k" + std::to_string(k)) + zz(1) + zz(k) + zz(0);
  msg += zz(0);
  dec.set_max_event_bytes(size_t(8) << 20);
  CheckInstalled check;
  EventBatch b;
  int interrupted = 0;
  for (int at = 1;; at++) {
    check.arm(at);
    size_t events = b.events.size();
    bool threw = false;
    try {
      dec.decode(msg, AvroFraming::kRaw, 1, &b);
    } catch (const Canceled&) {
      threw = true;
    }
    if (!threw) break;
    interrupted++;
    EXPECT_EQ(b.events.size(), events);
    ASSERT_LT(at, 1000);
  }
  EXPECT_GE(interrupted, 20);  // the Scanner, the scalar array, the map's JSON
  const Event& ev = b.events.back();
  ASSERT_EQ(ev.error, "");
  EXPECT_EQ(value_named(ev, "xs")->n_children, 30000u);
  EXPECT_EQ(text_of(ev, "m").rfind(R"({"k0":[0],"k1":[1],"k2":[2],)", 0), 0u);
  // and avro_schema_fingerprint
  std::string big = wide_record(20000, R"("long")");
  check.arm(2);
  std::string err;
  EXPECT_THROW(avro_schema_fingerprint(big, &err), Canceled);
  check.arm(0);
  EXPECT_EQ(avro_schema_fingerprint(big, &err).size(), 16u);
}

TEST(AvroReleaseMemory, FreesGrownBuffersAndDecodingGoesOn) {
  AvroDecoder dec;
  dec.set_max_event_bytes(size_t(8) << 20);
  ASSERT_EQ(dec.add_schema(1, R"({"type":"record","name":"R","fields":[
    {"name":"xs","type":{"type":"array","items":"long"}},
    {"name":"j","type":["null",{"type":"string","logicalType":"json"}]}]})"),
            "");
  // a union with a large branch: the reusable value is large even for a 1-byte message
  ASSERT_EQ(dec.add_schema(2, R"({"type":"record","name":"B","fields":[
    {"name":"big","type":["null",{"type":"fixed","name":"F","size":3000000}]}]})"),
            "");
  dec.release_memory();  // nothing decoded yet: nothing to free
  // 300000 items in 300 KB: ~2.4 MB of Avro C array kept in the reusable value
  std::string many = zz(300000);
  for (int k = 0; k < 300000; k++) many += zz(k % 3);
  many += zz(0) + zz(0);
  std::string small = zz(2) + zz(5) + zz(6) + zz(0) + zz(0);
  // a JSON text of ~1.2 MB: the JSON parser grows to hold it
  std::string doc = "[";
  for (int k = 0; k < 200000; k++) doc += std::string(k ? "," : "") + "12345";
  doc += "]";
  std::string json_msg = zz(0) + zz(1) + str(doc);

  // Frees what decoding kept and says how much (0 when the allocator cannot tell).
  auto released = [&] {
    size_t before = heap_in_use();
    dec.release_memory();
    size_t after = heap_in_use();
    return before && after < before ? before - after : 0;
  };
  bool measured = heap_in_use() != 0;
  for (int round = 0; round < 3; round++) {
    EventBatch b;
    dec.decode(many, AvroFraming::kRaw, 1, &b);
    dec.decode(small, AvroFraming::kRaw, 1, &b);
    ASSERT_EQ(b.events[0].error, "");
    EXPECT_EQ(value_named(b.events[0], "xs")->n_children, 300000u);
    ASSERT_EQ(b.events[1].error, "");
    EXPECT_EQ(text_of(b.events[1], "xs"), "[5,6]");
    size_t freed = released();
    std::printf("[ info     ] release_memory after 300000 array items: %zu bytes freed\n", freed);
    if (measured) {
      EXPECT_GT(freed, size_t(2) << 20) << "round " << round;
    }

    dec.decode(json_msg, AvroFraming::kRaw, 1, &b);
    ASSERT_EQ(b.events[2].error, "");
    EXPECT_EQ(text_of(b.events[2], "j").size(), doc.size());
    freed = released();
    std::printf("[ info     ] release_memory after a 1.2 MB JSON text: %zu bytes freed\n", freed);
    if (measured) {
      EXPECT_GT(freed, size_t(1) << 20) << "round " << round;
    }

    dec.decode(zz(0), AvroFraming::kRaw, 2, &b);
    ASSERT_EQ(b.events[3].error, "");
    EXPECT_EQ(value_named(b.events[3], "big")->kind, Kind::kNull);
    freed = released();
    std::printf("[ info     ] release_memory after a 3 MB union value: %zu bytes freed\n", freed);
    if (measured) {
      EXPECT_GT(freed, size_t(2900000)) << "round " << round;
    }
  }
  dec.release_memory();  // twice in a row is fine
  EventBatch b;
  dec.decode(zz(1) + zz(9) + zz(0) + zz(0), AvroFraming::kRaw, 1, &b);
  ASSERT_EQ(b.events.back().error, "");
  EXPECT_EQ(text_of(b.events.back(), "xs"), "[9]");
}

// Every Avro type once, in a record whose map comes last, so the message-bytes conversion (map
// keys with NUL) can be compared with Avro C's on the same data.
constexpr const char* kEveryType = R"({"type":"record","name":"M","fields":[
  {"name":"before","type":"string"},
  {"name":"all","type":{"type":"record","name":"All","fields":[
    {"name":"b","type":"boolean"},
    {"name":"i","type":"int"},
    {"name":"d","type":{"type":"int","logicalType":"date"}},
    {"name":"l","type":"long"},
    {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
    {"name":"lts","type":{"type":"long","logicalType":"local-timestamp-millis"}},
    {"name":"f","type":"float"},
    {"name":"g","type":"double"},
    {"name":"s","type":"string"},
    {"name":"j","type":{"type":"string","logicalType":"json"}},
    {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
    {"name":"by","type":"bytes"},
    {"name":"fx","type":{"type":"fixed","name":"Two","size":2}},
    {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
    {"name":"decf","type":{"type":"fixed","name":"D4","size":4,"logicalType":"decimal","precision":9,"scale":3}},
    {"name":"u","type":{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}},
    {"name":"arr","type":{"type":"array","items":["null","long"]}},
    {"name":"un","type":["null","string","long"]},
    {"name":"nothing","type":"null"},
    {"name":"m","type":{"type":"map","values":"long"}}]}},
  {"name":"s","type":"string"},
  {"name":"after","type":"long"}]})";

// The message for kEveryType with map entries `map` (already encoded, block terminator included).
std::string every_type_message(const std::string& map, const std::string& s) {
  std::string m = str("b4");
  m += "\x01" + zz(-5) + zz(19000) + zz(1234567890123LL) + zz(1700000000123456LL) + zz(1700000000123LL);
  m += f32(1.1f) + f64(-2.5) + str("h\xc3\xa9\"\n") + str(R"({ "a" : [1, 2] })") + zz(1);
  m += str(std::string("\x01\xff", 2)) + "\xab\xcd" + str("\x30\x39") + std::string("\xff\xff\xff\xfe", 4);
  m += std::string("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0", 16);
  m += zz(-2) + zz(3) + zz(1) + zz(5) + zz(0) + zz(0);  // arr: one block of 2 with its byte size
  m += zz(2) + zz(9);                                   // un: branch 2, long 9
  m += map;
  m += str(s) + zz(7);
  return m;
}

TEST(AvroMapKeys, NulInAKeyIsKeptWholeAndRejectedLikeNulInAString) {
  AvroDecoder dec;
  ASSERT_EQ(dec.add_schema(1, kEveryType), "");
  EventBatch b;
  // the control: keys without NUL, converted from Avro C's value
  dec.decode(every_type_message(zz(1) + str("z") + zz(1) + zz(0), "plain"), AvroFraming::kRaw, 1, &b);
  const Event& plain = b.events.back();
  ASSERT_EQ(plain.error, "");
  std::string all = text_of(plain, "all");
  const std::string tail = R"("m":{"z":1}})";
  ASSERT_EQ(all.substr(all.size() - tail.size()), tail) << all;
  EXPECT_EQ(all, R"({"b":true,"i":-5,"d":"2022-01-08","l":1234567890123,"ts":"2023-11-14 22:13:20.123456+00",)"
                 R"("lts":"2023-11-14 22:13:20.123000","f":1.1,"g":-2.5,"s":"hé\"\n","j":{"a":[1,2]},"e":"B",)"
                 R"("by":"\\x01ff","fx":"\\xabcd","dec":123.45,"decf":-0.002,)"
                 R"("u":"12345678-9abc-def0-1234-56789abcdef0","arr":[5,null],"un":9,"nothing":null,"m":{"z":1}})");

  // "z", "k\0" and "k" in two blocks: Avro C would cut "k\0" to "k" and merge it with "k"
  std::string map = zz(2) + str("z") + zz(1) + str(std::string("k\0", 2)) + zz(2) + zz(1) + str("k") + zz(3) + zz(0);
  std::string msg = every_type_message(map, std::string("x\0y", 3));
  dec.decode(msg, AvroFraming::kRaw, 1, &b);
  const Event& ev = b.events.back();
  ASSERT_EQ(ev.error, "");
  ASSERT_EQ(ev.fields.size(), 4u);
  std::string with_nul = all.substr(0, all.size() - tail.size()) + R"("m":{"z":1,"k\u0000":2,"k":3}})";
  EXPECT_EQ(text_of(ev, "all"), with_nul);
  EXPECT_EQ(value_named(ev, "all")->kind, Kind::kObject);
  EXPECT_EQ(text_of(ev, "before"), "b4");
  EXPECT_EQ(text_of(ev, "s"), std::string("x\0y", 3));  // a NUL in a string value is kept too
  EXPECT_EQ(value_named(ev, "after")->i, 7);

  // the batch builder refuses both, nothing is stored cut short
  std::string out;
  EXPECT_EQ(append_copy_value(&out, ev, *value_named(ev, "all"), builtin_type(TypeClass::kJson)),
            "contains a NUL character, which jsonb cannot store");
  EXPECT_EQ(append_copy_value(&out, ev, *value_named(ev, "s"), builtin_type(TypeClass::kText)),
            "contains a NUL character, which Postgres text cannot store");

  // a key that is not UTF-8 is still an error on this path
  std::string bad = zz(1) + str(std::string("\xff\0", 2)) + zz(1) + zz(0);
  dec.decode(every_type_message(bad, "s"), AvroFraming::kRaw, 1, &b);
  EXPECT_EQ(b.events.back().error, "Avro string in field \"all\" is not valid UTF-8");

  // at the top level and nested in unions and arrays
  ASSERT_EQ(dec.add_schema(2, R"({"type":"record","name":"T","fields":[
    {"name":"m","type":["null",{"type":"map","values":"string"}]},
    {"name":"ms","type":{"type":"array","items":{"type":"map","values":["null","int"]}}},
    {"name":"n","type":"int"}]})"),
            "");
  std::string top = zz(1) + zz(1) + str(std::string("\0", 1)) + str("v") + zz(0);
  top += zz(2) + zz(1) + str("a") + zz(0) + zz(0) + zz(1) + str(std::string("b\0", 2)) + zz(1) + zz(4) + zz(0) + zz(0);
  top += zz(-3);
  dec.decode(top, AvroFraming::kRaw, 2, &b);
  const Event& t = b.events.back();
  ASSERT_EQ(t.error, "");
  EXPECT_EQ(text_of(t, "m"), R"({"\u0000":"v"})");
  EXPECT_EQ(text_of(t, "ms"), R"([{"a":null},{"b\u0000":4}])");
  EXPECT_EQ(value_named(t, "n")->i, -3);
}

}  // namespace
}  // namespace pulse
