// Unit tests of src/core/json_decode.cc: payload splitting (JSON array / NDJSON), envelope
// mode, error events (nothing dropped), size limits, field-name normalisation, value kinds and
// the per-call name cache (the JSON text of decoded events: render_test.cc).
#include "core/json_decode.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/render.h"

namespace pulse {
namespace {

// Decodes payload into a fresh batch.
std::unique_ptr<EventBatch> decode(std::string_view payload, const JsonDecodeOptions& opts = JsonDecodeOptions()) {
  auto b = std::make_unique<EventBatch>();
  JsonDecoder dec;
  dec.decode_payload(payload, opts, b.get());
  return b;
}

// The value of the field whose normalised name is `name` (fails the test when absent).
const Value& field(const Event& ev, std::string_view name) {
  for (const Field& f : ev.fields) {
    if (f.name == name) return ev.values.at(f.value);
  }
  ADD_FAILURE() << "no field " << name;
  static const Value kMissing;
  return kMissing;
}

std::vector<std::string> names_of(const Event& ev) {
  std::vector<std::string> out;
  for (const Field& f : ev.fields) out.emplace_back(f.name);
  return out;
}

std::vector<std::string> raw_names_of(const Event& ev) {
  std::vector<std::string> out;
  for (const Field& f : ev.fields) out.emplace_back(f.raw_name);
  return out;
}

using Names = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Payload shapes

TEST(DecodePayload, JsonArrayOfObjects) {
  auto b = decode(R"([{"a":1},{"b":2},{"c":3}])");
  ASSERT_EQ(b->events.size(), 3u);
  EXPECT_EQ(names_of(b->events[0]), Names{"a"});
  EXPECT_EQ(names_of(b->events[1]), Names{"b"});
  EXPECT_EQ(names_of(b->events[2]), Names{"c"});
  for (const Event& ev : b->events) {
    EXPECT_TRUE(ev.error.empty()) << ev.error;
    EXPECT_TRUE(ev.collection.empty());
  }
  EXPECT_EQ(field(b->events[2], "c").i, 3);
}

TEST(DecodePayload, SpareFieldsReservedForEnrichment) {
  JsonDecodeOptions o;
  o.spare_fields = 25;
  auto b = decode("{\"a\":1,\"b\":[1,2]}\n{\"c\":\"x\"}\n", o);
  ASSERT_EQ(b->events.size(), 2u);
  for (const Event& ev : b->events) {
    EXPECT_GE(ev.fields.capacity(), ev.fields.size() + 25);
    EXPECT_GE(ev.values.capacity(), ev.values.size() + 25);
  }
  EXPECT_EQ(names_of(b->events[0]), (Names{"a", "b"}));
  EXPECT_EQ(field(b->events[0], "b").n_children, 2u);
}

TEST(DecodePayload, JsonArrayWithLeadingWhitespaceAndNewlines) {
  // leading blanks before '[' still mean "array", even when the array spans lines
  auto b = decode(" \r\n\t [\n {\"a\":1},\n {\"a\":2}\n]\n");
  ASSERT_EQ(b->events.size(), 2u);
  EXPECT_EQ(field(b->events[0], "a").i, 1);
  EXPECT_EQ(field(b->events[1], "a").i, 2);
  EXPECT_TRUE(b->events[0].error.empty());
  EXPECT_TRUE(b->events[1].error.empty());
}

TEST(DecodePayload, EmptyPayloadsGiveNoEvents) {
  EXPECT_EQ(decode("")->events.size(), 0u);
  EXPECT_EQ(decode("\n\n  \r\n\t\n")->events.size(), 0u);
  EXPECT_EQ(decode("[]")->events.size(), 0u);
  EXPECT_EQ(decode("  [ ]  ")->events.size(), 0u);
}

TEST(DecodePayload, NdjsonOneEventPerLine) {
  auto b = decode("{\"a\":1}\n{\"a\":2}\n{\"a\":3}");
  ASSERT_EQ(b->events.size(), 3u);
  for (int k = 0; k < 3; k++) {
    EXPECT_TRUE(b->events[k].error.empty());
    EXPECT_EQ(field(b->events[k], "a").kind, Kind::kInt);
    EXPECT_EQ(field(b->events[k], "a").i, k + 1);
  }
  // raw is the line itself
  EXPECT_EQ(b->events[0].raw, "{\"a\":1}");
  EXPECT_EQ(b->events[2].raw, "{\"a\":3}");
}

TEST(DecodePayload, NdjsonBlankLinesCrlfAndLeadingWhitespace) {
  auto b = decode("\n   \n  {\"a\":1}  \r\n\r\n\t{\"a\":2}\r\n   \r\n{\"a\":3}\n\n");
  ASSERT_EQ(b->events.size(), 3u);
  EXPECT_EQ(field(b->events[0], "a").i, 1);
  EXPECT_EQ(field(b->events[1], "a").i, 2);
  EXPECT_EQ(field(b->events[2], "a").i, 3);
  for (const Event& ev : b->events) EXPECT_TRUE(ev.error.empty()) << ev.error;
  // raw is trimmed of the surrounding blanks and of the CR
  EXPECT_EQ(b->events[0].raw, "{\"a\":1}");
  EXPECT_EQ(b->events[1].raw, "{\"a\":2}");
}

TEST(DecodePayload, NdjsonSingleEventWithoutNewline) {
  auto b = decode("  {\"userId\":\"u\"}");
  ASSERT_EQ(b->events.size(), 1u);
  EXPECT_EQ(names_of(b->events[0]), Names{"user_id"});
  EXPECT_EQ(field(b->events[0], "user_id").text, "u");
}

// ---------------------------------------------------------------------------------------------
// Errors: nothing is dropped

TEST(DecodePayload, ArrayElementThatIsNotAnObject) {
  auto b = decode(R"([1, {"a":1}, "x", [2,3], null])");
  ASSERT_EQ(b->events.size(), 5u);
  EXPECT_EQ(b->events[0].error, "event is not a JSON object");
  EXPECT_EQ(b->events[0].raw, "1");
  EXPECT_TRUE(b->events[0].fields.empty());
  EXPECT_TRUE(b->events[1].error.empty());
  EXPECT_EQ(field(b->events[1], "a").i, 1);
  EXPECT_EQ(b->events[2].error, "event is not a JSON object");
  EXPECT_EQ(b->events[2].raw, "\"x\"");
  EXPECT_EQ(b->events[3].error, "event is not a JSON object");
  EXPECT_EQ(b->events[3].raw, "[2,3]");
  EXPECT_EQ(b->events[4].error, "event is not a JSON object");
  EXPECT_EQ(b->events[4].raw, "null");
}

TEST(DecodePayload, NdjsonLineThatIsNotAnObject) {
  auto b = decode("{\"a\":1}\n42\n\"str\"\n{\"a\":2}");
  ASSERT_EQ(b->events.size(), 4u);
  EXPECT_TRUE(b->events[0].error.empty());
  EXPECT_EQ(b->events[1].error, "event is not a JSON object");
  EXPECT_EQ(b->events[1].raw, "42");
  EXPECT_EQ(b->events[2].error, "event is not a JSON object");
  EXPECT_EQ(b->events[2].raw, "\"str\"");
  EXPECT_TRUE(b->events[3].error.empty());
  EXPECT_EQ(field(b->events[3], "a").i, 2);
}

TEST(DecodePayload, MalformedNdjsonLineErrorsOnlyThatEvent) {
  auto b = decode("{\"a\":1}\n{\"b\": \n{\"c\":3}\n{oops}\n{\"d\":4}");
  ASSERT_EQ(b->events.size(), 5u);
  EXPECT_TRUE(b->events[0].error.empty());
  EXPECT_EQ(b->events[1].raw, "{\"b\":");
  EXPECT_EQ(b->events[1].error.rfind("invalid JSON: ", 0), 0u) << b->events[1].error;
  EXPECT_TRUE(b->events[1].fields.empty());
  EXPECT_TRUE(b->events[2].error.empty());
  EXPECT_EQ(field(b->events[2], "c").i, 3);
  EXPECT_EQ(b->events[3].raw, "{oops}");
  EXPECT_EQ(b->events[3].error.rfind("invalid JSON: ", 0), 0u) << b->events[3].error;
  EXPECT_TRUE(b->events[4].error.empty());
  EXPECT_EQ(field(b->events[4], "d").i, 4);
}

TEST(DecodePayload, MalformedArrayBecomesOneErroredEventWithWholePayload) {
  const std::string payload = "[{\"a\":1},{\"b\":2},";
  auto b = decode(payload);
  ASSERT_EQ(b->events.size(), 1u);
  EXPECT_EQ(b->events[0].raw, payload);
  EXPECT_EQ(b->events[0].error.rfind("invalid JSON: ", 0), 0u) << b->events[0].error;
  EXPECT_NE(b->events[0].error.find("the whole payload is kept"), std::string::npos) << b->events[0].error;
  EXPECT_TRUE(b->events[0].fields.empty());

  const std::string payload2 = "  [{\"a\":1} {\"b\":2}]";
  auto b2 = decode(payload2);
  ASSERT_EQ(b2->events.size(), 1u);
  EXPECT_EQ(b2->events[0].raw, payload2);
  EXPECT_FALSE(b2->events[0].error.empty());
}

// Events decoded one by one into one batch (Kafka's messages) share each field name's interned
// text, which batch building looks up by address; a new batch (even at the address of a freed
// one) interns its own copies.
TEST(DecodeEvent, NamesInternedAcrossEventsOfOneBatch) {
  JsonDecoder dec;
  EventBatch batch;
  dec.decode_event("{\"Price\":1,\"url\":\"/a\"}", {}, &batch);
  dec.decode_event("{\"url\":\"/b\",\"Price\":2}", {}, &batch);
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].fields[0].name.data(), batch.events[1].fields[1].name.data());
  EXPECT_EQ(batch.events[0].fields[1].name.data(), batch.events[1].fields[0].name.data());
  EXPECT_EQ(batch.events[1].fields[1].name, "price");
  for (int round = 0; round < 3; round++) {
    auto other = std::make_unique<EventBatch>();
    dec.decode_event("{\"Price\":3}", {}, other.get());
    dec.decode_event("{\"Price\":4}", {}, other.get());
    ASSERT_EQ(other->events.size(), 2u);
    EXPECT_EQ(other->events[1].fields[0].name, "price");
    EXPECT_NE(other->events[1].fields[0].name.data(), batch.events[0].fields[0].name.data());
  }
  dec.decode_event("{\"Price\":5}", {}, &batch);
  ASSERT_EQ(batch.events.size(), 3u);
  EXPECT_EQ(batch.events[2].fields[0].name, "price");
}

