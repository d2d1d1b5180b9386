// File: allocator_tuning.cc
#include "storage/allocator_tuning.h"

#include <malloc.h>

namespace historian {

void TuneAllocatorForStore() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace historian
