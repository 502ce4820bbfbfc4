// Refreshes (see views.h): pulse.refresh_view, the refresher's and create_view's first build.
// A refresh reads the view's registry row (named fields, ViewRow), decides merge or rebuild,
// runs the generated statements as the project's writer under one snapshot, and stores the new
// snapshot, threshold and origin.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "core/names.h"
#include "ingest/catalog.h"
#include "pg/faults.h"
#include "pg/gucs.h"
#include "pg/jobs.h"
#include "pg/progress.h"
#include "pg/trust.h"
#include "views/views.h"

extern "C" {
#include "access/brin.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/genam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_inherits.h"
#include "storage/lmgr.h"
#include "storage/bufmgr.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "partitioning/partdesc.h"
#include "storage/latch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/wait_event.h"
#include "pgstat.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace pulse::views {
namespace {

using pg::Arg;
using pg::quote_ident;

std::string timestamptz_text(TimestampTz t) {
  std::string out;
  pg::call([&] { out = DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(t))); });
  return out;
}

// Earliest start time of any running transaction (ours included), now() if none, minus
// pulse.view_margin. False when some backend does not publish its transaction start (activity
// tracking off there, or here): then the threshold must not advance.
bool running_xact_floor(TimestampTz* out) {
  bool known = pgstat_track_activities;
  if (!known) return false;
  pg::call([&] {
    TimestampTz now = GetCurrentTimestamp();
    TimestampTz floor = now;
    pgstat_clear_snapshot();
    int n = pgstat_fetch_stat_numbackends();
    for (int i = 1; i <= n; i++) {
      LocalPgBackendStatus* l = pgstat_fetch_stat_local_beentry(i);
      if (!l) continue;
      const PgBackendStatus& be = l->backendStatus;
      if (be.st_state == STATE_DISABLED && be.st_backendType == B_BACKEND) known = false;
      TimestampTz t = be.st_xact_start_timestamp;
      if (t != 0 && t < floor) floor = t;
    }
    *out = floor - int64(pulse_view_margin_ms) * 1000;
  });
  return known;
}

// snap ("xmin:xmax:xip,...") with xid marked in progress.
std::string with_in_progress(const std::string& snap, uint64_t xid) {
  size_t c1 = snap.find(':'), c2 = snap.find(':', c1 + 1);
  uint64_t xmin = std::stoull(snap.substr(0, c1)), xmax = std::stoull(snap.substr(c1 + 1, c2 - c1 - 1));
  if (xid >= xmax) return snap;
  std::vector<uint64_t> xip;
  std::string rest = snap.substr(c2 + 1);
  size_t p = 0;
  while (p < rest.size()) {
    size_t q = rest.find(',', p);
    if (q == std::string::npos) q = rest.size();
    xip.push_back(std::stoull(rest.substr(p, q - p)));
    p = q + 1;
  }
  bool present = false;
  for (uint64_t x : xip) present |= x == xid;
  if (!present) {
    xip.push_back(xid);
    std::sort(xip.begin(), xip.end());
  }
  if (xid < xmin) xmin = xid;
  std::string out = std::to_string(xmin) + ":" + std::to_string(xmax) + ":";
  for (size_t k = 0; k < xip.size(); k++) out += (k ? "," : "") + std::to_string(xip[k]);
  return out;
}

void lock_view(int32 id) { pg::lock_exclusive(uint32(id), pg::kLockView); }

// What a refresh needs of view id, read under the refresh's snapshot.
struct ViewRow {
  std::string project, name, strategy;
  std::optional<std::string> collection;       // NULL for cache views
  std::optional<std::string> snapshot;         // S of the last refresh
  std::optional<std::string> threshold;        // T of the last refresh
  std::optional<std::string> snapshot_origin;  // where S was taken
  std::optional<std::string> merge_sql;        // incremental and realtime views
  std::string rebuild_delete, rebuild_insert;
  std::string writer_role;
  int64_t rows = 0;
  std::string current_snapshot;  // pg_current_snapshot() now
  std::string current_origin;    // pulse._snapshot_origin() now
  bool prepared_xacts = false;   // prepared transactions exist (their start times are unknown)
};

