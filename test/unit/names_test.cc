// Unit tests of src/core/names.cc: API name validation and field-name normalisation.
#include "core/names.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pulse {
namespace {

// True when s could be used unquoted as a column name by pg_pulse: 1..63 bytes of
// [a-z0-9_] not starting with a digit.
bool is_clean_identifier(const std::string& s) {
  if (s.empty() || s.size() > kMaxIdentifierBytes) return false;
  if (s[0] >= '0' && s[0] <= '9') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

TEST(NormalizeFieldName, CamelCaseToSnakeCase) {
  EXPECT_EQ(normalize_field_name("userId"), "user_id");
  EXPECT_EQ(normalize_field_name("userID"), "user_id");
  EXPECT_EQ(normalize_field_name("pageURL"), "page_url");
  EXPECT_EQ(normalize_field_name("HTTPServer"), "http_server");
  EXPECT_EQ(normalize_field_name("XMLHttpRequest"), "xml_http_request");
  EXPECT_EQ(normalize_field_name("Title"), "title");
  EXPECT_EQ(normalize_field_name("ABC"), "abc");
  EXPECT_EQ(normalize_field_name("a1B"), "a1_b");
  EXPECT_EQ(normalize_field_name("already_snake"), "already_snake");
  EXPECT_EQ(normalize_field_name("Snake_Case"), "snake_case");  // '_' before 'C': no extra '_'
  EXPECT_EQ(normalize_field_name("getHTTPResponseCode"), "get_http_response_code");
  EXPECT_EQ(normalize_field_name("iOS"), "i_os");
  EXPECT_EQ(normalize_field_name("x"), "x");
  // system column names cannot be user columns
  EXPECT_EQ(normalize_field_name("xmin"), "xmin_");
  EXPECT_EQ(normalize_field_name("XMax"), "x_max");
  EXPECT_EQ(normalize_field_name("XMAX"), "xmax_");
  EXPECT_EQ(normalize_field_name("tableoid"), "tableoid_");
  EXPECT_EQ(normalize_field_name("ctid"), "ctid_");
  EXPECT_EQ(normalize_field_name("cmin"), "cmin_");
  EXPECT_EQ(normalize_field_name("cmax"), "cmax_");
  EXPECT_EQ(normalize_field_name("xmin_"), "xmin_");
  EXPECT_EQ(normalize_field_name("oid"), "oid");
  EXPECT_EQ(normalize_collection_name("xmin"), "xmin");
  EXPECT_EQ(normalize_field_name("X"), "x");
}

TEST(NormalizeFieldName, PunctuationBecomesUnderscoreWithoutCollapsing) {
  EXPECT_EQ(normalize_field_name("first name"), "first_name");
  EXPECT_EQ(normalize_field_name("a.b-c'd\"e"), "a_b_c_d_e");
  EXPECT_EQ(normalize_field_name("a__b"), "a__b");
  EXPECT_EQ(normalize_field_name("a--b"), "a__b");
  EXPECT_EQ(normalize_field_name("a. b"), "a__b");
  EXPECT_EQ(normalize_field_name("trailing "), "trailing_");
  EXPECT_EQ(normalize_field_name(" "), "_");
  EXPECT_EQ(normalize_field_name("$ref"), "_ref");
  EXPECT_EQ(normalize_field_name("@timestamp"), "_timestamp");
  EXPECT_EQ(normalize_field_name(std::string("a\0b", 3)), "a_b");
  EXPECT_EQ(normalize_field_name("tab\there\nnl"), "tab_here_nl");
}

TEST(NormalizeFieldName, SqlInjectionAttemptIsHarmless) {
  // x " ; ' ' d r o p ' ' t a b l e ' ' y ; ' ' - -
  EXPECT_EQ(normalize_field_name("x\"; DROP TABLE y; --"), "x___drop_table_y____");
  EXPECT_EQ(normalize_field_name("Robert'); DROP TABLE students;--"), "robert____drop_table_students___");
}

TEST(NormalizeFieldName, OneUnderscorePerUtf8CodePoint) {
  EXPECT_EQ(normalize_field_name("caf\xC3\xA9"), "caf_");             // é, 2 bytes
  EXPECT_EQ(normalize_field_name("\xE6\x97\xA5\xE6\x9C\xAC"), "__");  // 日本, 3 bytes each
  EXPECT_EQ(normalize_field_name("\xF0\x9F\x98\x80x"), "_x");         // 😀, 4 bytes
  EXPECT_EQ(normalize_field_name("\xC3\xA9t\xC3\xA9"), "_t_");        // été
  EXPECT_EQ(normalize_field_name("na\xC3\xAFveUser"), "na_ve_user");  // naïveUser
  EXPECT_EQ(normalize_field_name("\xC3\x89"
                                 "A"),
            "_a");  // no '_' inserted after a non-ASCII letter
}

TEST(NormalizeFieldName, InvalidUtf8GivesOneUnderscorePerByte) {
  EXPECT_EQ(normalize_field_name("\xFF\xFE"), "__");
  EXPECT_EQ(normalize_field_name("\x80"
                                 "a"),
            "_a");                                              // stray continuation byte
  EXPECT_EQ(normalize_field_name("a\xC3"), "a_");               // truncated sequence
  EXPECT_EQ(normalize_field_name("\xE6\x97"), "__");            // truncated 3-byte sequence
  EXPECT_EQ(normalize_field_name("\xC3("), "__");               // lead byte, no continuation
  EXPECT_EQ(normalize_field_name("\xC0\xAF"), "__");            // overlong '/'
  EXPECT_EQ(normalize_field_name("\xED\xA0\x80"), "___");       // UTF-16 surrogate
  EXPECT_EQ(normalize_field_name("\xF4\x90\x80\x80"), "____");  // above U+10FFFF
  EXPECT_EQ(normalize_field_name("\xF4\x8F\xBF\xBF"), "_");     // U+10FFFF itself is valid
}

TEST(NormalizeFieldName, LeadingDigitGetsPrefix) {
  EXPECT_EQ(normalize_field_name("1st"), "_1st");
  EXPECT_EQ(normalize_field_name("9"), "_9");
  EXPECT_EQ(normalize_field_name("2024Sales"), "_2024_sales");
  EXPECT_EQ(normalize_field_name("_1st"), "_1st");
  EXPECT_EQ(normalize_field_name("a1"), "a1");
}

TEST(NormalizeFieldName, EmptyStaysEmpty) { EXPECT_EQ(normalize_field_name(""), ""); }

TEST(NormalizeFieldName, SixtyThreeBytesIsKeptWhole) {
  const std::string name(63, 'a');
  EXPECT_EQ(normalize_field_name(name), name);
  EXPECT_EQ(normalize_field_name("_" + std::string(62, '1')), "_" + std::string(62, '1'));
  EXPECT_EQ(normalize_field_name(std::string(62, '1')), "_" + std::string(62, '1'));
}

TEST(NormalizeFieldName, LongNamesAreTruncatedWithFnv1aSuffix) {
  // Expected suffixes: low 32 bits of FNV-1a 64 of the full normalised name, computed
  // independently (Python).
  EXPECT_EQ(normalize_field_name(std::string(64, 'a')), std::string(54, 'a') + "_f35ebbe5");
  EXPECT_EQ(normalize_field_name(std::string(70, 'a')), std::string(54, 'a') + "_8863accb");
  // The hash covers the name after the leading-digit prefix: "_" + 70 x '1'.
  EXPECT_EQ(normalize_field_name(std::string(70, '1')), "_" + std::string(53, '1') + "_bfb33b90");
  // Upper-case input hashes the normalised (lower-case) form.
  EXPECT_EQ(normalize_field_name(std::string(70, 'A')), std::string(54, 'a') + "_8863accb");
  // The camelCase '_' can push a 63-byte input over the limit.
  const std::string grown = normalize_field_name(std::string(62, 'a') + "B");
  EXPECT_EQ(grown.size(), 63u);
  EXPECT_EQ(grown.substr(0, 55), std::string(54, 'a') + "_");
  EXPECT_NE(grown, std::string(62, 'a') + "b");
}

TEST(NormalizeFieldName, LongNamesSharingAPrefixStayDistinct) {
  const std::string prefix(60, 'b');
  const std::string x = normalize_field_name(prefix + std::string(10, 'x'));
  const std::string y = normalize_field_name(prefix + std::string(10, 'y'));
  EXPECT_EQ(x.size(), 63u);
  EXPECT_EQ(y.size(), 63u);
  EXPECT_NE(x, y);
  EXPECT_EQ(x, std::string(54, 'b') + "_bdfd70ed");
  EXPECT_EQ(y, std::string(54, 'b') + "_83e5218f");
  // Many long names with a common 60-byte prefix: no collisions among them.
  std::vector<std::string> seen;
  for (int i = 0; i < 500; ++i) {
    const std::string n = normalize_field_name(prefix + "_field_" + std::to_string(i));
    ASSERT_EQ(n.size(), 63u);
    for (const std::string& s : seen) ASSERT_NE(s, n) << i;
    seen.push_back(n);
  }
}

TEST(NormalizeFieldName, DeterministicCleanAndIdempotent) {
  const std::vector<std::string> inputs = {"userId",
                                           "HTTPServer",
                                           "x\"; DROP TABLE y; --",
                                           "caf\xC3\xA9",
                                           "\xFF",
                                           "1st",
                                           std::string(200, 'Z'),
                                           std::string(100, '-'),
                                           "a" + std::string(80, ' ') + "b",
                                           std::string(40, '\xC3') + std::string(40, 'Q'),
                                           "_time",
                                           "Already_Snake_Case_42"};
  for (const std::string& in : inputs) {
    const std::string once = normalize_field_name(in);
    EXPECT_EQ(once, normalize_field_name(in)) << in;
    EXPECT_TRUE(is_clean_identifier(once)) << in << " -> " << once;
    EXPECT_EQ(normalize_field_name(once), once) << in;
  }
}

TEST(NormalizeCollectionName, SameRulesAsFields) {
  EXPECT_EQ(normalize_collection_name("PageViews"), "page_views");
  EXPECT_EQ(normalize_collection_name("orders.v2"), "orders_v2");
  EXPECT_EQ(normalize_collection_name("3d-prints"), "_3d_prints");
}

TEST(ClassifyFieldName, SpecialAndReservedNames) {
  EXPECT_EQ(classify_field_name("_time"), FieldNameClass::kTime);
  EXPECT_EQ(classify_field_name("_user"), FieldNameClass::kUser_);
  EXPECT_EQ(classify_field_name("_id"), FieldNameClass::kId);
  EXPECT_EQ(classify_field_name(""), FieldNameClass::kEmpty);
  EXPECT_EQ(classify_field_name("_1st"), FieldNameClass::kUser);
  EXPECT_EQ(classify_field_name("_9"), FieldNameClass::kUser);
  EXPECT_EQ(classify_field_name("_shard_time"), FieldNameClass::kReserved);
  EXPECT_EQ(classify_field_name("_"), FieldNameClass::kReserved);
  EXPECT_EQ(classify_field_name("__"), FieldNameClass::kReserved);
  EXPECT_EQ(classify_field_name("_times"), FieldNameClass::kReserved);
  EXPECT_EQ(classify_field_name("_ids"), FieldNameClass::kReserved);
  EXPECT_EQ(classify_field_name("time"), FieldNameClass::kUser);
  EXPECT_EQ(classify_field_name("user_id"), FieldNameClass::kUser);
  EXPECT_EQ(classify_field_name("id_"), FieldNameClass::kUser);
  // the enrichers' columns may be set by events; names one byte longer or shorter may not
  EXPECT_EQ(classify_field_name("_country_code"), FieldNameClass::kUser);
  EXPECT_EQ(classify_field_name("_os"), FieldNameClass::kUser);
  EXPECT_EQ(classify_field_name("_utm_content"), FieldNameClass::kUser);
  EXPECT_EQ(classify_field_name("_country_cod"), FieldNameClass::kReserved);
  EXPECT_EQ(classify_field_name("_country_codes"), FieldNameClass::kReserved);
  EXPECT_EQ(classify_field_name("_o"), FieldNameClass::kReserved);
  EXPECT_EQ(classify_field_name("_oss"), FieldNameClass::kReserved);
}

TEST(ClassifyFieldName, AfterNormalisation) {
  EXPECT_EQ(classify_field_name(normalize_field_name("1st")), FieldNameClass::kUser);
  EXPECT_EQ(classify_field_name(normalize_field_name("$ref")), FieldNameClass::kReserved);
  EXPECT_EQ(classify_field_name(normalize_field_name("_Time")), FieldNameClass::kTime);
  EXPECT_EQ(classify_field_name(normalize_field_name("_ID")), FieldNameClass::kId);
  EXPECT_EQ(classify_field_name(normalize_field_name("")), FieldNameClass::kEmpty);
}

TEST(ProjectNameProblem, AcceptsValidNames) {
  EXPECT_EQ(project_name_problem("shop"), "");
  EXPECT_EQ(project_name_problem("a"), "");
  EXPECT_EQ(project_name_problem("shop_2024"), "");
  EXPECT_EQ(project_name_problem("_internal"), "");
  EXPECT_EQ(project_name_problem(std::string(56, 'p')), "");
  EXPECT_EQ(project_name_problem("publicity"), "");
  EXPECT_EQ(project_name_problem("pulse2"), "");
  EXPECT_EQ(project_name_problem("pg"), "");
  EXPECT_EQ(project_name_problem("pgx"), "");
  EXPECT_EQ(project_name_problem("_pulse"), "");
  EXPECT_EQ(project_name_problem("pulse_x"), "");
}

TEST(ProjectNameProblem, RefusesInvalidNames) {
  EXPECT_EQ(project_name_problem(""), "must be 1 to 56 characters");
  EXPECT_EQ(project_name_problem(std::string(57, 'p')), "must be 1 to 56 characters");
  const std::string chars = "may contain only lower-case letters, digits and underscores";
  EXPECT_EQ(project_name_problem("Shop"), chars);
  EXPECT_EQ(project_name_problem("my shop"), chars);
  EXPECT_EQ(project_name_problem("my-shop"), chars);
  EXPECT_EQ(project_name_problem("shop\""), chars);
  EXPECT_EQ(project_name_problem("caf\xC3\xA9"), chars);
  EXPECT_EQ(project_name_problem(std::string("a\0b", 3)), chars);
  EXPECT_EQ(project_name_problem("1shop"), "must not start with a digit");
  EXPECT_EQ(project_name_problem("pg_"), "names starting with pg_ are reserved");
  EXPECT_EQ(project_name_problem("pg_catalog"), "names starting with pg_ are reserved");
  EXPECT_EQ(project_name_problem("public"), "\"public\" is reserved");
  EXPECT_EQ(project_name_problem("information_schema"), "\"information_schema\" is reserved");
  EXPECT_EQ(project_name_problem("pulse"), "\"pulse\" is reserved");
  // the internal schemas of other projects
  EXPECT_EQ(project_name_problem("_pulse_"), "names starting with _pulse_ are reserved");
  EXPECT_EQ(project_name_problem("_pulse_shop"), "names starting with _pulse_ are reserved");
}

TEST(InternalSchemaName, FitsEveryProjectName) {
  EXPECT_EQ(internal_schema_name("shop"), "_pulse_shop");
  std::string longest(56, 'p');
  ASSERT_EQ(project_name_problem(longest), "");
  EXPECT_EQ(internal_schema_name(longest).size(), kMaxIdentifierBytes);
  // never the schema of a valid project
  EXPECT_NE(project_name_problem(internal_schema_name("shop")), "");
}

TEST(CollectionNameProblem, AcceptsValidNames) {
  EXPECT_EQ(collection_name_problem("events"), "");
  EXPECT_EQ(collection_name_problem("page_views_v2"), "");
  EXPECT_EQ(collection_name_problem(std::string(63, 'c')), "");
  // Schema-level reserved names are fine as table names.
  EXPECT_EQ(collection_name_problem("public"), "");
  EXPECT_EQ(collection_name_problem("pulse"), "");
}

TEST(CollectionNameProblem, RefusesInvalidNames) {
  EXPECT_EQ(collection_name_problem(""), "must be 1 to 63 characters");
  EXPECT_EQ(collection_name_problem(std::string(64, 'c')), "must be 1 to 63 characters");
  EXPECT_EQ(collection_name_problem("Events"), "may contain only lower-case letters, digits and underscores");
  EXPECT_EQ(collection_name_problem("ev.ents"), "may contain only lower-case letters, digits and underscores");
  EXPECT_EQ(collection_name_problem("7days"), "must not start with a digit");
  EXPECT_EQ(collection_name_problem("pg_stat"), "names starting with pg_ are reserved");
  EXPECT_EQ(collection_name_problem("_pulse_state_x"), "names starting with _ are reserved");
  EXPECT_EQ(collection_name_problem("_"), "names starting with _ are reserved");
}

TEST(AsciiLower, ByteWise) {
  EXPECT_EQ(ascii_lower("ABC xyz 09_"), "abc xyz 09_");
  EXPECT_EQ(ascii_lower("MiXeD"), "mixed");
  EXPECT_EQ(ascii_lower(""), "");
  EXPECT_EQ(ascii_lower("@[`{"), "@[`{");                            // neighbours of A-Z and a-z are untouched
  EXPECT_EQ(ascii_lower("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89");  // ÉTÉ: UTF-8 untouched
  EXPECT_EQ(ascii_lower(std::string("A\0B", 3)), std::string("a\0b", 3));
}

}  // namespace
}  // namespace pulse
