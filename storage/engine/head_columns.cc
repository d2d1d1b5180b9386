// File: head_columns.cc
#include "storage/engine/head_columns.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "storage/engine/columns.h"
#include "storage/engine/head_block.h"

namespace historian::engine {
namespace {

// Offsets reach 2^31 version units (2^23 s, 97 days) either side of the base.
constexpr Version kHalfRange = Version{1} << 31;

// What a std::string holds on the heap: nothing within its inline buffer
// (15 chars in libstdc++), else its capacity and the terminator.
size_t StringHeapBytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

}  // namespace

static_assert(HeadColumns::kBlockSamples == head_block::kSamples);

void HeadColumns::Reserve(size_t n) {
  const size_t tail = std::min(n, kBlockSamples);
  tail_ts_.reserve(tail);
  tail_version_offsets_.reserve(tail);
  if (type_ == ValueType::kString) {
    if (!tail_strings_) tail_strings_ = std::make_unique<std::vector<std::string>>();
    tail_strings_->reserve(tail);
  } else {
    tail_words_.reserve(tail);
  }
  if (n >= kBlockSamples) {
    if (!blocks_) blocks_ = std::make_unique<Blocks>();
    blocks_->index.reserve(n / kBlockSamples);
    CountBlocks();
  }
}

void HeadColumns::AppendVersion(Version v) {
  if (!tail_wide_versions_) {
    if (tail_version_offsets_.empty()) {
      tail_version_base_ = v < kHalfRange ? 0 : v - kHalfRange;
    }
    if (v >= tail_version_base_ && v - tail_version_base_ <= UINT32_MAX) {
      tail_version_offsets_.push_back(static_cast<uint32_t>(v - tail_version_base_));
      return;
    }
    // Out of reach: keep the tail's versions in full until it closes.
    tail_wide_versions_ = std::make_unique<std::vector<Version>>();
    tail_wide_versions_->reserve(kBlockSamples);
    for (uint32_t o : tail_version_offsets_) {
      tail_wide_versions_->push_back(tail_version_base_ + o);
    }
    tail_version_offsets_.clear();
  }
  tail_wide_versions_->push_back(v);
}

void HeadColumns::Append(const codec::ChunkColumns& from, size_t begin, size_t end) {
  if (begin >= end) return;
  // Order and the smallest timestamp, in one pass.
  size_t i = begin;
  if (size() == 0) {
    min_ts_ = last_ts_ = from.timestamps[i++];
    increasing_ = true;
  }
  bool increasing = increasing_;
  int64_t min_ts = min_ts_, last = last_ts_;
  for (; i < end; ++i) {
    const int64_t ts = from.timestamps[i];
    increasing &= ts > last;
    min_ts = std::min(min_ts, ts);
    last = ts;
  }
  increasing_ = increasing;
  min_ts_ = min_ts;
  last_ts_ = last;

  while (begin < end) {
    const size_t have = tail_ts_.size();
    const size_t k = std::min(end - begin, kBlockSamples - have);
    const size_t stop = begin + k;
    tail_ts_.insert(tail_ts_.end(), from.timestamps.begin() + begin,
                    from.timestamps.begin() + stop);
    for (size_t j = begin; j < stop; ++j) AppendVersion(from.versions[j]);
    switch (type_) {
      case ValueType::kDouble:
      case ValueType::kInt64: {
        // Both are 8-byte values: copied bit for bit.
        const void* src = type_ == ValueType::kDouble
                              ? static_cast<const void*>(from.doubles.data() + begin)
                              : static_cast<const void*>(from.ints.data() + begin);
        tail_words_.resize(have + k);
        std::memcpy(tail_words_.data() + have, src, k * sizeof(uint64_t));
        break;
      }
      case ValueType::kBool:
        tail_words_.insert(tail_words_.end(), from.bools.begin() + begin,
                           from.bools.begin() + stop);
        break;
      case ValueType::kString:
        if (!tail_strings_) tail_strings_ = std::make_unique<std::vector<std::string>>();
        tail_strings_->insert(tail_strings_->end(), from.strings.begin() + begin,
                              from.strings.begin() + stop);
        for (size_t j = have; j < tail_strings_->size(); ++j) {
          tail_string_bytes_ += StringHeapBytes((*tail_strings_)[j]);
        }
        break;
      default:
        break;
    }
    const auto q_begin = from.qualities.begin() + begin, q_end = from.qualities.begin() + stop;
    if (!tail_qualities_ && std::any_of(q_begin, q_end, [](uint32_t q) { return q != 0; })) {
      tail_qualities_ = std::make_unique<std::vector<uint32_t>>(have, 0);
    }
    if (tail_qualities_) tail_qualities_->insert(tail_qualities_->end(), q_begin, q_end);
    begin = stop;
    if (tail_ts_.size() == kBlockSamples) CloseBlock();
  }
}

void HeadColumns::CountBlocks() {
  blocks_bytes_ =
      sizeof(Blocks) + blocks_->bytes.capacity() + blocks_->index.capacity() * sizeof(Block);
}

void HeadColumns::CloseBlock() {
  Version versions[kBlockSamples];
  const size_t n = tail_ts_.size();
  if (tail_wide_versions_) {
    std::copy(tail_wide_versions_->begin(), tail_wide_versions_->end(), versions);
  } else {
    for (size_t i = 0; i < n; ++i) versions[i] = tail_version_base_ + tail_version_offsets_[i];
  }
  const head_block::RawSamples raw{
      .type = type_,
      .n = n,
      .timestamps = tail_ts_.data(),
      .words = tail_words_.data(),
      .strings = tail_strings_ ? tail_strings_->data() : nullptr,
      .qualities = tail_qualities_ ? tail_qualities_->data() : nullptr,
      .versions = versions,
  };
  const std::string_view encoded = head_block::Encode(raw);
  if (!blocks_) blocks_ = std::make_unique<Blocks>();
  std::vector<uint8_t>& bytes = blocks_->bytes;
  const size_t need = bytes.size() + encoded.size();
  if (need > bytes.capacity()) {
    // Grow by a quarter, not the string's doubling: the slack is memory.
    bytes.reserve(std::max(need, bytes.capacity() + bytes.capacity() / 4 + 256));
  }
  blocks_->index.push_back({tail_ts_.front(), static_cast<uint32_t>(bytes.size())});
  bytes.insert(bytes.end(), encoded.begin(), encoded.end());  // fits: no regrowth
  CountBlocks();
  tail_ts_.clear();
  tail_words_.clear();
  if (tail_strings_) tail_strings_->clear();
  tail_string_bytes_ = 0;
  tail_qualities_.reset();
  tail_version_offsets_.clear();
  tail_wide_versions_.reset();
}

void HeadColumns::Append(const HeadColumns& from) {
  codec::ChunkColumns all;
  all.Reset(from.type());
  from.CopyAll(&all);
  Append(all, 0, all.size());
}

void HeadColumns::CopyTail(size_t begin, size_t end, codec::ChunkColumns* to) const {
  if (begin >= end) return;
  const size_t n = end - begin;
  to->timestamps.insert(to->timestamps.end(), tail_ts_.begin() + begin, tail_ts_.begin() + end);
  switch (type_) {
    case ValueType::kDouble: {
      const size_t at = to->doubles.size();
      to->doubles.resize(at + n);
      std::memcpy(to->doubles.data() + at, tail_words_.data() + begin, n * sizeof(double));
      break;
    }
    case ValueType::kInt64: {
      const size_t at = to->ints.size();
      to->ints.resize(at + n);
      std::memcpy(to->ints.data() + at, tail_words_.data() + begin, n * sizeof(int64_t));
      break;
    }
    case ValueType::kBool:
      for (size_t i = begin; i < end; ++i)
        to->bools.push_back(static_cast<uint8_t>(tail_words_[i]));
      break;
    case ValueType::kString:
      to->strings.insert(to->strings.end(), tail_strings_->begin() + begin,
                         tail_strings_->begin() + end);
      break;
    default:
      break;
  }
  if (tail_wide_versions_) {
    to->versions.insert(to->versions.end(), tail_wide_versions_->begin() + begin,
                        tail_wide_versions_->begin() + end);
  } else {
    for (size_t i = begin; i < end; ++i) {
      to->versions.push_back(tail_version_base_ + tail_version_offsets_[i]);
    }
  }
  if (!tail_qualities_) {
    to->qualities.insert(to->qualities.end(), n, 0);
  } else {
    to->qualities.insert(to->qualities.end(), tail_qualities_->begin() + begin,
                         tail_qualities_->begin() + end);
  }
}

void HeadColumns::CopyAll(codec::ChunkColumns* to) const {
  if (blocks_) {
    const uint8_t* p = blocks_->bytes.data();
    for (size_t b = 0; b < blocks_->index.size(); ++b) {
      p = head_block::Decode(type_, p, kBlockSamples, to);
    }
  }
  CopyTail(0, tail_ts_.size(), to);
}

bool HeadColumns::BlockBelow(size_t b, int64_t ts) const {
  if (b + 1 < blocks_->index.size()) return blocks_->index[b + 1].first_ts <= ts;
  if (!tail_ts_.empty()) return tail_ts_.front() <= ts;
  return last_ts_ < ts;
}

void HeadColumns::CopyRange(int64_t start, int64_t end, codec::ChunkColumns* to,
                            size_t max_samples) const {
  const size_t limit = max_samples == 0 ? SIZE_MAX : to->size() + max_samples;
  if (blocks_) {
    const std::vector<Block>& index = blocks_->index;
    // The first block that may hold `start`: the last one starting at or
    // before it (blocks are in timestamp order once normalised).
    size_t b = std::upper_bound(index.begin(), index.end(), start,
                                [](int64_t ts, const Block& k) { return ts < k.first_ts; }) -
               index.begin();
    if (b > 0) --b;
    const uint8_t* base = blocks_->bytes.data();
    for (; b < index.size() && index[b].first_ts < end && to->size() < limit; ++b) {
      const uint8_t* p = base + index[b].offset;
      if (index[b].first_ts >= start && BlockBelow(b, end)) {
        head_block::Decode(type_, p, kBlockSamples, to);  // wholly inside
        continue;
      }
      thread_local codec::ChunkColumns scratch;
      scratch.Reset(type_);
      head_block::Decode(type_, p, kBlockSamples, &scratch);
      AppendRange(scratch, start, end, to);
    }
  }
  if (to->size() < limit) {
    const size_t tb = std::lower_bound(tail_ts_.begin(), tail_ts_.end(), start) - tail_ts_.begin();
    size_t te = std::lower_bound(tail_ts_.begin(), tail_ts_.end(), end) - tail_ts_.begin();
    te = std::max(te, tb);  // start > end: nothing
    if (te - tb > limit - to->size()) te = tb + (limit - to->size());
    CopyTail(tb, te, to);
  }
  Truncate(limit, to);  // a block may go past the limit
}

void HeadColumns::Normalize() {
  if (increasing_) return;
  codec::ChunkColumns all;
  all.Reset(type_);
  CopyAll(&all);
  engine::Normalize(&all);
  *this = HeadColumns(type_);
  Append(all, 0, all.size());
}

size_t HeadColumns::HeapBytes() const {
  size_t bytes = tail_ts_.capacity() * sizeof(int64_t) + tail_words_.capacity() * sizeof(uint64_t) +
                 tail_version_offsets_.capacity() * sizeof(uint32_t);
  bytes += blocks_bytes_;  // counted, so no read of the Blocks behind blocks_
  if (tail_strings_) {
    bytes += sizeof(*tail_strings_) + tail_strings_->capacity() * sizeof(std::string) +
             tail_string_bytes_;
  }
  if (tail_qualities_) {
    bytes += sizeof(*tail_qualities_) + tail_qualities_->capacity() * sizeof(uint32_t);
  }
  if (tail_wide_versions_) {
    bytes += sizeof(*tail_wide_versions_) + tail_wide_versions_->capacity() * sizeof(Version);
  }
  return bytes;
}

}  // namespace historian::engine