// The first row of the last statement run, as text values (NULL: nullopt).
std::vector<std::optional<std::string>> first_row() {
  std::vector<std::optional<std::string>> out;
  pg::call([&] {
    if (SPI_processed == 0) return;
    for (int k = 1; k <= SPI_tuptable->tupdesc->natts; k++) {
      char* v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, k);
      out.push_back(v ? std::optional<std::string>(v) : std::nullopt);
    }
  });
  return out;
}

ViewRow load_view_row(int32 id, Snapshot snap) {
  pg::spi_exec_snapshot(
      "SELECT v.project, v.name, v.strategy, v.collection, v.snapshot::text, v.threshold::text, v.snapshot_origin,"
      " v.merge_sql, v.rebuild_sql[1], v.rebuild_sql[2], p.writer_role, v.rows::text,"
      " pg_catalog.pg_current_snapshot()::text, pulse._snapshot_origin(v.project, v.collection),"
      " EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts)::text"
      " FROM pulse.view_registry v JOIN pulse.projects p ON p.name = v.project WHERE v.id = $1",
      {Arg::int4(id)}, snap);
  auto r = first_row();
  if (r.empty()) throw Error(sqlstate::kUndefinedObject, "view " + std::to_string(id) + " does not exist");
  ViewRow v;
  v.project = *r[0];
  v.name = *r[1];
  v.strategy = *r[2];
  v.collection = r[3];
  v.snapshot = r[4];
  v.threshold = r[5];
  v.snapshot_origin = r[6];
  v.merge_sql = r[7];
  v.rebuild_delete = *r[8];
  v.rebuild_insert = *r[9];
  v.writer_role = *r[10];
  v.rows = r[11] ? std::stoll(*r[11]) : 0;
  v.current_snapshot = *r[12];
  v.current_origin = *r[13];
  v.prepared_xacts = *r[14] == "true";
  return v;
}

// Postgres makes a committed transaction visible to new snapshots (ProcArrayEndTransaction)
// before it sends its invalidation messages, and ATTACH PARTITION takes only SHARE UPDATE
// EXCLUSIVE on the collection, which does not keep a refresh out. A refresh whose snapshot
// already sees the rows of an ingestion that created a partition could plan its delta (or its
// rebuild) with the collection's partitions as this backend cached them before that commit,
// read none of the new partition's rows, and record a snapshot that says they were merged:
// they would be lost to the view for good. So every partition that snap sees attached, and
// that is still attached, must be in this backend's partition descriptor first: the
// invalidation comes moments after the commit, and is waited for (up to 5 s; then 55000, the
// refresh fails and nothing of it is kept).
void wait_for_partitions(const ViewRow& v, Snapshot snap) {
  Oid relid = InvalidOid;
  bool partitioned = false;
  pg::call([&] {
    relid = RangeVarGetRelid(makeRangeVar(pstrdup(v.project.c_str()), pstrdup(v.collection->c_str()), -1),
                             AccessShareLock, true);
    partitioned = OidIsValid(relid) && get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE;
  });
  if (!partitioned) return;
  std::string parent = std::to_string(relid);
  std::vector<Oid> seen;  // the partitions snap sees
  pg::spi_exec_snapshot("SELECT inhrelid FROM pg_catalog.pg_inherits WHERE inhparent = $1::pg_catalog.oid",
                        {Arg::text(parent)}, snap);
  pg::call([&] {
    for (uint64 r = 0; r < SPI_processed; r++) {
      bool isnull;
      Datum d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
      if (!isnull) seen.push_back(DatumGetObjectId(d));
    }
  });
  for (int attempt = 0;; attempt++) {
    std::vector<Oid> missing;
    pg::call([&] {
      AcceptInvalidationMessages();
      Relation rel = relation_open(relid, AccessShareLock);
      PartitionDesc pd = RelationGetPartitionDesc(rel, true);
      for (Oid o : seen)
        if (std::find(pd->oids, pd->oids + pd->nparts, o) == pd->oids + pd->nparts) missing.push_back(o);
      relation_close(rel, NoLock);
    });
    if (missing.empty()) return;
    // a partition detached since snap was taken is not waited for
    bool attached = false;
    for (Oid o : missing)
      attached |= pg::spi_value(
                      "SELECT 1 FROM pg_catalog.pg_inherits WHERE inhrelid = $1::pg_catalog.oid"
                      " AND inhparent = $2::pg_catalog.oid",
                      {Arg::text(std::to_string(o)), Arg::text(parent)})
                      .has_value();
    if (!attached) return;
    if (attempt >= 100)
      throw Error(sqlstate::kObjectNotInPrerequisiteState,
                  "the partitions of collection \"" + v.project + "." + *v.collection + "\" are not known here yet",
                  "A partition attached by a committed ingestion has not reached this session's cache within 5 s.",
                  "The refresh is retried by the scheduler; or run pulse.refresh_view again.");
    pg::call([] {
      (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 50, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      CHECK_FOR_INTERRUPTS();
    });
  }
}

// Restored rows keep the _shard_xid of the cluster they were written in: ids this cluster has
// not reached yet look "not merged" to every snapshot here. After a rebuild they must lie below
// the new threshold, or deltas would count them again: until the oldest running transaction is
// younger than the newest of them, the rebuild waits (reads evaluate the defining query
// meanwhile).
void check_no_foreign_rows_above(const ViewRow& v, const std::string& threshold, const std::string& snapshot,
                                 uint64_t own, Snapshot snap) {
  uint64_t n = pg::spi_exec_snapshot(
      "SELECT 1 FROM " + quote_ident(v.project) + "." + quote_ident(*v.collection) +
          " WHERE _shard_time >= $1::timestamptz"
          " AND NOT pg_catalog.pg_visible_in_snapshot(_shard_xid, $2::pg_catalog.pg_snapshot)"
          " AND ($3::pg_catalog.xid8 IS NULL OR _shard_xid <> $3::pg_catalog.xid8) LIMIT 1",
      {Arg::text(threshold), Arg::text(snapshot), own ? Arg::text(std::to_string(own)) : Arg::null_text()}, snap);
  if (n > 0)
    throw Error(sqlstate::kObjectNotInPrerequisiteState,
                "view \"" + v.project + "." + v.name +
                    "\" cannot be rebuilt yet: its collection holds rows restored from another cluster that are "
                    "newer than the oldest running transaction",
                "",
                "Refresh it again once the transactions now running have ended and pulse.view_margin has passed; "
                "until then reads evaluate its defining query.");
}

std::string seconds_text(TimestampTz from, TimestampTz to) {
  long secs;
  int usecs;
  TimestampDifference(from, to, &secs, &usecs);
  return std::to_string(secs) + "." + std::to_string(1000000 + usecs).substr(1) + " seconds";
}

}  // namespace

