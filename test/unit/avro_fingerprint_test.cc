// Unit tests of avro_schema_canonical_form / avro_schema_fingerprint (src/core/avro_decode.h):
// the Avro specification's Parsing Canonical Form and 64-bit Rabin fingerprint, checked against
// the test vectors of the Avro project (share/test/data/schema-tests.txt of Apache Avro 1.11.1,
// whose fingerprints the Java implementation cross-checks), plus the logical type attributes
// pg_pulse keeps (their fingerprints computed independently with the specification's
// algorithm in Python).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/avro_decode.h"
#include "pg_types.h"

namespace pulse {
namespace {

std::string form(const std::string& schema) {
  std::string err = "unset";
  std::string f = avro_schema_canonical_form(schema, &err);
  EXPECT_EQ(err, "") << schema;
  return f;
}

std::string fingerprint(const std::string& schema) {
  std::string err = "unset";
  std::string f = avro_schema_fingerprint(schema, &err);
  EXPECT_EQ(err, "") << schema;
  EXPECT_EQ(f.size(), 16u) << schema;
  return f;
}

struct Vector {
  const char* input;
  const char* canonical;
  const char* fingerprint;  // "" where the file gives none (the canonical form's then)
};

// Apache Avro 1.11.1, share/test/data/schema-tests.txt (Apache License 2.0); fingerprints as
// unsigned hex.
const std::vector<Vector> kSpecVectors = {
    {R"("null")", R"("null")", "63dd24e7cc258f8a"},
    {R"({"type":"null"})", R"("null")", ""},
    {R"("boolean")", R"("boolean")", "9f42fc78a4d4f764"},
    {R"({"type":"boolean"})", R"("boolean")", ""},
    {R"("int")", R"("int")", "7275d51a3f395c8f"},
    {R"({"type":"int"})", R"("int")", ""},
    {R"("long")", R"("long")", "d054e14493f41db7"},
    {R"({"type":"long"})", R"("long")", ""},
    {R"("float")", R"("float")", "4d7c02cb3ea8d790"},
    {R"({"type":"float"})", R"("float")", ""},
    {R"("double")", R"("double")", "8e7535c032ab957e"},
    {R"({"type":"double"})", R"("double")", ""},
    {R"("bytes")", R"("bytes")", "4fc016dac3201965"},
    {R"({"type":"bytes"})", R"("bytes")", ""},
    {R"("string")", R"("string")", "8f014872634503c7"},
    {R"({"type":"string"})", R"("string")", ""},
    {R"([  ])", R"([])", "eec6e173d23fb9d1"},
    {R"([ "int"  ])", R"(["int"])", "b763638a48b2fb03"},
    {R"([ "int" , {"type":"boolean"} ])", R"(["int","boolean"])", "4ad63578080c1602"},
    {R"({"fields":[], "type":"record", "name":"foo"})", R"({"name":"foo","type":"record","fields":[]})",
     "bd0c50c84319be7e"},
    {R"({"fields":[], "type":"record", "name":"foo", "namespace":"x.y"})",
     R"({"name":"x.y.foo","type":"record","fields":[]})", "521d1a6b830ec4ab"},
    {R"({"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"})",
     R"({"name":"a.b.foo","type":"record","fields":[]})", "bfefe5be5021e2b2"},
    {R"({"fields":[], "type":"record", "name":"foo", "doc":"Useful info"})",
     R"({"name":"foo","type":"record","fields":[]})", "bd0c50c84319be7e"},
    {R"({"fields":[], "type":"record", "name":"foo", "aliases":["foo","bar"]})",
     R"({"name":"foo","type":"record","fields":[]})", "bd0c50c84319be7e"},
    {R"({"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]})",
     R"({"name":"foo","type":"record","fields":[]})", "bd0c50c84319be7e"},
    {R"({"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"})",
     R"({"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]})", "6cd8eaf1c968a33b"},
    {R"({ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":true},
            {"order":"descending","name":"f2","doc":"Hello","type":"int"}],
  "type":"record", "name":"foo"
})",
     R"({"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]})",
     "bc8d05bd57f4934a"},
    {R"({"type":"enum", "name":"foo", "symbols":["A1"]})", R"({"name":"foo","type":"enum","symbols":["A1"]})",
     "a7fc039e15aa3169"},
    {R"({"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]})",
     R"({"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]})", "c2433ae5f4999d8b"},
    {R"({"name":"foo","type":"fixed","size":15})", R"({"name":"foo","type":"fixed","size":15})", "18602ec3ed31a504"},
    {R"({"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32})",
     R"({"name":"x.y.z.foo","type":"fixed","size":32})", "d579d47693a6171e"},
    {R"({ "items":{"type":"null"}, "type":"array"})", R"({"type":"array","items":"null"})", "f7d13f2f68170a6d"},
    {R"({ "values":"string", "type":"map"})", R"({"type":"map","values":"string"})", "86ce965d92864572"},
    {R"(  {"name":"PigValue","type":"record",
   "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]})",
     R"({"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]})",
     "e795dc6656b7e95b"},
};

