// File: int_codec.cc
// Bit-packed blocks with patched exceptions (PFor), delta / delta-of-delta
// integer columns, and run-length small-alphabet sequences.
#include "storage/codec/int_codec.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "storage/codec/divisibility.h"
#include "storage/codec/huffman.h"

namespace historian::codec {
namespace {

// Packed sequence modes.
constexpr uint8_t kPackedAllZero = 0;
constexpr uint8_t kPackedBlocks = 1;
// Tokens and a canonical Huffman code (huffman.h).
constexpr uint8_t kPackedHuffman = 2;
// Mostly zeros: a varint count of non-zero values, then per non-zero value a
// varint gap (zeros since the previous one) and the varint value (issue 16:
// a chunk's write versions change at a few ingest batches).
constexpr uint8_t kPackedSparse = 3;
// The sparse form is tried only when at most n / kSparseRatio values are
// not zero (each costs at least two bytes; a zero block costs one).
constexpr size_t kSparseRatio = 16;
// Fewer values than this never try the entropy stage: its table would not pay.
constexpr size_t kMinHuffmanValues = 32;
// Block header: low 7 bits = width (0..64), top bit = exceptions follow.
constexpr uint8_t kBlockHasExceptions = 0x80;
// Exception count byte: low 7 bits = count - 1, top bit = every exception's
// bits above the width are exactly 1 (so no varints follow the positions).
constexpr uint8_t kExceptionsAllOne = 0x80;

// Int column modes.
constexpr uint8_t kIntDelta = 0;
constexpr uint8_t kIntDeltaOfDelta = 1;
// Residuals from a line x[0] + slope * i, minus a per-block reference.
constexpr uint8_t kIntFrameOfRef = 2;
// Deltas minus a per-block reference (counters with a jittery rate).
constexpr uint8_t kIntDeltaFrameOfRef = 3;
// Residuals from the mean of the previous 2^k values (noise around a slowly
// moving level: the deltas of noise are twice as wide as the noise).
constexpr uint8_t kIntMovingAverage = 4;
// log2 of the moving-average window the encoder uses, and the largest one a
// reader accepts.
constexpr uint8_t kMovingAverageLog2 = 4;
constexpr uint8_t kMaxMovingAverageLog2 = 8;
// Shorter columns do not try the moving average.
constexpr size_t kMinMovingAverageValues = 64;
// Every x[i] - x[0] is a multiple of g >= 2: an inner column (modes 0-4) of
// (x[i] - x[0]) / g. Decimal values whose last digit is always even (CPU
// percentages at 0.002 steps) or a multiple of 25.
constexpr uint8_t kIntGcd = 5;
// Few distinct values: an inner column (modes 0-4) of the D distinct values,
// most frequent first, and a packed sequence of indices. Series that flip
// between a few levels, which deltas code as large jumps.
constexpr uint8_t kIntDictionary = 6;
// The same over the deltas x[i] - x[i-1]: irregular clocks whose gaps are a
// few multiples of the sampling interval.
constexpr uint8_t kIntDeltaDictionary = 7;
// The dictionary is tried only with at most n / kDictionaryRatio distinct
// values (and at most kMaxDictionary).
constexpr size_t kDictionaryRatio = 4;
constexpr size_t kMaxDictionary = 4096;

// Small sequence modes.
constexpr uint8_t kSmallConstant = 0;
constexpr uint8_t kSmallRuns = 1;
constexpr uint8_t kSmallPacked = 2;

inline uint64_t LowMask(int b) { return b >= 64 ? ~uint64_t{0} : (uint64_t{1} << b) - 1; }

inline size_t PackedBytes(size_t len, int b) { return (len * static_cast<size_t>(b) + 7) / 8; }

// Picks the block width b minimising the block size when values wider than b
// are stored as exceptions (position byte + varint of the bits above b).
int ChooseWidth(const uint64_t* v, size_t len) {
  uint64_t any = 0;
  for (size_t i = 0; i < len; ++i) any |= v[i];
  const int wmax = BitWidth(any);
  if (wmax == 0) return 0;
  // Four interleaved histograms so increments of the same bin do not wait
  // on each other.
  uint8_t h4[4][65] = {};  // len <= 128 fits a byte
  size_t i = 0;
  for (; i + 4 <= len; i += 4) {
    ++h4[0][BitWidth(v[i])];
    ++h4[1][BitWidth(v[i + 1])];
    ++h4[2][BitWidth(v[i + 2])];
    ++h4[3][BitWidth(v[i + 3])];
  }
  for (; i < len; ++i) ++h4[0][BitWidth(v[i])];
  uint32_t hist[65];
  for (int w = 0; w <= wmax; ++w) hist[w] = h4[0][w] + h4[1][w] + h4[2][w] + h4[3][w];
  // Costs in 1/7 bits so the varint estimate (7 payload bits a byte, plus half
  // a byte of rounding) stays integral.
  const uint64_t l = len;
  uint64_t best_cost = 7 * l * wmax;
  int best = wmax;
  uint64_t exc = 0, exc_width_sum = 0;
  for (int b = wmax - 1; b >= 0; --b) {
    exc += hist[b + 1];
    exc_width_sum += uint64_t{hist[b + 1]} * (b + 1);
    uint64_t high_bits = exc_width_sum - exc * b;
    uint64_t cost = 7 * (l * b + 8 + exc * 12) + 8 * high_bits;
    if (cost < best_cost) {
      best_cost = cost;
      best = b;
    }
  }
  return best;
}

// Packs len values of width B (masked) LSB-first into dst, which has 8
// bytes of slack. Groups of 8 values fill exactly B bytes, so with B a
// constant the accumulator schedule inside a group is known at compile time.
template <int B>
void Pack(const uint64_t* v, size_t len, uint8_t* dst) {
  if constexpr (B > 0) {
    constexpr uint64_t kMask = B >= 64 ? ~uint64_t{0} : (uint64_t{1} << B) - 1;
    auto pack_run = [](const uint64_t* in, size_t count, uint8_t* out) {
      uint64_t acc = 0;
      int fill = 0;
      for (size_t k = 0; k < count; ++k) {
        const uint64_t x = in[k] & kMask;
        acc |= x << fill;
        fill += B;
        if (fill >= 64) {
          Store64(out, acc);
          out += 8;
          fill -= 64;
          acc = fill ? x >> (B - fill) : 0;
        }
      }
      if (fill > 0) Store64(out, acc);
    };
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
      // Written in order: each group's trailing store is overwritten by the
      // next group's first one.
      uint64_t acc = 0;
      int fill = 0;
      uint8_t* out = dst + (i / 8) * B;
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        const uint64_t x = v[i + k] & kMask;
        acc |= x << fill;
        fill += B;
        if (fill >= 64) {
          Store64(out, acc);
          out += 8;
          fill -= 64;
          acc = fill ? x >> (B - fill) : 0;
        }
      }
      if (fill > 0) Store64(out, acc);
    }
    if (i < len) pack_run(v + i, len - i, dst + (i / 8) * B);
  }
}

