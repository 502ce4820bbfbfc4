// Internal to the Avro code of src/core: polling the interrupt check installed with
// set_avro_interrupt_check (avro_decode.h) from loops whose length a schema or message decides.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <exception>

#include "core/avro_decode.h"

namespace pulse {
namespace avro_internal {

// What the check threw, carried to the public entry point that rethrows it unchanged (so no
// catch (...) on the way turns a cancel into an ordinary error).
struct Interrupted {
  std::exception_ptr original;
};

// Calls the installed check, if any; what it throws leaves as Interrupted.
void poll_interrupt();

// Counts work and polls the check every kAvroInterruptInterval units: one decrement and one
// predictable branch per unit.
class Ticker {
 public:
  void tick() {
    if (--left_ == 0) {
      left_ = kAvroInterruptInterval;
      poll_interrupt();
    }
  }

 private:
  uint32_t left_ = kAvroInterruptInterval;
};

}  // namespace avro_internal
}  // namespace pulse
