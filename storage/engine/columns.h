// File: columns.h
// Operations on codec::ChunkColumns used by the head and the read path:
// appending single samples, normalising (sort + resolve duplicates) and
// slicing by time.
//
// Resolution rule for two samples with the same timestamp: the higher
// version wins; on equal versions the one later in the input wins (the input
// is in application order). See docs/consistency.md.
#ifndef HISTORIAN_STORAGE_ENGINE_COLUMNS_H_
#define HISTORIAN_STORAGE_ENGINE_COLUMNS_H_

#include <cstdint>

#include "storage/codec/chunk_codec.h"

namespace historian::engine {

// Appends sample `i` of `from` to `to`. REQUIRES: same type.
void AppendSample(const codec::ChunkColumns& from, size_t i, codec::ChunkColumns* to);

// Appends samples [begin, end) of `from` to `to` (versions only when `from`
// has them). REQUIRES: same type.
void AppendSamples(const codec::ChunkColumns& from, size_t begin, size_t end,
                   codec::ChunkColumns* to);

// True when timestamps are strictly increasing.
bool IsStrictlyIncreasing(const codec::ChunkColumns& cols);

// Sorts by timestamp (stable) and keeps one sample per timestamp by the
// resolution rule above. No-op when already strictly increasing.
void Normalize(codec::ChunkColumns* cols);

// Appends the samples of `from` (REQUIRES: strictly increasing) with
// start <= ts < end to `to`: the first max_samples of them (0: all).
void AppendRange(const codec::ChunkColumns& from, int64_t start, int64_t end,
                 codec::ChunkColumns* to, size_t max_samples = 0);

// Removes all but the first `n` samples.
void Truncate(size_t n, codec::ChunkColumns* cols);

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_COLUMNS_H_
