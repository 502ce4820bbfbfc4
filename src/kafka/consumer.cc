// A Kafka consumer (see consumer.h): one member of a subscription's consumer group, stepped by
// its pool worker (pool.cc) next to the other consumers that worker serves (docs/kafka.md).
//
// A step takes what librdkafka has queued without waiting (librdkafka writes to the pool
// worker's notify pipe when the queue becomes non-empty) until batch_size messages or
// batch_timeout after the first one, then stores the batch in ONE transaction: lock this batch's
// partitions in pulse.kafka_offsets, drop messages below the stored offsets (another consumer got
// there first during a rebalance), decode, ingest (rows, rejected fields, dead letters), store
// the next offsets, commit. Only then are offsets committed to Kafka, for lag tooling. On
// (re)assignment every partition seeks to its offset stored in Postgres. librdkafka's threads
// never touch Postgres: its logs and errors are queued and handled on the pool worker's thread.
//
// Faults: a batch that fails is retried isolating the failing message (halves in
// subtransactions, down to the message that fails, which becomes a dead letter) so the partition
// moves on; a cancel, a lack of resources or a lock conflict is never charged to a message: the
// batch is retried after a backoff, without holding up the other consumers of the pool worker. A
// consumer that cannot start (bad settings, broker refusing, owner without privileges) throws;
// its pool worker records the error and starts it again after an exponential backoff. Messages
// are owned (RAII), and every exit path aborts the transaction and drops them before librdkafka
// is shut down.
#include "kafka/consumer.h"

#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/names.h"
#include "enrich/data_files.h"
#include "enrich/enrich.h"
#include "pg/bgworker.h"
#include "pg/jobs.h"
#include "pg/faults.h"
#include "pg/gucs.h"
#include "pg/spi.h"

extern "C" {
#include <fcntl.h>
#include <unistd.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/ps_status.h"
}

