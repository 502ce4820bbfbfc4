// Unit tests of src/core/batch.cc: the schema diff (plan_new_columns) and the COPY rows with
// their rejected fields, dead letters and dedup (build_copy_rows), plus collect_event_ids.
#include "core/batch.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/json_decode.h"
#include "core/types.h"
#include "pg_types.h"

namespace pulse {
namespace {

const char kArrival[] = "2024-06-01 00:00:00+00";

// A collection table: the five system columns, then the given user columns.
TableShape shape(const std::vector<std::pair<std::string, std::string>>& user_cols = {}) {
  TableShape s;
  s.add("_time", pg_type("timestamp with time zone"));
  s.add("_user", pg_type("text"));
  s.add("_id", pg_type("text"));
  s.add("_shard_time", pg_type("timestamp with time zone"));
  s.add("_shard_xid", pg_type("xid8"));
  for (const auto& c : user_cols) s.add(c.first, pg_type(c.second));
  return s;
}

struct Decoded {
  EventBatch batch;
  std::vector<uint32_t> all;
};

std::unique_ptr<Decoded> decode(std::string_view payload) {
  auto d = std::make_unique<Decoded>();
  JsonDecoder dec;
  dec.decode_payload(payload, JsonDecodeOptions(), &d->batch);
  for (uint32_t k = 0; k < d->batch.events.size(); k++) d->all.push_back(k);
  return d;
}

using Strings = std::vector<std::string>;

// "name:type" of each planned column.
Strings plan(const Decoded& d, const TableShape& s, size_t max_fields = 500) {
  Strings out;
  for (const Column& c : plan_new_columns(d.batch, d.all, s, max_fields)) out.push_back(c.name + ":" + c.type.pg_name);
  return out;
}

BuildOptions options() {
  BuildOptions o;
  o.arrival_time = kArrival;
  return o;
}

// Every case is built twice: the COPY column list read from every event's fields, and from the
// distinct names plan_new_columns gives (the writer's way); both give the same rows.
CopyRows build(const Decoded& d, const TableShape& s, const BuildOptions& o = options()) {
  CopyRows rows;
  build_copy_rows(d.batch, d.all, s, o, &rows);
  std::vector<std::string_view> names;
  (void)plan_new_columns(d.batch, d.all, s, 500, &names);
  BuildOptions with_names = o;
  with_names.field_names = &names;
  CopyRows again;
  build_copy_rows(d.batch, d.all, s, with_names, &again);
  EXPECT_EQ(again.columns, rows.columns);
  EXPECT_EQ(again.data, rows.data);
  EXPECT_EQ(again.binary, rows.binary);
  EXPECT_EQ(again.rejected.size(), rows.rejected.size());
  EXPECT_EQ(again.dead.size(), rows.dead.size());
  return rows;
}

// The COPY lines, split with line_end (and checked against the data).
Strings lines(const CopyRows& r) {
  Strings out;
  size_t start = 0;
  for (size_t end : r.line_end) {
    EXPECT_LE(end, r.data.size());
    EXPECT_GT(end, start);
    out.push_back(r.data.substr(start, end - start));
    EXPECT_EQ(out.back().back(), '\n');
    start = end;
  }
  EXPECT_EQ(start, r.data.size()) << "data beyond the last line_end";
  EXPECT_EQ(r.line_event.size(), r.line_end.size());
  return out;
}

std::vector<uint32_t> dead_events(const CopyRows& r) {
  std::vector<uint32_t> out;
  for (const DeadLetter& d : r.dead) out.push_back(d.event);
  return out;
}

// ---------------------------------------------------------------------------------------------
// plan_new_columns

TEST(PlanNewColumns, TypesFromFirstInformativeValue) {
  auto d = decode(
      "{\"a\":null,\"b\":\"x\",\"c\":[]}\n"
      "{\"a\":5,\"b\":1,\"d\":\"2024-01-01\",\"f\":[\"x\",\"y\"]}\n"
      "{\"e\":\"2024-01-01T00:00:00Z\",\"a\":\"str\",\"c\":[1],\"g\":{\"k\":1},\"h\":true}\n");
  EXPECT_EQ(plan(*d, shape()), (Strings{"b:text", "c:jsonb", "a:double precision", "d:date", "f:text[]",
                                        "e:timestamp with time zone", "g:jsonb", "h:boolean"}));
}

TEST(PlanNewColumns, ColumnTypesAreUsable) {
  auto d = decode("{\"n\":[1,2],\"when\":\"2024-01-01T00:00:00Z\"}");
  auto cols = plan_new_columns(d->batch, d->all, shape(), 500);
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[0].name, "n");
  EXPECT_EQ(cols[0].type.cls, TypeClass::kDouble);
  EXPECT_TRUE(cols[0].type.is_array);
  EXPECT_EQ(cols[1].name, "when");
  EXPECT_EQ(cols[1].type.cls, TypeClass::kTimestamptz);
  EXPECT_FALSE(cols[1].type.is_array);
}

TEST(PlanNewColumns, NullOnlyFieldsAddNothing) {
  auto d = decode("{\"a\":null}\n{\"a\":null,\"b\":null}\n{}");
  EXPECT_EQ(plan(*d, shape()), Strings{});
  // a later informative value does add the column
  auto d2 = decode("{\"a\":null}\n{\"b\":null}\n{\"a\":false}");
  EXPECT_EQ(plan(*d2, shape()), Strings{"a:boolean"});
}

TEST(PlanNewColumns, ExistingColumnsNeverReAdded) {
  auto d = decode("{\"a\":5,\"b\":1,\"A\":\"x\"}\n{\"a\":\"y\",\"c\":true}");
  EXPECT_EQ(plan(*d, shape({{"a", "text"}, {"c", "integer"}})), Strings{"b:double precision"});
  EXPECT_EQ(plan(*d, shape({{"a", "text"}, {"b", "text"}, {"c", "text"}})), Strings{});
}

TEST(PlanNewColumns, SystemReservedAndEmptyNamesNotAdded) {
  auto d = decode(
      "{\"_time\":\"2024-01-01T00:00:00Z\",\"_user\":\"u\",\"_id\":\"x\",\"_shard_time\":1,"
      "\"_shard_xid\":2,\"_foo\":3,\"\":4,\"1st\":5}");
  // only the digit-prefixed name is an ordinary field
  EXPECT_EQ(plan(*d, TableShape()), Strings{"_1st:double precision"});
  EXPECT_EQ(plan(*d, shape()), Strings{"_1st:double precision"});
}

TEST(PlanNewColumns, ErroredEventsIgnored) {
  auto d = decode("{bad json\n[1]\n{\"ok\":1}\n\"x\"");
  ASSERT_EQ(d->batch.events.size(), 4u);
  EXPECT_EQ(plan(*d, shape()), Strings{"ok:double precision"});
}

TEST(PlanNewColumns, OnlyTheGivenEvents) {
  auto d = decode("{\"a\":1}\n{\"b\":\"x\"}\n{\"c\":true}");
  auto cols = plan_new_columns(d->batch, {2, 1}, shape(), 500);
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[0].name, "c");
  EXPECT_EQ(cols[1].name, "b");
}

