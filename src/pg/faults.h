// Fault injection for tests (GUCs pulse.debug_pause_at and pulse.debug_fail_allocation,
// superuser-only, off by default): a cancel can be delivered at a precise phase of a call, and
// the Nth C++ allocation can be made to fail.
#pragma once

namespace pulse::pg {

// When pulse.debug_pause_at names `phase`, waits here (interruptibly, on the latch, wait event
// "Extension", at most `tenths` tenths of a second: 60 s by default) so that a test can cancel
// or terminate the backend at this point. Phases: decode, copy, salvage, refresh, replay, kafka,
// commit_visible (3 s, inside a commit: interrupts are held there). Plain C inside: call under
// pg::call or where a Postgres error may longjmp.
void pause_point(const char* phase, int tenths = 600);

// When pulse.debug_fail_column names `column`, raises an error (XX000) as if adding that column
// failed: a stand-in for any schema change one event can make fail.
void fail_column_point(const char* column);

// Checks for a pending cancel (raising it as pg::PgError) and honours pause_point("decode"):
// the interrupt hook of the decoders.
void decode_interrupt_check();

// Arms the allocation failure of pulse.debug_fail_allocation for the pg_pulse call now
// starting; disarm when it ends (no allocation outside pg_pulse's calls ever fails).
void arm_allocation_failure();
void disarm_allocation_failure();

}  // namespace pulse::pg