using PackFn = void (*)(const uint64_t*, size_t, uint8_t*);

template <size_t... I>
constexpr std::array<PackFn, sizeof...(I)> MakePackTable(std::index_sequence<I...>) {
  return {&Pack<static_cast<int>(I)>...};
}
constexpr auto kPack = MakePackTable(std::make_index_sequence<65>());

void PackBits(const uint64_t* v, size_t len, int b, ByteWriter* w) {
  uint8_t* dst = w->Extend(PackedBytes(len, b));
  kPack[b](v, len, dst);
  w->TrimSlack();
}

void WriteBlock(const uint64_t* v, size_t len, ByteWriter* w) {
  const int b = ChooseWidth(v, len);
  uint32_t num_exc = 0;
  if (b < 64) {
    for (size_t i = 0; i < len; ++i) num_exc += (v[i] >> b) != 0;
  }
  bool all_one = true;  // every exception's high part is 1: no varints
  if (num_exc) {
    for (size_t i = 0; i < len; ++i) all_one &= (v[i] >> b) <= 1;
  }
  w->PutByte(static_cast<uint8_t>(b | (num_exc ? kBlockHasExceptions : 0)));
  if (num_exc) {
    w->PutByte(static_cast<uint8_t>((num_exc - 1) | (all_one ? kExceptionsAllOne : 0)));
  }
  if (b > 0) PackBits(v, len, b, w);
  if (num_exc) {
    for (size_t i = 0; i < len; ++i) {
      if ((v[i] >> b) == 0) continue;
      w->PutByte(static_cast<uint8_t>(i));
      if (!all_one) w->PutVarint(v[i] >> b);
    }
  }
}

// Unpacks len values of width B from `in`, which must have 9 readable bytes
// past the packed data. Groups of 8 values span exactly B bytes, so inside a
// group every offset is a compile-time constant.
template <int B>
void Unpack(const uint8_t* in, size_t len, uint64_t* out) {
  if constexpr (B == 0) {
    std::fill(out, out + len, 0);
  } else {
    constexpr uint64_t kMask = B >= 64 ? ~uint64_t{0} : (uint64_t{1} << B) - 1;
    auto get = [&](const uint8_t* p, size_t bit) -> uint64_t {
      const uint8_t* q = p + bit / 8;
      const int sh = static_cast<int>(bit % 8);
      uint64_t word = Load64(q) >> sh;
      if constexpr (B > 56) {
        if (sh) word |= uint64_t{q[8]} << (64 - sh);
      }
      return word & kMask;
    };
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
      const uint8_t* p = in + (i / 8) * B;
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) out[i + k] = get(p, static_cast<size_t>(k) * B);
    }
    for (; i < len; ++i) out[i] = get(in, i * B);
  }
}

using UnpackFn = void (*)(const uint8_t*, size_t, uint64_t*);

template <size_t... I>
constexpr std::array<UnpackFn, sizeof...(I)> MakeUnpackTable(std::index_sequence<I...>) {
  return {&Unpack<static_cast<int>(I)>...};
}
constexpr auto kUnpack = MakeUnpackTable(std::make_index_sequence<65>());

bool ReadBlock(ByteReader* r, size_t len, uint64_t* out) {
  uint8_t h;
  if (!r->GetByte(&h)) return false;
  const int b = h & ~kBlockHasExceptions;
  if (b > 64) return false;
  uint32_t num_exc = 0;
  bool all_one = false;
  if (h & kBlockHasExceptions) {
    uint8_t c;
    if (!r->GetByte(&c)) return false;
    all_one = (c & kExceptionsAllOne) != 0;
    num_exc = static_cast<uint32_t>(c & ~kExceptionsAllOne) + 1;
    if (num_exc > len || b == 64) return false;
  }
  const size_t bytes = PackedBytes(len, b);
  const uint8_t* packed;
  if (!r->GetBytes(bytes, &packed)) return false;
  if (r->remaining() >= 9) {
    kUnpack[b](packed, len, out);
  } else {
    // Near the end of the input: unpack from a padded copy.
    uint8_t buf[kBlockSize * 8 + 16] = {};
    std::memcpy(buf, packed, bytes);
    kUnpack[b](buf, len, out);
  }
  for (uint32_t e = 0; e < num_exc; ++e) {
    uint8_t pos;
    uint64_t high = 1;
    if (!r->GetByte(&pos) || (!all_one && !r->GetVarint(&high))) return false;
    if (pos >= len) return false;
    out[pos] |= high << b;
  }
  return true;
}

}  // namespace

