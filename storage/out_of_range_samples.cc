#include "storage/out_of_range_samples.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "storage/engine/columns.h"

namespace historian {

absl::Status CheckSampleTimestamps(const std::vector<engine::SeriesData>& series) {
  for (size_t i = 0; i < series.size(); ++i) {
    const std::vector<int64_t>& ts = series[i].cols.timestamps;
    for (size_t j = 0; j < ts.size(); ++j) {
      if (IsSampleTimestamp(ts[j])) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          "series[", i, "].timestamps[", j, "]: ", ts[j], " is outside [", kMinSampleTimestamp,
          ", ", kMaxSampleTimestamp, "] ns (1900-01-01T00:00:00Z up to 2100-01-01T00:00:00Z)"));
    }
  }
  return absl::OkStatus();
}

size_t OutOfRangeSamples::Drop(codec::ChunkColumns* cols, TagId tag, const char* where) {
  const std::vector<int64_t>& ts = cols->timestamps;
  if (std::all_of(ts.begin(), ts.end(), IsSampleTimestamp)) return 0;
  const int64_t example = *std::find_if_not(ts.begin(), ts.end(), IsSampleTimestamp);
  codec::ChunkColumns kept;
  kept.Reset(cols->type);
  for (size_t i = 0; i < cols->size(); ++i) {
    if (IsSampleTimestamp(cols->timestamps[i])) engine::AppendSample(*cols, i, &kept);
  }
  const size_t dropped = cols->size() - kept.size();
  *cols = std::move(kept);
  const uint64_t total = count_.fetch_add(dropped) + dropped;
  // Logged when the total reaches a power of two: visible, never a flood.
  if ((total & (total - 1)) == 0 || dropped >= total / 2) {
    logger_(
        LogSeverity::kWarning,
        absl::StrCat("skipped ", dropped, " sample(s) of tag id ", tag,
                     " with timestamps outside [", kMinSampleTimestamp, ", ", kMaxSampleTimestamp,
                     "] ns (", where, "; e.g. ", example, "); ", total, " skipped so far"));
  }
  return dropped;
}

void OutOfRangeSamples::Drop(std::vector<engine::SeriesData>* series, const char* where) {
  for (engine::SeriesData& s : *series) Drop(&s.cols, s.tag, where);
}

}  // namespace historian
