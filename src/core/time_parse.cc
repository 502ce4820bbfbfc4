// Strict ISO-8601 parsing (see time_parse.h).
#include "core/time_parse.h"

#include <cmath>

namespace pulse {

namespace {

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil:
// 400-year eras starting on March 1st so the leap day is the last day of the year).
constexpr int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                    // [0, 399]
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + doe - 719468;
}

// Inverse of days_from_civil for any int64 day count that fits the arithmetic.
void civil_from_days(int64_t z, int64_t* y, int* m, int* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2 ? 1 : 0);
}

// The instants format_timestamp_utc can print: 0001-01-01 00:00:00 .. 9999-12-31 23:59:59.999999.
constexpr int64_t kMinMicros = days_from_civil(1, 1, 1) * kMicrosPerDay;
constexpr int64_t kMaxMicros = days_from_civil(10000, 1, 1) * kMicrosPerDay - 1;
static_assert(kMinMicros == -62135596800000000LL, "0001-01-01 epoch value");
static_assert(kMaxMicros == 253402300799999999LL, "9999-12-31 epoch value");

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly n ASCII digits at s[pos..pos+n) into *out; false when any is missing.
inline bool read_digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

constexpr bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Days in month m (1..12) of year y.
inline int days_in_month(int y, int m) {
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Parses the YYYY-MM-DD at the start of s (zero-padded, years 1..9999, real calendar date)
// into days since the epoch.
bool parse_date_prefix(std::string_view s, int64_t* days) {
  int y, m, d;
  if (s.size() < 10 || !read_digits(s, 0, 4, &y) || s[4] != '-' || !read_digits(s, 5, 2, &m) || s[7] != '-' ||
      !read_digits(s, 8, 2, &d)) {
    return false;
  }
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return false;
  *days = days_from_civil(y, m, d);
  return true;
}

// Writes value as exactly `width` decimal digits (zero-padded; value must fit).
inline char* put_digits(char* p, int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return p + width;
}

}  // namespace

// See time_parse.h. No allocation, no locale: a fixed-position scan. The resulting instant
// must also lie in years 1..9999 UTC (an offset can push "0001-01-01T00:00+01" before it),
// so every accepted value can be printed back by format_timestamp_utc.
bool parse_iso_datetime(std::string_view s, int64_t* micros_since_epoch) {
  int64_t days;
  if (!parse_date_prefix(s, &days)) return false;
  if (s.size() < 16 || (s[10] != 'T' && s[10] != ' ')) return false;
  int hh, mi, ss = 0;
  if (!read_digits(s, 11, 2, &hh) || s[13] != ':' || !read_digits(s, 14, 2, &mi)) return false;
  if (hh > 23 || mi > 59) return false;
  size_t pos = 16;
  int64_t fraction_us = 0;
  if (pos < s.size() && s[pos] == ':') {
    if (!read_digits(s, pos + 1, 2, &ss) || ss > 59) return false;
    pos += 3;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      size_t ndigits = 0;
      while (pos < s.size() && is_digit(s[pos]) && ndigits < 9) {
        if (ndigits < 6) fraction_us = fraction_us * 10 + (s[pos] - '0');
        ++ndigits;
        ++pos;
      }
      if (ndigits == 0) return false;
      for (size_t i = ndigits; i < 6; ++i) fraction_us *= 10;
      // A 10th digit is not consumed and is refused below as trailing garbage.
    }
  }
  int64_t offset_seconds = 0;
  if (pos < s.size()) {
    const char z = s[pos];
    if (z == 'Z' || z == 'z') {
      ++pos;
    } else if (z == '+' || z == '-') {
      int oh, om = 0;
      if (!read_digits(s, pos + 1, 2, &oh)) return false;
      pos += 3;
      if (pos < s.size()) {
        if (s[pos] == ':') ++pos;
        if (!read_digits(s, pos, 2, &om)) return false;
        pos += 2;
      }
      if (oh > 15 || om > 59) return false;
      offset_seconds = (oh * 3600 + om * 60) * (z == '-' ? -1 : 1);
    } else {
      return false;
    }
  }
  if (pos != s.size()) return false;
  const int64_t local_seconds = days * 86400 + hh * 3600 + mi * 60 + ss;
  const int64_t micros = (local_seconds - offset_seconds) * kMicrosPerSecond + fraction_us;
  if (micros < kMinMicros || micros > kMaxMicros) return false;
  *micros_since_epoch = micros;
  return true;
}