TEST(PlanNewColumns, DuplicateNormalisedNamesGiveOneColumn) {
  auto d = decode("{\"userId\":\"x\",\"user_id\":5,\"USER_ID\":true}");
  EXPECT_EQ(plan(*d, shape()), Strings{"user_id:text"});
}

TEST(PlanNewColumns, MaxFieldsCountsExistingUserColumns) {
  auto d = decode("{\"a\":1,\"c\":1,\"d\":2}\n{\"e\":3,\"b\":\"x\"}");
  const TableShape s = shape({{"a", "double precision"}, {"b", "text"}});
  ASSERT_EQ(s.user_columns(), 2u);
  EXPECT_EQ(plan(*d, s, 500), (Strings{"c:double precision", "d:double precision", "e:double precision"}));
  EXPECT_EQ(plan(*d, s, 5), (Strings{"c:double precision", "d:double precision", "e:double precision"}));
  EXPECT_EQ(plan(*d, s, 4), (Strings{"c:double precision", "d:double precision"}));
  EXPECT_EQ(plan(*d, s, 3), Strings{"c:double precision"});
  EXPECT_EQ(plan(*d, s, 2), Strings{});
  EXPECT_EQ(plan(*d, s, 1), Strings{});  // already over the limit: no underflow
  EXPECT_EQ(plan(*d, s, 0), Strings{});
}