TEST(DecodeEvent, SingleEventAndItsErrors) {
  JsonDecoder dec;
  EventBatch ok, not_object, broken, too_big;
  dec.decode_event("{\"pageURL\":\"/x\",\"n\":2}", {}, &ok);
  dec.decode_event("[1,2]", {}, &not_object);
  dec.decode_event("{\"broken\":", {}, &broken);
  JsonDecodeOptions small;
  small.max_event_bytes = 10;
  dec.decode_event("{\"abc\":\"0123456789\"}", small, &too_big);
  ASSERT_EQ(ok.events.size(), 1u);
  ASSERT_EQ(not_object.events.size(), 1u);
  ASSERT_EQ(broken.events.size(), 1u);
  ASSERT_EQ(too_big.events.size(), 1u);
  EXPECT_TRUE(ok.events[0].error.empty());
  EXPECT_EQ(names_of(ok.events[0]), (Names{"page_url", "n"}));
  EXPECT_EQ(field(ok.events[0], "page_url").text, "/x");
  EXPECT_EQ(ok.events[0].raw, "{\"pageURL\":\"/x\",\"n\":2}");
  EXPECT_EQ(not_object.events[0].error, "event is not a JSON object");
  EXPECT_EQ(not_object.events[0].raw, "[1,2]");
  EXPECT_EQ(broken.events[0].error.rfind("invalid JSON: ", 0), 0u);
  EXPECT_EQ(broken.events[0].raw, "{\"broken\":");
  EXPECT_EQ(too_big.events[0].error, "event of 20 bytes exceeds pulse.max_event_bytes (10)");
  EXPECT_EQ(too_big.events[0].raw, "{\"abc\":\"0123456789\"}");
}

