// GlobMatch: `*` and `?` over tag names, and patterns built to make a
// backtracking matcher explode (issue 13 item 11): they must answer, right.
// Catalog scans (ListTags, MatchTags) hold no store lock between slices and
// stop when asked to.
#include <memory>
#include <random>
#include <string>
#include <vector>

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

// `*` and `?` do not stop at separators: tag names have no hierarchy for
// the matcher ('.', '/', ':' and '-' are ordinary characters).
TEST(GlobMatch, WildcardsCrossSeparators) {
  EXPECT_TRUE(GlobMatch("us.*", "us.line1.temp"));
  EXPECT_TRUE(GlobMatch("us.*.temp", "us.line1.cell2.temp"));
  EXPECT_TRUE(GlobMatch("*", "a/b:c-d.e"));
  EXPECT_TRUE(GlobMatch("a?b", "a.b"));
  EXPECT_TRUE(GlobMatch("a?b", "a/b"));
  EXPECT_TRUE(GlobMatch("plant/*:pv", "plant/area1/line2:pv"));
  EXPECT_FALSE(GlobMatch("a?b", "ab"));
  EXPECT_FALSE(GlobMatch("a?b", "a..b"));
}

// The whole name must match: no implicit prefix or suffix match.
TEST(GlobMatch, MatchesTheWholeName) {
  EXPECT_FALSE(GlobMatch("line1", "us.line1.temp"));
  EXPECT_FALSE(GlobMatch("us.line1", "us.line1.temp"));
  EXPECT_FALSE(GlobMatch("line1.temp", "us.line1.temp"));
  EXPECT_TRUE(GlobMatch("*line1*", "us.line1.temp"));
  EXPECT_FALSE(GlobMatch("us.line1.temp", "us.line1.tem"));
  EXPECT_FALSE(GlobMatch("us.line1.tem", "us.line1.temp"));
  EXPECT_TRUE(GlobMatch("us.line1.temp", "us.line1.temp"));
}

TEST(GlobMatch, IsCaseSensitive) {
  EXPECT_FALSE(GlobMatch("US.*", "us.a"));
  EXPECT_FALSE(GlobMatch("us.A", "us.a"));
  EXPECT_TRUE(GlobMatch("us.?", "us.A"));
}

// Only `*` and `?` are special: no character classes, braces or escapes
// (tag names cannot hold these characters, so such a glob matches nothing
// but the same literal text).
TEST(GlobMatch, OtherCharactersAreLiteral) {
  EXPECT_FALSE(GlobMatch("a[bc]", "ab"));
  EXPECT_TRUE(GlobMatch("a[bc]", "a[bc]"));
  EXPECT_FALSE(GlobMatch("a[!b]", "ac"));
  EXPECT_FALSE(GlobMatch("{a,b}", "a"));
  EXPECT_FALSE(GlobMatch("a+", "aa"));
  EXPECT_FALSE(GlobMatch("a.b", "axb"));  // '.' is not a regex dot
  EXPECT_FALSE(GlobMatch("^a$", "a"));
  // A backslash does not escape: `\*` is a backslash, then any run.
  EXPECT_FALSE(GlobMatch("a\\*", "a*"));
  EXPECT_TRUE(GlobMatch("a\\*", "a\\xyz"));
  EXPECT_FALSE(GlobMatch("a\\?", "a?"));
}

// Cases where the first place a literal matches after `*` is the wrong one.
TEST(GlobMatch, BacktracksPastEarlyMatches) {
  EXPECT_TRUE(GlobMatch("*ab", "aab"));
  EXPECT_TRUE(GlobMatch("*.t?mp", "a.tamp.t1mp"));
  EXPECT_TRUE(GlobMatch("*.temp", "x.temp.temp"));
  EXPECT_TRUE(GlobMatch("a*b*c", "abxbc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "abxbcx"));
  EXPECT_TRUE(GlobMatch("*aab", "aaaab"));
  EXPECT_TRUE(GlobMatch("a*?b", "axb"));
  EXPECT_FALSE(GlobMatch("a*?b", "ab"));
  EXPECT_TRUE(GlobMatch("?*", "a"));
  EXPECT_FALSE(GlobMatch("?*", ""));
  EXPECT_TRUE(GlobMatch("*?*?*", "ab"));
  EXPECT_FALSE(GlobMatch("*?*?*", "a"));
  EXPECT_TRUE(GlobMatch("*a*b", "bbbab"));
  EXPECT_FALSE(GlobMatch("*a*b", "bbba"));
}

// The textbook dynamic-programming matcher, for comparison.
bool ReferenceMatch(const std::string& glob, const std::string& name) {
  // m[i][j]: glob[0, i) matches name[0, j).
  std::vector<std::vector<bool>> m(glob.size() + 1, std::vector<bool>(name.size() + 1));
  m[0][0] = true;
  for (size_t i = 1; i <= glob.size(); ++i) {
    for (size_t j = 0; j <= name.size(); ++j) {
      const char g = glob[i - 1];
      if (g == '*') {
        m[i][j] = m[i - 1][j] || (j > 0 && m[i][j - 1]);
      } else {
        m[i][j] = j > 0 && m[i - 1][j - 1] && (g == '?' || g == name[j - 1]);
      }
    }
  }
  return m[glob.size()][name.size()];
}

TEST(GlobMatch, AgreesWithAReferenceMatcherOnRandomInputs) {
  std::mt19937 rng(15);
  const std::string glob_chars = "ab.*?";
  const std::string name_chars = "ab.";
  for (int round = 0; round < 50000; ++round) {
    std::string glob, name;
    const int glob_len = static_cast<int>(rng() % 9), name_len = static_cast<int>(rng() % 11);
    for (int k = 0; k < glob_len; ++k) glob += glob_chars[rng() % glob_chars.size()];
    for (int k = 0; k < name_len; ++k) name += name_chars[rng() % name_chars.size()];
    ASSERT_EQ(GlobMatch(glob, name), ReferenceMatch(glob, name))
        << "glob '" << glob << "' name '" << name << "'";
  }
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
