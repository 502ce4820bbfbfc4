// Strict ISO-8601 parsing used for type inference and for validating values bound for
// timestamptz / date columns. Strict means: what Postgres would accept unambiguously in any
// DateStyle and nothing looser.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace pulse {

// Accepts YYYY-MM-DD('T'|' ')hh:mm[:ss[.fraction(1..9 digits)]](Z|z|(+|-)hh[:?mm])?
// Years 0001..9999; month/day/hour/minute/second ranges checked (leap years included,
// second 60 refused). Without a zone the time is taken as UTC. On success stores
// microseconds since 1970-01-01T00:00:00Z (fraction truncated to microseconds).
bool parse_iso_datetime(std::string_view s, int64_t* micros_since_epoch);

// Accepts exactly YYYY-MM-DD with a valid calendar date; stores days since 1970-01-01.
bool parse_iso_date(std::string_view s, int32_t* days_since_epoch);

// Formats microseconds since the Unix epoch as "YYYY-MM-DD hh:mm:ss.ffffff+00" (UTC), a form
// Postgres' timestamptz input reads in any DateStyle. Valid for years 1..9999.
std::string format_timestamp_utc(int64_t micros_since_epoch);

// Epoch milliseconds as sent in events (_time: 1700000000000) to microseconds, refusing
// values outside years 1..9999. Returns false when out of range.
bool epoch_millis_to_micros(double millis, int64_t* micros_since_epoch);

// Days since 1970-01-01 of a proleptic Gregorian date, and back.
int64_t days_from_date(int64_t year, int month, int day);
void date_from_days(int64_t days, int64_t* year, int* month, int* day);

}  // namespace pulse
