// Time partition ranges and names (see partition_range.h).
#include "core/partition_range.h"

#include <cstdio>

#include "core/time_parse.h"

namespace pulse {

namespace {

constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;

// Floor division (instants before 1970 belong to the earlier day).
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

// 64-bit FNV-1a of s (the same hash names.cc uses for long field names).
uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

bool parse_partition_unit(std::string_view s, PartitionUnit* unit) {
  if (s == "day")
    *unit = PartitionUnit::kDay;
  else if (s == "week")
    *unit = PartitionUnit::kWeek;
  else if (s == "month")
    *unit = PartitionUnit::kMonth;
  else if (s == "none")
    *unit = PartitionUnit::kNone;
  else
    return false;
  return true;
}

const char* partition_unit_name(PartitionUnit unit) {
  switch (unit) {
    case PartitionUnit::kDay:
      return "day";
    case PartitionUnit::kWeek:
      return "week";
    case PartitionUnit::kMonth:
      return "month";
    case PartitionUnit::kNone:
      break;
  }
  return "none";
}

PartitionRange partition_range(PartitionUnit unit, int64_t micros) {
  int64_t day = floor_div(micros, kMicrosPerDay);
  PartitionRange r;
  switch (unit) {
    case PartitionUnit::kWeek: {
      // 1970-01-01 was a Thursday: Monday is 3 days before it
      int64_t monday = day - (((day + 3) % 7) + 7) % 7;
      r.start = monday * kMicrosPerDay;
      r.end = (monday + 7) * kMicrosPerDay;
      break;
    }
    case PartitionUnit::kMonth: {
      int64_t y;
      int m, d;
      date_from_days(day, &y, &m, &d);
      r.start = days_from_date(y, m, 1) * kMicrosPerDay;
      r.end = (m == 12 ? days_from_date(y + 1, 1, 1) : days_from_date(y, m + 1, 1)) * kMicrosPerDay;
      break;
    }
    default:
      r.start = day * kMicrosPerDay;
      r.end = (day + 1) * kMicrosPerDay;
  }
  return r;
}

std::string partition_name(std::string_view collection, const PartitionRange& range) {
  int64_t y;
  int m, d;
  date_from_days(floor_div(range.start, kMicrosPerDay), &y, &m, &d);
  char suffix[32];
  snprintf(suffix, sizeof suffix, "_p%04lld%02d%02d", static_cast<long long>(y), m, d);
  std::string name(collection);
  if (name.size() + 10 > 63) {
    char h[16];
    snprintf(h, sizeof h, "_%08x", static_cast<unsigned>(fnv1a(collection)));
    name = name.substr(0, 44) + h;
  }
  return name + suffix;
}

}  // namespace pulse
