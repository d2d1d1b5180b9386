// File: allocator_tuning.h
// TuneAllocatorForStore: the process-wide glibc malloc settings the store is
// measured and run with. Call once at the start of main() of a process that
// hosts a Store (historiand, engine_bench), before threads start.
#ifndef HISTORIAN_STORAGE_ALLOCATOR_TUNING_H_
#define HISTORIAN_STORAGE_ALLOCATOR_TUNING_H_

namespace historian {

// Ingest allocates and frees buffers of 0.1-10 MB per batch (requests, log
// entries, write batches, head columns). With glibc's defaults each one is a
// fresh mmap or a heap trim, so every batch pays page faults and page
// clearing (measured: bench/README.md). This keeps buffers up to 32 MB
// in the heap and trims it only above 256 MB free.
void TuneAllocatorForStore();

}  // namespace historian

#endif  // HISTORIAN_STORAGE_ALLOCATOR_TUNING_H_
