// Unit tests of src/core/person_ops.cc: person property operations checked against the persons
// table's columns, values rendered as their type's text input, misfits rejected.
#include "core/person_ops.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/json_decode.h"
#include "pg_types.h"

namespace pulse {
namespace {

TableShape persons(const std::vector<std::pair<std::string, std::string>>& cols) {
  TableShape s;
  s.add("_person", pg_type("text"));
  s.add("_created", pg_type("timestamp with time zone"));
  s.add("_updated", pg_type("timestamp with time zone"));
  for (const auto& c : cols) s.add(c.first, pg_type(c.second));
  return s;
}

// One event per operation, decoded from the given JSON objects.
PersonPlan run(const std::vector<std::pair<PersonOp, std::string>>& ops, const TableShape& s) {
  EventBatch batch;
  JsonDecoder dec;
  std::vector<PersonOp> kinds;
  for (auto& [op, json] : ops) {
    dec.decode_event(json, JsonDecodeOptions(), &batch);
    kinds.push_back(op);
  }
  PersonPlan plan;
  plan_person_update(batch, kinds, s, 500, &plan);
  return plan;
}

std::vector<std::string> summary(const PersonPlan& p) {
  std::vector<std::string> out;
  for (auto& a : p.assignments)
    out.push_back(std::string(person_op_name(a.op)) + " " + a.column + "=" + (a.is_null ? "NULL" : a.value) +
                  "::" + a.pg_type);
  for (auto& r : p.rejected) out.push_back("rejected " + r.field + ": " + r.reason);
  return out;
}

TEST(PersonOps, ParsesOperationKeys) {
  PersonOp op;
  EXPECT_TRUE(parse_person_op("$set_once", &op));
  EXPECT_EQ(op, PersonOp::kSetOnce);
  EXPECT_TRUE(parse_person_op("$remove", &op));
  EXPECT_EQ(op, PersonOp::kRemove);
  EXPECT_FALSE(parse_person_op("$unset", &op));  // a list of names, handled by the pg layer
  EXPECT_FALSE(parse_person_op("set", &op));
}

TEST(PersonOps, RendersValuesForTheirColumns) {
  auto s = persons({{"plan", "text"}, {"visits", "double precision"}, {"tags", "text[]"}, {"first_seen", "date"}});
  auto p = run({{PersonOp::kSet, R"({"Plan": "pro\tplus", "visits": null})"},
                {PersonOp::kIncrement, R"({"visits2": 1})"},
                {PersonOp::kAppend, R"({"tags": ["a", "b,c"]})"},
                {PersonOp::kSetOnce, R"({"firstSeen": "2024-01-02"})"}},
               s);
  EXPECT_EQ(summary(p), (std::vector<std::string>{
                            "$set plan=pro\tplus::text",
                            "$set visits=NULL::double precision",
                            "$append tags={\"a\",\"b,c\"}::text[]",
                            "$set_once first_seen=2024-01-02::date",
                            "rejected visits2: $increment: persons table has no column for this property: limit "
                            "pulse.max_fields_per_collection (500) reached",
                        }));
}

TEST(PersonOps, RejectsWhatAnOperationCannotDo) {
  auto s = persons({{"plan", "text"}, {"n", "bigint"}, {"tags", "text[]"}});
  auto p = run({{PersonOp::kIncrement, R"({"plan": 1, "n": "x", "tags": 2})"},
                {PersonOp::kAppend, R"({"plan": ["a"]})"},
                {PersonOp::kSet, R"({"_person": "other", "_time": 1, "n": "abc"})"}},
               s);
  EXPECT_TRUE(p.assignments.empty());
  EXPECT_EQ(summary(p), (std::vector<std::string>{
                            "rejected plan: $increment: only numeric properties can be incremented",
                            "rejected n: $increment: the increment must be a number",
                            "rejected tags: $increment: only numeric properties can be incremented",
                            "rejected plan: $append: only array properties take $append and $remove",
                            "rejected _person: $set: person property names starting with \"_\" are reserved",
                            "rejected _time: $set: person property names starting with \"_\" are reserved",
                            "rejected n: $set: not an integer",
                        }));
}

TEST(PersonOps, AColumnTakesOneOperationPerCall) {
  auto s = persons({{"n", "double precision"}});
  auto p = run({{PersonOp::kSet, R"({"n": 5})"}, {PersonOp::kIncrement, R"({"n": 1})"}}, s);
  ASSERT_EQ(p.assignments.size(), 1u);
  EXPECT_EQ(p.assignments[0].value, "5");
  ASSERT_EQ(p.rejected.size(), 1u);
  EXPECT_EQ(p.rejected[0].reason, "$increment: the property is named by an earlier operation or field of this call");
}

TEST(PersonOps, NewColumnsAreTypedByTheirOperation) {
  EventBatch batch;
  JsonDecoder dec;
  dec.decode_event(R"({"n": 3, "tags": ["x"], "_bad": 1, "gone": null})", JsonDecodeOptions(), &batch);
  dec.decode_event(R"({"m": "not a number", "k": 2, "n": "again"})", JsonDecodeOptions(), &batch);
  std::vector<std::string> got;
  for (auto& c : plan_person_columns(batch, {PersonOp::kSet, PersonOp::kIncrement}, persons({}), 500))
    got.push_back(c.name + ":" + c.type.pg_name);
  // an increment of a string makes no column; a name typed once is not planned again
  EXPECT_EQ(got, (std::vector<std::string>{"n:double precision", "tags:text[]", "k:double precision"}));
  // the limit counts user columns only
  EXPECT_EQ(plan_person_columns(batch, {PersonOp::kSet, PersonOp::kIncrement}, persons({{"a", "text"}}), 2).size(), 1u);
}

}  // namespace
}  // namespace pulse
