// One pair of shared-memory hooks for every part of pg_pulse's shared memory (shmem_parts.h).
#include "pg/shmem_parts.h"

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
}

namespace pulse::pg {
namespace {

ShmemPart parts[kMaxShmemParts];
int nparts = 0;
shmem_request_hook_type prev_request = nullptr;
shmem_startup_hook_type prev_startup = nullptr;

void request() {
  if (prev_request) prev_request();
  for (int k = 0; k < nparts; k++) {
    RequestAddinShmemSpace(parts[k].size());
    if (parts[k].lwlocks > 0) RequestNamedLWLockTranche(parts[k].name, parts[k].lwlocks);
  }
}

void startup() {
  if (prev_startup) prev_startup();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  for (int k = 0; k < nparts; k++) parts[k].startup();
  LWLockRelease(AddinShmemInitLock);
}

}  // namespace

void add_shmem_part(const ShmemPart& part) {
  if (nparts == kMaxShmemParts) elog(ERROR, "pg_pulse: too many parts of shared memory");
  if (nparts == 0) {
    prev_request = shmem_request_hook;
    shmem_request_hook = request;
    prev_startup = shmem_startup_hook;
    shmem_startup_hook = startup;
  }
  parts[nparts++] = part;
}

}  // namespace pulse::pg
