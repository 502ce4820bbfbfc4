// Partition ranges (UTC day / ISO week / month) and partition names.
#include "core/partition_range.h"

#include <gtest/gtest.h>

#include "core/time_parse.h"

namespace pulse {
namespace {

int64_t at(const char* iso) {
  int64_t us = 0;
  EXPECT_TRUE(parse_iso_datetime(iso, &us)) << iso;
  return us;
}

TEST(PartitionRange, DayWeekMonthBoundariesAreUtc) {
  PartitionRange d = partition_range(PartitionUnit::kDay, at("2024-01-31T23:59:59.999999Z"));
  EXPECT_EQ(d.start, at("2024-01-31T00:00:00Z"));
  EXPECT_EQ(d.end, at("2024-02-01T00:00:00Z"));
  // 01:00 at +02:00 is the day before in UTC
  EXPECT_EQ(partition_range(PartitionUnit::kDay, at("2024-02-01T01:00:00+02:00")).start, at("2024-01-31T00:00:00Z"));
  PartitionRange w = partition_range(PartitionUnit::kWeek, at("2024-01-31T12:00:00Z"));  // a Wednesday
  EXPECT_EQ(w.start, at("2024-01-29T00:00:00Z"));
  EXPECT_EQ(w.end, at("2024-02-05T00:00:00Z"));
  EXPECT_EQ(partition_range(PartitionUnit::kWeek, at("2024-01-29T00:00:00Z")).start, at("2024-01-29T00:00:00Z"));
  EXPECT_EQ(partition_range(PartitionUnit::kWeek, at("2024-01-28T23:59:59Z")).start, at("2024-01-22T00:00:00Z"));
  PartitionRange m = partition_range(PartitionUnit::kMonth, at("2024-02-29T10:00:00Z"));
  EXPECT_EQ(m.start, at("2024-02-01T00:00:00Z"));
  EXPECT_EQ(m.end, at("2024-03-01T00:00:00Z"));
  PartitionRange dec = partition_range(PartitionUnit::kMonth, at("2023-12-31T10:00:00Z"));
  EXPECT_EQ(dec.end, at("2024-01-01T00:00:00Z"));
  // before 1970: floor, not truncation
  EXPECT_EQ(partition_range(PartitionUnit::kDay, at("1969-12-31T12:00:00Z")).start, at("1969-12-31T00:00:00Z"));
  EXPECT_EQ(partition_range(PartitionUnit::kWeek, at("1969-12-31T12:00:00Z")).start, at("1969-12-29T00:00:00Z"));
}

TEST(PartitionRange, NamesArePredictableAndFitNamedatalen) {
  PartitionRange d = partition_range(PartitionUnit::kDay, at("2024-01-31T10:00:00Z"));
  EXPECT_EQ(partition_name("pageview", d), "pageview_p20240131");
  std::string longname(63, 'a');
  std::string other = std::string(62, 'a') + "b";
  std::string n1 = partition_name(longname, d), n2 = partition_name(other, d);
  EXPECT_LE(n1.size(), 63u);
  EXPECT_NE(n1, n2);
  EXPECT_EQ(n1.substr(n1.size() - 10), "_p20240131");
}

TEST(PartitionRange, Units) {
  PartitionUnit u;
  EXPECT_TRUE(parse_partition_unit("week", &u));
  EXPECT_EQ(u, PartitionUnit::kWeek);
  EXPECT_TRUE(parse_partition_unit("none", &u));
  EXPECT_EQ(u, PartitionUnit::kNone);
  EXPECT_FALSE(parse_partition_unit("year", &u));
  EXPECT_STREQ(partition_unit_name(PartitionUnit::kMonth), "month");
}

}  // namespace
}  // namespace pulse
