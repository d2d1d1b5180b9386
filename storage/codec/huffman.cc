// File: huffman.cc
// Tokenised canonical Huffman coding with a table decoder (see huffman.h and
// FORMAT.md, "Entropy-coded packed sequence").
#include "storage/codec/huffman.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "storage/codec/bit_stream.h"

namespace historian::codec {
namespace {

constexpr int kNumStreams = 2;

struct TokenInfo {
  uint64_t base;  // value with all extra bits zero
  uint8_t extra;  // raw bits after the code
};

constexpr std::array<TokenInfo, kNumTokens> MakeTokenInfo() {
  std::array<TokenInfo, kNumTokens> t{};
  for (int k = 0; k < kNumTokens; ++k) {
    if (k < static_cast<int>(kLiteralTokens)) {
      t[k] = {static_cast<uint64_t>(k), 0};
    } else {
      const int w = (k - 16) / 2 + 5;  // bit width of the value, 5..64
      t[k] = {(uint64_t{1} << (w - 1)) | (static_cast<uint64_t>(k & 1) << (w - 2)),
              static_cast<uint8_t>(w - 2)};
    }
  }
  return t;
}
constexpr std::array<TokenInfo, kNumTokens> kTokens = MakeTokenInfo();

inline int TokenOf(uint64_t v) {
  if (v < kLiteralTokens) return static_cast<int>(v);
  const int w = BitWidth(v);
  return 16 + 2 * (w - 5) + static_cast<int>((v >> (w - 2)) & 1);
}

inline uint64_t Mask(int b) { return b >= 64 ? ~uint64_t{0} : (uint64_t{1} << b) - 1; }

// Huffman code lengths of the used symbols, limited to kMaxCodeLength by
// halving the frequencies until the tree is shallow enough. A single used
// symbol gets length 1.
void BuildLengths(const uint32_t* freq, int ntok, uint8_t* len) {
  // At most kNumTokens symbols: every array lives on the stack (this runs
  // for each sequence the entropy stage is tried on).
  int syms[kNumTokens];
  size_t m = 0;
  for (int s = 0; s < ntok; ++s) {
    len[s] = 0;
    if (freq[s]) syms[m++] = s;
  }
  if (m == 1) {
    len[syms[0]] = 1;
    return;
  }
  uint64_t f[kNumTokens];
  for (size_t i = 0; i < m; ++i) f[i] = freq[syms[i]];
  uint64_t node_f[2 * kNumTokens];
  int parent[2 * kNumTokens], order[kNumTokens];
  uint8_t depth[2 * kNumTokens];
  for (;;) {
    // By frequency, ties in symbol order: a stable insertion sort (the
    // order std::stable_sort gives, without its temporary buffer; m is
    // small).
    for (size_t i = 0; i < m; ++i) {
      const int x = static_cast<int>(i);
      size_t j = i;
      for (; j > 0 && f[x] < f[order[j - 1]]; --j) order[j] = order[j - 1];
      order[j] = x;
    }
    for (size_t i = 0; i < m; ++i) node_f[i] = f[order[i]];
    // Two queues: sorted leaves [0, m) and internal nodes in creation order
    // (their frequencies never decrease).
    size_t leaf = 0, inner = m, next = m;
    auto pop = [&]() -> size_t {
      if (leaf < m && (inner >= next || node_f[leaf] <= node_f[inner])) return leaf++;
      return inner++;
    };
    while (next < 2 * m - 1) {
      const size_t a = pop(), b = pop();
      node_f[next] = node_f[a] + node_f[b];
      parent[a] = parent[b] = static_cast<int>(next);
      ++next;
    }
    depth[2 * m - 2] = 0;
    int max_depth = 0;
    for (size_t i = 2 * m - 2; i-- > 0;) {
      depth[i] = static_cast<uint8_t>(std::min(255, depth[parent[i]] + 1));
      if (i < m) max_depth = std::max<int>(max_depth, depth[i]);
    }
    if (max_depth <= kMaxCodeLength) {
      for (size_t i = 0; i < m; ++i) len[syms[order[i]]] = depth[i];
      return;
    }
    for (size_t i = 0; i < m; ++i) f[i] = (f[i] + 1) / 2;
  }
}

// Canonical codes (deflate order: by length, then symbol), bit-reversed for
// the LSB-first stream.
void AssignCodes(const uint8_t* len, int ntok, uint32_t* code) {
  int count[kMaxCodeLength + 1] = {};
  for (int s = 0; s < ntok; ++s) ++count[len[s]];
  count[0] = 0;
  uint32_t next[kMaxCodeLength + 2] = {};
  uint32_t c = 0;
  for (int l = 1; l <= kMaxCodeLength; ++l) {
    c = (c + count[l - 1]) << 1;
    next[l] = c;
  }
  for (int s = 0; s < ntok; ++s) {
    const int l = len[s];
    if (l == 0) continue;
    const uint32_t k = next[l]++;
    uint32_t rev = 0;
    for (int b = 0; b < l; ++b) rev |= ((k >> b) & 1) << (l - 1 - b);
    code[s] = rev;
  }
}

// Code lengths, each relative to the previous one (starting at 0):
// '0' same, '10' one more, '110' one less, '111' + 4 bits literal.
void WriteLengths(const uint8_t* len, int ntok, BitWriter* bw) {
  int prev = 0;
  for (int s = 0; s < ntok; ++s) {
    const int l = len[s];
    if (l == prev) {
      bw->Write(0, 1);
    } else if (l == prev + 1) {
      bw->Write(0b01, 2);
    } else if (l == prev - 1) {
      bw->Write(0b011, 3);
    } else {
      bw->Write(0b111 | (static_cast<uint64_t>(l) << 3), 7);
    }
    prev = l;
  }
}

uint64_t LengthsBits(const uint8_t* len, int ntok) {
  uint64_t bits = 0;
  int prev = 0;
  for (int s = 0; s < ntok; ++s) {
    const int l = len[s];
    bits += l == prev ? 1 : l == prev + 1 ? 2 : l == prev - 1 ? 3 : 7;
    prev = l;
  }
  return bits;
}

// Decode table entry: code length (bits 8-15); when code and extra bits take
// at most kFastBits, the value's bits above its extras (0-7: the value itself
// for a literal, else 2 or 3), code length plus extra bits (16-23) and extra
// bits (24-29); else the token (0-7) and kSlowEntry. Two fast values fit in
// one refill (56 bits).
constexpr uint32_t kSlowEntry = 1u << 31;
constexpr int kFastBits = 28;

constexpr std::array<uint64_t, kNumTokens> MakeBases() {
  std::array<uint64_t, kNumTokens> b{};
  for (int k = 0; k < kNumTokens; ++k) b[k] = kTokens[k].base;
  return b;
}
constexpr std::array<uint64_t, kNumTokens> kBase = MakeBases();

struct Stream {
  const uint8_t* p;
  uint64_t buf = 0;
  int cnt = 0;  // valid bits in buf

