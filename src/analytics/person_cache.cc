// The backend's cache of a person mapping and the ring of its writers (see person_cache.h).
#include "analytics/person_cache.h"

#include <cstring>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/xid_snapshot.h"
#include "pg/guard.h"
#include "pg/gucs.h"
#include "pg/shmem_parts.h"

extern "C" {
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
}

namespace pulse::analytics {
namespace {

// Writers the ring keeps (of every mapping table of the server). A writer records itself once
// per table and transaction, so the ring drops a writer only after this many others; a cache
// is then kept only by snapshots that see every dropped writer as ended.
constexpr uint64 kRing = 1024;

struct Writer {
  TransactionId xid;  // top-level
  Oid db;
  Oid rel;
};

struct Ring {
  slock_t mutex;
  uint64 total;  // writers recorded since the server started
  bool dropped_any;
  TransactionId latest_dropped;
  Writer writers[kRing];
};

Ring* ring = nullptr;

Size ring_size() { return MAXALIGN(sizeof(Ring)); }

void ring_startup() {
  bool found = false;
  ring = static_cast<Ring*>(ShmemInitStruct("pg_pulse person cache", sizeof(Ring), &found));
  if (!found) {
    memset(ring, 0, sizeof(Ring));
    SpinLockInit(&ring->mutex);
  }
}

// The writer this backend recorded last: a transaction records itself once per table.
TransactionId recorded_xid = InvalidTransactionId;
Oid recorded_rel = InvalidOid;

void record_writer(Oid rel) {
  if (!ring) return;
  const TransactionId top = GetTopTransactionId();
  if (top == recorded_xid && rel == recorded_rel) return;
  SpinLockAcquire(&ring->mutex);
  Writer& slot = ring->writers[ring->total % kRing];
  if (ring->total >= kRing) {
    if (!ring->dropped_any || TransactionIdFollows(slot.xid, ring->latest_dropped)) ring->latest_dropped = slot.xid;
    ring->dropped_any = true;
  }
  slot = Writer{top, MyDatabaseId, rel};
  ring->total++;
  SpinLockRelease(&ring->mutex);
  recorded_xid = top;
  recorded_rel = rel;
}

// Whether the current transaction wrote a mapping table: its own snapshots see its writes by
// command, which the ring does not tell apart, so it neither uses nor keeps a cache.
bool wrote_a_mapping() {
  const TransactionId top = GetTopTransactionIdIfAny();
  return TransactionIdIsValid(top) && top == recorded_xid;
}

// Whether the row maps an id to another id (only such rows change a resolution: PersonMap
// skips the others). Without the two text columns: taken to (a write is recorded).
bool maps_to_other(Relation rel, HeapTuple tuple) {
  TupleDesc desc = RelationGetDescr(rel);
  int id_att = 0, person_att = 0;
  for (int k = 0; k < desc->natts; ++k) {
    Form_pg_attribute a = TupleDescAttr(desc, k);
    if (a->attisdropped) continue;
    if (strcmp(NameStr(a->attname), "distinct_id") == 0) id_att = k + 1;
    if (strcmp(NameStr(a->attname), "person_id") == 0) person_att = k + 1;
  }
  if (!id_att || !person_att) return true;
  bool id_null = false, person_null = false;
  Datum id = heap_getattr(tuple, id_att, desc, &id_null);
  Datum person = heap_getattr(tuple, person_att, desc, &person_null);
  // (a NULL on either side resolves nothing)
  if (id_null || person_null) return false;
  auto* iv = pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(DatumGetPointer(id)));
  auto* pv = pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(DatumGetPointer(person)));
  return VARSIZE_ANY_EXHDR(iv) != VARSIZE_ANY_EXHDR(pv) ||
         memcmp(VARDATA_ANY(iv), VARDATA_ANY(pv), VARSIZE_ANY_EXHDR(iv)) != 0;
}

// Whether every write to rel records itself: pulse._person_ids_written fires, ALWAYS (in
// replicas and with session_replication_role = replica too), for each row inserted, updated
// or deleted (no column list, no condition) and for TRUNCATE.
bool writes_recorded(Relation rel) {
  const TriggerDesc* td = rel->trigdesc;
  if (!td) return false;
  const Oid pulse_nsp = get_namespace_oid("pulse", true);
  bool rows = false, truncate = false;
  for (int k = 0; k < td->numtriggers; ++k) {
    const Trigger& t = td->triggers[k];
    if (t.tgenabled != TRIGGER_FIRES_ALWAYS || t.tgnattr != 0 || t.tgqual != nullptr) continue;
    if (get_func_namespace(t.tgfoid) != pulse_nsp) continue;
    char* name = get_func_name(t.tgfoid);
    if (!name || strcmp(name, "_person_ids_written") != 0) continue;
    if (TRIGGER_FOR_ROW(t.tgtype) && TRIGGER_FOR_INSERT(t.tgtype) && TRIGGER_FOR_UPDATE(t.tgtype) &&
        TRIGGER_FOR_DELETE(t.tgtype))
      rows = true;
    if (TRIGGER_FOR_TRUNCATE(t.tgtype)) truncate = true;
  }
  return rows && truncate;
}

