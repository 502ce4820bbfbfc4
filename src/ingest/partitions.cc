// On-demand time partitions of collections (see partitions.h).
#include "ingest/partitions.h"

#include <map>
#include <set>

#include "core/time_parse.h"
#include "ingest/catalog.h"
#include "pg/gucs.h"
#include "pg/spi.h"

extern "C" {
#include "catalog/partition.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/wait_event.h"
}

namespace pulse::ingest {

using pg::Arg;

namespace {

// Partition starts known to exist, per collection table (this backend's view of the catalog).
std::map<Oid, std::set<int64_t>> g_known;
bool g_callback_registered = false;

// Relcache invalidation of a collection (ATTACH / DETACH / DROP of a partition, or an aborted
// (sub)transaction that created one): forget what was known of it.
extern "C" void forget_partitions(Datum /*arg*/, Oid relid) {
  if (relid == InvalidOid)
    g_known.clear();
  else
    g_known.erase(relid);
}

// The partition of relid called name, or InvalidOid when there is none; raises 42P07 when that
// name belongs to something else.
Oid find_partition(Oid ns, Oid relid, const std::string& project, const std::string& name) {
  Oid part = InvalidOid, parent = InvalidOid;
  pg::call([&] {
    part = get_relname_relid(name.c_str(), ns);
    if (OidIsValid(part) && get_rel_relispartition(part)) parent = get_partition_parent(part, true);
  });
  if (OidIsValid(part) && parent != relid) {
    // a Postgres error (not pulse::Error): the writer's isolation turns it into dead letters
    std::string msg = "cannot create partition \"" + project + "." + name + "\": a relation of that name exists";
    pg::call([&] {
      ereport(ERROR, (errcode(ERRCODE_DUPLICATE_TABLE), errmsg("%s", msg.c_str()),
                      errhint("pg_pulse names the partitions of a collection <collection>_pYYYYMMDD; rename or drop "
                              "that relation, then replay the dead letters.")));
    });
  }
  return part;
}

// The SQL that makes partition `name` of collection t for range r, attaches it, gives it the
// collection's owner and the views' invalidation trigger.
std::vector<std::string> partition_ddl(const std::string& project, const std::string& collection,
                                       const std::string& name, const PartitionRange& r, const std::string& owner) {
  std::string t = pg::quote_ident(project) + "." + pg::quote_ident(collection);
  std::string p = pg::quote_ident(project) + "." + pg::quote_ident(name);
  std::vector<std::string> sql;
  sql.push_back("CREATE TABLE " + p + " (LIKE " + t + " INCLUDING DEFAULTS)");
  if (!owner.empty()) sql.push_back("ALTER TABLE " + p + " OWNER TO " + pg::quote_ident(owner));
  // statement triggers of the collection do not fire for statements on a partition
  sql.push_back("CREATE TRIGGER _pulse_views_invalidate AFTER UPDATE OR DELETE OR TRUNCATE ON " + p +
                " FOR EACH STATEMENT EXECUTE FUNCTION pulse._views_invalidate(" + pg::quote_literal(collection) + ")");
  sql.push_back("ALTER TABLE " + t + " ATTACH PARTITION " + p + " FOR VALUES FROM (" +
                pg::quote_literal(format_timestamp_utc(r.start)) + ") TO (" +
                pg::quote_literal(format_timestamp_utc(r.end)) + ")");
  return sql;
}

// Runs the statements in a subtransaction under pulse.ddl_lock_timeout, retried like
// add_columns when a lock does not come.
void run_ddl(const std::string& what, const std::vector<std::string>& sql) {
  std::string timeout = std::to_string(pulse_ddl_lock_timeout_ms) + "ms";
  int attempts = pulse_ddl_retries;
  for (int attempt = 1;; attempt++) {
    try {
      pg::in_subtransaction([&] {
        int nest = 0;
        pg::call([&] {
          nest = NewGUCNestLevel();
          (void)set_config_option("lock_timeout", timeout.c_str(), PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                                  false);
          (void)set_config_option("client_min_messages", "warning", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true,
                                  0, false);
        });
        for (auto& s : sql) pg::spi_exec(s);
        pg::call([&] { AtEOXact_GUC(true, nest); });
      });
      return;
    } catch (pg::PgError& e) {
      if (e.sqlerrcode() != ERRCODE_LOCK_NOT_AVAILABLE && e.sqlerrcode() != ERRCODE_T_R_DEADLOCK_DETECTED) throw;
      if (attempt >= attempts)
        throw Error(
            sqlstate::kLockNotAvailable, "could not create " + what + ": lock not available",
            "Each of " + std::to_string(attempts) + " attempts waited pulse.ddl_lock_timeout (" + timeout + ").",
            "Retry the call, end the long-running transaction (see pg_locks), or raise "
            "pulse.ddl_lock_timeout or pulse.ddl_retries.");
      pg::call([&] {
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, std::min(50 * attempt, 500),
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
      });
    }
  }
}

}  // namespace

int ensure_partitions(const std::string& project, const std::string& collection, Oid relid, PartitionUnit unit,
                      const CopyRows& rows, std::map<int64_t, std::string>* failed) {
  if (unit == PartitionUnit::kNone || rows.line_end.empty()) return 0;
  if (!g_callback_registered) {
    pg::call([] { CacheRegisterRelcacheCallback(forget_partitions, (Datum)0); });
    g_callback_registered = true;
  }
  // the ranges of the batch: the _time of each line
  std::set<PartitionRange> needed;
  constexpr int64_t kHour = 3600LL * 1000000LL;  // a range holds whole UTC hours
  bool have_hour = false;
  int64_t hour = 0;
  for (size_t k = 0; k < rows.line_end.size(); k++) {
    int64_t us = rows.line_time_us[k];
    int64_t h = us / kHour - (us % kHour < 0 ? 1 : 0);
    if (have_hour && h == hour) continue;  // the same hour as the line before: the same range
    have_hour = true;
    hour = h;
    needed.insert(partition_range(unit, us));
  }
  std::set<int64_t>& known = g_known[relid];
  std::vector<PartitionRange> missing;
  for (const PartitionRange& r : needed)
    if (!known.count(r.start)) missing.push_back(r);
  if (missing.empty()) return 0;

  Oid ns = InvalidOid;
  pg::call([&] { ns = get_rel_namespace(relid); });
  std::vector<PartitionRange> create;
  for (const PartitionRange& r : missing) {
    Oid part = InvalidOid;
    try {
      // a name in the way raises: in a subtransaction, so that it can be caught (and only this
      // range's rows fail)
      pg::in_subtransaction([&] { part = find_partition(ns, relid, project, partition_name(collection, r)); });
    } catch (pg::PgError& e) {
      if (pg::is_abort_error(e.sqlerrcode())) throw;
      (*failed)[r.start] = e.edata->message ? e.edata->message : "cannot create the partition";
      continue;
    }
    if (OidIsValid(part))
      g_known[relid].insert(r.start);
    else
      create.push_back(r);
  }
  if (create.empty()) return 0;
  // one creator at a time per collection; a creator that got here first may have made them
  lock_collection(project, collection);
  pg::call([] { AcceptInvalidationMessages(); });
  // partitions belong to the collection's owner, as the collection does
  std::string owner;
  pg::call([&] {
    HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for relation %u", relid);
    Oid o = ((Form_pg_class)GETSTRUCT(tup))->relowner;
    ReleaseSysCache(tup);
    if (o != GetUserId()) owner = GetUserNameFromId(o, false);
  });
  int made = 0;
  for (const PartitionRange& r : create) {
    pg::check_interrupts();
    std::string name = partition_name(collection, r);
    try {
      pg::in_subtransaction([&] {
        if (!OidIsValid(find_partition(ns, relid, project, name))) {
          run_ddl("partition \"" + project + "." + name + "\"", partition_ddl(project, collection, name, r, owner));
          made++;
        }
      });
    } catch (pg::PgError& e) {
      if (pg::is_abort_error(e.sqlerrcode())) throw;
      (*failed)[r.start] = e.edata->message ? e.edata->message : "cannot create the partition";
    }
  }
  // after the DDL (its invalidations cleared the cache), what exists now
  for (const PartitionRange& r : needed)
    if (!failed->count(r.start)) g_known[relid].insert(r.start);
  return made;
}

}  // namespace pulse::ingest