  // Afterwards at least 56 bits are valid; reads 8 bytes at p.
  void Refill() {
    buf |= Load64(p) << cnt;
    p += (63 - cnt) >> 3;
    cnt |= 56;
  }
  // nbits <= 32 after a Refill.
  uint64_t Take(int nbits) {
    const uint64_t v = buf & ((uint64_t{1} << nbits) - 1);
    buf >>= nbits;
    cnt -= nbits;
    return v;
  }
};

// Values a stream may decode between two bounds checks, and the padding
// that covers them (a value refills at most three times, 7 bytes each).
constexpr size_t kCheckEvery = 16;
constexpr size_t kStreamPad = 8 + kCheckEvery * 32 + 16;

// Decodes one value; REQUIRES a Refill since the last value.
inline uint64_t DecodeOne(Stream& s, const uint32_t* table, uint64_t table_mask) {
  const uint32_t e = table[s.buf & table_mask];
  const uint32_t tok = e & 0xFF;
  const uint32_t code_len = (e >> 8) & 0xFF;
  if (!(e & kSlowEntry)) [[likely]] {
    // Here the low byte is the value's bits above the extras.
    const uint32_t total = (e >> 16) & 0xFF;
    const uint32_t nb = e >> 24;
    const uint64_t extra = (s.buf >> code_len) & ((uint64_t{1} << nb) - 1);
    s.buf >>= total;
    s.cnt -= static_cast<int>(total);
    return (uint64_t{tok} << nb) | extra;
  }
  // More than kFastBits: refill around the extras so that the next value
  // again finds kFastBits.
  s.buf >>= code_len;
  s.cnt -= static_cast<int>(code_len);
  s.Refill();
  const int nb = kTokens[tok].extra;
  uint64_t v;
  if (nb <= 32) {
    v = s.Take(nb);
  } else {
    v = s.Take(32);
    s.Refill();
    v |= s.Take(nb - 32) << 32;
  }
  s.Refill();
  return kBase[tok] | v;
}

// Token counts of v[0..n) (and the tokens, when `toks` is not null), in
// total and at even positions (`even`, when not null). Four interleaved
// histograms, so repeats of one token do not wait on each other.
void Histogram(const uint64_t* v, size_t n, uint8_t* toks, uint32_t* freq,
               uint32_t* even = nullptr) {
  uint32_t h[4][kNumTokens] = {};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const int t0 = TokenOf(v[i]), t1 = TokenOf(v[i + 1]);
    const int t2 = TokenOf(v[i + 2]), t3 = TokenOf(v[i + 3]);
    ++h[0][t0];
    ++h[1][t1];
    ++h[2][t2];
    ++h[3][t3];
    if (toks) {
      toks[i] = static_cast<uint8_t>(t0);
      toks[i + 1] = static_cast<uint8_t>(t1);
      toks[i + 2] = static_cast<uint8_t>(t2);
      toks[i + 3] = static_cast<uint8_t>(t3);
    }
  }
  for (; i < n; ++i) {
    const int t = TokenOf(v[i]);
    ++h[i & 1][t];
    if (toks) toks[i] = static_cast<uint8_t>(t);
  }
  for (int t = 0; t < kNumTokens; ++t) freq[t] = h[0][t] + h[1][t] + h[2][t] + h[3][t];
  if (even) {
    for (int t = 0; t < kNumTokens; ++t) even[t] = h[0][t] + h[2][t];
  }
}

}  // namespace

