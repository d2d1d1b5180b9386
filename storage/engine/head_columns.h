// File: head_columns.h
// HeadColumns: the unsealed samples of one tag in memory, dense. Samples are
// appended to a short raw tail (plain columns, so an append is a few stores);
// every head_block::kSamples samples the tail is encoded as one closed block
// (head_block.h: delta / delta-of-delta varints, decimal-scaled doubles,
// run-length qualities) appended to one byte string, with a small index of
// each block's offset and first timestamp. A regular 1 Hz analog sample
// costs ~2-3 bytes instead of the 20 of plain columns; the raw tail (at most
// kSamples samples, ~1.5 KiB) is the fixed cost of an active tag.
//
// Blocks keep append order; Normalize (sort, duplicates) decodes every
// block and encodes the result again, which late samples make necessary
// only once per read or seal. While the samples are strictly increasing
// (tracked on append), the block index's first timestamps are sorted and
// CopyRange decodes only the blocks it needs.
//
// Thread-safety: not thread-safe; the store guards each tag's head with its
// mutex.
#ifndef HISTORIAN_STORAGE_ENGINE_HEAD_COLUMNS_H_
#define HISTORIAN_STORAGE_ENGINE_HEAD_COLUMNS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/core/types.h"
#include "storage/codec/chunk_codec.h"

namespace historian::engine {

class HeadColumns {
 public:
  explicit HeadColumns(ValueType type) : type_(type) {}

  ValueType type() const { return type_; }
  size_t size() const { return num_blocks() * kBlockSamples + tail_ts_.size(); }
  // The smallest timestamp. REQUIRES: size() > 0.
  int64_t MinTimestamp() const { return min_ts_; }

  // Room for `n` samples without regrowing (a tag's next head is usually as
  // large as its last one).
  void Reserve(size_t n);

  // Appends samples [begin, end) of `from`. REQUIRES: same type.
  void Append(const codec::ChunkColumns& from, size_t begin, size_t end);
  void Append(const HeadColumns& from);

  // Sorts by timestamp and resolves duplicates as engine::Normalize does.
  void Normalize();

  // Appends the samples with start <= ts < end to `to`: the first
  // max_samples of them, or all when max_samples is 0. A read of a page
  // decodes only the blocks the page needs, not the rest of the head.
  // REQUIRES: normalised (strictly increasing timestamps).
  void CopyRange(int64_t start, int64_t end, codec::ChunkColumns* to, size_t max_samples = 0) const;
  // Appends every sample, in the current order, to `to`.
  void CopyAll(codec::ChunkColumns* to) const;

  // Heap bytes held (capacity, not size): the closed blocks and their
  // index, the raw tail's columns and its strings. Constant time and
  // mostly this object's own fields (the tail's capacities, running counts
  // of the blocks' and the tail strings' bytes), so the head bound (Head)
  // can charge every append as it happens.
  size_t HeapBytes() const;

  static constexpr size_t kBlockSamples = 64;  // head_block::kSamples

 private:
  struct Block {
    int64_t first_ts;
    uint32_t offset;  // into bytes
  };
  // Closed blocks, encoded back to back, and their index. Allocated with
  // the first block, so a head of a few samples stays small.
  struct Blocks {
    // Not a std::string: its reserve doubles the capacity (libstdc++),
    // and the growth policy below is a quarter.
    std::vector<uint8_t> bytes;
    std::vector<Block> index;
  };
  size_t num_blocks() const { return blocks_ ? blocks_->index.size() : 0; }
  void AppendVersion(Version v);
  // Encodes the full tail as a block and empties it.
  void CloseBlock();
  // Sets blocks_bytes_ from *blocks_ (after it changed).
  void CountBlocks();
  // True when every sample of block b is below ts (normalised).
  bool BlockBelow(size_t b, int64_t ts) const;
  void CopyTail(size_t begin, size_t end, codec::ChunkColumns* to) const;

  ValueType type_;
  bool increasing_ = true;  // strictly, in append order
  int64_t min_ts_ = 0;
  int64_t last_ts_ = 0;
  std::unique_ptr<Blocks> blocks_;
  // What *blocks_ holds on the heap, kept as it changes (HeapBytes runs on
  // every append: reading it there would be a cache miss per append).
  size_t blocks_bytes_ = 0;
  // The raw tail: fewer than kBlockSamples samples.
  std::vector<int64_t> tail_ts_;
  // Double (bits), int64 and bool (0/1) values; strings in tail_strings_.
  std::vector<uint64_t> tail_words_;
  std::unique_ptr<std::vector<std::string>> tail_strings_;
  // Heap bytes of the strings in tail_strings_ (beyond their inline
  // buffers), kept as they are added and cleared.
  size_t tail_string_bytes_ = 0;
  // Null while every tail sample is Good (quality 0).
  std::unique_ptr<std::vector<uint32_t>> tail_qualities_;
  // Tail versions: base + offset while every one fits in 32 bits around the
  // first (versions are hybrid-clock seconds close to each other); all of
  // them in full (tail_wide_versions_) after one does not.
  Version tail_version_base_ = 0;
  std::vector<uint32_t> tail_version_offsets_;
  std::unique_ptr<std::vector<Version>> tail_wide_versions_;
};

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_HEAD_COLUMNS_H_
