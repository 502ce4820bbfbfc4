// What two snapshots see of the writers of a mapping (see xid_snapshot.h).
#include "core/xid_snapshot.h"

#include <algorithm>

namespace pulse {

// The ids in progress are kept as offsets from xmin, sorted: every one lies in [xmin, xmax).
void XidSnapshot::set_running(const uint32_t* xids, size_t n) {
  running.assign(xids, xids + n);
  for (uint32_t& x : running) x -= xmin;
  std::sort(running.begin(), running.end());
}

bool XidSnapshot::ended(uint32_t xid) const {
  if (xid_precedes(xid, xmin)) return true;
  if (!xid_precedes(xid, xmax)) return false;
  return !std::binary_search(running.begin(), running.end(), xid - xmin);
}

bool sees_same_writes(const XidSnapshot& a, const XidSnapshot& b, const WriterLog& log) {
  constexpr uint32_t kMaxApart = uint32_t(1) << 28;
  const uint32_t apart = xid_precedes(a.xmin, b.xmin) ? b.xmin - a.xmin : a.xmin - b.xmin;
  if (apart >= kMaxApart) return false;
  if (log.dropped_any && !(xid_precedes(log.latest_dropped, a.xmin) && xid_precedes(log.latest_dropped, b.xmin)))
    return false;
  for (size_t i = 0; i < log.count; ++i)
    if (a.ended(log.writers[i]) != b.ended(log.writers[i])) return false;
  return true;
}

}  // namespace pulse
