// File: head_columns.h
// HeadColumns: the unsealed samples of one tag in memory, compact. Timestamps
// and values are plain columns (appends and binary search stay cheap; double,
// int64 and bool values share one 64-bit column); the quality column is
// run-length and absent while every sample is Good; versions are 32-bit
// offsets from a base (they are hybrid-clock seconds close to each other). A
// sample costs 20 bytes instead of the 28 of ChunkColumns, and the struct 120
// bytes instead of 176.
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
  size_t size() const { return timestamps_.size(); }
  // In append order until Normalize().
  const std::vector<int64_t>& timestamps() const { return timestamps_; }

  // Room for `n` samples without regrowing (a tag's next head is usually as
  // large as its last one).
  void Reserve(size_t n);

  // Appends samples [begin, end) of `from`. REQUIRES: same type.
  void Append(const codec::ChunkColumns& from, size_t begin, size_t end);
  void Append(const HeadColumns& from);

  // Sorts by timestamp and resolves duplicates as engine::Normalize does.
  void Normalize();

  // Appends the samples with start <= ts < end to `to`.
  // REQUIRES: normalised (strictly increasing timestamps).
  void CopyRange(int64_t start, int64_t end, codec::ChunkColumns* to) const;
  // Appends every sample, in the current order, to `to`.
  void CopyAll(codec::ChunkColumns* to) const;

  // Heap bytes held (capacity, not size), for the memory figures.
  size_t HeapBytes() const;

 private:
  struct QualityRun {
    uint32_t end;  // one past the last sample of the run
    uint32_t quality;
  };
  void AppendQuality(uint32_t quality);
  void AppendVersion(Version v);
  void CopySlice(size_t begin, size_t end, codec::ChunkColumns* to) const;

  ValueType type_;
  std::vector<int64_t> timestamps_;
  // Double (bits), int64 and bool (0/1) values; strings in strings_.
  std::vector<uint64_t> words_;
  std::unique_ptr<std::vector<std::string>> strings_;
  // Null while every sample is Good (quality 0).
  std::unique_ptr<std::vector<QualityRun>> quality_runs_;
  // Versions: base + offset while every version fits in 32 bits around the
  // first one; all of them in full (wide_versions_) after one does not.
  Version version_base_ = 0;
  std::vector<uint32_t> version_offsets_;
  std::unique_ptr<std::vector<Version>> wide_versions_;
};

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_HEAD_COLUMNS_H_
