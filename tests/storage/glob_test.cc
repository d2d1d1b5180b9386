// GlobMatch: `*` and `?` over tag names, and patterns built to make a
// backtracking matcher explode (issue 13 item 11): they must answer, right.
#include <string>

#include "gtest/gtest.h"
#include "storage/store.h"

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

}  // namespace
}  // namespace historian
