// The decoded form of events shared by every ingestion door (SQL JSON, Kafka JSON, Avro):
// decoders produce EventBatch, the batch builder turns it into COPY rows, rejected fields and
// dead letters. Strings live in the batch's arena so a batch outlives its parser.
#pragma once
#include "core/no_postgres.h"
#include "core/column_type.h"
#include "core/scratch.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pulse {

enum class Kind : uint8_t {
  kNull,
  kBool,
  kInt,     // fits int64
  kDouble,  // any other JSON number
  kString,
  kArray,   // elements follow in Event::values (first_child, n_children)
  kObject,  // only its JSON text is kept (goes to jsonb)
  kBytes,   // raw bytes in text (Avro bytes / fixed; goes to bytea)
};

struct Value {
  Kind kind = Kind::kNull;
  bool b = false;
  bool underflow = false;  // kDouble: a non-zero literal (kept in text) that a double rounds to 0
  int64_t i = 0;
  double d = 0;
  std::string_view text;     // kString: the unescaped string; kArray/kObject: minified JSON;
                             // kDouble with underflow: the number literal as sent
  uint32_t first_child = 0;  // kArray: index of the first element in Event::values
  uint32_t n_children = 0;
};

struct Field {
  std::string_view raw_name;  // as sent (arena)
  std::string_view name;      // normalised (arena)
  uint32_t value = 0;         // index into Event::values
  int32_t hint = -1;          // index into EventBatch::hints: the column type a schema (Avro)
                              // gives this field; -1 = infer from the value
};

struct Event {
  std::string_view collection;  // normalised collection (envelope); empty when not given
  std::string_view raw;         // the event as received (JSON text, or Avro bytes), for dead letters
  std::string_view source;      // where it came from (e.g. kafka topic/partition/offset); empty:
                                // the caller's source applies
  std::vector<Field> fields;    // top-level properties in arrival order
  std::vector<Value> values;    // fields' values and array elements
  std::string error;            // non-empty: the event is undecodable -> dead letter
};

// Bump allocator for the strings of one batch (stable addresses, freed all at once).
class Arena {
 public:
  std::string_view copy(std::string_view s);
  size_t bytes() const { return used_; }

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_size_ = 0, block_used_ = 0, used_ = 0;
};

struct EventBatch {
  // the decoded payload (plus parser padding); Event::raw may point here. A reused buffer
  // (core/scratch.h): taken on construction, given back on destruction.
  std::string source = take_scratch();
  Arena arena;
  std::deque<Event> events;
  std::vector<ColumnType> hints;  // column types a schema gives fields (Field::hint)

  EventBatch() = default;
  EventBatch(EventBatch&&) = default;
  EventBatch& operator=(EventBatch&&) = default;
  ~EventBatch() { give_scratch(std::move(source)); }
};

}  // namespace pulse
