// File: coding.h
// Varint and fixed-width little-endian encoding for the engine's own value
// formats (log entries, tag info). Decoders are bounds-checked: a Reader
// never reads past its input and reports failure instead.
#ifndef HISTORIAN_STORAGE_ENGINE_CODING_H_
#define HISTORIAN_STORAGE_ENGINE_CODING_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace historian::engine {

inline void PutVarint64(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
// Writes the varint of v at p (room for 10 bytes); returns the byte after it.
inline char* EncodeVarint64(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ (v >> 63); }
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}
inline void PutFixed64(uint64_t v, std::string* out) {
  char buf[8];
  std::memcpy(buf, &v, 8);  // little-endian hosts only (x86-64, arm64)
  out->append(buf, 8);
}
inline void PutString(std::string_view s, std::string* out) {
  PutVarint64(s.size(), out);
  out->append(s);
}

// Sequential bounds-checked reader. After any failed Get, ok() is false and
// every later Get fails too.
class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  bool ok() const { return ok_; }
  bool done() const { return p_ == end_; }
  bool GetVarint64(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63 && p_ < end_; shift += 7) {
      uint8_t byte = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) {
        *v = result;
        return true;
      }
    }
    return ok_ = false;
  }
  bool GetFixed64(uint64_t* v) {
    if (!ok_ || end_ - p_ < 8) return ok_ = false;
    std::memcpy(v, p_, 8);
    p_ += 8;
    return true;
  }
  bool GetByte(uint8_t* v) {
    if (!ok_ || p_ == end_) return ok_ = false;
    *v = static_cast<uint8_t>(*p_++);
    return true;
  }
  bool GetString(std::string_view* s) {
    uint64_t n;
    if (!GetVarint64(&n) || static_cast<uint64_t>(end_ - p_) < n) return ok_ = false;
    *s = std::string_view(p_, n);
    p_ += n;
    return true;
  }

 private:
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_CODING_H_