TEST(PlanNewColumns, MaxFieldsWithinOneBatch) {
  auto d = decode("{\"a\":1}\n{\"b\":null}\n{\"c\":1}\n{\"b\":1}\n{\"d\":1}");
  EXPECT_EQ(plan(*d, shape(), 2), (Strings{"a:double precision", "c:double precision"}));
}

// "1st" becomes the column "_1st": an ordinary user column (classify_field_name says so), so it
// counts towards pulse.max_fields_per_collection like any other.
TEST(PlanNewColumns, MaxFieldsCountsDigitPrefixedColumns) {
  const TableShape s = shape({{"_1st", "double precision"}, {"_2nd", "text"}});
  auto d = decode("{\"b\":1,\"3rd\":2}");
  EXPECT_EQ(plan(*d, s, 2), Strings{});
  EXPECT_EQ(plan(*d, s, 3), Strings{"b:double precision"});
}

// ---------------------------------------------------------------------------------------------
// build_copy_rows: columns and rows

TEST(BuildCopyRows, ColumnListAndRows) {
  auto d = decode(
      "{\"_time\":\"2024-01-01T12:00:00+02:00\",\"_user\":\"u1\",\"_id\":\"e1\",\"d\":{\"k\": 1},\"a\":\"x\\ty\"}\n"
      "{\"a\":null,\"b\":2.5,\"_user\":42}\n");
  const TableShape s = shape({{"a", "text"}, {"b", "double precision"}, {"c", "boolean"}, {"d", "jsonb"}});
  CopyRows r = build(*d, s);
  EXPECT_EQ(r.columns, (Strings{"_time", "_user", "_id", "a", "b", "d"}));  // c unused, table order
  EXPECT_EQ(lines(r), (Strings{"2024-01-01 10:00:00.000000+00\tu1\te1\tx\\ty\t\\N\t{\"k\":1}\n",
                               "2024-06-01 00:00:00+00\t42\t\\N\t\\N\t2.5\t\\N\n"}));
  EXPECT_EQ(r.line_event, (std::vector<uint32_t>{0, 1}));
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_TRUE(r.dead.empty());
  EXPECT_EQ(r.duplicates, 0u);
}

// Many field names (the column lookup's table grows several times) in an order that differs
// from event to event: every value lands in its own column, unknown names are rejected.
TEST(BuildCopyRows, ManyFieldNamesEachInItsColumn) {
  std::vector<std::pair<std::string, std::string>> cols;
  for (int k = 0; k < 300; k++) cols.emplace_back("f" + std::to_string(k), "bigint");
  const TableShape s = shape(cols);
  std::string payload;
  for (int e = 0; e < 20; e++) {
    payload += "{";
    for (int j = 0; j < 300; j++) {
      int k = (j * 7 + e * 13) % 300;
      payload += "\"f" + std::to_string(k) + "\":" + std::to_string(k * 1000 + e) + ",";
    }
    payload += "\"nope" + std::to_string(e) + "\":1}\n";
  }
  auto d = decode(payload);
  CopyRows r = build(*d, s);
  ASSERT_EQ(r.columns.size(), 303u);
  ASSERT_EQ(r.line_event.size(), 20u);
  std::vector<std::string> rows = lines(r);
  for (int e = 0; e < 20; e++) {
    std::string want = "2024-06-01 00:00:00+00\t\\N\t\\N";
    for (int k = 0; k < 300; k++) want += "\t" + std::to_string(k * 1000 + e);
    EXPECT_EQ(rows[size_t(e)], want + "\n") << "event " << e;
  }
  ASSERT_EQ(r.rejected.size(), 20u);
  EXPECT_EQ(r.rejected[0].field, "nope0");
}

