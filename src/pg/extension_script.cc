// pulse._outside_extension_script(sql text): for pg_pulse's own upgrade scripts only. Postgres
// makes every object created while an extension script runs a member of the extension, and
// records every GRANT made then as the object's initial privilege (pg_init_privs), which
// pg_dump leaves out. Project objects an upgrade rebuilds (views' hidden objects, project
// grants) must stay ordinary objects, dumped and restored like the ones made at run time: this
// runs sql with the extension-script state switched off, and refuses to run anywhere else.
#include <string>

#include "pg/spi.h"

extern "C" {
#include "commands/extension.h"
#include "miscadmin.h"
}

namespace pulse::pg {
namespace {

// Switches the extension-script state off for its lifetime.
class OutsideExtensionScript {
 public:
  OutsideExtensionScript() : creating_(creating_extension), extension_(CurrentExtensionObject) {
    creating_extension = false;
    CurrentExtensionObject = InvalidOid;
  }
  ~OutsideExtensionScript() {
    creating_extension = creating_;
    CurrentExtensionObject = extension_;
  }
  OutsideExtensionScript(const OutsideExtensionScript&) = delete;
  OutsideExtensionScript& operator=(const OutsideExtensionScript&) = delete;

 private:
  bool creating_;
  Oid extension_;
};

}  // namespace

PULSE_SQL_FUNCTION(pulse_outside_extension_script) {
  std::string sql = pg::require_text(fcinfo, 0, "sql");
  Oid pulse_extension = InvalidOid;
  pg::call([&] { pulse_extension = get_extension_oid("pg_pulse", true); });
  if (!creating_extension || !OidIsValid(pulse_extension) || CurrentExtensionObject != pulse_extension || !superuser())
    throw Error(sqlstate::kObjectNotInPrerequisiteState,
                "pulse._outside_extension_script runs only inside pg_pulse's own extension scripts");
  OutsideExtensionScript outside;
  pg::spi_connect();
  pg::spi_exec(sql);
  pg::spi_finish();
  PG_RETURN_VOID();
}

}  // namespace pulse::pg
