// Unit tests of src/core/event_spec.cc: Segment, PostHog and path specs mapped onto pg_pulse's
// dialect, with their identity links, person operations and notes.
#include "core/event_spec.h"

#include <gtest/gtest.h>

#include <cmath>

#include <string>
#include <vector>

#include "core/render.h"

namespace pulse {
namespace {

struct Mapped {
  EventBatch in, out;
  SpecOutput actions;
  std::vector<std::string> rows;  // "collection|name=json,..." or "collection|ERROR: ..."
};

void run(const char* spec_text, std::string_view payload, Mapped* m, bool single = false, bool raw_only = false) {
  EventSpec spec;
  std::string why;
  ASSERT_TRUE(parse_event_spec(spec_text, &spec, &why)) << why;
  JsonDecoder dec;
  JsonDecodeOptions o;
  o.raw_only = raw_only;
  if (single)
    dec.decode_event(payload, o, &m->in);
  else
    dec.decode_payload(payload, o, &m->in);
  SpecMapper mapper;
  mapper.map(spec, m->in, JsonDecodeOptions(), &m->out, &m->actions);
  for (const Event& ev : m->out.events) {
    std::string r = std::string(ev.collection) + "|";
    if (!ev.error.empty()) {
      m->rows.push_back(r + "ERROR: " + ev.error + " " + std::string(ev.raw));
      continue;
    }
    for (const Field& f : ev.fields) {
      if (r.back() != '|') r += ',';
      r += std::string(f.name) + "=" + value_json(ev, ev.values[f.value]);
    }
    m->rows.push_back(r);
  }
}

using Rows = std::vector<std::string>;

TEST(EventSpec, ParsesSpecs) {
  EventSpec s;
  std::string why;
  EXPECT_TRUE(parse_event_spec("Segment", &s, &why));
  EXPECT_EQ(s.kind, SpecKind::kSegment);
  EXPECT_TRUE(parse_event_spec(R"({"time": "meta.ts", "user": "actor.id"})", &s, &why));
  EXPECT_EQ(s.kind, SpecKind::kPaths);
  EXPECT_EQ(s.time_path, (std::vector<std::string>{"meta", "ts"}));
  EXPECT_FALSE(parse_event_spec("mixpanel", &s, &why));
  EXPECT_EQ(why, "unknown event spec \"mixpanel\"");
  EXPECT_FALSE(parse_event_spec(R"({"when": "a"})", &s, &why));
  EXPECT_EQ(why, "unknown key \"when\" in event spec");
  EXPECT_FALSE(parse_event_spec(R"({"time": "a..b"})", &s, &why));
  EXPECT_FALSE(parse_event_spec(R"({})", &s, &why));
}

TEST(EventSpec, SegmentTrackPageAndBatch) {
  Mapped m;
  run("segment", R"({"batch": [
    {"type": "track", "event": "Order Completed", "userId": "u1", "anonymousId": "a1", "messageId": "m1",
     "timestamp": "2024-05-01T10:00:00.250Z", "properties": {"revenue": 12.5, "sku": "x"},
     "context": {"ip": "1.2.3.4", "page": {"url": "https://x/y"}, "campaign": {"source": "ads", "x": 1}}},
    {"type": "page", "name": "Home", "anonymousId": 42, "properties": {"path": "/"},
     "originalTimestamp": "2024-05-01T10:00:00Z", "sentAt": "2024-05-01T10:00:05Z", "receivedAt": "2024-05-01T10:00:02Z"},
    {"type": "launch"},
    7]})",
      &m, true);
  EXPECT_EQ(m.rows, (Rows{
                        "order_completed|_time=1714557600250,_user=\"u1\",_id=\"m1\",anonymous_id=\"a1\","
                        "revenue=12.5,sku=\"x\",context={\"ip\":\"1.2.3.4\",\"page\":{\"url\":\"https://x/y\"},"
                        "\"campaign\":{\"source\":\"ads\",\"x\":1}},context_ip=\"1.2.3.4\","
                        "context_page_url=\"https://x/y\",context_campaign_source=\"ads\"",
                        // receivedAt - (sentAt - originalTimestamp): 3 s before the original
                        "pages|_time=1714557597000,_user=\"42\",anonymous_id=\"42\",name=\"Home\",path=\"/\"",
                        "|ERROR: segment: unknown call type \"launch\" {\"type\":\"launch\"}",
                        "|ERROR: not a JSON object 7",
                    }));
  ASSERT_EQ(m.actions.links.size(), 1u);
  EXPECT_EQ(m.actions.links[0].id + "<-" + m.actions.links[0].other, "u1<-a1");
  EXPECT_TRUE(m.actions.links[0].identify);
  EXPECT_TRUE(m.actions.notes.empty());
}

