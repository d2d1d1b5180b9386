// File: storage/head/head_buffer.h
// HeadBuffer: the unsealed samples of one tag and the log entries they came
// from.
#ifndef HISTORIAN_STORAGE_HEAD_HEAD_BUFFER_H_
#define HISTORIAN_STORAGE_HEAD_HEAD_BUFFER_H_

#include <cstdint>
#include <string>

#include "absl/container/inlined_vector.h"
#include "storage/engine/head_columns.h"

namespace historian {

// Per origin site: the smallest and largest log sequence whose samples sit
// in a buffer. Origins are few (one per site), so a small vector holding one
// range inline; `origin` points to the store's interned name (never freed
// while the store is open).
struct OriginSeqRange {
  const std::string* origin;
  uint64_t min_seq;
  uint64_t max_seq;
};
using OriginSeqRanges = absl::InlinedVector<OriginSeqRange, 1>;
// Widens the range of `origin` in *ranges to `seq` (adds one if needed).
void NoteOriginSeq(OriginSeqRanges* ranges, const std::string* origin, uint64_t seq);

// Unsealed samples of one tag and the log entries they came from: the head
// of an active tag (about 200 bytes with its allocation) plus its columns.
// Not thread-safe: its owner (Head) says which lock guards it.
struct HeadBuffer {
  explicit HeadBuffer(ValueType type) : cols(type) {}
  // This struct, its columns and its sequence ranges, in bytes.
  size_t MemoryBytes() const {
    return sizeof(*this) + cols.HeapBytes() +
           (seqs.size() > 1 ? seqs.capacity() * sizeof(OriginSeqRange) : 0);
  }
  engine::HeadColumns cols;  // unsorted until normalised
  OriginSeqRanges seqs;
  int64_t started_ns = 0;  // wall time of the first sample
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_HEAD_HEAD_BUFFER_H_