namespace pulse::kafka {
namespace {

using pg::Arg;

using PartitionKey = std::pair<std::string, int>;

// Offsets stored in Postgres for the given partitions (topics[k], partitions[k]); with
// lock, the rows are locked FOR UPDATE (serialising workers that race for a partition).
std::map<PartitionKey, int64_t> read_stored_offsets(int64_t subscription, const std::vector<std::string>& topics,
                                                    const std::vector<std::string>& partitions, bool lock) {
  uint64_t n = pg::spi_exec(
      std::string("SELECT o.topic, o.partition, o.next_offset FROM pulse.kafka_offsets o"
                  " JOIN unnest($2::text[], $3::text[]) AS u(t, p) ON o.topic = u.t AND o.partition = u.p::int"
                  " WHERE o.subscription_id = $1") +
          (lock ? " ORDER BY 1, 2 FOR UPDATE OF o" : ""),
      {Arg::int8(subscription), Arg::text_array(topics), Arg::text_array(partitions)});
  std::map<PartitionKey, int64_t> stored;
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

// The SQLSTATE of a C++ exception (pulse::Error carries one; anything else is internal).
int sqlstate_of(const std::exception& e) {
  if (auto* pe = dynamic_cast<const pg::PgError*>(&e)) return pe->sqlerrcode();
  if (auto* ee = dynamic_cast<const Error*>(&e)) {
    const std::string& s = ee->sqlstate;
    if (s.size() == 5) return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
  }
  if (dynamic_cast<const std::bad_alloc*>(&e)) return ERRCODE_OUT_OF_MEMORY;
  return ERRCODE_INTERNAL_ERROR;
}

extern "C" void rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                             void* opaque) {
  static_cast<Consumer*>(opaque)->on_rebalance(err, parts);
}

extern "C" void log_cb(const rd_kafka_t* rk, int, const char* fac, const char* buf) {
  void* opaque = rd_kafka_opaque(rk);
  if (opaque) static_cast<Consumer*>(opaque)->on_log(fac, buf);
}

extern "C" void error_cb(rd_kafka_t*, int, const char* reason, void* opaque) {
  static_cast<Consumer*>(opaque)->on_error(reason);
}

}  // namespace

void Consumer::on_log(const char* fac, const char* buf) {
  try {
    if (pending_logs_.size() < 20) pending_logs_.push_back(std::string(fac) + ": " + std::string(buf).substr(0, 500));
  } catch (...) {
  }
}

void Consumer::on_error(const char* reason) {
  try {
    pending_error_ = std::string(reason).substr(0, 250);
  } catch (...) {
  }
}

void Consumer::load_subscription() {
  pg::in_transaction("pg_pulse kafka: loading subscription", [&] {
    pg::spi_exec(
        "SELECT project, pg_catalog.array_to_string(topics, pg_catalog.chr(1)), brokers, format,"
        " coalesce(collection, ''), coalesce(group_id, ''), batch_size,"
        " greatest(1, (extract(epoch FROM batch_timeout) * 1000)::int),"
        " coalesce((options->>'avro.schema_id')::int, -1),"
        " coalesce((SELECT pg_catalog.string_agg(key || pg_catalog.chr(1) || value, pg_catalog.chr(2))"
        "           FROM pg_catalog.jsonb_each_text(options) WHERE key <> 'avro.schema_id'), ''),"
        " (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = owner),"
        " coalesce(spec, (SELECT r.event_spec FROM pulse.collection_registry r WHERE r.project = s.project"
        " AND r.name = s.collection), (SELECT p.event_spec FROM pulse.projects p WHERE p.name = s.project), 'pulse'),"
        " (SELECT p.writer_role FROM pulse.projects p WHERE p.name = s.project), owner"
        " FROM pulse.kafka_subscriptions s WHERE id = $1",
        {Arg::int8(slot_->subscription_id)});
    if (SPI_processed != 1) throw Error(sqlstate::kUndefinedObject, "the Kafka subscription no longer exists");
    char* v[14];
    pg::call([&] {
      for (int c = 0; c < 14; c++) v[c] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1);
    });
    if (!v[10])
      throw Error(sqlstate::kInsufficientPrivilege, "the owner of the Kafka subscription no longer exists", "",
                  "A pulse_admin member may take it over with pulse.kafka_alter.");
    sub_.owner = Oid(strtoul(v[10], nullptr, 10));
    sub_.owner_name = v[13];
    sub_.writer_role = v[12] ? v[12] : "";
    sub_.id = slot_->subscription_id;
    sub_.project = v[0];
    check_owner_writes();
    std::string topics = v[1];
    for (size_t a = 0, b; a <= topics.size(); a = b + 1) {
      b = topics.find('\1', a);
      if (b == std::string::npos) b = topics.size();
      if (b > a) sub_.topics.push_back(topics.substr(a, b - a));
    }
    sub_.brokers = v[2];
    sub_.format = v[3];
    sub_.collection = v[4];
    std::string why;
    if (!parse_event_spec(v[11] ? v[11] : "pulse", &sub_.spec, &why))
      throw Error(sqlstate::kInvalidParameter, "invalid event spec of the Kafka subscription: " + why);
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

void Consumer::check_owner_writes() const {
  // the events go into the project as the owner's: it must (still) be able to write there
  bool writes = false;
  pg::call([&] {
    Oid writer = sub_.writer_role.empty() ? InvalidOid : get_role_oid(sub_.writer_role.c_str(), true);
    writes = OidIsValid(writer) && has_privs_of_role(sub_.owner, writer);
  });
  if (!writes)
    throw Error(sqlstate::kInsufficientPrivilege,
                "the owner of the Kafka subscription, \"" + sub_.owner_name.substr(0, 64) +
                    "\", may not write to project \"" + sub_.project + "\"",
                "",
                "A superuser, or a member of pulse_admin and of the project's writer role, takes it over with "
                "pulse.kafka_alter.");
}

void Consumer::load_avro_schema(int32_t id) {
  auto s = pg::spi_value("SELECT schema FROM pulse.avro_schemas WHERE id = $1", {Arg::int4(id)});
  if (!s) return;  // unknown: messages naming it become dead letters
  // A schema Avro C refuses is remembered as unusable by the decoder: its messages become
  // dead letters naming the reason, the worker goes on.
  std::string err = avro_.add_schema(id, *s);
  if (!err.empty())
    pg::call([&] { elog(WARNING, "pg_pulse: Avro schema %d cannot be used: %.200s", id, err.c_str()); });
}

void Consumer::create_consumer() {
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
  set("queued.max.messages.kbytes", std::to_string(prefetch_kb_));
  set("log.queue", "true");
  // Freshness: a fetch that finds no new message waits at most this long (librdkafka's default
  // is 500 ms; a broker answers at once when data is there, a mock cluster only at the end of
  // the wait). The subscription's options may set it.
  set("fetch.wait.max.ms", "100");
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
  rd_kafka_queue_io_event_enable(queue_, notify_fd_, "1", 1);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(int(sub_.topics.size()));
  for (auto& t : sub_.topics) rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(rk_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e) throw Error(sqlstate::kInvalidParameter, std::string("could not subscribe: ") + rd_kafka_err2str(e));
}

void Consumer::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    revoked_ = true;
    rd_kafka_assign(rk_, nullptr);
    return;
  }
  // Called from inside librdkafka: a SIGTERM must not end the process in here (its exit would
  // re-enter librdkafka), so interrupts wait until the offsets are read.
  HOLD_INTERRUPTS();
  try {
    // every assigned partition starts at its offset stored in Postgres
    std::vector<std::string> topics;
    std::vector<std::string> partitions;
    for (int k = 0; k < parts->cnt; k++) {
      topics.push_back(parts->elems[k].topic);
      partitions.push_back(std::to_string(parts->elems[k].partition));
    }
    std::map<PartitionKey, int64_t> stored;
    pg::in_transaction("pg_pulse kafka: reading stored offsets",
                       [&] { stored = read_stored_offsets(sub_.id, topics, partitions, false); });
    std::vector<const char*> tn;
    std::vector<int32> pn;
    std::vector<int64> on;
    for (int k = 0; k < parts->cnt; k++) {
      auto it = stored.find({parts->elems[k].topic, parts->elems[k].partition});
      parts->elems[k].offset = it != stored.end() ? it->second : RD_KAFKA_OFFSET_BEGINNING;
      tn.push_back(parts->elems[k].topic);
      pn.push_back(parts->elems[k].partition);
      on.push_back(it != stored.end() ? it->second : -1);
    }
    note_assignment(slot_, int(tn.size()), tn.data(), pn.data(), on.data());
    rd_kafka_assign(rk_, parts);
  } catch (std::exception& e) {
    try {
      fatal_ = std::string("could not read stored offsets: ") + e.what();
    } catch (...) {
    }
    rd_kafka_assign(rk_, nullptr);
  }
  RESUME_INTERRUPTS();
}

// librdkafka's log lines (bounded, at most 20 per round) and its last error.
void Consumer::flush_notes() {
  for (auto& l : pending_logs_)
    pg::call([&] {
      elog(LOG, "pg_pulse kafka: project %s subscription %lld: %s", sub_.project.c_str(), (long long)sub_.id,
           l.c_str());
    });
  pending_logs_.clear();
  if (!pending_error_.empty()) {
    std::string e = pending_error_;
    pending_error_.clear();
    note_error(slot_, e.c_str());
  }
  if (!fatal_.empty()) throw Error(sqlstate::kInternal, fatal_);
}

// The high watermarks librdkafka last fetched, for every assigned partition (once a second).
void Consumer::refresh_watermarks(TimestampTz now) {
  if (!TimestampDifferenceExceeds(watermarks_at_, now, 1000)) return;
  watermarks_at_ = now;
  rd_kafka_topic_partition_list_t* a = nullptr;
  if (rd_kafka_assignment(rk_, &a) != RD_KAFKA_RESP_ERR_NO_ERROR || !a) return;
  for (int k = 0; k < a->cnt; k++) {
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(rk_, a->elems[k].topic, a->elems[k].partition, &lo, &hi) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        hi >= 0)
      note_high_watermark(slot_, a->elems[k].topic, a->elems[k].partition, hi, now);
  }
  rd_kafka_topic_partition_list_destroy(a);
}