TEST(EventSpec, SegmentIdentifyAliasAndNotes) {
  Mapped m;
  run("segment", R"({"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"plan": "pro", "n": 1}}
{"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"plan": "team"}}
{"type": "alias", "userId": "u1", "previousId": "old", "timestamp": "yesterday"}
{"type": "track", "event": "x"})",
      &m);
  EXPECT_EQ(m.rows[0], "identifies|_user=\"u1\",anonymous_id=\"a1\",plan=\"pro\",n=1");
  EXPECT_EQ(m.rows[2], "aliases|_user=\"u1\",previous_id=\"old\"");
  EXPECT_EQ(m.rows[3], "x|");
  ASSERT_EQ(m.actions.links.size(), 2u);  // the repeated pair is linked once
  EXPECT_EQ(m.actions.links[1].id + "<-" + m.actions.links[1].other, "u1<-old");
  EXPECT_FALSE(m.actions.links[1].identify);
  ASSERT_EQ(m.actions.people.count("u1"), 1u);
  EXPECT_EQ(m.actions.people["u1"].ops_json(), R"({"$set":{"n":1,"plan":"team"}})");
  std::vector<std::string> notes;
  for (auto& n : m.actions.notes) notes.push_back(std::to_string(n.event) + " " + n.field + " " + n.raw_value);
  EXPECT_EQ(notes, (std::vector<std::string>{"0 _time null", "1 _time null", "2 _time \"yesterday\"", "3 _time null",
                                             "3 _user null"}));
}

TEST(EventSpec, Posthog) {
  Mapped m;
  run("posthog", R"([{"event": "$pageview", "distinct_id": "d1", "timestamp": 1714557600000, "uuid": "e1",
     "properties": {"$current_url": "/a", "$set": {"plan": "pro"}, "$set_once": {"first": "/a"}}},
    {"event": "$identify", "distinct_id": "u1", "properties": {"$anon_distinct_id": "d1", "$set": {"plan": "team"}}},
    {"event": "$create_alias", "properties": {"distinct_id": "u1", "alias": "u1-old"}, "$set_once": {"first": "/b"}},
    {"properties": {}}])",
      &m);
  EXPECT_EQ(m.rows, (Rows{
                        "pageview|_time=1714557600000,_user=\"d1\",_id=\"e1\",current_url=\"/a\"",
                        "identify|_user=\"u1\",anon_distinct_id=\"d1\"",
                        "create_alias|_user=\"u1\",alias=\"u1-old\"",
                        "|ERROR: posthog: an event without an \"event\" name {\"properties\":{}}",
                    }));
  ASSERT_EQ(m.actions.links.size(), 2u);
  EXPECT_EQ(m.actions.links[0].id + "<-" + m.actions.links[0].other, "u1<-d1");
  EXPECT_EQ(m.actions.links[1].id + "<-" + m.actions.links[1].other, "u1<-u1-old");
  EXPECT_EQ(m.actions.people["d1"].ops_json(), R"({"$set":{"plan":"pro"},"$set_once":{"first":"/a"}})");
  EXPECT_EQ(m.actions.people["u1"].ops_json(), R"({"$set":{"plan":"team"},"$set_once":{"first":"/b"}})");
}