// decode_event / decode_payload append to the batch, so several calls may fill one batch;
// what the earlier calls stored (raw texts included, which dead letters use) must stay intact.
TEST(DecodeEvent, SeveralCallsIntoOneBatchKeepEarlierEvents) {
  JsonDecoder dec;
  EventBatch b;
  dec.decode_event("{\"pageURL\":\"/x\",\"n\":2}", {}, &b);
  dec.decode_event("[1,2]", {}, &b);
  dec.decode_event("{\"broken\":", {}, &b);
  dec.decode_payload("{\"a\":1}\n{\"oops\"}\n", {}, &b);
  dec.decode_payload("[1]", {}, &b);
  JsonDecodeOptions small;
  small.max_event_bytes = 10;
  dec.decode_event("{\"abc\":\"0123456789\"}", small, &b);
  ASSERT_EQ(b.events.size(), 7u);
  EXPECT_EQ(b.events[0].raw, "{\"pageURL\":\"/x\",\"n\":2}");
  EXPECT_EQ(event_to_json(b.events[0]), "{\"pageURL\":\"/x\",\"n\":2}");
  EXPECT_EQ(names_of(b.events[0]), (Names{"page_url", "n"}));
  EXPECT_EQ(b.events[1].error, "event is not a JSON object");
  EXPECT_EQ(b.events[1].raw, "[1,2]");
  EXPECT_EQ(b.events[2].error.rfind("invalid JSON: ", 0), 0u);
  EXPECT_EQ(b.events[2].raw, "{\"broken\":");
  EXPECT_EQ(b.events[3].raw, "{\"a\":1}");
  EXPECT_EQ(field(b.events[3], "a").i, 1);
  EXPECT_EQ(b.events[4].raw, "{\"oops\"}");
  EXPECT_FALSE(b.events[4].error.empty());
  EXPECT_EQ(b.events[5].raw, "1");
  EXPECT_EQ(b.events[5].error, "event is not a JSON object");
  EXPECT_EQ(b.events[6].raw, "{\"abc\":\"0123456789\"}");
}

TEST(DecodePayload, SeveralPayloadsIntoOneBatchKeepEarlierRawTexts) {
  JsonDecoder dec;
  EventBatch b;
  const std::string bad1 = "[{\"a\":1},";
  const std::string bad2 = "[{\"b\":2} {\"c\":3}]";
  dec.decode_payload(bad1, {}, &b);
  dec.decode_payload("{\"x\":1}\n{nope}", {}, &b);
  dec.decode_payload(bad2, {}, &b);
  dec.decode_payload("[{\"userId\":\"u\"}]", {}, &b);
  ASSERT_EQ(b.events.size(), 5u);
  EXPECT_EQ(b.events[0].raw, bad1);
  EXPECT_NE(b.events[0].error.find("the whole payload is kept"), std::string::npos);
  EXPECT_EQ(b.events[1].raw, "{\"x\":1}");
  EXPECT_EQ(field(b.events[1], "x").i, 1);
  EXPECT_EQ(b.events[2].raw, "{nope}");
  EXPECT_FALSE(b.events[2].error.empty());
  EXPECT_EQ(b.events[3].raw, bad2);
  EXPECT_NE(b.events[3].error.find("the whole payload is kept"), std::string::npos);
  EXPECT_EQ(names_of(b.events[4]), Names{"user_id"});
  EXPECT_EQ(event_to_json(b.events[4]), "{\"userId\":\"u\"}");
}

TEST(DecodePayload, EnvelopeArrayElementOverTheLimit) {
  JsonDecodeOptions o = JsonDecodeOptions();
  o.envelope = true;
  o.max_event_bytes = 100;
  const std::string big(200, 'x');
  auto b = std::make_unique<EventBatch>();
  JsonDecoder dec;
  dec.decode_payload("[{\"collection\":\"c\",\"properties\":{\"s\":\"" + big +
                         "\"}},{\"collection\":\"c\",\"properties\":{\"s\":\"small\"}}]",
                     o, b.get());
  ASSERT_EQ(b->events.size(), 2u);
  EXPECT_NE(b->events[0].error.find("exceeds pulse.max_event_bytes (100)"), std::string::npos) << b->events[0].error;
  EXPECT_NE(b->events[0].raw.find(big), std::string_view::npos);
  EXPECT_TRUE(b->events[0].fields.empty());
  EXPECT_TRUE(b->events[1].error.empty()) << b->events[1].error;
  EXPECT_EQ(b->events[1].collection, "c");
  EXPECT_EQ(field(b->events[1], "s").text, "small");
}

// ---------------------------------------------------------------------------------------------
// Envelope mode

JsonDecodeOptions envelope() {
  JsonDecodeOptions o;
  o.envelope = true;
  return o;
}

TEST(DecodePayload, EnvelopeNdjson) {
  auto b = decode(
      "{\"collection\":\"PageView\",\"properties\":{\"pageURL\":\"/a\",\"n\":1}}\n"
      "{\"properties\":{\"x\":1},\"collection\":\"signup\"}\n",
      envelope());
  ASSERT_EQ(b->events.size(), 2u);
  EXPECT_TRUE(b->events[0].error.empty()) << b->events[0].error;
  EXPECT_EQ(b->events[0].collection, "page_view");
  EXPECT_EQ(names_of(b->events[0]), (Names{"page_url", "n"}));
  EXPECT_EQ(field(b->events[0], "page_url").text, "/a");
  // the collection/properties wrapper is not a field
  EXPECT_EQ(b->events[1].collection, "signup");
  EXPECT_EQ(names_of(b->events[1]), Names{"x"});
  // the event's JSON is its properties object, without the collection
  EXPECT_EQ(event_to_json(b->events[0]), "{\"pageURL\":\"/a\",\"n\":1}");
  EXPECT_EQ(event_to_json(b->events[1]), "{\"x\":1}");
}