// Takes what librdkafka has queued, without waiting, up to batch_size messages; true when the
// queue may hold more (the batch filled up first).
bool Consumer::drain() {
  buf_.resize(size_t(sub_.batch_size));
  revoked_ = false;
  bool more = false;
  while (int(msgs_.size()) < sub_.batch_size) {
    size_t room = size_t(sub_.batch_size) - msgs_.size();
    ssize_t got = rd_kafka_consume_batch_queue(queue_, 0, buf_.data(), room);
    for (ssize_t k = 0; k < got; k++) {  // owned at once, whatever happens next
      Message m(buf_[size_t(k)]);
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          std::string e = rd_kafka_message_errstr(m.get());
          note_error(slot_, e.substr(0, 250).c_str());
        }
        continue;
      }
      msgs_.push_back(std::move(m));
    }
    flush_notes();
    if (revoked_) {  // messages of partitions we may no longer own: let the new owner have them
      msgs_.clear();
      deadline_ = 0;
      revoked_ = false;
    }
    if (got <= 0) break;
    more = size_t(got) == room;
  }
  return more && int(msgs_.size()) >= sub_.batch_size;
}

TimestampTz Consumer::step(TimestampTz now) {
  commit_to_kafka(now, false);
  bool more = false;
  if (retry_at_ == 0) more = drain();  // a batch waiting for its retry takes no more messages
  refresh_watermarks(now);
  if (msgs_.empty()) {
    deadline_ = 0;
    return TimestampTzPlusMilliseconds(now, 1000);
  }
  if (deadline_ == 0) deadline_ = TimestampTzPlusMilliseconds(now, sub_.batch_timeout_ms);
  if (int(msgs_.size()) < sub_.batch_size && now < deadline_) return deadline_;
  if (retry_at_ > now) return retry_at_;
  if (!commit(now)) return retry_at_;
  deadline_ = 0;
  avro_.release_memory();
  return more ? 0 : TimestampTzPlusMilliseconds(now, 1000);
}

