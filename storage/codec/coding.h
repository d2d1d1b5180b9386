// File: coding.h
// Byte-level primitives of the chunk format: little-endian fixed ints,
// LEB128 varints, zig-zag, and a bounds-checked reader. Every read checks the
// remaining length first, so a corrupt chunk is reported, never overrun.
#ifndef HISTORIAN_STORAGE_CODEC_CODING_H_
#define HISTORIAN_STORAGE_CODEC_CODING_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace historian::codec {

static_assert(std::endian::native == std::endian::little,
              "the chunk format is little-endian and so is every supported host");

inline uint64_t ZigZag(uint64_t v) {
  // Works on the two's complement bits, so wrapped differences round-trip.
  return (v << 1) ^ (0 - (v >> 63));
}
inline uint64_t UnZigZag(uint64_t z) { return (z >> 1) ^ (0 - (z & 1)); }

// Bits needed to hold v (0 for v == 0). Branch-free: zero is common in
// deltas and a branch on it mispredicts.
inline int BitWidth(uint64_t v) {
  return (63 ^ std::countl_zero(v | 1)) + static_cast<int>(v != 0);
}

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void Store64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, sizeof(v)); }

inline int VarintLength(uint64_t v) { return v < 128 ? 1 : (BitWidth(v) + 6) / 7; }

// Appends to a std::string it does not own.
class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  void PutByte(uint8_t b) { out_->push_back(static_cast<char>(b)); }
  void PutFixed32(uint32_t v) { PutBytes(&v, sizeof(v)); }
  void PutFixed64(uint64_t v) { PutBytes(&v, sizeof(v)); }
  void PutVarint(uint64_t v) {
    char buf[10];
    int n = 0;
    while (v >= 128) {
      buf[n++] = static_cast<char>(v | 128);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    out_->append(buf, n);
  }
  void PutBytes(const void* p, size_t n) { out_->append(static_cast<const char*>(p), n); }

  // Grows the output by n bytes (plus 8 bytes of zeroed slack so word-wide
  // stores past the end are safe) and returns where they start. Call
  // Trim(n) afterwards to drop the slack.
  uint8_t* Extend(size_t n) {
    size_t old = out_->size();
    out_->resize(old + n + 8);
    return reinterpret_cast<uint8_t*>(out_->data()) + old;
  }
  void TrimSlack() { out_->resize(out_->size() - 8); }

  std::string* buffer() { return out_; }
  size_t size() const { return out_->size(); }

 private:
  std::string* out_;
};

// Reads from a byte range it does not own. Each Get* returns false when the
// range is too short or the encoding is malformed; the reader is then stuck
// at an unspecified position and must be abandoned.
class ByteReader {
 public:
  ByteReader(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
  explicit ByteReader(std::string_view s)
      : ByteReader(reinterpret_cast<const uint8_t*>(s.data()), s.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* pos() const { return p_; }
  const uint8_t* end() const { return end_; }

  bool GetByte(uint8_t* v) {
    if (p_ == end_) return false;
    *v = *p_++;
    return true;
  }
  bool GetFixed64(uint64_t* v) {
    if (remaining() < 8) return false;
    *v = Load64(p_);
    p_ += 8;
    return true;
  }
  bool GetVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      uint64_t b = *p_++;
      // The tenth byte may carry only the top bit of a 64-bit value.
      if (shift == 63 && b > 1) return false;
      result |= (b & 127) << shift;
      if (b < 128) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  // Hands out the next n bytes without copying.
  bool GetBytes(size_t n, const uint8_t** p) {
    if (remaining() < n) return false;
    *p = p_;
    p_ += n;
    return true;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace historian::codec

#endif  // HISTORIAN_STORAGE_CODEC_CODING_H_
