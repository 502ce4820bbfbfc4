// Identifier rules shared by every ingestion door: project names, collection names and
// event field names (docs/ingestion.md).
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <string_view>

namespace pulse {

constexpr size_t kMaxIdentifierBytes = 63;  // NAMEDATALEN - 1

// Why a project or collection name given through the API is refused; empty when valid.
// Rules: 1..63 bytes (projects: 1..56, room for the _writer / _reader roles and the _pulse_
// prefix of the internal schema) of [a-z0-9_] (caller lower-cases first), does not start with
// a digit, not pg_*, and for projects not _pulse_* nor one of public, information_schema, pulse.
std::string project_name_problem(std::string_view name);
std::string collection_name_problem(std::string_view name);

// The prefix of a project's internal schema: _pulse_<project> holds the hidden objects of the
// project's views (docs/views.md). No project name starts with it, so an internal schema is
// never a project's schema, and a valid project name gives at most 7 + 56 = 63 bytes.
constexpr std::string_view kInternalSchemaPrefix = "_pulse_";

// The (unquoted) name of project's internal schema.
std::string internal_schema_name(std::string_view project);

// ASCII lower-casing (names are compared byte-wise, never with the locale).
std::string ascii_lower(std::string_view s);

// Field-name normalisation (docs/ingestion.md):
//   camelCase -> snake_case ("userId" -> "user_id", "pageURL" -> "page_url",
//   "HTTPServer" -> "http_server"), lower-case, every character outside [a-z0-9_] -> '_'
//   (one '_' per UTF-8 code point), a leading digit gets a '_' prefix, more than 63 bytes ->
//   first 54 bytes + '_' + 8 hex digits of a 64-bit FNV-1a hash of the full normalised name,
//   so two long names never collide. An empty input gives "".
//   Postgres' system column names (tableoid, ctid, xmin, xmax, cmin, cmax) get a '_' appended
//   ("xmin" -> "xmin_"): no user column can have them.
std::string normalize_field_name(std::string_view raw);

// Collection names arriving inside events or as Kafka topic names: normalised like fields
// (a table may be named like a system column).
std::string normalize_collection_name(std::string_view raw);

// True for the names of Postgres' system columns.
bool is_system_column_name(std::string_view normalised);

enum class FieldNameClass {
  kUser,      // an ordinary field: becomes a column
  kTime,      // _time
  kUser_,     // _user
  kId,        // _id
  kReserved,  // any other name starting with '_' (e.g. _shard_time) that is not an
              // enrichment column: refused
  kEmpty,     // normalises to "": refused
};

// True for the columns the enrichers derive (docs/enrichment.md: _country_code, _browser,
// _referrer_medium, _utm_source ...): ordinary fields although they start with '_', so an
// event (or a replay) may carry them and enrichment never overwrites them.
bool is_enrichment_column(std::string_view normalised);

// Classifies a *normalised* name. A name that starts with '_' only because normalisation
// prefixed a leading digit ("_1st") is an ordinary field.
FieldNameClass classify_field_name(std::string_view normalised);

}  // namespace pulse