// Decodes one message into batch (JSON or Avro), tagged with its source.
void Consumer::decode_message(const rd_kafka_message_t* m, EventBatch* batch, std::set<int32_t>* looked_up) {
  std::string topic = rd_kafka_topic_name(m->rkt);
  std::string_view payload(static_cast<const char*>(m->payload), m->payload ? m->len : 0);
  size_t before = batch->events.size();
  if (!m->payload) {
    batch->events.emplace_back();
    batch->events.back().error = "empty Kafka message (no payload)";
  } else if (sub_.format == "json") {
    JsonDecodeOptions jo;
    jo.max_event_bytes = size_t(pulse_max_event_bytes);
    jo.interrupt_check = pg::decode_interrupt_check;
    // envelopes are pg_pulse's (and paths specs'); segment and posthog name their collections
    jo.envelope_auto =
        sub_.collection.empty() && (sub_.spec.kind == SpecKind::kPulse || sub_.spec.kind == SpecKind::kPaths);
    jo.raw_only = sub_.spec.kind == SpecKind::kSegment || sub_.spec.kind == SpecKind::kPosthog;
    jo.default_collection = sub_.collection.empty() ? std::string_view(topic) : std::string_view();
    jo.spare_fields = jo.raw_only ? 0 : spare_fields_;
    json_.decode_event(payload, jo, batch);
  } else {
    avro_.set_max_event_bytes(size_t(pulse_max_event_bytes));
    AvroFraming framing = sub_.format == "avro" ? AvroFraming::kRaw : AvroFraming::kConfluent;
    if (framing == AvroFraming::kConfluent && m->len >= 5 && payload[0] == 0) {
      const unsigned char* b = static_cast<const unsigned char*>(m->payload);
      int32_t id = int32_t((uint32_t(b[1]) << 24) | (uint32_t(b[2]) << 16) | (uint32_t(b[3]) << 8) | b[4]);
      if (!avro_.has_schema(id) && looked_up->insert(id).second) load_avro_schema(id);
    }
    avro_.decode(payload, framing, sub_.avro_schema_id, batch);
    if (sub_.collection.empty() && batch->events.size() > before)
      batch->events.back().collection = batch->arena.copy(normalize_collection_name(topic));
  }
  std::string src = "kafka:" + topic + "/" + std::to_string(m->partition) + "/" + std::to_string(m->offset);
  for (size_t k = before; k < batch->events.size(); k++) batch->events[k].source = batch->arena.copy(src);
}

