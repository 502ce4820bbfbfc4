// Persons on first sight (see persons.h note_persons_seen): the ids ingestion sees get their
// person, set-based per chunk, skipping the ids this backend already knows to be mapped.
#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ingest/direct_insert.h"
#include "ingest/persons.h"
#include "pg/spi.h"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "nodes/makefuncs.h"
#include "port/pg_bswap.h"
#include "utils/inval.h"

// the mapping tables' trigger (src/analytics/person_cache.cc): a row mapping an id to itself
// is nothing it records
Datum pulse_person_ids_written(PG_FUNCTION_ARGS);
}

namespace pulse::ingest {
namespace {

using pg::Arg;

// Most ids the cache keeps per mapping table before it starts again (bounds its memory).
constexpr size_t kMaxKnownIds = 2000000;

// The ids known to be mapped, and the links known to be made (link_key), per mapping table
// (<project>._person_ids), from committed transactions; those of the current transaction wait
// in `pending` (with the nesting level of the subtransaction that made them) until it commits.
//
// The entries of a subtransaction (and of those nested in it) are always the end of `pending`:
// a subtransaction's commit or abort touches only them, from the end. A relcache invalidation
// of a mapping table (an erasure sends one, pulse._persons_forget; a DROP too) forgets what is
// known of it and the pending ids mapped before it: each pending id carries the invalidation
// count of its time, and each table the count of its last invalidation. Neither callback walks
// all pending ids (a transaction that meets a million new ids and many invalidations spent most
// of its time there).
struct PendingId {
  int level;
  Oid relid;
  uint64_t seen;  // g_invalidations when it was mapped
  std::string id;
};
std::unordered_map<Oid, std::unordered_set<std::string>>* g_known = nullptr;
std::vector<PendingId>* g_pending = nullptr;
std::unordered_map<Oid, uint64_t>* g_forgotten = nullptr;  // mapping table -> its last invalidation
uint64_t g_invalidations = 0;                              // relcache invalidations of mapping tables so far
uint64_t g_forgot_all = 0;                                 // the last invalidation of every relation

void xact_callback(XactEvent event, void*) {
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) {
    try {
      for (auto& p : *g_pending) {
        auto f = g_forgotten->find(p.relid);
        if (p.seen < g_forgot_all || (f != g_forgotten->end() && p.seen < f->second)) continue;
        auto& set = (*g_known)[p.relid];
        if (set.size() >= kMaxKnownIds) set.clear();
        set.insert(std::move(p.id));
      }
    } catch (...) {  // no memory: nothing known is still right (a callback of Postgres must not throw)
      g_known->clear();
    }
    g_pending->clear();
    g_forgotten->clear();
  } else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
    g_pending->clear();
    g_forgotten->clear();
  }
}

void subxact_callback(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
  if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB) return;
  int level = GetCurrentTransactionNestLevel();
  if (event == SUBXACT_EVENT_ABORT_SUB) {
    while (!g_pending->empty() && g_pending->back().level >= level) g_pending->pop_back();
  } else {
    for (auto p = g_pending->rbegin(); p != g_pending->rend() && p->level >= level; ++p) p->level = level - 1;
  }
}

// A relcache invalidation (of any relation: this runs for each one, so it stays O(1)).
void forget_callback(Datum, Oid relid) {
  if (relid == InvalidOid) {
    g_known->clear();
    g_forgot_all = ++g_invalidations;
    return;
  }
  g_known->erase(relid);
  if (g_pending->empty()) return;
  try {
    (*g_forgotten)[relid] = ++g_invalidations;
  } catch (...) {  // no memory: forget the pending ids of every table
    g_forgot_all = ++g_invalidations;
  }
}

void register_callbacks() {
  if (g_known) return;
  pg::call([] {
    RegisterXactCallback(xact_callback, nullptr);
    RegisterSubXactCallback(subxact_callback, nullptr);
    CacheRegisterRelcacheCallback(forget_callback, (Datum)0);
  });
  g_known = new std::unordered_map<Oid, std::unordered_set<std::string>>();
  g_pending = new std::vector<PendingId>();
  g_forgotten = new std::unordered_map<Oid, uint64_t>();
}

// The cache's key of a link: the two ids apart by a NUL byte (which no text holds, so no link
// is taken for an id), and a second one when its person is identified.
std::string link_key(const std::string& id, const std::string& other, bool identified) {
  std::string k;
  k.reserve(id.size() + other.size() + 2);
  k.append(id).push_back('\0');
  k.append(other);
  if (identified) k.push_back('\0');
  return k;
}

// The oid of relation `name` of schema `project`, InvalidOid when it does not exist.
Oid relation_in(const std::string& project, const char* name) {
  Oid relid = InvalidOid;
  pg::call([&] { relid = RangeVarGetRelid(makeRangeVar(pstrdup(project.c_str()), pstrdup(name), -1), NoLock, true); });
  return relid;
}

