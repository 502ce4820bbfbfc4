// Retention (docs/lifecycle.md#retention): events older than their collection's `keep` are
// dropped, a whole partition at a time for partitioned collections and in batches of deletes
// for plain ones; rejected_fields and dead_letters are trimmed by their own settings. Every
// drop is recorded in pulse.job_log (kind 'retention': what, when, how many rows).
#pragma once

#include <cstdint>

namespace pulse::ingest {

// Applies every retention. in_worker: each partition and each batch in a transaction of its
// own (the scheduler, not in a transaction); else in subtransactions of the caller's
// (pulse.apply_retention). A unit that cannot get its locks within a short lock_timeout is
// skipped and retried the next time. Returns the rows dropped.
int64_t apply_retention(bool in_worker);

// Drops the partitions that retention detached (renamed _pulse_retired_<oid>), each in a unit of
// its own; the scheduler calls it every 10 s, so the files of a pulse.apply_retention call go
// soon after its commit. Returns the tables dropped.
int64_t purge_retired(bool in_worker);

}  // namespace pulse::ingest
