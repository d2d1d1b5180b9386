// No dead log on disk (issue 16), through a real historiand and the
// `historian` CLI: a set imported with `historian import-csv`, then
// `historian compact` and a clean stop (SIGTERM), must leave the data dir
// within 1.2x of its quiet size (after a restart, another compact and stop).
// Before the log reclaim, the trimmed log entries stayed in the log column
// family's SST files and in the WAL: 2-4x the quiet size.
//
// Sizes, not timing. RocksDB's info logs (LOG, LOG.old.*) are not counted:
// they are text, not data, and one more is kept at every restart.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace fs = std::filesystem;

// Bytes of every file under `dir` except RocksDB's info logs.
uint64_t DataBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name == "LOG" || name.rfind("LOG.old", 0) == 0) continue;
    total += e.file_size();
  }
  return total;
}

// `tags` tags x `seconds` s at 1 Hz: a random walk in hundredths, so the
// log entries and the chunks cost about the same (as plant data does).
void WriteCsv(const std::string& path, int tags, int seconds) {
  std::ofstream out(path);
  out << "tag,time,value,quality\n";
  std::mt19937_64 rng(16);
  std::uniform_int_distribution<int> step(-40, 40);
  const int64_t start = int64_t{1795428000} * 1000000000;
  for (int t = 0; t < tags; ++t) {
    int64_t v = 50000;
    for (int s = 0; s < seconds; ++s) {
      v += step(rng);
      out << absl::StrFormat("dead.log.t%03d,%d,%d.%02d,0\n", t, start + s * int64_t{1000000000},
                             v / 100, v % 100);
    }
  }
}

testing::CommandResult Cli(const testing::NodeProcess& node, const std::string& verb,
                           const std::string& arg = "") {
  std::vector<std::string> argv = {"historian", "--server", node.address(), verb};
  if (!arg.empty()) argv.push_back(arg);
  return testing::RunCommand(argv);
}

TEST(DeadLogDiskTest, CompactAndStopLeaveTheDataDirNearItsQuietSize) {
  testing::TempDir dir;
  const std::string csv = dir.Sub("set.csv");
  WriteCsv(csv, 200, 1800);
  const std::string data = dir.Sub("data");
  uint64_t after_stop = 0, quiet = 0;
  {
    testing::NodeProcess node(data, {"--sync_writes=false"});
    ASSERT_TRUE(node.Start());
    testing::CommandResult r = Cli(node, "import-csv", csv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = Cli(node, "compact");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(node.Stop(), 0);
    after_stop = DataBytes(data);
  }
  {
    testing::NodeProcess node(data, {"--sync_writes=false"});
    ASSERT_TRUE(node.Start());
    // Everything is still there.
    testing::CommandResult r = Cli(node, "latest", "dead.log.t199");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("2026-11-23T10:29:59"), std::string::npos) << r.out;
    r = Cli(node, "compact");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(node.Stop(), 0);
    quiet = DataBytes(data);
  }
  std::printf("after import, compact and stop: %llu bytes; quiet: %llu bytes\n",
              static_cast<unsigned long long>(after_stop), static_cast<unsigned long long>(quiet));
  ASSERT_GT(quiet, 0u);
  EXPECT_LE(static_cast<double>(after_stop), 1.2 * static_cast<double>(quiet))
      << "after import, compact and stop: " << after_stop << " bytes; quiet: " << quiet;
}

// WAL bytes under `dir` (the *.log files; RocksDB's info log is LOG).
uint64_t WalBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".log") total += e.file_size();
  }
  return total;
}

// A plain stop (no compact) leaves no WAL and no log SST bytes: the final
// trim's entries are compacted away and every memtable flushed.
TEST(DeadLogDiskTest, AStopLeavesNoWalAndNoLogFiles) {
  testing::TempDir dir;
  const std::string csv = dir.Sub("set.csv");
  WriteCsv(csv, 200, 1800);
  const std::string data = dir.Sub("data");
  {
    testing::NodeProcess node(data, {"--sync_writes=false"});
    ASSERT_TRUE(node.Start());
    testing::CommandResult r = Cli(node, "import-csv", csv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(node.Stop(), 0);
  }
  EXPECT_EQ(WalBytes(data), 0u);
  testing::NodeProcess node(data, {"--sync_writes=false"});
  ASSERT_TRUE(node.Start());
  // An open with no WAL to replay writes no file: stats show the stop's.
  testing::CommandResult r = Cli(node, "stats");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string log_row;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StartsWith(line, "log ")) log_row = std::string(line);
  }
  std::vector<std::string> cols = absl::StrSplit(log_row, ' ', absl::SkipEmpty());
  ASSERT_GE(cols.size(), 3u) << r.out;
  EXPECT_EQ(cols[1] + " " + cols[2], "0 B") << "log column family after a stop: " << log_row;
  r = Cli(node, "latest", "dead.log.t199");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2026-11-23T10:29:59"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace historian
