// ParallelFor: every index runs exactly once on any thread count, and the
// error of the lowest failing index is returned.
#include "server/parallel_for.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace historian::server {
namespace {

TEST(ParallelForTest, RunsEveryIndexOnce) {
  for (int threads : {0, 1, 2, 7}) {
    for (size_t n : {0, 1, 5, 1000}) {
      std::vector<std::atomic<int>> runs(n);
      ASSERT_TRUE(ParallelFor(n, threads, [&](size_t i) {
                    runs[i].fetch_add(1);
                    return absl::OkStatus();
                  }).ok());
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(runs[i].load(), 1) << i;
    }
  }
}

TEST(ParallelForTest, ReturnsTheLowestFailingIndexError) {
  absl::Status s = ParallelFor(1, 2, [](size_t) { return absl::NotFoundError("only"); });
  EXPECT_EQ(s.message(), "only");
  // Every index fails: whichever ran, index 0 always runs (it is taken first).
  s = ParallelFor(50, 4, [](size_t i) {
    return absl::InvalidArgumentError(std::to_string(i));
  });
  EXPECT_EQ(s.message(), "0");
}

}  // namespace
}  // namespace historian::server
