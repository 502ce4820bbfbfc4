// Projects and collections as Postgres objects (see catalog.h): privilege checks, collection
// tables, their shape, columns added under pulse.ddl_lock_timeout.
#include "ingest/catalog.h"

#include "views/views.h"

#include "core/names.h"
#include "pg/faults.h"
#include "pg/gucs.h"
#include "pg/spi.h"
#include "pg/trust.h"
#include "pg/type_class.h"

extern "C" {
#include "access/table.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/wait_event.h"
}

namespace pulse::ingest {

using pg::Arg;

void check_project_name(const std::string& project) {
  std::string why = project_name_problem(project);
  if (!why.empty())
    throw Error(sqlstate::kInvalidName, "invalid project name \"" + project + "\": " + why, "",
                "Project names are 1 to 56 characters of a-z, 0-9 and _, not starting with a digit, pg_ or _pulse_.");
}

void check_collection_name(const std::string& collection) {
  std::string why = collection_name_problem(collection);
  if (!why.empty())
    throw Error(sqlstate::kInvalidName, "invalid collection name \"" + collection + "\": " + why, "",
                "Collection names are 1 to 63 characters of a-z, 0-9 and _, not starting with a digit, _ or pg_.");
}

void check_project_writer(const std::string& project) {
  check_project_name(project);
  auto found = pg::spi_value("SELECT writer_role FROM pulse.projects WHERE name = $1", {Arg::text(project)});
  if (!found)
    throw Error(sqlstate::kUndefinedObject, "project \"" + project + "\" does not exist", "",
                "Create it with pulse.create_project('" + project + "').");
  std::string role = *found;
  bool ok = false;
  pg::call([&] {
    Oid roleid = get_role_oid(role.c_str(), true);
    ok = OidIsValid(roleid) && has_privs_of_role(pg::caller_role(), roleid);
  });
  if (!ok) {
    char* who = nullptr;
    pg::call([&] { who = GetUserNameFromId(pg::caller_role(), false); });
    throw Error(sqlstate::kInsufficientPrivilege, "permission denied to write project \"" + project + "\"",
                "Role \"" + std::string(who) + "\" is not a member of \"" + role + "\".",
                "GRANT " + role + " TO " + std::string(who) + ";");
  }
}

// The collection's table. Looked up under an ACCESS SHARE lock, again once the lock is held
// (then released: writers that add columns must not hold it), so a writer that waited behind DDL
// replacing the table (pulse.partition_collection) writes into the new one.
static Oid find_table(const std::string& project, const std::string& collection) {
  Oid relid = InvalidOid;
  pg::call([&] {
    (void)get_namespace_oid(project.c_str(), false);
    RangeVar* rv = makeRangeVar(pstrdup(project.c_str()), pstrdup(collection.c_str()), -1);
    relid = RangeVarGetRelidExtended(rv, AccessShareLock, RVR_MISSING_OK, NULL, NULL);
    if (OidIsValid(relid)) UnlockRelationOid(relid, AccessShareLock);
  });
  return relid;
}

void lock_collection(const std::string& project, const std::string& collection) {
  pg::lock_exclusive(project + "." + collection, pg::kLockCollection);
}

CollectionInfo ensure_collection(const std::string& project, const std::string& collection, bool dedup,
                                 const PartitionUnit* partition) {
  CollectionInfo info;
  info.relid = find_table(project, collection);
  if (!OidIsValid(info.relid)) {
    // Serialise creators of this collection, then look again with fresh catalogs.
    lock_collection(project, collection);
    pg::call([] { AcceptInvalidationMessages(); });
    info.relid = find_table(project, collection);
  }
  if (OidIsValid(info.relid)) {
    bool is_partition = false;
    pg::call([&] { is_partition = get_rel_relispartition(info.relid); });
    if (is_partition) {
      // a Postgres error (not pulse::Error): the writer's isolation turns it into dead letters
      std::string msg = "\"" + project + "." + collection + "\" is a partition of a collection, not a collection";
      pg::call([&] {
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("%s", msg.c_str()),
                        errhint("Send events to the partitioned collection itself.")));
      });
    }
  }
  if (!OidIsValid(info.relid)) {
    PartitionUnit unit = PartitionUnit::kNone;
    if (partition) {
      unit = *partition;
    } else {
      auto d = pg::spi_value("SELECT partition_by FROM pulse.projects WHERE name = $1", {Arg::text(project)});
      if (d)
        (void)parse_partition_unit(*d, &unit);
      else if (pulse_partition_by != 0)  // pulse.partition_by: the default of projects without one
        (void)parse_partition_unit(pulse_partition_by == 1 ? "day" : pulse_partition_by == 2 ? "week" : "month", &unit);
    }
    bool partitioned = unit != PartitionUnit::kNone;
    std::string t = pg::quote_ident(project) + "." + pg::quote_ident(collection);
    std::string reader = pg::quote_ident(project + "_reader");
    pg::spi_exec("CREATE TABLE " + t +
                 " (_time timestamptz NOT NULL DEFAULT now(), _user text, _id text,"
                 " _shard_time timestamptz NOT NULL DEFAULT now(),"
                 " _shard_xid xid8 NOT NULL DEFAULT pg_current_xact_id())" +
                 (partitioned ? " PARTITION BY RANGE (_time)" : ""));
    // Index names are left to Postgres, which picks free ones (no clash with other relations).
    // Ranges filled by ingestion are summarised by the database's scheduler (so view deltas,
    // _shard_time >= threshold, skip them without waiting for a VACUUM), not by autosummarize:
    // when autovacuum's request queue is full, each unrecorded request logs a line carrying the
    // whole ingesting statement, events included. On a partitioned collection these are
    // partitioned indexes: every partition gets its own.
    pg::spi_exec("CREATE INDEX ON " + t + " USING brin (_time)");
    pg::spi_exec("CREATE INDEX ON " + t + " USING brin (_shard_time)");
    // a unique index of a partitioned table must hold the partition key (docs/lifecycle.md#dedup)
    if (dedup) pg::spi_exec("CREATE UNIQUE INDEX ON " + t + (partitioned ? " (_id, _time)" : " (_id)"));
    pg::spi_exec("GRANT SELECT ON " + t + " TO " + reader);
    // descriptions for psql's \d+ and BI tools
    pg::spi_exec("SELECT pulse._describe_collection($1, $2)", {Arg::text(project), Arg::text(collection)});
    // UPDATE / DELETE / TRUNCATE force the collection's views to rebuild (src/views); made here
    // so that creating a view never has to lock the collection
    views::ensure_invalidation_trigger(project, collection);
    pg::spi_exec(
        "INSERT INTO pulse.collection_registry(project, name, dedup, partition_by) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (project, name) DO UPDATE SET dedup = EXCLUDED.dedup, partition_by = EXCLUDED.partition_by",
        {Arg::text(project), Arg::text(collection), Arg::boolean(dedup),
         partitioned ? Arg::text(partition_unit_name(unit)) : Arg::null_text()});
    info.relid = find_table(project, collection);
    info.created = true;
    info.dedup = dedup;
    info.partition = unit;
    return info;
  }
  auto row = pg::spi_value(
      "SELECT dedup::text || ':' || coalesce(partition_by, 'none') FROM pulse.collection_registry"
      " WHERE project = $1 AND name = $2",
      {Arg::text(project), Arg::text(collection)});
  if (row) {
    size_t colon = row->find(':');
    info.dedup = row->substr(0, colon) == "true";
    (void)parse_partition_unit(row->substr(colon + 1), &info.partition);
  }
  // a table partitioned by other means than pg_pulse's gets no partitions from ingestion
  char kind = 0;
  pg::call([&] { kind = get_rel_relkind(info.relid); });
  if (kind != RELKIND_PARTITIONED_TABLE) info.partition = PartitionUnit::kNone;
  return info;
}

