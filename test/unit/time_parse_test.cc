// Unit tests of src/core/time_parse.cc: strict ISO-8601 parsing, UTC formatting and epoch
// millisecond conversion.
#include "core/time_parse.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace pulse {
namespace {

constexpr int64_t kSentinel = 0x5EED5EED5EEDLL;
constexpr int64_t kMinMicros = -62135596800000000LL;  // 0001-01-01 00:00:00 UTC
constexpr int64_t kMaxMicros = 253402300799999999LL;  // 9999-12-31 23:59:59.999999 UTC
constexpr int64_t k2024 = 1704067200000000LL;         // 2024-01-01 00:00:00 UTC

// Parses s, expecting success; returns the instant.
int64_t parse_ok(const std::string& s) {
  int64_t v = kSentinel;
  EXPECT_TRUE(parse_iso_datetime(s, &v)) << s;
  return v;
}

// Expects s to be refused and the output left untouched.
void expect_refused(const std::string& s) {
  int64_t v = kSentinel;
  EXPECT_FALSE(parse_iso_datetime(s, &v)) << s;
  EXPECT_EQ(v, kSentinel) << s;
}

TEST(ParseIsoDatetime, KnownEpochValues) {
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00Z"), k2024);
  EXPECT_EQ(parse_ok("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_ok("1970-01-01 00:00"), 0);
  EXPECT_EQ(parse_ok("1970-01-01T00:00:01Z"), 1000000);
  EXPECT_EQ(parse_ok("2023-11-14T22:13:20Z"), 1700000000000000LL);
  EXPECT_EQ(parse_ok("2024-03-01 12:34:56.789Z"), 1709296496789000LL);
  EXPECT_EQ(parse_ok("2024-02-29T23:59:59.999999Z"), 1709251199999999LL);
  EXPECT_EQ(parse_ok("2000-02-29T00:00:00Z"), 951782400000000LL);
}

TEST(ParseIsoDatetime, BeforeTheEpoch) {
  EXPECT_EQ(parse_ok("1969-12-31T23:59:59Z"), -1000000);
  EXPECT_EQ(parse_ok("1969-12-31T23:59:59.999999Z"), -1);
  EXPECT_EQ(parse_ok("1600-02-29T06:07:08.123456Z"), -11670976371876544LL);
}

TEST(ParseIsoDatetime, SeparatorsAndOptionalParts) {
  EXPECT_EQ(parse_ok("2024-01-01T00:00"), k2024);
  EXPECT_EQ(parse_ok("2024-01-01 00:00"), k2024);
  EXPECT_EQ(parse_ok("2024-01-01T00:00Z"), k2024);
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00"), k2024);  // no zone: UTC
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00z"), k2024);
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00+00"), k2024);
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00-00:00"), k2024);
  EXPECT_EQ(parse_ok("2024-01-01T13:45"), k2024 + (13 * 3600 + 45 * 60) * 1000000LL);
}

TEST(ParseIsoDatetime, OffsetsGiveTheSameInstant) {
  const std::vector<std::string> same = {"2024-01-01T05:30:00+05:30", "2024-01-01T05:30:00+0530",
                                         "2024-01-01 05:30+05:30",    "2023-12-31T16:00:00-08:00",
                                         "2023-12-31T16:00:00-0800",  "2023-12-31T16:00-08",
                                         "2024-01-01T01:00:00+01",    "2024-01-01T15:00:00+15:00",
                                         "2023-12-31T08:15-15:45",    "2023-12-31T23:00:00.000-01:00"};
  for (const std::string& s : same) EXPECT_EQ(parse_ok(s), k2024) << s;
  // Offsets also move the date across a leap day.
  EXPECT_EQ(parse_ok("2024-03-01T00:30:00+01:00"), parse_ok("2024-02-29T23:30:00Z"));
  EXPECT_EQ(parse_ok("2023-02-28T23:30:00-01:00"), parse_ok("2023-03-01T00:30:00Z"));
}

TEST(ParseIsoDatetime, FractionIsTruncatedToMicroseconds) {
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00.1Z"), k2024 + 100000);
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00.01"), k2024 + 10000);
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00.000001Z"), k2024 + 1);
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00.0000009Z"), k2024);
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00.123456789Z"), k2024 + 123456);
  EXPECT_EQ(parse_ok("2024-01-01T00:00:00.999999999+00:00"), k2024 + 999999);
  EXPECT_EQ(parse_ok("1969-12-31T23:59:59.5Z"), -500000);
}

TEST(ParseIsoDatetime, LeapYears) {
  EXPECT_EQ(parse_ok("2024-02-29T00:00Z"), parse_ok("2024-02-28T00:00Z") + 86400000000LL);
  EXPECT_EQ(parse_ok("2024-03-01T00:00Z"), parse_ok("2024-02-29T00:00Z") + 86400000000LL);
  EXPECT_EQ(parse_ok("2023-03-01T00:00Z"), parse_ok("2023-02-28T00:00Z") + 86400000000LL);
  parse_ok("2000-02-29T00:00Z");  // divisible by 400
  parse_ok("0004-02-29T00:00Z");
  parse_ok("9996-02-29T00:00Z");
  expect_refused("2023-02-29T00:00Z");
  expect_refused("1900-02-29T00:00Z");  // divisible by 100, not 400
  expect_refused("2100-02-29T00:00Z");
  expect_refused("2024-02-30T00:00Z");
}

TEST(ParseIsoDatetime, RefusesOutOfRangeFields) {
  expect_refused("2024-13-01T00:00Z");
  expect_refused("2024-00-01T00:00Z");
  expect_refused("2024-01-00T00:00Z");
  expect_refused("2024-01-32T00:00Z");
  expect_refused("2024-04-31T00:00Z");
  expect_refused("2024-06-31T00:00Z");
  expect_refused("2024-09-31T00:00Z");
  expect_refused("2024-11-31T00:00Z");
  parse_ok("2024-12-31T00:00Z");
  expect_refused("0000-01-01T00:00Z");
  expect_refused("2024-01-01T24:00Z");
  expect_refused("2024-01-01T24:00:00Z");
  expect_refused("2024-01-01T23:60Z");
  expect_refused("2024-01-01T23:59:60Z");  // leap second
  expect_refused("2024-01-01T00:00+16:00");
  expect_refused("2024-01-01T00:00-16");
  expect_refused("2024-01-01T00:00+05:60");
  expect_refused("2024-01-01T00:00+99:99");
  parse_ok("2024-01-01T23:59:59.999999Z");
}

TEST(ParseIsoDatetime, RefusesLooseSyntax) {
  expect_refused("");
  expect_refused("2024-1-05T00:00Z");
  expect_refused("2024-01-5T00:00Z");
  expect_refused("24-01-05T00:00Z");
  expect_refused("+2024-01-05T00:00Z");
  expect_refused("02024-01-05T00:00Z");
  expect_refused("2024/01/05T00:00Z");
  expect_refused("20240105T000000Z");
  expect_refused("2024-01-05");  // a date is not a datetime
  expect_refused("2024-01-05T");
  expect_refused("2024-01-05T12");  // minutes required
  expect_refused("2024-01-05T12Z");
  expect_refused("2024-01-05T1:00Z");
  expect_refused("2024-01-05T12:0Z");
  expect_refused("2024-01-05T12:00:0Z");
  expect_refused("2024-01-05t12:00Z");  // only 'T' or ' '
  expect_refused("2024-01-05  12:00Z");
  expect_refused("2024-01-05_12:00");
  expect_refused(" 2024-01-05T12:00Z");
  expect_refused("2024-01-05T12:00Z ");
  expect_refused("2024-01-05T12:00ZZ");
  expect_refused("2024-01-05T12:00UTC");
  expect_refused("2024-01-05T12:00:00+05:30x");
  expect_refused("2024-01-05T12:00:00+05:3");
  expect_refused("2024-01-05T12:00:00+05:");
  expect_refused("2024-01-05T12:00:00+053");
  expect_refused("2024-01-05T12:00:00+5");
  expect_refused("2024-01-05T12:00:00+");
  expect_refused("2024-01-05T12:00:00+05:30:00");
  expect_refused("2024-01-05T12:00:00.");  // fraction needs a digit
  expect_refused("2024-01-05T12:00:00.Z");
  expect_refused("2024-01-05T12:00.5Z");  // fraction only after seconds
  expect_refused("2024-01-05T12:00:00,5Z");
  expect_refused("2024-01-05T12:00:00.1234567890Z");  // 10 fraction digits
  expect_refused("2024-01-05T12:00:00.1234567890");
  expect_refused(std::string("2024-01-05T12:00Z\0", 18));
  expect_refused(
      "\xEF\xBC\x92"
      "024-01-05T12:00Z");  // full-width digit
}

TEST(ParseIsoDatetime, RangeIsYearsOneToNineThousandNineHundredNinetyNine) {
  EXPECT_EQ(parse_ok("0001-01-01T00:00:00Z"), kMinMicros);
  EXPECT_EQ(parse_ok("9999-12-31T23:59:59.999999Z"), kMaxMicros);
  EXPECT_EQ(parse_ok("0001-01-01T00:00:00-01:00"), kMinMicros + 3600000000LL);
  EXPECT_EQ(parse_ok("9999-12-31T23:00:00+01:00"), kMaxMicros - 3599999999LL - 3600000000LL);
  // The instant itself must stay inside years 1..9999 UTC.
  expect_refused("0001-01-01T00:00:00+01:00");
  expect_refused("9999-12-31T23:00:00-01:00");
}

TEST(ParseIsoDate, KnownValues) {
  struct Case {
    const char* text;
    int32_t days;
  };
  const Case cases[] = {{"1970-01-01", 0},       {"1970-01-02", 1},      {"1969-12-31", -1},
                        {"2000-03-01", 11017},   {"1900-03-01", -25508}, {"0001-01-01", -719162},
                        {"9999-12-31", 2932896}, {"2024-01-01", 19723}};
  for (const Case& c : cases) {
    int32_t d = -12345;
    EXPECT_TRUE(parse_iso_date(c.text, &d)) << c.text;
    EXPECT_EQ(d, c.days) << c.text;
  }
}

TEST(ParseIsoDate, Refusals) {
  for (const char* s :
       {"", "2024-01-01T00:00", "2024-01-01 ", " 2024-01-01", "2024-1-01", "20240101", "2023-02-29", "1900-02-29",
        "2024-02-30", "2024-13-01", "2024-00-10", "2024-01-00", "0000-12-31", "2024-01-01Z", "2024-01-1x"}) {
    int32_t d = -12345;
    EXPECT_FALSE(parse_iso_date(s, &d)) << s;
    EXPECT_EQ(d, -12345) << s;
  }
  int32_t d = 0;
  EXPECT_TRUE(parse_iso_date("2024-02-29", &d));
  EXPECT_TRUE(parse_iso_date("2000-02-29", &d));
}

// Walks every calendar day of years 1..9999 with a plain day counter and checks that the
// arithmetic of parse_iso_date agrees, that datetime midnight agrees with the date, and
// that the formatter prints the same day back.
TEST(ParseIsoDate, EveryDayOfTheCalendar) {
  const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int32_t expected = -719162;  // 0001-01-01
  char buf[40];
  for (int y = 1; y <= 9999; ++y) {
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    for (int m = 1; m <= 12; ++m) {
      const int last = kDays[m - 1] + (m == 2 && leap ? 1 : 0);
      for (int d = 1; d <= last; ++d, ++expected) {
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
        int32_t got = 0;
        ASSERT_TRUE(parse_iso_date(buf, &got)) << buf;
        ASSERT_EQ(got, expected) << buf;
        if (d == 1 || d == last) {
          const int64_t micros = parse_ok(std::string(buf) + "T00:00Z");
          ASSERT_EQ(micros, int64_t{expected} * 86400000000LL) << buf;
          ASSERT_EQ(format_timestamp_utc(micros), std::string(buf) + " 00:00:00.000000+00");
        }
      }
      // The day after the last one of the month does not exist.
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, last + 1);
      int32_t got = 0;
      ASSERT_FALSE(parse_iso_date(buf, &got)) << buf;
    }
  }
  EXPECT_EQ(expected, 2932897);  // one past 9999-12-31
}

TEST(FormatTimestampUtc, KnownValues) {
  EXPECT_EQ(format_timestamp_utc(0), "1970-01-01 00:00:00.000000+00");
  EXPECT_EQ(format_timestamp_utc(1709296496789000LL), "2024-03-01 12:34:56.789000+00");
  EXPECT_EQ(format_timestamp_utc(k2024), "2024-01-01 00:00:00.000000+00");
  EXPECT_EQ(format_timestamp_utc(1709251199999999LL), "2024-02-29 23:59:59.999999+00");
  EXPECT_EQ(format_timestamp_utc(kMinMicros), "0001-01-01 00:00:00.000000+00");
  EXPECT_EQ(format_timestamp_utc(kMaxMicros), "9999-12-31 23:59:59.999999+00");
  EXPECT_EQ(format_timestamp_utc(1), "1970-01-01 00:00:00.000001+00");
}

TEST(FormatTimestampUtc, NegativeValuesUseFloorDivision) {
  EXPECT_EQ(format_timestamp_utc(-1), "1969-12-31 23:59:59.999999+00");
  EXPECT_EQ(format_timestamp_utc(-1000000), "1969-12-31 23:59:59.000000+00");
  EXPECT_EQ(format_timestamp_utc(-86400000000LL), "1969-12-31 00:00:00.000000+00");
  EXPECT_EQ(format_timestamp_utc(-86400000001LL), "1969-12-30 23:59:59.999999+00");
  EXPECT_EQ(format_timestamp_utc(-11670976371876544LL), "1600-02-29 06:07:08.123456+00");
  EXPECT_EQ(format_timestamp_utc(-500000), "1969-12-31 23:59:59.500000+00");
}

TEST(FormatTimestampUtc, OutOfRangeInputsDoNotCrash) {
  for (int64_t v :
       {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), kMinMicros - 1, kMaxMicros + 1}) {
    const std::string s = format_timestamp_utc(v);
    EXPECT_GE(s.size(), 29u) << v;
    EXPECT_EQ(s.substr(s.size() - 3), "+00") << v;
  }
  EXPECT_EQ(format_timestamp_utc(kMaxMicros + 1), "10000-01-01 00:00:00.000000+00");
  EXPECT_EQ(format_timestamp_utc(kMinMicros - 1), "0000-12-31 23:59:59.999999+00");
}

TEST(FormatTimestampUtc, RoundTripsThroughTheParser) {
  // A deterministic spread of instants over the whole range, including sub-second parts.
  uint64_t state = 0x9E3779B97F4A7C15ULL;
  const uint64_t span = static_cast<uint64_t>(kMaxMicros - kMinMicros) + 1;
  std::vector<int64_t> values = {kMinMicros, kMaxMicros, -1, 0, 1, k2024, -11670976371876544LL};
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    values.push_back(kMinMicros + static_cast<int64_t>((state >> 1) % span));
  }
  for (int64_t v : values) {
    const std::string text = format_timestamp_utc(v);
    ASSERT_EQ(text.size(), 29u) << v;
    int64_t back = kSentinel;
    ASSERT_TRUE(parse_iso_datetime(text, &back)) << text;
    ASSERT_EQ(back, v) << text;
  }
}

