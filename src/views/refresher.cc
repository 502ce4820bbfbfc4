// The scheduler's view duty (see refresher.h): refreshes the views that are due, one
// transaction each, recording failures in the view's row and the job history.
#include "views/refresher.h"

#include <algorithm>
#include <map>
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
  std::string project;
  std::string label;  // project.name
};

// A project's refreshes take at most about this much of a round while other projects' views
// wait (one refresh always runs: pulse.refresh_timeout bounds it).
constexpr long kProjectShareMs = 1000;

// The projects whose due views the previous round left for this one: they come after the
// other projects in each turn.
std::vector<std::string> g_deferred;

// The views due now: each project's longest overdue first, then its second, ... (projects take
// turns, so one project's many views do not queue ahead of every other project's; in a turn, a
// project that used its share of the previous round comes last).
std::vector<DueView> read_due() {
  std::vector<DueView> due;
  std::string deferred;  // project names are a-z, 0-9 and _: a comma separates them
  for (const std::string& p : g_deferred) deferred += (deferred.empty() ? "" : ",") + p;
  pg::in_transaction("pg_pulse scheduler: reading due views", [&] {
    auto col = pg::spi_column(
        "SELECT id || ' ' || project || '.' || name FROM ("
        "  SELECT id, project, name, greatest(last_refresh, last_error_at) AS since,"
        "         pg_catalog.row_number() OVER (PARTITION BY project"
        "                                      ORDER BY greatest(last_refresh, last_error_at) NULLS FIRST, id) AS turn"
        "  FROM pulse.view_registry"
        "  WHERE greatest(last_refresh, last_error_at) IS NULL"
        "     OR greatest(last_refresh, last_error_at) + refresh_every <= pg_catalog.clock_timestamp()) d"
        " ORDER BY turn, project = ANY (pg_catalog.string_to_array($1, ',')), since NULLS FIRST, id LIMIT 256",
        {pg::Arg::text(deferred)});
    for (auto& v : col)
      if (v) {
        size_t sp = v->find(' ');
        std::string label = v->substr(sp + 1);
        due.push_back(DueView{std::stoi(v->substr(0, sp)), label.substr(0, label.find('.')), label});
      }
  });
  return due;
}

}  // namespace

bool refresh_due() {
  std::map<std::string, long> spent_ms;  // per project, this round
  std::vector<DueView> due = read_due();
  g_deferred.clear();
  for (const DueView& view : due) {
    int32 id = view.id;
    pg::worker_check_interrupts();
    long& spent = spent_ms[view.project];
    if (spent >= kProjectShareMs) {  // its share of the round is used: the next round goes on
      if (std::find(g_deferred.begin(), g_deferred.end(), view.project) == g_deferred.end())
        g_deferred.push_back(view.project);
      continue;
    }
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
    {
      long secs = 0;
      int usecs = 0;
      TimestampDifference(started, GetCurrentTimestamp(), &secs, &usecs);
      spent += secs * 1000 + usecs / 1000;
    }
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
  return !g_deferred.empty();
}

}  // namespace pulse::views
