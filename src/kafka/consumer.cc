// A Kafka consumer worker: one per subscription x parallelism (DESIGN.md section 3).
//
// Loop: wait on the latch and on librdkafka's queue (an fd librdkafka writes to when the queue
// becomes non-empty), collect up to batch_size messages or batch_timeout, then in ONE
// transaction: lock this batch's partitions in pulse.kafka_offsets, drop messages below the
// stored offsets (another worker got there first during a rebalance), decode, ingest (rows,
// rejected fields, dead letters), store the next offsets, commit. Only then are offsets
// committed to Kafka, for lag tooling. On (re)assignment every partition seeks to its offset
// stored in Postgres. librdkafka's threads never touch Postgres: its logs and errors are
// queued and handled on this thread.
#include <librdkafka/rdkafka.h>

#include <csignal>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "core/avro_decode.h"
#include "core/json_decode.h"
#include "core/names.h"
#include "ingest/writer.h"
#include "kafka/settings.h"
#include "kafka/shmem.h"
#include "pg/faults.h"
#include "pg/gucs.h"
#include "pg/spi.h"

extern "C" {
#include <fcntl.h>
#include <unistd.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "commands/dbcommands.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

PGDLLEXPORT void pulse_kafka_worker_main(Datum main_arg);
}

namespace pulse::kafka {
namespace {

using pg::Arg;

struct Subscription {
  int64_t id = 0;
  std::string project, brokers, format, collection, group_id;
  std::vector<std::string> topics;
  std::vector<std::pair<std::string, std::string>> options;  // librdkafka settings
  int32_t avro_schema_id = -1;
  Oid owner = InvalidOid;  // the role whose privileges decide which settings are accepted
  int batch_size = 10000;
  int batch_timeout_ms = 200;
};

// Runs f in a transaction of its own with SPI connected and a snapshot pushed.
template <class F>
void in_transaction(const char* activity, F&& f) {
  pg::call([&] {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, activity);
  });
  pg::spi_connect();
  f();
  pg::spi_finish();
  pg::call([] {
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, NULL);
  });
}

// Offsets stored in Postgres for the given partitions (topics[k], partitions[k]); with
// lock, the rows are locked FOR UPDATE (serialising workers that race for a partition).
std::map<std::pair<std::string, int>, int64_t> read_stored_offsets(int64_t subscription,
                                                                   const std::vector<std::string>& topics,
                                                                   const std::vector<std::string>& partitions,
                                                                   bool lock) {
  uint64_t n = pg::spi_exec(
      std::string("SELECT o.topic, o.partition, o.next_offset FROM pulse.kafka_offsets o"
                  " JOIN unnest($2::text[], $3::text[]) AS u(t, p) ON o.topic = u.t AND o.partition = u.p::int"
                  " WHERE o.subscription_id = $1") +
          (lock ? " ORDER BY 1, 2 FOR UPDATE OF o" : ""),
      {Arg::int8(subscription), Arg::text_array(topics), Arg::text_array(partitions)});
  std::map<std::pair<std::string, int>, int64_t> stored;
  for (uint64_t r = 0; r < n; r++) {
    char *t = nullptr, *p = nullptr, *o = nullptr;
    pg::call([&] {
      t = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
      p = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
      o = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3);
    });
    stored[{t, atoi(p)}] = std::stoll(o);
  }
  return stored;
}

class Worker {
 public:
  explicit Worker(int slot) : slot_(&shared->slots[slot]) {}
  ~Worker() { close(); }
  void run();
  void close();

  // librdkafka callbacks (called on this thread from inside rd_kafka_* calls): no Postgres
  // error may cross them, so they catch everything and leave a note for the main loop.
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void on_log(const char* fac, const char* buf) {
    try {
      if (pending_logs_.size() < 100) pending_logs_.push_back(std::string(fac) + ": " + buf);
    } catch (...) {
    }
  }
  void on_error(const char* reason) {
    try {
      pending_error_ = reason;
    } catch (...) {
    }
  }

 private:
  void load_subscription();
  void create_consumer();
  bool stop_requested();
  void flush_notes();
  void process(std::vector<rd_kafka_message_t*>& msgs);
  void load_avro_schema(int32_t id);

  WorkerSlot* slot_;
  Subscription sub_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
  int pipe_[2] = {-1, -1};
  JsonDecoder json_;
  AvroDecoder avro_;
  std::vector<std::string> pending_logs_;
  std::string pending_error_, fatal_;
  bool revoked_ = false;
};

