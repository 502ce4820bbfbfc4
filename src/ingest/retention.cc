// Retention of collections, rejected_fields and dead_letters (see retention.h).
#include "ingest/retention.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "pg/bgworker.h"
#include "pg/heap_count.h"
#include "pg/gucs.h"
#include "pg/jobs.h"
#include "pg/spi.h"

extern "C" {
#include "executor/spi.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
}

namespace pulse::ingest {

using pg::Arg;

namespace {

// How long a retention unit waits for a lock before it gives up until the next round: writers
// queue behind a waiting ACCESS EXCLUSIVE request, so this bounds how long ingestion can stall.
constexpr const char* kLockTimeout = "200ms";
constexpr int kDeleteBatch = 10000;
constexpr size_t kPartitionBatch = 32;

// Honours a cancel (and, in the scheduler, a configuration reload).
void interrupts(bool in_worker) {
  if (in_worker)
    pg::worker_check_interrupts();
  else
    pg::check_interrupts();
}

// A collection with a retention.
struct Target {
  std::string project, collection, cutoff;  // cutoff: now() - keep, as timestamptz text
  bool partitioned = false;
};

// The rows of the last SPI statement as text (NULL: empty string).
std::vector<std::vector<std::string>> spi_rows() {
  std::vector<std::vector<std::string>> out;
  pg::call([&] {
    for (uint64 r = 0; r < SPI_processed; r++) {
      std::vector<std::string> row;
      for (int k = 1; k <= SPI_tuptable->tupdesc->natts; k++) {
        char* v = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, k);
        row.emplace_back(v ? v : "");
      }
      out.push_back(std::move(row));
    }
  });
  return out;
}

// Runs f as one unit: a transaction of its own in the scheduler, a subtransaction of the
// caller's otherwise; with lock_timeout = kLockTimeout and, when replica, with
// session_replication_role = replica (the views' invalidation trigger does not fire; a
// superuser-only setting). False when a lock did not come (the unit is skipped).
template <class F>
bool unit(bool in_worker, bool replica, F&& f) {
  auto body = [&] {
    int nest = 0;
    pg::call([&] {
      nest = NewGUCNestLevel();
      (void)set_config_option("lock_timeout", kLockTimeout, PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
      if (replica)
        (void)set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true,
                                0, false);
    });
    f();
    pg::call([&] { AtEOXact_GUC(true, nest); });
  };
  try {
    if (in_worker)
      pg::in_transaction("pg_pulse scheduler: applying retention", body);
    else
      pg::in_subtransaction(body);
  } catch (pg::PgError& e) {
    if (e.sqlerrcode() != ERRCODE_LOCK_NOT_AVAILABLE && e.sqlerrcode() != ERRCODE_T_R_DEADLOCK_DETECTED) throw;
    return false;
  }
  return true;
}

std::vector<Target> targets() {
  pg::spi_exec(
      "SELECT r.project, r.name, (pg_catalog.now() - coalesce(r.keep, p.keep))::text, (c.relkind = 'p')::text"
      " FROM pulse.collection_registry r JOIN pulse.projects p ON p.name = r.project"
      " JOIN pg_catalog.pg_namespace n ON n.nspname = r.project"
      " JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = r.name"
      " WHERE coalesce(r.keep, p.keep) IS NOT NULL ORDER BY 1, 2");
  std::vector<Target> out;
  for (auto& row : spi_rows()) out.push_back(Target{row[0], row[1], row[2], row[3] == "true"});
  return out;
}

// Records that retention dropped the events of t before `before` (the views keep them).
void note_history_dropped(const Target& t, const std::string& before) {
  pg::spi_exec(
      "UPDATE pulse.collection_registry SET history_dropped_before ="
      " greatest(coalesce(history_dropped_before, '-infinity'), $3::timestamptz) WHERE project = $1 AND name = $2",
      {Arg::text(t.project), Arg::text(t.collection), Arg::text(before)});
}

// Merges what the collection's incremental and realtime views have not merged yet, so that the
// history they keep includes the events about to be dropped. A view that cannot be refreshed
// (it waits for a rebuild, its query fails, or, in the scheduler, it runs longer than
// pulse.refresh_timeout) is left as it is; its error is in the job history or the log.
void merge_views_first(const Target& t, bool in_worker) {
  std::vector<std::string> ids;
  auto list = [&] {
    for (auto& id : pg::spi_column("SELECT id::text FROM pulse.view_registry WHERE project = $1 AND collection = $2"
                                   " AND strategy <> 'cache' ORDER BY id",
                                   {Arg::text(t.project), Arg::text(t.collection)}))
      if (id) ids.push_back(*id);
  };
  if (in_worker)
    pg::in_transaction("pg_pulse scheduler: listing views before retention", list);
  else
    list();
  for (auto& id : ids) {
    bool timed_out = false;
    try {
      (void)unit(in_worker, false, [&] {
        // in the scheduler, bounded as its own refreshes are (a writer's slow view would hold it)
        pg::StatementTimeout bound(in_worker ? pulse_refresh_timeout_ms : 0);
        try {
          pg::spi_exec("SELECT pulse.refresh_view(project, name) FROM pulse.view_registry WHERE id = $1::int",
                       {Arg::text(id)});
        } catch (pg::PgError& e) {
          timed_out = e.sqlerrcode() == ERRCODE_QUERY_CANCELED && bound.fired();
          throw;
        }
      });
    } catch (pg::PgError& e) {
      if (timed_out) {
        pg::call([&] {
          ereport(WARNING, (errmsg("pg_pulse: retention of %s.%s: the merge of view %s ran longer than "
                                   "pulse.refresh_timeout; the view is left as it is",
                                   t.project.c_str(), t.collection.c_str(), id.c_str())));
        });
        continue;
      }
      if (pg::is_abort_error(e.sqlerrcode()) && e.sqlerrcode() != ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE) throw;
    } catch (Error&) {
    }
  }
}

// A partition that retention detached is renamed, with its indexes, to kRetiredPrefix<oid> in
// its schema (no collection or partition can have such a name: names starting with "_" are
// reserved) and dropped by purge_retired() in a transaction of its own. Dropping a table removes
// its files when its transaction commits, which can take milliseconds per file; the collection's
// ACCESS EXCLUSIVE lock, taken by DETACH, is then already released, so ingestion does not wait
// for the files.
constexpr const char* kRetiredPrefix = "_pulse_retired_";

// Renames the detached partition `part` (schema-qualified) and its indexes to retired names.
void retire(const std::string& schema, const std::string& part) {
  pg::spi_exec(
      "SELECT c.oid::text, c.relname::text FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass"
      " OR c.oid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i WHERE i.indrelid = $1::regclass)",
      {Arg::text(part)});
  for (auto& row : spi_rows())
    pg::spi_exec("ALTER TABLE " + pg::quote_ident(schema) + "." + pg::quote_ident(row[1]) + " RENAME TO " +
                 pg::quote_ident(kRetiredPrefix + row[0]));
}

// Partitions whose whole range lies before the cutoff go, up to kPartitionBatch per unit: SHARE
// lock on each (late events into it wait), its rows counted (page by page, pg/heap_count.h),
// DETACH (ACCESS EXCLUSIVE on the collection from the first DETACH to the end of the unit, under
// kLockTimeout), retired (see kRetiredPrefix). No trigger fires: views keep their rows.
int64_t drop_partitions(const Target& t, bool in_worker) {
  std::string parent = pg::quote_ident(t.project) + "." + pg::quote_ident(t.collection);
  std::vector<std::vector<std::string>> parts;
  auto list = [&] {
    pg::spi_exec(
        "SELECT c.relname, u.upper::text FROM pg_catalog.pg_inherits i"
        " JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid"
        " CROSS JOIN LATERAL (SELECT (pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid),"
        "   'TO \\(''([^'']*)''\\)'))[1]::timestamptz AS upper) u"
        " WHERE i.inhparent = $1::regclass AND u.upper <= $2::timestamptz ORDER BY u.upper",
        {Arg::text(parent), Arg::text(t.cutoff)});
    parts = spi_rows();
  };
  if (in_worker)
    pg::in_transaction("pg_pulse scheduler: listing old partitions", list);
  else
    list();
  int64_t total = 0;
  if (!parts.empty()) merge_views_first(t, in_worker);
  // a unit drops up to kPartitionBatch partitions: one wait for the collection's lock, not one
  // per partition
  for (size_t b = 0; b < parts.size(); b += kPartitionBatch) {
    interrupts(in_worker);
    size_t e = std::min(parts.size(), b + kPartitionBatch);
    TimestampTz t0 = GetCurrentTimestamp();
    (void)unit(in_worker, false, [&] {
      std::vector<int64_t> rows;
      for (size_t k = b; k < e; k++) {
        std::string part = pg::quote_ident(t.project) + "." + pg::quote_ident(parts[k][0]);
        pg::spi_exec("LOCK TABLE " + part + " IN SHARE MODE");
        Oid relid = InvalidOid;
        pg::call([&] {
          relid = RangeVarGetRelid(makeRangeVar(pstrdup(t.project.c_str()), pstrdup(parts[k][0].c_str()), -1), NoLock,
                                   false);
        });
        rows.push_back(pg::count_visible_rows(relid));
      }
      for (size_t k = b; k < e; k++) {
        std::string part = pg::quote_ident(t.project) + "." + pg::quote_ident(parts[k][0]);
        pg::spi_exec("ALTER TABLE " + parent + " DETACH PARTITION " + part);
        retire(t.project, part);
      }
      int64_t dropped = 0;
      std::string before;
      for (size_t k = b; k < e; k++) {
        if (rows[k - b] > 0) before = parts[k][1];
        dropped += rows[k - b];
        pg::record_job({"retention", t.project, t.collection + ": partition " + parts[k][0] + " dropped", t0,
                        rows[k - b], true, ""});
      }
      if (!before.empty()) note_history_dropped(t, before);
      total += dropped;
    });
  }
  return total;
}

// Plain collections: DELETE in batches of kDeleteBatch rows, each its own unit, with
// session_replication_role = replica (the views' invalidation trigger does not fire).
int64_t delete_old_rows(const Target& t, bool in_worker) {
  std::string table = pg::quote_ident(t.project) + "." + pg::quote_ident(t.collection);
  TimestampTz t0 = GetCurrentTimestamp();
  int64_t total = 0;
  bool any = false;
  auto probe = [&] {
    any = pg::spi_value("SELECT 1 FROM " + table + " WHERE _time < $1::timestamptz LIMIT 1", {Arg::text(t.cutoff)})
              .has_value();
  };
  if (in_worker)
    pg::in_transaction("pg_pulse scheduler: looking for old events", probe);
  else
    probe();
  if (!any) return 0;
  merge_views_first(t, in_worker);
  for (;;) {
    interrupts(in_worker);
    uint64_t n = 0;
    bool done = unit(in_worker, true, [&] {
      n = pg::spi_exec("DELETE FROM " + table + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + table +
                           " WHERE _time < $1::timestamptz LIMIT " + std::to_string(kDeleteBatch) + "))",
                       {Arg::text(t.cutoff)});
    });
    if (!done) break;
    total += int64_t(n);
    if (n < uint64_t(kDeleteBatch)) break;
  }
  if (total > 0)
    (void)unit(in_worker, false, [&] {
      note_history_dropped(t, t.cutoff);
      pg::record_job(
          {"retention", t.project, t.collection + ": events before " + t.cutoff + " deleted", t0, total, true, ""});
    });
  return total;
}

// rejected_fields / dead_letters rows older than their retention (seconds; 0: kept), in batches,
// one job record per project.
int64_t trim_catalog(const char* table, int seconds, bool in_worker) {
  if (seconds <= 0) return 0;
  TimestampTz t0 = GetCurrentTimestamp();
  std::map<std::string, int64_t> per_project;
  int64_t total = 0;
  for (;;) {
    interrupts(in_worker);
    int64_t n = 0;
    bool done = unit(in_worker, false, [&] {
      pg::spi_exec(std::string("WITH d AS (DELETE FROM pulse.") + table + " WHERE id IN (SELECT id FROM pulse." +
                       table + " WHERE created_at < pg_catalog.now() - $1 * interval '1 second' ORDER BY id LIMIT " +
                       std::to_string(kDeleteBatch) + ") RETURNING project) SELECT project, count(*) FROM d GROUP BY 1",
                   {Arg::int8(seconds)});
      for (auto& row : spi_rows()) {
        per_project[row[0]] += std::stoll(row[1]);
        n += std::stoll(row[1]);
      }
    });
    if (!done) break;
    total += n;
    if (n < kDeleteBatch) break;
  }
  if (!per_project.empty())
    (void)unit(in_worker, false, [&] {
      for (auto& [project, rows] : per_project)
        pg::record_job({"retention", project,
                        std::string(table) + ": rows older than " + std::to_string(seconds) + " s deleted", t0, rows,
                        true, ""});
    });
  return total;
}

// The retired partitions of every project's schema, oldest first.
std::vector<std::vector<std::string>> retired_tables() {
  pg::spi_exec(
      "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c"
      " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pulse.projects p ON p.name = n.nspname"
      " WHERE c.relkind = 'r' AND NOT c.relispartition AND c.relname LIKE '\\_pulse\\_retired\\_%' ORDER BY c.oid");
  return spi_rows();
}

}  // namespace

