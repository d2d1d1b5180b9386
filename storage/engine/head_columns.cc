// File: head_columns.cc
#include "storage/engine/head_columns.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "storage/engine/columns.h"

namespace historian::engine {
namespace {

// Offsets reach 2^31 version units (2^23 s, 97 days) either side of the base.
constexpr Version kHalfRange = Version{1} << 31;

}  // namespace

void HeadColumns::AppendQuality(uint32_t quality) {
  const uint32_t n = static_cast<uint32_t>(size());  // after the append
  if (!quality_runs_) {
    if (quality == 0) return;
    quality_runs_ = std::make_unique<std::vector<QualityRun>>();
    if (n > 1) quality_runs_->push_back({n - 1, 0});
  }
  std::vector<QualityRun>& runs = *quality_runs_;
  if (!runs.empty() && runs.back().quality == quality) {
    runs.back().end = n;
  } else {
    runs.push_back({n, quality});
  }
}

void HeadColumns::AppendVersion(Version v) {
  if (!wide_versions_) {
    if (version_offsets_.empty()) version_base_ = v < kHalfRange ? 0 : v - kHalfRange;
    if (v >= version_base_ && v - version_base_ <= UINT32_MAX) {
      version_offsets_.push_back(static_cast<uint32_t>(v - version_base_));
      return;
    }
    // Out of reach: keep every version in full from now on.
    wide_versions_ = std::make_unique<std::vector<Version>>();
    wide_versions_->reserve(version_offsets_.size() + 1);
    for (uint32_t o : version_offsets_) wide_versions_->push_back(version_base_ + o);
    std::vector<uint32_t>().swap(version_offsets_);
  }
  wide_versions_->push_back(v);
}

void HeadColumns::Reserve(size_t n) {
  timestamps_.reserve(n);
  version_offsets_.reserve(n);
  if (type_ == ValueType::kString) {
    if (!strings_) strings_ = std::make_unique<std::vector<std::string>>();
    strings_->reserve(n);
  } else {
    words_.reserve(n);
  }
}

void HeadColumns::Append(const codec::ChunkColumns& from, size_t begin, size_t end) {
  if (begin >= end) return;
  for (size_t i = begin; i < end; ++i) AppendVersion(from.versions[i]);
  const size_t n = end - begin;
  switch (from.type) {
    case ValueType::kDouble:
    case ValueType::kInt64: {
      // Both are 8-byte values: copied bit for bit.
      const void* src = from.type == ValueType::kDouble
                            ? static_cast<const void*>(from.doubles.data() + begin)
                            : static_cast<const void*>(from.ints.data() + begin);
      const size_t at = words_.size();
      words_.resize(at + n);
      std::memcpy(words_.data() + at, src, n * sizeof(uint64_t));
      break;
    }
    case ValueType::kBool:
      words_.insert(words_.end(), from.bools.begin() + begin, from.bools.begin() + end);
      break;
    case ValueType::kString:
      if (!strings_) strings_ = std::make_unique<std::vector<std::string>>();
      strings_->insert(strings_->end(), from.strings.begin() + begin, from.strings.begin() + end);
      break;
    default:
      break;
  }
  for (size_t i = begin; i < end; ++i) {
    timestamps_.push_back(from.timestamps[i]);
    AppendQuality(from.qualities[i]);
  }
}

void HeadColumns::Append(const HeadColumns& from) {
  codec::ChunkColumns all;
  all.Reset(from.type());
  from.CopyAll(&all);
  Append(all, 0, all.size());
}

void HeadColumns::CopySlice(size_t begin, size_t end, codec::ChunkColumns* to) const {
  if (begin >= end) return;
  const size_t n = end - begin;
  to->timestamps.insert(to->timestamps.end(), timestamps_.begin() + begin,
                        timestamps_.begin() + end);
  switch (type_) {
    case ValueType::kDouble: {
      const size_t at = to->doubles.size();
      to->doubles.resize(at + n);
      std::memcpy(to->doubles.data() + at, words_.data() + begin, n * sizeof(double));
      break;
    }
    case ValueType::kInt64: {
      const size_t at = to->ints.size();
      to->ints.resize(at + n);
      std::memcpy(to->ints.data() + at, words_.data() + begin, n * sizeof(int64_t));
      break;
    }
    case ValueType::kBool:
      for (size_t i = begin; i < end; ++i) to->bools.push_back(static_cast<uint8_t>(words_[i]));
      break;
    case ValueType::kString:
      to->strings.insert(to->strings.end(), strings_->begin() + begin, strings_->begin() + end);
      break;
    default:
      break;
  }
  if (wide_versions_) {
    to->versions.insert(to->versions.end(), wide_versions_->begin() + begin,
                        wide_versions_->begin() + end);
  } else {
    for (size_t i = begin; i < end; ++i)
      to->versions.push_back(version_base_ + version_offsets_[i]);
  }
  if (!quality_runs_) {
    to->qualities.insert(to->qualities.end(), n, 0);
    return;
  }
  auto run = std::upper_bound(quality_runs_->begin(), quality_runs_->end(), begin,
                              [](size_t i, const QualityRun& r) { return i < r.end; });
  for (size_t i = begin; i < end; ++i) {
    if (i >= run->end) ++run;
    to->qualities.push_back(run->quality);
  }
}

void HeadColumns::CopyAll(codec::ChunkColumns* to) const { CopySlice(0, size(), to); }

void HeadColumns::CopyRange(int64_t start, int64_t end, codec::ChunkColumns* to) const {
  size_t b = std::lower_bound(timestamps_.begin(), timestamps_.end(), start) - timestamps_.begin();
  size_t e = std::lower_bound(timestamps_.begin(), timestamps_.end(), end) - timestamps_.begin();
  CopySlice(b, e, to);
}

void HeadColumns::Normalize() {
  if (std::adjacent_find(timestamps_.begin(), timestamps_.end(),
                         [](int64_t a, int64_t b) { return a >= b; }) == timestamps_.end()) {
    return;
  }
  codec::ChunkColumns all;
  all.Reset(type_);
  CopyAll(&all);
  engine::Normalize(&all);
  *this = HeadColumns(type_);
  Append(all, 0, all.size());
}

size_t HeadColumns::HeapBytes() const {
  size_t bytes = timestamps_.capacity() * sizeof(int64_t) + words_.capacity() * sizeof(uint64_t) +
                 version_offsets_.capacity() * sizeof(uint32_t);
  if (strings_) {
    bytes += sizeof(*strings_) + strings_->capacity() * sizeof(std::string);
    for (const std::string& s : *strings_) bytes += s.capacity() > 15 ? s.capacity() + 1 : 0;
  }
  if (quality_runs_)
    bytes += sizeof(*quality_runs_) + quality_runs_->capacity() * sizeof(QualityRun);
  if (wide_versions_)
    bytes += sizeof(*wide_versions_) + wide_versions_->capacity() * sizeof(Version);
  return bytes;
}

}  // namespace historian::engine
