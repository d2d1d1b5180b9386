// The node's log line format and level parsing.
#include "server/logging.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace historian::server {
namespace {

TEST(LoggingTest, LineFormat) {
  std::string line = FormatLogLine(1700000000123456789, LogLevel::kWarning, "replicator",
                                   "peer lost", {{"peer", "mx"}, {"error", "a \"b\" c"}});
  EXPECT_EQ(line,
            "2023-11-14T22:13:20.123456Z warning replicator: peer lost peer=mx "
            "error=\"a \\\"b\\\" c\"\n");
  EXPECT_EQ(FormatLogLine(0, LogLevel::kInfo, "x", "two\nlines", {{"k", ""}}),
            "1970-01-01T00:00:00.000000Z info x: two lines k=\"\"\n");
}

TEST(LoggingTest, Levels) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("WARN"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
  SetLogLevel(LogLevel::kWarning);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  SetLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace historian::server
