// File: bit_stream.h
// LSB-first bit writer and bounds-checked bit reader, used by the XOR float
// encoding whose fields are not byte aligned.
#ifndef HISTORIAN_STORAGE_CODEC_BIT_STREAM_H_
#define HISTORIAN_STORAGE_CODEC_BIT_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "storage/codec/coding.h"

namespace historian::codec {

// Appends bits to a std::string it does not own. Call Finish() once.
class BitWriter {
 public:
  explicit BitWriter(std::string* out) : out_(out) {}

  // REQUIRES: 1 <= nbits <= 64 and v < 2^nbits.
  void Write(uint64_t v, int nbits) {
    acc_ |= v << fill_;
    if (fill_ + nbits >= 64) {
      char buf[8];
      Store64(reinterpret_cast<uint8_t*>(buf), acc_);
      out_->append(buf, 8);
      const int used = 64 - fill_;
      acc_ = used < 64 ? v >> used : 0;
      fill_ = fill_ + nbits - 64;
    } else {
      fill_ += nbits;
    }
  }

  // Flushes the partial last byte (zero padded).
  void Finish() {
    char buf[8];
    Store64(reinterpret_cast<uint8_t*>(buf), acc_);
    out_->append(buf, (fill_ + 7) / 8);
    acc_ = 0;
    fill_ = 0;
  }

 private:
  std::string* out_;
  uint64_t acc_ = 0;
  int fill_ = 0;  // bits used in acc_, always < 64
};

// Reads bits from a byte range it does not own; never reads outside it.
class BitReader {
 public:
  BitReader(const uint8_t* p, size_t n) : p_(p), n_(n), total_bits_(uint64_t{n} * 8) {}

  // Reads nbits (1..64) into *v; false when the range is exhausted.
  bool Read(int nbits, uint64_t* v) {
    if (static_cast<uint64_t>(nbits) > total_bits_ - pos_) return false;
    if (nbits <= 56) {
      *v = (Word(pos_ / 8) >> (pos_ % 8)) & ((uint64_t{1} << nbits) - 1);
    } else {
      uint64_t lo = (Word(pos_ / 8) >> (pos_ % 8)) & 0xFFFFFFFFu;
      uint64_t hi_pos = pos_ + 32;
      uint64_t hi = (Word(hi_pos / 8) >> (hi_pos % 8)) & ((uint64_t{1} << (nbits - 32)) - 1);
      *v = lo | (hi << 32);
    }
    pos_ += nbits;
    return true;
  }

  // Bytes touched so far, rounding the last partial byte up.
  size_t BytesConsumed() const { return static_cast<size_t>((pos_ + 7) / 8); }

 private:
  // 8 bytes starting at byte i, zero padded past the end.
  uint64_t Word(size_t i) const {
    if (i + 8 <= n_) return Load64(p_ + i);
    uint64_t w = 0;
    for (size_t k = 0; i + k < n_; ++k) w |= uint64_t{p_[i + k]} << (8 * k);
    return w;
  }

  const uint8_t* p_;
  size_t n_;
  uint64_t total_bits_;
  uint64_t pos_ = 0;
};

}  // namespace historian::codec

#endif  // HISTORIAN_STORAGE_CODEC_BIT_STREAM_H_