// See time_parse.h: exactly ten characters, nothing before or after.
bool parse_iso_date(std::string_view s, int32_t* days_since_epoch) {
  int64_t days;
  if (s.size() != 10 || !parse_date_prefix(s, &days)) return false;
  *days_since_epoch = static_cast<int32_t>(days);  // years 1..9999 fit easily
  return true;
}

// See time_parse.h. Floor division keeps instants before 1970 on the right day
// (-1 us is 1969-12-31 23:59:59.999999). Outside years 1..9999 the output is not
// meaningful but stays well defined (the year is printed with a sign or extra digits).
std::string format_timestamp_utc(int64_t micros_since_epoch) {
  int64_t days = micros_since_epoch / kMicrosPerDay;
  int64_t rem = micros_since_epoch % kMicrosPerDay;
  if (rem < 0) {
    rem += kMicrosPerDay;
    --days;
  }
  int64_t year;
  int month, day;
  civil_from_days(days, &year, &month, &day);
  const int64_t secs = rem / kMicrosPerSecond;
  const int64_t frac = rem % kMicrosPerSecond;

  char buf[48];
  char* p = buf;
  if (year >= 0 && year <= 9999) {
    p = put_digits(p, year, 4);
  } else {
    // Unreachable for documented inputs: print every digit so nothing is silently wrong.
    uint64_t mag = year < 0 ? 0 - static_cast<uint64_t>(year) : static_cast<uint64_t>(year);
    if (year < 0) *p++ = '-';
    char tmp[24];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + mag % 10);
      mag /= 10;
    } while (mag != 0);
    while (n > 0) *p++ = tmp[--n];
  }
  *p++ = '-';
  p = put_digits(p, month, 2);
  *p++ = '-';
  p = put_digits(p, day, 2);
  *p++ = ' ';
  p = put_digits(p, secs / 3600, 2);
  *p++ = ':';
  p = put_digits(p, secs / 60 % 60, 2);
  *p++ = ':';
  p = put_digits(p, secs % 60, 2);
  *p++ = '.';
  p = put_digits(p, frac, 6);
  *p++ = '+';
  *p++ = '0';
  *p++ = '0';
  return std::string(buf, static_cast<size_t>(p - buf));
}

// See time_parse.h. NaN and infinities are refused. A fraction of a millisecond becomes
// whole microseconds rounded toward negative infinity (1.0015 ms -> 1001 us, -0.0005 ms ->
// -1 us). The integral and fractional parts are split first so that large values keep
// their exact millisecond count (millis * 1000 would exceed 2^53 and round).
bool epoch_millis_to_micros(double millis, int64_t* micros_since_epoch) {
  if (!std::isfinite(millis)) return false;
  // Reject on the double first so the conversions below are well defined.
  if (millis < static_cast<double>(kMinMicros / 1000) || millis >= static_cast<double>((kMaxMicros + 1) / 1000)) {
    return false;
  }
  const double whole = std::floor(millis);
  const double part = millis - whole;  // exact, in [0, 1)
  int64_t sub_ms = static_cast<int64_t>(std::floor(part * 1000.0));
  if (sub_ms > 999) sub_ms = 999;
  const int64_t micros = static_cast<int64_t>(whole) * 1000 + sub_ms;
  if (micros < kMinMicros || micros > kMaxMicros) return false;
  *micros_since_epoch = micros;
  return true;
}

int64_t days_from_date(int64_t year, int month, int day) { return days_from_civil(year, month, day); }

void date_from_days(int64_t days, int64_t* year, int* month, int* day) { civil_from_days(days, year, month, day); }

}  // namespace pulse
