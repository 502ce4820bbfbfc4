// Scheduled view refreshes, run by the database's scheduler (src/pg/scheduler.cc): every view
// whose last refresh (or failed attempt) is older than its refresh_every is refreshed, each in a
// transaction of its own. A failing refresh is rolled back and its error recorded in
// pulse.view_registry (last_error, last_error_at); it is tried again after refresh_every.
#pragma once

namespace pulse::views {

// Refreshes the views due now (at most 256 per call): projects take turns, each project's
// longest overdue first, and once a project's refreshes have taken a second of the call its
// other due views wait for the next call. Returns true when some were left for the next call.
bool refresh_due();

}  // namespace pulse::views