TEST(EventSpec, PathsAndPassedErrors) {
  Mapped m;
  run(R"({"time": "meta.ts", "user": "actor.id", "id": "meta.id"})",
      "{\"meta\": {\"ts\": \"2024-05-01T10:00:00Z\", \"id\": 9}, \"actor\": {\"id\": \"u7\"}, \"x\": 1}\n"
      "{\"meta\": {\"ts\": true}, \"actor\": {}}\n"
      "{not json\n",
      &m);
  EXPECT_EQ(m.rows[0],
            "|_time=1714557600000,_user=\"u7\",_id=\"9\",meta={\"ts\":\"2024-05-01T10:00:00Z\",\"id\":9},"
            "actor={\"id\":\"u7\"},x=1");
  EXPECT_EQ(m.rows[1], "|meta={\"ts\":true},actor={}");
  EXPECT_EQ(m.rows[2].substr(0, 20), "|ERROR: invalid JSON");
  ASSERT_EQ(m.actions.notes.size(), 2u);
  EXPECT_EQ(m.actions.notes[0].reason, "no usable time at \"meta.ts\": the arrival time is used");
  EXPECT_EQ(m.actions.notes[0].raw_value, "true");
  EXPECT_EQ(m.actions.notes[1].reason, "no usable user at \"actor.id\": the event has no user");
}

TEST(EventSpec, EventsSplitButNotParsed) {
  // JsonDecodeOptions::raw_only: the spec parses each line itself, and says why one is bad
  Mapped m;
  run("segment", "{\"type\": \"track\", \"event\": \"A\", \"userId\": 1}\n{oops\n[1]\n", &m, false, true);
  ASSERT_EQ(m.in.events.size(), 3u);
  EXPECT_TRUE(m.in.events[0].fields.empty());  // not parsed by the decoder
  EXPECT_EQ(m.rows[0], "a|_user=\"1\"");
  EXPECT_EQ(m.rows[1].substr(0, 22), "|ERROR: invalid JSON: ");
  EXPECT_EQ(m.rows[2], "|ERROR: event is not a JSON object [1]");
}

// Events built from parsed values (core/json_build.h) are the events the decoder makes of the
// same JSON: every field's raw and normalised name, the value's kind, number, text and array
// elements, on values of every kind (escapes, nested arrays, big and tiny numbers, duplicates).
TEST(EventSpec, BuiltEventsAreTheDecodersEvents) {
  const std::string props =
      R"({"s": "a\"b\u00e9\n", "Prix €": 3, "big": 18446744073709551615, "neg": -9223372036854775808,)"
      R"( "d": 1e300, "z": -0.0, "f": 0.1, "t": true, "n": null, "o": {"k": [1, {"a": null}]}, "e": {},)"
      R"( "arr": [1, "x", [2, 3], {"b": 2}, null, 2.5], "empty": [], "s": "dup", "Weird Name!": "w"})";
  Mapped m;
  run(R"({"id": "nowhere"})", props, &m);
  EventBatch ref;
  JsonDecoder dec;
  dec.decode_payload(props, JsonDecodeOptions(), &ref);
  ASSERT_EQ(m.out.events.size(), 1u);
  ASSERT_EQ(ref.events.size(), 1u);
  const Event& a = m.out.events[0];
  const Event& b = ref.events[0];
  ASSERT_TRUE(b.error.empty()) << b.error;
  ASSERT_TRUE(a.error.empty()) << a.error;
  ASSERT_EQ(b.fields.size(), 15u);
  ASSERT_EQ(a.fields.size(), b.fields.size());
  auto same_value = [&](const Value& x, const Value& y) {
    EXPECT_EQ(int(x.kind), int(y.kind));
    EXPECT_EQ(x.b, y.b);
    EXPECT_EQ(x.i, y.i);
    EXPECT_EQ(std::signbit(x.d), std::signbit(y.d));
    EXPECT_EQ(x.d, y.d);
    EXPECT_EQ(x.text, y.text);
    EXPECT_EQ(x.n_children, y.n_children);
  };
  for (size_t k = 0; k < a.fields.size(); k++) {
    SCOPED_TRACE(std::string(b.fields[k].raw_name));
    EXPECT_EQ(a.fields[k].raw_name, b.fields[k].raw_name);
    EXPECT_EQ(a.fields[k].name, b.fields[k].name);
    const Value& x = a.values[a.fields[k].value];
    const Value& y = b.values[b.fields[k].value];
    same_value(x, y);
    for (uint32_t c = 0; c < x.n_children && c < y.n_children; c++)
      same_value(a.values[x.first_child + c], b.values[y.first_child + c]);
  }
  // one name, one address: batch building memoises columns on the interned name
  EXPECT_EQ(a.fields[0].name.data(), a.fields[13].name.data());
}

