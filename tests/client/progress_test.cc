#include "client/cli/progress.h"

#include <algorithm>
#include <sstream>

#include "gtest/gtest.h"

namespace historian::cli {
namespace {

TEST(ProgressTest, DrawsOneLineAndEndsIt) {
  std::ostringstream out;
  {
    Progress p(out, "import-csv", /*enabled=*/true, std::chrono::milliseconds(0));
    p.Update(1234);
    p.Finish();
    p.Finish();  // idempotent
  }
  std::string s = out.str();
  EXPECT_EQ(s.front(), '\r');
  EXPECT_NE(s.find("import-csv: 1234 samples"), std::string::npos) << s;
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
  EXPECT_NE(s.rfind("import-csv: 1234 samples"), s.find("import-csv: 1234 samples"));  // redrawn at the end
}

TEST(ProgressTest, DisabledWhenNotATerminalPrintsNothing) {
  std::ostringstream out;
  {
    Progress p(out, "export-csv", /*enabled=*/false);
    p.Update(99);
  }
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace historian::cli
