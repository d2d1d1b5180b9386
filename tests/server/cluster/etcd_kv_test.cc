// File: etcd_kv_test.cc
// EtcdClient against a real etcd: KV round trips, compare-and-swap
// conflicts (including two writers racing on one revision), etcd down and
// failover between endpoints.
#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/synchronization/barrier.h"
#include "tests/server/cluster/etcd_fixture.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/wait_for.h"

namespace historian::cluster {
namespace {

TEST(EtcdPrefixEnd, IncrementsTheLastByteBelowFF) {
  EXPECT_EQ(EtcdPrefixEnd("/a/"), "/a0");
  EXPECT_EQ(EtcdPrefixEnd("a\xff"), "b");
  EXPECT_EQ(EtcdPrefixEnd(""), std::string(1, '\0'));
  EXPECT_EQ(EtcdPrefixEnd("\xff\xff"), std::string(1, '\0'));
}

TEST(EtcdClientCreate, RejectsAnEmptyEndpointList) {
  EXPECT_EQ(EtcdClient::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
  EtcdClientOptions options;
  options.endpoints = {""};
  EXPECT_EQ(EtcdClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EtcdTest, PutGetDeleteRoundTrip) {
  const int64_t r1 = MustPut("/t/a", "1");
  auto got = client_->Get("/t/a");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].key, "/t/a");
  EXPECT_EQ(got->kvs[0].value, "1");
  EXPECT_EQ(got->kvs[0].mod_revision, r1);
  EXPECT_EQ(got->kvs[0].create_revision, r1);
  EXPECT_EQ(got->kvs[0].version, 1);
  EXPECT_EQ(got->revision, r1);

  const int64_t r2 = MustPut("/t/a", "2");
  EXPECT_GT(r2, r1);
  got = client_->Get("/t/a");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "2");
  EXPECT_EQ(got->kvs[0].version, 2);
  EXPECT_EQ(got->kvs[0].create_revision, r1);

  // Keys and values are bytes.
  const std::string binary_key("/t/\0\xff", 5);
  const std::string binary_value("\0\x01\xfe", 3);
  MustPut(binary_key, binary_value);
  got = client_->Get(binary_key);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, binary_value);

  auto deleted = client_->Delete("/t/a");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_GT(*deleted, r2);
  got = client_->Get("/t/a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->kvs.empty());
  EXPECT_EQ(got->revision, *deleted);
  // Deleting an absent key is fine.
  EXPECT_TRUE(client_->Delete("/t/never").ok());
}

TEST_F(EtcdTest, GetPrefixReturnsOnlyThePrefixSortedAtOneRevision) {
  MustPut("/p/b", "b");
  MustPut("/p/a", "a");
  MustPut("/p/c/deep", "c");
  MustPut("/pz", "outside");
  const int64_t last = MustPut("/q", "outside");
  auto range = client_->GetPrefix("/p/");
  ASSERT_TRUE(range.ok()) << range.status();
  ASSERT_EQ(range->kvs.size(), 3u);
  EXPECT_EQ(range->kvs[0].key, "/p/a");
  EXPECT_EQ(range->kvs[1].key, "/p/b");
  EXPECT_EQ(range->kvs[2].key, "/p/c/deep");
  EXPECT_EQ(range->revision, last);
}

TEST_F(EtcdTest, CasOnAStaleRevisionIsAConflictCarryingTheCurrentValue) {
  const int64_t r1 = MustPut("/cas/k", "v1");
  const int64_t r2 = MustPut("/cas/k", "v2");
  auto outcome = client_->PutIfModRevision("/cas/k", "v3", r1);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_FALSE(outcome->committed);
  ASSERT_EQ(outcome->current.size(), 1u);
  EXPECT_EQ(outcome->current[0].value, "v2");
  EXPECT_EQ(outcome->current[0].mod_revision, r2);

  outcome = client_->PutIfModRevision("/cas/k", "v3", r2);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->committed);
  EXPECT_GT(outcome->revision, r2);
  EXPECT_TRUE(outcome->current.empty());
  EXPECT_EQ(client_->Get("/cas/k")->kvs[0].value, "v3");

  // Create-if-absent: only the first one.
  outcome = client_->CreateIfAbsent("/cas/new", "first");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->committed);
  outcome = client_->CreateIfAbsent("/cas/new", "second");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_FALSE(outcome->committed);
  ASSERT_EQ(outcome->current.size(), 1u);
  EXPECT_EQ(outcome->current[0].value, "first");
  // mod_revision 0 means "absent" too.
  outcome = client_->PutIfModRevision("/cas/absent", "x", 0);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->committed);
}