TEST(AvroFingerprint, SpecificationTestVectors) {
  ASSERT_EQ(kSpecVectors.size(), 34u);
  for (const Vector& v : kSpecVectors) {
    EXPECT_EQ(form(v.input), v.canonical) << v.input;
    std::string expected = *v.fingerprint ? v.fingerprint : fingerprint(v.canonical);
    EXPECT_EQ(fingerprint(v.input), expected) << v.input;
  }
}

TEST(AvroFingerprint, WellKnownValues) {
  EXPECT_EQ(fingerprint(R"("int")"), "7275d51a3f395c8f");  // the specification's example
  EXPECT_EQ(fingerprint(R"("string")"), "8f014872634503c7");
  EXPECT_EQ(fingerprint(R"({"type":"long","logicalType":"timestamp-micros"})"), "d21a23b434bc376b");
  EXPECT_EQ(fingerprint(R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":2})"), "c17031a5659c2005");
}

constexpr const char* kBase = R"({"type":"record","name":"Click","namespace":"shop.web","fields":[
  {"name":"url","type":"string"},
  {"name":"n","type":["null","long"]},
  {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
  {"name":"again","type":"Kind"},
  {"name":"h","type":{"type":"fixed","name":"Hash","size":4}},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"props","type":{"type":"map","values":"long"}}]})";

TEST(AvroFingerprint, SpellingsOfOneSchemaAgree) {
  EXPECT_EQ(form(kBase), R"({"name":"shop.web.Click","type":"record","fields":[{"name":"url","type":"string"},)"
                         R"({"name":"n","type":["null","long"]},)"
                         R"({"name":"kind","type":{"name":"shop.web.Kind","type":"enum","symbols":["A","B"]}},)"
                         R"({"name":"again","type":"shop.web.Kind"},)"
                         R"({"name":"h","type":{"name":"shop.web.Hash","type":"fixed","size":4}},)"
                         R"({"name":"tags","type":{"type":"array","items":"string"}},)"
                         R"({"name":"props","type":{"type":"map","values":"long"}}]})");
  std::string fp = fingerprint(kBase);
  const char* spellings[] = {
      // whitespace, attribute order, doc, aliases, default, order, full names for namespace
      R"(  {
        "fields" : [
          { "type" : "string", "name" : "url", "doc" : "the page" },
          { "default" : null, "type" : [ "null", { "type" : "long" } ], "name" : "n", "order" : "descending" },
          { "name" : "kind", "aliases" : ["sort"],
            "type" : { "symbols" : ["A", "B"], "name" : "shop.web.Kind", "type" : "enum", "default" : "A" } },
          { "name" : "again", "type" : "shop.web.Kind" },
          { "name" : "h", "type" : { "size" : 4, "type" : "fixed", "name" : "Hash", "aliases" : ["H"] } },
          { "name" : "tags", "type" : { "items" : { "type" : "string" }, "type" : "array" }, "default" : [] },
          { "name" : "props", "type" : { "values" : "long", "type" : "map" } }
        ],
        "doc" : "a click", "aliases" : ["Tap"], "type" : "record", "name" : "shop.web.Click"
      }  )",
      // \u escapes in strings, a quoted size
      R"({"type":"record","name":"Cl\u0069ck","namespace":"shop.web","fields":[
        {"name":"url","type":"string"},{"name":"n","type":["null","long"]},
        {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["\u0041","B"]}},
        {"name":"again","type":"Kind"},{"name":"h","type":{"type":"fixed","name":"Hash","size":"004"}},
        {"name":"tags","type":{"type":"array","items":"string"}},
        {"name":"props","type":{"type":"map","values":"long"}}]})",
  };
  for (const char* s : spellings) EXPECT_EQ(fingerprint(s), fp) << s;
}