extern "C" void rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                             void* opaque) {
  static_cast<Worker*>(opaque)->on_rebalance(err, parts);
}

extern "C" void log_cb(const rd_kafka_t* rk, int, const char* fac, const char* buf) {
  void* opaque = rd_kafka_opaque(rk);
  if (opaque) static_cast<Worker*>(opaque)->on_log(fac, buf);
}

extern "C" void error_cb(rd_kafka_t*, int, const char* reason, void* opaque) {
  static_cast<Worker*>(opaque)->on_error(reason);
}

void Worker::load_subscription() {
  in_transaction("pg_pulse kafka: loading subscription", [&] {
    pg::spi_exec(
        "SELECT project, array_to_string(topics, chr(1)), brokers, format, coalesce(collection, ''),"
        " coalesce(group_id, ''), batch_size,"
        " greatest(1, (extract(epoch FROM batch_timeout) * 1000)::int),"
        " coalesce((options->>'avro.schema_id')::int, -1),"
        " coalesce((SELECT string_agg(key || chr(1) || value, chr(2)) FROM jsonb_each_text(options)"
        "           WHERE key <> 'avro.schema_id'), ''),"
        " (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = owner)"
        " FROM pulse.kafka_subscriptions WHERE id = $1",
        {Arg::int8(slot_->subscription_id)});
    if (SPI_processed != 1) throw Error(sqlstate::kUndefinedObject, "kafka subscription no longer exists");
    char* v[11];
    pg::call([&] {
      for (int c = 0; c < 11; c++) v[c] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1);
    });
    if (!v[10])
      throw Error(sqlstate::kInsufficientPrivilege, "the owner of the Kafka subscription no longer exists", "",
                  "A pulse_admin member may take it over with pulse.kafka_alter.");
    sub_.owner = Oid(strtoul(v[10], nullptr, 10));
    sub_.id = slot_->subscription_id;
    sub_.project = v[0];
    std::string topics = v[1];
    for (size_t a = 0, b; a <= topics.size(); a = b + 1) {
      b = topics.find('\1', a);
      if (b == std::string::npos) b = topics.size();
      if (b > a) sub_.topics.push_back(topics.substr(a, b - a));
    }
    sub_.brokers = v[2];
    sub_.format = v[3];
    sub_.collection = v[4];
    sub_.group_id = v[5];
    sub_.batch_size = std::max(1, atoi(v[6]));
    sub_.batch_timeout_ms = std::max(1, atoi(v[7]));
    sub_.avro_schema_id = atoi(v[8]);
    std::string opts = v[9];
    for (size_t a = 0, b; a < opts.size(); a = b + 1) {
      b = opts.find('\2', a);
      if (b == std::string::npos) b = opts.size();
      std::string kv = opts.substr(a, b - a);
      size_t eq = kv.find('\1');
      if (eq != std::string::npos) sub_.options.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    if (sub_.group_id.empty()) {
      char* db = nullptr;
      pg::call([&] { db = get_database_name(MyDatabaseId); });
      sub_.group_id = std::string("pg_pulse.") + db + "." + std::to_string(sub_.id);
    }
    if (sub_.format == "avro") load_avro_schema(sub_.avro_schema_id);
    // the settings again, with the owner's privileges of now (they may have been revoked since)
    check_settings(sub_.brokers, sub_.options, sub_.owner);
  });
}

void Worker::load_avro_schema(int32_t id) {
  auto s = pg::spi_value("SELECT schema FROM pulse.avro_schemas WHERE id = $1", {Arg::int4(id)});
  if (!s) return;  // unknown: messages naming it become dead letters
  // A schema Avro C refuses is remembered as unusable by the decoder: its messages become
  // dead letters naming the reason, the worker goes on.
  std::string err = avro_.add_schema(id, *s);
  if (!err.empty())
    pg::call([&] { elog(WARNING, "pg_pulse: Avro schema %d cannot be used: %s", id, err.c_str()); });
}