// The snapshot's view of transactions; false for a snapshot the ring cannot be checked
// against (not MVCC, or taken during recovery: a standby replays writes without triggers).
bool copy_snapshot(Snapshot s, XidSnapshot* out) {
  if (!s || s->snapshot_type != SNAPSHOT_MVCC || s->takenDuringRecovery) return false;
  out->xmin = s->xmin;
  out->xmax = s->xmax;
  out->set_running(s->xip, size_t(s->xcnt));
  return true;
}

struct Cached {
  Oid db = InvalidOid;
  Oid rel = InvalidOid;
  Oid relfilenode = InvalidOid;
  XidSnapshot snapshot;  // the one the mapping was loaded under
  std::shared_ptr<const PersonMap> map;
};
Cached* cached = nullptr;

// A relcache invalidation of the cached table (DROP, TRUNCATE, a trigger changed) or of all.
void forget(Datum, Oid relid) {
  if (cached && (relid == InvalidOid || relid == cached->rel)) cached->map.reset();
}

// Whether the snapshot sees the rows of rel the cached mapping was loaded from.
bool still_valid(const XidSnapshot& now) {
  std::vector<uint32_t> writers;
  writers.reserve(kRing);
  WriterLog log;
  SpinLockAcquire(&ring->mutex);
  const uint64 first = ring->total > kRing ? ring->total - kRing : 0;
  for (uint64 k = first; k < ring->total; ++k) {
    const Writer& w = ring->writers[k % kRing];
    if (w.db == cached->db && w.rel == cached->rel) writers.push_back(w.xid);  // (within capacity)
  }
  log.dropped_any = ring->dropped_any;
  log.latest_dropped = ring->latest_dropped;
  SpinLockRelease(&ring->mutex);
  log.writers = writers.data();
  log.count = writers.size();
  return sees_same_writes(cached->snapshot, now, log);
}

}  // namespace

void register_person_cache_shmem() { pg::add_shmem_part({"pg_pulse person cache", ring_size, 0, ring_startup}); }

bool mapping_readable_whole(Oid rel) {
  bool whole = false;
  pg::call([&] {
    whole = get_rel_relkind(rel) == RELKIND_RELATION &&
            pg_class_aclcheck(rel, GetUserId(), ACL_SELECT) == ACLCHECK_OK &&
            check_enable_rls(rel, InvalidOid, true) != RLS_ENABLED;
  });
  return whole;
}

std::shared_ptr<const PersonMap> person_map(Oid rel, const std::function<bool(PersonMap&)>& load) {
  XidSnapshot now;
  Oid relfilenode = InvalidOid;
  bool keep = false;
  pg::call([&] {
    if (!ring || pulse_person_cache_kb <= 0 || RecoveryInProgress() || wrote_a_mapping() ||
        !copy_snapshot(GetActiveSnapshot(), &now))
      return;
    // (the lock the load takes anyway, held to the end of the transaction; a table gone is
    // reported by the load)
    Relation r = try_relation_open(rel, AccessShareLock);
    if (!r) return;
    keep = r->rd_rel->relkind == RELKIND_RELATION && writes_recorded(r);
    relfilenode = r->rd_node.relNode;
    relation_close(r, NoLock);
    if (keep && !cached) {
      CacheRegisterRelcacheCallback(forget, (Datum)0);
      cached = new Cached();
    }
  });
  if (keep && cached->map && cached->db == MyDatabaseId && cached->rel == rel && cached->relfilenode == relfilenode &&
      mapping_readable_whole(rel) && still_valid(now)) {
    pg::call([] { elog(DEBUG1, "pg_pulse: person mapping reused"); });
    return cached->map;
  }
  auto map = std::make_shared<PersonMap>();
  const bool whole = load(*map);
  if (cached && cached->rel == rel) cached->map.reset();  // (stale, or about to be replaced)
  if (keep && whole && map->memory_bytes() <= size_t(pulse_person_cache_kb) * 1024) {
    cached->db = MyDatabaseId;
    cached->rel = rel;
    cached->relfilenode = relfilenode;
    cached->snapshot = std::move(now);
    cached->map = map;
    pg::call([] { elog(DEBUG1, "pg_pulse: person mapping loaded and kept"); });
  }
  return map;
}

// pulse._person_ids_written() -> trigger: records the writing transaction in the ring when the
// row maps an id to another (before or after an update), and for TRUNCATE.
PULSE_SQL_FUNCTION(pulse_person_ids_written) {
  if (!CALLED_AS_TRIGGER(fcinfo))
    throw Error(sqlstate::kFeatureNotSupported, "pulse._person_ids_written can only run as a trigger");
  auto* td = reinterpret_cast<TriggerData*>(fcinfo->context);
  const TriggerEvent ev = td->tg_event;
  HeapTuple result = nullptr;
  pg::call([&] {
    bool changes = true;
    if (TRIGGER_FIRED_FOR_ROW(ev)) {
      result = TRIGGER_FIRED_BY_UPDATE(ev) ? td->tg_newtuple : td->tg_trigtuple;
      changes = maps_to_other(td->tg_relation, td->tg_trigtuple) ||
                (TRIGGER_FIRED_BY_UPDATE(ev) && maps_to_other(td->tg_relation, td->tg_newtuple));
    }
    if (changes) record_writer(RelationGetRelid(td->tg_relation));
  });
  return PointerGetDatum(result);
}

}  // namespace pulse::analytics