TEST(BuildCopyRows, OnlySystemColumnsWhenNoUserFieldIsKnown) {
  auto d = decode("{\"_user\":\"u\"}\n{}");
  CopyRows r = build(*d, shape({{"a", "text"}}));
  EXPECT_EQ(r.columns, (Strings{"_time", "_user", "_id"}));
  EXPECT_EQ(lines(r), (Strings{"2024-06-01 00:00:00+00\tu\t\\N\n", "2024-06-01 00:00:00+00\t\\N\t\\N\n"}));
}

TEST(BuildCopyRows, TimeFromEventOrArrival) {
  auto d = decode(
      "{\"_time\":1700000000000}\n"
      "{\"_time\":1700000000123}\n"
      "{\"_time\":null}\n"
      "{\"x\":1}\n"
      "{\"_time\":\"2024-02-29T23:59:59.999999Z\"}\n"
      "{\"_time\":\"2024-01-01 00:00\"}\n"
      "{\"_time\":0}\n");
  CopyRows r = build(*d, shape());
  EXPECT_EQ(lines(r), (Strings{"2023-11-14 22:13:20.000000+00\t\\N\t\\N\n", "2023-11-14 22:13:20.123000+00\t\\N\t\\N\n",
                               "2024-06-01 00:00:00+00\t\\N\t\\N\n", "2024-06-01 00:00:00+00\t\\N\t\\N\n",
                               "2024-02-29 23:59:59.999999+00\t\\N\t\\N\n", "2024-01-01 00:00:00.000000+00\t\\N\t\\N\n",
                               "1970-01-01 00:00:00.000000+00\t\\N\t\\N\n"}));
  EXPECT_TRUE(r.dead.empty());
  // "x" has no column: a rejected field that refers to the arrival time
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].event, 3u);
  EXPECT_EQ(r.rejected[0].event_time, kArrival);
}

TEST(BuildCopyRows, UserAndIdTextNumbersAndEscaping) {
  auto d = decode(
      "{\"_user\":\"a\\tb\\\\c\",\"_id\":1.5}\n"
      "{\"_user\":42,\"_id\":-7}\n"
      "{\"_user\":null,\"_id\":\"x\\ny\"}\n");
  CopyRows r = build(*d, shape());
  EXPECT_EQ(lines(r), (Strings{"2024-06-01 00:00:00+00\ta\\tb\\\\c\t1.5\n", "2024-06-01 00:00:00+00\t42\t-7\n",
                               "2024-06-01 00:00:00+00\t\\N\tx\\ny\n"}));
}

TEST(BuildCopyRows, OnlyTheGivenEventsInTheGivenOrder) {
  auto d = decode("{\"a\":\"0\"}\n{\"a\":\"1\"}\n{\"a\":\"2\"}");
  CopyRows r;
  build_copy_rows(d->batch, {2, 0}, shape({{"a", "text"}}), options(), &r);
  EXPECT_EQ(lines(r), (Strings{"2024-06-01 00:00:00+00\t\\N\t\\N\t2\n", "2024-06-01 00:00:00+00\t\\N\t\\N\t0\n"}));
  EXPECT_EQ(r.line_event, (std::vector<uint32_t>{2, 0}));
}

// ---------------------------------------------------------------------------------------------
// build_copy_rows: rejected fields