namespace {

// Bytes of the sparse form (mode byte included) of n values, nz not zero.
size_t SparseSize(const uint64_t* v, size_t n, size_t nz) {
  size_t size = 1 + VarintLength(nz), next = 0;
  for (size_t i = 0; i < n; ++i) {
    if (v[i] == 0) continue;
    size += VarintLength(i - next) + VarintLength(v[i]);
    next = i + 1;
  }
  return size;
}

void WriteSparse(const uint64_t* v, size_t n, size_t nz, ByteWriter* w) {
  w->PutByte(kPackedSparse);
  w->PutVarint(nz);
  size_t next = 0;
  for (size_t i = 0; i < n; ++i) {
    if (v[i] == 0) continue;
    w->PutVarint(i - next);
    w->PutVarint(v[i]);
    next = i + 1;
  }
}

// Rejects a count of 0 (that is mode 0) or above n, a gap past the end and a
// zero value, so each sequence has one sparse form.
bool ReadSparse(ByteReader* r, size_t n, uint64_t* out) {
  uint64_t count;
  if (!r->GetVarint(&count) || count == 0 || count > n) return false;
  std::fill(out, out + n, 0);
  size_t next = 0;
  for (uint64_t k = 0; k < count; ++k) {
    uint64_t gap, value;
    if (!r->GetVarint(&gap) || !r->GetVarint(&value)) return false;
    if (next >= n || gap >= n - next || value == 0) return false;
    out[next + gap] = value;
    next += gap + 1;
  }
  return true;
}

}  // namespace

void WritePacked(const uint64_t* v, size_t n, ByteWriter* w) {
  uint64_t any = 0;
  size_t nz = 0;
  for (size_t i = 0; i < n; ++i) {
    any |= v[i];
    nz += v[i] != 0;
  }
  if (any == 0) {
    w->PutByte(kPackedAllZero);
    return;
  }
  const size_t start = w->size();
  w->PutByte(kPackedBlocks);
  for (size_t i = 0; i < n; i += kBlockSize) WriteBlock(v + i, std::min(kBlockSize, n - i), w);
  if (n >= kMinHuffmanValues) {
    // The entropy stage replaces the blocks only when it is smaller: written
    // after them, then moved down over them.
    const size_t blocks_size = w->size() - start;
    w->PutByte(kPackedHuffman);
    if (WriteHuffmanIfSmaller(v, n, blocks_size - 1, w)) {
      w->buffer()->erase(start, blocks_size);
    } else {
      w->buffer()->resize(start + blocks_size);
    }
  }
  // The sparse form replaces either only when it is smaller.
  if (nz * kSparseRatio <= n && SparseSize(v, n, nz) < w->size() - start) {
    w->buffer()->resize(start);
    WriteSparse(v, n, nz, w);
  }
}

bool ReadPacked(ByteReader* r, size_t n, uint64_t* out) {
  uint8_t mode;
  if (!r->GetByte(&mode)) return false;
  if (mode == kPackedAllZero) {
    std::fill(out, out + n, 0);
    return true;
  }
  if (mode == kPackedHuffman) return ReadHuffman(r, n, out);
  if (mode == kPackedSparse) return ReadSparse(r, n, out);
  if (mode != kPackedBlocks) return false;
  for (size_t i = 0; i < n; i += kBlockSize) {
    if (!ReadBlock(r, std::min(kBlockSize, n - i), out + i)) return false;
  }
  return true;
}

