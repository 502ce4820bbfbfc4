// Ingestion counters in shared memory (see metrics.h), and their SQL functions
// pulse.collection_metrics() and pulse.metrics_reset(project).
#include "ingest/metrics.h"

#include <vector>

#include "pg/faults.h"
#include "pg/guard.h"
#include "pg/shmem_parts.h"
#include "pg/trust.h"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

namespace pulse::ingest {
namespace {

struct MetricKey {
  Oid dboid;
  char project[NAMEDATALEN];
  char collection[NAMEDATALEN];
};

struct MetricEntry {
  MetricKey key;  // first: the hash key
  int64 stored, rejected_fields, dead_letters, batches;
  TimestampTz last_event_at;  // the last commit that stored events here
  TimestampTz since;          // created, or reset
};

HTAB* table = nullptr;
LWLock* lock = nullptr;
Size metrics_size() { return hash_estimate_size(kMaxMetricEntries, sizeof(MetricEntry)); }

void metrics_startup() {
  HASHCTL info;
  memset(&info, 0, sizeof info);
  info.keysize = sizeof(MetricKey);
  info.entrysize = sizeof(MetricEntry);
  table = ShmemInitHash("pg_pulse metrics", kMaxMetricEntries, kMaxMetricEntries, &info, HASH_ELEM | HASH_BLOBS);
  lock = &(GetNamedLWLockTranche("pg_pulse metrics"))->lock;
}

// What this backend counted and has not applied yet, by (sub)transaction nesting level.
struct Pending {
  int level;
  MetricKey key;
  int64 stored, rejected_fields, dead_letters, batches;
};
std::vector<Pending>* pending = nullptr;
bool callbacks_registered = false;

void apply_pending() {
  if (!pending || pending->empty() || !table) return;
  TimestampTz now = GetCurrentTimestamp();
  LWLockAcquire(lock, LW_EXCLUSIVE);
  for (const Pending& p : *pending) {
    bool found = false;
    auto* e = static_cast<MetricEntry*>(hash_search(table, &p.key, HASH_ENTER_NULL, &found));
    if (!e) continue;  // full: documented, not counted
    if (!found) {
      e->stored = e->rejected_fields = e->dead_letters = e->batches = 0;
      e->last_event_at = 0;
      e->since = now;
    }
    e->stored += p.stored;
    e->rejected_fields += p.rejected_fields;
    e->dead_letters += p.dead_letters;
    e->batches += p.batches;
    if (p.stored > 0) e->last_event_at = now;
  }
  LWLockRelease(lock);
  pending->clear();
}

// Postgres calls these with no C++ frame around them: nothing may throw out of them.
void xact_callback(XactEvent event, void*) {
  // test hook (pulse.debug_pause_at = 'commit_visible'): the transaction is visible to other
  // sessions' snapshots, its invalidation messages are not sent yet (views' refresh test)
  if (event == XACT_EVENT_COMMIT) pg::pause_point("commit_visible", 30);
  if (!pending) return;
  switch (event) {
    case XACT_EVENT_PRE_COMMIT:
    case XACT_EVENT_PARALLEL_PRE_COMMIT:
      apply_pending();
      break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:  // a prepared transaction's counts are dropped (it may never commit here)
      pending->clear();
      break;
    default:
      break;
  }
}

void subxact_callback(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
  if (!pending || pending->empty()) return;
  int level = GetCurrentTransactionNestLevel();
  if (event == SUBXACT_EVENT_ABORT_SUB) {
    size_t keep = 0;
    for (size_t k = 0; k < pending->size(); k++)
      if ((*pending)[k].level < level) (*pending)[keep++] = (*pending)[k];
    pending->resize(keep);
  } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
    for (Pending& p : *pending)
      if (p.level >= level) p.level = level - 1;
  }
}

void fill_key(MetricKey* key, const std::string& project, const std::string& collection) {
  memset(key, 0, sizeof *key);
  key->dboid = MyDatabaseId;
  strlcpy(key->project, project.c_str(), sizeof key->project);
  strlcpy(key->collection, collection.c_str(), sizeof key->collection);
}

}  // namespace

void register_metrics_shmem() { pg::add_shmem_part({"pg_pulse metrics", metrics_size, 1, metrics_startup}); }