TEST(BuildCopyRows, ValueThatDoesNotFitIsRejectedEventKept) {
  auto d = decode(
      "{\"_id\":\"e1\",\"_user\":\"u1\",\"_time\":\"2024-01-01T00:00:00Z\",\"b\":\"abc\",\"a\":\"ok\"}\n"
      "{\"b\":true,\"n\":70000}\n");
  const TableShape s = shape({{"a", "text"}, {"b", "double precision"}, {"n", "smallint"}});
  CopyRows r = build(*d, s);
  EXPECT_EQ(r.columns, (Strings{"_time", "_user", "_id", "a", "b", "n"}));
  EXPECT_EQ(lines(r), (Strings{"2024-01-01 00:00:00.000000+00\tu1\te1\tok\t\\N\t\\N\n",
                               "2024-06-01 00:00:00+00\t\\N\t\\N\t\\N\t\\N\t\\N\n"}));
  ASSERT_EQ(r.rejected.size(), 3u);
  const RejectedField& x = r.rejected[0];
  EXPECT_EQ(x.event, 0u);
  EXPECT_EQ(x.field, "b");
  EXPECT_EQ(x.raw_name, "b");
  EXPECT_EQ(x.raw_value, "\"abc\"");
  EXPECT_EQ(x.expected_type, "double precision");
  EXPECT_EQ(x.reason, "not a number");
  EXPECT_EQ(x.event_id, "e1");
  EXPECT_EQ(x.event_user, "u1");
  EXPECT_EQ(x.event_time, "2024-01-01 00:00:00.000000+00");
  const RejectedField& y = r.rejected[1];
  EXPECT_EQ(y.event, 1u);
  EXPECT_EQ(y.field, "b");
  EXPECT_EQ(y.raw_value, "true");
  EXPECT_EQ(y.reason, "not a number");
  EXPECT_EQ(y.event_id, "");
  EXPECT_EQ(y.event_user, "");
  EXPECT_EQ(y.event_time, kArrival);
  const RejectedField& z = r.rejected[2];
  EXPECT_EQ(z.event, 1u);
  EXPECT_EQ(z.field, "n");
  EXPECT_EQ(z.raw_value, "70000");
  EXPECT_EQ(z.expected_type, "smallint");
  EXPECT_EQ(z.reason, "out of range for type smallint");
  EXPECT_TRUE(r.dead.empty());
}

TEST(BuildCopyRows, RawNameOfRejectedFieldIsAsSent) {
  auto d = decode("{\"_id\":5,\"orderTotal\":\"lots\"}");
  CopyRows r = build(*d, shape({{"order_total", "numeric"}}));
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].field, "order_total");
  EXPECT_EQ(r.rejected[0].raw_name, "orderTotal");
  EXPECT_EQ(r.rejected[0].expected_type, "numeric");
  EXPECT_EQ(r.rejected[0].event_id, "5");
  EXPECT_EQ(lines(r), Strings{"2024-06-01 00:00:00+00\t\\N\t5\t\\N\n"});
}

TEST(BuildCopyRows, FieldWithoutColumnIsRejected) {
  auto d = decode("{\"zz\":1,\"yy\":null,\"a\":\"x\",\"_user\":\"u\"}");
  BuildOptions o = options();
  o.max_fields = 7;
  CopyRows r = build(*d, shape({{"a", "text"}}), o);
  EXPECT_EQ(r.columns, (Strings{"_time", "_user", "_id", "a"}));
  EXPECT_EQ(lines(r), Strings{"2024-06-01 00:00:00+00\tu\t\\N\tx\n"});
  ASSERT_EQ(r.rejected.size(), 1u);  // the null one has nothing to lose
  EXPECT_EQ(r.rejected[0].field, "zz");
  EXPECT_EQ(r.rejected[0].raw_value, "1");
  EXPECT_EQ(r.rejected[0].expected_type, "");
  EXPECT_EQ(r.rejected[0].reason,
            "collection has no column for this field: limit pulse.max_fields_per_collection (7) reached");
  EXPECT_EQ(r.rejected[0].event_user, "u");
}

