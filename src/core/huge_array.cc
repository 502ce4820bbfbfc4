// Zero-filled arrays in huge pages or the malloc heap (see huge_array.h).
#include "core/huge_array.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>

namespace pulse {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kPage = 4096;

size_t page_round(size_t bytes) { return (bytes + kPage - 1) & ~(kPage - 1); }
}  // namespace

void* huge_map(size_t bytes) {
  if (bytes < kHugePage) {
    // the malloc heap: memory freed by earlier arrays is reused, already faulted in
    void* small = std::calloc(1, bytes);
    if (!small) throw std::bad_alloc();
    return small;
  }
  // Huge pages back only 2 MB-aligned stretches: map 2 MB more, keep the aligned part.
  const size_t len = page_round(bytes);
  char* raw =
      static_cast<char*>(mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (raw == MAP_FAILED) throw std::bad_alloc();
  char* p = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + kHugePage - 1) & ~uintptr_t(kHugePage - 1));
  if (p > raw) munmap(raw, size_t(p - raw));
  munmap(p + len, size_t(raw + kHugePage - p));  // the rest of the extra 2 MB
#ifdef MADV_HUGEPAGE
  madvise(p, len, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  return p;
}

void huge_unmap(void* p, size_t bytes) {
  if (bytes < kHugePage)
    std::free(p);
  else
    munmap(p, page_round(bytes));
}

}  // namespace pulse
