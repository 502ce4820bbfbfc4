// Collection upkeep by the database's scheduler (see maintenance.h): BRIN summaries.
#include "ingest/maintenance.h"

#include <map>
#include <string>

#include "pg/bgworker.h"
#include "pg/spi.h"

extern "C" {
#include "executor/spi.h"
}

namespace pulse::ingest {

namespace {

// rows inserted into each collection (pg_stat) when its ranges were last summarised
std::map<Oid, int64> summarised_at;

}  // namespace

void summarize_new_ranges() {
  struct Index {
    Oid relid, indexid;
    int64 inserted;
  };
  std::vector<Index> todo;
  pg::in_transaction("pg_pulse scheduler: looking for new BRIN ranges", [&] {
    uint64_t n = pg::spi_exec(
        "SELECT c.oid, i.indexrelid, coalesce(pg_catalog.pg_stat_get_tuples_inserted(c.oid), 0)"
        " FROM pulse.collection_registry r"
        " JOIN pg_catalog.pg_namespace ns ON ns.nspname = r.project"
        " JOIN pg_catalog.pg_class t ON t.relnamespace = ns.oid AND t.relname = r.name"
        // a partitioned collection: its partitions' indexes (the partitioned index has no ranges)
        " CROSS JOIN LATERAL pg_catalog.pg_partition_tree(t.oid) pt"
        " JOIN pg_catalog.pg_class c ON c.oid = pt.relid AND pt.isleaf"
        " JOIN pg_catalog.pg_index i ON i.indrelid = c.oid"
        " JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
        " JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'brin'");
    for (uint64_t r = 0; r < n; r++) {
      Index x;
      pg::call([&] {
        bool isnull;
        x.relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
        x.indexid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
        x.inserted = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &isnull));
      });
      auto it = summarised_at.find(x.relid);
      if (it == summarised_at.end() || it->second != x.inserted) todo.push_back(x);
    }
  });
  std::map<Oid, int64> done;
  for (const Index& x : todo) {
    pg::worker_check_interrupts();
    // one short transaction per index: ingestion into the collection goes on meanwhile
    pg::in_transaction("pg_pulse scheduler: summarising new BRIN ranges", [&] {
      pg::spi_exec("SELECT pg_catalog.brin_summarize_new_values(($1::pg_catalog.oid)::pg_catalog.regclass)",
                   {pg::Arg::int8(int64(x.indexid))});  // oid -> regclass
    });
    done[x.relid] = x.inserted;
  }
  for (auto& [relid, inserted] : done) summarised_at[relid] = inserted;
}

}  // namespace pulse::ingest