TEST(BuildCopyRows, ReservedAndEmptyNamesRejectedEventStored) {
  auto d = decode("{\"_shard_time\":\"2020-01-01T00:00:00Z\",\"a\":\"v\",\"_foo\":{\"x\":1},\"\":2,\"_shard_xid\":3}");
  CopyRows r = build(*d, shape({{"a", "text"}}));
  // the system columns the user may not write are never in the COPY list
  EXPECT_EQ(r.columns, (Strings{"_time", "_user", "_id", "a"}));
  EXPECT_EQ(lines(r), Strings{"2024-06-01 00:00:00+00\t\\N\t\\N\tv\n"});
  EXPECT_TRUE(r.dead.empty());
  ASSERT_EQ(r.rejected.size(), 4u);
  EXPECT_EQ(r.rejected[0].raw_name, "_shard_time");
  EXPECT_EQ(r.rejected[0].raw_value, "\"2020-01-01T00:00:00Z\"");
  EXPECT_EQ(r.rejected[0].expected_type, "");
  EXPECT_NE(r.rejected[0].reason.find("reserved"), std::string::npos) << r.rejected[0].reason;
  EXPECT_EQ(r.rejected[0].event_time, kArrival);
  EXPECT_EQ(r.rejected[1].raw_name, "_foo");
  EXPECT_EQ(r.rejected[1].raw_value, "{\"x\":1}");
  EXPECT_NE(r.rejected[1].reason.find("reserved"), std::string::npos);
  EXPECT_EQ(r.rejected[2].raw_name, "");
  EXPECT_EQ(r.rejected[2].field, "");
  EXPECT_EQ(r.rejected[2].raw_value, "2");
  EXPECT_EQ(r.rejected[2].reason, "field name is empty after normalisation");
  EXPECT_EQ(r.rejected[3].raw_name, "_shard_xid");
  for (const RejectedField& x : r.rejected) EXPECT_EQ(x.event, 0u);
}

TEST(BuildCopyRows, DuplicateNormalisedNamesSecondRejected) {
  auto d = decode("{\"userId\":\"a\",\"n\":1,\"user_id\":\"b\",\"N\":2}");
  CopyRows r = build(*d, shape({{"user_id", "text"}, {"n", "integer"}}));
  EXPECT_EQ(lines(r), Strings{"2024-06-01 00:00:00+00\t\\N\t\\N\ta\t1\n"});
  ASSERT_EQ(r.rejected.size(), 2u);
  EXPECT_EQ(r.rejected[0].field, "user_id");
  EXPECT_EQ(r.rejected[0].raw_name, "user_id");
  EXPECT_EQ(r.rejected[0].raw_value, "\"b\"");
  EXPECT_EQ(r.rejected[0].expected_type, "text");
  EXPECT_EQ(r.rejected[0].reason, "another field of this event has the same normalised name");
  EXPECT_EQ(r.rejected[1].field, "n");
  EXPECT_EQ(r.rejected[1].raw_name, "N");
  EXPECT_EQ(r.rejected[1].raw_value, "2");
  EXPECT_EQ(r.rejected[1].expected_type, "integer");
}

// ---------------------------------------------------------------------------------------------
// build_copy_rows: dead letters