TableShape read_shape(Oid relid) {
  // Names and types are gathered in palloc'd memory under the guard, then copied out.
  int natts = 0;
  char** names = nullptr;
  Oid* typids = nullptr;
  int32* typmods = nullptr;
  pg::call([&] {
    Relation rel = table_open(relid, AccessShareLock);
    TupleDesc desc = RelationGetDescr(rel);
    names = static_cast<char**>(palloc0(sizeof(char*) * (desc->natts + 1)));
    typids = static_cast<Oid*>(palloc0(sizeof(Oid) * (desc->natts + 1)));
    typmods = static_cast<int32*>(palloc0(sizeof(int32) * (desc->natts + 1)));
    for (int k = 0; k < desc->natts; k++) {
      Form_pg_attribute a = TupleDescAttr(desc, k);
      if (a->attisdropped) continue;
      names[natts] = pstrdup(NameStr(a->attname));
      typids[natts] = a->atttypid;
      typmods[natts] = a->atttypmod;
      natts++;
    }
    // Released at once: holding it would turn a later ADD COLUMN into a lock upgrade that
    // deadlocks against another session doing the same.
    table_close(rel, AccessShareLock);
  });
  TableShape shape;
  for (int k = 0; k < natts; k++) {
    // Ingestion runs as the extension owner: a column type that a project role could have
    // written (its input function, a domain's CHECK) is never evaluated.
    std::string untrusted = pg::untrusted_type(typids[k]);
    if (!untrusted.empty())
      throw Error(sqlstate::kInsufficientPrivilege,
                  "column \"" + std::string(names[k]) + "\" of a collection has a type pg_pulse does not trust",
                  "It uses " + untrusted + ".",
                  "Collections take built-in types and types owned by a superuser (not temporary ones).");
    shape.add(names[k], pg::column_type(typids[k], typmods[k]));
  }
  return shape;
}