namespace {

// Which modes a column may use: the block references of the FOR modes take
// only the delta modes, the inner columns of the GCD and dictionary modes
// modes 0-4, a top-level column every mode (so the recursion is bounded).
enum class Level { kRefs, kInner, kTop };

bool ReadIntColumnImpl(ByteReader* r, size_t n, Level level, uint64_t* out);

// Estimated bits of a block of len values of at most w bits, nz of them not
// zero: packed, or (when sparse) zero width with nz patched exceptions.
inline uint64_t BlockCost(uint64_t len, int w, uint64_t nz) {
  return std::min(len * w, 8 + nz * (16 + w));
}

// Frame of reference: y[i] minus the line y0 + slope * i, minus the minimum
// of each block. `refs` holds the block minimums of y - line.
void WriteForBody(uint64_t* resid, size_t n, int64_t slope, const uint64_t* refs, ByteWriter* w);

// Writes a column; without `allow_for` only the delta modes (used for the
// block references of the FOR modes, which bounds the recursion).
void WriteIntColumnImpl(const uint64_t* x, size_t n, bool allow_for, ByteWriter* w) {
  w->PutByte(0);  // placeholder for the mode byte, patched below
  const size_t mode_at = w->size() - 1;
  // Constant steps (regular clocks, constant values, steady counters): all
  // delta-of-deltas are zero.
  if (n > 2) {
    const uint64_t d0 = x[1] - x[0];
    uint64_t diff = 0;
    for (size_t i = 2; i < n; ++i) diff |= (x[i] - x[i - 1]) ^ d0;
    if (diff == 0) {
      (*w->buffer())[mode_at] = static_cast<char>(d0 == 0 ? kIntDelta : kIntDeltaOfDelta);
      w->PutVarint(ZigZag(x[0]));
      if (d0 != 0) w->PutVarint(ZigZag(d0));
      w->PutByte(kPackedAllZero);
      return;
    }
  }
  // One pass computes the delta, delta-of-delta and linear residual streams
  // and, per block, the bit width each mode would need.
  auto delta = std::make_unique_for_overwrite<uint64_t[]>(n);
  auto dod = std::make_unique_for_overwrite<uint64_t[]>(n);
  auto resid = std::make_unique_for_overwrite<uint64_t[]>(n);
  int64_t slope = 0;
  if (n > 2) {
    // Rounded, so a clock ticking 1000 +- jitter gets slope 1000.
    const int64_t span = static_cast<int64_t>(x[n - 1] - x[0]), steps = static_cast<int64_t>(n - 1);
    slope = span / steps;
    const int64_t rem = span % steps;
    if (rem > steps / 2) ++slope;
    if (rem < -(steps / 2)) --slope;
  }
  const size_t num_blocks = (n + kBlockSize - 1) / kBlockSize;
  auto refs = std::make_unique_for_overwrite<uint64_t[]>(num_blocks);
  uint64_t cost_delta = 0, cost_dod = 0, cost_for = 0, cost_dfor = 0;
  uint64_t prev_d = 0, line = x[0];
  for (size_t b = 0; b < num_blocks; ++b) {
    const size_t lo = b * kBlockSize, hi = std::min(n, lo + kBlockSize);
    uint64_t or_d = 0, or_dd = 0, nz_d = 0, nz_dd = 0;
    int64_t ymin = std::numeric_limits<int64_t>::max(), ymax = std::numeric_limits<int64_t>::min();
    int64_t dmin = ymin, dmax = ymax;
    for (size_t i = lo; i < hi; ++i) {
      const uint64_t d = i ? x[i] - x[i - 1] : 0;
      const uint64_t zd = ZigZag(d), zdd = ZigZag(d - prev_d);
      prev_d = d;
      delta[i] = zd;
      dod[i] = zdd;
      or_d |= zd;
      nz_d += zd != 0;
      if (i >= 2) {  // dod[0..1] are not stored
        or_dd |= zdd;
        nz_dd += zdd != 0;
      }
      if (i >= 1) {
        dmin = std::min(dmin, static_cast<int64_t>(d));
        dmax = std::max(dmax, static_cast<int64_t>(d));
      }
      const int64_t y = static_cast<int64_t>(x[i] - line);
      line += static_cast<uint64_t>(slope);
      resid[i] = static_cast<uint64_t>(y);
      ymin = std::min(ymin, y);
      ymax = std::max(ymax, y);
    }
    refs[b] = static_cast<uint64_t>(ymin);
    const uint64_t len = hi - lo;
    cost_delta += BlockCost(len, BitWidth(or_d), nz_d);
    cost_dod += BlockCost(len, BitWidth(or_dd), nz_dd);
    if (dmin <= dmax) {
      cost_dfor += len * BitWidth(static_cast<uint64_t>(dmax) - static_cast<uint64_t>(dmin)) + 16;
    }
    const int w_for = BitWidth(static_cast<uint64_t>(ymax) - static_cast<uint64_t>(ymin));
    uint64_t nz_for = len;
    if (allow_for && w_for > 0 && w_for < 8) {
      // Mostly at the block minimum (a flag that is rarely raised)?
      nz_for = 0;
      for (size_t i = lo; i < hi; ++i) nz_for += resid[i] != refs[b];
    }
    cost_for += BlockCost(len, w_for, nz_for) + 16;
  }
  // Fixed overheads in bits: dod stores the first delta, FOR the slope.
  cost_dod += n > 1 ? 8 + BitWidth(delta[1]) : 0;
  cost_for += 16;
  cost_dfor += 16;
  uint8_t mode = kIntDelta;
  uint64_t best = cost_delta;
  if (n > 2) {
    auto consider = [&](uint8_t m, uint64_t cost) {
      if (cost < best) {
        best = cost;
        mode = m;
      }
    };
    consider(kIntDeltaOfDelta, cost_dod);
    if (allow_for) {
      consider(kIntFrameOfRef, cost_for);
      consider(kIntDeltaFrameOfRef, cost_dfor);
    }
  }

  (*w->buffer())[mode_at] = static_cast<char>(mode);
  w->PutVarint(ZigZag(x[0]));
  if (n == 1) return;
  switch (mode) {
    case kIntDelta:
      WritePacked(delta.get() + 1, n - 1, w);
      break;
    case kIntDeltaOfDelta:
      w->PutVarint(delta[1]);
      WritePacked(dod.get() + 2, n - 2, w);
      break;
    case kIntFrameOfRef:
      WriteForBody(resid.get(), n, slope, refs.get(), w);
      break;
    default: {
      // The raw deltas, framed per block of the delta sequence.
      const size_t m = n - 1, mb = (m + kBlockSize - 1) / kBlockSize;
      for (size_t i = 0; i < m; ++i) resid[i] = x[i + 1] - x[i];
      for (size_t b = 0; b < mb; ++b) {
        int64_t lo = std::numeric_limits<int64_t>::max();
        for (size_t i = b * kBlockSize; i < std::min(m, (b + 1) * kBlockSize); ++i) {
          lo = std::min(lo, static_cast<int64_t>(resid[i]));
        }
        refs[b] = static_cast<uint64_t>(lo);
      }
      WriteForBody(resid.get(), m, 0, refs.get(), w);
      break;
    }
  }
}

void WriteForBody(uint64_t* resid, size_t n, int64_t slope, const uint64_t* refs, ByteWriter* w) {
  const size_t num_blocks = (n + kBlockSize - 1) / kBlockSize;
  w->PutVarint(ZigZag(static_cast<uint64_t>(slope)));
  WriteIntColumnImpl(refs, num_blocks, /*allow_for=*/false, w);
  for (size_t i = 0; i < n; ++i) resid[i] -= refs[i / kBlockSize];
  WritePacked(resid, n, w);
}

// Reads what WriteForBody wrote; out[i] = y0 + slope * i + ref + residual.
bool ReadForBody(ByteReader* r, size_t n, uint64_t y0, uint64_t* out) {
  uint64_t slope;
  if (!r->GetVarint(&slope)) return false;
  slope = UnZigZag(slope);
  const size_t num_blocks = (n + kBlockSize - 1) / kBlockSize;
  uint64_t small[8];
  std::unique_ptr<uint64_t[]> big;
  uint64_t* refs = small;
  if (num_blocks > 8) {
    big = std::make_unique_for_overwrite<uint64_t[]>(num_blocks);
    refs = big.get();
  }
  if (!ReadIntColumnImpl(r, num_blocks, Level::kRefs, refs)) return false;
  if (!ReadPacked(r, n, out)) return false;
  uint64_t line = y0;
  for (size_t b = 0; b < num_blocks; ++b) {
    const size_t lo = b * kBlockSize, hi = std::min(n, lo + kBlockSize);
    const uint64_t ref = refs[b];
    for (size_t i = lo; i < hi; ++i) {
      out[i] += ref + line;
      line += slope;
    }
  }
  return true;
}

// Residuals from the moving average: x[i] - x[i-1] for i < 2^k, then
// x[i] - ((sum of x[i-2^k .. i-1] + 2^(k-1)) >> k) (arithmetic shift, sums
// modulo 2^64), zig-zagged, into resid[1..n).
void MovingAverageResiduals(const uint64_t* x, size_t n, int k, uint64_t* resid) {
  const size_t window = size_t{1} << k;
  const uint64_t half = uint64_t{1} << (k - 1);
  uint64_t sum = x[0];
  for (size_t i = 1; i < n; ++i) {
    if (i < window) {
      resid[i] = ZigZag(x[i] - x[i - 1]);
      sum += x[i];
      continue;
    }
    const uint64_t pred = static_cast<uint64_t>(static_cast<int64_t>(sum + half) >> k);
    resid[i] = ZigZag(x[i] - pred);
    sum += x[i] - x[i - window];
  }
}

// Reads the body after the first value (in out[0]).
bool ReadMovingAverage(ByteReader* r, size_t n, uint64_t* out) {
  uint8_t k;
  if (!r->GetByte(&k) || k < 1 || k > kMaxMovingAverageLog2) return false;
  if (!ReadPacked(r, n - 1, out + 1)) return false;
  const size_t window = size_t{1} << k;
  const uint64_t half = uint64_t{1} << (k - 1);
  const size_t warm = std::min(n, window);
  uint64_t acc = out[0], sum = out[0];
  for (size_t i = 1; i < warm; ++i) {
    acc += UnZigZag(out[i]);
    out[i] = acc;
    sum += acc;
  }
  // Keeps sum + half, so the loop-carried chain is one shift and one add.
  uint64_t sum_h = sum + half;
  for (size_t i = warm; i < n; ++i) {
    const uint64_t pred = static_cast<uint64_t>(static_cast<int64_t>(sum_h) >> k);
    const uint64_t r = UnZigZag(out[i]);
    sum_h += pred + (r - out[i - window]);
    out[i] = pred + r;
  }
  return true;
}

bool ReadGcd(ByteReader* r, size_t n, uint64_t x0, uint64_t* out) {
  uint64_t g;
  if (!r->GetVarint(&g) || g < 2) return false;
  if (!ReadIntColumnImpl(r, n, Level::kInner, out) || out[0] != 0) return false;
  for (size_t i = 0; i < n; ++i) out[i] = x0 + out[i] * g;
  return true;
}

// Modes 6 and 7: out[1..n) from the dictionary (of values or of deltas).
bool ReadDictionary(ByteReader* r, size_t n, bool deltas, uint64_t* out) {
  uint64_t d;
  if (!r->GetVarint(&d) || d < 1 || d > n - 1) return false;
  auto dict = std::make_unique_for_overwrite<uint64_t[]>(d);
  if (!ReadIntColumnImpl(r, d, Level::kInner, dict.get())) return false;
  if (!ReadPacked(r, n - 1, out + 1)) return false;
  uint64_t bad = 0;
  for (size_t i = 1; i < n; ++i) {
    const uint64_t k = out[i];
    bad |= k >= d;
    out[i] = dict[k < d ? k : 0];
  }
  if (deltas) {
    for (size_t i = 1; i < n; ++i) out[i] += out[i - 1];
  }
  return bad == 0;
}

bool ReadIntColumnImpl(ByteReader* r, size_t n, Level level, uint64_t* out) {
  uint8_t mode;
  uint64_t first;
  if (!r->GetByte(&mode) || !r->GetVarint(&first)) return false;
  const uint8_t max_mode = level == Level::kRefs    ? kIntDeltaOfDelta
                           : level == Level::kInner ? kIntMovingAverage
                                                    : kIntDeltaDictionary;
  if (mode > max_mode) return false;
  uint64_t acc = UnZigZag(first);
  out[0] = acc;
  if (n == 1) return true;
  switch (mode) {
    case kIntDelta:
      if (!ReadPacked(r, n - 1, out + 1)) return false;
      for (size_t i = 1; i < n; ++i) {
        acc += UnZigZag(out[i]);
        out[i] = acc;
      }
      return true;
    case kIntDeltaOfDelta: {
      uint64_t d;
      if (!r->GetVarint(&d)) return false;
      d = UnZigZag(d);
      acc += d;
      out[1] = acc;
      if (n == 2) return true;
      // Constant steps (regular clocks, steady counters): an arithmetic
      // progression, without the zeros.
      if (r->remaining() > 0 && *r->pos() == kPackedAllZero) {
        uint8_t all_zero;
        r->GetByte(&all_zero);
        for (size_t i = 2; i < n; ++i) out[i] = out[0] + d * i;
        return true;
      }
      if (!ReadPacked(r, n - 2, out + 2)) return false;
      for (size_t i = 2; i < n; ++i) {
        d += UnZigZag(out[i]);
        acc += d;
        out[i] = acc;
      }
      return true;
    }
    case kIntFrameOfRef:
      // x[0] is stored twice (first value and residual); they must agree.
      return ReadForBody(r, n, acc, out) && out[0] == acc;
    case kIntMovingAverage:
      return ReadMovingAverage(r, n, out);
    case kIntGcd:
      return ReadGcd(r, n, acc, out);
    case kIntDictionary:
      return ReadDictionary(r, n, /*deltas=*/false, out);
    case kIntDeltaDictionary:
      return ReadDictionary(r, n, /*deltas=*/true, out);
    default:
      if (!ReadForBody(r, n - 1, 0, out + 1)) return false;
      for (size_t i = 1; i < n; ++i) {
        acc += out[i];
        out[i] = acc;
      }
      return true;
  }
}

}  // namespace

