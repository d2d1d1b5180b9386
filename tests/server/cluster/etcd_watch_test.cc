// File: etcd_watch_test.cc
// EtcdWatcher against a real etcd: puts and deletes in revision order,
// replay from a past revision, no event missed or repeated across a cut link
// or an etcd restart, and a compacted start revision reported, not skipped.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/server/cluster/etcd_fixture.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/wait_for.h"

namespace historian::cluster {
namespace {

using Type = EtcdEvent::Type;

// "put /k=v@rev" / "del /k@rev", for readable comparisons.
std::string Describe(const EtcdEvent& e) {
  return e.type == Type::kPut
             ? absl::StrCat("put ", e.kv.key, "=", e.kv.value, "@", e.kv.mod_revision)
             : absl::StrCat("del ", e.kv.key, "@", e.kv.mod_revision);
}

std::vector<std::string> Describe(const std::vector<EtcdEvent>& events) {
  std::vector<std::string> out;
  for (const EtcdEvent& e : events) out.push_back(Describe(e));
  return out;
}

TEST_F(EtcdTest, WatchDeliversPutsAndDeletesInRevisionOrder) {
  const int64_t r0 = MustPut("/w/before", "0");
  EventLog log;
  auto watcher = client_->WatchPrefix("/w/", r0 + 1, log.Handlers());
  const int64_t r1 = MustPut("/w/a", "1");
  const int64_t r2 = MustPut("/w/b", "2");
  MustPut("/other", "not watched");
  MustPut("/w", "not under the prefix /w/");
  auto r3 = client_->Delete("/w/a");
  ASSERT_TRUE(r3.ok());
  auto txn = client_->Txn({}, {EtcdWrite::Put("/w/c", "3"), EtcdWrite::Put("/w/d", "4")});
  ASSERT_TRUE(txn.ok() && txn->committed);
  const int64_t r4 = txn->revision;

  const std::vector<std::string> want = {
      absl::StrCat("put /w/a=1@", r1), absl::StrCat("put /w/b=2@", r2),
      absl::StrCat("del /w/a@", *r3),  absl::StrCat("put /w/c=3@", r4),
      absl::StrCat("put /w/d=4@", r4),
  };
  ASSERT_TRUE(testing::WaitFor([&] { return log.size() >= want.size(); }, absl::Seconds(10)))
      << ::testing::PrintToString(Describe(log.events()));
  EXPECT_EQ(Describe(log.events()), want);
  EXPECT_TRUE(watcher->status().ok()) << watcher->status();
  EXPECT_EQ(watcher->next_revision(), r4 + 1);

  // A second watcher from the first revision replays the history, then the
  // same events.
  EventLog replay;
  auto from_start = client_->WatchPrefix("/w/", r0, replay.Handlers());
  ASSERT_TRUE(
      testing::WaitFor([&] { return replay.size() >= want.size() + 1; }, absl::Seconds(10)));
  std::vector<std::string> want_replay = {absl::StrCat("put /w/before=0@", r0)};
  want_replay.insert(want_replay.end(), want.begin(), want.end());
  EXPECT_EQ(Describe(replay.events()), want_replay);
}

TEST_F(EtcdTest, WatchFromNowSeesOnlyLaterWrites) {
  MustPut("/now/old", "x");
  EventLog log;
  auto watcher = client_->WatchPrefix("/now/", 0, log.Handlers());
  ASSERT_TRUE(testing::WaitFor([&] { return watcher->streams_created() >= 1; }, absl::Seconds(10)));
  const int64_t r = MustPut("/now/new", "y");
  ASSERT_TRUE(testing::WaitFor([&] { return log.size() >= 1; }, absl::Seconds(10)));
  EXPECT_EQ(Describe(log.events()), std::vector<std::string>{absl::StrCat("put /now/new=y@", r)});
}

// Writes made while the watcher's link is cut arrive after it heals, once
// each: the watcher resumes from the last delivered revision + 1.
TEST_F(EtcdTest, WatchResumesAfterACutLinkWithoutMissingOrRepeating) {
  testing::FaultProxy proxy(etcd_->endpoint());
  auto via_proxy = NewClient({proxy.address()});
  EventLog log;
  const int64_t r1 = MustPut("/cut/a", "1");
  auto watcher = via_proxy->WatchPrefix("/cut/", r1, log.Handlers());
  ASSERT_TRUE(testing::WaitFor([&] { return log.size() >= 1; }, absl::Seconds(10)));

  proxy.Cut();
  ASSERT_TRUE(
      testing::WaitFor([&] { return !watcher->last_stream_error().ok(); }, absl::Seconds(10)))
      << "the watcher did not notice the cut";
  // Written while the watcher cannot hear (the test's own client goes to
  // etcd directly).
  const int64_t r2 = MustPut("/cut/b", "2");
  auto r3 = client_->Delete("/cut/a");
  ASSERT_TRUE(r3.ok());
  proxy.Heal();
  const int64_t r4 = MustPut("/cut/c", "3");

  const std::vector<std::string> want = {
      absl::StrCat("put /cut/a=1@", r1), absl::StrCat("put /cut/b=2@", r2),
      absl::StrCat("del /cut/a@", *r3), absl::StrCat("put /cut/c=3@", r4)};
  ASSERT_TRUE(testing::WaitFor([&] { return log.size() >= want.size(); }, absl::Seconds(15)))
      << ::testing::PrintToString(Describe(log.events()));
  EXPECT_EQ(Describe(log.events()), want);
  EXPECT_GE(watcher->reconnects(), 1);
  EXPECT_TRUE(absl::StrContains(watcher->last_stream_error().message(), proxy.address()))
      << watcher->last_stream_error();
  EXPECT_TRUE(watcher->status().ok()) << watcher->status();
}

TEST_F(EtcdTest, WatchResumesAfterEtcdRestartsWithoutMissingEvents) {
  EventLog log;
  const int64_t r1 = MustPut("/rs/a", "1");
  auto watcher = client_->WatchPrefix("/rs/", r1, log.Handlers());
  ASSERT_TRUE(testing::WaitFor([&] { return log.size() >= 1; }, absl::Seconds(10)));

  etcd_->Stop();
  ASSERT_TRUE(
      testing::WaitFor([&] { return !watcher->last_stream_error().ok(); }, absl::Seconds(10)));
  ASSERT_TRUE(etcd_->Start());
  // A fresh client: the fixture's one may still be backing off.
  auto writer = NewClient({etcd_->endpoint()});
  auto r2 = writer->Put("/rs/b", "2");
  ASSERT_TRUE(r2.ok()) << r2.status();
  auto r3 = writer->Put("/rs/c", "3");
  ASSERT_TRUE(r3.ok()) << r3.status();

  const std::vector<std::string> want = {absl::StrCat("put /rs/a=1@", r1),
                                         absl::StrCat("put /rs/b=2@", *r2),
                                         absl::StrCat("put /rs/c=3@", *r3)};
  ASSERT_TRUE(testing::WaitFor([&] { return log.size() >= want.size(); }, absl::Seconds(15)))
      << ::testing::PrintToString(Describe(log.events()));
  EXPECT_EQ(Describe(log.events()), want);
  EXPECT_GE(watcher->reconnects(), 1);
  EXPECT_TRUE(watcher->status().ok()) << watcher->status();
}

TEST_F(EtcdTest, ACompactedStartRevisionIsReportedNotSkipped) {
  const int64_t r1 = MustPut("/cmp/k", "1");
  MustPut("/cmp/k", "2");
  const int64_t r3 = MustPut("/cmp/k", "3");
  const testing::CommandResult compact = etcd_->Ctl({"compact", std::to_string(r3)});
  ASSERT_EQ(compact.exit_code, 0) << compact.err;

  EventLog log;
  auto watcher = client_->WatchPrefix("/cmp/", r1, log.Handlers());
  ASSERT_TRUE(testing::WaitFor([&] { return log.failure().has_value(); }, absl::Seconds(10)))
      << "a watch from a compacted revision was not reported";
  const absl::Status failure = *log.failure();
  EXPECT_EQ(failure.code(), absl::StatusCode::kOutOfRange) << failure;
  EXPECT_TRUE(absl::StrContains(failure.message(), "compacted")) << failure;
  EXPECT_TRUE(absl::StrContains(failure.message(), absl::StrCat(r3))) << failure;
  EXPECT_TRUE(absl::StrContains(failure.message(), etcd_->endpoint())) << failure;
  EXPECT_EQ(watcher->status(), failure);
  EXPECT_EQ(log.size(), 0u) << "events delivered across a compaction gap";
  EXPECT_EQ(log.failures(), 1);
}

// The link is cut, the watched prefix changes and etcd compacts past the
// watcher's resume point: on reconnect the watcher reports it.
TEST_F(EtcdTest, ACompactionWhileDisconnectedIsReportedOnReconnect) {
  testing::FaultProxy proxy(etcd_->endpoint());
  auto via_proxy = NewClient({proxy.address()});
  EventLog log;
  const int64_t r1 = MustPut("/cd/k", "1");
  auto watcher = via_proxy->WatchPrefix("/cd/", r1, log.Handlers());
  ASSERT_TRUE(testing::WaitFor([&] { return log.size() >= 1; }, absl::Seconds(10)));
  proxy.Cut();
  ASSERT_TRUE(
      testing::WaitFor([&] { return !watcher->last_stream_error().ok(); }, absl::Seconds(10)));
  MustPut("/cd/k", "2");
  const int64_t r3 = MustPut("/cd/k", "3");
  ASSERT_EQ(etcd_->Ctl({"compact", std::to_string(r3)}).exit_code, 0);
  proxy.Heal();
  ASSERT_TRUE(testing::WaitFor([&] { return log.failure().has_value(); }, absl::Seconds(15)))
      << ::testing::PrintToString(Describe(log.events()));
  EXPECT_EQ(log.failure()->code(), absl::StatusCode::kOutOfRange) << *log.failure();
  EXPECT_EQ(log.size(), 1u) << "only the event before the gap";
}

}  // namespace
}  // namespace historian::cluster