// Waits ms milliseconds on the process latch (interruptible; never a bare sleep).
static void backoff(int ms) {
  pg::call([&] {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  });
}

int add_columns(const std::string& project, const std::string& collection, Oid relid, const std::vector<Column>& cols) {
  if (cols.empty()) return 0;
  size_t before = read_shape(relid).columns().size();
  for (auto& c : cols) pg::call([&] { pg::fail_column_point(c.name.c_str()); });
  std::string sql = "ALTER TABLE " + pg::quote_ident(project) + "." + pg::quote_ident(collection);
  for (size_t k = 0; k < cols.size(); k++) {
    // The type text comes from builtin_type (inference and Avro hints: a fixed set of built-in
    // type names) or from format_type of a validated type (pg::column_type): never from event data.
    sql += (k ? ", " : " ") + std::string("ADD COLUMN IF NOT EXISTS ") + pg::quote_ident(cols[k].name) + " " +
           cols[k].type.pg_name;
  }
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
        pg::spi_exec(sql);
        pg::call([&] { AtEOXact_GUC(true, nest); });
      });
      break;
    } catch (pg::PgError& e) {
      if (e.sqlerrcode() != ERRCODE_LOCK_NOT_AVAILABLE && e.sqlerrcode() != ERRCODE_T_R_DEADLOCK_DETECTED) throw;
      if (attempt >= attempts)
        throw Error(sqlstate::kLockNotAvailable,
                    "could not add columns to collection \"" + project + "." + collection + "\": lock not available",
                    "Each of " + std::to_string(attempts) + " attempts waited pulse.ddl_lock_timeout (" + timeout +
                        ") for a lock that another transaction holds on the table. Nothing of this call was stored.",
                    "Retry the call, end the long-running transaction (see pg_locks / pg_stat_activity), or raise "
                    "pulse.ddl_lock_timeout or pulse.ddl_retries.");
      backoff(std::min(50 * attempt, 500));
    }
  }
  size_t after = read_shape(relid).columns().size();
  return int(after - before);
}

}  // namespace pulse::ingest
