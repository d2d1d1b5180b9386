// File: double_series.h
// DoubleSeries: one double tag's samples (timestamp, value), all of quality
// Good (0), as a store write or a log entry holds them (tests).
//
//   WriteInput in;
//   in.series.push_back(DoubleSeries(tag, {{10, 1.5}, {20, 2.5}}));
#ifndef HISTORIAN_TESTS_TESTUTIL_DOUBLE_SERIES_H_
#define HISTORIAN_TESTS_TESTUTIL_DOUBLE_SERIES_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "storage/store.h"

namespace historian::testing {

inline engine::SeriesData DoubleSeries(TagId tag,
                                       const std::vector<std::pair<int64_t, double>>& samples) {
  engine::SeriesData s;
  s.tag = tag;
  s.cols.Reset(ValueType::kDouble);
  for (auto [ts, v] : samples) {
    s.cols.timestamps.push_back(ts);
    s.cols.doubles.push_back(v);
    s.cols.qualities.push_back(0);
  }
  return s;
}

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_DOUBLE_SERIES_H_