// Raises 55000 when retention dropped events of the view's collection (their aggregates are
// in the view's state, and a rebuild would lose them).
static void check_history_kept(const ViewRow& v, Snapshot snap) {
  pg::spi_exec_snapshot(
      "SELECT history_dropped_before::text FROM pulse.collection_registry"
      " WHERE project = $1 AND name = $2 AND history_dropped_before IS NOT NULL",
      {Arg::text(v.project), Arg::text(*v.collection)}, snap);
  auto r = first_row();
  if (r.empty() || !r[0]) return;
  throw Error(sqlstate::kObjectNotInPrerequisiteState,
              "view \"" + v.project + "." + v.name + "\" would lose the history that retention dropped",
              "Retention dropped the events of collection \"" + v.project + "." + *v.collection + "\" before " + *r[0] +
                  "; the view keeps their aggregates, and a rebuild recomputes from the events that are left.",
              "Refresh without full => true to merge new events (after an UPDATE or DELETE the view waits for a "
              "rebuild), or rebuild from the kept events only with pulse.refresh_view(project, name, full => true, "
              "force => true).");
}

// Summarises the ranges of the `_shard_time` BRIN index that filled since the last time, in
// every table of the collection (its leaf partitions), walking back from the last complete
// range to the first summarised one. Each summary reads its range's rows again; the `_time`
// index is left to VACUUM. The reads of realtime views and the next merge select
// `_shard_time >= T` through this index, and an unsummarised range always matches: without
// this, every row inserted since the collection's last VACUUM was read again by each of them
// (bench/views: 504k rows read for a 100k-row tail, the delta 70 ms instead of 41). The last,
// partial range is left alone: once summarised, every insertion that raises its maximum would
// rewrite its summary. A table that VACUUM or another summary holds (ShareUpdateExclusiveLock)
// is skipped, never waited for, and the lock is released at once. As the owner of the
// collection (summarising needs it).
void summarize_filled_ranges(const std::string& project, const std::string& collection) {
  pg::call([&] {
    Oid nsp = get_namespace_oid(project.c_str(), true);
    Oid rel = OidIsValid(nsp) ? get_relname_relid(collection.c_str(), nsp) : InvalidOid;
    if (!OidIsValid(rel)) return;
    ListCell* lc;
    foreach (lc, find_all_inheritors(rel, NoLock, nullptr)) {
      const Oid leaf = lfirst_oid(lc);
      if (get_rel_relkind(leaf) != RELKIND_RELATION) continue;
      if (!ConditionalLockRelationOid(leaf, ShareUpdateExclusiveLock)) continue;
      // (a partition that retention dropped since the list was read is gone: skipped)
      Relation heap = try_relation_open(leaf, NoLock);
      if (!heap) {
        UnlockRelationOid(leaf, ShareUpdateExclusiveLock);
        continue;
      }
      const BlockNumber nblocks = RelationGetNumberOfBlocks(heap);
      const AttrNumber shard_time = get_attnum(leaf, "_shard_time");
      List* indexes = RelationGetIndexList(heap);
      ListCell* ic;
      foreach (ic, indexes) {
        const Oid index = lfirst_oid(ic);
        Relation ir = index_open(index, AccessShareLock);
        const bool brin = ir->rd_rel->relam == BRIN_AM_OID && ir->rd_index->indisvalid && ir->rd_index->indnatts >= 1 &&
                          ir->rd_index->indkey.values[0] == shard_time;
        const BlockNumber per_range = brin ? BrinGetPagesPerRange(ir) : 0;
        index_close(ir, AccessShareLock);
        if (!brin || per_range == 0) continue;
        for (BlockNumber r = nblocks / per_range; r > 0; r--) {
          Datum n = DirectFunctionCall2(brin_summarize_range, ObjectIdGetDatum(index),
                                        Int64GetDatum(int64((r - 1) * per_range)));
          if (DatumGetInt32(n) == 0) break;
        }
      }
      list_free(indexes);
      relation_close(heap, ShareUpdateExclusiveLock);  // (released now, as brin_summarize_range does)
    }
  });
}