TEST(AvroFingerprint, DifferentSchemasDiffer) {
  std::string fp = fingerprint(kBase);
  auto changed = [](std::string from, const std::string& to) {
    std::string s = kBase;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::string variants[] = {
      changed(R"(["null","long"])", R"(["null","int"])"),  // a field's type
      changed(R"("name":"url")", R"("name":"uri")"),       // a field's name
      changed(R"("symbols":["A","B"])", R"("symbols":["B","A"])"),
      changed(R"("size":4)", R"("size":5)"),
      changed(R"("namespace":"shop.web")", R"("namespace":"shop")"),
      changed(R"({"name":"url","type":"string"},)", ""),  // a field less
  };
  std::vector<std::string> seen = {fp};
  for (const std::string& v : variants) {
    std::string f = fingerprint(v);
    for (const std::string& other : seen) EXPECT_NE(f, other) << v;
    seen.push_back(f);
  }
}

TEST(AvroFingerprint, LogicalTypesAreKept) {
  // the deviation from the specification: schemas pg_pulse decodes differently differ
  EXPECT_EQ(form(R"({"type":"long","logicalType":"timestamp-micros","doc":"when"})"),
            R"({"type":"long","logicalType":"timestamp-micros"})");
  EXPECT_EQ(form(R"({"scale":2,"precision":10,"logicalType":"decimal","type":"bytes"})"),
            R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":2})");
  EXPECT_EQ(form(R"({"type":"fixed","size":8,"name":"Money","namespace":"x","logicalType":"decimal",
                     "precision":18,"scale":3,"aliases":["M"]})"),
            R"({"name":"x.Money","type":"fixed","size":8,"logicalType":"decimal","precision":18,"scale":3})");
  EXPECT_EQ(
      form(R"({"type":"record","name":"R","fields":[{"name":"j","type":["null",
                     {"type":"string","logicalType":"json"}]}]})"),
      R"({"name":"R","type":"record","fields":[{"name":"j","type":["null",{"type":"string","logicalType":"json"}]}]})");
  const char* distinct[] = {
      R"("long")",
      R"({"type":"long","logicalType":"timestamp-micros"})",
      R"({"type":"long","logicalType":"timestamp-millis"})",
      R"({"type":"long","logicalType":"local-timestamp-micros"})",
      R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":2})",
      R"({"type":"bytes","logicalType":"decimal","precision":12,"scale":2})",
      R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":3})",
      R"({"type":"bytes","logicalType":"decimal","precision":10,"scale":"3"})",
      R"("bytes")",
  };
  std::vector<std::string> seen;
  for (const char* s : distinct) {
    std::string f = fingerprint(s);
    for (const std::string& other : seen) EXPECT_NE(f, other) << s;
    seen.push_back(f);
  }
  // a producer schema, with and without whitespace
  std::string cols = avro_schema_for_columns(
      "clicks", {{"price", pg_type("numeric(10,2)")}, {"at", pg_type("timestamp with time zone")}});
  std::string spaced;
  for (char c : cols) {
    spaced.push_back(c);
    if (c == ',' || c == ':') spaced.push_back(' ');
  }
  EXPECT_EQ(fingerprint(cols), fingerprint(spaced));
  EXPECT_NE(form(cols).find(R"("logicalType":"decimal","precision":10,"scale":2)"), std::string::npos) << form(cols);
}

