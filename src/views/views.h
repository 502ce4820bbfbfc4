// Materialized views (docs/views.md), split by phase like TimescaleDB's continuous aggregates:
//   create.cc        pulse.create_view: the named builders of a view's objects
//   refresh.cc       pulse.refresh_view and the refresher's refreshes: merge or rebuild
//   invalidation.cc  UPDATE / DELETE / TRUNCATE on collections, which force rebuilds
//   read.cc          the read path's helpers (pulse._view_recompute)
//   analyze.cc       the defining query's analysis (groups, aggregates, what is supported)
//   state_funcs.cc   the C state functions of mergeable aggregates
//   refresher.cc     the scheduler's duty: refreshing the views that are due
//
// Objects of a view <p>.<v>, all owned by the extension's owner (a project role owns none, so
// none can add rules, grants or code to them). Only <p>.<v> is in the project's schema; the
// hidden objects are in the project's internal schema _pulse_<p> (internal_schema_name), made
// by pulse.create_project with USAGE for the writer only: readers cannot name them, so they
// neither see them among the objects they may use nor run them (a delta from -infinity, the
// defining query) by hand.
//   _pulse_<p>._pulse_def_<v>     the defining query (deparsed, every name qualified) as a
//                                 security_invoker view that only the writer may read
//   _pulse_<p>._pulse_full_<v>()  that query evaluated in the view's pinned time zone (run as
//                                 the writer: by refreshes and by pulse._view_recompute)
//   _pulse_<p>._pulse_state_<v>   cache: the result; incremental/realtime: one row of partial
//                                 aggregate states per group (unique NULLS NOT DISTINCT on the
//                                 keys)
//   _pulse_<p>._pulse_delta_<v>(s, t, skip)  partial states of the rows with _shard_time >= t
//                                 whose top-level xid is not visible in snapshot s (and is not
//                                 skip); readers may execute it (realtime reads call it), but
//                                 only through <p>.<v>
//   _pulse_<p>._pulse_keys_<v>    realtime views with groups: the composite type of the group
//                                 keys
//   <p>.<v>                       what users read
//
// A refresh, serialised per view by an advisory lock: reads the start times of all running
// transactions (T), then takes its own snapshot S, and under S merges the delta since the
// stored (S_prev, T_prev) into the state and stores (S, T). T before S: a transaction running
// when S is taken is either in the start-time minimum or started after T was read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/names.h"
#include "pg/spi.h"

namespace pulse::views {

// The quoted, schema-qualified names of the objects of view project.name: P the project's
// schema, I its internal schema (the hidden objects').
struct Names {
  std::string P, I, view, def, full, state, delta, key, keytype;
};

inline Names names_of(const std::string& project, const std::string& name) {
  Names n;
  n.P = pg::quote_ident(project);
  n.I = pg::quote_ident(internal_schema_name(project));
  n.view = n.P + "." + pg::quote_ident(name);
  n.def = n.I + "." + pg::quote_ident("_pulse_def_" + name);
  n.full = n.I + "." + pg::quote_ident("_pulse_full_" + name);
  n.state = n.I + "." + pg::quote_ident("_pulse_state_" + name);
  n.delta = n.I + "." + pg::quote_ident("_pulse_delta_" + name);
  n.key = pg::quote_ident("_pulse_key_" + name);
  n.keytype = n.I + "." + pg::quote_ident("_pulse_keys_" + name);
  return n;
}

// Refreshes view id (SPI connected): merges what its stored snapshot has not seen, or rebuilds
// it (full, a cache view, an invalidation, another snapshot origin). Returns the groups merged
// (rows stored for rebuilds).
int64_t refresh_by_id(int32_t id, bool full, bool force = false);

// invalidation.cc: the statement trigger that records UPDATE / DELETE / TRUNCATE on collection
// project.collection (made with the collection, and again for collections older than it).
void ensure_invalidation_trigger(const std::string& project, const std::string& collection);
// Whether an UPDATE / DELETE / TRUNCATE of the collection happened that snapshot does not see.
bool invalidated_since(const std::string& project, const std::string& collection, const std::string& snapshot,
                       Snapshot under);
// Deletes the invalidations that every snapshot held now or later, and every stored snapshot
// of their collection's views, sees.
void forget_seen_invalidations(Snapshot under);

// sep-separated v
std::string join(const std::vector<std::string>& v, const std::string& sep);

}  // namespace pulse::views