int64_t refresh_by_id(int32 id, bool full, bool force) {
  TimestampTz t0 = GetCurrentTimestamp();
  pg::Progress progress("refresh", "", "");
  {
    auto who = pg::spi_column(
        "SELECT x FROM pulse.view_registry v, LATERAL unnest(ARRAY[v.project, v.name]) x WHERE v.id = $1",
        {Arg::int4(id)});
    if (who.size() == 2 && who[0] && who[1]) progress.rename(*who[0], *who[1]);
  }
  progress.phase("waiting for the view's lock (another refresh)");
  lock_view(id);  // a cancellable wait
  progress.phase("starting");
  pg::call([] { pg::pause_point("refresh"); });
  TimestampTz floor = 0;
  bool advance = running_xact_floor(&floor);
  Snapshot snap = nullptr;
  pg::call([&] { snap = RegisterSnapshot(GetLatestSnapshot()); });
  int64_t merged = 0;
  try {
    ViewRow v = load_view_row(id, snap);
    progress.rename(v.project, v.name);
    progress.phase("looking for invalidations");
    uint64_t own = 0;
    pg::call([&] {
      FullTransactionId f = GetTopFullTransactionIdIfAny();
      if (FullTransactionIdIsValid(f)) own = U64FromFullTransactionId(f);
    });
    std::string new_snapshot = own ? with_in_progress(v.current_snapshot, own) : v.current_snapshot;
    // a snapshot taken in another database or cluster, or of another incarnation of the
    // collection (a dump restored), says nothing about these rows' transaction ids
    bool origin_changed = v.snapshot && v.snapshot_origin != std::optional<std::string>(v.current_origin);
    bool rebuild = full || !v.snapshot || v.strategy == "cache" || origin_changed;
    if (!rebuild && v.collection) rebuild = invalidated_since(v.project, *v.collection, *v.snapshot, snap);
    // a rebuild recomputes from the rows the collection still has: the aggregates of events
    // dropped by retention would be lost (docs/lifecycle.md#views-keep-the-history)
    if (rebuild && !force && v.snapshot && v.strategy != "cache" && v.collection) check_history_kept(v, snap);
    // The new threshold. Prepared transactions (start times unknown) and backends that do not
    // publish their start time keep it where it was: rows of such a transaction that S does
    // not see were already at or above the previous threshold (or, with none, anywhere).
    std::string new_threshold;
    if (v.strategy != "cache") {
      if (advance && !v.prepared_xacts)
        new_threshold = timestamptz_text(floor);
      else
        new_threshold = v.threshold && !full && !origin_changed ? *v.threshold : "-infinity";
    }
    if (origin_changed && v.collection && v.strategy != "cache")
      check_no_foreign_rows_above(v, new_threshold, new_snapshot, own, snap);
    std::vector<Arg> args = {v.snapshot ? Arg::text(*v.snapshot) : Arg::null_text(),
                             v.threshold ? Arg::text(*v.threshold) : Arg::null_text(),
                             own ? Arg::text(std::to_string(own)) : Arg::null_text()};
    int64_t rows = 0;
    if (v.collection && v.strategy != "cache") wait_for_partitions(v, snap);
    progress.phase(rebuild ? "rebuilding (the defining query over the whole collection)" : "merging new rows");
    pg::as_role(pg::role_oid(v.writer_role), [&] {
      if (rebuild) {
        pg::spi_exec_snapshot(v.rebuild_delete, args, snap);
        merged = rows = int64_t(pg::spi_exec_snapshot(v.rebuild_insert, args, snap));
      } else {
        // the merge returns one row per group merged: true for a new group
        merged = int64_t(pg::spi_exec_snapshot(*v.merge_sql, args, snap));
        int64_t added = 0;
        pg::call([&] {
          for (uint64 r = 0; r < SPI_processed; r++) {
            bool isnull;
            Datum d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
            if (!isnull && DatumGetBool(d)) added++;
          }
        });
        rows = v.rows + added;
      }
    });
    if (v.collection && v.strategy != "cache") {
      progress.phase("summarising new BRIN ranges");
      summarize_filled_ranges(v.project, *v.collection);
    }
    // fresh statistics for the planner after a rebuild (as the owner: ANALYZE needs it)
    if (rebuild) {
      progress.phase("analyzing the state");
      pg::spi_exec_snapshot("ANALYZE " + names_of(v.project, v.name).state, {}, snap);
    }
    std::string dur = seconds_text(t0, GetCurrentTimestamp());
    pg::spi_exec_snapshot(
        "UPDATE pulse.view_registry SET snapshot = $2::pg_catalog.pg_snapshot, threshold = $3::timestamptz,"
        " last_refresh = pg_catalog.clock_timestamp(), last_duration = $4::interval, last_error = NULL,"
        " last_merged = $5, rows = $6, snapshot_origin = $7 WHERE id = $1",
        {Arg::int4(id), Arg::text(new_snapshot), new_threshold.empty() ? Arg::null_text() : Arg::text(new_threshold),
         Arg::text(dur), Arg::int8(merged), Arg::int8(rows), Arg::text(v.current_origin)},
        snap);
    pg::record_job({"refresh", v.project, v.name, t0, merged, true, ""});
    pg::call([&] {
      ereport(DEBUG1,
              (errmsg("pg_pulse: %s view %s.%s: %lld %s in %s", rebuild ? "rebuilt" : "refreshed", v.project.c_str(),
                      v.name.c_str(), (long long)merged, rebuild ? "rows stored" : "groups merged", dur.c_str())));
    });
    forget_seen_invalidations(snap);
  } catch (...) {
    pg::call([&] { UnregisterSnapshot(snap); });
    throw;
  }
  pg::call([&] { UnregisterSnapshot(snap); });
  return merged;
}

// pulse.refresh_view(project, name, full default false, force default false) → groups merged
PULSE_SQL_FUNCTION(pulse_refresh_view) {
  std::string project = ascii_lower(pg::require_text(fcinfo, 0, "project"));
  std::string name = ascii_lower(pg::require_text(fcinfo, 1, "name"));
  bool full = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
  bool force = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
  pg::spi_connect();
  ingest::check_project_writer(project);
  auto id = pg::spi_value("SELECT id FROM pulse.view_registry WHERE project = $1 AND name = $2",
                          {Arg::text(project), Arg::text(name)});
  if (!id)
    throw Error(sqlstate::kUndefinedObject, "view \"" + project + "." + name + "\" does not exist", "",
                "pulse.views lists the views of a project.");
  int64_t n = refresh_by_id(std::stoi(*id), full, force);
  pg::spi_finish();
  PG_RETURN_INT64(n);
}

}  // namespace pulse::views
