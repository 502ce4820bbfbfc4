// The read path (see views.h): what a realtime view's read calls besides its state and delta.
// pulse._view_watermark (SQL, 40_views.sql) gives the stored snapshot and threshold and whether
// the view awaits a rebuild; then pulse._view_recompute evaluates the defining query instead.
#include <string>

#include "pg/trust.h"
#include "views/views.h"

extern "C" {
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
}

namespace pulse::views {

using pg::Arg;
using pg::quote_ident;

// pulse._view_recompute(view_id) → SETOF record: the view's defining query evaluated now, as
// the project's writer (never as the caller: the query is the writer's code), for a caller
// (the session's role, as for every SECURITY DEFINER function) with the privileges of the
// project's reader. Realtime views read it after an UPDATE, DELETE
// or TRUNCATE of their collection until the next refresh.
PULSE_SQL_FUNCTION(pulse_view_recompute) {
  int32 id = PG_GETARG_INT32(0);
  ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
  pg::call([&] { InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC); });
  pg::spi_connect();
  auto row = pg::spi_column(
      "SELECT x FROM pulse.view_registry v JOIN pulse.projects p ON p.name = v.project,"
      " LATERAL unnest(ARRAY[v.project, v.name, p.writer_role, p.reader_role]) x WHERE v.id = $1",
      {Arg::int4(id)});
  if (row.size() != 4) throw Error(sqlstate::kUndefinedObject, "view " + std::to_string(id) + " does not exist");
  std::string project = *row[0], name = *row[1], writer = *row[2], reader = *row[3];
  Oid reader_oid = pg::role_oid(reader);
  bool allowed = false;
  pg::call([&] { allowed = has_privs_of_role(pg::caller_role(), reader_oid); });
  if (!allowed)
    throw Error(sqlstate::kInsufficientPrivilege, "permission denied to read view \"" + project + "." + name + "\"", "",
                "Views are read by members of " + quote_ident(reader) + ".");
  std::string sql = "SELECT * FROM " + names_of(project, name).full + "()";
  pg::as_role(pg::role_oid(writer), [&] {
    pg::call([&] {
      // streamed through a cursor: a recomputation can be large
      SPIPlanPtr plan = SPI_prepare(sql.c_str(), 0, NULL);
      if (!plan) elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
      Portal portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
      for (;;) {
        SPI_cursor_fetch(portal, true, 1000);
        if (SPI_processed == 0) break;
        // the rows go out as they are: the caller's column list must have their types (a reader
        // declaring other types would make Postgres read their bytes as those)
        TupleDesc got = SPI_tuptable->tupdesc, want = rsinfo->setDesc;
        if (got->natts != want->natts)
          ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("view %d changed its columns", id)));
        for (int k = 0; k < got->natts; k++)
          if (TupleDescAttr(got, k)->atttypid != TupleDescAttr(want, k)->atttypid)
            ereport(ERROR,
                    (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("column %d of view %d has type %s, not %s", k + 1, id,
                                                                format_type_be(TupleDescAttr(got, k)->atttypid),
                                                                format_type_be(TupleDescAttr(want, k)->atttypid))));
        for (uint64 r = 0; r < SPI_processed; r++) tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[r]);
        SPI_freetuptable(SPI_tuptable);
        CHECK_FOR_INTERRUPTS();
      }
      SPI_cursor_close(portal);
    });
  });
  pg::spi_finish();
  return (Datum)0;
}

}  // namespace pulse::views