// Decodes and ingests messages idx[from, to), in chunks of about pulse.collect_chunk_bytes of
// messages (decoded memory bounded by the chunk), with the outcome of one batch.
void Consumer::ingest_range(const std::vector<size_t>& idx, size_t from, size_t to, ingest::IngestCounts* counts) {
  std::set<int32_t> looked_up;  // schema ids fetched from the catalog in this batch
  // an enricher skipped for its data file shows in this subscription's status (last_error)
  struct Listening {
    explicit Listening(WorkerSlot* slot) {
      enrich::set_skip_listener([](void* arg, const char* m) { note_error(static_cast<WorkerSlot*>(arg), m); }, slot);
    }
    ~Listening() { enrich::set_skip_listener(nullptr, nullptr); }
  } listening(slot_);
  ingest::ChunkedIngest call(sub_.project, sub_.collection, "kafka subscription " + std::to_string(sub_.id), counts);
  if (sub_.spec.kind != SpecKind::kPulse) call.set_spec(sub_.spec);
  spare_fields_ = sub_.format == "json" ? enrich::fields_added_at_most(sub_.project) : 0;
  for (size_t k = from; k < to;) {
    EventBatch batch;
    for (size_t bytes = 0; k < to && bytes < size_t(pulse_collect_chunk_bytes); k++) {
      decode_message(msgs_[idx[k]].get(), &batch, &looked_up);
      bytes += msgs_[idx[k]]->len;
    }
    call.add(batch);
  }
  call.finish();
}

// Ingests messages idx[from, to) in a subtransaction; when that fails for a reason that is not
// an abort, splits the range in halves, down to the one message that fails, which is kept whole
// in pulse.dead_letters (its bytes as received) so the partition moves on.
void Consumer::isolate(const std::vector<size_t>& idx, size_t from, size_t to, ingest::IngestCounts* counts) {
  if (from >= to) return;
  ingest::IngestCounts c;
  try {
    pg::in_subtransaction([&] { ingest_range(idx, from, to, &c); });
  } catch (std::exception& e) {
    int code = sqlstate_of(e);
    if (pg::is_abort_error(code)) throw;
    if (to - from == 1) {
      const rd_kafka_message_t* m = msgs_[idx[from]].get();
      std::string topic = rd_kafka_topic_name(m->rkt);
      std::string src = "kafka:" + topic + "/" + std::to_string(m->partition) + "/" + std::to_string(m->offset);
      std::string why = pg::clip_message(e.what());
      ingest::record_dead_letter(sub_.project, sub_.collection,
                                 std::string_view(static_cast<const char*>(m->payload), m->payload ? m->len : 0), why,
                                 src, sub_.spec.kind == SpecKind::kPulse ? std::string() : sub_.spec.text);
      counts->dead_lettered++;
      return;
    }
    pg::check_interrupts();
    size_t mid = from + (to - from) / 2;
    isolate(idx, from, mid, counts);
    isolate(idx, mid, to, counts);
    return;
  }
  counts->stored += c.stored;
  counts->rejected_fields += c.rejected_fields;
  counts->dead_lettered += c.dead_lettered;
}

