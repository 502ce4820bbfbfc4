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

// Memory-level parallelism for a pass over some of a batch's events (indexes into
// EventBatch::events, visited in turn): each event's fields and values are heap blocks of their
// own, and a pass that reads them waits on a cache miss or two per event (the first load of an
// event's field was 60 % of build_copy_rows on enriched events). Call with the index i of the
// event about to be visited: asks for the blocks of the event kAhead places on, and for the
// event itself twice as far. spare: also for the room reserved after the fields and values
// (a pass that appends fields, core/enrich.h).
inline void prefetch_events_ahead(const EventBatch& batch, const std::vector<uint32_t>& events, size_t i,
                                  bool spare = false) {
  constexpr size_t kAhead = 4, kBytes = 512;
  if (i + 2 * kAhead < events.size()) __builtin_prefetch(&batch.events[events[i + 2 * kAhead]]);
  if (i + kAhead >= events.size()) return;
  const Event& ev = batch.events[events[i + kAhead]];
  const char* f = reinterpret_cast<const char*>(ev.fields.data());
  const char* v = reinterpret_cast<const char*>(ev.values.data());
  size_t fb = ev.fields.size() * sizeof(Field), vb = ev.values.size() * sizeof(Value);
  for (size_t b = 0; b < fb && b < kBytes; b += 64) __builtin_prefetch(f + b);
  for (size_t b = 0; b < vb && b < kBytes; b += 64) __builtin_prefetch(v + b);
  if (!spare) return;
  size_t fc = ev.fields.capacity() * sizeof(Field), vc = ev.values.capacity() * sizeof(Value);
  for (size_t b = fb; b < fc && b < fb + kBytes; b += 64) __builtin_prefetch(f + b, 1);
  for (size_t b = vb; b < vc && b < vb + kBytes; b += 64) __builtin_prefetch(v + b, 1);
}

}  // namespace pulse
