// Tests for client/cli/args.h.
#include <string>
#include <vector>

#include "client/cli/args.h"
#include "client/cli/context.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace historian::cli {
namespace {

const std::vector<FlagSpec> kSpecs = {{"from", true}, {"attr", true}, {"bounds", false}};

absl::StatusOr<ParsedArgs> Parse(std::vector<std::string> args) { return ParseArgs(args, kSpecs); }

TEST(ParseArgsTest, FlagsAndPositionals) {
  absl::StatusOr<ParsedArgs> a =
      Parse({"t1", "--from", "-1h", "t2", "--bounds", "--attr=a=1", "--attr", "b=2", "-5"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(a->positional, ::testing::ElementsAre("t1", "t2", "-5"));
  EXPECT_EQ(*a->Get("from"), "-1h");
  EXPECT_TRUE(a->Has("bounds"));
  EXPECT_THAT(a->GetAll("attr"), ::testing::ElementsAre("a=1", "b=2"));
  EXPECT_FALSE(a->Get("missing").has_value());
}

TEST(ParseArgsTest, DoubleDashEndsFlagsAndHelpIsAlwaysKnown) {
  absl::StatusOr<ParsedArgs> a = Parse({"--", "--bounds", "-h"});
  ASSERT_TRUE(a.ok());
  EXPECT_THAT(a->positional, ::testing::ElementsAre("--bounds", "-h"));
  EXPECT_TRUE(Parse({"-h"})->Has("help"));
  EXPECT_TRUE(Parse({"x", "--help"})->Has("help"));
}

TEST(ParseArgsTest, Errors) {
  EXPECT_EQ(Parse({"--nope"}).status().message(), "unknown flag --nope");
  EXPECT_EQ(Parse({"--from"}).status().message(), "flag --from needs a value");
  EXPECT_EQ(Parse({"--bounds=1"}).status().message(), "flag --bounds takes no value");
}

TEST(ParseKeyValueTest, Splits) {
  EXPECT_EQ(ParseKeyValue("asset=line3/press2")->second, "line3/press2");
  EXPECT_EQ(ParseKeyValue("k=")->second, "");
  EXPECT_EQ(ParseKeyValue("a=b=c")->second, "b=c");
  EXPECT_FALSE(ParseKeyValue("novalue").ok());
  EXPECT_FALSE(ParseKeyValue("=v").ok());
}

TEST(GlobalFlagsTest, ServerWithoutPortGetsTheDefault) {
  const std::vector<FlagSpec> globals = GlobalFlags();
  absl::StatusOr<ParsedArgs> a = ParseArgs(
      {"--server", "historian1, 10.0.0.5:7500,[::1],[::1]:7401,unix:/run/h.sock"}, globals);
  ASSERT_TRUE(a.ok()) << a.status();
  client::ClientOptions options;
  OutputFormat format;
  ASSERT_TRUE(ApplyGlobalFlags(*a, false, &options, &format).ok());
  EXPECT_THAT(options.endpoints,
              ::testing::ElementsAre("historian1:7400", "10.0.0.5:7500", "[::1]:7400", "[::1]:7401",
                                     "unix:/run/h.sock"));
}

TEST(GlobalFlagsTest, TimeFormatAndZone) {
  const std::vector<FlagSpec> globals = GlobalFlags();
  TimeStyle style;
  ASSERT_TRUE(ApplyTimeFlags(*ParseArgs({}, globals), &style).ok());
  EXPECT_EQ(style.format, client::TimeFormat::kRfc3339);
  EXPECT_EQ(style.Format(0), "1970-01-01T00:00:00.000000000Z");
  ASSERT_TRUE(
      ApplyTimeFlags(*ParseArgs({"--time_format=ms", "--tz", "Asia/Kolkata"}, globals), &style)
          .ok());
  EXPECT_EQ(style.format, client::TimeFormat::kMillis);
  style.format = client::TimeFormat::kRfc3339;
  EXPECT_EQ(style.Format(0), "1970-01-01T05:30:00.000000000+05:30");
  EXPECT_EQ(ApplyTimeFlags(*ParseArgs({"--time_format", "s"}, globals), &style).message(),
            "--time_format: want rfc3339, ns or ms, got 's'");
  EXPECT_THAT(
      std::string(ApplyTimeFlags(*ParseArgs({"--tz", "Mars/Olympus"}, globals), &style).message()),
      ::testing::StartsWith("--tz: unknown time zone 'Mars/Olympus'"));
}

}  // namespace
}  // namespace historian::cli
