// The on-disk format is pinned: a data dir written by make_fixture (see
// tests/fixtures/README.md) is checked in with its read-back (golden file);
// today's code must open a copy of it and read back exactly the same, also
// after it has sealed and compacted the data and reopened it, and a real
// historiand must serve the same samples from it.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/query.grpc.pb.h"
#include "rocksdb/db.h"
#include "storage/engine/key_format.h"
#include "storage/engine/rocks_db.h"
#include "storage/engine/rollup_day.h"
#include "storage/store.h"
#include "tests/fixtures/fixture_dump.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;

// HISTORIAN_FIXTURE_DIR is set by tests/storage/CMakeLists.txt.
std::string FixtureDir() { return HISTORIAN_FIXTURE_DIR; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A clock after every timestamp of the fixture; nothing expires by it.
int64_t Now() { return fixture::kT0 + 5 * fixture::kHour; }

class FormatFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    golden_ = ReadFile(FixtureDir() + "/datadir_v1.golden.txt");
    ASSERT_FALSE(golden_.empty()) << "missing " << FixtureDir() << "/datadir_v1.golden.txt";
    // Opening a RocksDB dir writes to it: always work on a copy.
    const std::string cmd =
        absl::StrCat("tar -xzf '", FixtureDir(), "/datadir_v1.tar.gz' -C '", dir_.path(), "'");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    data_ = dir_.Sub("datadir");
  }

  std::unique_ptr<Store> Open() {
    auto s = Store::Open(fixture::FixtureOptions(data_, Now));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  std::string Dump(const Store& store) {
    absl::StatusOr<std::string> d = fixture::DumpStore(store);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : "";
  }

  testing::TempDir dir_;
  std::string golden_;
  std::string data_;
};

TEST_F(FormatFixtureTest, OpensAndReadsBackTheGolden) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Dump(*store), golden_);

  // The dedupe entries of client "gw" survived: its batches are duplicates.
  for (uint64_t seq : {uint64_t{1}, uint64_t{6}}) {
    WriteInput in;
    in.client_id = "gw";
    in.batch_seq = seq;
    absl::StatusOr<WriteResult> r = store->Write(std::move(in));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->duplicate) << "batch_seq " << seq;
  }
}

TEST_F(FormatFixtureTest, SameDataAfterTheNodeRewritesIt) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->SealAll().ok());
  ASSERT_TRUE(store->Compact().ok());
  // The head was sealed and the overlap the fixture left was rewritten.
  EXPECT_GT(store->Stats().chunks_sealed, 0u);
  EXPECT_GT(store->Stats().chunks_rewritten, 0u);
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  store = Open();
  ASSERT_NE(store, nullptr);
  const std::string dump = Dump(*store);
  EXPECT_EQ(fixture::DropHeadLines(dump), fixture::DropHeadLines(golden_));
  EXPECT_NE(dump.find("head head_samples=0 head_tags=0\n"), std::string::npos) << dump;
}

// The "s" lines of tag `name` in the golden file: "ts value q=quality".
std::vector<std::string> GoldenSamples(const std::string& golden, const std::string& name) {
  std::vector<std::string> out;
  bool in_tag = false;
  for (absl::string_view line : absl::StrSplit(golden, '\n')) {
    if (absl::StartsWith(line, "tag ")) in_tag = absl::StartsWith(line, "tag " + name + " ");
    if (in_tag && absl::StartsWith(line, "  s ")) {
      std::vector<absl::string_view> f = absl::StrSplit(line.substr(4), ' ');
      out.push_back(absl::StrCat(f[0], " ", f[1], " ", f[2]));
    }
  }
  return out;
}

TEST_F(FormatFixtureTest, HistoriandServesTheSameSamples) {
  testing::NodeProcess node(data_, {absl::StrCat("--site=", fixture::kSite)});
  ASSERT_TRUE(node.Start());
  auto channel = grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials());
  auto query = v1::Query::NewStub(channel);
  for (const std::string tag : {"plant.temp", "plant.flow"}) {
    v1::ReadRequest req;
    req.add_tags(tag);
    req.set_start_ns(0);
    req.set_end_ns(fixture::kT0 + 10 * fixture::kHour);
    std::vector<std::string> got;
    while (true) {
      grpc::ClientContext ctx;
      auto reader = query->Read(&ctx, req);
      v1::ReadResponse resp;
      std::string token;
      while (reader->Read(&resp)) {
        for (const v1::Sample& s : resp.samples()) {
          got.push_back(absl::StrFormat("%d %.17g q=%d", s.timestamp_ns(), s.value().double_value(),
                                        s.quality()));
        }
        if (!resp.continuation_token().empty()) token = resp.continuation_token();
      }
      grpc::Status st = reader->Finish();
      ASSERT_TRUE(st.ok()) << st.error_message();
      if (token.empty()) break;
      req.set_continuation_token(token);
    }
    const std::vector<std::string> want = GoldenSamples(golden_, tag);
    ASSERT_FALSE(want.empty());
    EXPECT_EQ(got, want) << tag;
  }
  EXPECT_EQ(node.Stop(), 0);
}