// pulse.max_event_bytes applies to an event as mapped (a Segment call whose context is copied
// into columns grows): over the limit it is a dead letter holding the input call.
TEST(EventSpec, MappedEventsOverTheLimitAreDeadLetters) {
  EventSpec spec;
  std::string why;
  ASSERT_TRUE(parse_event_spec("segment", &spec, &why));
  std::string ctx(150, 'c');
  std::string payload = R"({"type": "track", "event": "A", "userId": "u", "context": {"ip": ")" + ctx +
                        R"(", "userAgent": ")" + ctx + R"("}})" + "\n" +
                        R"({"type": "track", "event": "B", "userId": "u"})";
  EventBatch in, out;
  JsonDecoder dec;
  JsonDecodeOptions o;
  o.raw_only = true;
  o.max_event_bytes = 400;
  dec.decode_payload(payload, o, &in);
  ASSERT_EQ(in.events.size(), 2u);
  ASSERT_TRUE(in.events[0].error.empty());  // 360 bytes as sent
  SpecOutput actions;
  SpecMapper mapper;
  mapper.map(spec, in, o, &out, &actions);
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].error.substr(0, 15), "event of about ");
  EXPECT_NE(out.events[0].error.find("exceeds pulse.max_event_bytes (400)"), std::string::npos);
  EXPECT_TRUE(out.events[0].fields.empty());
  EXPECT_EQ(out.events[0].raw, in.events[0].raw);  // the call as sent
  EXPECT_TRUE(out.events[1].error.empty());
  EXPECT_EQ(out.events[1].collection, "b");
}

// The size a mapped event is measured at is its length as compact JSON: an event of short
// numbers and booleans is not overestimated, one of escaped strings not underestimated.
TEST(EventSpec, MappedSizeIsTheCompactJsonLength) {
  auto dead = [](const std::string& props, size_t limit) {
    EventSpec spec;
    std::string why;
    EXPECT_TRUE(parse_event_spec(R"({"id": "nowhere"})", &spec, &why));
    EventBatch in, out;
    JsonDecoder dec;
    JsonDecodeOptions o;
    dec.decode_payload(props, o, &in);
    o.max_event_bytes = limit;
    SpecOutput actions;
    SpecMapper mapper;
    mapper.map(spec, in, o, &out, &actions);
    EXPECT_EQ(out.events.size(), 1u);
    return !out.events[0].error.empty();
  };
  // {"collection":"","properties":{"a":1,"b":true,"c":null,"d":-2.5}} is 66 bytes (+1 comma)
  const std::string small = R"({"a": 1, "b": true, "c": null, "d": -2.5})";
  EXPECT_FALSE(dead(small, 70));
  EXPECT_TRUE(dead(small, 60));
  // 40 quotes are 80 bytes as JSON
  const std::string quoted = R"({"q": ")" + std::string(40, 'x') + R"("})";
  std::string escaped = "{\"q\": \"";
  for (int k = 0; k < 40; ++k) escaped += "\\\"";
  escaped += "\"}";
  EXPECT_FALSE(dead(quoted, 100));
  EXPECT_TRUE(dead(escaped, 100));
  EXPECT_FALSE(dead(escaped, 140));
}

}  // namespace
}  // namespace pulse
