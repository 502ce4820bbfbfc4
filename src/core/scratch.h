// Large byte buffers reused from one ingestion call to the next (the payload copy a decoder
// parses, the COPY text of a batch). Fresh buffers of tens of MB are mmap'ed and faulted in
// page by page on every call by glibc (above its mmap threshold); reusing them keeps the speed
// without changing the process-wide malloc policy for everyone else. Not thread-safe: one
// backend, one thread.
#pragma once
#include "core/no_postgres.h"

#include <string>

namespace pulse {

// Bytes kept for reuse between calls at most (buffers beyond it are freed when given back).
inline constexpr size_t kMaxScratchBytes = size_t(192) << 20;

// An empty string with the capacity of a buffer given back earlier (or a new one).
std::string take_scratch();
// Keeps s (cleared) for a later take_scratch while the kept total stays under kMaxScratchBytes.
void give_scratch(std::string&& s);
// Bytes kept now (for tests).
size_t scratch_bytes();

}  // namespace pulse