TEST_F(EtcdTest, TxnAppliesEveryWriteAtOneRevisionOrNone) {
  const int64_t r = MustPut("/txn/guard", "g");
  MustPut("/txn/old", "x");
  auto outcome = client_->Txn({EtcdCompare::ModRevisionIs("/txn/guard", r)},
                              {EtcdWrite::Put("/txn/a", "1"), EtcdWrite::Put("/txn/b", "2"),
                               EtcdWrite::Delete("/txn/old")});
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_TRUE(outcome->committed);
  auto range = client_->GetPrefix("/txn/");
  ASSERT_TRUE(range.ok()) << range.status();
  ASSERT_EQ(range->kvs.size(), 3u);  // a, b, guard
  EXPECT_EQ(range->kvs[0].mod_revision, outcome->revision);
  EXPECT_EQ(range->kvs[1].mod_revision, outcome->revision);

  // A failing guard among several: nothing is written.
  outcome = client_->Txn({EtcdCompare::ValueIs("/txn/a", "1"), EtcdCompare::VersionIs("/txn/b", 7)},
                         {EtcdWrite::Put("/txn/a", "changed")});
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_FALSE(outcome->committed);
  EXPECT_EQ(outcome->current.size(), 2u);
  EXPECT_EQ(client_->Get("/txn/a")->kvs[0].value, "1");
}

// Two writers read the same revision and both try to replace it: etcd lets
// exactly one through, every round; the loser sees the winner's write.
TEST_F(EtcdTest, OfTwoWritersRacingOnOneRevisionExactlyOneWins) {
  auto second = NewClient({etcd_->endpoint()});
  const EtcdClient* clients[2] = {client_.get(), second.get()};
  for (int round = 0; round < 20; ++round) {
    const std::string key = "/race/k";
    const int64_t base = MustPut(key, "base" + std::to_string(round));
    absl::Barrier* start = new absl::Barrier(2);  // deleted by its last waiter
    absl::StatusOr<EtcdTxnOutcome> outcomes[2];
    std::thread writers[2];
    for (int w = 0; w < 2; ++w) {
      writers[w] = std::thread([&, w] {
        if (start->Block()) delete start;
        outcomes[w] = clients[w]->PutIfModRevision(key, "writer" + std::to_string(w), base);
      });
    }
    for (auto& t : writers) t.join();
    ASSERT_TRUE(outcomes[0].ok()) << outcomes[0].status();
    ASSERT_TRUE(outcomes[1].ok()) << outcomes[1].status();
    ASSERT_NE(outcomes[0]->committed, outcomes[1]->committed) << "round " << round;
    const int winner = outcomes[0]->committed ? 0 : 1;
    const EtcdTxnOutcome& lost = *outcomes[1 - winner];
    ASSERT_EQ(lost.current.size(), 1u);
    EXPECT_EQ(lost.current[0].value, "writer" + std::to_string(winner));
    EXPECT_EQ(lost.current[0].mod_revision, outcomes[winner]->revision);
    EXPECT_EQ(client_->Get(key)->kvs[0].value, "writer" + std::to_string(winner));
  }
}

TEST_F(EtcdTest, EtcdDownFailsWithUnavailableNamingTheEndpoint) {
  MustPut("/down/k", "v");
  etcd_->Stop();
  for (const absl::Status& status :
       {client_->Get("/down/k").status(), client_->Put("/down/k", "w").status(),
        client_->CreateIfAbsent("/down/x", "w").status(), client_->GrantLease(5).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), etcd_->endpoint())) << status;
  }
  // Back up: the same client works again (its channel reconnects, or is
  // replaced after EtcdEndpoints::kRecycleAfter).
  ASSERT_TRUE(etcd_->Start());
  ASSERT_TRUE(testing::WaitFor([&] { return client_->Get("/down/k").ok(); }, absl::Seconds(15)))
      << client_->Get("/down/k").status();
  auto got = client_->Get("/down/k");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "v");
}

TEST_F(EtcdTest, FailsOverFromADeadEndpointToALiveOne) {
  const std::string dead = "127.0.0.1:" + std::to_string(testing::FreePort());
  auto client = NewClient({dead, etcd_->endpoint()});
  MustPut("/fo/k", "v");
  auto got = client->Get("/fo/k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->kvs[0].value, "v");
  auto put = client->Put("/fo/k", "w");
  ASSERT_TRUE(put.ok()) << put.status();

  // Both down: the error names both.
  etcd_->Stop();
  const absl::Status status = client->Get("/fo/k").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(status.message(), dead)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), etcd_->endpoint())) << status;
}

}  // namespace
}  // namespace historian::cluster
