#include "core/huge_array.h"

#include <sys/mman.h>

#include <new>

namespace pulse {

void* huge_map(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (bytes >= (size_t(2) << 20)) madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  return p;
}

void huge_unmap(void* p, size_t bytes) { munmap(p, bytes); }

}  // namespace pulse