// One transaction for the batch: rows, rejected fields, dead letters and the next offsets.
// Returns the messages it accounted for (those below the stored offsets are skipped).
int64_t Consumer::process(bool isolating) {
  int64_t done = 0;
  pg::in_transaction(
      isolating ? "pg_pulse kafka: ingesting a batch, isolating a failure" : "pg_pulse kafka: ingesting a batch", [&] {
        pg::call([] { pg::pause_point("kafka"); });
        check_owner_writes();  // before any message is looked at: a refusal is no message's fault
        // Lock this batch's partitions and learn their stored offsets.
        std::vector<std::string> topics, partitions;
        std::map<PartitionKey, int64_t> next;
        for (auto& m : msgs_) {
          PartitionKey key{rd_kafka_topic_name(m->rkt), int(m->partition)};
          if (next.emplace(key, -1).second) {
            topics.push_back(key.first);
            partitions.push_back(std::to_string(key.second));
          }
        }
        pg::spi_exec(
            "INSERT INTO pulse.kafka_offsets(subscription_id, topic, partition, next_offset)"
            " SELECT $1, t, p::int, 0 FROM unnest($2::text[], $3::text[]) AS u(t, p) ON CONFLICT DO NOTHING",
            {Arg::int8(sub_.id), Arg::text_array(topics), Arg::text_array(partitions)});
        std::map<PartitionKey, int64_t> stored = read_stored_offsets(sub_.id, topics, partitions, true);
        std::vector<size_t> idx;  // the messages not stored yet
        std::map<PartitionKey, uint32_t> counts;
        for (size_t k = 0; k < msgs_.size(); k++) {
          const rd_kafka_message_t* m = msgs_[k].get();
          PartitionKey key{rd_kafka_topic_name(m->rkt), int(m->partition)};
          if (m->offset < stored[key]) continue;  // already stored by someone else: never twice
          next[key] = std::max(next[key], int64_t(m->offset) + 1);
          counts[key]++;
          idx.push_back(k);
        }
        ingest::IngestCounts c;
        if (isolating)
          isolate(idx, 0, idx.size(), &c);
        else
          ingest_range(idx, 0, idx.size(), &c);
        std::vector<std::string> ut, up, uo;
        for (auto& [key, off] : next) {
          if (off < 0) continue;
          ut.push_back(key.first);
          up.push_back(std::to_string(key.second));
          uo.push_back(std::to_string(off));
        }
        if (!ut.empty())
          pg::spi_exec(
              "UPDATE pulse.kafka_offsets o SET next_offset = u.o::bigint, updated_at = pg_catalog.now()"
              " FROM unnest($2::text[], $3::text[], $4::text[]) AS u(t, p, o)"
              " WHERE o.subscription_id = $1 AND o.topic = u.t AND o.partition = u.p::int",
              {Arg::int8(sub_.id), Arg::text_array(ut), Arg::text_array(up), Arg::text_array(uo)});
        // status (shared memory) once the transaction is sure to commit is good enough for a gauge
        TimestampTz now = GetCurrentTimestamp();
        for (auto& [key, off] : next) {
          if (off < 0) continue;
          note_progress(slot_, key.first.c_str(), key.second, off, counts[key], now);
          int64_t lo = -1, hi = -1;  // the broker's high watermark as of the batch's last fetch
          if (rd_kafka_get_watermark_offsets(rk_, key.first.c_str(), key.second, &lo, &hi) ==
                  RD_KAFKA_RESP_ERR_NO_ERROR &&
              hi >= 0)
            note_high_watermark(slot_, key.first.c_str(), key.second, std::max<int64_t>(hi, off), now);
        }
        done = int64_t(idx.size());
      });
  return done;
}

// Records why the batch failed and when it is tried again (the backoff of the slot's failures).
void Consumer::schedule_retry(const std::string& why, TimestampTz now) {
  bool log = false;
  long wait = note_failure(slot_, why.c_str(), "retrying a failed batch", now, &log);
  if (log)
    pg::call([&] {
      ereport(WARNING, (errmsg("pg_pulse kafka: project %s subscription %lld: batch failed (retrying): %.500s",
                               sub_.project.c_str(), (long long)sub_.id, why.c_str())));
    });
  retry_at_ = TimestampTzPlusMilliseconds(now, wait);
}

