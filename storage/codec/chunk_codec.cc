// File: chunk_codec.cc
// Chunk header, checksum, and the per-column encodings of timestamps,
// qualities, versions and non-double values. Layout: FORMAT.md.
#include "storage/codec/chunk_codec.h"

#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/codec/chunk_format.h"
#include "storage/codec/coding.h"
#include "storage/codec/crc32c.h"
#include "storage/codec/float_codec.h"
#include "storage/codec/int_codec.h"

namespace historian::codec {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("corrupt chunk: ", what));
}

// int64 and uint64 may alias, so columns are coded in place as uint64.
uint64_t* AsU64(int64_t* p) { return reinterpret_cast<uint64_t*>(p); }
const uint64_t* AsU64(const int64_t* p) { return reinterpret_cast<const uint64_t*>(p); }

int64_t FloorSeconds(int64_t t) {
  int64_t s = t / kNanosPerSecond;
  return (t % kNanosPerSecond < 0) ? s - 1 : s;
}

bool ValidType(ValueType t) { return t >= ValueType::kDouble && t <= ValueType::kString; }

absl::Status Validate(const ChunkColumns& c) {
  const size_t n = c.timestamps.size();
  if (n == 0) return absl::InvalidArgumentError("empty chunk");
  if (n > kMaxSamplesPerChunk) {
    return absl::InvalidArgumentError(absl::StrCat("chunk of ", n, " samples exceeds the limit"));
  }
  if (!ValidType(c.type)) return absl::InvalidArgumentError("unknown value type");
  auto want = [&](ValueType t) { return c.type == t ? n : 0; };
  if (c.qualities.size() != n || c.versions.size() != n ||
      c.doubles.size() != want(ValueType::kDouble) || c.ints.size() != want(ValueType::kInt64) ||
      c.bools.size() != want(ValueType::kBool) || c.strings.size() != want(ValueType::kString)) {
    return absl::InvalidArgumentError("column lengths differ");
  }
  for (size_t i = 1; i < n; ++i) {
    if (c.timestamps[i] <= c.timestamps[i - 1]) {
      return absl::InvalidArgumentError(
          absl::StrCat("timestamps not strictly increasing at index ", i));
    }
  }
  for (uint8_t b : c.bools) {
    if (b > 1) return absl::InvalidArgumentError("bool value other than 0 or 1");
  }
  for (const std::string& s : c.strings) {
    if (s.size() > kMaxStringBytes) return absl::InvalidArgumentError("string value too long");
  }
  return absl::OkStatus();
}

// Timestamps as q[i] = (t[i] - t[0]) / g, g the gcd of the deltas, so that a
// clock ticking in whole seconds or milliseconds codes small integers.
void WriteTimestamps(const int64_t* t, size_t n, ByteWriter* w) {
  uint64_t g = 0, prev_d = 0;
  for (size_t i = 1; i < n; ++i) {
    const uint64_t d = static_cast<uint64_t>(t[i]) - static_cast<uint64_t>(t[i - 1]);
    if (d != prev_d) g = std::gcd(g, d);
    prev_d = d;
  }
  auto q = std::make_unique_for_overwrite<uint64_t[]>(n);
  q[0] = 0;
  uint64_t acc = 0, prev_q = 0;
  prev_d = 0;
  for (size_t i = 1; i < n; ++i) {
    const uint64_t d = static_cast<uint64_t>(t[i]) - static_cast<uint64_t>(t[i - 1]);
    if (d != prev_d) prev_q = d / g;  // skips the division on regular clocks
    prev_d = d;
    acc += prev_q;
    q[i] = acc;
  }
  w->PutVarint(g);
  WriteIntColumn(q.get(), n, w);
}

bool ReadTimestamps(ByteReader* r, size_t n, int64_t t0, int64_t* out) {
  uint64_t g;
  if (!r->GetVarint(&g) || g == 0) return false;
  uint64_t* q = AsU64(out);
  if (!ReadIntColumn(r, n, q)) return false;
  if (q[0] != 0) return false;
  for (size_t i = 0; i < n; ++i) q[i] = static_cast<uint64_t>(t0) + q[i] * g;
  for (size_t i = 1; i < n; ++i) {
    if (out[i] <= out[i - 1]) return false;
  }
  return true;
}