int64_t purge_retired(bool in_worker) {
  std::vector<std::vector<std::string>> tables;
  if (in_worker)
    pg::in_transaction("pg_pulse scheduler: looking for retired partitions", [&] { tables = retired_tables(); });
  else
    tables = retired_tables();
  int64_t n = 0;
  for (auto& t : tables) {
    interrupts(in_worker);
    // one table that cannot go (something depends on it) does not hold up the others
    try {
      if (unit(in_worker, false,
               [&] { pg::spi_exec("DROP TABLE IF EXISTS " + pg::quote_ident(t[0]) + "." + pg::quote_ident(t[1])); }))
        n++;
    } catch (pg::PgError& e) {
      if (pg::is_abort_error(e.sqlerrcode())) throw;
      std::string what = t[0] + "." + t[1];
      std::string why = e.edata && e.edata->message ? e.edata->message : "error";
      pg::call([&] {
        ereport(WARNING, (errmsg("pg_pulse: retired partition %s is not dropped: %s", what.c_str(), why.c_str())));
      });
    }
  }
  return n;
}

int64_t apply_retention(bool in_worker) {
  std::vector<Target> all;
  if (in_worker)
    pg::in_transaction("pg_pulse scheduler: looking for retention", [&] { all = targets(); });
  else
    all = targets();
  int64_t total = 0;
  // partitions retired by earlier runs first (in the caller's transaction, pulse.apply_retention
  // leaves the ones it retires to the scheduler or its next call: their files would be removed
  // at the caller's commit, while it holds the collections' locks)
  (void)purge_retired(in_worker);
  for (const Target& t : all) total += t.partitioned ? drop_partitions(t, in_worker) : delete_old_rows(t, in_worker);
  if (in_worker) (void)purge_retired(true);
  total += trim_catalog("rejected_fields", pulse_rejected_fields_retention_s, in_worker);
  total += trim_catalog("dead_letters", pulse_dead_letters_retention_s, in_worker);
  return total;
}

// pulse.apply_retention() → rows dropped (superusers only)
PULSE_SQL_FUNCTION(pulse_apply_retention) {
  if (!superuser())
    throw Error(sqlstate::kInsufficientPrivilege, "permission denied to apply retention", "",
                "Only superusers run pulse.apply_retention; the scheduler applies retention every minute.");
  pg::spi_connect();
  int64_t n = apply_retention(false);
  pg::spi_finish();
  PG_RETURN_INT64(n);
}

}  // namespace pulse::ingest
