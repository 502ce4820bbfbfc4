// Counting a table's rows without the executor.
#pragma once

#include <cstdint>

#include "pg/guard.h"

namespace pulse::pg {

// The rows of relation relid that a fresh snapshot sees: the number count(*) returns, counted
// page by page (heap pages, the tuples' visibility as a sequential scan decides it, no tuple
// formed); for a table of another access method, SELECT count(*). The caller holds a lock on
// the table that keeps writers out (retention: SHARE), so the answer cannot change meanwhile.
// Honours a cancel between pages.
int64_t count_visible_rows(Oid relid);

}  // namespace pulse::pg