namespace {

// Modes 0-4: the block modes by estimate, then the moving average through
// the entropy stage when it is smaller.
void WriteIntColumnBasic(const uint64_t* x, size_t n, ByteWriter* w) {
  const size_t start = w->size();
  WriteIntColumnImpl(x, n, /*allow_for=*/true, w);
  const size_t size = w->size() - start;
  // Steady or sparse columns (under a bit a value) are not noise around a
  // level; the entropy stage takes at least a bit a value anyway.
  if (n < kMinMovingAverageValues || size <= 16 + n / 8) return;
  auto resid = std::make_unique_for_overwrite<uint64_t[]>(n);
  MovingAverageResiduals(x, n, kMovingAverageLog2, resid.get());
  // The moving average pays through the entropy stage (its residuals are
  // about as wide as the deltas', only more concentrated), so its block form
  // is not tried; WriteHuffmanIfSmaller gives up before writing when it
  // cannot beat `size`.
  // Written after the column, then moved down over it when smaller.
  const size_t alt_start = w->size();
  w->PutByte(kIntMovingAverage);
  w->PutVarint(ZigZag(x[0]));
  w->PutByte(kMovingAverageLog2);
  w->PutByte(kPackedHuffman);
  const size_t head = w->size() - alt_start;
  if (head < size && WriteHuffmanIfSmaller(resid.get() + 1, n - 1, size - head, w)) {
    w->buffer()->erase(start, size);
  } else {
    w->buffer()->resize(alt_start);
  }
}

// |x| of a two's complement value, as unsigned (no overflow at INT64_MIN).
inline uint64_t UnsignedAbs(uint64_t x) {
  return static_cast<int64_t>(x) < 0 ? uint64_t{0} - x : x;
}

// The GCD of every x[i] - x[0] (as signed values), or 0 or 1 when there is
// none worth using; stops at the first value that makes it 1. A value that
// g divides leaves it as it is (gcd(g, d) = g), which Divisibility tells
// without a division: columns that take the mode cost a multiply a value.
uint64_t ColumnGcd(const uint64_t* x, size_t n) {
  uint64_t g = 0;
  size_t i = 1;
  for (; i < n && g == 0; ++i) g = UnsignedAbs(x[i] - x[0]);
  while (i < n && g != 1) {
    const Divisibility div(g);
    for (; i < n && div.Divides(UnsignedAbs(x[i] - x[0])); ++i) {
    }
    if (i < n) g = std::gcd(g, UnsignedAbs(x[i++] - x[0]));
  }
  // Above 2^62 the signed quotients could overflow; such columns do not
  // need the mode.
  return g > (uint64_t{1} << 62) ? 0 : g;
}

// Writes mode 5 (GCD) into `alt`.
void WriteGcdColumn(const uint64_t* x, size_t n, uint64_t g, ByteWriter* aw) {
  auto q = std::make_unique_for_overwrite<uint64_t[]>(n);
  const int64_t sg = static_cast<int64_t>(g);
  for (size_t i = 0; i < n; ++i)
    q[i] = static_cast<uint64_t>(static_cast<int64_t>(x[i] - x[0]) / sg);
  aw->PutByte(kIntGcd);
  aw->PutVarint(ZigZag(x[0]));
  aw->PutVarint(g);
  WriteIntColumnBasic(q.get(), n, aw);
}

// c * log2(c), from a table for the counts of a chunk.
double CLog2C(size_t c) {
  constexpr size_t kTable = 4096;
  static const std::vector<float> table = [] {
    std::vector<float> t(kTable + 1, 0);
    for (size_t i = 2; i <= kTable; ++i) {
      t[i] = static_cast<float>(static_cast<double>(i) * std::log2(static_cast<double>(i)));
    }
    return t;
  }();
  const double d = static_cast<double>(c);
  return c <= kTable ? table[c] : d * std::log2(d);
}

// The dictionary modes look at this many values first.
constexpr size_t kSampleValues = 128;

// The counts of a column's first values (at most kSampleValues), in
// first-use order, for the dictionary modes' first estimate. Most columns
// stop there, so the table is kept per thread and stamped per use instead
// of cleared (a column costs its insertions only).
//
// Thread-safety: one per thread (thread_local), used by one call at a time.
class SampleCounts {
 public:
  // Counts v[0..n), n <= kSampleValues; false when more than `limit` of
  // them are distinct.
  bool Count(const uint64_t* v, size_t n, size_t limit) {
    if (++stamp_ == 0) {  // wrapped: every slot may look used
      std::fill(std::begin(stamps_), std::end(stamps_), 0);
      stamp_ = 1;
    }
    used_ = 0;
    for (size_t i = 0; i < n; ++i) {
      size_t h = static_cast<size_t>((v[i] * 0x9E3779B97F4A7C15ull) >> 20) & (kCap - 1);
      while (stamps_[h] == stamp_ && values_[h] != v[i]) h = (h + 1) & (kCap - 1);
      if (stamps_[h] != stamp_) {
        if (used_ == limit) return false;
        stamps_[h] = stamp_;
        values_[h] = v[i];
        counts_[h] = 0;
        order_[used_++] = static_cast<uint16_t>(h);
      }
      ++counts_[h];
    }
    return true;
  }
  // total * log2(total) - the sum of c * log2(c) over the counts, summed in
  // first-use order (as WriteDictionaryColumn sums the whole column's).
  double IndexBits(size_t total, double (*clog2c)(size_t)) const {
    double bits = clog2c(total);
    for (size_t k = 0; k < used_; ++k) bits -= clog2c(counts_[order_[k]]);
    return bits;
  }

