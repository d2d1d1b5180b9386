// File: rollup_day.h
// The day record of the rollups column family: the hour rollups of one tag
// in one UTC day under one key (RollupKey(tag, kRollupDay, day start)), so
// a tag pays one key per day, not one per hour, and each hour is stored
// compactly (storage/codec/FORMAT.md has no part in it; docs/storage.md,
// "Rollups"):
//
//   u8 format (3), varint mask of the hours present (bit h: hour h of the day),
//   then per hour present, in order: varint flags, varint count, [varint n],
//   varint (first.ts - hour start) / unit, varint (last.ts - first.ts) / unit,
//   [zigzag (min.ts - first.ts) / unit], [zigzag (max.ts - first.ts) / unit],
//   [varint covered / unit], [4 varint qualities], then the values.
//
// Flags say what is implied and so not stored: n == count, all qualities 0,
// covered == hour end - first.ts, min/max being the first/last sample, delta
// being last - first (or 0 without a pair); the time unit (1 ns, 1 us, 1 ms,
// 1 s: the largest that divides every stored time); a decimal scale s when
// first/last/min/max are all m / 10^s exactly (then they are zigzag varints
// of m, last/min/max relative to first's m) and which of sum, mean, m2,
// integral and delta are too; whether mean and integral are stored as a
// varint of their bits XOR a prediction (sum / n, mean * covered), which
// shares sign, exponent and most of the mantissa. Every other double is 8
// raw bytes. Decoding gives back the Rollup bit for bit.
//
// Thread-safety: pure functions.
#ifndef HISTORIAN_STORAGE_ENGINE_ROLLUP_DAY_H_
#define HISTORIAN_STORAGE_ENGINE_ROLLUP_DAY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "storage/engine/rollup.h"

namespace historian::engine {

// The key width of day records.
inline constexpr int64_t kRollupDay = 24 * kRollupHour;

// (hour start, rollup of that hour).
using HourRollup = std::pair<int64_t, Rollup>;

// REQUIRES: `hours` non-empty, in increasing hour order, each hour start a
// multiple of kRollupHour in [day_start, day_start + kRollupDay), day_start
// a multiple of kRollupDay within the sample timestamp range.
std::string EncodeDayRollups(int64_t day_start, const std::vector<HourRollup>& hours);

// Appends the hours of a day record to *out. DataLoss on a truncated or
// corrupt record.
absl::Status DecodeDayRollups(int64_t day_start, std::string_view bytes,
                              std::vector<HourRollup>* out);

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_ROLLUP_DAY_H_
