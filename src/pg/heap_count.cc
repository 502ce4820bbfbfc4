// Counting a table's rows without the executor (see heap_count.h).
#include "pg/heap_count.h"

#include <string>

#include "pg/guard.h"
#include "pg/spi.h"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am_d.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

namespace pulse::pg {

int64_t count_visible_rows(Oid relid) {
  int64_t n = 0;
  bool heap = false;
  std::string name;
  call([&] {
    Relation rel = table_open(relid, AccessShareLock);
    heap = rel->rd_rel->relam == HEAP_TABLE_AM_OID;
    if (!heap) {
      name = std::string(quote_identifier(get_namespace_name(RelationGetNamespace(rel)))) + "." +
             quote_identifier(RelationGetRelationName(rel));
      table_close(rel, NoLock);
      return;
    }
    Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
    // a bulk-read ring (as a sequential scan of a large table uses), no synchronised start:
    // every page is read once, in order
    TableScanDesc scan = table_beginscan_strat(rel, snapshot, 0, nullptr, true, false);
    auto* hscan = reinterpret_cast<HeapScanDesc>(scan);
    // heapgetpage() of a page-mode scan decides each tuple's visibility once (all-visible pages
    // without a check) and leaves the number of visible ones in rs_ntuples
    for (BlockNumber page = 0; page < hscan->rs_nblocks; page++) {
      CHECK_FOR_INTERRUPTS();
      heapgetpage(scan, page);
      n += hscan->rs_ntuples;
    }
    table_endscan(scan);
    UnregisterSnapshot(snapshot);
    table_close(rel, NoLock);
  });
  if (heap) return n;
  auto v = spi_value("SELECT count(*) FROM " + name);
  return v ? std::stoll(*v) : 0;
}

}  // namespace pulse::pg