 private:
  static constexpr size_t kCap = 2 * kSampleValues;  // at most half full
  uint32_t stamp_ = 0;
  size_t used_ = 0;
  uint32_t stamps_[kCap] = {};
  uint64_t values_[kCap];
  uint32_t counts_[kCap];
  uint16_t order_[kSampleValues];
};

// The hash table of a column's distinct values for the dictionary modes
// (open addressing, power-of-two capacity), kept per thread and stamped per
// use, as SampleCounts is: a slot is taken when its stamp is this use's, so
// a column does not clear the table. At most 16,384 slots (4,096 distinct
// values), 384 KiB.
//
// Thread-safety: one per thread; WriteDictionaryColumn uses it until it
// has the indices (nothing it calls meanwhile writes a dictionary column).
struct DictionaryTable {
  struct Slot {
    uint64_t value;
    uint32_t count;
    uint32_t index;  // in the dictionary, once sorted
    uint32_t stamp;
  };
  std::vector<Slot> slots;
  uint32_t stamp = 0;
};

DictionaryTable& ThreadDictionaryTable() {
  thread_local DictionaryTable table;
  return table;
}

// Writes mode 6 or 7 (`mode`; `x` = the values after the first or the
// deltas, n of them) into `aw` when `x` has at most `limit` distinct values
// and the estimate says the result may be under `budget` bytes; returns
// false (writing nothing) otherwise. `sample` holds x[0..min(n,
// kSampleValues)), the values the first estimate looks at; `x` is read
// only after it passes (and may be computed by `make_x` only then).
template <typename MakeX>
bool WriteDictionaryColumn(uint8_t mode, uint64_t x0, const uint64_t* sample, MakeX make_x,
                           size_t n, size_t limit, size_t budget, ByteWriter* aw) {
  // Open addressing over a power-of-two table at most half full; gives up
  // as soon as there are more than `limit` distinct values, so noise costs
  // about `limit` insertions. The first kSampleValues are counted in the
  // thread's SampleCounts (most columns stop after them), the whole column
  // in the thread's DictionaryTable, at most half full for `limit` values.
  using Slot = DictionaryTable::Slot;
  DictionaryTable& shared = ThreadDictionaryTable();
  const uint64_t* x = nullptr;  // the whole column, once the sample passes
  size_t cap = 0;
  Slot* table = nullptr;
  uint32_t stamp = 0;
  std::vector<uint32_t> used;  // slot numbers in first-use order
  auto reset = [&](size_t distinct) {
    cap = 16;
    while (cap < 2 * (distinct + 1)) cap *= 2;
    if (shared.slots.size() < cap) shared.slots.resize(cap, Slot{0, 0, 0, 0});
    if (++shared.stamp == 0) {  // wrapped: every slot may look taken
      for (Slot& slot : shared.slots) slot.stamp = 0;
      shared.stamp = 1;
    }
    stamp = shared.stamp;
    table = shared.slots.data();
    used.clear();
    used.reserve(distinct + 1);
  };
  auto find = [&](uint64_t v) {
    size_t h = static_cast<size_t>((v * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
    while (table[h].stamp == stamp && table[h].value != v) h = (h + 1) & (cap - 1);
    return h;
  };
  // sum of c * log2(total / c) = total * log2(total) - sum of c * log2(c).
  auto index_bits = [&](size_t total) {
    double bits = CLog2C(total);
    for (const uint32_t h : used) bits -= CLog2C(table[h].count);
    return bits;
  };
  auto count = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      const size_t h = find(x[i]);
      if (table[h].stamp != stamp) {
        if (used.size() == limit) return false;
        table[h] = Slot{x[i], 0, 0, stamp};
        used.push_back(static_cast<uint32_t>(h));
      }
      ++table[h].count;
    }
    return true;
  };
  // The first kSampleValues first: their order-0 entropy (which can only
  // understate the whole column's) already rules out most columns where the
  // mode loses (noise around a level, counters with a small jitter).
  const size_t num_sample = std::min(n, kSampleValues);
  thread_local SampleCounts sample_counts;
  if (!sample_counts.Count(sample, num_sample, limit)) return false;
  if (sample_counts.IndexBits(num_sample, &CLog2C) / static_cast<double>(num_sample) *
          static_cast<double>(n) / 8 >=
      budget) {
    return false;
  }
  // The same counts again in a table for the whole column (first-use order
  // and counts do not depend on the table).
  x = make_x();
  reset(limit);
  if (!count(0, n)) return false;
  // Estimate before encoding (the encoder's time goes to columns where the
  // mode loses): the order-0 entropy of the indices, plus half the bit width
  // of the value range per entry (entries in frequency order, delta coded).
  // Noise around a level and counters with a small jitter stop here.
  uint64_t lo = ~uint64_t{0}, hi = 0;
  for (const uint32_t h : used) {
    lo = std::min(lo, table[h].value);
    hi = std::max(hi, table[h].value);
  }
  const double entry_bits = 0.5 * BitWidth(hi - lo);
  if ((index_bits(n) + entry_bits * static_cast<double>(used.size())) / 8 >= budget) return false;
  // Most frequent first, so frequent values get small indices (tokens below
  // 16 are exact in the entropy stage).
  std::stable_sort(used.begin(), used.end(),
                   [&](uint32_t a, uint32_t b) { return table[a].count > table[b].count; });
  const size_t d = used.size();
  std::vector<uint64_t> dict(d);
  for (size_t k = 0; k < d; ++k) {
    dict[k] = table[used[k]].value;
    table[used[k]].index = static_cast<uint32_t>(k);
  }
  auto idx = std::make_unique_for_overwrite<uint64_t[]>(n);
  for (size_t i = 0; i < n; ++i) idx[i] = table[find(x[i])].index;
  aw->PutByte(mode);
  aw->PutVarint(ZigZag(x0));
  aw->PutVarint(d);
  WriteIntColumnBasic(dict.data(), d, aw);
  WritePacked(idx.get(), n, aw);
  return true;
}

}  // namespace