TEST(AvroFingerprint, NamedTypesAreFullNamesAfterTheirDefinition) {
  EXPECT_EQ(form(R"({"type":"record","name":"R","namespace":"a.b","fields":[
                     {"name":"x","type":{"type":"fixed","name":"F","size":4}},
                     {"name":"y","type":"F"},{"name":"z","type":"a.b.F"},{"name":"w","type":{"type":"F"}}]})"),
            R"({"name":"a.b.R","type":"record","fields":[{"name":"x","type":{"name":"a.b.F","type":"fixed","size":4}},)"
            R"({"name":"y","type":"a.b.F"},{"name":"z","type":"a.b.F"},{"name":"w","type":"a.b.F"}]})");
  // a type of the null namespace, used inside a namespaced record
  EXPECT_EQ(
      form(R"({"type":"record","name":"Outer","fields":[
                     {"name":"g","type":{"type":"enum","name":"G","symbols":["A"]}},
                     {"name":"in","type":{"type":"record","name":"In","namespace":"n","fields":[
                       {"name":"gg","type":"G"},
                       {"name":"h","type":{"type":"fixed","name":"H","size":1}},{"name":"hh","type":"H"}]}}]})"),
      R"({"name":"Outer","type":"record","fields":[{"name":"g","type":{"name":"G","type":"enum","symbols":["A"]}},)"
      R"({"name":"in","type":{"name":"n.In","type":"record","fields":[{"name":"gg","type":"G"},)"
      R"({"name":"h","type":{"name":"n.H","type":"fixed","size":1}},{"name":"hh","type":"n.H"}]}}]})");
  // a dotted name sets the namespace of what it encloses
  EXPECT_EQ(form(R"({"type":"record","name":"p.q.R","namespace":"ignored","fields":[
                     {"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}}]})"),
            R"({"name":"p.q.R","type":"record","fields":[)"
            R"({"name":"e","type":{"name":"p.q.E","type":"enum","symbols":["X"]}}]})");
}

TEST(AvroFingerprint, LargeSchemaWithLongDocs) {
  std::string with_docs = R"({"type":"record","name":"Big","doc":")" + std::string(5000, 'd') + R"(","fields":[)";
  std::string without = R"({"type":"record","name":"Big","fields":[)";
  for (int k = 0; k < 400; k++) {
    std::string name = "field_number_" + std::to_string(k);
    with_docs += std::string(k ? "," : "") + R"({"name":")" + name + R"(","doc":")" +
                 std::string(200, char('a' + k % 26)) + R"(","type":["null","string"],"default":null})";
    without += std::string(k ? "," : "") + R"({"name":")" + name + R"(","type":["null","string"]})";
  }
  with_docs += "]}";
  without += "]}";
  ASSERT_GT(with_docs.size(), 50000u);
  std::string fp = fingerprint(with_docs);
  EXPECT_EQ(fp, fingerprint(without));
  EXPECT_EQ(form(with_docs), form(without));
}

TEST(AvroFingerprint, TextThatIsNotASchemaIsAnError) {
  std::string err;
  EXPECT_EQ(avro_schema_fingerprint("{not json", &err), "");
  EXPECT_EQ(err.rfind("invalid Avro schema: the JSON text does not parse", 0), 0u) << err;
  EXPECT_EQ(avro_schema_fingerprint("", &err), "");
  EXPECT_NE(err, "");
  EXPECT_EQ(avro_schema_fingerprint("42", &err), "");
  EXPECT_EQ(err, "not an Avro schema: a JSON number where a schema is expected");
  EXPECT_EQ(avro_schema_fingerprint(R"({"name":"x"})", &err), "");
  EXPECT_EQ(err, R"(not an Avro schema: an object without "type")");
  EXPECT_EQ(avro_schema_fingerprint(R"({"type":"record","name":"R"})", &err), "");
  EXPECT_EQ(err, R"(not an Avro schema: a record without a "fields" array)");
  EXPECT_EQ(avro_schema_fingerprint(R"(["int",true])", &err), "");
  EXPECT_EQ(err, "not an Avro schema: a JSON boolean where a schema is expected");
  // a success clears the error
  EXPECT_EQ(avro_schema_fingerprint(R"("int")", &err), "7275d51a3f395c8f");
  EXPECT_EQ(err, "");
}

}  // namespace
}  // namespace pulse
