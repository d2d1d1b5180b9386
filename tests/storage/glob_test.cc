// GlobMatch: `*` and `?` over tag names, and patterns built to make a
// backtracking matcher explode (issue 13 item 11): they must answer, right.
// Catalog scans (ListTags, MatchTags) hold no store lock between slices and
// stop when asked to.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

TEST(GlobMatch, StarsAndQuestionMarks) {
  EXPECT_TRUE(GlobMatch("us.line1.*", "us.line1.temp"));
  EXPECT_FALSE(GlobMatch("us.line1.*", "us.line2.temp"));
  EXPECT_TRUE(GlobMatch("a*b?c", "axxbyc"));
  EXPECT_FALSE(GlobMatch("a*b?c", "axxbc"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("**a**", "xay"));
  EXPECT_FALSE(GlobMatch("?", ""));
  EXPECT_TRUE(GlobMatch("*.temp", "a.b.temp"));
  EXPECT_FALSE(GlobMatch("*.temp", "a.b.temp2"));
  EXPECT_TRUE(GlobMatch("a*a*a", "aaa"));
  EXPECT_FALSE(GlobMatch("a*a*a", "aa"));
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "a"));
}

TEST(GlobMatch, PathologicalPatternsAnswerRight) {
  const std::string name(4096, 'a');
  // 4 KiB of `*a`: needs 2048 a's; the name has 4096.
  std::string star_a;
  while (star_a.size() < 4096) star_a += "*a";
  EXPECT_TRUE(GlobMatch(star_a, name));
  EXPECT_FALSE(GlobMatch(star_a + "b", name));
  EXPECT_FALSE(GlobMatch(star_a, std::string(2047, 'a')));
  EXPECT_TRUE(GlobMatch(star_a, std::string(2048, 'a')));
  // `*?` runs and a tail that never matches.
  std::string star_q;
  while (star_q.size() < 4096) star_q += "*?";
  EXPECT_FALSE(GlobMatch(star_q + "x", name));
  EXPECT_TRUE(GlobMatch(star_q, name));
  // 4 MiB of `*` matches everything at once.
  EXPECT_TRUE(GlobMatch(std::string(4 << 20, '*'), name));
  EXPECT_FALSE(GlobMatch(std::string(4 << 20, '*') + "b", name));
}

class CatalogScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.path = dir_.Sub("db");
    o.site = "us";
    o.sync_writes = false;  // 600 catalog writes
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    for (int i = 0; i < kTags; ++i) {
      ASSERT_TRUE(store_->ResolveTagForWrite(Name(i), ValueType::kDouble).ok());
    }
  }
  static std::string Name(int i) {
    std::string n = std::to_string(i);
    return "scan." + std::string(4 - n.size(), '0') + n;
  }
  static constexpr int kTags = 600;  // three slices of 256
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(CatalogScanTest, ScanYieldsTheStoreBetweenSlices) {
  // Between slices the scan holds no lock: creating a tag (which takes the
  // store lock and the catalog lock as a writer) from the probe completes.
  int asked = 0;
  ListTagsResult r = store_->ListTags("scan.*", {}, "", 10000, [&] {
    if (++asked == 2) {
      EXPECT_TRUE(store_->ResolveTagForWrite("scan.9999", ValueType::kDouble).ok());
    }
    return false;
  });
  EXPECT_FALSE(r.cancelled);
  EXPECT_GE(asked, 3);
  EXPECT_EQ(r.tags.size(), static_cast<size_t>(kTags) + 1);  // the new one sorts last
  EXPECT_EQ(store_->MatchTags("scan.0?9?", 1000).size(), 60u);
}

TEST_F(CatalogScanTest, CancelledScanStops) {
  int asked = 0;
  ListTagsResult r = store_->ListTags("", {}, "", 10000, [&] { return ++asked == 2; });
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.tags.size(), 256u);  // the first slice
  auto matched = store_->MatchTags("*", 1000, [] { return true; });
  EXPECT_TRUE(matched.empty());
}

}  // namespace
}  // namespace historian
