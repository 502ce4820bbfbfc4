// Avro decoding with Avro C (see avro_decode.h): schema compilation within bounds, raw and
// Confluent-framed messages, values into EventBatch fields.
#include "core/avro_decode.h"

#include <avro.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <optional>
#include <unordered_map>

#include "core/avro_interrupt.h"
#include "core/names.h"
#include "core/render.h"
#include "core/time_parse.h"
#include "core/types.h"

namespace pulse {

namespace {

namespace dom = simdjson::dom;

// What a schema node decodes as. Logical types are resolved once, when the schema is added.
enum class Op : uint8_t {
  kNull,
  kBool,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kString,      // also uuid (on string): only the hint differs
  kJsonString,  // string with logicalType "json": JSON text stored as JSON
  kEnum,
  kBytes,
  kFixed,
  kTimestampMillis,
  kTimestampMicros,
  kLocalTimestampMillis,
  kLocalTimestampMicros,
  kDate,
  kDecimalBytes,
  kDecimalFixed,
  kUuidFixed,
  kArray,
  kMap,
  kRecord,
  kUnion,
};

enum class UnionMode : uint8_t {
  kNullable,  // ["null", T] in either order: null or T, typed as T
  kSingle,    // [T]: T
  kOther,     // anything else: the branch's value as JSON (jsonb)
};

// One node of a compiled writer schema (a tree: recursive schemas are refused).
struct Node {
  Op op = Op::kNull;
  int32_t scale = 0;                        // decimals
  int64_t fixed_size = 0;                   // fixed, decimal on fixed, uuid on fixed
  std::vector<std::string> symbols;         // enum
  std::vector<std::string> keys;            // record: each field's JSON key, "\"name\":"
  std::vector<std::unique_ptr<Node>> kids;  // record fields, union branches, array items, map values
  UnionMode mode = UnionMode::kOther;
  int value_branch = -1;           // kNullable / kSingle: the branch that is not null
  bool scalar_array = false;       // array whose elements become Value children
  bool is_scalar = false;          // one scalar Value (or null): may be an array element
  size_t min_size = 0;             // fewest bytes an encoding of this node takes
  size_t inline_bytes = 0;         // bytes Avro C keeps inline for one value of this node
  size_t item_bytes = 0;           // array / map: bytes Avro C takes per item (map: with its key entry)
  std::optional<ColumnType> hint;  // the type of a column for this node; none for null
};

// Sizes of Avro C 1.11 generic values on a 64-bit platform (generic.c: instance_size), for
// bounding the memory a schema or message makes Avro C take. Records hold their fields inline,
// unions an int and their largest branch, fixed their bytes.
constexpr size_t kAvroCScalarBytes = 8;     // int, long, float, double, boolean, enum, null
constexpr size_t kAvroCStringBytes = 48;    // avro_raw_string_t (string, bytes)
constexpr size_t kAvroCArrayBytes = 32;     // avro_raw_array_t
constexpr size_t kAvroCMapBytes = 40;       // avro_raw_map_t
constexpr size_t kAvroCUnionBytes = 8;      // discriminant (padded)
constexpr size_t kAvroCMapEntryBytes = 64;  // per map entry: key pointer, copied key, hash entry

std::string_view string_member(const dom::element* obj, const char* key) {
  if (obj == nullptr || !obj->is_object()) return {};
  std::string_view s;
  if ((*obj)[key].get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}

bool int_member(const dom::element* obj, const char* key, int64_t* out) {
  if (obj == nullptr || !obj->is_object()) return false;
  return (*obj)[key].get_int64().get(*out) == simdjson::SUCCESS;
}

std::string depth_error() {
  return "Avro schema nested deeper than " + std::to_string(kAvroMaxSchemaDepth) + " levels";
}

// Checks a schema's JSON against the limits of avro_decode.h before Avro C parses it: node count
// and depth of the text as written, fixed sizes, decimal precisions. Recursion is bounded by
// kAvroMaxSchemaDepth; what is not shaped like a schema is left for Avro C to refuse.
class SchemaChecker {
 public:
  std::string error;

  // Checks the schema at e, nested depth levels deep (the top is 1); false with error set.
  bool check(const dom::element& e, int depth) {
    ticker_.tick();
    if (++nodes_ > kAvroMaxSchemaNodes)
      return fail("Avro schema too large (over " + std::to_string(kAvroMaxSchemaNodes) + " nodes)");
    if (depth > kAvroMaxSchemaDepth) return fail(depth_error());
    if (e.is_array()) {
      for (dom::element b : dom::array(e))
        if (!check(b, depth + 1)) return false;
      return true;
    }
    if (!e.is_object()) return true;  // a type name, or not a schema at all
    dom::element type, kid;
    if (e["type"].get(type) != simdjson::SUCCESS) return true;
    if (type.is_object() || type.is_array()) return check(type, depth + 1);
    std::string_view t = string_member(&e, "type");
    if (t == "record" || t == "error") {
      dom::array fields;
      if (e["fields"].get_array().get(fields) != simdjson::SUCCESS) return true;
      for (dom::element f : fields) {
        ticker_.tick();
        if (f.is_object() && f["type"].get(kid) == simdjson::SUCCESS && !check(kid, depth + 1)) return false;
      }
    } else if (t == "array" || t == "map") {
      if (e[t == "array" ? "items" : "values"].get(kid) == simdjson::SUCCESS) return check(kid, depth + 1);
    } else if (t == "fixed") {
      if (!fixed_size(e)) return false;
    }
    if ((t == "bytes" || t == "fixed") && string_member(&e, "logicalType") == "decimal") return precision(e);
    return true;
  }

 private:
  bool fail(std::string why) {
    error = std::move(why);
    return false;
  }

  bool fixed_size(const dom::element& e) {
    dom::element size;
    if (e["size"].get(size) != simdjson::SUCCESS || !size.is_number()) return true;  // Avro C refuses it
    int64_t n = 0;
    bool fits = size.get_int64().get(n) == simdjson::SUCCESS;
    if (fits && n >= 0 && n <= kAvroMaxFixedSize) return true;
    std::string name;
    append_json_string(&name, string_member(&e, "name"));
    if (fits && n < 0) return fail("Avro fixed " + name + " has a negative size");
    return fail("Avro fixed " + name + " has size " + simdjson::minify(size) + ", over the limit of " +
                std::to_string(kAvroMaxFixedSize) + " bytes");
  }

  bool precision(const dom::element& e) {
    dom::element p;
    double d = 0;
    if (e["precision"].get(p) != simdjson::SUCCESS || p.get_double().get(d) != simdjson::SUCCESS) return true;
    if (d <= double(kAvroMaxDecimalPrecision)) return true;
    return fail("Avro decimal precision " + simdjson::minify(p) + " is over " +
                std::to_string(kAvroMaxDecimalPrecision) + ", the most Postgres numeric allows");
  }

  avro_internal::Ticker ticker_;
  size_t nodes_ = 0;
};

// Compiles an Avro C schema plus the JSON it was parsed from (Avro C drops logicalType and
// the other attributes) into a Node tree. Linear in the size of the tree: record fields and
// union branches are matched to their JSON in order, named types' definitions by hash.
class PlanBuilder {
 public:
  std::string error;

  // j: the JSON of this schema position (nullptr when unknown); s: its Avro C schema; depth:
  // levels of nesting above it.
  std::unique_ptr<Node> build(const dom::element* j, avro_schema_t s, int depth) {
    if (!error.empty()) return nullptr;
    if (s == nullptr) {
      error = "internal error: Avro schema node missing";
      return nullptr;
    }
    ticker_.tick();
    if (depth > kAvroMaxSchemaDepth) {
      error = depth_error();
      return nullptr;
    }
    if (is_avro_link(s)) s = avro_schema_link_target(s);
    if (++nodes_ > kAvroMaxSchemaNodes) {
      // named types are expanded at every use: a few levels of types used twice each grow fast
      error =
          "Avro schema too large (over " + std::to_string(kAvroMaxSchemaNodes) + " nodes with named types expanded)";
      return nullptr;
    }
    dom::element inner;
    if (j && j->is_object() && (*j)["type"].get(inner) == simdjson::SUCCESS && (inner.is_object() || inner.is_array()))
      return build(&inner, s, depth + 1);  // {"type": {...}} or {"type": [...]}
    // The JSON object that describes this node: for a named type used by reference, its
    // definition, seen earlier in the document.
    const dom::element* def = (j && j->is_object()) ? j : nullptr;
    if (is_avro_named_type(s)) {
      std::string_view t = string_member(def, "type");
      if (def && (t == "record" || t == "error" || t == "enum" || t == "fixed")) {
        defs_.emplace(s, *def);
      } else {
        auto it = defs_.find(s);
        def = it == defs_.end() ? nullptr : &it->second;
      }
    }
    std::string_view logical = string_member(def, "logicalType");
    auto n = std::make_unique<Node>();
    n->is_scalar = true;
    n->min_size = 1;
    n->inline_bytes = kAvroCScalarBytes;
    switch (avro_typeof(s)) {
      case AVRO_NULL:
        n->op = Op::kNull;
        n->is_scalar = false;
        n->min_size = 0;
        break;
      case AVRO_BOOLEAN:
        n->op = Op::kBool;
        n->hint = builtin_type(TypeClass::kBool);
        break;
      case AVRO_INT32:
        if (logical == "date") {
          n->op = Op::kDate;
          n->hint = builtin_type(TypeClass::kDate);
        } else {
          n->op = Op::kInt;
          n->hint = builtin_type(TypeClass::kInt4);
        }
        break;
      case AVRO_INT64:
        if (logical == "timestamp-millis" || logical == "timestamp-micros") {
          n->op = logical == "timestamp-millis" ? Op::kTimestampMillis : Op::kTimestampMicros;
          n->hint = builtin_type(TypeClass::kTimestamptz);
        } else if (logical == "local-timestamp-millis" || logical == "local-timestamp-micros") {
          n->op = logical == "local-timestamp-millis" ? Op::kLocalTimestampMillis : Op::kLocalTimestampMicros;
          n->hint = builtin_type(TypeClass::kTimestamp);
        } else {
          n->op = Op::kLong;
          n->hint = builtin_type(TypeClass::kInt8);
        }
        break;
      case AVRO_FLOAT:
        n->op = Op::kFloat;
        n->hint = builtin_type(TypeClass::kReal);
        n->min_size = 4;
        break;
      case AVRO_DOUBLE:
        n->op = Op::kDouble;
        n->hint = builtin_type(TypeClass::kDouble);
        n->min_size = 8;
        break;
      case AVRO_STRING:
        n->inline_bytes = kAvroCStringBytes;
        if (logical == "json") {
          n->op = Op::kJsonString;
          n->hint = builtin_type(TypeClass::kJson);
          n->is_scalar = false;
        } else {
          n->op = Op::kString;
          n->hint = builtin_type(logical == "uuid" ? TypeClass::kUuid : TypeClass::kText);
        }
        break;
      case AVRO_BYTES:
        n->inline_bytes = kAvroCStringBytes;
        if (logical == "decimal" && decimal_scale(def, &n->scale)) {
          n->op = Op::kDecimalBytes;
          n->hint = builtin_type(TypeClass::kNumeric);
        } else {
          n->op = Op::kBytes;
          n->hint = builtin_type(TypeClass::kBytea);
        }
        break;
      case AVRO_FIXED:
        n->fixed_size = avro_schema_fixed_size(s);
        if (n->fixed_size < 0 || n->fixed_size > kAvroMaxFixedSize) {  // SchemaChecker saw the JSON already
          error = "Avro fixed size " + std::to_string(n->fixed_size) + " is out of range";
          return nullptr;
        }
        n->min_size = size_t(n->fixed_size);
        n->inline_bytes = size_t(n->fixed_size);
        if (logical == "decimal" && n->fixed_size > 0 && decimal_scale(def, &n->scale)) {
          n->op = Op::kDecimalFixed;
          n->hint = builtin_type(TypeClass::kNumeric);
        } else if (logical == "uuid" && n->fixed_size == 16) {
          n->op = Op::kUuidFixed;
          n->hint = builtin_type(TypeClass::kUuid);
        } else {
          n->op = Op::kFixed;
          n->hint = builtin_type(TypeClass::kBytea);
        }
        break;
      case AVRO_ENUM: {
        n->op = Op::kEnum;
        n->hint = builtin_type(TypeClass::kText);
        int count = avro_schema_enum_number_of_symbols(s);
        n->symbols.reserve(size_t(std::max(count, 0)));
        for (int k = 0; k < count; k++) {
          ticker_.tick();
          const char* sym = avro_schema_enum_get(s, k);
          n->symbols.emplace_back(sym ? sym : "");
        }
        break;
      }
      case AVRO_ARRAY: {
        n->op = Op::kArray;
        n->is_scalar = false;
        n->inline_bytes = kAvroCArrayBytes;
        dom::element items;
        bool has = def && (*def)["items"].get(items) == simdjson::SUCCESS;
        n->kids.push_back(build(has ? &items : nullptr, avro_schema_array_items(s), depth + 1));
        if (!error.empty()) return nullptr;
        const Node& it = *n->kids[0];
        if (it.min_size == 0) {
          // A block may claim any number of such items without spending a byte on them.
          error = "arrays whose items encode in zero bytes (null, empty records) are not supported";
          return nullptr;
        }
        if (!item_fits(it.inline_bytes, "array item")) return nullptr;
        n->item_bytes = it.inline_bytes;
        n->scalar_array = it.is_scalar;
        n->hint = it.is_scalar && it.hint ? builtin_type(it.hint->cls, true) : builtin_type(TypeClass::kJson);
        break;
      }
      case AVRO_MAP: {
        n->op = Op::kMap;
        n->is_scalar = false;
        n->inline_bytes = kAvroCMapBytes;
        dom::element values;
        bool has = def && (*def)["values"].get(values) == simdjson::SUCCESS;
        n->kids.push_back(build(has ? &values : nullptr, avro_schema_map_values(s), depth + 1));
        if (!error.empty()) return nullptr;
        if (!item_fits(n->kids[0]->inline_bytes, "map value")) return nullptr;
        n->item_bytes = n->kids[0]->inline_bytes + kAvroCMapEntryBytes;
        n->hint = builtin_type(TypeClass::kJson);
        break;
      }
      case AVRO_RECORD: {
        n->op = Op::kRecord;
        n->is_scalar = false;
        n->min_size = 0;
        n->inline_bytes = 0;
        n->hint = builtin_type(TypeClass::kJson);
        if (std::find(records_.begin(), records_.end(), s) != records_.end()) {
          const char* name = avro_schema_name(s);
          error = std::string("recursive Avro schemas are not supported (record ") + (name ? name : "?") + ")";
          return nullptr;
        }
        records_.push_back(s);
        dom::array fields;
        bool has_fields = def && (*def)["fields"].get_array().get(fields) == simdjson::SUCCESS;
        // Avro C keeps the fields in the order of the JSON array: walk both together.
        dom::array::iterator jf, jend;
        if (has_fields) {
          jf = fields.begin();
          jend = fields.end();
        }
        size_t count = avro_schema_record_size(s);
        n->kids.reserve(count);
        n->keys.reserve(count);
        for (size_t k = 0; k < count; k++) {
          const char* fname = avro_schema_record_field_name(s, int(k));
          std::string_view name = fname ? fname : "";
          dom::element ftype;
          bool has_type = false;
          if (has_fields && jf != jend) {
            dom::element f = *jf;
            ++jf;
            if (string_member(&f, "name") != name) {
              error = "internal error: Avro C and the JSON text disagree on field " + std::to_string(k);
              return nullptr;
            }
            has_type = f["type"].get(ftype) == simdjson::SUCCESS;
          }
          n->kids.push_back(
              build(has_type ? &ftype : nullptr, avro_schema_record_field_get_by_index(s, int(k)), depth + 1));
          if (!error.empty()) return nullptr;
          std::string key;
          append_json_string(&key, name);
          key.push_back(':');
          n->keys.push_back(std::move(key));
          n->min_size += n->kids.back()->min_size;
          n->inline_bytes += n->kids.back()->inline_bytes;
        }
        records_.pop_back();
        break;
      }
      case AVRO_UNION: {
        n->op = Op::kUnion;
        n->is_scalar = false;
        dom::array branches;
        bool has = j && j->is_array() && j->get_array().get(branches) == simdjson::SUCCESS;
        dom::array::iterator jb, jend;
        if (has) {
          jb = branches.begin();
          jend = branches.end();
        }
        size_t count = avro_schema_union_size(s);
        n->kids.reserve(count);
        int nulls = 0, other = -1;
        size_t largest = 0;
        for (size_t k = 0; k < count; k++) {
          dom::element b;
          bool has_b = has && jb != jend;
          if (has_b) {
            b = *jb;
            ++jb;
          }
          n->kids.push_back(build(has_b ? &b : nullptr, avro_schema_union_branch(s, int(k)), depth + 1));
          if (!error.empty()) return nullptr;
          if (n->kids.back()->op == Op::kNull)
            nulls++;
          else
            other = int(k);
          largest = std::max(largest, n->kids.back()->inline_bytes);
        }
        n->inline_bytes = kAvroCUnionBytes + largest;
        if (count == 2 && nulls == 1) {
          n->mode = UnionMode::kNullable;
        } else if (count == 1) {
          n->mode = UnionMode::kSingle;
          other = 0;
        }
        if (n->mode != UnionMode::kOther) {
          n->value_branch = other;
          n->hint = n->kids[size_t(other)]->hint;
          n->is_scalar = n->kids[size_t(other)]->is_scalar;
        } else {
          n->hint = builtin_type(TypeClass::kJson);
        }
        break;
      }
      default:
        error = "unsupported Avro schema type";
        return nullptr;
    }
    return n;
  }

 private:
  // precision >= 1 and 0 <= scale <= precision (an invalid decimal falls back to its base type,
  // as the Avro specification says); scale is also kept within what numeric can display.
  static bool decimal_scale(const dom::element* def, int32_t* scale) {
    int64_t precision = 0, sc = 0;
    if (!int_member(def, "precision", &precision) || precision < 1) return false;
    if (def && def->is_object() && (*def)["scale"].error() != simdjson::NO_SUCH_FIELD && !int_member(def, "scale", &sc))
      return false;
    if (sc < 0 || sc > precision || sc > 16383) return false;
    *scale = int32_t(sc);
    return true;
  }

  // One array item or map value must fit kAvroMaxValueBytes: a message may hold many of them.
  bool item_fits(size_t bytes, const char* what) {
    if (bytes <= kAvroMaxValueBytes) return true;
    error = std::string("Avro schema too large: one ") + what + " takes " + std::to_string(bytes) +
            " bytes in memory (fixed types and the largest branch of each union, named types expanded), over the "
            "limit of " +
            std::to_string(kAvroMaxValueBytes);
    return false;
  }

  avro_internal::Ticker ticker_;
  size_t nodes_ = 0;
  std::unordered_map<avro_schema_t, dom::element> defs_;  // named types' definitions
  std::vector<avro_schema_t> records_;                    // records being compiled
};

// Checks one binary-encoded value against its node before Avro C reads it: Avro C 1.11
// allocates whatever length a message claims (and leaks it when the read then fails), and
// loops over whatever item count a block claims, so nothing reaches it unchecked. It also adds
// up the memory Avro C will take for the message's items and strings (refusing it over
// memory_limit) and counts map keys holding a NUL byte (Avro C keeps keys as C strings).
class Scanner {
 public:
  Scanner(const uint8_t* p, size_t n, size_t memory_limit, avro_internal::Ticker* ticker)
      : p_(p), end_(p + n), memory_limit_(memory_limit), ticker_(ticker) {}
  bool truncated = false;
  bool too_large = false;  // over memory_limit: why says so
  size_t nul_keys = 0;     // map keys holding a NUL byte
  std::string why;
  size_t remaining() const { return size_t(end_ - p_); }
  const uint8_t* position() const { return p_; }
  size_t memory() const { return memory_; }

  bool value(const Node& n) {
    int64_t x;
    ticker_->tick();
    switch (n.op) {
      case Op::kNull:
        return true;
      case Op::kBool:
        return skip(1);
      case Op::kInt:
      case Op::kDate:
        if (!varint(&x)) return false;
        if (x < INT32_MIN || x > INT32_MAX) return invalid("int value out of range");
        return true;
      case Op::kLong:
      case Op::kTimestampMillis:
      case Op::kTimestampMicros:
      case Op::kLocalTimestampMillis:
      case Op::kLocalTimestampMicros:
        return varint(&x);
      case Op::kFloat:
        return skip(4);
      case Op::kDouble:
        return skip(8);
      case Op::kString:
      case Op::kJsonString:
      case Op::kBytes:
      case Op::kDecimalBytes:
        return length_prefixed();
      case Op::kFixed:
      case Op::kDecimalFixed:
      case Op::kUuidFixed:
        return skip(size_t(n.fixed_size));
      case Op::kEnum:
        if (!varint(&x)) return false;
        if (x < 0 || uint64_t(x) >= n.symbols.size())
          return invalid("enum index " + std::to_string(x) + " out of range");
        return true;
      case Op::kArray:
      case Op::kMap:
        for (;;) {
          int64_t count;
          if (!varint(&count)) return false;
          if (count == 0) return true;
          if (count < 0) {
            if (count == INT64_MIN) return invalid("bad block count");
            count = -count;
            int64_t bytes;
            if (!varint(&bytes)) return false;
            if (bytes < 0) return invalid("negative block size");
          }
          // every item (and map key) takes at least one byte
          if (uint64_t(count) > remaining()) {
            truncated = true;
            return false;
          }
          size_t bytes;
          if (__builtin_mul_overflow(size_t(count), n.item_bytes, &bytes) || (memory_ += bytes) > memory_limit_)
            return over_limit();
          for (int64_t k = 0; k < count; k++) {
            if (n.op == Op::kMap) {
              const uint8_t* key;
              size_t len;
              if (!length_prefixed(&key, &len)) return false;
              if (len && std::memchr(key, 0, len)) nul_keys++;
            }
            if (!value(*n.kids[0])) return false;
          }
        }
      case Op::kRecord:
        for (const auto& kid : n.kids)
          if (!value(*kid)) return false;
        return true;
      case Op::kUnion:
        if (!varint(&x)) return false;
        if (x < 0 || uint64_t(x) >= n.kids.size())
          return invalid("union branch " + std::to_string(x) + " out of range");
        return value(*n.kids[size_t(x)]);
    }
    return invalid("unsupported type");
  }

 private:
  bool invalid(std::string w) {
    why = std::move(w);
    return false;
  }
  bool skip(size_t k) {
    if (remaining() < k) {
      truncated = true;
      return false;
    }
    p_ += k;
    return true;
  }
  bool varint(int64_t* out) {
    uint64_t v = 0;
    for (int k = 0; k < 10; k++) {
      if (p_ == end_) {
        truncated = true;
        return false;
      }
      uint8_t b = *p_++;
      v |= uint64_t(b & 0x7f) << (7 * k);
      if (!(b & 0x80)) {
        *out = int64_t((v >> 1) ^ (0 - (v & 1)));
        return true;
      }
    }
    return invalid("varint longer than 10 bytes");
  }
  // A length-prefixed string or bytes; *start / *size (when asked) say where it lies.
  bool length_prefixed(const uint8_t** start = nullptr, size_t* size = nullptr) {
    int64_t len;
    if (!varint(&len)) return false;
    if (len < 0) return invalid("negative length " + std::to_string(len));
    if (start) *start = p_;
    if (!skip(uint64_t(len) > remaining() ? remaining() + 1 : size_t(len))) return false;
    if (size) *size = size_t(len);
    memory_ += size_t(len);
    return true;
  }
  // The message would make Avro C take more than memory_limit bytes: refused before it reads.
  bool over_limit() {
    too_large = true;
    why = "decoding this Avro message would take over " + std::to_string(memory_limit_) +
          " bytes of memory (limit: " + std::to_string(kAvroDecodeMemoryBase) + " + " +
          std::to_string(kAvroDecodeMemoryPerByte) + " per message byte)";
    return false;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  size_t memory_ = 0;
  size_t memory_limit_;
  avro_internal::Ticker* ticker_;
};

// Reads binary-encoded values the Scanner already checked (every read still bounds-checked).
struct WireReader {
  const uint8_t* p;
  const uint8_t* end;

  // A zigzag varint (long or int).
  bool varint(int64_t* out) {
    uint64_t v = 0;
    for (int k = 0; k < 10 && p < end; k++) {
      uint8_t b = *p++;
      v |= uint64_t(b & 0x7f) << (7 * k);
      if (!(b & 0x80)) {
        *out = int64_t((v >> 1) ^ (0 - (v & 1)));
        return true;
      }
    }
    return false;
  }
  // The next n bytes (fixed, float, double, boolean).
  bool take(size_t n, std::string_view* out) {
    if (size_t(end - p) < n) return false;
    *out = std::string_view(reinterpret_cast<const char*>(p), n);
    p += n;
    return true;
  }
  // A length-prefixed string or bytes.
  bool length_prefixed(std::string_view* out) {
    int64_t len;
    return varint(&len) && len >= 0 && take(size_t(len), out);
  }
  // little-endian IEEE 754, as Avro writes float and double
  uint64_t little_endian(std::string_view b) {
    uint64_t v = 0;
    for (size_t k = b.size(); k-- > 0;) v = v << 8 | uint8_t(b[k]);
    return v;
  }
};

constexpr int64_t kMinMicros = -62135596800000000LL;  // 0001-01-01 00:00:00 UTC
constexpr int64_t kMaxMicros = 253402300799999999LL;  // 9999-12-31 23:59:59.999999 UTC
constexpr int64_t kMicrosPerDay = 86400000000LL;
constexpr int64_t kMinDay = kMinMicros / kMicrosPerDay;  // -719162
constexpr int64_t kMaxDay = kMaxMicros / kMicrosPerDay;  // 2932896
constexpr size_t kMaxDecimalBytes = 4096;                // ~9864 digits

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// A float as the double its shortest decimal text denotes (0.1f -> 0.1, not 0.10000000149...).
double widen_float(float f) {
  if (!std::isfinite(f)) return double(f);
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, f);
  double d = double(f);
  std::from_chars(buf, r.ptr, d);
  return d;
}

// Most strings are short and ASCII: cheaper than a dispatched SIMD UTF-8 check.
bool is_ascii(const char* p, size_t n) {
  size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    uint64_t w;
    std::memcpy(&w, p + k, 8);
    if (w & 0x8080808080808080ULL) return false;
  }
  for (; k < n; k++)
    if (uint8_t(p[k]) & 0x80) return false;
  return true;
}

void append_int(std::string* out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, size_t(r.ptr - buf));
}

// JSON has no NaN / Infinity: they become the strings Postgres' float input reads back.
void append_json_number(std::string* out, double d) {
  if (std::isnan(d))
    out->append("\"NaN\"");
  else if (std::isinf(d))
    out->append(d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  else
    append_double(out, d);
}

void append_hex(std::string* out, const uint8_t* p, size_t n) {
  static const char* hex = "0123456789abcdef";
  for (size_t k = 0; k < n; k++) {
    out->push_back(hex[p[k] >> 4]);
    out->push_back(hex[p[k] & 15]);
  }
}

// Two's-complement big-endian unscaled value and a scale -> decimal text ("-123.45").
// Works for any length (base-256 to base-10^9 by repeated division).
void append_decimal(std::string* out, const uint8_t* p, size_t n, int32_t scale, std::vector<uint8_t>* mag) {
  bool neg = n > 0 && (p[0] & 0x80);
  mag->assign(p, p + n);
  if (neg) {  // magnitude = ~x + 1
    for (uint8_t& b : *mag) b = uint8_t(~b);
    for (size_t k = n; k-- > 0;)
      if (++(*mag)[k] != 0) break;
  }
  size_t start = 0;
  while (start < n && (*mag)[start] == 0) start++;
  std::string digits;  // least significant first
  while (start < n) {
    uint64_t rem = 0;
    for (size_t k = start; k < n; k++) {
      uint64_t cur = (rem << 8) | (*mag)[k];
      (*mag)[k] = uint8_t(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    while (start < n && (*mag)[start] == 0) start++;
    if (start == n) {
      do {
        digits.push_back(char('0' + rem % 10));
        rem /= 10;
      } while (rem);
    } else {
      for (int d = 0; d < 9; d++) {
        digits.push_back(char('0' + rem % 10));
        rem /= 10;
      }
    }
  }
  bool zero = digits.empty();
  while (digits.size() < size_t(scale) + 1) digits.push_back('0');
  if (neg && !zero) out->push_back('-');
  for (size_t k = digits.size(); k-- > 0;) {
    out->push_back(digits[k]);
    if (k == size_t(scale) && scale > 0) out->push_back('.');
  }
}

void append_uuid(std::string* out, const uint8_t* p) {
  for (int k = 0; k < 16; k++) {
    if (k == 4 || k == 6 || k == 8 || k == 10) out->push_back('-');
    append_hex(out, p + k, 1);
  }
}

// Microseconds -> the text format_timestamp_utc prints, without "+00" for local timestamps.
void append_timestamp(std::string* out, int64_t us, bool local) {
  std::string s = format_timestamp_utc(us);
  if (local && s.size() > 3) s.resize(s.size() - 3);
  out->append(s);
}

// Converts a timestamp's raw value to microseconds; false when out of years 1..9999.
bool timestamp_micros(Op op, int64_t raw, int64_t* us) {
  bool millis = op == Op::kTimestampMillis || op == Op::kLocalTimestampMillis;
  if (millis) {
    if (raw < kMinMicros / 1000 || raw > kMaxMicros / 1000) return false;
    *us = raw * 1000;
  } else {
    if (raw < kMinMicros || raw > kMaxMicros) return false;
    *us = raw;
  }
  return true;
}

// An int node's value as JSON: a date as its ISO text when Postgres can take it, else the number.
void append_int_json(const Node& n, int32_t x, std::string* out) {
  if (n.op == Op::kDate && x >= kMinDay && x <= kMaxDay) {
    out->push_back('"');
    out->append(format_timestamp_utc(int64_t(x) * kMicrosPerDay), 0, 10);
    out->push_back('"');
  } else {
    append_int(out, x);
  }
}

// A long node's value as JSON: a timestamp as its text when in years 1..9999, else the number.
void append_long_json(const Node& n, int64_t x, std::string* out) {
  int64_t us = 0;
  if (n.op != Op::kLong && timestamp_micros(n.op, x, &us)) {
    out->push_back('"');
    append_timestamp(out, us, n.op == Op::kLocalTimestampMillis || n.op == Op::kLocalTimestampMicros);
    out->push_back('"');
  } else {
    append_int(out, x);
  }
}

}  // namespace

// One writer schema: Avro C objects, the compiled plan and the top-level fields' names.
struct AvroSchemaEntry {
  struct TopField {
    std::string raw_name;
    std::string name;   // normalised
    bool same = false;  // name == raw_name
    int32_t hint = -1;  // index into AvroDecoder::Impl::hint_types, -1 = none
    const Node* node = nullptr;
  };

  std::string error;  // non-empty: unusable, every message naming it is an error
  avro_schema_t schema = nullptr;
  avro_value_iface_t* iface = nullptr;
  avro_value_t value{};  // the reusable value, built by the first message that needs it
  bool has_value = false;
  size_t peak_memory = 0;  // most memory (Scanner::memory) a message took since release_memory
  std::unique_ptr<Node> root;
  std::vector<TopField> fields;

  ~AvroSchemaEntry() {
    if (has_value) avro_value_decref(&value);
    if (iface) avro_value_iface_decref(iface);
    if (schema) avro_schema_decref(schema);
  }
};

struct AvroDecoder::Impl {
  std::unordered_map<int32_t, std::unique_ptr<AvroSchemaEntry>> schemas;
  int32_t last_id = 0;
  AvroSchemaEntry* last = nullptr;  // schemas[last_id], skips the lookup for runs of one id
  avro_reader_t reader = nullptr;
  size_t max_event_bytes = size_t(1) << 20;

  // Column types, interned per decoder by name; hint_slot caches each one's index in the
  // out->hints of the batch being filled (validated by comparing the type, so a new batch,
  // even at the same address, is never trusted blindly).
  std::vector<ColumnType> hint_types;
  std::unordered_map<std::string, int32_t> hint_ids;
  std::vector<int32_t> hint_slot;

  std::string json;          // JSON text being built
  std::vector<uint8_t> mag;  // decimal scratch
  dom::parser json_parser;   // validates logicalType "json" strings
  avro_internal::Ticker ticker;
  // (top-level field index, offset in the message) of the fields converted from the message
  // bytes rather than Avro C's value: those holding a map key with a NUL byte
  std::vector<std::pair<size_t, size_t>> wire_fields;

  struct Ctx {
    EventBatch* out;
    Event* ev;
    std::string_view field;  // the top-level field being converted (error texts)
    std::string error;
  };

  Impl() { reader = avro_reader_memory(nullptr, 0); }
  ~Impl() {
    schemas.clear();
    if (reader) avro_reader_free(reader);
  }

  int32_t intern_hint(const std::optional<ColumnType>& h) {
    if (!h) return -1;
    auto it = hint_ids.find(h->pg_name);
    if (it != hint_ids.end()) return it->second;
    int32_t id = int32_t(hint_types.size());
    hint_types.push_back(*h);
    hint_slot.push_back(-1);
    hint_ids.emplace(h->pg_name, id);
    return id;
  }

  int32_t hint_index(EventBatch* out, int32_t id) {
    int32_t& slot = hint_slot[size_t(id)];
    const ColumnType& h = hint_types[size_t(id)];
    if (slot >= 0 && size_t(slot) < out->hints.size() && out->hints[size_t(slot)] == h) return slot;
    for (size_t k = 0; k < out->hints.size(); k++) {
      if (out->hints[k] == h) return slot = int32_t(k);
    }
    out->hints.push_back(h);
    return slot = int32_t(out->hints.size() - 1);
  }

  bool check(int rc, Ctx* c) {
    if (rc == 0) return true;
    if (c->error.empty()) c->error = std::string("Avro C error: ") + avro_strerror();
    return false;
  }

  bool utf8(const char* p, size_t n, Ctx* c) {
    if (is_ascii(p, n) || simdjson::validate_utf8(p, n)) return true;
    c->error = "Avro string in field \"" + std::string(c->field) + "\" is not valid UTF-8";
    return false;
  }

  bool get_text(avro_value_t* v, std::string_view* s, Ctx* c) {
    const char* p = nullptr;
    size_t size = 0;  // includes the terminating NUL
    if (!check(avro_value_get_string(v, &p, &size), c)) return false;
    *s = std::string_view(p, size ? size - 1 : 0);
    return utf8(s->data(), s->size(), c);
  }

  bool get_blob(const Node& n, avro_value_t* v, std::string_view* s, Ctx* c) {
    const void* p = nullptr;
    size_t size = 0;
    int rc = (n.op == Op::kBytes || n.op == Op::kDecimalBytes) ? avro_value_get_bytes(v, &p, &size)
                                                               : avro_value_get_fixed(v, &p, &size);
    if (!check(rc, c)) return false;
    *s = std::string_view(static_cast<const char*>(p), size);
    return true;
  }

  bool get_enum_symbol(const Node& n, avro_value_t* v, std::string_view* s, Ctx* c) {
    int idx = 0;
    if (!check(avro_value_get_enum(v, &idx), c)) return false;
    if (idx < 0 || size_t(idx) >= n.symbols.size()) {
      c->error = "Avro enum index " + std::to_string(idx) + " out of range in field \"" + std::string(c->field) + "\"";
      return false;
    }
    *s = n.symbols[size_t(idx)];
    return true;
  }

  bool decimal_text(const Node& n, avro_value_t* v, std::string* out, Ctx* c) {
    std::string_view b;
    if (!get_blob(n, v, &b, c)) return false;
    return decimal_from_blob(n, b, out, c);
  }

  // A decimal's two's-complement bytes as its text, refused over kMaxDecimalBytes.
  bool decimal_from_blob(const Node& n, std::string_view b, std::string* out, Ctx* c) {
    if (b.size() > kMaxDecimalBytes) {
      c->error = "Avro decimal of " + std::to_string(b.size()) + " bytes in field \"" + std::string(c->field) +
                 "\" is too large";
      return false;
    }
    append_decimal(out, reinterpret_cast<const uint8_t*>(b.data()), b.size(), n.scale, &mag);
    return true;
  }

  // The minified JSON of a logicalType "json" string, or false when it is not JSON.
  bool minified_json(std::string_view s, std::string* out) {
    dom::element el;
    if (json_parser.parse(s.data(), s.size(), true).get(el) != simdjson::SUCCESS) return false;
    out->append(simdjson::to_string(el));
    return true;
  }

  // Appends the JSON text of v (node n).
  bool append_json(const Node& n, avro_value_t* v, std::string* out, Ctx* c) {
    switch (n.op) {
      case Op::kNull:
        out->append("null");
        return true;
      case Op::kBool: {
        int b = 0;
        if (!check(avro_value_get_boolean(v, &b), c)) return false;
        out->append(b ? "true" : "false");
        return true;
      }
      case Op::kInt:
      case Op::kDate: {
        int32_t x = 0;
        if (!check(avro_value_get_int(v, &x), c)) return false;
        append_int_json(n, x, out);
        return true;
      }
      case Op::kLong:
      case Op::kTimestampMillis:
      case Op::kTimestampMicros:
      case Op::kLocalTimestampMillis:
      case Op::kLocalTimestampMicros: {
        int64_t x = 0;
        if (!check(avro_value_get_long(v, &x), c)) return false;
        append_long_json(n, x, out);
        return true;
      }
      case Op::kFloat: {
        float f = 0;
        if (!check(avro_value_get_float(v, &f), c)) return false;
        append_json_number(out, widen_float(f));
        return true;
      }
      case Op::kDouble: {
        double d = 0;
        if (!check(avro_value_get_double(v, &d), c)) return false;
        append_json_number(out, d);
        return true;
      }
      case Op::kString: {
        std::string_view s;
        if (!get_text(v, &s, c)) return false;
        append_json_string(out, s);
        return true;
      }
      case Op::kJsonString: {
        std::string_view s;
        if (!get_text(v, &s, c)) return false;
        if (!minified_json(s, out)) append_json_string(out, s);
        return true;
      }
      case Op::kEnum: {
        std::string_view s;
        if (!get_enum_symbol(n, v, &s, c)) return false;
        append_json_string(out, s);
        return true;
      }
      case Op::kBytes:
      case Op::kFixed: {  // as the bytea text form, like event_to_json
        std::string_view s;
        if (!get_blob(n, v, &s, c)) return false;
        out->append("\"\\\\x");
        append_hex(out, reinterpret_cast<const uint8_t*>(s.data()), s.size());
        out->push_back('"');
        return true;
      }
      case Op::kDecimalBytes:
      case Op::kDecimalFixed:
        return decimal_text(n, v, out, c);  // a JSON number, exact in jsonb
      case Op::kUuidFixed: {
        std::string_view s;
        if (!get_blob(n, v, &s, c)) return false;
        out->push_back('"');
        append_uuid(out, reinterpret_cast<const uint8_t*>(s.data()));
        out->push_back('"');
        return true;
      }
      case Op::kArray:
      case Op::kMap: {
        size_t count = 0;
        if (!check(avro_value_get_size(v, &count), c)) return false;
        out->push_back(n.op == Op::kArray ? '[' : '{');
        for (size_t k = 0; k < count; k++) {
          ticker.tick();
          avro_value_t e;
          const char* key = nullptr;
          if (!check(avro_value_get_by_index(v, k, &e, n.op == Op::kMap ? &key : nullptr), c)) return false;
          if (k) out->push_back(',');
          if (n.op == Op::kMap) {
            std::string_view ks = key ? key : "";
            if (!utf8(ks.data(), ks.size(), c)) return false;
            append_json_string(out, ks);
            out->push_back(':');
          }
          if (!append_json(*n.kids[0], &e, out, c)) return false;
        }
        out->push_back(n.op == Op::kArray ? ']' : '}');
        return true;
      }
      case Op::kRecord: {
        out->push_back('{');
        for (size_t k = 0; k < n.kids.size(); k++) {
          avro_value_t f;
          if (!check(avro_value_get_by_index(v, k, &f, nullptr), c)) return false;
          if (k) out->push_back(',');
          out->append(n.keys[k]);
          if (!append_json(*n.kids[k], &f, out, c)) return false;
        }
        out->push_back('}');
        return true;
      }
      case Op::kUnion: {
        const Node* b;
        avro_value_t bv;
        if (!branch(n, v, &b, &bv, c)) return false;
        return append_json(*b, &bv, out, c);
      }
    }
    c->error = "unsupported Avro type";
    return false;
  }

  // Appends the JSON text of the value of node n at r, read from the message bytes rather than
  // Avro C's value: the same text append_json makes, but with map keys kept whole (Avro C cuts
  // a key at its first NUL byte and merges keys that then look equal). The Scanner checked the
  // bytes already; any read that still fails is an internal error.
  bool wire_json(const Node& n, WireReader* r, std::string* out, Ctx* c) {
    int64_t x = 0;
    std::string_view s;
    auto broken = [&] {
      c->error = "internal error: Avro message changed between checking and decoding";
      return false;
    };
    switch (n.op) {
      case Op::kNull:
        out->append("null");
        return true;
      case Op::kBool:
        if (!r->take(1, &s)) return broken();
        out->append(s[0] ? "true" : "false");
        return true;
      case Op::kInt:
      case Op::kDate:
        if (!r->varint(&x)) return broken();
        append_int_json(n, int32_t(x), out);
        return true;
      case Op::kLong:
      case Op::kTimestampMillis:
      case Op::kTimestampMicros:
      case Op::kLocalTimestampMillis:
      case Op::kLocalTimestampMicros:
        if (!r->varint(&x)) return broken();
        append_long_json(n, x, out);
        return true;
      case Op::kFloat: {
        if (!r->take(4, &s)) return broken();
        uint32_t bits = uint32_t(r->little_endian(s));
        float f;
        std::memcpy(&f, &bits, 4);
        append_json_number(out, widen_float(f));
        return true;
      }
      case Op::kDouble: {
        if (!r->take(8, &s)) return broken();
        uint64_t bits = r->little_endian(s);
        double d;
        std::memcpy(&d, &bits, 8);
        append_json_number(out, d);
        return true;
      }
      case Op::kString:
      case Op::kJsonString:
        if (!r->length_prefixed(&s)) return broken();
        if (!utf8(s.data(), s.size(), c)) return false;
        if (n.op == Op::kString || !minified_json(s, out)) append_json_string(out, s);
        return true;
      case Op::kEnum:
        if (!r->varint(&x)) return broken();
        if (x < 0 || uint64_t(x) >= n.symbols.size()) return broken();
        append_json_string(out, n.symbols[size_t(x)]);
        return true;
      case Op::kBytes:
      case Op::kFixed:
      case Op::kDecimalBytes:
      case Op::kDecimalFixed:
      case Op::kUuidFixed:
        if (!(n.op == Op::kBytes || n.op == Op::kDecimalBytes ? r->length_prefixed(&s)
                                                              : r->take(size_t(n.fixed_size), &s)))
          return broken();
        if (n.op == Op::kDecimalBytes || n.op == Op::kDecimalFixed) return decimal_from_blob(n, s, out, c);
        if (n.op == Op::kUuidFixed) {
          out->push_back('"');
          append_uuid(out, reinterpret_cast<const uint8_t*>(s.data()));
          out->push_back('"');
        } else {
          out->append("\"\\\\x");
          append_hex(out, reinterpret_cast<const uint8_t*>(s.data()), s.size());
          out->push_back('"');
        }
        return true;
      case Op::kArray:
      case Op::kMap: {
        out->push_back(n.op == Op::kArray ? '[' : '{');
        bool first = true;
        for (;;) {
          int64_t count = 0, bytes = 0;
          if (!r->varint(&count)) return broken();
          if (count == 0) break;
          if (count < 0) {
            if (count == INT64_MIN || !r->varint(&bytes)) return broken();
            count = -count;
          }
          for (int64_t k = 0; k < count; k++) {
            ticker.tick();
            if (!first) out->push_back(',');
            first = false;
            if (n.op == Op::kMap) {
              if (!r->length_prefixed(&s)) return broken();
              if (!utf8(s.data(), s.size(), c)) return false;
              append_json_string(out, s);
              out->push_back(':');
            }
            if (!wire_json(*n.kids[0], r, out, c)) return false;
          }
        }
        out->push_back(n.op == Op::kArray ? ']' : '}');
        return true;
      }
      case Op::kRecord:
        out->push_back('{');
        for (size_t k = 0; k < n.kids.size(); k++) {
          if (k) out->push_back(',');
          out->append(n.keys[k]);
          if (!wire_json(*n.kids[k], r, out, c)) return false;
        }
        out->push_back('}');
        return true;
      case Op::kUnion:
        if (!r->varint(&x)) return broken();
        if (x < 0 || uint64_t(x) >= n.kids.size()) return broken();
        return wire_json(*n.kids[size_t(x)], r, out, c);
    }
    c->error = "unsupported Avro type";
    return false;
  }

  bool branch(const Node& n, avro_value_t* v, const Node** b, avro_value_t* bv, Ctx* c) {
    int disc = -1;
    if (!check(avro_value_get_discriminant(v, &disc), c)) return false;
    if (disc < 0 || size_t(disc) >= n.kids.size()) {
      c->error = "Avro union branch " + std::to_string(disc) + " out of range";
      return false;
    }
    if (!check(avro_value_get_current_branch(v, bv), c)) return false;
    *b = n.kids[size_t(disc)].get();
    return true;
  }

  // A scalar node's value (never an array / map / record / union).
  bool scalar(const Node& n, avro_value_t* v, Value* x, Ctx* c) {
    Arena& arena = c->out->arena;
    switch (n.op) {
      case Op::kNull:
        x->kind = Kind::kNull;
        return true;
      case Op::kBool: {
        int b = 0;
        if (!check(avro_value_get_boolean(v, &b), c)) return false;
        x->kind = Kind::kBool;
        x->b = b != 0;
        return true;
      }
      case Op::kInt: {
        int32_t i = 0;
        if (!check(avro_value_get_int(v, &i), c)) return false;
        x->kind = Kind::kInt;
        x->i = i;
        x->d = double(i);
        return true;
      }
      case Op::kLong: {
        int64_t i = 0;
        if (!check(avro_value_get_long(v, &i), c)) return false;
        x->kind = Kind::kInt;
        x->i = i;
        x->d = double(i);
        return true;
      }
      case Op::kFloat: {
        float f = 0;
        if (!check(avro_value_get_float(v, &f), c)) return false;
        x->kind = Kind::kDouble;
        x->d = widen_float(f);
        return true;
      }
      case Op::kDouble: {
        double d = 0;
        if (!check(avro_value_get_double(v, &d), c)) return false;
        x->kind = Kind::kDouble;
        x->d = d;
        return true;
      }
      case Op::kString: {
        std::string_view s;
        if (!get_text(v, &s, c)) return false;
        x->kind = Kind::kString;
        x->text = arena.copy(s);
        return true;
      }
      case Op::kJsonString: {
        std::string_view s;
        if (!get_text(v, &s, c)) return false;
        json.clear();
        if (minified_json(s, &json)) {
          x->kind = Kind::kObject;
          x->text = arena.copy(json);
        } else {  // not JSON: kept as a JSON string, nothing is lost
          x->kind = Kind::kString;
          x->text = arena.copy(s);
        }
        return true;
      }
      case Op::kEnum: {
        std::string_view s;
        if (!get_enum_symbol(n, v, &s, c)) return false;
        x->kind = Kind::kString;
        x->text = arena.copy(s);
        return true;
      }
      case Op::kBytes:
      case Op::kFixed: {
        std::string_view s;
        if (!get_blob(n, v, &s, c)) return false;
        x->kind = Kind::kBytes;
        x->text = arena.copy(s);
        return true;
      }
      case Op::kTimestampMillis:
      case Op::kTimestampMicros:
      case Op::kLocalTimestampMillis:
      case Op::kLocalTimestampMicros: {
        int64_t raw = 0, us = 0;
        if (!check(avro_value_get_long(v, &raw), c)) return false;
        if (timestamp_micros(n.op, raw, &us)) {
          json.clear();
          append_timestamp(&json, us, n.op == Op::kLocalTimestampMillis || n.op == Op::kLocalTimestampMicros);
          x->kind = Kind::kString;
          x->text = arena.copy(json);
        } else {
          // out of years 1..9999: epoch milliseconds, which the batch builder refuses by name
          bool millis = n.op == Op::kTimestampMillis || n.op == Op::kLocalTimestampMillis;
          x->kind = Kind::kInt;
          x->i = millis ? raw : floor_div(raw, 1000);
          x->d = double(x->i);
        }
        return true;
      }
      case Op::kDate: {
        int32_t days = 0;
        if (!check(avro_value_get_int(v, &days), c)) return false;
        if (days >= kMinDay && days <= kMaxDay) {
          x->kind = Kind::kString;
          x->text = arena.copy(std::string_view(format_timestamp_utc(int64_t(days) * kMicrosPerDay)).substr(0, 10));
        } else {  // not a date Postgres can take: the day number, refused as "not an ISO-8601 date"
          x->kind = Kind::kInt;
          x->i = days;
          x->d = double(days);
        }
        return true;
      }
      case Op::kDecimalBytes:
      case Op::kDecimalFixed:
        json.clear();
        if (!decimal_text(n, v, &json, c)) return false;
        x->kind = Kind::kString;
        x->text = arena.copy(json);
        return true;
      case Op::kUuidFixed: {
        std::string_view s;
        if (!get_blob(n, v, &s, c)) return false;
        json.clear();
        append_uuid(&json, reinterpret_cast<const uint8_t*>(s.data()));
        x->kind = Kind::kString;
        x->text = arena.copy(json);
        return true;
      }
      default:
        break;
    }
    c->error = "internal error: not a scalar Avro type";
    return false;
  }

  // The value of a top-level field or array element into c->ev->values[slot]; a scalar array
  // appends its elements after the values present.
  bool convert(const Node& n, avro_value_t* v, uint32_t slot, Ctx* c) {
    std::vector<Value>& values = c->ev->values;
    switch (n.op) {
      case Op::kUnion: {
        const Node* b;
        avro_value_t bv;
        if (!branch(n, v, &b, &bv, c)) return false;
        if (b->op == Op::kNull) {
          values[slot] = Value();
          return true;
        }
        if (n.mode != UnionMode::kOther) return convert(*b, &bv, slot, c);
        return as_json(*b, &bv, slot, c);
      }
      case Op::kArray: {
        if (!n.scalar_array) return as_json(n, v, slot, c);
        size_t count = 0;
        if (!check(avro_value_get_size(v, &count), c)) return false;
        json.clear();
        if (!append_json(n, v, &json, c)) return false;
        Value a;
        a.kind = Kind::kArray;
        a.text = c->out->arena.copy(json);
        a.first_child = uint32_t(values.size());
        a.n_children = uint32_t(count);
        values.resize(values.size() + count);
        values[slot] = a;
        for (size_t k = 0; k < count; k++) {
          ticker.tick();
          avro_value_t e;
          if (!check(avro_value_get_by_index(v, k, &e, nullptr), c)) return false;
          if (!convert(*n.kids[0], &e, uint32_t(a.first_child + k), c)) return false;
        }
        return true;
      }
      case Op::kMap:
      case Op::kRecord:
        return as_json(n, v, slot, c);
      default: {
        Value x;
        if (!scalar(n, v, &x, c)) return false;
        values[slot] = x;
        return true;
      }
    }
  }

  bool as_json(const Node& n, avro_value_t* v, uint32_t slot, Ctx* c) {
    json.clear();
    if (!append_json(n, v, &json, c)) return false;
    Value o;
    o.kind = Kind::kObject;
    o.text = c->out->arena.copy(json);
    c->ev->values[slot] = o;
    return true;
  }

  AvroSchemaEntry* find(int32_t id) {
    if (last && last_id == id) return last;
    auto it = schemas.find(id);
    if (it == schemas.end()) return nullptr;
    last_id = id;
    last = it->second.get();
    return last;
  }

  // Builds s's reusable value if release_memory (or a huge message) dropped it, or no message
  // needed it yet. False with *why set when Avro C cannot.
  bool make_value(AvroSchemaEntry* s, std::string* why) {
    if (s->has_value) return true;
    if (avro_generic_value_new(s->iface, &s->value) != 0) {
      *why = std::string("cannot build an Avro value: ") + avro_strerror();
      return false;
    }
    s->has_value = true;
    return true;
  }

  // Drops s's reusable value (rebuilt by the next message that needs it).
  static void drop_value(AvroSchemaEntry* s) {
    if (!s->has_value) return;
    avro_value_decref(&s->value);
    s->has_value = false;
  }

  // Finds the top-level fields holding a map key with a NUL byte (a Scanner counted some).
  void find_wire_fields(const Node& root, std::string_view body) {
    Scanner scan(reinterpret_cast<const uint8_t*>(body.data()), body.size(), SIZE_MAX, &ticker);
    for (size_t k = 0; k < root.kids.size(); k++) {
      size_t before = scan.nul_keys;
      size_t offset = size_t(scan.position() - reinterpret_cast<const uint8_t*>(body.data()));
      if (!scan.value(*root.kids[k])) return;
      if (scan.nul_keys != before) wire_fields.emplace_back(k, offset);
    }
  }

  void decode(std::string_view msg, AvroFraming framing, int32_t raw_id, EventBatch* out, Event* ev);
  std::string add_schema(std::string_view text, AvroSchemaEntry* e);
  void release_memory();
};

std::string AvroDecoder::Impl::add_schema(std::string_view text, AvroSchemaEntry* e) {
  // The limits first, on the JSON text: Avro C builds nothing before they hold.
  dom::parser parser;
  dom::element doc;
  if (parser.parse(text.data(), text.size(), true).get(doc) != simdjson::SUCCESS) {
    // Avro C's parser says where: it allocates only in proportion to the text, and what it
    // builds is freed at once
    avro_schema_t s = nullptr;
    if (avro_schema_from_json_length(text.data(), text.size(), &s) != 0)
      return std::string("invalid Avro schema: ") + avro_strerror();
    avro_schema_decref(s);
    return "invalid Avro schema: the JSON text does not parse";
  }
  SchemaChecker limits;
  if (!limits.check(doc, 1)) return limits.error;
  if (avro_schema_from_json_length(text.data(), text.size(), &e->schema) != 0) {
    e->schema = nullptr;
    return std::string("invalid Avro schema: ") + avro_strerror();
  }
  avro_schema_t top = e->schema;
  if (is_avro_link(top)) top = avro_schema_link_target(top);
  if (!is_avro_record(top)) {
    const char* t = avro_schema_type_name(top);
    return std::string("the top-level Avro schema is ") + (t ? t : "not a record") + ", not a record";
  }
  PlanBuilder b;
  e->root = b.build(&doc, e->schema, 1);
  if (!b.error.empty() || !e->root) return b.error.empty() ? "invalid Avro schema" : b.error;
  if (e->root->inline_bytes > kAvroMaxValueBytes) {
    return "Avro schema too large: one record takes " + std::to_string(e->root->inline_bytes) +
           " bytes in memory (fixed types and the largest branch of each union, named types expanded), over the "
           "limit of " +
           std::to_string(kAvroMaxValueBytes);
  }
  e->iface = avro_generic_class_from_schema(e->schema);
  if (!e->iface) return std::string("cannot build an Avro value class: ") + avro_strerror();
  e->fields.reserve(e->root->kids.size());
  for (size_t k = 0; k < e->root->kids.size(); k++) {
    ticker.tick();
    AvroSchemaEntry::TopField f;
    const char* name = avro_schema_record_field_name(top, int(k));
    f.raw_name = name ? name : "";
    f.name = normalize_field_name(f.raw_name);
    f.same = f.name == f.raw_name;
    f.node = e->root->kids[k].get();
    f.hint = intern_hint(f.node->hint);
    e->fields.push_back(std::move(f));
  }
  return {};
}

void AvroDecoder::Impl::decode(std::string_view msg, AvroFraming framing, int32_t raw_id, EventBatch* out, Event* ev) {
  auto fail = [&](std::string why) {
    ev->fields.clear();
    ev->values.clear();
    ev->error = std::move(why);
    ev->raw = out->arena.copy(msg);
  };
  if (msg.size() > max_event_bytes) {
    return fail("event of " + std::to_string(msg.size()) + " bytes exceeds pulse.max_event_bytes (" +
                std::to_string(max_event_bytes) + ")");
  }
  int32_t id = raw_id;
  std::string_view body = msg;
  if (framing == AvroFraming::kConfluent) {
    if (msg.empty()) return fail("empty Avro message (a Confluent header needs 5 bytes)");
    if (msg[0] != 0)
      return fail("bad Avro magic byte " + std::to_string(int(uint8_t(msg[0]))) + " (Confluent framing expects 0)");
    if (msg.size() < 5) return fail("truncated Avro message (a Confluent header needs 5 bytes)");
    const auto* h = reinterpret_cast<const uint8_t*>(msg.data());
    id = int32_t(uint32_t(h[1]) << 24 | uint32_t(h[2]) << 16 | uint32_t(h[3]) << 8 | uint32_t(h[4]));
    body = msg.substr(5);
  }
  AvroSchemaEntry* s = find(id);
  if (!s) return fail("unknown Avro schema id " + std::to_string(id));
  if (!s->error.empty()) return fail("Avro schema id " + std::to_string(id) + " is unusable: " + s->error);

  size_t memory_limit = kAvroDecodeMemoryBase + kAvroDecodeMemoryPerByte * body.size();
  Scanner scan(reinterpret_cast<const uint8_t*>(body.data()), body.size(), memory_limit, &ticker);
  if (!scan.value(*s->root)) {
    if (scan.too_large) return fail(scan.why);
    return fail(scan.truncated ? std::string("truncated Avro message") : "invalid Avro message: " + scan.why);
  }
  if (scan.remaining() > 0) {
    return fail(std::to_string(scan.remaining()) + " trailing bytes after the Avro record (schema id " +
                std::to_string(id) + ")");
  }
  if (scan.memory() > s->peak_memory) s->peak_memory = scan.memory();
  wire_fields.clear();
  if (scan.nul_keys) find_wire_fields(*s->root, body);
  std::string why;
  if (!make_value(s, &why)) return fail(why);
  avro_reader_memory_set_source(reader, body.data(), int64_t(body.size()));
  if (avro_value_read(reader, &s->value) != 0) return fail(std::string("invalid Avro message: ") + avro_strerror());

  Ctx c{out, ev, {}, {}};
  ev->fields.reserve(s->fields.size());
  ev->values.reserve(s->fields.size() + 4);
  size_t next_wire = 0;
  for (size_t k = 0; k < s->fields.size(); k++) {
    const AvroSchemaEntry::TopField& tf = s->fields[k];
    c.field = tf.raw_name;
    avro_value_t fv;
    if (!check(avro_value_get_by_index(&s->value, k, &fv, nullptr), &c)) break;
    Field f;
    f.raw_name = out->arena.copy(tf.raw_name);
    f.name = tf.same ? f.raw_name : out->arena.copy(tf.name);
    f.hint = tf.hint >= 0 ? hint_index(out, tf.hint) : -1;
    f.value = uint32_t(ev->values.size());
    ev->values.emplace_back();
    if (next_wire < wire_fields.size() && wire_fields[next_wire].first == k) {
      // a map key with a NUL byte: the field's JSON from the message bytes (keys kept whole)
      const auto* p = reinterpret_cast<const uint8_t*>(body.data());
      WireReader r{p + wire_fields[next_wire++].second, p + body.size()};
      json.clear();
      if (!wire_json(*tf.node, &r, &json, &c)) break;
      Value o;
      o.kind = Kind::kObject;
      o.text = out->arena.copy(json);
      ev->values[f.value] = o;
    } else if (!convert(*tf.node, &fv, f.value, &c)) {
      break;
    }
    ev->fields.push_back(f);
  }
  if (!c.error.empty()) fail(c.error);
  // A huge message leaves the reusable value holding huge buffers: start afresh.
  if (body.size() > kAvroReleaseThreshold) drop_value(s);
}

void AvroDecoder::Impl::release_memory() {
  for (auto& [id, s] : schemas) {
    if (s->has_value && s->root && s->root->inline_bytes + s->peak_memory > kAvroReleaseThreshold) drop_value(s.get());
    s->peak_memory = 0;
  }
  if (json.capacity() > kAvroReleaseThreshold) std::string().swap(json);
  if (mag.capacity() > kAvroReleaseThreshold) std::vector<uint8_t>().swap(mag);
  if (json_parser.capacity() > kAvroReleaseThreshold) json_parser = dom::parser();
  std::vector<std::pair<size_t, size_t>>().swap(wire_fields);
}

namespace avro_internal {

namespace {
std::atomic<void (*)()> interrupt_check{nullptr};
}  // namespace

void poll_interrupt() {
  void (*check)() = interrupt_check.load(std::memory_order_relaxed);
  if (!check) return;
  try {
    check();
  } catch (...) {
    throw Interrupted{std::current_exception()};
  }
}

}  // namespace avro_internal

void set_avro_interrupt_check(void (*check)()) { avro_internal::interrupt_check.store(check); }

AvroDecoder::AvroDecoder() : impl_(new Impl) {}
AvroDecoder::~AvroDecoder() = default;

std::string AvroDecoder::add_schema(int32_t id, std::string_view schema_json) {
  try {
    auto e = std::make_unique<AvroSchemaEntry>();
    std::string err = impl_->add_schema(schema_json, e.get());
    if (!err.empty()) {
      e = std::make_unique<AvroSchemaEntry>();  // keep only the reason
      e->error = err;
    }
    impl_->last = nullptr;
    impl_->schemas[id] = std::move(e);
    return err;
  } catch (const avro_internal::Interrupted& i) {
    // the new entry is freed on the way out; whatever id had before stays
    std::rethrow_exception(i.original);
  } catch (const std::exception& ex) {
    impl_->last = nullptr;
    impl_->schemas.erase(id);
    return std::string("cannot add the Avro schema: ") + ex.what();
  } catch (...) {
    impl_->last = nullptr;
    impl_->schemas.erase(id);
    return "cannot add the Avro schema";
  }
}

bool AvroDecoder::has_schema(int32_t id) const { return impl_->schemas.count(id) != 0; }

void AvroDecoder::set_max_event_bytes(size_t n) { impl_->max_event_bytes = n; }

void AvroDecoder::release_memory() { impl_->release_memory(); }

void AvroDecoder::decode(std::string_view message, AvroFraming framing, int32_t raw_schema_id, EventBatch* out) {
  Event* ev = nullptr;
  try {
    out->events.emplace_back();
    ev = &out->events.back();
    impl_->decode(message, framing, raw_schema_id, out, ev);
  } catch (const avro_internal::Interrupted& i) {
    out->events.pop_back();  // no half-decoded Event is left behind
    std::rethrow_exception(i.original);
  } catch (...) {
    if (!ev) return;  // nothing could be appended
    try {
      ev->fields.clear();
      ev->values.clear();
      ev->error = "out of memory while decoding an Avro message";
      ev->raw = out->arena.copy(message);
    } catch (...) {
    }
  }
}

namespace {

// The Avro type (JSON) of a non-null value of a column of type t.
std::string avro_type_for(const ColumnType& t) {
  std::string base;
  switch (t.cls) {
    case TypeClass::kDouble:
      base = "\"double\"";
      break;
    case TypeClass::kReal:
      base = "\"float\"";
      break;
    case TypeClass::kInt2:
    case TypeClass::kInt4:
      base = "\"int\"";
      break;
    case TypeClass::kInt8:
      base = "\"long\"";
      break;
    case TypeClass::kBool:
      base = "\"boolean\"";
      break;
    case TypeClass::kTimestamptz:
      base = R"({"type":"long","logicalType":"timestamp-micros"})";
      break;
    case TypeClass::kTimestamp:
      base = R"({"type":"long","logicalType":"local-timestamp-micros"})";
      break;
    case TypeClass::kDate:
      base = R"({"type":"int","logicalType":"date"})";
      break;
    case TypeClass::kUuid:
      base = R"({"type":"string","logicalType":"uuid"})";
      break;
    case TypeClass::kBytea:
      base = "\"bytes\"";
      break;
    case TypeClass::kJson:
      base = R"({"type":"string","logicalType":"json"})";
      break;
    case TypeClass::kNumeric: {
      // numeric(p,s) -> decimal; unconstrained numeric (and a negative or larger-than-p scale)
      // has no Avro decimal: its text
      int32_t p = t.numeric_precision, s = t.numeric_scale;
      if (p > 0 && s >= 0 && s <= p)
        base = R"({"type":"bytes","logicalType":"decimal","precision":)" + std::to_string(p) +
               ",\"scale\":" + std::to_string(s) + "}";
      else
        base = "\"string\"";
      break;
    }
    default:
      base = "\"string\"";
      break;  // text, varchar, and types Postgres checks itself
  }
  if (t.is_array) return R"({"type":"array","items":["null",)" + base + "]}";
  return base;
}

// Avro names: [A-Za-z_][A-Za-z0-9_]*, dot-separated for a namespace.
std::string avro_name(std::string_view raw) {
  std::string out;
  bool part_start = true;
  for (char ch : raw) {
    if (ch == '.' && !part_start) {
      out.push_back('.');
      part_start = true;
      continue;
    }
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || (ch >= '0' && ch <= '9');
    if (part_start && ch >= '0' && ch <= '9') out.push_back('_');
    out.push_back(ok ? ch : '_');
    part_start = false;
  }
  if (out.empty() || out.back() == '.') out.append("event");
  return out;
}

}  // namespace

std::string avro_schema_for_columns(std::string_view record_name,
                                    const std::vector<std::pair<std::string, ColumnType>>& columns) {
  std::string out = R"({"type":"record","name":)";
  append_json_string(&out, avro_name(record_name));
  out.append(R"(,"fields":[)");
  out.append(R"({"name":"_time","type":{"type":"long","logicalType":"timestamp-micros"}},)");
  out.append(R"({"name":"_user","type":["null","string"],"default":null},)");
  out.append(R"({"name":"_id","type":["null","string"],"default":null})");
  for (const auto& [name, type] : columns) {
    if (name == "_time" || name == "_user" || name == "_id" || name == "_shard_time" || name == "_shard_xid") continue;
    out.append(R"(,{"name":)");
    append_json_string(&out, name);
    out.append(R"(,"type":["null",)");
    out.append(avro_type_for(type));
    out.append(R"(],"default":null})");
  }
  out.append("]}");
  return out;
}

}  // namespace pulse
