// RocksDB's info log goes to the store's log hook, not into LOG files in the
// data dir (issue 16: they were a fifth of a small node's bytes on disk).
#include "storage/engine/rocks_info_log.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

struct Captured {
  absl::Mutex mu;
  std::vector<std::pair<LogSeverity, std::string>> lines ABSL_GUARDED_BY(mu);
  StoreLogger Hook() {
    return [this](LogSeverity s, std::string_view line) {
      absl::MutexLock l(&mu);
      lines.emplace_back(s, std::string(line));
    };
  }
};

TEST(RocksInfoLogTest, ForwardsWarningsAndErrorsAndDropsInfo) {
  Captured captured;
  auto log = std::make_shared<engine::RocksInfoLog>(captured.Hook());
  rocksdb::Log(rocksdb::InfoLogLevel::INFO_LEVEL, log, "flush %d", 1);
  rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, log, "stall %s", "writes");
  rocksdb::Log(rocksdb::InfoLogLevel::ERROR_LEVEL, log, "bad block %d", 7);
  absl::MutexLock l(&captured.mu);
  ASSERT_EQ(captured.lines.size(), 2u);
  EXPECT_EQ(captured.lines[0].first, LogSeverity::kWarning);
  EXPECT_EQ(captured.lines[0].second, "rocksdb: stall writes");
  EXPECT_EQ(captured.lines[1].first, LogSeverity::kError);
  EXPECT_EQ(captured.lines[1].second, "rocksdb: bad block 7");
}

TEST(RocksInfoLogTest, LongLinesAreCutNotOverrun) {
  Captured captured;
  auto log = std::make_shared<engine::RocksInfoLog>(captured.Hook());
  const std::string big(5000, 'x');
  rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, log, "%s", big.c_str());
  absl::MutexLock l(&captured.mu);
  ASSERT_EQ(captured.lines.size(), 1u);
  EXPECT_EQ(captured.lines[0].second, "rocksdb: " + std::string(1023, 'x'));
}

// The files RocksDB keeps in `dir` that are its info log (LOG, LOG.old.*).
std::vector<std::string> InfoLogFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("LOG", 0) == 0) out.push_back(name);
  }
  return out;
}

TEST(RocksInfoLogTest, StoreKeepsNoInfoLogFilesInItsDataDir) {
  testing::TempDir dir;
  Captured captured;
  StoreOptions o;
  o.path = dir.Sub("db");
  o.site = "us";
  o.logger = captured.Hook();
  for (int round = 0; round < 3; ++round) {  // each open used to add a LOG.old
    auto store = Store::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    auto tag = (*store)->ResolveTagForWrite("a", ValueType::kDouble);
    ASSERT_TRUE(tag.ok()) << tag.status();
    ASSERT_TRUE((*store)->Close().ok());
  }
  EXPECT_EQ(InfoLogFiles(o.path), std::vector<std::string>{});
}

}  // namespace
}  // namespace historian