void WriteIntColumn(const uint64_t* x, size_t n, ByteWriter* w) {
  const size_t start = w->size();
  WriteIntColumnBasic(x, n, w);
  // The same gate as the moving average: steady or sparse columns have
  // nothing for these modes to win.
  if (n < kMinMovingAverageValues || w->size() - start <= 16 + n / 8) return;
  // Each alternative is written after the column so far (from alt_start)
  // and moved down over it when smaller, else dropped.
  auto keep_if_smaller = [&](size_t alt_start) {
    const size_t size = alt_start - start;
    if (w->size() - alt_start < size) {
      w->buffer()->erase(start, size);
    } else {
      w->buffer()->resize(alt_start);
    }
  };
  if (const uint64_t g = ColumnGcd(x, n); g >= 2) {
    const size_t alt_start = w->size();
    WriteGcdColumn(x, n, g, w);
    keep_if_smaller(alt_start);
  }
  const size_t limit = std::min(kMaxDictionary, n / kDictionaryRatio);
  {
    const size_t alt_start = w->size();
    if (WriteDictionaryColumn(
            kIntDictionary, x[0], x + 1, [&] { return x + 1; }, n - 1, limit, alt_start - start,
            w)) {
      keep_if_smaller(alt_start);
    }
  }
  // The deltas: the first kSampleValues for the first estimate, all of them
  // only when it passes.
  uint64_t first_deltas[kSampleValues];
  for (size_t i = 1; i < std::min(n, kSampleValues + 1); ++i) first_deltas[i - 1] = x[i] - x[i - 1];
  std::unique_ptr<uint64_t[]> deltas;
  auto make_deltas = [&] {
    deltas = std::make_unique_for_overwrite<uint64_t[]>(n - 1);
    for (size_t i = 1; i < n; ++i) deltas[i - 1] = x[i] - x[i - 1];
    return static_cast<const uint64_t*>(deltas.get());
  };
  const size_t alt_start = w->size();
  if (WriteDictionaryColumn(kIntDeltaDictionary, x[0], first_deltas, make_deltas, n - 1, limit,
                            alt_start - start, w)) {
    keep_if_smaller(alt_start);
  }
}

