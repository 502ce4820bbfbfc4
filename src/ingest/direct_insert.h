// The direct write path: the binary rows of a batch (core/batch.h, CopyRows with binary set) go
// into the collection through the table and index routines COPY itself uses
// (table_multi_insert, ExecInsertIndexTuples, tuple routing), without COPY's per-call slot
// set-up. Postgres 15's COPY makes up to 1000 slots per statement and registers each with the
// resource owner, whose lookup of 1000 entries for one tuple descriptor is quadratic: a quarter
// of the time of a 1000-event collect_batch. The slots here use a private copy of the tuple
// descriptor, which is not reference counted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pg/guard.h"

namespace pulse::ingest {

// Stores `rows` (binary COPY rows of `columns`, no header or trailer) into relid; *stored gets
// the row count. Values go through each column's binary input function, columns not listed get
// their defaults, constraints are checked and partitioned collections route each row, as COPY
// does. False, with nothing stored, when the collection needs what only COPY does: INSERT triggers,
// stored generated columns, volatile defaults, a table access method other than heap, a
// collection that is itself a partition. A leaf partition found to need COPY while rows are
// routed raises an error (the caller's subtransaction is rolled back and COPY takes the rows).
// Must run in a subtransaction of the caller's: a refused row raises an error as COPY does.
// noop_trigger: a C trigger function the caller knows to do nothing for these rows; a plain
// table whose only INSERT triggers are row triggers running it takes the rows without firing them.
bool insert_binary_rows(Oid relid, const std::vector<std::string>& columns, std::string_view rows, uint64_t* stored,
                        PGFunction noop_trigger = nullptr);

}  // namespace pulse::ingest