void note_ingest(const std::string& project, const std::string& collection, int64_t stored, int64_t rejected_fields,
                 int64_t dead_letters, int64_t batches) {
  if (!table) return;  // not preloaded
  if (!callbacks_registered) {
    pg::call([] {
      RegisterXactCallback(xact_callback, nullptr);
      RegisterSubXactCallback(subxact_callback, nullptr);
    });
    pending = new std::vector<Pending>();
    callbacks_registered = true;
  }
  Pending p{};
  p.level = GetCurrentTransactionNestLevel();
  fill_key(&p.key, project, collection);
  for (Pending& q : *pending)
    if (q.level == p.level && memcmp(&q.key, &p.key, sizeof p.key) == 0) {
      q.stored += stored;
      q.rejected_fields += rejected_fields;
      q.dead_letters += dead_letters;
      q.batches += batches;
      return;
    }
  p.stored = stored;
  p.rejected_fields = rejected_fields;
  p.dead_letters = dead_letters;
  p.batches = batches;
  pending->push_back(p);
}

namespace {

void require_metrics() {
  if (!ingest::table)
    throw Error(sqlstate::kObjectNotInPrerequisiteState, "pg_pulse is not loaded at server start", "",
                "Add pg_pulse to shared_preload_libraries and restart the server: the ingestion counters live in "
                "shared memory.");
}

}  // namespace

// pulse.collection_metrics(): the counters of this database's projects that the caller reads.
PULSE_SQL_FUNCTION(pulse_collection_metrics) {
  require_metrics();
  std::vector<ingest::MetricEntry> rows;
  pg::call([&] {
    LWLockAcquire(ingest::lock, LW_SHARED);
    HASH_SEQ_STATUS seq;
    hash_seq_init(&seq, ingest::table);
    while (auto* e = static_cast<ingest::MetricEntry*>(hash_seq_search(&seq)))
      if (e->key.dboid == MyDatabaseId) rows.push_back(*e);
    LWLockRelease(ingest::lock);
  });
  ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
  pg::call([&] { InitMaterializedSRF(fcinfo, 0); });
  for (const auto& e : rows) {
    if (!pg::current_role_sees(e.key.project)) continue;
    pg::call([&] {
      Datum v[8];
      bool n[8] = {false, false, false, false, false, false, false, false};
      v[0] = CStringGetTextDatum(e.key.project);
      v[1] = CStringGetTextDatum(e.key.collection);
      n[1] = e.key.collection[0] == '\0';
      v[2] = Int64GetDatum(e.stored);
      v[3] = Int64GetDatum(e.rejected_fields);
      v[4] = Int64GetDatum(e.dead_letters);
      v[5] = Int64GetDatum(e.batches);
      v[6] = TimestampTzGetDatum(e.last_event_at);
      n[6] = e.last_event_at == 0;
      v[7] = TimestampTzGetDatum(e.since);
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
    });
  }
  return (Datum)0;
}

// pulse.metrics_reset(project text DEFAULT NULL): zeroes the counters of one project, or of
// every project of this database, and restarts their `since` (superusers and pulse_admin).
PULSE_SQL_FUNCTION(pulse_metrics_reset) {
  require_metrics();
  bool allowed = false;
  pg::call([&] {
    Oid admin = get_role_oid("pulse_admin", true);
    allowed = superuser() || (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin));
  });
  if (!allowed)
    throw Error(sqlstate::kInsufficientPrivilege, "permission denied to reset pg_pulse metrics", "",
                "Superusers and members of pulse_admin reset them.");
  std::string project = PG_ARGISNULL(0) ? "" : pg::require_text(fcinfo, 0, "project");
  pg::call([&] {
    LWLockAcquire(ingest::lock, LW_EXCLUSIVE);
    HASH_SEQ_STATUS seq;
    hash_seq_init(&seq, ingest::table);
    while (auto* e = static_cast<ingest::MetricEntry*>(hash_seq_search(&seq)))
      if (e->key.dboid == MyDatabaseId && (project.empty() || project == e->key.project)) {
        e->stored = e->rejected_fields = e->dead_letters = e->batches = 0;
        e->since = GetCurrentTimestamp();
      }
    LWLockRelease(ingest::lock);
  });
  PG_RETURN_VOID();
}

}  // namespace pulse::ingest