void Worker::create_consumer() {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw Error(sqlstate::kInvalidParameter, "invalid Kafka setting " + k + ": " + err);
    }
  };
  set("bootstrap.servers", sub_.brokers);
  set("group.id", sub_.group_id);
  set("client.id", "pg_pulse");
  set("enable.auto.commit", "false");
  set("enable.auto.offset.store", "false");
  set("auto.offset.reset", "earliest");
  set("enable.partition.eof", "false");
  set("queued.max.messages.kbytes", "65536");
  set("log.queue", "true");
  for (auto& [k, v] : sub_.options) set(k, v);
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
  rd_kafka_conf_set_log_cb(conf, log_cb);
  rd_kafka_conf_set_error_cb(conf, error_cb);
  // librdkafka's threads must never run our signal handlers
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!rk_) {
    rd_kafka_conf_destroy(conf);
    throw Error(sqlstate::kInvalidParameter, std::string("could not create Kafka consumer: ") + err);
  }
  rd_kafka_set_log_queue(rk_, nullptr);  // logs come to the main queue, served on this thread
  rd_kafka_poll_set_consumer(rk_);
  queue_ = rd_kafka_queue_get_consumer(rk_);
  if (pipe2(pipe_, O_NONBLOCK | O_CLOEXEC) != 0) throw Error(sqlstate::kInternal, "pipe2 failed");
  rd_kafka_queue_io_event_enable(queue_, pipe_[1], "1", 1);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(int(sub_.topics.size()));
  for (auto& t : sub_.topics) rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(rk_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e) throw Error(sqlstate::kInvalidParameter, std::string("could not subscribe: ") + rd_kafka_err2str(e));
}

void Worker::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    revoked_ = true;
    rd_kafka_assign(rk_, nullptr);
    return;
  }
  try {
    // every assigned partition starts at its offset stored in Postgres
    std::vector<std::string> topics;
    std::vector<std::string> partitions;
    for (int k = 0; k < parts->cnt; k++) {
      topics.push_back(parts->elems[k].topic);
      partitions.push_back(std::to_string(parts->elems[k].partition));
    }
    std::map<std::pair<std::string, int>, int64_t> stored;
    in_transaction("pg_pulse kafka: reading stored offsets",
                   [&] { stored = read_stored_offsets(sub_.id, topics, partitions, false); });
    for (int k = 0; k < parts->cnt; k++) {
      auto it = stored.find({parts->elems[k].topic, parts->elems[k].partition});
      parts->elems[k].offset = it != stored.end() ? it->second : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk_, parts);
  } catch (pg::PgError& e) {
    fatal_ = std::string("could not read stored offsets: ") + e.what();
    rd_kafka_assign(rk_, nullptr);
  } catch (std::exception& e) {
    fatal_ = std::string("could not read stored offsets: ") + e.what();
    rd_kafka_assign(rk_, nullptr);
  }
}

bool Worker::stop_requested() {
  bool stop = false;
  pg::call([&] {
    LWLockAcquire(shared->lock, LW_SHARED);
    stop = slot_->stop_requested;
    LWLockRelease(shared->lock);
  });
  return stop;
}

void Worker::flush_notes() {
  for (auto& l : pending_logs_) pg::call([&] { elog(LOG, "pg_pulse kafka subscription %lld: %s", (long long)sub_.id, l.c_str()); });
  pending_logs_.clear();
  if (!pending_error_.empty()) {
    std::string e = pending_error_;
    pending_error_.clear();
    pg::call([&] { note_error(slot_, e.c_str()); });
  }
  if (!fatal_.empty()) throw Error(sqlstate::kInternal, fatal_);
}

