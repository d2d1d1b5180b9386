// `historian watch GLOB` end to end: the real CLI binary against a real
// historiand, stdout a pipe (not a terminal), so one line per sample. The
// test waits until the node counts the subscription (/metrics), writes
// samples to a tag that existed and to one created after the watch began,
// and checks the lines; `--count` makes the CLI stop by itself, then the
// node stops cleanly. Waits poll a condition (no timing assumptions).
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_util.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/site_client.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

using testing::NodeProcess;
using testing::SiteClient;

constexpr int64_t kT0 = int64_t{1790000000} * 1000000000;

TEST(WatchCliTest, PrintsOneLinePerSampleOfTheGlobAndStopsAfterCount) {
  testing::TempDir dir;
  NodeProcess node(dir.Sub("node"), {"--site=us", "--metrics_listen=127.0.0.1:0",
                                     "--metrics_port_file=" + dir.Sub("metrics.port")});
  ASSERT_TRUE(node.Start());
  SiteClient client(node.address());
  ASSERT_TRUE(client.CreateTag("w.a").ok());
  ASSERT_TRUE(client.CreateTag("other.x").ok());
  const int metrics_port = std::stoi(testing::ReadTextFile(dir.Sub("metrics.port")));

  // The CLI in its own thread: it returns after --count samples. `timeout`
  // bounds a broken CLI that would never stop (not a timing assumption).
  testing::CommandResult watched;
  std::thread watcher([&] {
    watched =
        testing::RunCommand({"/usr/bin/timeout", "120", testing::BinDir() + "/client/historian",
                             "watch", "w.*", "--count", "5", "--server=" + node.address()});
  });
  // Live once the node counts the stream.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return testing::MetricValue(testing::ScrapeMetrics(metrics_port),
                                    "historian_subscriptions") == 1;
      },
      absl::Seconds(60)));
  ASSERT_TRUE(client
                  .Write({{"w.a", {{kT0, 1.5}, {kT0 + 1000, 2.5}, {kT0 + 2000, 3.5}}},
                          {"other.x", {{kT0, 99}}}})
                  .ok());
  ASSERT_TRUE(client.CreateTag("w.b").ok());  // created after the watch began
  ASSERT_TRUE(client.Write({{"w.b", {{kT0, -7}, {kT0 + 1000, 8.25}}}}).ok());
  watcher.join();
  ASSERT_EQ(watched.exit_code, 0) << watched.err;
  std::vector<std::string> lines = absl::StrSplit(watched.out, '\n', absl::SkipEmpty());
  // One line per sample (a table header line may come first).
  std::vector<std::string> samples;
  for (const std::string& l : lines) {
    if (l.find("w.") != std::string::npos) samples.push_back(l);
  }
  ASSERT_EQ(samples.size(), 5u) << watched.out;
  const std::vector<std::pair<std::string, std::string>> want = {
      {"w.a", "1.5"}, {"w.a", "2.5"}, {"w.a", "3.5"}, {"w.b", "-7"}, {"w.b", "8.25"}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NE(samples[i].find(want[i].first), std::string::npos) << samples[i];
    EXPECT_NE(samples[i].find(want[i].second), std::string::npos) << samples[i];
  }
  EXPECT_EQ(watched.out.find("other.x"), std::string::npos) << watched.out;
  EXPECT_EQ(watched.out.find("\x1b["), std::string::npos);  // no terminal redraw
  // The stream is gone from the node, which stops cleanly.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return testing::MetricValue(testing::ScrapeMetrics(metrics_port),
                                    "historian_subscriptions") == 0;
      },
      absl::Seconds(60)));
  EXPECT_EQ(node.Stop(), 0);
}

}  // namespace
}  // namespace historian