TEST(DecodePayload, EnvelopeArrayAndCollectionNormalisation) {
  auto b = decode(R"([{"collection":"AddToCart","properties":{"itemId":7}},
                      {"collection":"checkout.done","properties":{}},
                      {"collection":"HTTPRequest","properties":{"a":true}}])",
                  envelope());
  ASSERT_EQ(b->events.size(), 3u);
  EXPECT_EQ(b->events[0].collection, "add_to_cart");
  EXPECT_EQ(names_of(b->events[0]), Names{"item_id"});
  EXPECT_EQ(field(b->events[0], "item_id").i, 7);
  EXPECT_EQ(b->events[1].collection, "checkout_done");
  EXPECT_TRUE(b->events[1].fields.empty());
  EXPECT_TRUE(b->events[1].error.empty());
  EXPECT_EQ(b->events[2].collection, "http_request");
  EXPECT_TRUE(field(b->events[2], "a").b);
}

TEST(DecodePayload, EnvelopeErrorsKeepTheWholeElement) {
  auto b = decode(
      "{\"properties\":{\"a\":1}}\n"                   // no collection
      "{\"collection\":5,\"properties\":{\"a\":1}}\n"  // collection not a string
      "{\"collection\":\"c\"}\n"                       // no properties
      "{\"collection\":\"c\",\"properties\":[1,2]}\n"  // properties not an object
      "{\"collection\":\"c\",\"properties\":\"x\"}\n"  // properties not an object
      "[1]\n"                                          // not an object at all
      "{\"collection\":\"ok\",\"properties\":{\"a\":1}}\n",
      envelope());
  ASSERT_EQ(b->events.size(), 7u);
  EXPECT_EQ(b->events[0].error, "envelope has no \"collection\" string");
  EXPECT_EQ(b->events[0].raw, "{\"properties\":{\"a\":1}}");
  EXPECT_EQ(b->events[1].error, "envelope has no \"collection\" string");
  EXPECT_EQ(b->events[1].raw, "{\"collection\":5,\"properties\":{\"a\":1}}");
  EXPECT_EQ(b->events[2].error, "envelope has no \"properties\" object");
  EXPECT_EQ(b->events[2].raw, "{\"collection\":\"c\"}");
  EXPECT_EQ(b->events[3].error, "envelope \"properties\" is not a JSON object");
  EXPECT_EQ(b->events[3].raw, "{\"collection\":\"c\",\"properties\":[1,2]}");
  EXPECT_EQ(b->events[4].error, "envelope \"properties\" is not a JSON object");
  EXPECT_EQ(b->events[5].error, "event is not a JSON object");
  EXPECT_EQ(b->events[5].raw, "[1]");
  EXPECT_TRUE(b->events[6].error.empty());
  EXPECT_EQ(b->events[6].collection, "ok");
  for (int k = 0; k < 6; k++) EXPECT_TRUE(b->events[k].fields.empty()) << k;
}

TEST(DecodePayload, EnvelopeErrorsInArrayKeepMinifiedElement) {
  auto b = decode(R"([ {"properties": {"a": 1}}, {"collection": "c", "properties": 3} ])", envelope());
  ASSERT_EQ(b->events.size(), 2u);
  EXPECT_EQ(b->events[0].error, "envelope has no \"collection\" string");
  EXPECT_EQ(b->events[0].raw, "{\"properties\":{\"a\":1}}");
  EXPECT_EQ(b->events[1].error, "envelope \"properties\" is not a JSON object");
  EXPECT_EQ(b->events[1].raw, "{\"collection\":\"c\",\"properties\":3}");
}

TEST(DecodePayload, WithoutEnvelopeCollectionAndPropertiesAreOrdinaryFields) {
  auto b = decode(R"({"collection":"PageView","properties":{"a":1}})");
  ASSERT_EQ(b->events.size(), 1u);
  EXPECT_TRUE(b->events[0].collection.empty());
  EXPECT_EQ(names_of(b->events[0]), (Names{"collection", "properties"}));
  EXPECT_EQ(field(b->events[0], "collection").text, "PageView");
  EXPECT_EQ(field(b->events[0], "properties").kind, Kind::kObject);
}

// ---------------------------------------------------------------------------------------------
// max_event_bytes

TEST(DecodePayload, MaxEventBytesNdjsonExactBoundary) {
  JsonDecodeOptions o;
  const std::string ten = "{\"a\":\"12\"}";  // exactly 10 bytes
  ASSERT_EQ(ten.size(), 10u);
  const std::string eleven = "{\"a\":\"123\"}";
  o.max_event_bytes = 10;
  auto b = decode(ten + "\n" + eleven + "\n  " + ten + "  \r\n", o);
  ASSERT_EQ(b->events.size(), 3u);
  EXPECT_TRUE(b->events[0].error.empty()) << b->events[0].error;
  EXPECT_EQ(field(b->events[0], "a").text, "12");
  EXPECT_EQ(b->events[1].error, "event of 11 bytes exceeds pulse.max_event_bytes (10)");
  EXPECT_EQ(b->events[1].raw, eleven);
  EXPECT_TRUE(b->events[1].fields.empty());
  // the surrounding blanks / CR do not count
  EXPECT_TRUE(b->events[2].error.empty()) << b->events[2].error;
}

