// The one exception type of pg_pulse's C++ code. The pg layer turns it into ereport(ERROR)
// with the SQLSTATE given here, always one of the sqlstate:: constants below (the one table of
// the SQLSTATEs pg_pulse raises; docs/reference.md lists them per function).
#pragma once
#include "core/no_postgres.h"

#include <stdexcept>
#include <string>

namespace pulse {

struct Error : std::runtime_error {
  std::string sqlstate, detail, hint;
  Error(std::string state, std::string message, std::string det = {}, std::string hnt = {})
      : std::runtime_error(std::move(message)),
        sqlstate(std::move(state)),
        detail(std::move(det)),
        hint(std::move(hnt)) {}
};

namespace sqlstate {
inline constexpr const char* kInvalidName = "42602";
inline constexpr const char* kInvalidParameter = "22023";
inline constexpr const char* kInvalidText = "22P02";
inline constexpr const char* kUndefinedObject = "42704";
inline constexpr const char* kUndefinedTable = "42P01";
inline constexpr const char* kDuplicateObject = "42710";
inline constexpr const char* kInsufficientPrivilege = "42501";
inline constexpr const char* kDependentObjects = "2BP01";
inline constexpr const char* kProgramLimit = "54000";
inline constexpr const char* kDatatypeMismatch = "42804";
inline constexpr const char* kLockNotAvailable = "55P03";
inline constexpr const char* kFeatureNotSupported = "0A000";
inline constexpr const char* kInternal = "XX000";
inline constexpr const char* kObjectNotInPrerequisiteState = "55000";
inline constexpr const char* kDuplicateTable = "42P07";
inline constexpr const char* kSyntaxError = "42601";
inline constexpr const char* kNullValueNotAllowed = "22004";
inline constexpr const char* kInvalidBinary = "22P03";
inline constexpr const char* kOutOfMemory = "53200";
}  // namespace sqlstate

}  // namespace pulse
