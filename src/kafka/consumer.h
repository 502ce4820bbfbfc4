// A Kafka consumer: one member of a subscription's consumer group, served by a pool worker
// (src/kafka/pool.cc) next to any number of others. Never blocks: the pool worker calls step()
// whenever librdkafka has queued messages (it writes to the pool worker's notify pipe) or the
// time step() asked for has come.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/avro_decode.h"
#include "core/event_spec.h"
#include "core/json_decode.h"
#include "ingest/writer.h"
#include "kafka/settings.h"
#include "kafka/shmem.h"

namespace pulse::kafka {

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

struct Subscription {
  int64_t id = 0;
  std::string project, brokers, format, collection, group_id;
  std::vector<std::string> topics;
  Settings options;  // librdkafka settings
  int32_t avro_schema_id = -1;
  Oid owner = InvalidOid;   // the role whose privileges decide which settings are accepted
  std::string owner_name;   // (as recorded)
  std::string writer_role;  // the project's writer role: the owner must have its privileges
  int batch_size = 10000;
  int batch_timeout_ms = 200;
  EventSpec spec;  // the dialect of its JSON messages (docs/people.md#event-specs)
};

class Consumer {
 public:
  // slot: its consumer slot; notify_fd: where librdkafka writes when the queue fills;
  // prefetch_kb: librdkafka's queued.max.messages.kbytes unless the subscription sets it.
  Consumer(int slot, int notify_fd, int prefetch_kb)
      : slot_(&shared->slots[slot]), notify_fd_(notify_fd), prefetch_kb_(prefetch_kb) {}
  ~Consumer() { close(true); }
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Loads its subscription and joins the consumer group; throws when it cannot.
  void start();
  // Takes what librdkafka has queued (without waiting) and stores the batch when it is full or
  // its batch_timeout has passed (a failed batch: when its backoff is over). Returns when it wants
  // to go round again: 0 at once (more is queued), else a time. Throws when the consumer must stop
  // (its pool worker records the failure and starts it again after a backoff).
  TimestampTz step(TimestampTz now);
  // Leaves the consumer group and shuts librdkafka down (graceful), or, on the way out of a
  // failure or a dying process, drops everything without the group handshake.
  void close(bool dying);

  WorkerSlot* slot() const { return slot_; }
  // Set when a batch named this consumer's subscription in the process title; its pool worker
  // puts its own title back and clears it.
  bool titled = false;
  int64_t subscription_id() const { return sub_.id; }
  const std::string& project() const { return sub_.project; }

  // librdkafka callbacks (called on this thread from inside rd_kafka_* calls): no Postgres
  // error may cross them, so they catch everything and leave a note for the main loop.
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void on_log(const char* fac, const char* buf);
  void on_error(const char* reason);

 private:
  void load_subscription();
  // 42501 unless the owner may (still) write to the project: checked when the subscription is
  // loaded and in each batch's transaction (a revoked role stops the next batch).
  void check_owner_writes() const;
  void create_consumer();
  void flush_notes();
  bool drain();
  bool commit(TimestampTz now);
  int64_t process(bool isolate);
  void ingest_range(const std::vector<size_t>& idx, size_t from, size_t to, ingest::IngestCounts* counts);
  void isolate(const std::vector<size_t>& idx, size_t from, size_t to, ingest::IngestCounts* counts);
  void decode_message(const rd_kafka_message_t* m, EventBatch* batch, std::set<int32_t>* looked_up);
  void load_avro_schema(int32_t id);
  void refresh_watermarks(TimestampTz now);
  void schedule_retry(const std::string& why, TimestampTz now);
  void commit_to_kafka(TimestampTz now, bool force);

  WorkerSlot* slot_;
  int notify_fd_;
  int prefetch_kb_;
  Subscription sub_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
  JsonDecoder json_;
  AvroDecoder avro_;
  size_t spare_fields_ = 0;               // room each decoded JSON event keeps for the enrichers' fields
  std::vector<Message> msgs_;             // the batch being collected or committed
  std::vector<rd_kafka_message_t*> buf_;  // what one drain takes from librdkafka
  std::vector<std::string> pending_logs_;
  std::string pending_error_, fatal_;
  bool revoked_ = false;
  bool isolating_ = false;    // the batch failed whole: its next attempt isolates the failing message
  TimestampTz deadline_ = 0;  // the batch is stored by then (batch_timeout after its first message)
  TimestampTz retry_at_ = 0;  // a failed batch is tried again no earlier
  TimestampTz watermarks_at_ = 0;
  std::map<std::pair<std::string, int>, int64_t> kafka_pending_;  // next offsets not yet told to Kafka
  TimestampTz kafka_committed_at_ = 0;
};

}  // namespace pulse::kafka