// Versions: the site tag byte as a small sequence, and the HLC seconds either
// raw (backfill: constant) or minus the sample's second (live: near constant).
void WriteVersions(const Version* v, const int64_t* t, size_t n, ByteWriter* w) {
  auto site = std::make_unique_for_overwrite<uint8_t[]>(n);
  auto hi = std::make_unique_for_overwrite<uint64_t[]>(n);
  // Pick the base under which more consecutive versions repeat.
  size_t same_raw = 0, same_rel = 0;
  uint64_t prev_raw = v[0] >> 8, prev_rel = prev_raw - static_cast<uint64_t>(FloorSeconds(t[0]));
  for (size_t i = 0; i < n; ++i) {
    site[i] = static_cast<uint8_t>(v[i]);
    const uint64_t raw = v[i] >> 8;
    const uint64_t rel = raw - static_cast<uint64_t>(FloorSeconds(t[i]));
    same_raw += raw == prev_raw;
    same_rel += rel == prev_rel;
    prev_raw = raw;
    prev_rel = rel;
    hi[i] = rel;
  }
  const bool relative = same_rel > same_raw;
  if (!relative) {
    for (size_t i = 0; i < n; ++i) hi[i] = v[i] >> 8;
  }
  WriteSmallSeq(site.get(), n, w);
  w->PutByte(relative ? kVersionRelative : kVersionRaw);
  WriteIntColumn(hi.get(), n, w);
}

bool ReadVersions(ByteReader* r, size_t n, const int64_t* t, Version* out) {
  std::vector<uint8_t> site(n);
  uint8_t mode;
  if (!ReadSmallSeq<uint8_t>(r, n, 0xFF, site.data()) || !r->GetByte(&mode)) return false;
  if (mode != kVersionRaw && mode != kVersionRelative) return false;
  if (!ReadIntColumn(r, n, out)) return false;
  if (mode == kVersionRelative) {
    for (size_t i = 0; i < n; ++i) out[i] += static_cast<uint64_t>(FloorSeconds(t[i]));
  }
  for (size_t i = 0; i < n; ++i) out[i] = (out[i] << 8) | site[i];
  return true;
}

// Strings: a dictionary in first-use order, then the indices.
void WriteStrings(const std::vector<std::string>& s, ByteWriter* w) {
  std::unordered_map<std::string_view, uint32_t> ids;
  std::vector<std::string_view> dict;
  std::vector<uint32_t> idx(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    auto [it, inserted] = ids.emplace(s[i], static_cast<uint32_t>(dict.size()));
    if (inserted) dict.push_back(s[i]);
    idx[i] = it->second;
  }
  w->PutVarint(dict.size());
  for (std::string_view d : dict) {
    w->PutVarint(d.size());
    w->PutBytes(d.data(), d.size());
  }
  if (dict.size() > 1) WriteSmallSeq(idx.data(), idx.size(), w);
}

bool ReadStrings(ByteReader* r, size_t n, std::vector<std::string>* out) {
  uint64_t dict_size;
  if (!r->GetVarint(&dict_size) || dict_size == 0 || dict_size > n) return false;
  std::vector<std::string_view> dict(dict_size);
  for (auto& d : dict) {
    uint64_t len;
    const uint8_t* p;
    if (!r->GetVarint(&len) || len > kMaxStringBytes || !r->GetBytes(len, &p)) return false;
    d = std::string_view(reinterpret_cast<const char*>(p), len);
  }
  std::vector<uint32_t> idx(n, 0);
  if (dict_size > 1 &&
      !ReadSmallSeq<uint32_t>(r, n, static_cast<uint32_t>(dict_size - 1), idx.data())) {
    return false;
  }
  out->resize(n);
  for (size_t i = 0; i < n; ++i) (*out)[i].assign(dict[idx[i]]);
  return true;
}

absl::Status ParseHeader(ByteReader* r, ChunkSummary* h) {
  uint8_t magic, version, type;
  uint64_t count, t0, span;
  if (!r->GetByte(&magic) || !r->GetByte(&version) || !r->GetByte(&type) || !r->GetVarint(&count) ||
      !r->GetFixed64(&t0) || !r->GetVarint(&span)) {
    return Corrupt("truncated header");
  }
  if (magic != kChunkMagic) return Corrupt("bad magic");
  if (version != kChunkFormatVersion) {
    return absl::DataLossError(absl::StrCat("unknown chunk format version ", version));
  }
  if (!ValidType(static_cast<ValueType>(type))) return Corrupt("unknown value type");
  if (count == 0 || count > kMaxSamplesPerChunk) return Corrupt("bad sample count");
  const int64_t min_ts = static_cast<int64_t>(t0);
  const int64_t max_ts = static_cast<int64_t>(t0 + span);
  if (max_ts < min_ts || (count == 1) != (span == 0) || span < count - 1) {
    return Corrupt("bad time span");
  }
  *h = {static_cast<ValueType>(type), static_cast<uint32_t>(count), min_ts, max_ts};
  return absl::OkStatus();
}

absl::Status VerifyChecksum(std::string_view bytes) {
  if (bytes.size() < kMinHeaderSize + kChecksumSize) return Corrupt("too short");
  const size_t body = bytes.size() - kChecksumSize;
  uint32_t stored;
  std::memcpy(&stored, bytes.data() + body, sizeof(stored));
  if (Crc32c(bytes.data(), body) != stored) return Corrupt("checksum mismatch");
  return absl::OkStatus();
}