TEST(DecodePayload, MaxEventBytesHugeArrayElementFlaggedSmallOnesNot) {
  JsonDecodeOptions o;
  o.max_event_bytes = 1000;
  const std::string big(2000, 'x');
  const std::string payload = "[{\"a\":1},{\"s\":\"" + big + "\"},{\"b\":\"" + std::string(400, 'y') + "\"}]";
  auto b = decode(payload, o);
  ASSERT_EQ(b->events.size(), 3u);
  EXPECT_TRUE(b->events[0].error.empty());
  EXPECT_EQ(field(b->events[0], "a").i, 1);
  const std::string expected_raw = "{\"s\":\"" + big + "\"}";
  EXPECT_EQ(b->events[1].error,
            "event of " + std::to_string(expected_raw.size()) + " bytes exceeds pulse.max_event_bytes (1000)");
  EXPECT_EQ(b->events[1].raw, expected_raw);  // kept for the dead letter
  EXPECT_TRUE(b->events[1].fields.empty());
  EXPECT_TRUE(b->events[1].values.empty());
  EXPECT_TRUE(b->events[2].error.empty()) << b->events[2].error;
  EXPECT_EQ(field(b->events[2], "b").text.size(), 400u);
}

TEST(DecodePayload, MaxEventBytesArrayElementJustUnderAndOverTheLimit) {
  JsonDecodeOptions o;
  o.max_event_bytes = 100;
  // minified {"s":"<n x>"} is n + 8 bytes
  auto under = decode("[{\"s\": \"" + std::string(92, 'x') + "\"}]", o);  // 100 bytes minified
  ASSERT_EQ(under->events.size(), 1u);
  EXPECT_TRUE(under->events[0].error.empty()) << under->events[0].error;
  auto over = decode("[{\"s\": \"" + std::string(93, 'x') + "\"}]", o);  // 101 bytes minified
  ASSERT_EQ(over->events.size(), 1u);
  EXPECT_EQ(over->events[0].error, "event of 101 bytes exceeds pulse.max_event_bytes (100)");
}

TEST(DecodePayload, MaxEventBytesArrayElementWithManyNumbers) {
  JsonDecodeOptions o;
  o.max_event_bytes = 1000;
  std::string arr = "[";
  for (int k = 0; k < 300; k++) arr += (k ? ",1234" : "1234");
  arr += "]";
  auto b = decode("[{\"n\":" + arr + "},{\"m\":[1,2,3]}]", o);
  ASSERT_EQ(b->events.size(), 2u);
  EXPECT_FALSE(b->events[0].error.empty());
  EXPECT_NE(b->events[0].error.find("exceeds pulse.max_event_bytes (1000)"), std::string::npos);
  EXPECT_TRUE(b->events[1].error.empty());
}

// An element whose strings are short once unescaped but long as JSON text (control characters
// are written \u00XX): the same event is over the limit as an NDJSON line and must be over it
// as an array element too.
TEST(DecodePayload, MaxEventBytesArrayElementWithEscapedControlCharacters) {
  JsonDecodeOptions o;
  o.max_event_bytes = 1000;
  std::string s;
  for (int k = 0; k < 200; k++) s += "\\u0001";
  const std::string element = "{\"a\":\"" + s + "\"}";  // 1208 bytes
  auto nd = decode(element, o);
  ASSERT_EQ(nd->events.size(), 1u);
  EXPECT_EQ(nd->events[0].error, "event of 1208 bytes exceeds pulse.max_event_bytes (1000)");
  auto arr = decode("[" + element + "]", o);
  ASSERT_EQ(arr->events.size(), 1u);
  EXPECT_FALSE(arr->events[0].error.empty()) << "a 1208-byte array element passed a 1000-byte limit";
}

// Long field names repeated across elements (the name cache makes the second element's names
// free in the arena): the second element is as big as the first and must be flagged as well.
TEST(DecodePayload, MaxEventBytesArrayElementsWithLongRepeatedNames) {
  JsonDecodeOptions o;
  o.max_event_bytes = 10000;
  std::string element = "{";
  for (int k = 0; k < 150; k++) {
    char name[64];
    std::snprintf(name, sizeof name, "%060d", k);
    element += (k ? "," : "");
    element += "\"" + std::string(name) + "\":null";
  }
  element += "}";
  ASSERT_GT(element.size(), 10000u);
  auto b = decode("[" + element + "," + element + "]", o);
  ASSERT_EQ(b->events.size(), 2u);
  EXPECT_FALSE(b->events[0].error.empty()) << "first copy of a " << element.size() << "-byte element";
  EXPECT_FALSE(b->events[1].error.empty()) << "second copy of a " << element.size() << "-byte element";
}

// ---------------------------------------------------------------------------------------------
// Names

TEST(DecodePayload, FieldNamesNormalisedRawNamesKept) {
  auto b = decode(R"([{"userId":1,"pageURL":2,"HTTPServer":3,"Plain":4,"1st":5,"a-b":6,"_time":7,"":8}])");
  ASSERT_EQ(b->events.size(), 1u);
  EXPECT_EQ(names_of(b->events[0]), (Names{"user_id", "page_url", "http_server", "plain", "_1st", "a_b", "_time", ""}));
  EXPECT_EQ(raw_names_of(b->events[0]), (Names{"userId", "pageURL", "HTTPServer", "Plain", "1st", "a-b", "_time", ""}));
  EXPECT_EQ(field(b->events[0], "http_server").i, 3);
  EXPECT_EQ(field(b->events[0], "_1st").i, 5);
}

TEST(DecodePayload, FieldOrderAndDuplicateKeysKept) {
  auto b = decode(R"({"z":1,"a":2,"userId":3,"user_id":4,"z":5})");
  ASSERT_EQ(b->events.size(), 1u);
  const Event& ev = b->events[0];
  EXPECT_EQ(names_of(ev), (Names{"z", "a", "user_id", "user_id", "z"}));
  EXPECT_EQ(raw_names_of(ev), (Names{"z", "a", "userId", "user_id", "z"}));
  ASSERT_EQ(ev.fields.size(), 5u);
  EXPECT_EQ(ev.values[ev.fields[4].value].i, 5);
  EXPECT_EQ(ev.values[ev.fields[2].value].i, 3);
}

