// SQL entry points of the Kafka subsystem: status, launcher wake-up, preload check, Avro
// schema validation and generation.
#include <string>
#include <utility>
#include <vector>

#include "core/avro_decode.h"
#include "ingest/catalog.h"
#include "kafka/settings.h"
#include "kafka/shmem.h"
#include "pg/scheduler.h"
#include "pg/spi.h"
#include "pg/trust.h"
#include "pg/type_class.h"

extern "C" {
#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
}

namespace pulse::kafka {

// pulse._kafka_require_preload(): raises 55000 with a hint when the workers cannot exist.
PULSE_SQL_FUNCTION(pulse_kafka_require_preload) {
  kafka::require_preload();
  PG_RETURN_VOID();
}

// pulse._wake(): after this transaction commits, the database's scheduler re-reads its work
// (and the supervisor starts one if there is none yet, e.g. right after CREATE EXTENSION).
PULSE_SQL_FUNCTION(pulse_wake) {
  pg::wake_scheduler_at_commit();
  PG_RETURN_VOID();
}

// pulse._kafka_check_settings(brokers text, options jsonb): raises what kafka::check_settings
// finds for a subscription owned by the calling role (the session's role).
PULSE_SQL_FUNCTION(pulse_kafka_check_settings) {
  std::string brokers = pg::require_text(fcinfo, 0, "brokers");
  if (PG_ARGISNULL(1)) throw Error(sqlstate::kInvalidParameter, "options must not be null");
  Datum options = PG_GETARG_DATUM(1);
  pg::spi_connect();
  pg::Arg a;
  a.type = JSONBOID;
  a.value = options;
  uint64_t n = pg::spi_exec(
      "SELECT key, CASE WHEN jsonb_typeof(value) IN ('string', 'number', 'boolean') THEN value #>> '{}' END"
      " FROM jsonb_each($1) ORDER BY key",
      {a});
  kafka::Settings settings;
  for (uint64_t r = 0; r < n; r++) {
    char *k = nullptr, *v = nullptr;
    pg::call([&] {
      k = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
      v = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
    });
    if (!v)
      throw Error(sqlstate::kInvalidParameter,
                  "Kafka setting \"" + std::string(k).substr(0, 100) + "\" must be a string, number or boolean");
    settings.emplace_back(k, v);
  }
  pg::spi_finish();
  Oid owner = InvalidOid;
  pg::call([&] { owner = pg::caller_role(); });
  kafka::check_settings(brokers, settings, owner);
  PG_RETURN_VOID();
}

// pulse._kafka_restart(id): the subscription's running workers finish their batch and stop; the
// launcher starts them again with the subscription's current settings, at once (a worker
// waiting out the backoff of earlier failures is not made to wait: a change or a resume is
// worth a new attempt).
PULSE_SQL_FUNCTION(pulse_kafka_restart) {
  int64 id = PG_GETARG_INT64(0);
  if (kafka::shared) {
    pg::call([&] {
      LWLockAcquire(kafka::shared->lock, LW_EXCLUSIVE);
      for (auto& w : kafka::consumer_slots())
        if (w.in_use && w.subscription_id == id) {
          w.stop_requested = true;
          w.failures = 0;
          w.next_start_at = 0;
          if (w.latch) SetLatch(w.latch);
        }
      LWLockRelease(kafka::shared->lock);
    });
  }
  pg::wake_scheduler_at_commit();
  PG_RETURN_VOID();
}

// pulse._avro_schema_problem(schema text): why Avro C refuses the schema, or NULL.
PULSE_SQL_FUNCTION(pulse_avro_schema_problem) {
  std::string schema;
  pg::call([&] {
    text* t = PG_GETARG_TEXT_PP(0);
    schema.assign(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
  });
  AvroDecoder d;
  std::string why = d.add_schema(1, schema);
  if (why.empty()) PG_RETURN_NULL();
  Datum out = 0;
  pg::call([&] { out = PointerGetDatum(cstring_to_text(why.c_str())); });
  return out;
}

// pulse._avro_schema_fingerprint(schema text): 16 hex digits identifying the schema (its
// canonical form's Rabin fingerprint), or 22P02 for text that is not a schema.
PULSE_SQL_FUNCTION(pulse_avro_schema_fingerprint) {
  std::string schema = pg::text_arg(fcinfo, 0);
  std::string error;
  std::string fp = avro_schema_fingerprint(schema, &error);
  if (fp.empty()) throw Error(sqlstate::kInvalidText, "invalid Avro schema: " + error);
  Datum out = 0;
  pg::call([&] { out = PointerGetDatum(cstring_to_text(fp.c_str())); });
  return out;
}

// pulse.avro_schema(project, collection): an Avro record schema matching the collection.
PULSE_SQL_FUNCTION(pulse_avro_schema) {
  std::string project, collection;
  pg::call([&] {
    text* a = PG_GETARG_TEXT_PP(0);
    text* b = PG_GETARG_TEXT_PP(1);
    project.assign(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a));
    collection.assign(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
  });
  pg::spi_connect();
  // name, type oid and typmod of every column, joined by \1 (one catalog query)
  auto rows = pg::spi_column(
      "SELECT a.attname || chr(1) || a.atttypid::int8 || chr(1) || a.atttypmod FROM pg_attribute a"
      " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
      " WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped"
      " AND has_table_privilege(c.oid, 'SELECT') ORDER BY a.attnum",
      {pg::Arg::text(project), pg::Arg::text(collection)});
  pg::spi_finish();
  if (rows.empty())
    throw Error(sqlstate::kUndefinedTable, "collection \"" + project + "." + collection + "\" does not exist", "",
                "It is created by its first event or by pulse.create_collection.");
  std::vector<std::pair<std::string, ColumnType>> cols;
  for (auto& r : rows) {
    size_t sep2 = r->rfind('\1'), sep = r->rfind('\1', sep2 - 1);  // a name may hold anything
    Oid typid = Oid(std::stoull(r->substr(sep + 1, sep2 - sep - 1)));
    int32 typmod = int32(std::stol(r->substr(sep2 + 1)));
    cols.emplace_back(r->substr(0, sep), pg::column_type(typid, typmod));
  }
  std::string schema = avro_schema_for_columns(collection, cols);
  Datum out = 0;
  pg::call([&] { out = PointerGetDatum(cstring_to_text_with_len(schema.data(), int(schema.size()))); });
  return out;
}

// pulse._kafka_worker_status(): for this database, one row per worker slot (partition NULL:
// worker-level state) and one per partition it has been assigned or stored offsets for. The
// slots are copied under the lock, the rows built after it is released.
PULSE_SQL_FUNCTION(pulse_kafka_worker_status) {
  std::vector<kafka::WorkerSlot> slots;
  std::vector<kafka::PartitionStat> parts;  // the slots' partition stats (part_index renumbered)
  pg::call([&] { InitMaterializedSRF(fcinfo, 0); });
  if (kafka::shared) {
    LWLockAcquire(kafka::shared->lock, LW_SHARED);
    for (auto& w : kafka::consumer_slots())
      if (w.in_use && w.dboid == MyDatabaseId) {
        slots.push_back(w);
        for (int p = 0; p < w.nparts; p++) {
          parts.push_back(kafka::shared->parts[w.part_index[p]]);
          slots.back().part_index[p] = int32(parts.size() - 1);
        }
      }
    LWLockRelease(kafka::shared->lock);
  }
  ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
  pg::call([&] {
    TimestampTz now = GetCurrentTimestamp();
    int64 now_sec = now / USECS_PER_SEC;
    for (const kafka::WorkerSlot& w : slots) {
      for (int p = -1; p < w.nparts; p++) {
        Datum v[15];
        bool n[15] = {false};
        v[0] = Int64GetDatum(w.subscription_id);
        v[1] = Int32GetDatum(w.worker_index);
        v[2] = Int32GetDatum(w.pid);
        v[3] = CStringGetTextDatum(w.state);
        v[4] = TimestampTzGetDatum(w.heartbeat_at);
        n[4] = w.heartbeat_at == 0;
        if (p < 0) {
          for (int c = 5; c <= 11; c++) n[c] = true;
        } else {
          const kafka::PartitionStat& ps = parts[size_t(w.part_index[p])];
          v[5] = CStringGetTextDatum(ps.topic);
          v[6] = Int32GetDatum(ps.partition);
          v[7] = Int64GetDatum(ps.stored_offset);
          n[7] = ps.stored_offset < 0;
          v[8] = Int64GetDatum(ps.high_watermark);
          n[8] = ps.high_watermark < 0;
          v[9] = TimestampTzGetDatum(ps.high_watermark_at);
          n[9] = ps.high_watermark_at == 0;
          v[10] = TimestampTzGetDatum(ps.last_progress_at);
          n[10] = ps.last_progress_at == 0;
          uint64 sum = 0;
          for (int b = 0; b < kafka::kRateWindow; b++)
            if (ps.bucket_second[b] > now_sec - kafka::kRateWindow) sum += ps.bucket_count[b];
          v[11] = Float8GetDatum(double(sum) / kafka::kRateWindow);
        }
        v[12] = w.last_error[0] ? CStringGetTextDatum(w.last_error) : (Datum)0;
        n[12] = !w.last_error[0];
        v[13] = TimestampTzGetDatum(w.last_error_at);
        n[13] = w.last_error_at == 0;
        v[14] = TimestampTzGetDatum(w.last_batch_at);
        n[14] = w.last_batch_at == 0;
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
      }
    }
  });
  return (Datum)0;
}

}  // namespace pulse::kafka