// Binary COPY rows of one text column each (direct_insert.h's format), one per id.
std::string one_column_rows(const std::vector<std::string>& ids, int copies) {
  std::string rows;
  size_t bytes = 0;
  for (auto& id : ids) bytes += 2 + size_t(copies) * (4 + id.size());
  rows.reserve(bytes);
  for (auto& id : ids) {
    uint16_t n = pg_hton16(uint16_t(copies));
    rows.append(reinterpret_cast<const char*>(&n), 2);
    for (int k = 0; k < copies; k++) {
      uint32_t len = pg_hton32(uint32_t(id.size()));
      rows.append(reinterpret_cast<const char*>(&len), 4);
      rows.append(id);
    }
  }
  return rows;
}

// Maps each id of `ids` (distinct, sorted) that has no mapping to a new person: the ids are
// looked up through the index, then the new mappings and person rows go straight through the
// table and index routines (direct_insert.h: one multi-insert per page instead of an executor
// row each, and no trigger call for a mapping to itself, which the trigger does not record).
// False, with nothing written, when a table needs the executor's path (a trigger added by hand).
bool insert_direct(const std::string& project, Oid mapping, const std::vector<std::string>& ids) {
  std::vector<std::string> fresh;
  for (auto& id : pg::spi_column("SELECT pulse._persons_unmapped($1, $2)", {Arg::text(project), Arg::text_array(ids)}))
    if (id) fresh.push_back(std::move(*id));
  if (fresh.empty()) return true;
  Oid persons = relation_in(project, "_persons");
  if (persons == InvalidOid) return false;
  uint64_t n = 0;
  if (!insert_binary_rows(mapping, {"distinct_id", "person_id"}, one_column_rows(fresh, 2), &n,
                          pulse_person_ids_written))
    return false;
  if (!insert_binary_rows(persons, {"_person"}, one_column_rows(fresh, 1), &n))
    pg::spi_exec("INSERT INTO " + pg::quote_ident(project) + "._persons (_person) SELECT unnest($1::text[])",
                 {Arg::text_array(fresh)});
  return true;
}

}  // namespace

// The oid of <project>._person_ids, InvalidOid when it does not exist.
Oid mapping_of(const std::string& project) { return relation_in(project, "_person_ids"); }

bool link_known(Oid mapping, const std::string& id, const std::string& other, bool identify) {
  if (mapping == InvalidOid || !g_known) return false;
  auto it = g_known->find(mapping);
  if (it == g_known->end()) return false;
  return it->second.count(link_key(id, other, true)) || (!identify && it->second.count(link_key(id, other, false)));
}

void note_link_made(Oid mapping, const std::string& id, const std::string& other, bool identify) {
  if (mapping == InvalidOid) return;
  register_callbacks();
  int level = 0;
  pg::call([&] { level = GetCurrentTransactionNestLevel(); });
  g_pending->push_back(PendingId{level, mapping, g_invalidations, link_key(id, other, identify)});
}

void note_persons_seen(const std::string& project, const std::unordered_set<std::string>& users) {
  if (users.empty()) return;
  register_callbacks();
  Oid relid = mapping_of(project);
  std::vector<std::string> unknown;
  if (relid != InvalidOid) {
    auto it = g_known->find(relid);
    for (auto& u : users)
      if (u.size() <= kMaxPersonIdBytes && (it == g_known->end() || !it->second.count(u))) unknown.push_back(u);
  } else {
    for (auto& u : users)
      if (u.size() <= kMaxPersonIdBytes) unknown.push_back(u);
  }
  if (unknown.empty()) return;
  // one order for every inserter: two chunks with the same new ids never deadlock
  std::sort(unknown.begin(), unknown.end());
  // plain inserts of the ids not mapped (cheaper than ON CONFLICT); when a concurrent call maps
  // one of them first, again with ON CONFLICT DO NOTHING
  auto insert = [&](bool on_conflict) {
    pg::in_subtransaction([&] {
      if (relid == InvalidOid) {
        pg::spi_exec("SELECT pulse._ensure_persons($1)", {Arg::text(project)});
        relid = mapping_of(project);
      }
      if (!on_conflict && insert_direct(project, relid, unknown)) return;
      pg::spi_exec("SELECT pulse._persons_seen($1, $2, $3)",
                   {Arg::text(project), Arg::text_array(unknown), Arg::boolean(on_conflict)});
    });
  };
  try {
    try {
      insert(false);
    } catch (pg::PgError& e) {
      if (e.sqlerrcode() != ERRCODE_UNIQUE_VIOLATION) throw;
      insert(true);
    }
  } catch (pg::PgError& e) {
    if (pg::is_abort_error(e.sqlerrcode())) throw;
    std::string why = e.what();
    pg::call([&] {
      ereport(WARNING, (errcode(ERRCODE_WARNING), errmsg("pg_pulse: persons of project %s not created: %s",
                                                         project.c_str(), pg::clip_message(why).c_str())));
    });
    return;
  }
  int level = 0;
  pg::call([&] { level = GetCurrentTransactionNestLevel(); });
  for (auto& u : unknown) g_pending->push_back(PendingId{level, relid, g_invalidations, std::move(u)});
}

// pulse._persons_forget(mapping regclass): at commit, every backend forgets the ids it knows
// to be mapped in that table (an erasure removed some).
PULSE_SQL_FUNCTION(pulse_persons_forget) {
  Oid relid = PG_GETARG_OID(0);
  pg::call([&] { CacheInvalidateRelcacheByRelid(relid); });
  PG_RETURN_VOID();
}

}  // namespace pulse::ingest