TEST(EpochMillisToMicros, KnownValues) {
  int64_t v = kSentinel;
  ASSERT_TRUE(epoch_millis_to_micros(1700000000000.0, &v));
  EXPECT_EQ(v, 1700000000000000LL);
  ASSERT_TRUE(epoch_millis_to_micros(1704067200000.0, &v));
  EXPECT_EQ(v, k2024);
  ASSERT_TRUE(epoch_millis_to_micros(0.0, &v));
  EXPECT_EQ(v, 0);
  ASSERT_TRUE(epoch_millis_to_micros(-0.0, &v));
  EXPECT_EQ(v, 0);
  ASSERT_TRUE(epoch_millis_to_micros(-1.0, &v));
  EXPECT_EQ(v, -1000);
  ASSERT_TRUE(epoch_millis_to_micros(-11670976371876.544, &v));
  EXPECT_EQ(format_timestamp_utc(v).substr(0, 23), "1600-02-29 06:07:08.123");
}

TEST(EpochMillisToMicros, FractionsFloorToMicroseconds) {
  int64_t v = kSentinel;
  ASSERT_TRUE(epoch_millis_to_micros(1.5, &v));
  EXPECT_EQ(v, 1500);
  ASSERT_TRUE(epoch_millis_to_micros(0.0625, &v));  // 62.5 us
  EXPECT_EQ(v, 62);
  ASSERT_TRUE(epoch_millis_to_micros(-0.5, &v));
  EXPECT_EQ(v, -500);
  ASSERT_TRUE(epoch_millis_to_micros(-1.25, &v));
  EXPECT_EQ(v, -1250);
  ASSERT_TRUE(epoch_millis_to_micros(-0.0625, &v));  // -62.5 us
  EXPECT_EQ(v, -63);
}

