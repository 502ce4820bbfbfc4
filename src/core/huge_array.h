// Zero-filled arrays of trivially copyable values: from 2 MB on in their own anonymous mapping,
// aligned to 2 MB and advised to use transparent huge pages; smaller ones from the malloc heap (calloc), whose
// freed memory is reused already faulted in. Fresh 4 kB pages are dear: on the 2-core VM of
// bench/, first touching 128 MB took 0.4-0.5 s in 4 kB pages and 0.01-0.2 s in huge pages. The report aggregates
// (src/analytics/reports.cc) touch a few hundred MB per query at random: with 4 kB pages the page faults alone were
// ~17% of a funnel (perf, bench/analytics), and a std::vector's doubling copies each byte again.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

namespace pulse {

// Throws std::bad_alloc when the mapping fails.
void* huge_map(size_t bytes);
void huge_unmap(void* p, size_t bytes);

template <class T>
class HugeArray {
  static_assert(std::is_trivially_copyable<T>::value, "HugeArray holds plain values");

 public:
  HugeArray() = default;
  explicit HugeArray(size_t n) : data_(n ? static_cast<T*>(huge_map(n * sizeof(T))) : nullptr), size_(n) {}
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;
  HugeArray(HugeArray&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  HugeArray& operator=(HugeArray&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~HugeArray() { release(); }

  size_t size() const { return size_; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

  // A copy of the first min(size(), n) values in a new array of n values (the rest zero).
  void resize(size_t n) {
    HugeArray bigger(n);
    if (size_) std::memcpy(bigger.data_, data_, (size_ < n ? size_ : n) * sizeof(T));
    *this = std::move(bigger);
  }

 private:
  void release() {
    if (data_) huge_unmap(data_, size_ * sizeof(T));
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  size_t size_ = 0;
};

// The first index of each group in a counting sort by group (the reports' grouping of events
// by actor): out[g] = the sum of counts[0 .. g - 1], out[counts.size()] = the total.
inline std::vector<size_t> counting_starts(const HugeArray<uint32_t>& counts) {
  std::vector<size_t> start(counts.size() + 1, 0);
  for (size_t g = 0; g < counts.size(); ++g) start[g + 1] = start[g] + counts[g];
  return start;
}

}  // namespace pulse
