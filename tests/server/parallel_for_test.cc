// ParallelFor: every index runs exactly once on any thread count, and the
// error of the lowest failing index is returned.
#include "server/parallel_for.h"

#include <atomic>
#include <thread>
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
  s = ParallelFor(50, 4, [](size_t i) { return absl::InvalidArgumentError(std::to_string(i)); });
  EXPECT_EQ(s.message(), "0");
}

// Calls from many threads at once share the helper pool (or run inline when
// it is busy): every index of every call still runs exactly once.
TEST(ParallelForTest, ConcurrentCallsEachRunEveryIndexOnce) {
  constexpr int kCallers = 6, kCalls = 200;
  std::atomic<int> bad{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&] {
      for (int k = 0; k < kCalls; ++k) {
        const size_t n = 1 + static_cast<size_t>(k % 37);
        std::vector<std::atomic<int>> runs(n);
        absl::Status s = ParallelFor(n, 4, [&](size_t i) {
          runs[i].fetch_add(1);
          return absl::OkStatus();
        });
        if (!s.ok()) ++bad;
        for (size_t i = 0; i < n; ++i) {
          if (runs[i].load() != 1) ++bad;
        }
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace historian::server
