// Invalidations (see views.h): UPDATE, DELETE and TRUNCATE on a collection cannot be merged into
// partial aggregate states, so a statement trigger records them (pulse._views_invalidate, one
// row per statement in pulse.view_invalidations) and the collection's views rebuild at their
// next refresh; realtime views read their defining query until then.
#include "views/views.h"

extern "C" {
#include "access/transam.h"
#include "storage/procarray.h"
}

namespace pulse::views {

using pg::Arg;

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t k = 0; k < v.size(); k++) out += (k ? sep : "") + v[k];
  return out;
}

void ensure_invalidation_trigger(const std::string& project, const std::string& collection) {
  std::string t = pg::quote_ident(project) + "." + pg::quote_ident(collection);
  if (pg::spi_value(
          "SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = $1::regclass AND tgname = '_pulse_views_invalidate'",
          {Arg::text(t)}))
    return;
  pg::spi_exec("CREATE TRIGGER _pulse_views_invalidate AFTER UPDATE OR DELETE OR TRUNCATE ON " + t +
               " FOR EACH STATEMENT EXECUTE FUNCTION pulse._views_invalidate()");
}

bool invalidated_since(const std::string& project, const std::string& collection, const std::string& snapshot,
                       Snapshot under) {
  uint64_t n = pg::spi_exec_snapshot(
      "SELECT 1 FROM pulse.view_invalidations WHERE project = $1 AND collection = $2"
      " AND NOT pg_catalog.pg_visible_in_snapshot(xid, $3::pg_catalog.pg_snapshot) LIMIT 1",
      {Arg::text(project), Arg::text(collection), Arg::text(snapshot)}, under);
  return n > 0;
}

void forget_seen_invalidations(Snapshot under) {
  uint64_t horizon = 0;
  pg::call([&] {
    TransactionId h = GetOldestNonRemovableTransactionId(NULL);
    FullTransactionId next = ReadNextFullTransactionId();
    horizon = U64FromFullTransactionId(next) - uint32(XidFromFullTransactionId(next) - h);
  });
  pg::spi_exec_snapshot(
      "DELETE FROM pulse.view_invalidations i WHERE i.xid < $1::text::xid8 AND NOT EXISTS"
      " (SELECT 1 FROM pulse.view_registry v WHERE v.project = i.project AND v.collection = i.collection"
      "  AND (v.snapshot IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(i.xid, v.snapshot)))",
      {Arg::text(std::to_string(horizon))}, under);
}

}  // namespace pulse::views
