// File: allocator_tuning.cc
#include "storage/allocator_tuning.h"

#include <malloc.h>

namespace historian {

void TuneAllocatorForStore() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

bool FreedMemoryTrimmer::MaybeTrim() {
  uint64_t freed = freed_.load(std::memory_order_relaxed);
  if (freed < every_) return false;
  // One caller trims for what was noted so far.
  if (!freed_.compare_exchange_strong(freed, 0, std::memory_order_relaxed)) return false;
  malloc_trim(0);
  trims_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace historian
