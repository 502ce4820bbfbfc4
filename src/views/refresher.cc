#include "views/refresher.h"

#include <string>
#include <vector>

#include "pg/bgworker.h"
#include "pg/spi.h"

extern "C" {
#include "pgstat.h"
#include "utils/builtins.h"
}

namespace pulse::views {

namespace {

// Ids of the views due now, oldest refresh first.
std::vector<int32> read_due() {
  std::vector<int32> ids;
  pg::in_transaction("pg_pulse scheduler: reading due views", [&] {
    auto col = pg::spi_column(
        "SELECT id FROM pulse.view_registry"
        " WHERE greatest(last_refresh, last_error_at) IS NULL"
        "    OR greatest(last_refresh, last_error_at) + refresh_every <= pg_catalog.clock_timestamp()"
        " ORDER BY greatest(last_refresh, last_error_at) NULLS FIRST LIMIT 256");
    for (auto& v : col)
      if (v) ids.push_back(std::stoi(*v));
  });
  return ids;
}

}  // namespace

void refresh_due() {
  for (int32 id : read_due()) {
    pg::worker_check_interrupts();
    std::string error;
    try {
      pg::in_transaction("pg_pulse scheduler: refreshing a view", [&] {
        pg::spi_exec("SELECT pulse.refresh_view(project, name) FROM pulse.view_registry WHERE id = $1",
                     {pg::Arg::int4(id)});
      });
    } catch (pg::PgError& e) {
      if (pg::is_abort_error(e.sqlerrcode()) && e.sqlerrcode() != ERRCODE_QUERY_CANCELED &&
          e.sqlerrcode() != ERRCODE_LOCK_NOT_AVAILABLE && e.sqlerrcode() != ERRCODE_T_R_DEADLOCK_DETECTED &&
          e.sqlerrcode() != ERRCODE_T_R_SERIALIZATION_FAILURE)
        throw;
      error = e.what();
    } catch (Error& e) {
      error = e.what();
    }
    if (error.empty()) continue;
    if (error.size() > 2000) error.resize(2000);
    pg::in_transaction("pg_pulse scheduler: recording a refresh error", [&] {
      pg::spi_exec(
          "UPDATE pulse.view_registry SET last_error = $2, last_error_at = pg_catalog.clock_timestamp() WHERE id = $1",
          {pg::Arg::int4(id), pg::Arg::text(error)});
    });
  }
}

}  // namespace pulse::views
