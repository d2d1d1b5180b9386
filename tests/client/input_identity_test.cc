// Unit tests of the gateway's input identity: the `input` record's text
// form, and when a stored position may be resumed.
#include "client/gateway/input_identity.h"

#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace historian::client {
namespace {

InputIdentity FileIdentity(const std::string& name, const std::string& content) {
  std::istringstream in(content);
  absl::StatusOr<InputIdentity> id = IdentifyFile(name, in);
  EXPECT_TRUE(id.ok()) << id.status();
  return id.ok() ? *id : InputIdentity();
}

// The hash CanResume gets: of the current content's first
// stored.head_bytes bytes.
uint64_t HeadHash(const std::string& content, const InputRecord& stored) {
  std::istringstream in(content);
  return *HashHead(in, stored.identity.head_bytes);
}

TEST(InputIdentityTest, RecordRoundTrips) {
  InputRecord record{FileIdentity("csv /a.csv", "tag,time,value\nx,1,2\n"), 42};
  std::optional<InputRecord> parsed = ParseInputRecord(FormatInputRecord(record));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->identity.name, "csv /a.csv");
  EXPECT_TRUE(parsed->identity.resumable);
  EXPECT_TRUE(parsed->identity.regular_file);
  EXPECT_EQ(parsed->identity.size, 21u);
  EXPECT_EQ(parsed->identity.head_bytes, 21u);
  EXPECT_EQ(parsed->identity.head_hash, record.identity.head_hash);
  EXPECT_EQ(parsed->first_sequence, 42u);

  parsed = ParseInputRecord(FormatInputRecord({NamedInput("stdin", false), 3}));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_FALSE(parsed->identity.resumable);
  EXPECT_FALSE(parsed->identity.regular_file);
}

TEST(InputIdentityTest, OlderOrDamagedRecordsAreNotRecords) {
  EXPECT_FALSE(ParseInputRecord("csv /a.csv").has_value());  // an older gateway's
  EXPECT_FALSE(ParseInputRecord("input=csv /a.csv\nresumable=1\n").has_value());
  EXPECT_FALSE(ParseInputRecord("input=csv /a.csv\nresumable=1\nfirst_sequence=x\n").has_value());
  EXPECT_FALSE(
      ParseInputRecord("input=csv /a.csv\nresumable=1\nfirst_sequence=1\nsize=3\n").has_value());
}

TEST(InputIdentityTest, HashesOnlyTheHead) {
  const std::string big(kInputHeadBytes + 100, 'x');
  std::string other = big;
  other.back() = 'y';
  const InputIdentity a = FileIdentity("csv /a", big);
  EXPECT_EQ(a.size, kInputHeadBytes + 100);
  EXPECT_EQ(a.head_bytes, kInputHeadBytes);
  EXPECT_EQ(a.head_hash, FileIdentity("csv /a", other).head_hash);
  other.front() = 'y';
  EXPECT_NE(a.head_hash, FileIdentity("csv /a", other).head_hash);
}

TEST(InputIdentityTest, ResumesTheSameOrAGrownFile) {
  const std::string content = "tag,time,value\nx,1,2\n";
  const InputRecord stored{FileIdentity("csv /a.csv", content), 5};
  const auto can_resume = [&](uint64_t position_sequence, const std::string& name,
                              const std::string& now) {
    return CanResume(stored, position_sequence, FileIdentity(name, now), HeadHash(now, stored));
  };
  EXPECT_TRUE(can_resume(5, "csv /a.csv", content));
  EXPECT_TRUE(can_resume(9, "csv /a.csv", content + "x,2,3\n"));  // grew
  // The last position was queued before this input was recorded.
  EXPECT_FALSE(can_resume(4, "csv /a.csv", content));
  EXPECT_FALSE(can_resume(0, "csv /a.csv", content));
  EXPECT_FALSE(can_resume(5, "csv /b.csv", content));                    // other path
  EXPECT_FALSE(can_resume(5, "csv /a.csv", "tag,time,value\nx,1,3\n"));  // same size
  EXPECT_FALSE(can_resume(5, "csv /a.csv", "tag,time,value\n"));         // shorter
  EXPECT_FALSE(can_resume(5, "csv /a.csv", "tag,time,value\nx,9,2\nx,2,3\n"));
}

TEST(InputIdentityTest, StreamsNeverResume) {
  const InputRecord stored{NamedInput("fifo /a.csv", false), 1};
  EXPECT_FALSE(CanResume(stored, 3, NamedInput("fifo /a.csv", false), 0));
  const InputRecord stdin_record{NamedInput("stdin", false), 1};
  EXPECT_FALSE(CanResume(stdin_record, 3, NamedInput("stdin", false), 0));
  // A regular file where a FIFO was, and the other way round.
  EXPECT_FALSE(CanResume(stored, 3, FileIdentity("fifo /a.csv", "x"), 0));
  const InputRecord file{FileIdentity("csv /a.csv", "x"), 1};
  EXPECT_FALSE(CanResume(file, 3, NamedInput("fifo /a.csv", false), 0));
}

TEST(InputIdentityTest, SimulatorResumesWithTheSameParameters) {
  const InputRecord stored{NamedInput("simulate site=s tags=3", true), 2};
  EXPECT_TRUE(CanResume(stored, 2, NamedInput("simulate site=s tags=3", true), 0));
  EXPECT_FALSE(CanResume(stored, 2, NamedInput("simulate site=s tags=4", true), 0));
  EXPECT_FALSE(CanResume(stored, 1, NamedInput("simulate site=s tags=3", true), 0));
}

}  // namespace
}  // namespace historian::client
