// Time partitions of a collection: which range of _time (UTC) holds an instant, for the
// partition units pg_pulse offers (day, week starting Monday, calendar month), and the
// predictable name suffix of that range's partition.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace pulse {

enum class PartitionUnit { kNone, kDay, kWeek, kMonth };

// "day", "week", "month" -> the unit; "none" -> kNone. False for anything else.
bool parse_partition_unit(std::string_view s, PartitionUnit* unit);
const char* partition_unit_name(PartitionUnit unit);

// A half-open range [start, end) of microseconds since the Unix epoch (UTC boundaries).
struct PartitionRange {
  int64_t start = 0, end = 0;
  bool operator<(const PartitionRange& o) const { return start < o.start; }
  bool operator==(const PartitionRange& o) const { return start == o.start && end == o.end; }
};

// The range of `unit` (not kNone) that holds micros: the UTC day; the ISO week from Monday
// 00:00 UTC; the calendar month from its 1st 00:00 UTC.
PartitionRange partition_range(PartitionUnit unit, int64_t micros_since_epoch);

// The partition's table name: the collection's name (cut to 44 bytes plus a hash when the
// result would exceed 63 bytes) + "_p" + the range's first day as YYYYMMDD.
std::string partition_name(std::string_view collection, const PartitionRange& range);

}  // namespace pulse
