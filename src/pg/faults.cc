// Fault injection for tests (see faults.h): pause points, failing allocations.
#include "pg/faults.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "pg/guard.h"
#include "pg/gucs.h"

extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/wait_event.h"
}

namespace {

// Allocations left before the failing one (0: none fails). Set per statement from the GUC.
long fail_countdown = 0;

}  // namespace

namespace pulse::pg {

void pause_point(const char* phase, int tenths) {
  if (!pulse_debug_pause_at || !*pulse_debug_pause_at || strcmp(pulse_debug_pause_at, phase) != 0) return;
  for (int k = 0; k < tenths; k++) {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
}

void fail_column_point(const char* column) {
  if (pulse_debug_fail_column && *pulse_debug_fail_column && strcmp(pulse_debug_fail_column, column) == 0)
    ereport(ERROR,
            (errcode(ERRCODE_INTERNAL_ERROR), errmsg("pulse.debug_fail_column: adding column \"%s\" fails", column)));
}

void decode_interrupt_check() {
  call([] {
    pause_point("decode");
    CHECK_FOR_INTERRUPTS();
  });
}

void arm_allocation_failure() { fail_countdown = pulse_debug_fail_allocation; }

void disarm_allocation_failure() { fail_countdown = 0; }

}  // namespace pulse::pg

// The C++ allocation functions of pg_pulse's own code (bound to these by -Bsymbolic-functions;
// libraries keep libstdc++'s): malloc, with the test hook above. Deallocation stays the
// default (free), which frees what either allocated.
void* operator new(size_t size) {
  if (__builtin_expect(fail_countdown > 0, 0) && --fail_countdown == 0) throw std::bad_alloc();
  void* p = malloc(size ? size : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

void* operator new[](size_t size) { return operator new(size); }
