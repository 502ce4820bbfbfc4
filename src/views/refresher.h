// Scheduled view refreshes, run by the database's scheduler (src/pg/scheduler.cc): every view
// whose last refresh (or failed attempt) is older than its refresh_every is refreshed, each in a
// transaction of its own. A failing refresh is rolled back and its error recorded in
// pulse.view_registry (last_error, last_error_at); it is tried again after refresh_every.
#pragma once

namespace pulse::views {

// Refreshes the views due now (at most 256 per call, the longest overdue first).
void refresh_due();

}  // namespace pulse::views
