// Query.Subscribe fanned out over a real site cluster (docs/cluster.md,
// "Subscribe"): one real etcd and three real historiand nodes
// (ClusterFixture). A subscriber at any node gets the samples of every
// owner's tags, exactly once; a resume token from one node resumes at
// another with nothing missed and nothing twice; an owner that goes down
// ends the stream with UNAVAILABLE naming it. Waits are for conditions.
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/core/tag_shard.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/placement.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/subscriber.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
using testing::Subscriber;
using testing::WaitFor;
constexpr int64_t kSecond = 1000000000;
constexpr int64_t kT0 = 1767225600 * kSecond;  // 2026-01-01T00:00:00Z
const absl::Duration kPatience = absl::Seconds(30);

// (tag, timestamp, value)
using Got = std::tuple<std::string, int64_t, double>;

// What `s` received, without the origin site (every sample here is the
// site's own).
std::vector<Got> Received(Subscriber& s) {
  std::vector<Got> out;
  for (const Subscriber::Sample& g : s.samples()) {
    out.emplace_back(std::get<0>(g), std::get<1>(g), std::get<2>(g));
  }
  return out;
}

std::vector<Got> Sorted(std::vector<Got> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class ClusterSubscribeTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& flags = {}, const std::string& admin = "") {
    testing::ClusterFixtureOptions options;
    options.nodes = 3;
    options.num_shards = 64;
    options.node_flags = flags;
    options.token = admin;
    cluster_ = std::make_unique<testing::ClusterFixture>(dir_.Sub("cluster"), options);
    ASSERT_TRUE(cluster_->Start());
    ASSERT_TRUE(cluster_->Placement(0, &placement_).ok());
    for (int i = 0; i < 30; ++i) tags_.push_back(absl::StrCat("site.sub.t", i));
    for (int i = 0; i < 3; ++i) {
      int owned = 0;
      for (const auto& t : tags_) owned += OwnerNode(t) == i;
      ASSERT_GT(owned, 2) << "node " << i << " owns too few of the test's tags";
    }
  }

  int OwnerNode(const std::string& tag) const {
    const uint32_t shard = TagShard(tag, placement_.num_shards());
    const std::string& address =
        placement_.members(static_cast<int>(placement_.shard_owner(shard))).address();
    for (int i = 0; i < cluster_->size(); ++i) {
      if (cluster_->address(i) == address) return i;
    }
    return -1;
  }

  // Writes `round`'s sample of every tag through node `via` (it forwards
  // each tag to its owner); returns what was written.
  std::vector<Got> WriteRound(int round, int via, const std::string& token = "") {
    v1::WriteRequest req;
    std::vector<Got> written;
    for (size_t t = 0; t < tags_.size(); ++t) {
      v1::TagSamples* s = req.add_series();
      s->set_tag(tags_[t]);
      for (int k = 0; k < 3; ++k) {
        const int64_t ts = kT0 + (round * 10 + k) * kSecond;
        const double v = round * 1000.0 + static_cast<double>(t) + k / 10.0;
        v1::Sample* sample = s->add_samples();
        sample->set_timestamp_ns(ts);
        sample->mutable_value()->set_double_value(v);
        written.emplace_back(tags_[t], ts, v);
      }
    }
    auto stub = v1::Ingest::NewStub(
        grpc::CreateChannel(cluster_->address(via), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WriteAck ack;
    grpc::Status st = stub->WriteBatch(&ctx, req, &ack);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(ack.accepted_count(), written.size());
    return written;
  }

  // Writes one sample of each of `tags` through node `via`, timestamped
  // now (so a `lagged` range, which names times from a token on, can cover
  // it); returns what was written.
  std::vector<Got> WriteNow(const std::vector<std::string>& tags, int via, int round) {
    v1::WriteRequest req;
    std::vector<Got> written;
    const int64_t now = absl::ToUnixNanos(absl::Now());
    for (size_t t = 0; t < tags.size(); ++t) {
      const int64_t ts = now + static_cast<int64_t>(t);
      const double v = round * 1000.0 + static_cast<double>(t);
      v1::TagSamples* s = req.add_series();
      s->set_tag(tags[t]);
      v1::Sample* sample = s->add_samples();
      sample->set_timestamp_ns(ts);
      sample->mutable_value()->set_double_value(v);
      written.emplace_back(tags[t], ts, v);
    }
    auto stub = v1::Ingest::NewStub(
        grpc::CreateChannel(cluster_->address(via), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WriteAck ack;
    grpc::Status st = stub->WriteBatch(&ctx, req, &ack);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(ack.accepted_count(), written.size());
    return written;
  }

  // Gives `shard` to node `to` the way an operator does until issue 21 (a
  // PutIfModRevision on the placement key) and waits until every node
  // serves the new placement; placement_ becomes it.
  void MoveShard(uint32_t shard, int to) {
    int member = -1;
    for (int m = 0; m < placement_.members_size(); ++m) {
      if (placement_.members(m).address() == cluster_->address(to)) member = m;
    }
    ASSERT_GE(member, 0);
    v1::PlacementResponse next = placement_;
    next.set_shard_owner(static_cast<int>(shard), static_cast<uint32_t>(member));
    absl::StatusOr<cluster::Placement> encoded = cluster::Placement::FromProto(next);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    cluster::EtcdClientOptions o;
    o.endpoints = {cluster_->etcd().endpoint()};
    o.call_timeout = absl::Seconds(5);
    auto etcd = cluster::EtcdClient::Create(o);
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    auto changed = (*etcd)->PutIfModRevision("/historian/us/placement", encoded->Encode(),
                                             placement_.revision());
    ASSERT_TRUE(changed.ok()) << changed.status();
    ASSERT_TRUE(changed->committed);
    ASSERT_TRUE(cluster_->WaitForPlacement(
        [&](const v1::PlacementResponse& p) { return p.revision() == changed->revision; },
        kPatience));
    ASSERT_TRUE(cluster_->Placement(0, &placement_).ok());
  }

  // The first of the test's tags owned by node `node`.
  std::string TagOwnedBy(int node) const {
    for (const auto& t : tags_) {
      if (OwnerNode(t) == node) return t;
    }
    return "";
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ClusterFixture> cluster_;
  v1::PlacementResponse placement_;
  std::vector<std::string> tags_;
};

TEST_F(ClusterSubscribeTest, ASubscriberAtAnyNodeGetsEveryOwnersTagsOnce) {
  ASSERT_NO_FATAL_FAILURE(Start());
  for (int n = 0; n < 3; ++n) {
    SCOPED_TRACE(absl::StrCat("subscribed at node ", n));
    v1::SubscribeRequest by_glob;
    by_glob.set_glob("site.sub.*");
    v1::SubscribeRequest by_name;
    for (const auto& t : tags_) by_name.add_tags(t);
    Subscriber glob(cluster_->address(n), by_glob);
    Subscriber named(cluster_->address(n), by_name);
    ASSERT_TRUE(glob.WaitStarted(kPatience)) << glob.status().error_message();
    ASSERT_TRUE(named.WaitStarted(kPatience)) << named.status().error_message();
    // Tags created after the subscription began (round 0) and later ones.
    std::vector<Got> want = WriteRound(2 * n, (n + 1) % 3);
    std::vector<Got> more = WriteRound(2 * n + 1, (n + 2) % 3);
    want.insert(want.end(), more.begin(), more.end());
    for (Subscriber* s : {&glob, &named}) {
      EXPECT_TRUE(WaitFor([&] { return s->count() >= want.size() || s->done(); }, kPatience))
          << "got " << s->count() << " of " << want.size();
      EXPECT_FALSE(s->done()) << s->status().error_message();
      EXPECT_EQ(Sorted(Received(*s)), Sorted(want));
      EXPECT_TRUE(s->lagged().empty());
    }
  }
}

TEST_F(ClusterSubscribeTest, AResumeTokenFromOneNodeResumesAtAnotherMissingNothing) {
  ASSERT_NO_FATAL_FAILURE(Start());
  v1::SubscribeRequest req;
  req.set_glob("site.sub.*");
  std::string token;
  std::vector<Got> gap;  // written since `token` was taken, while nobody listened
  for (int hop = 0; hop < 4; ++hop) {
    const int node = hop % 3;
    SCOPED_TRACE(absl::StrCat("hop ", hop, " at node ", node));
    req.set_resume_token(token);
    {
      Subscriber s(cluster_->address(node), req);
      ASSERT_TRUE(s.WaitStarted(kPatience)) << s.status().error_message();
      std::vector<Got> want = gap;
      std::vector<Got> w = WriteRound(10 + hop, (node + 1) % 3);
      want.insert(want.end(), w.begin(), w.end());
      ASSERT_TRUE(WaitFor([&] { return s.count() >= want.size() || s.done(); }, kPatience))
          << "got " << s.count() << " of " << want.size();
      ASSERT_FALSE(s.done()) << s.status().error_message();
      // Exactly once: a duplicate or a loss fails the comparison.
      EXPECT_EQ(Sorted(Received(s)), Sorted(want));
      EXPECT_TRUE(s.lagged().empty());
      token = s.token();
    }
    gap = WriteRound(20 + hop, hop % 3);
  }
}

TEST_F(ClusterSubscribeTest, AnOwnerDownEndsTheStreamWithUnavailableNamingIt) {
  ASSERT_NO_FATAL_FAILURE(Start());
  v1::SubscribeRequest req;
  req.set_glob("site.sub.*");
  Subscriber s(cluster_->address(0), req);
  ASSERT_TRUE(s.WaitStarted(kPatience)) << s.status().error_message();
  std::vector<Got> want = WriteRound(1, 1);
  ASSERT_TRUE(WaitFor([&] { return s.count() >= want.size(); }, kPatience));
  const std::string down = cluster_->member_id(2);
  cluster_->KillNode(2);
  ASSERT_TRUE(WaitFor([&] { return s.done(); }, kPatience))
      << "the stream went on without member " << down;
  EXPECT_EQ(s.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.status().error_message().find(down), std::string::npos) << s.status().error_message();
  // A new subscription touching it is refused the same way, never fewer tags.
  Subscriber again(cluster_->address(1), req);
  ASSERT_TRUE(WaitFor([&] { return again.done(); }, kPatience));
  EXPECT_EQ(again.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(again.status().error_message().find(down), std::string::npos)
      << again.status().error_message();
  // Named tags of the live owners only: served.
  v1::SubscribeRequest live_only;
  for (const auto& t : tags_) {
    if (OwnerNode(t) != 2) live_only.add_tags(t);
  }
  Subscriber live(cluster_->address(1), live_only);
  EXPECT_TRUE(live.WaitStarted(kPatience)) << live.status().error_message();
}

TEST_F(ClusterSubscribeTest, AHungOwnerEndsANewStreamWithUnavailableNamingIt) {
  // A stopped process keeps its sockets: the coordinator's part is taken
  // but never answered, which holds the caller's first response until the
  // coordinator's transport gives up on the owner (keepalive, ~15 s), or
  // forever for an owner whose transport still answers while its handlers
  // do not. The first-response deadline ends it either way.
  ASSERT_NO_FATAL_FAILURE(Start({"--cluster_forward_timeout=2s"}));
  WriteRound(0, 0);  // node 0 has a connection to node 2 (a forwarded write)
  const std::string hung = cluster_->member_id(2);
  const pid_t pid = cluster_->node(2).pid();
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  v1::SubscribeRequest req;
  req.set_glob("site.sub.*");
  Subscriber s(cluster_->address(0), req);
  const bool ended = WaitFor([&] { return s.done(); }, kPatience);
  ASSERT_EQ(kill(pid, SIGCONT), 0);
  ASSERT_TRUE(ended) << "the stream waited for member " << hung << " without end";
  EXPECT_EQ(s.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.status().error_message(), ::testing::HasSubstr(hung));
  EXPECT_THAT(s.status().error_message(),
              ::testing::HasSubstr("no first response within 2s (--cluster_forward_timeout)"));
  EXPECT_EQ(s.responses(), 0u) << "a first response without member " << hung;
  // Answering again, it is subscribed to as before (once the coordinator's
  // connection to it works again).
  std::unique_ptr<Subscriber> again;
  ASSERT_TRUE(WaitFor(
      [&] {
        again = std::make_unique<Subscriber>(cluster_->address(0), req);
        return again->WaitStarted(kPatience);
      },
      kPatience))
      << again->status().error_message();
  std::vector<Got> want = WriteRound(1, 1);
  ASSERT_TRUE(WaitFor([&] { return again->count() >= want.size() || again->done(); }, kPatience));
  EXPECT_EQ(Sorted(Received(*again)), Sorted(want));
}

// After its first response an owner's silence is normally "no new
// samples"; its heartbeats (server/cluster/subscribe_heartbeat.h) tell that
// from a hang. A SIGSTOPped owner keeps its sockets open: the stream ends
// UNAVAILABLE naming it for its missing heartbeats, within the forward
// timeout and a half. (Without heartbeats the transport's keepalive ends
// it after ~15 s with another message; a wedged handler whose transport
// still answers pings would hold it forever.) The other members, as idle,
// are not named: their heartbeats came.
TEST_F(ClusterSubscribeTest, AnOwnerHungAfterItsFirstResponseEndsTheStreamWithUnavailable) {
  ASSERT_NO_FATAL_FAILURE(Start({"--cluster_forward_timeout=2s"}));
  v1::SubscribeRequest req;
  req.set_glob("site.sub.*");
  Subscriber s(cluster_->address(0), req);
  ASSERT_TRUE(s.WaitStarted(kPatience)) << s.status().error_message();
  std::vector<Got> want = WriteRound(0, 0);
  ASSERT_TRUE(WaitFor([&] { return s.count() >= want.size() || s.done(); }, kPatience));
  EXPECT_EQ(Sorted(Received(s)), Sorted(want)) << s.status().error_message();
  const std::string hung = cluster_->member_id(2);
  const pid_t pid = cluster_->node(2).pid();
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  const bool ended = WaitFor([&] { return s.done(); }, kPatience);
  ASSERT_EQ(kill(pid, SIGCONT), 0);
  ASSERT_TRUE(ended) << "the stream waited for member " << hung << " without end";
  EXPECT_EQ(s.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.status().error_message(), ::testing::HasSubstr(hung));
  EXPECT_THAT(s.status().error_message(),
              ::testing::HasSubstr(
                  "sent nothing, not even a heartbeat, for 2s (--cluster_forward_timeout)"));
  for (int i = 0; i < 2; ++i) {
    EXPECT_THAT(s.status().error_message(),
                ::testing::Not(::testing::HasSubstr(cluster_->member_id(i))));
  }
}

// Owners with nothing to send keep a stream open past the forward timeout
// (a bounded look: over three timeouts without a sample), their heartbeats
// are not relayed to the caller, and what comes after is delivered.
TEST_F(ClusterSubscribeTest, AnIdleStreamOutlivesTheForwardTimeout) {
  ASSERT_NO_FATAL_FAILURE(Start({"--cluster_forward_timeout=2s"}));
  v1::SubscribeRequest req;
  req.set_glob("site.sub.*");
  Subscriber s(cluster_->address(1), req);
  ASSERT_TRUE(s.WaitStarted(kPatience)) << s.status().error_message();
  const size_t responses = s.responses();
  absl::SleepFor(absl::Seconds(7));
  ASSERT_FALSE(s.done()) << s.status().error_message();
  EXPECT_EQ(s.responses(), responses) << "heartbeats reached the caller";
  std::vector<Got> want = WriteRound(0, 2);
  ASSERT_TRUE(WaitFor([&] { return s.count() >= want.size() || s.done(); }, kPatience));
  EXPECT_EQ(Sorted(Received(s)), Sorted(want)) << s.status().error_message();
}

TEST_F(ClusterSubscribeTest, ForwardedStreamsCarryTheCallersToken) {
  const std::string reader = "reader-token-0123456789abcdef";
  const std::string writer = "writer-token-0123456789abcdef";
  const std::string admin = "admin-token-0123456789abcdef0";
  const std::string token_file = dir_.Sub("tokens");
  {
    std::ofstream f(token_file);
    f << reader << " reader\n" << writer << " writer\n" << admin << " admin,reader,writer\n";
  }
  ASSERT_NO_FATAL_FAILURE(Start({"--token_file=" + token_file}, admin));
  v1::SubscribeRequest req;
  req.set_glob("site.sub.*");
  Subscriber s(cluster_->address(0), req, reader);
  ASSERT_TRUE(s.WaitStarted(kPatience)) << s.status().error_message();
  std::vector<Got> want = WriteRound(1, 2, writer);
  EXPECT_TRUE(WaitFor([&] { return s.count() >= want.size() || s.done(); }, kPatience));
  EXPECT_EQ(Sorted(Received(s)), Sorted(want)) << s.status().error_message();
  Subscriber bad(cluster_->address(0), req, "not-a-token-0123456789abcdef");
  ASSERT_TRUE(WaitFor([&] { return bad.done(); }, kPatience));
  EXPECT_EQ(bad.status().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  Subscriber wrong_role(cluster_->address(0), req, writer);
  ASSERT_TRUE(WaitFor([&] { return wrong_role.done(); }, kPatience));
  EXPECT_EQ(wrong_role.status().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// Nothing silently missing: every sample written was received, or lies in a
// `lagged` range the subscriber was given (to re-read with Read).
void ExpectReceivedOrLagged(const std::vector<Got>& written, const std::vector<Got>& received,
                            const std::vector<v1::Lagged>& lagged) {
  std::multiset<Got> got(received.begin(), received.end());
  size_t missing = 0;
  for (const Got& w : written) {
    if (got.count(w) > 0) continue;
    bool covered = false;
    for (const v1::Lagged& l : lagged) {
      covered |= std::get<1>(w) >= l.start_ns() && std::get<1>(w) <= l.end_ns();
    }
    if (!covered && ++missing <= 5) {
      ADD_FAILURE() << "silently missing: " << std::get<0>(w) << " at " << std::get<1>(w)
                    << " (neither received nor in a lagged range; " << lagged.size()
                    << " lagged notices)";
    }
  }
  EXPECT_EQ(missing, 0u);
}

// S1 (docs/cluster.md): a shard of the subscription moves to another member
// while the stream is open. The stream must end with ABORTED (its parts
// were chosen by the old owners: the moved tags' new samples would never
// reach it); a reconnect with its last token gets the moved tags' new
// samples from the new owner.
TEST_F(ClusterSubscribeTest, AShardMovingEndsTheStreamWithAbortedAndAReconnectGetsItsSamples) {
  ASSERT_NO_FATAL_FAILURE(Start());
  v1::SubscribeRequest req;
  req.set_glob("site.sub.*");
  auto s = std::make_unique<Subscriber>(cluster_->address(0), req);
  ASSERT_TRUE(s->WaitStarted(kPatience)) << s->status().error_message();
  std::vector<Got> before = WriteNow(tags_, 1, 1);
  ASSERT_TRUE(WaitFor([&] { return s->count() >= before.size() || s->done(); }, kPatience));
  ASSERT_EQ(Sorted(Received(*s)), Sorted(before)) << s->status().error_message();

  const std::string moved = TagOwnedBy(1);
  ASSERT_FALSE(moved.empty());
  const int64_t old_revision = placement_.revision();
  ASSERT_NO_FATAL_FAILURE(MoveShard(TagShard(moved, placement_.num_shards()), 2));
  ASSERT_EQ(OwnerNode(moved), 2);
  ASSERT_TRUE(WaitFor([&] { return s->done(); }, kPatience))
      << "the stream went on with the owners it was opened with";
  EXPECT_EQ(s->status().error_code(), grpc::StatusCode::ABORTED) << s->status().error_message();
  const std::string message = s->status().error_message();
  EXPECT_NE(message.find("placement"), std::string::npos) << message;
  EXPECT_NE(message.find(absl::StrCat(old_revision)), std::string::npos) << message;
  EXPECT_NE(message.find("resume_token"), std::string::npos) << message;

  req.set_resume_token(s->token());
  Subscriber again(cluster_->address(0), req);
  ASSERT_TRUE(again.WaitStarted(kPatience)) << again.status().error_message();
  std::vector<Got> after = WriteNow(tags_, 1, 2);  // `moved` now stored at node 2
  ASSERT_TRUE(WaitFor([&] { return again.count() >= after.size() || again.done(); }, kPatience))
      << "got " << again.count() << " of " << after.size() << ": "
      << again.status().error_message();
  EXPECT_EQ(Sorted(Received(again)), Sorted(after));
  EXPECT_FALSE(again.done()) << again.status().error_message();
  for (const v1::Lagged& l : again.lagged()) {
    EXPECT_NE(l.reason().find("placement changed"), std::string::npos) << l.reason();
  }
}

// S1: a token's positions were taken when node 1 owned `moved`; while
// nobody listens node 1 stores more of it, then its shard moves to node 2
// (both members named in the token). The reconnect must name the samples
// node 1 stored after the token (`lagged`) or deliver them, and then
// deliver the new owner's: never skip them silently.
TEST_F(ClusterSubscribeTest, AReconnectAfterAShardMovedBetweenTokenMembersMissesNothingSilently) {
  ASSERT_NO_FATAL_FAILURE(Start());
  v1::SubscribeRequest req;
  for (const auto& t : tags_) req.add_tags(t);
  std::string token;
  {
    Subscriber s(cluster_->address(0), req);
    ASSERT_TRUE(s.WaitStarted(kPatience)) << s.status().error_message();
    std::vector<Got> first = WriteNow(tags_, 0, 1);
    ASSERT_TRUE(WaitFor([&] { return s.count() >= first.size() || s.done(); }, kPatience));
    ASSERT_EQ(Sorted(Received(s)), Sorted(first)) << s.status().error_message();
    token = s.token();
  }
  std::vector<Got> gap = WriteNow(tags_, 1, 2);  // while nobody listens
  const std::string moved = TagOwnedBy(1);
  ASSERT_FALSE(moved.empty());
  ASSERT_NO_FATAL_FAILURE(MoveShard(TagShard(moved, placement_.num_shards()), 2));
  ASSERT_EQ(OwnerNode(moved), 2);

  req.set_resume_token(token);
  Subscriber again(cluster_->address(0), req);
  ASSERT_TRUE(again.WaitStarted(kPatience)) << again.status().error_message();
  std::vector<Got> after = WriteNow(tags_, 2, 3);
  auto has_all_after = [&] {
    std::vector<Got> got = Received(again);
    std::multiset<Got> have(got.begin(), got.end());
    for (const Got& g : after) {
      if (have.count(g) == 0) return false;
    }
    return true;
  };
  ASSERT_TRUE(WaitFor([&] { return has_all_after() || again.done(); }, kPatience))
      << again.status().error_message();
  EXPECT_FALSE(again.done()) << again.status().error_message();
  ExpectReceivedOrLagged(gap, Received(again), again.lagged());
  for (const v1::Lagged& l : again.lagged()) {
    EXPECT_NE(l.reason().find("placement changed"), std::string::npos) << l.reason();
  }
}

// A shard moves away and back while nobody listens: node 1 owns `moved`
// when the token is taken, node 2 owns it at the next revision and stores
// samples of it, then node 1 owns it again. Each member owns the same
// covered shards in the token's placement and in the current one, but
// node 2's samples of `moved` are in no part's range: the reconnect must
// deliver them or name them as lagged.
TEST_F(ClusterSubscribeTest, AShardMovedAwayAndBackIsNotSilentlyMissed) {
  ASSERT_NO_FATAL_FAILURE(Start());
  v1::SubscribeRequest req;
  for (const auto& t : tags_) req.add_tags(t);
  std::string token;
  {
    Subscriber s(cluster_->address(0), req);
    ASSERT_TRUE(s.WaitStarted(kPatience)) << s.status().error_message();
    std::vector<Got> first = WriteNow(tags_, 0, 1);
    ASSERT_TRUE(WaitFor([&] { return s.count() >= first.size() || s.done(); }, kPatience));
    ASSERT_EQ(Sorted(Received(s)), Sorted(first)) << s.status().error_message();
    token = s.token();
  }
  const std::string moved = TagOwnedBy(1);
  ASSERT_FALSE(moved.empty());
  const uint32_t shard = TagShard(moved, placement_.num_shards());
  ASSERT_NO_FATAL_FAILURE(MoveShard(shard, 2));
  std::vector<Got> away = WriteNow({moved}, 0, 2);  // stored by node 2
  ASSERT_NO_FATAL_FAILURE(MoveShard(shard, 1));
  ASSERT_EQ(OwnerNode(moved), 1);

  req.set_resume_token(token);
  Subscriber again(cluster_->address(0), req);
  ASSERT_TRUE(again.WaitStarted(kPatience)) << again.status().error_message();
  std::vector<Got> after = WriteNow(tags_, 2, 3);
  ASSERT_TRUE(WaitFor([&] { return again.count() >= after.size() || again.done(); }, kPatience))
      << again.status().error_message();
  EXPECT_FALSE(again.done()) << again.status().error_message();
  ExpectReceivedOrLagged(away, Received(again), again.lagged());
}

// A member that gains a shard of the subscription but has no position in
// the token (it owned none of its tags then) starts from now. Node 2
// stored samples of the moved shard timestamped before the token was
// issued (as it does when the coordinator learns of the move later than
// node 2: its stream kept issuing tokens meanwhile): they must be
// delivered or inside the `lagged` range, which therefore starts no later
// than when the token's placement was installed.
TEST_F(ClusterSubscribeTest, ANewOwnerWithoutAPositionIsCoveredFromTheTokensPlacement) {
  ASSERT_NO_FATAL_FAILURE(Start());
  // The placement is in force at every node from here on.
  const int64_t placement_known = absl::ToUnixNanos(absl::Now());
  v1::SubscribeRequest req;
  for (const auto& t : tags_) {
    if (OwnerNode(t) != 2) req.add_tags(t);  // node 2 is in no part
  }
  const std::string moved = TagOwnedBy(1);
  ASSERT_FALSE(moved.empty());
  std::string token;
  {
    Subscriber s(cluster_->address(0), req);
    ASSERT_TRUE(s.WaitStarted(kPatience)) << s.status().error_message();
    std::vector<std::string> named(req.tags().begin(), req.tags().end());
    std::vector<Got> first = WriteNow(named, 0, 1);
    ASSERT_TRUE(WaitFor([&] { return s.count() >= first.size() || s.done(); }, kPatience));
    ASSERT_EQ(Sorted(Received(s)), Sorted(first)) << s.status().error_message();
    token = s.token();
  }
  ASSERT_NO_FATAL_FAILURE(MoveShard(TagShard(moved, placement_.num_shards()), 2));
  // Stored by node 2, timestamped between the placement and the token.
  std::vector<Got> early;
  {
    v1::WriteRequest w;
    v1::TagSamples* series = w.add_series();
    series->set_tag(moved);
    v1::Sample* sample = series->add_samples();
    sample->set_timestamp_ns(placement_known + 1);
    sample->mutable_value()->set_double_value(42.5);
    early.emplace_back(moved, placement_known + 1, 42.5);
    auto stub = v1::Ingest::NewStub(
        grpc::CreateChannel(cluster_->address(2), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WriteAck ack;
    grpc::Status st = stub->WriteBatch(&ctx, w, &ack);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  req.set_resume_token(token);
  Subscriber again(cluster_->address(0), req);
  ASSERT_TRUE(again.WaitStarted(kPatience)) << again.status().error_message();
  std::vector<Got> after = WriteNow({moved}, 1, 3);
  ASSERT_TRUE(WaitFor([&] { return again.count() >= after.size() || again.done(); }, kPatience))
      << again.status().error_message();
  EXPECT_FALSE(again.done()) << again.status().error_message();
  ExpectReceivedOrLagged(early, Received(again), again.lagged());
}

}  // namespace
}  // namespace historian
