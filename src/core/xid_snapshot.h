// What two MVCC snapshots see of a set of writing transactions, for the backend's cache of a
// person mapping (src/analytics/person_cache.cc): a mapping loaded under one snapshot holds
// the rows another snapshot would read when every transaction that wrote the mapping had
// either ended before both snapshots were taken or ended before neither. (A transaction that
// ended between them is taken to have committed: an aborted one costs a reload, never a
// wrong answer.)
//
// Transaction ids are top-level ids compared as Postgres compares them, modulo 2^32.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pulse {

inline bool xid_precedes(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }

struct XidSnapshot {
  uint32_t xmin = 0;  // every transaction before it had ended
  uint32_t xmax = 0;  // no transaction from it on had ended
  // the top-level transactions in [xmin, xmax) still in progress; set through set_running
  std::vector<uint32_t> running;

  // Keeps the ids in progress (any order).
  void set_running(const uint32_t* xids, size_t n);
  // Whether transaction xid had ended (committed or aborted) when the snapshot was taken.
  bool ended(uint32_t xid) const;
};

// The ring of recent writers the cache checks against: the top-level ids of the transactions
// that wrote the mapping since the ring last dropped an entry, and, once it has dropped some,
// the latest id it dropped.
struct WriterLog {
  const uint32_t* writers = nullptr;
  size_t count = 0;
  bool dropped_any = false;
  uint32_t latest_dropped = 0;
};

// Whether snapshots a and b see the same writes of every writer of the log. The writers the
// ring dropped must have ended before both snapshots (they are older than both xmins); the
// snapshots must be less than 2^28 transactions apart (so that no comparison wraps around).
bool sees_same_writes(const XidSnapshot& a, const XidSnapshot& b, const WriterLog& log);

}  // namespace pulse