bool WriteHuffmanIfSmaller(const uint64_t* v, size_t n, size_t budget, ByteWriter* w) {
  // Every value takes at least one bit: sparse sequences that the blocks
  // already store in less are not worth a histogram.
  if (n / 8 + 4 >= budget) return false;
  auto toks = std::make_unique_for_overwrite<uint8_t[]>(n);
  uint32_t freq[kNumTokens], even[kNumTokens];
  Histogram(v, n, toks.get(), freq, even);
  int ntok = kNumTokens;
  while (freq[ntok - 1] == 0) --ntok;
  uint8_t len[kNumTokens];
  BuildLengths(freq, ntok, len);
  uint64_t bits[kNumStreams] = {};
  for (int t = 0; t < ntok; ++t) {
    const uint64_t cost = len[t] + kTokens[t].extra;
    bits[0] += cost * even[t];
    bits[1] += cost * (freq[t] - even[t]);
  }
  const uint64_t bytes0 = (bits[0] + 7) / 8, bytes1 = (bits[1] + 7) / 8;
  const uint64_t size = VarintLength(static_cast<uint64_t>(ntok)) +
                        (LengthsBits(len, ntok) + 7) / 8 + VarintLength(bytes0) +
                        VarintLength(bytes1) + bytes0 + bytes1;
  if (size >= budget) return false;

  uint32_t code[kNumTokens] = {};
  AssignCodes(len, ntok, code);
  w->PutVarint(static_cast<uint64_t>(ntok));
  {
    BitWriter bw(w->buffer());
    WriteLengths(len, ntok, &bw);
    bw.Finish();
  }
  w->PutVarint(bytes0);
  w->PutVarint(bytes1);
  // The stream sizes are known: write them in place, a word at a time.
  uint8_t* dst = w->Extend(bytes0 + bytes1);
  for (size_t k = 0; k < kNumStreams; ++k) {
    uint8_t* out = dst + (k == 0 ? 0 : bytes0);
    uint64_t acc = 0;
    int fill = 0;
    auto put = [&](uint64_t bits, int nbits) {  // nbits <= 64, bits < 2^nbits
      acc |= bits << fill;
      if (fill + nbits >= 64) {
        Store64(out, acc);
        out += 8;
        const int used = 64 - fill;
        acc = used < 64 ? bits >> used : 0;
        fill += nbits - 64;
      } else {
        fill += nbits;
      }
    };
    for (size_t i = k; i < n; i += kNumStreams) {
      const int t = toks[i];
      const int nb = kTokens[t].extra;
      if (nb <= 52) {
        put(code[t] | ((v[i] & Mask(nb)) << len[t]), len[t] + nb);
      } else {
        put(code[t], len[t]);
        put(v[i] & Mask(nb), nb);
      }
    }
    // The last partial word; stream 1's first store overwrites the spill.
    if (fill > 0) Store64(out, acc);
  }
  w->TrimSlack();
  return true;
}

