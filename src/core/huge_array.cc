#include "core/huge_array.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace pulse {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
}

void* huge_map(size_t bytes) {
  if (bytes < kHugePage) {
    // the malloc heap: memory freed by earlier arrays is reused, already faulted in
    void* small = std::calloc(1, bytes);
    if (!small) throw std::bad_alloc();
    return small;
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  return p;
}

void huge_unmap(void* p, size_t bytes) {
  if (bytes < kHugePage)
    std::free(p);
  else
    munmap(p, bytes);
}

}  // namespace pulse
