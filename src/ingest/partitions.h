// Time partitions of partitioned collections: ingestion creates the partitions a batch needs
// before its COPY, for late and future events alike (docs/lifecycle.md).
#pragma once

#include <map>
#include <string>

#include "core/batch.h"
#include "core/partition_range.h"
#include "pg/guard.h"

namespace pulse::ingest {

// Makes sure every _time of rows (CopyRows::line_time_us) has its partition of `unit` in collection relid: a
// per-backend cache of the ranges known to exist (dropped when the collection's relcache entry is invalidated, as an
// ATTACH or DETACH does), and for the missing ones, under the collection's advisory lock:
// CREATE TABLE (LIKE collection), ALTER TABLE collection ATTACH PARTITION (SHARE UPDATE
// EXCLUSIVE on the collection: ingestion into it goes on), owned as the collection is, with the
// views' invalidation trigger. A range whose partition cannot be made (a relation of its name
// is in the way, ...) is left out, with its reason in *failed (by range start): its rows then
// fail alone and become dead letters with that reason. Returns how many partitions it created.
int ensure_partitions(const std::string& project, const std::string& collection, Oid relid, PartitionUnit unit,
                      const CopyRows& rows, std::map<int64_t, std::string>* failed);

}  // namespace pulse::ingest