bool ReadHuffman(ByteReader* r, size_t n, uint64_t* out) {
  uint64_t ntok;
  if (!r->GetVarint(&ntok) || ntok == 0 || ntok > kNumTokens) return false;
  uint8_t len[kNumTokens];
  int max_len = 0, used = 0;
  {
    BitReader br(r->pos(), r->remaining());
    int prev = 0;
    for (uint64_t s = 0; s < ntok; ++s) {
      uint64_t b;
      if (!br.Read(1, &b)) return false;
      int l = prev;
      if (b) {
        if (!br.Read(1, &b)) return false;
        if (!b) {
          l = prev + 1;
        } else {
          if (!br.Read(1, &b)) return false;
          if (!b) {
            l = prev - 1;
          } else {
            uint64_t lit;
            if (!br.Read(4, &lit)) return false;
            l = static_cast<int>(lit);
          }
        }
      }
      if (l < 0 || l > kMaxCodeLength) return false;
      len[s] = static_cast<uint8_t>(l);
      max_len = std::max(max_len, l);
      used += l > 0;
      prev = l;
    }
    const uint8_t* skip;
    if (!r->GetBytes(br.BytesConsumed(), &skip)) return false;
  }
  if (used == 0) return false;
  // The code must be complete (every table slot decodes), or a single
  // symbol of length 1.
  uint64_t kraft = 0;
  for (uint64_t s = 0; s < ntok; ++s) {
    if (len[s]) kraft += uint64_t{1} << (max_len - len[s]);
  }
  const bool single = used == 1 && max_len == 1;
  if (!single && kraft != (uint64_t{1} << max_len)) return false;

  uint32_t code[kNumTokens] = {};
  AssignCodes(len, static_cast<int>(ntok), code);
  uint32_t table[1u << kMaxCodeLength];
  const uint32_t size = 1u << max_len;
  for (uint64_t s = 0; s < ntok; ++s) {
    const int l = len[s];
    if (l == 0) continue;
    const int nb = kTokens[s].extra;
    uint32_t e = static_cast<uint32_t>(l) << 8;
    if (l + nb <= kFastBits) {
      e |= static_cast<uint32_t>(kTokens[s].base >> nb) | static_cast<uint32_t>(l + nb) << 16 |
           static_cast<uint32_t>(nb) << 24;
    } else {
      e |= static_cast<uint32_t>(s) | kSlowEntry;
    }
    for (uint32_t k = code[s]; k < size; k += 1u << l) table[k] = e;
    if (single) table[1] = e;
  }

  uint64_t bytes[kNumStreams];
  const uint8_t* src[kNumStreams];
  if (!r->GetVarint(&bytes[0]) || !r->GetVarint(&bytes[1])) return false;
  if (bytes[0] > r->remaining() || bytes[1] > r->remaining() - bytes[0]) return false;
  if (!r->GetBytes(bytes[0], &src[0]) || !r->GetBytes(bytes[1], &src[1])) return false;
  // Each value takes at least one bit, so a stream of fewer bytes than
  // values / 8 is corrupt (and this bounds the work on a corrupt input).
  if (bytes[0] * 8 < (n + 1) / 2 || bytes[1] * 8 < n / 2) return false;

  // Copies with zero padding, so refills never need a bounds check.
  thread_local std::vector<uint8_t> scratch;
  const size_t need = bytes[0] + bytes[1] + 2 * kStreamPad;
  if (scratch.size() < need) scratch.resize(need);
  uint8_t* s0 = scratch.data();
  uint8_t* s1 = s0 + bytes[0] + kStreamPad;
  std::memcpy(s0, src[0], bytes[0]);
  std::memset(s0 + bytes[0], 0, kStreamPad);
  std::memcpy(s1, src[1], bytes[1]);
  std::memset(s1 + bytes[1], 0, kStreamPad);
  Stream a{s0}, b{s1};
  // Checked every kCheckEvery values per stream: until then no refill reads
  // past the padding.
  const uint8_t* lim0 = s0 + bytes[0] + 8;
  const uint8_t* lim1 = s1 + bytes[1] + 8;
  const uint64_t mask = size - 1;
  size_t i = 0;
  while (i + 2 <= n) {
    if (a.p > lim0 || b.p > lim1) [[unlikely]]
      return false;
    const size_t end = std::min(n & ~size_t{1}, i + 2 * kCheckEvery);
    // Two values per stream and refill.
    for (; i + 4 <= end; i += 4) {
      a.Refill();
      b.Refill();
      out[i] = DecodeOne(a, table, mask);
      out[i + 1] = DecodeOne(b, table, mask);
      out[i + 2] = DecodeOne(a, table, mask);
      out[i + 3] = DecodeOne(b, table, mask);
    }
    for (; i < end; i += 2) {
      a.Refill();
      b.Refill();
      out[i] = DecodeOne(a, table, mask);
      out[i + 1] = DecodeOne(b, table, mask);
    }
  }
  if (i < n) {
    if (a.p > lim0) return false;
    a.Refill();
    out[i] = DecodeOne(a, table, mask);
  }
  // Every bit read must be inside its stream, and no whole byte unused.
  const Stream* st[2] = {&a, &b};
  const uint8_t* base[2] = {s0, s1};
  for (int k = 0; k < kNumStreams; ++k) {
    const uint64_t consumed = static_cast<uint64_t>(st[k]->p - base[k]) * 8 - st[k]->cnt;
    if ((consumed + 7) / 8 != bytes[k]) return false;
  }
  return true;
}

}  // namespace historian::codec