TEST(DecodePayload, SameNamesAcrossEventsOfOnePayload) {
  auto b = decode("{\"userId\":1,\"eventType\":\"a\"}\n{\"eventType\":\"b\",\"userId\":2}\n{\"userId\":3}");
  ASSERT_EQ(b->events.size(), 3u);
  EXPECT_EQ(names_of(b->events[0]), (Names{"user_id", "event_type"}));
  EXPECT_EQ(names_of(b->events[1]), (Names{"event_type", "user_id"}));
  EXPECT_EQ(raw_names_of(b->events[1]), (Names{"eventType", "userId"}));
  EXPECT_EQ(names_of(b->events[2]), Names{"user_id"});
  EXPECT_EQ(field(b->events[1], "user_id").i, 2);
}

// Regression (use-after-free): the raw -> normalised name cache points into the arena of the
// batch being decoded, so it must not survive into the next decode call.
TEST(DecodePayload, NameCacheResetBetweenCallsNdjson) {
  JsonDecoder dec;
  {
    EventBatch first;
    dec.decode_payload("{\"userId\":1,\"pageURL\":\"x\"}\n{\"userId\":2,\"sessionKey\":\"k\"}", {}, &first);
    ASSERT_EQ(first.events.size(), 2u);
    EXPECT_EQ(names_of(first.events[1]), (Names{"user_id", "session_key"}));
  }  // `first` and its arena are gone
  // reuse the freed memory
  std::vector<std::unique_ptr<char[]>> scribble;
  for (int k = 0; k < 8; k++) {
    scribble.emplace_back(new char[64 << 10]);
    std::memset(scribble.back().get(), 'Z', 64 << 10);
  }
  EventBatch second;
  dec.decode_payload("{\"orderTotal\":9.5,\"userId\":3}\n{\"HTTPServer\":\"h\",\"pageURL\":\"p\"}", {}, &second);
  ASSERT_EQ(second.events.size(), 2u);
  EXPECT_EQ(names_of(second.events[0]), (Names{"order_total", "user_id"}));
  EXPECT_EQ(raw_names_of(second.events[0]), (Names{"orderTotal", "userId"}));
  EXPECT_EQ(names_of(second.events[1]), (Names{"http_server", "page_url"}));
  EXPECT_EQ(raw_names_of(second.events[1]), (Names{"HTTPServer", "pageURL"}));
  EXPECT_EQ(field(second.events[0], "order_total").d, 9.5);
  EXPECT_EQ(field(second.events[1], "page_url").text, "p");
}

TEST(DecodePayload, NameCacheResetBetweenCallsArray) {
  JsonDecoder dec;
  {
    EventBatch first;
    dec.decode_payload(R"([{"userId":1,"itemCount":2},{"itemCount":3}])", {}, &first);
    ASSERT_EQ(first.events.size(), 2u);
    EXPECT_EQ(names_of(first.events[1]), Names{"item_count"});
  }
  std::vector<std::string> scribble(16, std::string(64 << 10, 'Z'));
  EventBatch second;
  dec.decode_payload(R"([{"cartValue":1.5,"userId":"u"},{"userId":"v","isNew":true}])", {}, &second);
  ASSERT_EQ(second.events.size(), 2u);
  EXPECT_EQ(names_of(second.events[0]), (Names{"cart_value", "user_id"}));
  EXPECT_EQ(names_of(second.events[1]), (Names{"user_id", "is_new"}));
  EXPECT_EQ(raw_names_of(second.events[1]), (Names{"userId", "isNew"}));
  EXPECT_EQ(field(second.events[1], "user_id").text, "v");
}

// The names of a batch must live in that batch: destroying an earlier batch decoded by the
// same decoder leaves them intact.
TEST(DecodePayload, NamesLiveInTheirOwnBatch) {
  JsonDecoder dec;
  auto first = std::make_unique<EventBatch>();
  dec.decode_payload("{\"userId\":1,\"pageURL\":\"a\"}", {}, first.get());
  EventBatch second;
  dec.decode_payload("{\"userId\":2,\"pageURL\":\"b\"}", {}, &second);
  ASSERT_EQ(first->events.size(), 1u);
  ASSERT_EQ(second.events.size(), 1u);
  const char* p1 = first->events[0].fields[0].name.data();
  const char* r1 = first->events[0].fields[0].raw_name.data();
  EXPECT_NE(second.events[0].fields[0].name.data(), p1);
  EXPECT_NE(second.events[0].fields[0].raw_name.data(), r1);
  first.reset();
  std::vector<std::string> scribble(16, std::string(64 << 10, 'Z'));
  EXPECT_EQ(names_of(second.events[0]), (Names{"user_id", "page_url"}));
  EXPECT_EQ(raw_names_of(second.events[0]), (Names{"userId", "pageURL"}));

  // same with decode_event
  auto third = std::make_unique<EventBatch>();
  dec.decode_event("{\"fooBar\":1}", {}, third.get());
  EventBatch fourth;
  dec.decode_event("{\"fooBar\":2}", {}, &fourth);
  const char* p3 = third->events[0].fields[0].name.data();
  EXPECT_NE(fourth.events[0].fields[0].name.data(), p3);
  third.reset();
  std::vector<std::string> scribble2(16, std::string(64 << 10, 'Q'));
  EXPECT_EQ(names_of(fourth.events[0]), Names{"foo_bar"});
  EXPECT_EQ(raw_names_of(fourth.events[0]), Names{"fooBar"});
}

TEST(DecodePayload, StringsSurviveTheDecoder) {
  auto b = std::make_unique<EventBatch>();
  {
    JsonDecoder dec;
    dec.decode_payload(R"([{"userName":"alice","o":{"k":[1,2]}}])", {}, b.get());
  }  // decoder (and its parser buffers) destroyed
  ASSERT_EQ(b->events.size(), 1u);
  EXPECT_EQ(names_of(b->events[0]), (Names{"user_name", "o"}));
  EXPECT_EQ(field(b->events[0], "user_name").text, "alice");
  EXPECT_EQ(field(b->events[0], "o").text, "{\"k\":[1,2]}");
}

