// The scheduler's view duty (see refresher.h): refreshes the views that are due, one
// transaction each, recording failures in the view's row and the job history.
#include "views/refresher.h"

#include <string>
#include <vector>

#include "pg/bgworker.h"
#include "pg/gucs.h"
#include "pg/jobs.h"
#include "pg/spi.h"

extern "C" {
#include "pgstat.h"
#include "utils/ps_status.h"
#include "utils/builtins.h"
}

namespace pulse::views {

namespace {

struct DueView {
  int32 id;
  std::string label;  // project.name
};

// The views due now, oldest refresh first.
std::vector<DueView> read_due() {
  std::vector<DueView> due;
  pg::in_transaction("pg_pulse scheduler: reading due views", [&] {
    auto col = pg::spi_column(
        "SELECT id || ' ' || project || '.' || name FROM pulse.view_registry"
        " WHERE greatest(last_refresh, last_error_at) IS NULL"
        "    OR greatest(last_refresh, last_error_at) + refresh_every <= pg_catalog.clock_timestamp()"
        " ORDER BY greatest(last_refresh, last_error_at) NULLS FIRST LIMIT 256");
    for (auto& v : col)
      if (v) {
        size_t sp = v->find(' ');
        due.push_back(DueView{std::stoi(v->substr(0, sp)), v->substr(sp + 1)});
      }
  });
  return due;
}

}  // namespace

void refresh_due() {
  for (const DueView& view : read_due()) {
    int32 id = view.id;
    pg::worker_check_interrupts();
    std::string error;
    TimestampTz started = GetCurrentTimestamp();
    // pg_stat_activity and the process title name the view being refreshed
    std::string activity = "pg_pulse scheduler: refreshing view " + view.label;
    std::string title = "refreshing " + view.label;
    pg::call([&] { set_ps_display(title.c_str()); });
    // bounded by pulse.refresh_timeout (a worker's statements get no statement_timeout): a
    // writer's query that sleeps would otherwise hold every duty of the scheduler
    try {
      pg::in_transaction(activity.c_str(), [&] {
        pg::StatementTimeout bound(pulse_refresh_timeout_ms);
        pg::spi_exec("SELECT pulse.refresh_view(project, name) FROM pulse.view_registry WHERE id = $1",
                     {pg::Arg::int4(id)});
      });
    } catch (pg::PgError& e) {
      // termination and shutdown end the scheduler; any other failure is this view's
      if (ERRCODE_TO_CATEGORY(e.sqlerrcode()) == ERRCODE_OPERATOR_INTERVENTION &&
          e.sqlerrcode() != ERRCODE_QUERY_CANCELED)
        throw;
      error = e.what();
    } catch (Error& e) {
      error = e.what();
    }
    pg::call([] { set_ps_display(""); });
    if (error.empty()) continue;
    error = pg::clip_message(error);
    std::string project, name;
    pg::in_transaction("pg_pulse scheduler: recording a refresh error", [&] {
      pg::spi_exec(
          "UPDATE pulse.view_registry SET last_error = $2, last_error_at = pg_catalog.clock_timestamp() WHERE id = $1"
          " RETURNING project, name",
          {pg::Arg::int4(id), pg::Arg::text(error)});
      pg::call([&] {
        if (SPI_processed == 0) return;
        char* p = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        char* n = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
        project = p ? p : "";
        name = n ? n : "";
      });
      if (!project.empty()) pg::record_job({"refresh", project, name, started, -1, false, error});
    });
    // one line per failed refresh: a view is retried after its refresh_every
    if (!project.empty())
      pg::call([&] {
        ereport(WARNING,
                (errmsg("pg_pulse: refresh of view %s.%s failed: %.500s", project.c_str(), name.c_str(), error.c_str()),
                 errhint("pulse.views and pulse.job_history show the error; it is retried after the "
                         "view's refresh_every.")));
      });
  }
}

}  // namespace pulse::views
