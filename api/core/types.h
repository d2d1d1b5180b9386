// File: types.h
// Plain types shared by storage, server and client: value types, tag ids,
// write versions. No protobuf, no RocksDB.
#ifndef HISTORIAN_API_CORE_TYPES_H_
#define HISTORIAN_API_CORE_TYPES_H_

#include <cstdint>
#include <limits>

namespace historian {

// Matches historian.v1.ValueType numbering.
enum class ValueType : uint8_t {
  kUnspecified = 0,
  kDouble = 1,
  kInt64 = 2,
  kBool = 3,
  kString = 4,
};

// 64-bit id derived from the tag name (see storage/catalog/tag_id.h).
using TagId = uint64_t;

// Version of a write, for last-writer-wins between writes of the same
// (tag, timestamp). Layout: (hybrid-logical-clock seconds << 8) | site tag,
// where site tag is an 8-bit hash of the origin site id. A larger version
// wins; see docs/consistency.md for the full rule.
using Version = uint64_t;

inline constexpr int64_t kMinTimestamp = std::numeric_limits<int64_t>::min();
inline constexpr int64_t kMaxTimestamp = std::numeric_limits<int64_t>::max();

// Timestamps a sample may have: 1900-01-01T00:00:00Z up to, not including,
// 2100-01-01T00:00:00Z (docs/storage.md). Any two differ by less than 2^63 ns,
// and bucket, span and range arithmetic near them cannot overflow. Writes
// outside are refused; samples outside already on disk are skipped.
inline constexpr int64_t kMinSampleTimestamp = int64_t{-2208988800} * 1000000000;
inline constexpr int64_t kMaxSampleTimestamp = int64_t{4102444800} * 1000000000 - 1;
inline constexpr bool IsSampleTimestamp(int64_t ts) {
  return ts >= kMinSampleTimestamp && ts <= kMaxSampleTimestamp;
}

inline constexpr uint32_t kQualityGood = 0;
inline constexpr uint32_t kQualityBad = 0x80000000u;

}  // namespace historian

#endif  // HISTORIAN_API_CORE_TYPES_H_