// ---------------------------------------------------------------------------------------------
// Value kinds

TEST(DecodePayload, ScalarKinds) {
  auto b = decode(R"({"i":42,"neg":-7,"zero":0,"max":9223372036854775807,"min":-9223372036854775808,)"
                  R"("big":18446744073709551615,"over":9223372036854775808,"d":1.5,"e":1e3,"negd":-0.25,)"
                  R"("t":true,"f":false,"n":null})");
  ASSERT_EQ(b->events.size(), 1u);
  const Event& ev = b->events[0];
  ASSERT_TRUE(ev.error.empty()) << ev.error;
  EXPECT_EQ(field(ev, "i").kind, Kind::kInt);
  EXPECT_EQ(field(ev, "i").i, 42);
  EXPECT_EQ(field(ev, "i").d, 42.0);  // ints also carry their double (epoch millis)
  EXPECT_EQ(field(ev, "neg").kind, Kind::kInt);
  EXPECT_EQ(field(ev, "neg").i, -7);
  EXPECT_EQ(field(ev, "zero").kind, Kind::kInt);
  EXPECT_EQ(field(ev, "zero").i, 0);
  EXPECT_EQ(field(ev, "max").kind, Kind::kInt);
  EXPECT_EQ(field(ev, "max").i, INT64_MAX);
  EXPECT_EQ(field(ev, "min").kind, Kind::kInt);
  EXPECT_EQ(field(ev, "min").i, INT64_MIN);
  EXPECT_EQ(field(ev, "big").kind, Kind::kDouble);
  EXPECT_EQ(field(ev, "big").d, 18446744073709551615.0);
  EXPECT_EQ(field(ev, "over").kind, Kind::kDouble);
  EXPECT_EQ(field(ev, "over").d, 9223372036854775808.0);
  EXPECT_EQ(field(ev, "d").kind, Kind::kDouble);
  EXPECT_EQ(field(ev, "d").d, 1.5);
  EXPECT_EQ(field(ev, "e").kind, Kind::kDouble);
  EXPECT_EQ(field(ev, "e").d, 1000.0);
  EXPECT_EQ(field(ev, "negd").d, -0.25);
  EXPECT_EQ(field(ev, "t").kind, Kind::kBool);
  EXPECT_TRUE(field(ev, "t").b);
  EXPECT_EQ(field(ev, "f").kind, Kind::kBool);
  EXPECT_FALSE(field(ev, "f").b);
  EXPECT_EQ(field(ev, "n").kind, Kind::kNull);
}

TEST(DecodePayload, StringsAreUnescaped) {
  auto b =
      decode(R"({"s":"a\"b\\c\/d\n\t\r\b\f","u":"\u00e9\u4e2d\ud83d\ude00","raw":"é中","empty":"","nul":"x\u0000y"})");
  ASSERT_EQ(b->events.size(), 1u);
  const Event& ev = b->events[0];
  EXPECT_EQ(field(ev, "s").kind, Kind::kString);
  EXPECT_EQ(field(ev, "s").text, "a\"b\\c/d\n\t\r\b\f");
  EXPECT_EQ(field(ev, "u").text, "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80");
  EXPECT_EQ(field(ev, "raw").text, "\xC3\xA9\xE4\xB8\xAD");
  EXPECT_EQ(field(ev, "empty").kind, Kind::kString);
  EXPECT_EQ(field(ev, "empty").text, "");
  EXPECT_EQ(field(ev, "nul").text, std::string_view("x\0y", 3));
}

TEST(DecodePayload, InvalidUtf8IsAnInvalidEvent) {
  auto b = decode("{\"a\":1}\n{\"s\":\"\xff\xfe\"}\n{\"a\":2}");
  ASSERT_EQ(b->events.size(), 3u);
  EXPECT_TRUE(b->events[0].error.empty());
  EXPECT_EQ(b->events[1].error.rfind("invalid JSON: ", 0), 0u) << b->events[1].error;
  EXPECT_EQ(b->events[1].raw, "{\"s\":\"\xff\xfe\"}");
  EXPECT_TRUE(b->events[2].error.empty());
}

TEST(DecodePayload, NestedObjectKeptAsMinifiedJson) {
  auto b = decode("{\"o\": { \"x\" : [ 1 , 2 ],\t \"y\" : {\"z\": \"a\\tb\"} , \"w\":null } }");
  ASSERT_EQ(b->events.size(), 1u);
  const Value& o = field(b->events[0], "o");
  EXPECT_EQ(o.kind, Kind::kObject);
  EXPECT_EQ(o.text, "{\"x\":[1,2],\"y\":{\"z\":\"a\\tb\"},\"w\":null}");
  EXPECT_EQ(o.n_children, 0u);
  // the nested keys are not fields
  EXPECT_EQ(names_of(b->events[0]), Names{"o"});
  auto e = decode("{\"o\":{}}");
  EXPECT_EQ(field(e->events[0], "o").kind, Kind::kObject);
  EXPECT_EQ(field(e->events[0], "o").text, "{}");
}

TEST(DecodePayload, ArraysWithChildren) {
  auto b =
      decode(R"({"before":0,"arr":[1, "two", null, true, 2.5, {"k": 1}, [3, 4], 18446744073709551615],"after":"z"})");
  ASSERT_EQ(b->events.size(), 1u);
  const Event& ev = b->events[0];
  const Value& a = field(ev, "arr");
  ASSERT_EQ(a.kind, Kind::kArray);
  EXPECT_EQ(a.text, "[1,\"two\",null,true,2.5,{\"k\":1},[3,4],18446744073709551615]");
  ASSERT_EQ(a.n_children, 8u);
  ASSERT_LE(a.first_child + a.n_children, ev.values.size());
  const Value* c = &ev.values[a.first_child];
  EXPECT_EQ(c[0].kind, Kind::kInt);
  EXPECT_EQ(c[0].i, 1);
  EXPECT_EQ(c[1].kind, Kind::kString);
  EXPECT_EQ(c[1].text, "two");
  EXPECT_EQ(c[2].kind, Kind::kNull);
  EXPECT_EQ(c[3].kind, Kind::kBool);
  EXPECT_TRUE(c[3].b);
  EXPECT_EQ(c[4].kind, Kind::kDouble);
  EXPECT_EQ(c[4].d, 2.5);
  EXPECT_EQ(c[5].kind, Kind::kObject);
  EXPECT_EQ(c[5].text, "{\"k\":1}");
  EXPECT_EQ(c[6].kind, Kind::kObject);  // nested arrays are kept as JSON
  EXPECT_EQ(c[6].text, "[3,4]");
  EXPECT_EQ(c[7].kind, Kind::kDouble);
  EXPECT_EQ(c[7].d, 18446744073709551615.0);
  // neighbours are untouched
  EXPECT_EQ(field(ev, "before").i, 0);
  EXPECT_EQ(field(ev, "after").text, "z");
}