TEST(BuildCopyRows, DeadLetters) {
  auto d = decode(
      "{\"_time\":\"yesterday\",\"b\":\"abc\"}\n"  // 0
      "{\"_time\":true}\n"                         // 1
      "{\"_time\":1e20}\n"                         // 2
      "{\"_user\":{\"id\":1},\"a\":\"x\"}\n"       // 3
      "{\"_id\":[1]}\n"                            // 4
      "[1]\n"                                      // 5
      "{\"a\":\"fine\"}\n"                         // 6
      "{\"_user\":true}\n"                         // 7
      "{\"_time\":\"2024-01-01\"}\n"               // 8: a date is not a date-time
      "{\"_time\":{\"t\":1}}\n"                    // 9
      "{broken\n");                                // 10
  const TableShape s = shape({{"a", "text"}, {"b", "double precision"}});
  CopyRows r = build(*d, s);
  // column b is named only by events dead-lettered while rows were built: it stays in the
  // COPY list as NULL (batch.h contract)
  EXPECT_EQ(lines(r), Strings{"2024-06-01 00:00:00+00\t\\N\t\\N\tfine\t\\N\n"});
  EXPECT_EQ(r.line_event, std::vector<uint32_t>{6});
  EXPECT_EQ(dead_events(r), (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 7, 8, 9, 10}));
  ASSERT_EQ(r.dead.size(), 10u);
  EXPECT_EQ(r.dead[0].error, "invalid _time: not an ISO-8601 date-time: \"yesterday\"");
  EXPECT_EQ(r.dead[1].error, "invalid _time: expected an ISO-8601 string or epoch milliseconds, got true");
  EXPECT_EQ(r.dead[2].error, "invalid _time: epoch milliseconds out of range: 1e+20");
  EXPECT_EQ(r.dead[3].error, "invalid _user: expected a string or a number");
  EXPECT_EQ(r.dead[4].error, "invalid _id: expected a string or a number");
  EXPECT_EQ(r.dead[5].error, "event is not a JSON object");
  EXPECT_EQ(r.dead[6].error, "invalid _user: expected a string or a number");
  EXPECT_EQ(r.dead[7].error, "invalid _time: not an ISO-8601 date-time: \"2024-01-01\"");
  EXPECT_NE(r.dead[8].error.find("invalid _time"), std::string::npos);
  EXPECT_EQ(r.dead[9].error.rfind("invalid JSON: ", 0), 0u);
  // a dead-lettered event goes whole: none of its fields is reported separately
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(r.duplicates, 0u);
}

// ---------------------------------------------------------------------------------------------
// build_copy_rows: dedup

TEST(BuildCopyRows, DedupAgainstStoredAndWithinBatch) {
  auto d = decode(
      "{\"_id\":\"e1\",\"a\":\"stored before\"}\n"         // 0: in existing_ids
      "{\"_id\":\"e2\",\"a\":\"first\"}\n"                 // 1
      "{\"_id\":\"e2\",\"a\":\"second\",\"b\":\"bad\"}\n"  // 2: duplicate of 1 (its reject goes too)
      "{\"a\":\"no id\"}\n"                                // 3
      "{\"_id\":7}\n"                                      // 4: "7" in existing_ids
      "{\"_id\":\"e3\"}\n"                                 // 5
      "{\"_id\":null,\"a\":\"null id\"}\n"                 // 6
      "{\"a\":\"no id again\"}\n");                        // 7: no id is never a duplicate
  const TableShape s = shape({{"a", "text"}, {"b", "double precision"}});
  const std::unordered_set<std::string> existing{"e1", "7"};
  BuildOptions o = options();
  o.dedup = true;
  o.existing_ids = &existing;
  CopyRows r = build(*d, s, o);
  EXPECT_EQ(r.duplicates, 3u);
  EXPECT_EQ(r.line_event, (std::vector<uint32_t>{1, 3, 5, 6, 7}));
  EXPECT_EQ(lines(r),
            (Strings{"2024-06-01 00:00:00+00\t\\N\te2\tfirst\t\\N\n", "2024-06-01 00:00:00+00\t\\N\t\\N\tno id\t\\N\n",
                     "2024-06-01 00:00:00+00\t\\N\te3\t\\N\t\\N\n", "2024-06-01 00:00:00+00\t\\N\t\\N\tnull id\t\\N\n",
                     "2024-06-01 00:00:00+00\t\\N\t\\N\tno id again\t\\N\n"}));
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_TRUE(r.dead.empty());

  // within the batch only
  o.existing_ids = nullptr;
  CopyRows r2 = build(*d, s, o);
  EXPECT_EQ(r2.duplicates, 1u);
  EXPECT_EQ(r2.line_event, (std::vector<uint32_t>{0, 1, 3, 4, 5, 6, 7}));

  // dedup off: everything is stored
  BuildOptions off = options();
  off.existing_ids = &existing;
  CopyRows r3 = build(*d, s, off);
  EXPECT_EQ(r3.duplicates, 0u);
  EXPECT_EQ(r3.line_event, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  ASSERT_EQ(r3.rejected.size(), 1u);
  EXPECT_EQ(r3.rejected[0].event, 2u);
  EXPECT_EQ(r3.rejected[0].event_id, "e2");
}

TEST(BuildCopyRows, NumericAndStringIdsMatch) {
  auto d = decode("{\"_id\":42}\n{\"_id\":\"42\"}\n{\"_id\":1.5}\n{\"_id\":\"1.5\"}");
  BuildOptions o = options();
  o.dedup = true;
  CopyRows r = build(*d, shape(), o);
  EXPECT_EQ(r.duplicates, 2u);
  EXPECT_EQ(r.line_event, (std::vector<uint32_t>{0, 2}));
}

// ---------------------------------------------------------------------------------------------
// collect_event_ids

TEST(CollectEventIds, DistinctStringAndNumberIds) {
  auto d = decode(
      "{\"_id\":\"a\"}\n{\"_id\":7}\n{\"_id\":\"a\"}\n{\"x\":1}\n{\"_id\":1.5}\n[1]\n{\"_id\":{\"k\":1}}\n"
      "{\"_id\":null}\n{\"_id\":\"7\"}\n{\"_id\":\"b\"}");
  EXPECT_EQ(collect_event_ids(d->batch, d->all), (Strings{"a", "7", "1.5", "b"}));
  EXPECT_EQ(collect_event_ids(d->batch, {9, 0}), (Strings{"b", "a"}));
  EXPECT_EQ(collect_event_ids(d->batch, {3, 5}), Strings{});
}

// ---------------------------------------------------------------------------------------------
// TableShape

TEST(TableShape, LookupAndUserColumns) {
  const TableShape s = shape({{"a", "text"}, {"b", "integer"}});
  EXPECT_EQ(s.columns().size(), 7u);
  EXPECT_EQ(s.user_columns(), 2u);
  EXPECT_EQ(s.index_of("_time"), 0);
  EXPECT_EQ(s.index_of("b"), 6);
  EXPECT_EQ(s.index_of("zz"), -1);
  ASSERT_NE(s.find("b"), nullptr);
  EXPECT_EQ(s.find("b")->type.cls, TypeClass::kInt4);
  EXPECT_EQ(s.find("nope"), nullptr);
}

}  // namespace
}  // namespace pulse

