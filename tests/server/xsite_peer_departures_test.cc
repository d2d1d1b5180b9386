// PeerDepartures (server/xsite_peer_departures.h): the departed count a
// node's data is complete for, per peer site, survives a restart (the
// file), and an unreadable file records nothing, so every peer site's
// count differs and each gets its range sync.
#include "server/xsite_peer_departures.h"

#include <fstream>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace historian::server {
namespace {

TEST(PeerDeparturesTest, RecordedCountsSurviveARestart) {
  historian::testing::TempDir dir;
  const std::string file = dir.Sub("XSITE_PEER_DEPARTURES");
  {
    PeerDepartures d(file);
    EXPECT_EQ(d.Get("mx"), std::nullopt);
    ASSERT_TRUE(d.Record("mx", 2).ok());
    ASSERT_TRUE(d.Record("eu", 0).ok());
    ASSERT_TRUE(d.Record("mx", 3).ok());
    EXPECT_EQ(d.Get("mx"), std::optional<uint64_t>(3));
  }
  PeerDepartures again(file);
  EXPECT_EQ(again.Get("mx"), std::optional<uint64_t>(3));
  EXPECT_EQ(again.Get("eu"), std::optional<uint64_t>(0));
  EXPECT_EQ(again.Get("us"), std::nullopt);
}

TEST(PeerDeparturesTest, AnUnreadableFileRecordsNothing) {
  historian::testing::TempDir dir;
  const std::string file = dir.Sub("XSITE_PEER_DEPARTURES");
  std::ofstream(file) << "mx 2\nthis is not a count\n";
  PeerDepartures d(file);
  EXPECT_EQ(d.Get("mx"), std::nullopt);
  ASSERT_TRUE(d.Record("mx", 4).ok());
  EXPECT_EQ(PeerDepartures(file).Get("mx"), std::optional<uint64_t>(4));
}

TEST(PeerDeparturesTest, WithoutAFileTheCountsLiveInMemory) {
  PeerDepartures d("");
  ASSERT_TRUE(d.Record("mx", 1).ok());
  EXPECT_EQ(d.Get("mx"), std::optional<uint64_t>(1));
}

}  // namespace
}  // namespace historian::server
