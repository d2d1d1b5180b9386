// File: allocator_tuning.h
// TuneAllocatorForStore: the process-wide glibc malloc settings the store is
// measured and run with. Call once at the start of main() of a process that
// hosts a Store (historiand, engine_bench), before threads start.
#ifndef HISTORIAN_STORAGE_ALLOCATOR_TUNING_H_
#define HISTORIAN_STORAGE_ALLOCATOR_TUNING_H_

#include <atomic>
#include <cstdint>

namespace historian {

// Ingest allocates and frees buffers of 0.1-10 MB per batch (requests, log
// entries, write batches, head columns). With glibc's defaults each one is a
// fresh mmap or a heap trim, so every batch pays page faults and page
// clearing (measured: bench/README.md). This keeps buffers up to 32 MB
// in the heap and trims it only above 256 MB free.
void TuneAllocatorForStore();

// FreedMemoryTrimmer: hands memory freed in bulk back to the OS while it is
// being freed. glibc keeps freed blocks in the middle of its heaps resident
// until malloc_trim; a seal pass frees the heads tag by tag (hundreds of MB
// after a bulk load) while it allocates chunks and memtable entries in
// other arenas, so without a trim during the pass the RSS keeps the heads'
// peak and grows on top of it (bench/README.md, "Peak RSS beyond the heads").
// NoteFreed counts bytes freed; MaybeTrim runs malloc_trim(0) once `every`
// bytes were noted since the last trim.
//
// Thread-safety: any thread (an atomic counter). Call MaybeTrim without
// locks held: malloc_trim walks every arena, each under its own lock.
class FreedMemoryTrimmer {
 public:
  static constexpr uint64_t kDefaultEvery = uint64_t{64} << 20;
  explicit FreedMemoryTrimmer(uint64_t every = kDefaultEvery) : every_(every) {}
  void NoteFreed(uint64_t bytes) { freed_.fetch_add(bytes, std::memory_order_relaxed); }
  // True when it trimmed.
  bool MaybeTrim();
  // Trims since construction.
  uint64_t trims() const { return trims_.load(std::memory_order_relaxed); }

 private:
  const uint64_t every_;
  std::atomic<uint64_t> freed_{0};
  std::atomic<uint64_t> trims_{0};
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_ALLOCATOR_TUNING_H_
