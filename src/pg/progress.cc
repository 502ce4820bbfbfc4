// Progress slots in shared memory (see progress.h) and pulse.progress_status().
#include "pg/progress.h"

#include <vector>

#include "pg/shmem_parts.h"
#include "pg/trust.h"

extern "C" {
#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

namespace pulse::pg {
namespace {

struct Slot {
  // written only by its backend: even when stable, odd while being written (readers retry)
  pg_atomic_uint32 changecount;
  int32 pid;  // 0: free
  Oid dboid;
  char command[24];
  char project[NAMEDATALEN];
  char object[NAMEDATALEN];
  char phase[64];
  char unit[16];
  int64 done, total;
  TimestampTz started_at, updated_at;
};
static_assert(sizeof(Slot) <= 512, "Progress::saved_ holds a slot");

Slot* slots = nullptr;
int nslots = 0;
int depth = 0;  // active reports of this backend

Size slots_size() { return mul_size(sizeof(Slot), MaxBackends); }

void slots_startup() {
  bool found = false;
  slots = static_cast<Slot*>(ShmemInitStruct("pg_pulse progress", mul_size(sizeof(Slot), MaxBackends), &found));
  nslots = MaxBackends;
  if (!found) {
    memset(slots, 0, sizeof(Slot) * MaxBackends);
    for (int k = 0; k < MaxBackends; k++) pg_atomic_init_u32(&slots[k].changecount, 0);
  }
}

Slot* my_slot() {
  if (!slots || MyBackendId == InvalidBackendId || MyBackendId > nslots) return nullptr;
  return &slots[MyBackendId - 1];
}

template <class F>
void write_slot(Slot* s, F&& f) {
  pg_atomic_fetch_add_u32(&s->changecount, 1);
  pg_write_barrier();
  f(s);
  pg_write_barrier();
  pg_atomic_fetch_add_u32(&s->changecount, 1);
}

void clear_slot(int, Datum) {
  if (Slot* s = my_slot()) write_slot(s, [](Slot* x) { x->pid = 0; });
  depth = 0;
}

// A transaction that fails leaves no report behind (its C++ frames are gone already when the
// error did not pass through them).
void xact_callback(XactEvent event, void*) {
  if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) clear_slot(0, 0);
}

bool callbacks_registered = false;

void copy_text(char* dst, size_t size, const std::string& s) { strlcpy(dst, s.c_str(), size); }

}  // namespace

void register_progress_shmem() { add_shmem_part({"pg_pulse progress", slots_size, 0, slots_startup}); }

Progress::Progress(const char* command, const std::string& project, const std::string& object) {
  Slot* s = my_slot();
  if (!s) return;
  if (!callbacks_registered) {
    call([] {
      RegisterXactCallback(xact_callback, nullptr);
      before_shmem_exit(clear_slot, 0);
    });
    callbacks_registered = true;
  }
  had_outer_ = depth > 0 && s->pid != 0;
  if (had_outer_) memcpy(saved_, s, sizeof(Slot));
  TimestampTz now = GetCurrentTimestamp();
  write_slot(s, [&](Slot* x) {
    x->pid = MyProcPid;
    x->dboid = MyDatabaseId;
    strlcpy(x->command, command, sizeof x->command);
    copy_text(x->project, sizeof x->project, project);
    copy_text(x->object, sizeof x->object, object);
    x->phase[0] = x->unit[0] = '\0';
    x->done = x->total = 0;
    x->started_at = x->updated_at = now;
  });
  depth++;
  active_ = true;
}

Progress::~Progress() {
  if (copy_feed == this) copy_feed = nullptr;
  if (!active_) return;
  depth--;
  Slot* s = my_slot();
  if (!s) return;
  if (had_outer_ && depth > 0) {
    write_slot(s, [&](Slot* x) {
      const Slot* o = reinterpret_cast<const Slot*>(saved_);
      x->pid = o->pid;
      x->dboid = o->dboid;
      memcpy(x->command, o->command, sizeof x->command);
      memcpy(x->project, o->project, sizeof x->project);
      memcpy(x->object, o->object, sizeof x->object);
      memcpy(x->phase, o->phase, sizeof x->phase);
      memcpy(x->unit, o->unit, sizeof x->unit);
      x->done = o->done;
      x->total = o->total;
      x->started_at = o->started_at;
      x->updated_at = GetCurrentTimestamp();
    });
  } else {
    write_slot(s, [](Slot* x) { x->pid = 0; });
  }
}

void Progress::phase(const char* phase, int64_t done, int64_t total, const char* unit) {
  if (!active_) return;
  Slot* s = my_slot();
  if (!s) return;
  TimestampTz now = GetCurrentTimestamp();
  write_slot(s, [&](Slot* x) {
    strlcpy(x->phase, phase, sizeof x->phase);
    strlcpy(x->unit, unit, sizeof x->unit);
    x->done = done;
    x->total = total;
    x->updated_at = now;
  });
}

Progress* Progress::copy_feed = nullptr;

void Progress::rename(const std::string& project, const std::string& object) {
  if (!active_) return;
  Slot* s = my_slot();
  if (!s) return;
  write_slot(s, [&](Slot* x) {
    copy_text(x->project, sizeof x->project, project);
    copy_text(x->object, sizeof x->object, object);
  });
}

void Progress::advance(int64_t done) {
  if (active_) progress_advance(done);
}

void progress_advance(int64_t done) {
  if (depth == 0) return;
  Slot* s = my_slot();
  if (!s || s->pid == 0) return;
  write_slot(s, [&](Slot* x) {
    x->done = done;
    x->updated_at = GetCurrentTimestamp();
  });
}

// pulse.progress_status(): the operations running now in this database, of the projects the
// caller sees (readers of the project, pg_monitor, superusers).
PULSE_SQL_FUNCTION(pulse_progress_status) {
  if (!pg::slots)
    throw Error(sqlstate::kObjectNotInPrerequisiteState, "pg_pulse is not loaded at server start", "",
                "Add pg_pulse to shared_preload_libraries and restart the server: progress lives in shared memory.");
  std::vector<pg::Slot> rows;
  for (int k = 0; k < pg::nslots; k++) {
    pg::Slot copy;
    for (int tries = 0; tries < 1000; tries++) {
      uint32 before = pg_atomic_read_u32(&pg::slots[k].changecount);
      pg_read_barrier();
      memcpy(static_cast<void*>(&copy), &pg::slots[k], sizeof copy);
      pg_read_barrier();
      uint32 after = pg_atomic_read_u32(&pg::slots[k].changecount);
      if (before == after && (before & 1) == 0) break;
      copy.pid = 0;
    }
    if (copy.pid != 0 && copy.dboid == MyDatabaseId) rows.push_back(copy);
  }
  ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
  pg::call([&] { InitMaterializedSRF(fcinfo, 0); });
  for (const auto& r : rows) {
    if (!pg::current_role_sees(r.project)) continue;
    pg::call([&] {
      Datum v[10];
      bool n[10] = {};
      v[0] = Int32GetDatum(r.pid);
      v[1] = CStringGetTextDatum(r.command);
      v[2] = CStringGetTextDatum(r.project);
      v[3] = CStringGetTextDatum(r.object);
      n[3] = r.object[0] == '\0';
      v[4] = CStringGetTextDatum(r.phase);
      n[4] = r.phase[0] == '\0';
      v[5] = Int64GetDatum(r.done);
      v[6] = Int64GetDatum(r.total);
      n[6] = r.total <= 0;
      v[7] = CStringGetTextDatum(r.unit);
      n[7] = r.unit[0] == '\0';
      v[8] = TimestampTzGetDatum(r.started_at);
      v[9] = TimestampTzGetDatum(r.updated_at);
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
    });
  }
  return (Datum)0;
}

}  // namespace pulse::pg
