// File: aggregate_windows.cc
#include "client/aggregate_windows.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace historian::client {

namespace v1 = ::historian::v1;

absl::StatusOr<const google::protobuf::RepeatedPtrField<v1::AggregateWindow>*> SeriesWindows(
    const v1::AggregateRequest& request, const v1::AggregateSeries& series,
    google::protobuf::RepeatedPtrField<v1::AggregateWindow>* scratch) {
  if (series.counts_size() == 0) return &series.windows();
  scratch->Clear();
  const int windows = series.counts_size();
  const int functions = request.functions_size();
  if (static_cast<int64_t>(series.values_size()) != static_cast<int64_t>(windows) * functions) {
    return absl::DataLossError(absl::StrCat("series '", series.tag(), "': ", series.values_size(),
                                            " values for ", windows, " windows of ", functions,
                                            " functions"));
  }
  const bool calendar = series.window_starts_size() > 0;
  if (calendar && series.window_starts_size() != windows) {
    return absl::DataLossError(absl::StrCat("series '", series.tag(),
                                            "': ", series.window_starts_size(),
                                            " window starts for ", windows, " windows"));
  }
  scratch->Reserve(windows);
  int64_t start = request.start_ns();
  for (int k = 0; k < windows; ++k) {
    v1::AggregateWindow* w = scratch->Add();
    w->set_start_ns(calendar ? series.window_starts(k) : start);
    w->set_count(series.counts(k));
    w->mutable_values()->Add(series.values().begin() + k * functions,
                             series.values().begin() + (k + 1) * functions);
    if (!calendar && k + 1 < windows && __builtin_add_overflow(start, request.step_ns(), &start)) {
      return absl::DataLossError(
          absl::StrCat("series '", series.tag(), "': window ", k + 1, " starts past int64"));
    }
  }
  return scratch;
}

}  // namespace historian::client