void Worker::process(std::vector<rd_kafka_message_t*>& msgs) {
  std::string subid = std::to_string(sub_.id);
  in_transaction("pg_pulse kafka: ingesting a batch", [&] {
    // Lock this batch's partitions and learn their stored offsets.
    std::vector<std::string> topics, partitions;
    std::map<std::pair<std::string, int>, int64_t> next;
    for (auto* m : msgs) {
      std::pair<std::string, int> key{rd_kafka_topic_name(m->rkt), int(m->partition)};
      if (next.emplace(key, -1).second) {
        topics.push_back(key.first);
        partitions.push_back(std::to_string(key.second));
      }
    }
    pg::spi_exec(
        "INSERT INTO pulse.kafka_offsets(subscription_id, topic, partition, next_offset)"
        " SELECT $1, t, p::int, 0 FROM unnest($2::text[], $3::text[]) AS u(t, p) ON CONFLICT DO NOTHING",
        {Arg::int8(sub_.id), Arg::text_array(topics), Arg::text_array(partitions)});
    std::map<std::pair<std::string, int>, int64_t> stored = read_stored_offsets(sub_.id, topics, partitions, true);
    // Decode what is new.
    EventBatch batch;
    JsonDecodeOptions jo;
    jo.max_event_bytes = size_t(pulse_max_event_bytes);
    jo.interrupt_check = pg::decode_interrupt_check;
    pg::call([] { pg::pause_point("kafka"); });
    avro_.set_max_event_bytes(size_t(pulse_max_event_bytes));
    std::set<int32_t> looked_up;  // schema ids fetched from the catalog in this batch
    jo.envelope_auto = sub_.collection.empty();
    std::map<std::pair<std::string, int>, uint32_t> counts;
    for (auto* m : msgs) {
      std::string topic = rd_kafka_topic_name(m->rkt);
      std::pair<std::string, int> key{topic, int(m->partition)};
      if (m->offset < stored[key]) continue;  // already stored by someone else: never twice
      next[key] = std::max(next[key], int64_t(m->offset) + 1);
      counts[key]++;
      std::string_view payload(static_cast<const char*>(m->payload), m->payload ? m->len : 0);
      size_t before = batch.events.size();
      if (!m->payload) {
        batch.events.emplace_back();
        batch.events.back().error = "empty Kafka message (no payload)";
      } else if (sub_.format == "json") {
        jo.default_collection = sub_.collection.empty() ? std::string_view(topic) : std::string_view();
        json_.decode_event(payload, jo, &batch);
      } else {
        AvroFraming framing = sub_.format == "avro" ? AvroFraming::kRaw : AvroFraming::kConfluent;
        if (framing == AvroFraming::kConfluent && m->len >= 5 && payload[0] == 0) {
          const unsigned char* b = static_cast<const unsigned char*>(m->payload);
          int32_t id = int32_t((uint32_t(b[1]) << 24) | (uint32_t(b[2]) << 16) | (uint32_t(b[3]) << 8) | b[4]);
          if (!avro_.has_schema(id) && looked_up.insert(id).second) load_avro_schema(id);
        }
        avro_.decode(payload, framing, sub_.avro_schema_id, &batch);
        if (sub_.collection.empty() && batch.events.size() > before)
          batch.events.back().collection = batch.arena.copy(normalize_collection_name(topic));
      }
      std::string src = "kafka:" + topic + "/" + std::to_string(m->partition) + "/" + std::to_string(m->offset);
      for (size_t k = before; k < batch.events.size(); k++) batch.events[k].source = batch.arena.copy(src);
    }
    ingest::IngestCounts c;
    ingest::ingest_batch(sub_.project, sub_.collection, batch, "kafka subscription " + subid, &c);
    std::vector<std::string> ut, up, uo;
    for (auto& [key, off] : next) {
      if (off < 0) continue;
      ut.push_back(key.first);
      up.push_back(std::to_string(key.second));
      uo.push_back(std::to_string(off));
    }
    if (!ut.empty())
      pg::spi_exec(
          "UPDATE pulse.kafka_offsets o SET next_offset = u.o::bigint, updated_at = now()"
          " FROM unnest($2::text[], $3::text[], $4::text[]) AS u(t, p, o)"
          " WHERE o.subscription_id = $1 AND o.topic = u.t AND o.partition = u.p::int",
          {Arg::int8(sub_.id), Arg::text_array(ut), Arg::text_array(up), Arg::text_array(uo)});
    // status (shared memory) once the transaction is sure to commit is good enough for a gauge
    TimestampTz now = 0;
    pg::call([&] { now = GetCurrentTimestamp(); });
    for (auto& [key, off] : next) {
      if (off < 0) continue;
      int64_t lo = -1, hi = -1;
      rd_kafka_get_watermark_offsets(rk_, key.first.c_str(), key.second, &lo, &hi);
      uint32_t events = counts[key];
      pg::call([&] { note_progress(slot_, key.first.c_str(), key.second, off, hi, events, now); });
    }
  });
  // After the commit: tell Kafka too (lag tooling only; Postgres holds the truth).
  rd_kafka_topic_partition_list_t* offs = rd_kafka_topic_partition_list_new(int(msgs.size()));
  std::map<std::pair<std::string, int>, int64_t> last;
  for (auto* m : msgs) {
    auto& v = last[{rd_kafka_topic_name(m->rkt), int(m->partition)}];
    v = std::max<int64_t>(v, m->offset + 1);
  }
  for (auto& [key, off] : last) rd_kafka_topic_partition_list_add(offs, key.first.c_str(), key.second)->offset = off;
  rd_kafka_commit(rk_, offs, 1);
  rd_kafka_topic_partition_list_destroy(offs);
}