TEST(EpochMillisToMicros, LargeValuesStayExact) {
  // 253402300799999 ms * 1000 is beyond 2^53: a naive double multiply would round.
  int64_t v = kSentinel;
  ASSERT_TRUE(epoch_millis_to_micros(253402300799999.0, &v));
  EXPECT_EQ(v, kMaxMicros - 999);
  ASSERT_TRUE(epoch_millis_to_micros(253402300799999.5, &v));
  EXPECT_EQ(v, kMaxMicros - 499);
  ASSERT_TRUE(epoch_millis_to_micros(-62135596800000.0, &v));
  EXPECT_EQ(v, kMinMicros);
  ASSERT_TRUE(epoch_millis_to_micros(-62135596799999.0, &v));
  EXPECT_EQ(v, kMinMicros + 1000);
}

TEST(EpochMillisToMicros, Refusals) {
  const double inf = std::numeric_limits<double>::infinity();
  for (double ms : {std::nan(""), inf, -inf, 253402300800000.0, -62135596800001.0, -62135596800000.5, 1e300, -1e300,
                    std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest()}) {
    int64_t v = kSentinel;
    EXPECT_FALSE(epoch_millis_to_micros(ms, &v)) << ms;
    EXPECT_EQ(v, kSentinel) << ms;
  }
}

}  // namespace
}  // namespace pulse