bool ReadIntColumn(ByteReader* r, size_t n, uint64_t* out) {
  return ReadIntColumnImpl(r, n, Level::kTop, out);
}

template <typename T>
void WriteSmallSeq(const T* v, size_t n, ByteWriter* w) {
  size_t runs = 1;
  for (size_t i = 1; i < n; ++i) runs += v[i] != v[i - 1];
  if (runs == 1) {
    w->PutByte(kSmallConstant);
    w->PutVarint(v[0]);
    return;
  }
  std::string runs_bytes;
  if (runs * 2 <= n) {
    std::vector<uint64_t> values, lengths;
    values.reserve(runs);
    lengths.reserve(runs);
    size_t start = 0;
    for (size_t i = 1; i <= n; ++i) {
      if (i == n || v[i] != v[i - 1]) {
        values.push_back(v[start]);
        lengths.push_back(i - start - 1);
        start = i;
      }
    }
    ByteWriter rw(&runs_bytes);
    rw.PutByte(kSmallRuns);
    rw.PutVarint(runs);
    WritePacked(values.data(), runs, &rw);
    WritePacked(lengths.data(), runs, &rw);
    // Many long runs: runs always win, skip trying the packed form.
    if (runs * 16 <= n) {
      w->PutBytes(runs_bytes.data(), runs_bytes.size());
      return;
    }
  }
  std::vector<uint64_t> wide(v, v + n);
  std::string packed_bytes;
  ByteWriter pw(&packed_bytes);
  pw.PutByte(kSmallPacked);
  WritePacked(wide.data(), n, &pw);
  const std::string& best =
      !runs_bytes.empty() && runs_bytes.size() <= packed_bytes.size() ? runs_bytes : packed_bytes;
  w->PutBytes(best.data(), best.size());
}

template <typename T>
bool ReadSmallSeq(ByteReader* r, size_t n, T max_value, T* out) {
  uint8_t mode;
  if (!r->GetByte(&mode)) return false;
  if (mode == kSmallConstant) {
    uint64_t c;
    if (!r->GetVarint(&c) || c > max_value) return false;
    std::fill(out, out + n, static_cast<T>(c));
    return true;
  }
  if (mode == kSmallPacked) {
    std::vector<uint64_t> wide(n);
    if (!ReadPacked(r, n, wide.data())) return false;
    for (size_t i = 0; i < n; ++i) {
      if (wide[i] > max_value) return false;
      out[i] = static_cast<T>(wide[i]);
    }
    return true;
  }
  if (mode != kSmallRuns) return false;
  uint64_t runs;
  if (!r->GetVarint(&runs) || runs == 0 || runs > n) return false;
  std::vector<uint64_t> values(runs), lengths(runs);
  if (!ReadPacked(r, runs, values.data()) || !ReadPacked(r, runs, lengths.data())) return false;
  size_t pos = 0;
  for (size_t k = 0; k < runs; ++k) {
    if (values[k] > max_value || lengths[k] >= n - pos) return false;
    size_t len = lengths[k] + 1;
    std::fill(out + pos, out + pos + len, static_cast<T>(values[k]));
    pos += len;
  }
  return pos == n;
}

template void WriteSmallSeq<uint8_t>(const uint8_t*, size_t, ByteWriter*);
template void WriteSmallSeq<uint32_t>(const uint32_t*, size_t, ByteWriter*);
template bool ReadSmallSeq<uint8_t>(ByteReader*, size_t, uint8_t, uint8_t*);
template bool ReadSmallSeq<uint32_t>(ByteReader*, size_t, uint32_t, uint32_t*);

}  // namespace historian::codec