namespace pulse {
namespace {

// An underflowing number is a rejected field for double precision and real (as float8in
// refuses it), exact for numeric and text, and never silently 0.
TEST(BuildCopyRows, UnderflowIsRejectedForFloatsAndExactElsewhere) {
  auto d = decode("{\"f\": 1e-400, \"r\": 1e-400, \"n\": 1e-400, \"t\": 1e-400, \"i\": 1e-400, \"j\": 1e-400}");
  CopyRows r = build(*d, shape({{"f", "double precision"},
                                {"r", "real"},
                                {"n", "numeric"},
                                {"t", "text"},
                                {"i", "integer"},
                                {"j", "jsonb"}}));
  EXPECT_EQ(lines(r), Strings{"2024-06-01 00:00:00+00\t\\N\t\\N\t\\N\t\\N\t1e-400\t1e-400\t\\N\t1e-400\n"});
  ASSERT_EQ(r.rejected.size(), 3u);
  EXPECT_EQ(r.rejected[0].field, "f");
  EXPECT_EQ(r.rejected[0].raw_value, "1e-400");
  EXPECT_EQ(r.rejected[0].reason, "out of range for type double precision");
  EXPECT_EQ(r.rejected[1].reason, "out of range for type real");
  EXPECT_EQ(r.rejected[2].field, "i");
  EXPECT_EQ(r.rejected[2].reason, "not an integer");
  // a new field is typed double precision from the number and rejected the same way
  auto e = decode("{\"g\": 1e-400}");
  EXPECT_EQ(plan(*e, shape()), Strings{"g:double precision"});
}

}  // namespace
}  // namespace pulse