TEST(DecodePayload, EmptyArrayAndSeveralArrays) {
  auto b = decode(R"({"e":[],"x":["a","b"],"y":[true]})");
  ASSERT_EQ(b->events.size(), 1u);
  const Event& ev = b->events[0];
  EXPECT_EQ(field(ev, "e").kind, Kind::kArray);
  EXPECT_EQ(field(ev, "e").n_children, 0u);
  EXPECT_EQ(field(ev, "e").text, "[]");
  const Value& x = field(ev, "x");
  ASSERT_EQ(x.n_children, 2u);
  EXPECT_EQ(ev.values[x.first_child].text, "a");
  EXPECT_EQ(ev.values[x.first_child + 1].text, "b");
  const Value& y = field(ev, "y");
  ASSERT_EQ(y.n_children, 1u);
  EXPECT_EQ(ev.values[y.first_child].kind, Kind::kBool);
  EXPECT_TRUE(ev.values[y.first_child].b);
  // children of different arrays do not overlap
  EXPECT_TRUE(x.first_child + x.n_children <= y.first_child || y.first_child + y.n_children <= x.first_child);
}

}  // namespace
}  // namespace pulse

namespace pulse {
namespace {

// Numbers a double cannot hold: 1e-400 reads as 0, so the literal is kept and flagged.
TEST(DecodeNumbers, UnderflowKeepsTheLiteral) {
  auto b = decode(
      "{\"a\": 1e-400, \"b\": 0.0, \"c\": [1e-400, 2, 0e5], \"d\": {\"x\": 1e-400}, \"e\": -0.0,"
      " \"f\": 0.00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
      "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
      "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
      "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001,"
      " \"g\": \"1e-400\", \"h\": 5e-324, \"i\": 2.5}");
  ASSERT_EQ(b->events.size(), 1u);
  const Event& ev = b->events[0];
  const Value& a = field(ev, "a");
  EXPECT_EQ(a.kind, Kind::kDouble);
  EXPECT_TRUE(a.underflow);
  EXPECT_EQ(a.text, "1e-400");
  EXPECT_FALSE(field(ev, "b").underflow);
  const Value& c = field(ev, "c");
  ASSERT_EQ(c.n_children, 3u);
  EXPECT_TRUE(ev.values[c.first_child].underflow);
  EXPECT_EQ(ev.values[c.first_child].text, "1e-400");
  EXPECT_EQ(ev.values[c.first_child + 1].i, 2);
  EXPECT_FALSE(ev.values[c.first_child + 2].underflow);
  EXPECT_EQ(field(ev, "d").kind, Kind::kObject);
  EXPECT_FALSE(field(ev, "e").underflow);
  EXPECT_TRUE(field(ev, "f").underflow);
  EXPECT_EQ(field(ev, "g").kind, Kind::kString);
  EXPECT_FALSE(field(ev, "h").underflow);  // a subnormal: not zero
  EXPECT_NE(field(ev, "h").d, 0);
  EXPECT_EQ(field(ev, "i").d, 2.5);
  // the JSON rebuilt for a dead letter keeps the literal
  Event copy = ev;
  copy.raw = std::string_view();
  EXPECT_NE(event_to_json(copy).find("\"a\":1e-400"), std::string::npos);
}

TEST(DecodeNumbers, UnderflowInArrayPayloadsNdjsonAndEnvelopes) {
  // numbers before and in other events (strings with digits, nested values, a non-object
  // element) must not shift the match of literals to values
  auto arr = decode("[{\"s\": \"-12 3e-999\", \"n\": {\"k\": [1, 2e-500]}, \"z\": 0.0}, 7, {\"a\": 1e-400, \"b\": 3}]");
  ASSERT_EQ(arr->events.size(), 3u);
  EXPECT_FALSE(field(arr->events[0], "z").underflow);
  EXPECT_FALSE(arr->events[1].error.empty());
  EXPECT_TRUE(field(arr->events[2], "a").underflow);
  EXPECT_EQ(field(arr->events[2], "b").i, 3);
  auto nd = decode("{\"a\": 1, \"b\": 0.0}\n{\"a\": 1e-400}\n{oops 1e-400}\n{\"a\": 1E-401, \"b\": 0}");
  ASSERT_EQ(nd->events.size(), 4u);
  EXPECT_FALSE(field(nd->events[0], "b").underflow);
  EXPECT_TRUE(field(nd->events[1], "a").underflow);
  EXPECT_FALSE(nd->events[2].error.empty());
  EXPECT_TRUE(field(nd->events[3], "a").underflow);
  EXPECT_EQ(field(nd->events[3], "a").text, "1E-401");
  JsonDecodeOptions env;
  env.envelope = true;
  auto e = decode("[{\"properties\": {\"x\": 5, \"y\": 1e-400}, \"collection\": \"c\"}]", env);
  ASSERT_EQ(e->events.size(), 1u);
  EXPECT_EQ(field(e->events[0], "x").i, 5);
  EXPECT_TRUE(field(e->events[0], "y").underflow);
}

}  // namespace
}  // namespace pulse