absl::Status DecodeBody(std::string_view bytes, ChunkColumns* out, bool versions) {
  if (bytes.size() < kMinHeaderSize + kChecksumSize) return Corrupt("too short");
  ByteReader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size() - kChecksumSize);
  ChunkSummary h;
  if (absl::Status s = ParseHeader(&r, &h); !s.ok()) return s;
  const size_t n = h.count;
  out->Reset(h.type);
  out->timestamps.resize(n);
  out->timestamps[0] = h.min_timestamp;
  if (n > 1 && !ReadTimestamps(&r, n, h.min_timestamp, out->timestamps.data())) {
    return Corrupt("timestamps");
  }
  if (out->timestamps[n - 1] != h.max_timestamp) return Corrupt("timestamp span");
  bool ok = false;
  switch (h.type) {
    case ValueType::kDouble:
      out->doubles.resize(n);
      ok = ReadDoubles(&r, n, out->doubles.data());
      break;
    case ValueType::kInt64:
      out->ints.resize(n);
      ok = ReadIntColumn(&r, n, AsU64(out->ints.data()));
      break;
    case ValueType::kBool:
      out->bools.resize(n);
      ok = ReadSmallSeq<uint8_t>(&r, n, 1, out->bools.data());
      break;
    case ValueType::kString:
      ok = ReadStrings(&r, n, &out->strings);
      break;
    default:
      break;
  }
  if (!ok) return Corrupt("values");
  out->qualities.resize(n);
  if (!ReadSmallSeq<uint32_t>(&r, n, UINT32_MAX, out->qualities.data())) {
    return Corrupt("qualities");
  }
  if (!versions) return absl::OkStatus();
  out->versions.resize(n);
  if (!ReadVersions(&r, n, out->timestamps.data(), out->versions.data())) {
    return Corrupt("versions");
  }
  if (r.remaining() != 0) return Corrupt("trailing bytes");
  return absl::OkStatus();
}

}  // namespace

void ChunkColumns::Clear() { Reset(type); }

void ChunkColumns::Reset(ValueType t) {
  type = t;
  timestamps.clear();
  doubles.clear();
  ints.clear();
  bools.clear();
  strings.clear();
  qualities.clear();
  versions.clear();
}

absl::Status EncodeChunk(const ChunkColumns& cols, std::string* out) {
  if (absl::Status s = Validate(cols); !s.ok()) return s;
  const size_t n = cols.size();
  const size_t start = out->size();
  ByteWriter w(out);
  w.PutByte(kChunkMagic);
  w.PutByte(kChunkFormatVersion);
  w.PutByte(static_cast<uint8_t>(cols.type));
  w.PutVarint(n);
  w.PutFixed64(static_cast<uint64_t>(cols.timestamps[0]));
  w.PutVarint(static_cast<uint64_t>(cols.timestamps[n - 1]) -
              static_cast<uint64_t>(cols.timestamps[0]));
  if (n > 1) WriteTimestamps(cols.timestamps.data(), n, &w);
  switch (cols.type) {
    case ValueType::kDouble:
      WriteDoubles(cols.doubles.data(), n, &w);
      break;
    case ValueType::kInt64:
      WriteIntColumn(AsU64(cols.ints.data()), n, &w);
      break;
    case ValueType::kBool:
      WriteSmallSeq(cols.bools.data(), n, &w);
      break;
    case ValueType::kString:
      WriteStrings(cols.strings, &w);
      break;
    default:
      break;
  }
  WriteSmallSeq(cols.qualities.data(), n, &w);
  WriteVersions(cols.versions.data(), cols.timestamps.data(), n, &w);
  w.PutFixed32(Crc32c(out->data() + start, out->size() - start));
  return absl::OkStatus();
}

absl::Status DecodeChunk(std::string_view bytes, ChunkColumns* out, const DecodeOptions& options) {
  absl::Status s = options.verify_checksum ? VerifyChecksum(bytes) : absl::OkStatus();
  if (s.ok()) s = DecodeBody(bytes, out, options.versions);
  if (!s.ok()) out->Clear();
  return s;
}

absl::StatusOr<ChunkSummary> SummarizeChunk(std::string_view bytes) {
  // The checksum covers the header too; checking it costs far less than
  // trusting a corrupt time range.
  if (absl::Status s = VerifyChecksum(bytes); !s.ok()) return s;
  ByteReader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size() - kChecksumSize);
  ChunkSummary h;
  if (absl::Status s = ParseHeader(&r, &h); !s.ok()) return s;
  return h;
}

namespace internal {

absl::Status DecodeChunkUnverified(std::string_view bytes, ChunkColumns* out) {
  absl::Status s = DecodeBody(bytes, out, /*versions=*/true);
  if (!s.ok()) out->Clear();
  return s;
}

}  // namespace internal
}  // namespace historian::codec