// The golden as read back once the migration dropped the hours below
// `min_samples` and then the days whose remaining hours hold fewer than
// `min_day` samples (both are read raw instead); `dropped_hours` and
// `dropped_days` count them.
std::string GoldenThatPays(const std::string& golden, uint64_t min_samples, uint64_t min_day,
                           int* dropped_hours, int* dropped_days) {
  constexpr int64_t kDay = int64_t{86400} * 1000000000;
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(golden, '\n', absl::SkipEmpty())) {
    lines.emplace_back(line);
  }
  auto count_of = [](const std::string& line) -> uint64_t {
    const size_t at = line.find(" count=");
    if (!absl::StartsWith(line, "  rollup ") || at == std::string::npos) return 0;
    return std::strtoull(line.c_str() + at + 7, nullptr, 10);
  };
  auto day_of = [&](const std::string& line) {
    const int64_t hour = std::strtoll(line.c_str() + 9, nullptr, 10);
    return hour - hour % kDay;
  };
  // Per tag block (a line without indent starts one), the day totals.
  std::vector<int> block(lines.size());
  std::map<std::pair<int, int64_t>, uint64_t> totals;
  int b = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!absl::StartsWith(lines[i], " ")) ++b;
    block[i] = b;
    const uint64_t n = count_of(lines[i]);
    if (n >= min_samples) totals[{b, day_of(lines[i])}] += n;
  }
  std::string want;
  std::map<std::pair<int, int64_t>, bool> day_dropped;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (absl::StartsWith(lines[i], "  rollup ") && count_of(lines[i]) < min_samples) {
      ++*dropped_hours;
      continue;
    }
    if (absl::StartsWith(lines[i], "  rollup ") && totals[{block[i], day_of(lines[i])}] < min_day) {
      day_dropped[{block[i], day_of(lines[i])}] = true;
      continue;
    }
    absl::StrAppend(&want, lines[i], "\n");
  }
  *dropped_days = static_cast<int>(day_dropped.size());
  return want;
}

// Issue 16: the fixture predates day records (schema 1: one rollup key per
// tag and hour). Open migrates them to day records and marks the dir schema
// 2; with the default rollup_min_samples and a day threshold some of its
// days pass and some do not (150: days of 120, 150 and 170 samples), the
// read-back is the golden without the hours too small to pay for a rollup
// and without the days too small to pay for a record, which are read raw
// instead.
TEST_F(FormatFixtureTest, HourRollupsBecomeDayRecordsOfTheHoursThatPay) {
  StoreOptions o = fixture::FixtureOptions(data_, Now);
  o.rollup_min_samples = engine::kDefaultRollupMinSamples;
  o.rollup_min_day_samples = 150;
  {
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    int dropped_hours = 0, dropped_days = 0;
    const std::string want = GoldenThatPays(golden_, o.rollup_min_samples, o.rollup_min_day_samples,
                                            &dropped_hours, &dropped_days);
    EXPECT_GT(dropped_hours, 0);
    EXPECT_GT(dropped_days, 0);
    EXPECT_NE(want.find("  rollup "), std::string::npos);  // some days pass
    EXPECT_EQ(Dump(**s), want);
    ASSERT_TRUE((*s)->Close().ok());
  }
  auto db = engine::RocksDb::Open(data_);
  ASSERT_TRUE(db.ok()) << db.status();
  std::string version;
  ASSERT_TRUE((*db)
                  ->db()
                  ->Get(rocksdb::ReadOptions(), (*db)->state(), engine::kSchemaVersionKey, &version)
                  .ok());
  EXPECT_EQ(version, engine::kSchemaVersion);
  std::unique_ptr<rocksdb::Iterator> it(
      (*db)->db()->NewIterator(rocksdb::ReadOptions(), (*db)->rollups()));
  int keys = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++keys) {
    EXPECT_EQ(engine::ParseRollupKey({it->key().data(), it->key().size()}).width,
              engine::kRollupDay);
  }
  EXPECT_GT(keys, 0);
}

// With the default thresholds none of the fixture's days (at most 170
// samples in hours that pay) keeps a record: all of it is read raw.
TEST_F(FormatFixtureTest, DefaultThresholdsLeaveTheFixtureNoDayRecord) {
  StoreOptions o = fixture::FixtureOptions(data_, Now);
  o.rollup_min_samples = engine::kDefaultRollupMinSamples;
  o.rollup_min_day_samples = engine::kDefaultRollupMinDaySamples;
  auto s = Store::Open(o);
  ASSERT_TRUE(s.ok()) << s.status();
  int dropped_hours = 0, dropped_days = 0;
  const std::string want = GoldenThatPays(golden_, o.rollup_min_samples, o.rollup_min_day_samples,
                                          &dropped_hours, &dropped_days);
  EXPECT_EQ(want.find("  rollup "), std::string::npos);
  EXPECT_EQ(Dump(**s), want);
  ASSERT_TRUE((*s)->Close().ok());
}

}  // namespace
}  // namespace historian