// Stores the collected batch: whole, else isolating the message that fails; a failure that is
// not any message's (cancel, lack of resources, lock conflict), or a failure while isolating,
// schedules a retry after a backoff. True when the batch is stored.
bool Consumer::commit(TimestampTz now) {
  retry_at_ = 0;
  for (;;) {
    TimestampTz started = GetCurrentTimestamp();
    // the process title and application_name name the subscription while its batch is stored
    std::string app = "pg_pulse kafka " + sub_.project + " subscription " + std::to_string(sub_.id);
    std::string title = "subscription " + std::to_string(sub_.id) + " (" + sub_.project + ")";
    pg::call([&] {
      set_ps_display(title.c_str());
      pgstat_report_appname(app.c_str());
    });
    titled = true;
    try {
      process(isolating_);
      // after the commit: Kafka is told too, at most once a second (lag tooling only; Postgres
      // holds the truth)
      for (auto& m : msgs_) {
        auto& v = kafka_pending_[{rd_kafka_topic_name(m->rkt), int(m->partition)}];
        v = std::max<int64_t>(v, m->offset + 1);
      }
      msgs_.clear();
      commit_to_kafka(GetCurrentTimestamp(), false);
      isolating_ = false;
      note_state(slot_, "consuming");
      return true;
    } catch (std::exception& e) {
      int code = sqlstate_of(e);
      std::string why = pg::clip_message(e.what());
      pg::record_job_failure({"kafka batch", sub_.project, "subscription " + std::to_string(sub_.id), started,
                              int64_t(msgs_.size()), false,
                              why + (pg::is_abort_error(code) || isolating_ ? " (retried after a backoff)"
                                                                            : " (isolating the failing message)")});
      if (pg::is_abort_error(code) || isolating_) {
        isolating_ = false;  // the retry takes the batch whole again
        schedule_retry(why.substr(0, 250), now);
        return false;
      }
      isolating_ = true;  // the batch failed as a whole: find the message that makes it fail
      note_state(slot_, "isolating a failed message");
    }
  }
}

// Commits the offsets stored since the last time to Kafka (asynchronously), when a second has
// passed since then or when asked to now.
void Consumer::commit_to_kafka(TimestampTz now, bool force) {
  if (kafka_pending_.empty() || !rk_) return;
  if (!force && !TimestampDifferenceExceeds(kafka_committed_at_, now, 1000)) return;
  rd_kafka_topic_partition_list_t* offs = rd_kafka_topic_partition_list_new(int(kafka_pending_.size()));
  for (auto& [key, off] : kafka_pending_)
    rd_kafka_topic_partition_list_add(offs, key.first.c_str(), key.second)->offset = off;
  rd_kafka_commit(rk_, offs, 1);
  rd_kafka_topic_partition_list_destroy(offs);
  kafka_pending_.clear();
  kafka_committed_at_ = now;
}

void Consumer::start() {
  note_state(slot_, "loading its subscription");
  load_subscription();
  note_state(slot_, "connecting");
  create_consumer();
  LWLockAcquire(shared->lock, LW_EXCLUSIVE);
  slot_->started_at = GetCurrentTimestamp();
  snprintf(slot_->state, sizeof slot_->state, "consuming");
  LWLockRelease(shared->lock);
}

void Consumer::close(bool dying) {
  msgs_.clear();  // librdkafka waits for every message to be destroyed before it ends
  if (!dying) commit_to_kafka(0, true);
  if (queue_) {
    rd_kafka_queue_io_event_enable(queue_, -1, nullptr, 0);
    rd_kafka_queue_destroy(queue_);
    queue_ = nullptr;
  }
  if (rk_) {
    if (dying) {
      rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    } else {
      rd_kafka_consumer_close(rk_);
      rd_kafka_destroy(rk_);
    }
    rk_ = nullptr;
  }
}

}  // namespace pulse::kafka
