// File: divisibility.h
// Whether a fixed divisor g divides a value, without a division (Granlund
// and Montgomery, "Division by invariant integers using multiplication",
// section 9): g = 2^k * m with m odd; d is a multiple of g exactly when its
// low k bits are zero and (d >> k) * m^-1 (mod 2^64) is at most
// (2^64 - 1) / m. The int column's common-divisor mode (int_codec.cc)
// checks each value of a column against the divisor found so far with it.
//
// Thread-safety: immutable after construction.
#ifndef HISTORIAN_STORAGE_CODEC_DIVISIBILITY_H_
#define HISTORIAN_STORAGE_CODEC_DIVISIBILITY_H_

#include <bit>
#include <cstdint>

namespace historian::codec {

class Divisibility {
 public:
  // REQUIRES: g >= 1.
  explicit Divisibility(uint64_t g)
      : shift_(std::countr_zero(g)),
        low_((uint64_t{1} << shift_) - 1),
        limit_(~uint64_t{0} / (g >> shift_)),
        inverse_(Inverse(g >> shift_)) {}

  // True when d is a multiple of g (0 included).
  bool Divides(uint64_t d) const { return (d & low_) == 0 && (d >> shift_) * inverse_ <= limit_; }

 private:
  // m^-1 modulo 2^64 for odd m: Newton's iteration, correct to 3 bits at
  // the start (m * m = 1 mod 8) and doubling each step (6, 12, 24, 48, 96).
  static uint64_t Inverse(uint64_t m) {
    uint64_t inv = m;
    for (int i = 0; i < 5; ++i) inv *= 2 - m * inv;
    return inv;
  }

  int shift_;  // 0..63
  uint64_t low_, limit_, inverse_;
};

}  // namespace historian::codec

#endif  // HISTORIAN_STORAGE_CODEC_DIVISIBILITY_H_
