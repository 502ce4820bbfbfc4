// Projects and collections as Postgres objects: privilege checks, table creation, the
// column list of a collection, and ALTER TABLE ADD COLUMN under pulse.ddl_lock_timeout.
#pragma once

#include <string>
#include <vector>

#include "core/batch.h"
#include "core/partition_range.h"
#include "pg/guard.h"

namespace pulse::ingest {

// Raises 42602 for an invalid project name; 42704 when it does not exist; 42501 when the
// calling role (the session's current role: SECURITY DEFINER hides only the function owner)
// lacks the privileges of <project>_writer.
void check_project_writer(const std::string& project);

// Raises 42602 with a hint for an invalid project / collection name given to the API.
void check_project_name(const std::string& project);
void check_collection_name(const std::string& collection);

struct CollectionInfo {
  Oid relid = InvalidOid;
  bool dedup = false;
  bool created = false;
  PartitionUnit partition = PartitionUnit::kNone;  // partitioned by range of _time in these units
};

// The collection's table, created (with system columns, BRIN indexes, grants and its catalog
// row) when missing: partitioned by `partition` when given, else as the project's default
// (pulse.projects.partition_by) says. Concurrent creators are serialised by an advisory lock.
// Raises 42809 when the name is a partition of another collection.
CollectionInfo ensure_collection(const std::string& project, const std::string& collection, bool dedup = false,
                                 const PartitionUnit* partition = nullptr);

// Takes the transaction-scoped advisory lock that serialises the creators of a collection and
// of its partitions.
void lock_collection(const std::string& project, const std::string& collection);

// The collection's columns in attnum order (dropped columns skipped).
TableShape read_shape(Oid relid);

// ALTER TABLE ... ADD COLUMN IF NOT EXISTS for each column, retried on lock timeouts
// (pulse.ddl_lock_timeout per attempt, pulse.ddl_retries attempts); raises 55P03 with a hint
// when the lock never comes. Returns how many columns were really added.
int add_columns(const std::string& project, const std::string& collection, Oid relid, const std::vector<Column>& cols);

}  // namespace pulse::ingest