void Worker::run() {
  load_subscription();
  create_consumer();
  pg::call([&] {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    slot_->pid = MyProcPid;
    slot_->latch = MyLatch;
    slot_->started_at = GetCurrentTimestamp();
    LWLockRelease(shared->lock);
  });
  std::vector<rd_kafka_message_t*> msgs;
  std::vector<rd_kafka_message_t*> buf(size_t(sub_.batch_size));
  for (;;) {
    pg::call([] {
      CHECK_FOR_INTERRUPTS();
      if (ConfigReloadPending) {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
      }
    });
    if (stop_requested()) return;
    // Collect a batch: drain the queue without blocking, then wait on latch + queue fd.
    TimestampTz deadline = 0;
    revoked_ = false;
    while (int(msgs.size()) < sub_.batch_size) {
      ssize_t got = rd_kafka_consume_batch_queue(queue_, 0, buf.data(), size_t(sub_.batch_size) - msgs.size());
      flush_notes();
      for (ssize_t k = 0; k < got; k++) {
        rd_kafka_message_t* m = buf[size_t(k)];
        if (m->err) {
          if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            std::string e = rd_kafka_message_errstr(m);
            pg::call([&] { note_error(slot_, e.c_str()); });
          }
          rd_kafka_message_destroy(m);
          continue;
        }
        msgs.push_back(m);
      }
      if (revoked_) {  // messages of partitions we may no longer own: let the new owner have them
        for (auto* m : msgs) rd_kafka_message_destroy(m);
        msgs.clear();
        revoked_ = false;
      }
      if (got > 0 && int(msgs.size()) < sub_.batch_size) continue;  // maybe more right away
      TimestampTz now = 0;
      pg::call([&] { now = GetCurrentTimestamp(); });
      if (!msgs.empty() && deadline == 0) deadline = TimestampTzPlusMilliseconds(now, sub_.batch_timeout_ms);
      if (int(msgs.size()) >= sub_.batch_size || (deadline && now >= deadline)) break;
      long wait_ms = deadline ? long((deadline - now) / 1000) + 1 : 1000;
      int fd = pipe_[0];
      pg::call([&] {
        (void)WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, fd,
                                wait_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
      });
      char drain[64];
      while (read(fd, drain, sizeof drain) > 0) {
      }
      if (stop_requested()) break;
    }
    if (msgs.empty()) continue;
    process(msgs);
    for (auto* m : msgs) rd_kafka_message_destroy(m);
    msgs.clear();
  }
}

void Worker::close() {
  if (queue_) {
    rd_kafka_queue_io_event_enable(queue_, -1, nullptr, 0);
    rd_kafka_queue_destroy(queue_);
    queue_ = nullptr;
  }
  if (rk_) {
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }
  for (int& fd : pipe_)
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
}

Worker* current = nullptr;

// On proc_exit (SIGTERM -> die): leave the consumer group cleanly.
void worker_exit(int, Datum) {
  if (current) {
    Worker* w = current;
    current = nullptr;
    try {
      w->close();
    } catch (...) {
    }
  }
  if (shared) {
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (auto& s : shared->slots)
      if (s.pid == MyProcPid) {
        s.pid = 0;
        s.latch = nullptr;
      }
    LWLockRelease(shared->lock);
  }
}

}  // namespace
}  // namespace pulse::kafka

// Background worker entry point: every C++ exception ends here, is logged as an ERROR (which
// ends the worker; the launcher starts it again and it resumes from the stored offsets).
void pulse_kafka_worker_main(Datum main_arg) {
  using namespace pulse::kafka;
  int slot = DatumGetInt32(main_arg);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(pulse_database, NULL, 0);
  pgstat_report_appname("pg_pulse kafka consumer");
  // SQL run by the worker resolves only catalog objects (no schema a role may create in)
  SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);
  before_shmem_exit(worker_exit, 0);
  char message[512] = "";
  ErrorData* pg_error = nullptr;
  try {
    Worker w(slot);
    current = &w;
    w.run();
    current = nullptr;
  } catch (pulse::pg::PgError& e) {
    current = nullptr;
    pg_error = e.edata;
  } catch (std::exception& e) {
    current = nullptr;
    snprintf(message, sizeof message, "%s", e.what());
  }
  if (pg_error) {
    note_error(&shared->slots[slot], pg_error->message ? pg_error->message : "error");
    ReThrowError(pg_error);
  }
  if (message[0]) {
    note_error(&shared->slots[slot], message);
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("pg_pulse kafka consumer: %s", message)));
  }
  proc_exit(0);
}
