// Projects and collections as Postgres objects: privilege checks, table creation, the
// column list of a collection, and ALTER TABLE ADD COLUMN under pulse.ddl_lock_timeout.
#pragma once

#include <string>
#include <vector>

#include "core/batch.h"
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
};

// The collection's table, created (with system columns, BRIN indexes, grants and its catalog
// row) when missing. Concurrent creators are serialised by an advisory lock.
CollectionInfo ensure_collection(const std::string& project, const std::string& collection, bool dedup = false);

// The collection's columns in attnum order (dropped columns skipped).
TableShape read_shape(Oid relid);

// ALTER TABLE ... ADD COLUMN IF NOT EXISTS for each column, retried on lock timeouts
// (pulse.ddl_lock_timeout per attempt, pulse.ddl_retries attempts); raises 55P03 with a hint
// when the lock never comes. Returns how many columns were really added.
int add_columns(const std::string& project, const std::string& collection, Oid relid, const std::vector<Column>& cols);

}  // namespace pulse::ingest
