// File: cluster_move_test.cc
// Issue 21 through real processes (a real etcd, real historiand nodes, the
// real `historian` CLI): shards move between nodes under write load and no
// acknowledged sample is lost, duplicated or resurrected
// (docs/cluster.md, "Moving shards", "The mover").
//
// - Scale up, down and up again under load, the removed node keeping its
//   data dir: after each change every tag reads exactly the model of the
//   acknowledged writes through every node, a tag deleted while the node
//   was out stays deleted and a tag overwritten meanwhile reads the new
//   values (the M3DB 4103 failure).
// - A kill -9 of the source, the target or etcd while a move is held at
//   each step by the test hook (--cluster_move_test_pause): once everything
//   runs again without the hook, the move ends and every acknowledged
//   sample reads back once.
// - A source cut off from etcd mid-move refuses writes of the shard it
//   hands over once its lease may have run out, takes them again once it
//   reaches etcd, and loses nothing.
//
// The writer sends every batch to a node (round robin) until one answers
// OK (the same client_id and batch_sequence on each retry); UNAVAILABLE
// and ABORTED during a handover or while a node is down, and CANCELLED
// from a node stopping, are retried. Its
// model holds every batch answered OK.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/core/tag_shard.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/cluster/cluster_keys.h"
#include "server/cluster/etcd/etcd_client.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/metrics_text.h"
#include "tests/testutil/tag_reads.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {
namespace {

constexpr int64_t kT0 = 1795428000000000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSecond = 1000000000;
constexpr int kTags = 24;

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

std::string TagName(int t) { return absl::StrCat("move.line", t % 3, ".t", t); }

using Model = std::map<std::string, std::map<int64_t, double>>;

// Writes batches k = 1, 2, ... (every tag one sample at kT0 + (first + k)
// s) until told to stop; each batch is retried on the next node until one
// answers OK. Each writer has a client id and timestamps of its own (a
// client id reused for other samples would be answered `duplicate`).
class Writer {
 public:
  Writer(std::vector<std::string> addresses, int id)
      : addresses_(std::move(addresses)),
        client_id_(absl::StrCat("move-test-writer-", id)),
        first_(int64_t{id} * 100000) {}
  ~Writer() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  // Stops after the batch in flight is acknowledged.
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t acked() const { return acked_.load(); }
  // Waits until `n` more batches were acknowledged than now.
  bool WaitForMore(int64_t n) {
    const int64_t target = acked() + n;
    return WaitFor([&] { return acked() >= target || failed_; }, absl::Seconds(120)) && !failed_;
  }
  Model model() const {
    absl::MutexLock l(&mu_);
    return model_;
  }
  // Wall time of the last acknowledged batch.
  absl::Time last_ack_time() const {
    absl::MutexLock l(&mu_);
    return last_ack_time_;
  }
  // Leaves `tag` out of the batches made from now on. A batch made before
  // may still be in flight and store the tag after this returns: wait for
  // one more ack (WaitForMore(1)) before deleting it.
  void Forget(const std::string& tag) {
    absl::MutexLock l(&mu_);
    skipped_.insert(tag);
    model_.erase(tag);
  }
  bool failed() const { return failed_; }
  std::string last_error() const {
    absl::MutexLock l(&mu_);
    return last_error_;
  }

 private:
  void Run() {
    for (int64_t k = 1; !stop_; ++k) {
      v1::WriteRequest batch;
      batch.set_client_id(client_id_);
      batch.set_batch_sequence(static_cast<uint64_t>(k));
      std::map<std::string, double> values;
      {
        absl::MutexLock l(&mu_);
        for (int t = 0; t < kTags; ++t) {
          const std::string tag = TagName(t);
          if (skipped_.count(tag)) continue;
          values[tag] = 1000.0 * t + static_cast<double>(k);
        }
      }
      for (const auto& [tag, v] : values) {
        v1::TagSamples* s = batch.add_series();
        s->set_tag(tag);
        v1::Sample* sample = s->add_samples();
        sample->set_timestamp_ns(kT0 + (first_ + k) * kSecond);
        sample->mutable_value()->set_double_value(v);
      }
      const absl::Time give_up = absl::Now() + absl::Minutes(3);
      for (size_t attempt = 0;; ++attempt) {
        const std::string& address = addresses_[(k + attempt) % addresses_.size()];
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        v1::WriteAck ack;
        grpc::Status s = v1::Ingest::NewStub(Channel(address))->WriteBatch(&ctx, batch, &ack);
        if (s.ok()) break;
        {
          absl::MutexLock l(&mu_);
          last_error_ = absl::StrCat(address, ": ", s.error_code(), " ", s.error_message());
        }
        const bool retryable = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                               s.error_code() == grpc::StatusCode::ABORTED ||
                               s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                               // A node stopping ends the calls in flight.
                               s.error_code() == grpc::StatusCode::CANCELLED;
        if (!retryable || absl::Now() > give_up) {
          failed_ = true;
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      absl::MutexLock l(&mu_);
      for (const auto& [tag, v] : values) model_[tag][kT0 + (first_ + k) * kSecond] = v;
      last_ack_time_ = absl::Now();
      acked_ = k;
    }
  }

  const std::vector<std::string> addresses_;
  const std::string client_id_;
  const int64_t first_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> acked_{0};
  mutable absl::Mutex mu_;
  Model model_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ack_time_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> skipped_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Every sample of `tag` through node `address` (the cluster's answer), in
// the order read: a timestamp twice would show as two rows.
grpc::Status ReadAll(const std::string& address, const std::string& tag,
                     std::vector<std::pair<int64_t, double>>* out) {
  return ReadTagSamples(address, tag, kT0, kT0 + 400000 * kSecond, out);  // every writer's
}

// Every tag reads exactly `model` through every running node; a tag not in
// the model reads NOT_FOUND or nothing.
void ExpectModel(ClusterFixture& cluster, const Model& model, const std::string& when) {
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.node(i).pid() <= 0) continue;
    for (int t = 0; t < kTags; ++t) {
      const std::string tag = TagName(t);
      std::vector<std::pair<int64_t, double>> got;
      grpc::Status s;
      // A member just started again may still be in a node's reconnect
      // backoff (at most 1 s): its part is UNAVAILABLE, the whole read
      // fails loudly, and a client retries.
      WaitFor(
          [&] {
            got.clear();
            s = ReadAll(cluster.address(i), tag, &got);
            return s.error_code() != grpc::StatusCode::UNAVAILABLE;
          },
          absl::Seconds(30));
      auto it = model.find(tag);
      if (it == model.end()) {
        EXPECT_TRUE(s.error_code() == grpc::StatusCode::NOT_FOUND || (s.ok() && got.empty()))
            << when << ": " << tag << " through node " << i << " must stay deleted; read "
            << got.size() << " samples, status " << s.error_message();
        continue;
      }
      ASSERT_TRUE(s.ok()) << when << ": " << tag << " through node " << i << ": "
                          << s.error_message();
      std::vector<std::pair<int64_t, double>> want(it->second.begin(), it->second.end());
      ASSERT_EQ(got.size(), want.size())
          << when << ": " << tag << " through node " << i << " (samples lost or duplicated)";
      EXPECT_EQ(got, want) << when << ": " << tag << " through node " << i;
    }
  }
}

// -2 when absent (some gauges are -1 for "none").
double MetricOf(int port, const std::string& name) {
  return MetricValue(ScrapeMetrics(port), name).value_or(-2);
}

// Admin.Compact on every node: what was written so far is sealed, so the
// moves copy sealed chunks and rollups as well as heads.
void SealEverything(ClusterFixture& cluster) {
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.node(i).pid() <= 0) continue;
    grpc::ClientContext ctx;
    v1::CompactRequest request;
    v1::CompactResponse response;
    grpc::Status s =
        v1::Admin::NewStub(Channel(cluster.address(i)))->Compact(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << "node " << i << ": " << s.error_message();
  }
}

bool NoMoves(const v1::PlacementResponse& p) { return p.moves_size() == 0; }

int NodeOfMember(ClusterFixture& cluster, const v1::PlacementResponse& p, uint32_t member) {
  for (int i = 0; i < cluster.size(); ++i) {
    if (p.members(static_cast<int>(member)).address() == cluster.address(i)) return i;
  }
  return -1;
}

// Waits (2 minutes at most) until every running node's placement has three
// members and no move left; `done` is the last placement seen.
void WaitForThreeMembersAndNoMoves(ClusterFixture& cluster, v1::PlacementResponse* done) {
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) {
        *done = p;
        return NoMoves(p) && p.members_size() == 3;
      },
      absl::Seconds(120)))
      << "the moves did not finish; moves left: " << done->moves_size()
      << (done->moves_size() > 0 ? absl::StrCat(", the first in state ", done->moves(0).state())
                                 : "");
}

TEST(ClusterMoveTest, ScaleUpDownAndUpAgainUnderLoadLosesAndResurrectsNothing) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"), {.nodes = 4, .num_shards = 16, .placed_nodes = 3});
  ASSERT_TRUE(cluster.Start());
  Writer writer({cluster.address(0), cluster.address(1), cluster.address(2)}, 1);
  writer.Start();
  ASSERT_TRUE(writer.WaitForMore(20)) << writer.last_error();
  ASSERT_NO_FATAL_FAILURE(SealEverything(cluster));

  // Up: node 3 takes floor(16/4) = 4 shards.
  CommandResult add = cluster.Cli(0, {"cluster", "add-node", cluster.address(3)});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  v1::PlacementResponse up;
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) {
        up = p;
        return p.members_size() == 4 && NoMoves(p);
      },
      absl::Seconds(120)))
      << "the moves did not finish; last placement has " << up.moves_size() << " moves";
  int owned_by_new = 0;
  for (uint32_t o : up.shard_owner()) owned_by_new += o == 3 ? 1 : 0;
  EXPECT_EQ(owned_by_new, 4);
  // Counted after the last step's Txn (and its key deletes): a placement
  // without moves can be seen first.
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricOf(cluster.metrics_port(3), "historian_cluster_moves_finished_total") >= 4;
      },
      absl::Seconds(30)));
  EXPECT_EQ(MetricOf(cluster.metrics_port(3), "historian_cluster_moves_finished_total"), 4);
  // Nothing failed on the way, not even a retried step (a move the node
  // had just finished, seen FLIPPED in a view one watch event behind, once
  // failed with a false DATA_LOSS).
  EXPECT_EQ(MetricOf(cluster.metrics_port(3), "historian_cluster_move_errors_total"), 0);
  ASSERT_TRUE(writer.WaitForMore(20)) << writer.last_error();
  writer.Stop();
  ASSERT_FALSE(writer.failed()) << writer.last_error();
  ASSERT_NO_FATAL_FAILURE(ExpectModel(cluster, writer.model(), "after add-node"));

  // Down: node 3's shards go back; it keeps running with its data dir.
  Writer writer2({cluster.address(0), cluster.address(1), cluster.address(2)}, 2);
  writer2.Start();
  CommandResult remove = cluster.Cli(1, {"cluster", "remove-node", cluster.member_id(3)});
  ASSERT_EQ(remove.exit_code, 0) << remove.out << remove.err;
  v1::PlacementResponse down;
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) {
        down = p;
        return p.members_size() == 3 && NoMoves(p);
      },
      absl::Seconds(120)))
      << "remove-node did not finish; last placement has " << down.moves_size() << " moves";
  ASSERT_TRUE(writer2.WaitForMore(10)) << writer2.last_error();

  // While node 3 is out: a tag of a shard it held is deleted, another one
  // rewritten with new values.
  std::string deleted, rewritten;
  for (int t = 0; t < kTags && (deleted.empty() || rewritten.empty()); ++t) {
    const uint32_t shard = TagShard(TagName(t), 16);
    if (up.shard_owner(static_cast<int>(shard)) != 3) continue;
    (deleted.empty() ? deleted : rewritten) = TagName(t);
  }
  ASSERT_FALSE(deleted.empty());
  ASSERT_FALSE(rewritten.empty());
  writer2.Forget(deleted);
  // The batch in flight was made before Forget and holds the tag: had it
  // landed after the delete, it would create the tag again with its one
  // sample (a write after a delete; CI saw it once, 2026-12-03).
  ASSERT_TRUE(writer2.WaitForMore(1)) << writer2.last_error();
  {
    v1::DeleteTagRequest req;
    req.set_name(deleted);
    v1::DeleteTagResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = v1::Catalog::NewStub(Channel(cluster.address(0)))->DeleteTag(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // The rewrite's versions must be above the first writer's: versions count
  // seconds, so it waits for the next second of the wall clock.
  const absl::Time after = writer.last_ack_time() + absl::Seconds(1);
  ASSERT_TRUE(WaitFor([&] { return absl::Now() >= after; }, absl::Seconds(5)));
  Model model = writer.model();
  {
    v1::WriteRequest batch;
    batch.set_client_id("move-test-rewrite");
    batch.set_batch_sequence(1);
    v1::TagSamples* series = batch.add_series();
    series->set_tag(rewritten);
    for (auto& [ts, v] : model[rewritten]) {
      v = 500000.0 + static_cast<double>((ts - kT0) / kSecond);
      v1::Sample* sample = series->add_samples();
      sample->set_timestamp_ns(ts);
      sample->mutable_value()->set_double_value(v);
    }
    v1::WriteAck ack;
    grpc::ClientContext ctx;
    grpc::Status s =
        v1::Ingest::NewStub(Channel(cluster.address(2)))->WriteBatch(&ctx, batch, &ack);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_TRUE(writer2.WaitForMore(10)) << writer2.last_error();
  writer2.Stop();
  ASSERT_FALSE(writer2.failed()) << writer2.last_error();
  for (const auto& [tag, samples] : writer2.model()) {
    for (const auto& [ts, v] : samples) model[tag][ts] = v;
  }
  model.erase(deleted);
  ASSERT_NO_FATAL_FAILURE(ExpectModel(cluster, model, "after remove-node"));

  // Up again with the same data dir: node 3's old copy of the deleted and
  // rewritten tags never comes back.
  Writer writer3({cluster.address(0), cluster.address(1), cluster.address(3)}, 3);
  writer3.Forget(deleted);
  writer3.Start();
  CommandResult again = cluster.Cli(2, {"cluster", "add-node", cluster.address(3)});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) { return p.members_size() == 4 && NoMoves(p); },
      absl::Seconds(120)));
  ASSERT_TRUE(writer3.WaitForMore(10)) << writer3.last_error();
  writer3.Stop();
  ASSERT_FALSE(writer3.failed()) << writer3.last_error();
  for (const auto& [tag, samples] : writer3.model()) {
    for (const auto& [ts, v] : samples) model[tag][ts] = v;
  }
  ASSERT_NO_FATAL_FAILURE(ExpectModel(cluster, model, "after add-node again"));
}

// With --token_file: the mover sends --peer_token (role replicator) to the
// source, and the move copies and tails what an admin wrote.
TEST(ClusterMoveTest, MovesRunWithTokensThroughThePeerToken) {
  TempDir dir;
  const std::string token_file = dir.Sub("tokens");
  {
    std::ofstream f(token_file);
    f << "admin-token-0123456789abcdef admin,reader,writer\n"
      << "peer-token-0123456789abcdef replicator\n";
  }
  ClusterFixture cluster(
      dir.Sub("cluster"),
      {.nodes = 3,
       .num_shards = 4,
       .node_flags = {"--token_file=" + token_file, "--peer_token=peer-token-0123456789abcdef"},
       .placed_nodes = 2,
       .token = "admin-token-0123456789abcdef"});
  ASSERT_TRUE(cluster.Start());
  v1::WriteRequest batch;
  Model model;
  for (int t = 0; t < kTags; ++t) {
    v1::TagSamples* series = batch.add_series();
    series->set_tag(TagName(t));
    for (int k = 1; k <= 5; ++k) {
      v1::Sample* sample = series->add_samples();
      sample->set_timestamp_ns(kT0 + k * kSecond);
      sample->mutable_value()->set_double_value(t * 10.0 + k);
      model[TagName(t)][kT0 + k * kSecond] = t * 10.0 + k;
    }
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer admin-token-0123456789abcdef");
    v1::WriteAck ack;
    grpc::Status s =
        v1::Ingest::NewStub(Channel(cluster.address(0)))->WriteBatch(&ctx, batch, &ack);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  CommandResult add = cluster.Cli(0, {"cluster", "add-node", cluster.address(2)});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_TRUE(cluster.WaitForPlacement(
      [](const v1::PlacementResponse& p) { return p.members_size() == 3 && NoMoves(p); },
      absl::Seconds(60)));
  EXPECT_TRUE(WaitFor(  // counted after the last step's Txn
      [&] {
        return MetricOf(cluster.metrics_port(2), "historian_cluster_moves_finished_total") >= 1;
      },
      absl::Seconds(30)));
  EXPECT_EQ(MetricOf(cluster.metrics_port(2), "historian_cluster_moves_finished_total"), 1);
  EXPECT_EQ(MetricOf(cluster.metrics_port(2), "historian_cluster_move_errors_total"), 0);
  // Every tag reads back through the new node, with the admin's token.
  for (const auto& [tag, samples] : model) {
    v1::ReadRequest request;
    request.add_tags(tag);
    request.set_start_ns(kT0);
    request.set_end_ns(kT0 + 100 * kSecond);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer admin-token-0123456789abcdef");
    auto reader = v1::Query::NewStub(Channel(cluster.address(2)))->Read(&ctx, request);
    v1::ReadResponse r;
    std::map<int64_t, double> got;
    while (reader->Read(&r)) {
      for (const v1::Sample& s : r.samples()) got[s.timestamp_ns()] = s.value().double_value();
      int64_t ts = 0;
      for (int i = 0; i < r.columns().timestamp_deltas_ns_size(); ++i) {
        ts += r.columns().timestamp_deltas_ns(i);
        got[ts] = r.columns().double_values(i);
      }
    }
    grpc::Status s = reader->Finish();
    ASSERT_TRUE(s.ok()) << tag << ": " << s.error_message();
    EXPECT_EQ(got, samples) << tag;
  }
}

// One sample of each tag at kT0 + k s, value k + fraction, through
// `address` in one batch; the model gets them once it is answered OK.
grpc::Status WriteRound(const std::string& address, const std::vector<std::string>& tags, int k,
                        double fraction, Model* model) {
  v1::WriteRequest batch;
  for (const std::string& tag : tags) {
    v1::TagSamples* series = batch.add_series();
    series->set_tag(tag);
    v1::Sample* sample = series->add_samples();
    sample->set_timestamp_ns(kT0 + k * kSecond);
    sample->mutable_value()->set_double_value(k + fraction);
  }
  grpc::ClientContext ctx;
  v1::WriteAck ack;
  grpc::Status s = v1::Ingest::NewStub(Channel(address))->WriteBatch(&ctx, batch, &ack);
  if (s.ok()) {
    for (const std::string& tag : tags) (*model)[tag][kT0 + k * kSecond] = k + fraction;
  }
  return s;
}

// Kills node `lost` with -9 for good, then runs `historian cluster
// remove-node ADDR --lost --accept-loss` through node `via` until its
// lease and then its isolation write fence have run out, and waits until
// the placement has two members and no moves (into `after`).
void RemoveLostMember(ClusterFixture& cluster, int lost, int via, v1::PlacementResponse* after) {
  cluster.KillNode(lost);
  // `cluster status` says when --lost may run.
  CommandResult status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = cluster.Cli(via, {"cluster", "status"});
        return absl::StrContains(status.out, "remove-node --lost possible now");
      },
      absl::Seconds(60)))
      << status.out << status.err;
  EXPECT_TRUE(absl::StrContains(status.out, "! gone ")) << status.out;
  CommandResult removed;
  ASSERT_TRUE(WaitFor(
      [&] {
        removed = cluster.Cli(
            via, {"cluster", "remove-node", cluster.address(lost), "--lost", "--accept-loss"});
        return !absl::StrContains(removed.err, "is alive") &&
               !absl::StrContains(removed.err, "--lost waits until");
      },
      absl::Seconds(60)))
      << removed.err;
  ASSERT_EQ(removed.exit_code, 0) << removed.out << removed.err;
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) {
        *after = p;
        return p.members_size() == 2 && p.moves_size() == 0;
      },
      absl::Seconds(60)))
      << "moves left: " << after->moves_size();
  for (const v1::ClusterMember& m : after->members()) {
    EXPECT_NE(m.address(), cluster.address(lost));
  }
}

// Every tag in `tags` reads exactly the model through each node listed.
void ExpectTagsReadTheModel(ClusterFixture& cluster, const std::vector<int>& nodes,
                            const std::vector<std::string>& tags, Model& model) {
  for (int node : nodes) {
    for (const std::string& tag : tags) {
      std::vector<std::pair<int64_t, double>> got;
      grpc::Status s = ReadAll(cluster.address(node), tag, &got);
      ASSERT_TRUE(s.ok()) << tag << " through node " << node << ": " << s.error_message();
      const std::vector<std::pair<int64_t, double>> want(model[tag].begin(), model[tag].end());
      EXPECT_EQ(got, want) << tag << " through node " << node;
    }
  }
}

// Three nodes, two placed, 4 shards; every node holds moves at
// `pause_step` (the test hook) and keeps a 2 s lease, so a member killed
// for good shows dead soon.
// A short lease and isolation write fence, so a killed member shows dead
// and `remove-node --lost` may remove it soon.
ClusterFixtureOptions LostMemberOptions(const std::string& pause_step,
                                        const std::string& isolation_fence = "1s") {
  return {.nodes = 3,
          .num_shards = 4,
          .node_flags = {"--cluster_move_test_pause=" + pause_step, "--cluster_lease_ttl=2s",
                         "--cluster_isolation_write_fence=" + isolation_fence},
          .placed_nodes = 2};
}

std::vector<std::string> AllTags() {
  std::vector<std::string> all;
  for (int t = 0; t < kTags; ++t) all.push_back(TagName(t));
  return all;
}

std::vector<std::string> TagsOfShard(const std::vector<std::string>& tags, uint32_t shard) {
  std::vector<std::string> of_shard;
  for (const std::string& tag : tags) {
    if (TagShard(tag, 4) == shard) of_shard.push_back(tag);
  }
  return of_shard;
}

// Writes k = 1..5 of every tag (through nodes 1, 0, 1, ...), adds node 2
// with `historian cluster add-node` (once it is registered) and waits
// until `held_node` (-1: the move's source) holds the one move at the
// test hook; `held` is the placement then.
void WriteThenAddNodeHeld(ClusterFixture& cluster, const std::vector<std::string>& tags,
                          double fraction, Model* model, int held_node,
                          v1::PlacementResponse* held) {
  for (int k = 1; k <= 5; ++k) {
    grpc::Status s = WriteRound(cluster.address(k % 2), tags, k, fraction, model);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  CommandResult add;
  ASSERT_TRUE(WaitFor(
      [&] {
        add = cluster.Cli(0, {"cluster", "add-node", cluster.address(2)});
        return add.exit_code == 0 || !absl::StrContains(add.err, "not registered");
      },
      absl::Seconds(30)));
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  ASSERT_TRUE(cluster.Placement(0, held).ok());
  ASSERT_EQ(held->moves_size(), 1);
  const int node = held_node >= 0 ? held_node : NodeOfMember(cluster, *held, held->moves(0).from());
  ASSERT_GE(node, 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricOf(cluster.metrics_port(node), "historian_cluster_move_paused_step") >= 0;
      },
      absl::Seconds(60)))
      << "node " << node << " never reached the held step";
  ASSERT_TRUE(cluster.Placement(0, held).ok());
  ASSERT_EQ(held->moves_size(), 1);
}

// The one move of `held`, expected in `state`: its shard, the node that is
// its source and the placed node (0 or 1) that is not.
struct HeldMove {
  uint32_t shard = 0;
  int source = -1;
  int other = -1;
};
void OneHeldMove(ClusterFixture& cluster, const v1::PlacementResponse& held,
                 v1::ShardMoveState state, HeldMove* move) {
  ASSERT_EQ(held.moves_size(), 1);
  ASSERT_EQ(held.moves(0).state(), state);
  move->shard = held.moves(0).shard();
  move->source = NodeOfMember(cluster, held, held.moves(0).from());
  ASSERT_GE(move->source, 0);
  move->other = 1 - move->source;
}

// A source lost for good after the flip (kill -9, never started again):
// the move waits for a fence only the source can publish, until an admin
// runs `historian cluster fence-without-source SHARD --accept-loss`. The
// command is refused without --accept-loss, for a shard with no FLIPPED
// move and while the source's lease is kept; once it runs, the target
// opens the shard with what it holds, every sample acknowledged before the
// move reads back through it and new writes of the shard are taken.
// Stops node `node` cleanly and starts it again without the flag
// `drop_flag` ("" keeps every flag) and, if `etcd_via` is given, reaching
// etcd through that address (the tests' TCP proxy).
void RestartNode(ClusterFixture& cluster, int node, const std::string& drop_flag,
                 const std::string& etcd_via = "") {
  ASSERT_EQ(cluster.StopNode(node), 0);
  auto* flags = cluster.node(node).mutable_flags();
  flags->erase(std::remove(flags->begin(), flags->end(), drop_flag), flags->end());
  for (std::string& flag : *flags) {
    if (!etcd_via.empty() && absl::StartsWith(flag, "--cluster_etcd=")) {
      flag = "--cluster_etcd=" + etcd_via;
    }
  }
  ASSERT_TRUE(cluster.StartNode(node));
}

TEST(ClusterMoveTest, AnAdminFencesAShardWhoseSourceIsLostForGood) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"), {.nodes = 3,
                                              .num_shards = 4,
                                              // The source holds the move before its fence; a short
                                              // lease lets the dead source show dead soon.
                                              .node_flags = {"--cluster_move_test_pause=fence",
                                                             "--cluster_lease_ttl=2s"},
                                              .placed_nodes = 2});
  ASSERT_TRUE(cluster.Start());
  Model model;
  auto write = [&](const std::string& address, const std::vector<std::string>& tags, int k) {
    return WriteRound(address, tags, k, 0.5, &model);
  };
  std::vector<std::string> all;
  for (int t = 0; t < kTags; ++t) all.push_back(TagName(t));
  for (int k = 1; k <= 5; ++k) {
    grpc::Status s = write(cluster.address(k % 2), all, k);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // The hook holds every step from the fence on: the target (node 2) runs
  // without it, so only the source holds.
  ASSERT_NO_FATAL_FAILURE(RestartNode(cluster, 2, "--cluster_move_test_pause=fence"));
  CommandResult add;
  ASSERT_TRUE(WaitFor(
      [&] {
        // Until node 2 registered again.
        add = cluster.Cli(0, {"cluster", "add-node", cluster.address(2)});
        return add.exit_code == 0 || !absl::StrContains(add.err, "not registered");
      },
      absl::Seconds(30)));
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  v1::PlacementResponse plan;
  ASSERT_TRUE(cluster.Placement(0, &plan).ok());
  ASSERT_EQ(plan.moves_size(), 1);
  const uint32_t shard = plan.moves(0).shard();
  const int source = NodeOfMember(cluster, plan, plan.moves(0).from());
  ASSERT_GE(source, 0);
  const int other = 1 - source;  // the placed node that is not the source
  const std::string shard_arg = absl::StrCat(shard);

  // Not flipped yet: nothing waits for a fence.
  CommandResult early =
      cluster.Cli(other, {"cluster", "fence-without-source", shard_arg, "--accept-loss"});
  EXPECT_NE(early.exit_code, 0) << early.out;
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricOf(cluster.metrics_port(source), "historian_cluster_move_paused_step") >= 0;
      },
      absl::Seconds(60)))
      << "the source never reached its fence";
  v1::PlacementResponse flipped;
  ASSERT_TRUE(cluster.Placement(other, &flipped).ok());
  ASSERT_EQ(flipped.moves_size(), 1);
  ASSERT_EQ(flipped.moves(0).state(), v1::SHARD_MOVE_FLIPPED);

  CommandResult no_flag = cluster.Cli(other, {"cluster", "fence-without-source", shard_arg});
  EXPECT_NE(no_flag.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(no_flag.err, "accept_loss")) << no_flag.err;
  CommandResult alive =
      cluster.Cli(other, {"cluster", "fence-without-source", shard_arg, "--accept-loss"});
  EXPECT_NE(alive.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(alive.err, "is alive")) << alive.err;
  CommandResult wrong_shard = cluster.Cli(
      other, {"cluster", "fence-without-source", absl::StrCat((shard + 1) % 4), "--accept-loss"});
  EXPECT_NE(wrong_shard.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(wrong_shard.err, "has no FLIPPED move")) << wrong_shard.err;
  CommandResult out_of_range =
      cluster.Cli(other, {"cluster", "fence-without-source", "99", "--accept-loss"});
  EXPECT_NE(out_of_range.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(out_of_range.err, "shard: 99 is outside 0..3")) << out_of_range.err;

  // The fence key still holds an earlier move's fence of the shard (same
  // members, an earlier flip: it moved there and back before). The target
  // must not open with it, nor the command take it for this move's.
  {
    const v1::ShardMove& m = flipped.moves(0);
    const cluster::MoveFence stale{flipped.members(static_cast<int>(m.from())).id(),
                                   flipped.members(static_cast<int>(m.to())).id(),
                                   m.since_unix_ns() - 1,
                                   /*position=*/1,
                                   /*clock=*/1};
    cluster::EtcdClientOptions o;
    o.endpoints = {cluster.etcd().endpoint()};
    o.call_timeout = absl::Seconds(5);
    auto etcd = cluster::EtcdClient::Create(o);
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    ASSERT_TRUE(
        (*etcd)->Put(cluster::MoveFenceKey("us", shard), cluster::EncodeMoveFence(stale)).ok());
  }

  // A source cut off from etcd loses its lease but is alive, serving with
  // its pre-flip placement: the command must not fence for it. The source
  // restarts reaching etcd only through a proxy, which is then cut.
  FaultProxy source_to_etcd(cluster.etcd().endpoint());
  {
    ASSERT_NO_FATAL_FAILURE(RestartNode(cluster, source, "", source_to_etcd.address()));
    ASSERT_TRUE(WaitFor(
        [&] {
          return MetricOf(cluster.metrics_port(source), "historian_cluster_move_paused_step") >= 0;
        },
        absl::Seconds(60)))
        << "the restarted source never came back to its fence";
    source_to_etcd.Cut();
    CommandResult cut_off;
    ASSERT_TRUE(WaitFor(
        [&] {
          cut_off =
              cluster.Cli(other, {"cluster", "fence-without-source", shard_arg, "--accept-loss"});
          return !absl::StrContains(cut_off.err, "is alive (its lease is kept)");
        },
        absl::Seconds(60)))
        << "the cut-off source's lease never ran out: " << cut_off.err;
    EXPECT_NE(cut_off.exit_code, 0) << cut_off.out;
    EXPECT_TRUE(absl::StrContains(cut_off.err, "answers at " + cluster.address(source)))
        << cut_off.err;
  }

  // The source is lost for good; once its lease runs out the command runs.
  cluster.KillNode(source);
  CommandResult fenced;
  ASSERT_TRUE(WaitFor(
      [&] {
        fenced =
            cluster.Cli(other, {"cluster", "fence-without-source", shard_arg, "--accept-loss"});
        return !absl::StrContains(fenced.err, "is alive");
      },
      absl::Seconds(60)))
      << fenced.err;
  // (Had the target opened with the stale fence, no FLIPPED move would be
  // left for the command.)
  ASSERT_EQ(fenced.exit_code, 0) << fenced.out << fenced.err;
  EXPECT_TRUE(absl::StrContains(fenced.out, "fenced without")) << fenced.out;
  CommandResult twice =
      cluster.Cli(other, {"cluster", "fence-without-source", shard_arg, "--accept-loss"});
  EXPECT_NE(twice.exit_code, 0);

  v1::PlacementResponse done;
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) {
        done = p;
        return NoMoves(p);
      },
      absl::Seconds(60)))
      << "the move did not finish after the fence; moves left: " << done.moves_size();
  EXPECT_EQ(done.shard_owner(static_cast<int>(shard)), plan.moves(0).to());

  // The moved shard's tags: what was acknowledged before the move reads
  // back once, and the shard takes writes again (through either live node).
  std::vector<std::string> moved;
  for (const std::string& tag : all) {
    if (TagShard(tag, 4) == shard) moved.push_back(tag);
  }
  ASSERT_FALSE(moved.empty());
  for (int k = 6; k <= 7; ++k) {
    grpc::Status s = write(cluster.address(k % 2 == 0 ? 2 : other), moved, k);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  for (int node : {other, 2}) {
    for (const std::string& tag : moved) {
      std::vector<std::pair<int64_t, double>> got;
      grpc::Status s = ReadAll(cluster.address(node), tag, &got);
      ASSERT_TRUE(s.ok()) << tag << " through node " << node << ": " << s.error_message();
      const std::vector<std::pair<int64_t, double>> want(model[tag].begin(), model[tag].end());
      ASSERT_EQ(want.size(), 7u);
      EXPECT_EQ(got, want) << tag << " through node " << node;
    }
  }
}

// A target lost for good after the flip (kill -9 while it waits for the
// source's fence, never started again): `historian cluster remove-node
// ADDR --lost --accept-loss` rolls the move back. The source owns the shard
// again, its janitor reopens the shard it had closed at its fence, every
// sample acknowledged before the move reads back through either node once,
// and the shard takes writes again; the lost member leaves the placement.
TEST(ClusterMoveTest, ALostTargetsFlippedMoveRollsBackToItsSource) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"), LostMemberOptions("tail_to_fence"));
  ASSERT_TRUE(cluster.Start());
  Model model;
  auto write = [&](const std::string& address, const std::vector<std::string>& tags, int k) {
    return WriteRound(address, tags, k, 0.25, &model);
  };
  const std::vector<std::string> all = AllTags();
  v1::PlacementResponse flipped;
  ASSERT_NO_FATAL_FAILURE(WriteThenAddNodeHeld(cluster, all, 0.25, &model, 2, &flipped));
  HeldMove move;
  ASSERT_NO_FATAL_FAILURE(OneHeldMove(cluster, flipped, v1::SHARD_MOVE_FLIPPED, &move));
  const uint32_t shard = move.shard;
  const int source = move.source;
  ASSERT_EQ(NodeOfMember(cluster, flipped, flipped.moves(0).to()), 2);
  // The source publishes its fence (closing the shard) unpaused.
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricOf(cluster.metrics_port(source),
                        "historian_cluster_move_fences_published_total") >= 1;
      },
      absl::Seconds(60)));

  v1::PlacementResponse after;
  ASSERT_NO_FATAL_FAILURE(RemoveLostMember(cluster, 2, 0, &after));
  EXPECT_EQ(after.members(static_cast<int>(after.shard_owner(static_cast<int>(shard)))).address(),
            cluster.address(source));

  const std::vector<std::string> moved = TagsOfShard(all, shard);
  ASSERT_FALSE(moved.empty());
  // The shard takes writes again once the source's janitor reopened it
  // (a write before that is refused UNAVAILABLE naming the shard).
  for (int k = 6; k <= 7; ++k) {
    grpc::Status s;
    ASSERT_TRUE(WaitFor(
        [&] {
          s = write(cluster.address(k % 2), moved, k);
          return s.error_code() != grpc::StatusCode::UNAVAILABLE;
        },
        absl::Seconds(30)))
        << s.error_message();
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_GE(MetricOf(cluster.metrics_port(source),
                     "historian_cluster_janitor_owned_shards_reopened_total"),
            1);
  ExpectTagsReadTheModel(cluster, {0, 1}, all, model);
}

// A target that cannot reach its source's fence: node 2 holds the move
// FLIPPED (before its tail to the fence, the test hook) while the source
// publishes its fence; every node keeps its own log for no one
// (--log_retention_bytes=1), so the source's Admin.Compact seals its heads
// and trims its log past the target's tail cursor. The target, killed with
// -9 and started again without the hook, finds the gap: the move rolls
// back (the source owns the shard again, its janitor reopens it), starts
// over and finishes at the target. Every sample acknowledged before the
// move and after it reads back through every node. Without the roll back
// the move stays FLIPPED for good and the shard takes no writes.
TEST(ClusterMoveTest, ATargetWhoseSourceTrimmedPastItsTailRollsTheMoveBackAndMovesAgain) {
  TempDir dir;
  const std::string pause = "--cluster_move_test_pause=tail_to_fence";
  ClusterFixture cluster(dir.Sub("cluster"), {.nodes = 3,
                                              .num_shards = 4,
                                              .node_flags = {pause, "--log_retention_bytes=1"},
                                              .placed_nodes = 2});
  ASSERT_TRUE(cluster.Start());
  Model model;
  const std::vector<std::string> all = AllTags();
  v1::PlacementResponse flipped;
  ASSERT_NO_FATAL_FAILURE(WriteThenAddNodeHeld(cluster, all, 0.25, &model, 2, &flipped));
  HeldMove move;
  ASSERT_NO_FATAL_FAILURE(OneHeldMove(cluster, flipped, v1::SHARD_MOVE_FLIPPED, &move));
  ASSERT_EQ(NodeOfMember(cluster, flipped, flipped.moves(0).to()), 2);
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricOf(cluster.metrics_port(move.source),
                        "historian_cluster_move_fences_published_total") >= 1;
      },
      absl::Seconds(60)));
  {
    grpc::ClientContext ctx;
    v1::CompactRequest request;
    v1::CompactResponse response;
    grpc::Status s = v1::Admin::NewStub(Channel(cluster.address(move.source)))
                         ->Compact(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  cluster.KillNode(2);
  auto* flags = cluster.node(2).mutable_flags();
  flags->erase(std::remove(flags->begin(), flags->end(), pause), flags->end());
  ASSERT_TRUE(cluster.StartNode(2));
  v1::PlacementResponse done;
  ASSERT_NO_FATAL_FAILURE(WaitForThreeMembersAndNoMoves(cluster, &done));
  EXPECT_EQ(NodeOfMember(cluster, done, done.shard_owner(static_cast<int>(move.shard))), 2);
  // Once at least (the source may trim the next fence's entry too before
  // the target reads it: then the move goes round again).
  EXPECT_GE(MetricOf(cluster.metrics_port(2), "historian_cluster_moves_rolled_back_total"), 1);
  ExpectTagsReadTheModel(cluster, {0, 1, 2}, all, model);
  // Every tag takes writes again, the moved shard's at node 2.
  for (int k = 6; k <= 8; ++k) {
    grpc::Status s;
    ASSERT_TRUE(WaitFor(
        [&] {
          s = WriteRound(cluster.address(k % 3), all, k, 0.5, &model);
          return s.error_code() != grpc::StatusCode::UNAVAILABLE;
        },
        absl::Seconds(30)))
        << s.error_message();
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ExpectTagsReadTheModel(cluster, {0, 1, 2}, all, model);
}

// A source lost for good while its move copies (the target holds the move
// after the copy, before its tail; the source is killed with -9 and never
// started again): `remove-node --lost --accept-loss` makes the target the
// shard's owner with what it copied, so every sample acknowledged before
// the move reads back through it; the lost member's other shards go to
// the live nodes (empty here: no peer site holds them) and every tag takes
// writes again through either live node.
TEST(ClusterMoveTest, ALostSourcesCopyingMoveLeavesTheShardWithItsTarget) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"), LostMemberOptions("tail"));
  ASSERT_TRUE(cluster.Start());
  Model model;
  auto write = [&](const std::string& address, const std::vector<std::string>& tags, int k) {
    return WriteRound(address, tags, k, 0.75, &model);
  };
  const std::vector<std::string> all = AllTags();
  v1::PlacementResponse copying;
  ASSERT_NO_FATAL_FAILURE(WriteThenAddNodeHeld(cluster, all, 0.75, &model, 2, &copying));
  HeldMove move;
  ASSERT_NO_FATAL_FAILURE(OneHeldMove(cluster, copying, v1::SHARD_MOVE_INITIALIZING, &move));
  const uint32_t shard = move.shard;
  const int source = move.source;
  const int other = move.other;

  v1::PlacementResponse after;
  ASSERT_NO_FATAL_FAILURE(RemoveLostMember(cluster, source, other, &after));
  EXPECT_EQ(after.members(static_cast<int>(after.shard_owner(static_cast<int>(shard)))).address(),
            cluster.address(2));

  std::vector<std::string> moved, lost_tags;
  for (const std::string& tag : all) {
    const uint32_t s = TagShard(tag, 4);
    if (s == shard) {
      moved.push_back(tag);
    } else if (copying.members(static_cast<int>(copying.shard_owner(static_cast<int>(s))))
                   .address() == cluster.address(source)) {
      lost_tags.push_back(tag);
    }
  }
  ASSERT_FALSE(moved.empty());
  // What only the lost source held of its other shards is gone (no peer
  // site here): the model forgets it.
  for (const std::string& tag : lost_tags) model.erase(tag);
  for (int k = 6; k <= 7; ++k) {
    grpc::Status s = write(cluster.address(k % 2 == 0 ? 2 : other), all, k);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ExpectTagsReadTheModel(cluster, {other, 2}, all, model);
  for (const std::string& tag : moved) EXPECT_EQ(model[tag].size(), 7u) << tag;
}

// A source lost for good after the flip, before its fence (held there by
// the hook; killed with -9, never started again): `remove-node --lost
// --accept-loss` keeps the FLIPPED move and writes its fence without the
// source in the same Txn; the target opens the shard and finishes the
// move, and the lost member leaves with it. Every sample acknowledged
// before the move reads back through the target.
TEST(ClusterMoveTest, ALostSourcesFlippedMoveEndsWithTheFenceTheRemovalWrites) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"), LostMemberOptions("fence"));
  ASSERT_TRUE(cluster.Start());
  Model model;
  auto write = [&](const std::string& address, const std::vector<std::string>& tags, int k) {
    return WriteRound(address, tags, k, 0.125, &model);
  };
  const std::vector<std::string> all = AllTags();
  // Only the source holds at its fence: the target runs without the hook.
  ASSERT_NO_FATAL_FAILURE(RestartNode(cluster, 2, "--cluster_move_test_pause=fence"));
  v1::PlacementResponse plan;
  ASSERT_NO_FATAL_FAILURE(WriteThenAddNodeHeld(cluster, all, 0.125, &model, -1, &plan));
  const uint32_t shard = plan.moves(0).shard();
  const int source = NodeOfMember(cluster, plan, plan.moves(0).from());
  const int other = 1 - source;

  v1::PlacementResponse after;
  ASSERT_NO_FATAL_FAILURE(RemoveLostMember(cluster, source, other, &after));
  EXPECT_EQ(after.members(static_cast<int>(after.shard_owner(static_cast<int>(shard)))).address(),
            cluster.address(2));
  EXPECT_GE(MetricOf(cluster.metrics_port(2), "historian_cluster_moves_finished_total"), 1);

  const std::vector<std::string> moved = TagsOfShard(all, shard);
  ASSERT_FALSE(moved.empty());
  for (int k = 6; k <= 7; ++k) {
    grpc::Status s = write(cluster.address(k % 2 == 0 ? 2 : other), moved, k);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  for (const std::string& tag : moved) EXPECT_EQ(model[tag].size(), 7u) << tag;
  ExpectTagsReadTheModel(cluster, {other, 2}, moved, model);
}

// Who gets killed while the move is held at a step.
enum class Victim { kSource, kTarget, kEtcd };

struct KillCase {
  std::string step;
  Victim victim;
};

const char* VictimName(Victim v) {
  return v == Victim::kSource ? "Source" : v == Victim::kTarget ? "Target" : "Etcd";
}
void PrintTo(const KillCase& c, std::ostream* os) { *os << c.step << "/" << VictimName(c.victim); }

std::string CaseName(const ::testing::TestParamInfo<KillCase>& info) {
  return absl::StrCat(info.param.step, "_kill", VictimName(info.param.victim));
}

// A move's source cut off from etcd (restarted to reach it through a
// proxy, which is then cut) while the target holds before the flip: once
// its lease may have run out, an admin could fence or reassign the shard
// without it, so it refuses writes of the shard it hands over (UNAVAILABLE
// naming it, nothing stored; also when another member forwards them; a
// tag delete too) and takes writes of its other shards as before. Once it
// reaches etcd again it takes them again, and after the move every sample
// acknowledged reads back once through every node.
TEST(ClusterMoveTest, ASourceCutOffFromEtcdRefusesWritesOfTheShardItHandsOver) {
  TempDir dir;
  // Its other shards take writes while it is cut off: a fence far off.
  ClusterFixture cluster(dir.Sub("cluster"), LostMemberOptions("flip", "10m"));
  ASSERT_TRUE(cluster.Start());
  {
    // Registering raised the site's widest isolation fence to the members'
    // (what `remove-node --lost` waits on any node).
    cluster::EtcdClientOptions o;
    o.endpoints = {cluster.etcd().endpoint()};
    o.call_timeout = absl::Seconds(5);
    auto etcd = cluster::EtcdClient::Create(o);
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    auto widest = (*etcd)->Get(cluster::SiteIsolationFenceKey("us"));
    ASSERT_TRUE(widest.ok()) << widest.status();
    ASSERT_EQ(widest->kvs.size(), 1u);
    EXPECT_EQ(cluster::DecodeSiteIsolationFence("fence", widest->kvs[0].value).value_or(-1),
              600000);
  }
  Model model;
  auto write = [&](int node, const std::vector<std::string>& tags, int k) {
    return WriteRound(cluster.address(node), tags, k, 0.125, &model);
  };
  const std::vector<std::string> all = AllTags();
  v1::PlacementResponse copying;
  ASSERT_NO_FATAL_FAILURE(WriteThenAddNodeHeld(cluster, all, 0.125, &model, 2, &copying));
  HeldMove move;
  ASSERT_NO_FATAL_FAILURE(OneHeldMove(cluster, copying, v1::SHARD_MOVE_INITIALIZING, &move));
  const uint32_t shard = move.shard;
  const int source = move.source;
  const int other = move.other;
  const std::vector<std::string> moved = TagsOfShard(all, shard);
  std::vector<std::string> kept;  // the source's tags of shards that stay
  for (const std::string& tag : all) {
    const uint32_t s = TagShard(tag, 4);
    if (s != shard &&
        NodeOfMember(cluster, copying, copying.shard_owner(static_cast<int>(s))) == source) {
      kept.push_back(tag);
    }
  }
  ASSERT_FALSE(moved.empty());
  ASSERT_FALSE(kept.empty());

  // The source restarts without the hook (which holds every step from the
  // flip on: its fence too), reaching etcd through a proxy.
  FaultProxy source_to_etcd(cluster.etcd().endpoint());
  ASSERT_NO_FATAL_FAILURE(
      RestartNode(cluster, source, "--cluster_move_test_pause=flip", source_to_etcd.address()));
  int k = 6;  // a new timestamp per attempt: a refused one stored nothing
  grpc::Status s;
  ASSERT_TRUE(WaitFor([&] { return (s = write(source, moved, k++)).ok(); }, absl::Seconds(30)))
      << s.error_message();

  const double fenced_before =
      MetricOf(cluster.metrics_port(source), "historian_cluster_lease_fenced_writes_total");
  source_to_etcd.Cut();
  ASSERT_TRUE(WaitFor(
      [&] {
        const int round = k++;
        s = write(source, moved, round);
        if (absl::StrContains(s.error_message(), "stored here but not acknowledged")) {
          // Admitted while the lease held, committed after: stored (the
          // target copies it), not acknowledged. The fence at admission
          // comes next.
          for (const std::string& tag : moved) model[tag][kT0 + round * kSecond] = round + 0.125;
          return false;
        }
        return !s.ok();
      },
      absl::Seconds(60)))
      << "the cut-off source kept taking writes of the shard it hands over";
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), absl::StrCat("is in shard ", shard,
                                                                ", which "
                                                                "this member is handing over")))
      << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "etcd")) << s.error_message();
  // Forwarded by another member: refused at the source all the same.
  s = write(other, moved, k++);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "handing over")) << s.error_message();
  // Its other shards take writes while etcd is out of reach (issue 20).
  s = write(source, kept, k++);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GE(MetricOf(cluster.metrics_port(source), "historian_cluster_lease_fenced_writes_total"),
            std::max(fenced_before, 0.0) + 2);
  // A tag delete of the shard is refused there too (it would come back).
  {
    grpc::ClientContext ctx;
    v1::DeleteTagRequest req;
    req.set_name(moved[0]);
    v1::DeleteTagResponse resp;
    grpc::Status d =
        v1::Catalog::NewStub(Channel(cluster.address(source)))->DeleteTag(&ctx, req, &resp);
    EXPECT_EQ(d.error_code(), grpc::StatusCode::UNAVAILABLE) << d.error_message();
    EXPECT_TRUE(absl::StrContains(d.error_message(), "Catalog.DeleteTag refused"))
        << d.error_message();
  }

  source_to_etcd.Heal();
  ASSERT_TRUE(WaitFor([&] { return (s = write(source, moved, k++)).ok(); }, absl::Seconds(60)))
      << "the source reached etcd again but still refuses: " << s.error_message();

  // The target finishes the move without the hook.
  ASSERT_NO_FATAL_FAILURE(RestartNode(cluster, 2, "--cluster_move_test_pause=flip"));
  v1::PlacementResponse done;
  ASSERT_NO_FATAL_FAILURE(WaitForThreeMembersAndNoMoves(cluster, &done));
  EXPECT_EQ(NodeOfMember(cluster, done, done.shard_owner(static_cast<int>(shard))), 2);
  ExpectTagsReadTheModel(cluster, {0, 1, 2}, all, model);
}

class ClusterMoveKillTest : public ::testing::TestWithParam<KillCase> {};

// Two nodes own 4 shards; node 2 joins and takes one. Every node holds
// moves at the step; the victim is killed with -9 (etcd: stopped), and
// every node starts again without the hook.
TEST_P(ClusterMoveKillTest, KillAtAStepLosesNoAckedSample) {
  const KillCase& c = GetParam();
  TempDir dir;
  const std::string pause = "--cluster_move_test_pause=" + c.step;
  ClusterFixture cluster(dir.Sub("cluster"),
                         {.nodes = 3, .num_shards = 4, .node_flags = {pause}, .placed_nodes = 2});
  ASSERT_TRUE(cluster.Start());
  Writer writer({cluster.address(0), cluster.address(1), cluster.address(2)}, 1);
  writer.Start();
  ASSERT_TRUE(writer.WaitForMore(10)) << writer.last_error();
  ASSERT_NO_FATAL_FAILURE(SealEverything(cluster));
  ASSERT_TRUE(writer.WaitForMore(5)) << writer.last_error();
  CommandResult add = cluster.Cli(0, {"cluster", "add-node", cluster.address(2)});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  v1::PlacementResponse plan;
  ASSERT_TRUE(cluster.Placement(0, &plan).ok());
  ASSERT_EQ(plan.moves_size(), 1);
  const int source = NodeOfMember(cluster, plan, plan.moves(0).from());
  const int target = NodeOfMember(cluster, plan, plan.moves(0).to());
  ASSERT_EQ(target, 2);
  ASSERT_GE(source, 0);
  // The fence is the source's step; every other one the target's.
  const int held = c.step == "fence" ? source : target;
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricOf(cluster.metrics_port(held), "historian_cluster_move_paused_step") >= 0;
      },
      absl::Seconds(60)))
      << "the move never reached step " << c.step;
  // Between the flip and the fence no node takes writes of the shard (each
  // batch has a tag of it): the writer waits for the restart.
  const bool handing_over = c.step == "fence" || c.step == "tail_to_fence";
  if (!handing_over) {
    ASSERT_TRUE(writer.WaitForMore(5)) << writer.last_error();
  }
  if (c.step == "tail") {
    // `cluster status` shows the copy done: its bytes, of as many.
    CommandResult status = cluster.Cli(0, {"cluster", "status", "--format", "json"});
    ASSERT_EQ(status.exit_code, 0) << status.err;
    std::smatch copied, total, step;
    ASSERT_TRUE(std::regex_search(status.out, copied, std::regex(R"re("bytes_copied":(\d+))re")))
        << status.out;
    ASSERT_TRUE(std::regex_search(status.out, total, std::regex(R"re("bytes_total":(\d+))re")))
        << status.out;
    ASSERT_TRUE(std::regex_search(status.out, step, std::regex(R"re("step":"(\w+)")re")))
        << status.out;
    EXPECT_GT(std::stoll(copied[1]), 0);
    EXPECT_EQ(copied[1], total[1]);
    EXPECT_EQ(step[1], "tail");
  }

  for (int i = 0; i < cluster.size(); ++i) {
    auto* flags = cluster.node(i).mutable_flags();
    flags->erase(std::remove(flags->begin(), flags->end(), pause), flags->end());
  }
  switch (c.victim) {
    case Victim::kSource:
      cluster.KillNode(source);
      break;
    case Victim::kTarget:
      cluster.KillNode(target);
      break;
    case Victim::kEtcd:
      cluster.etcd().Kill();
      // Writes go on without etcd while the move is PENDING. From the copy
      // on, the source refuses writes of the shard once its lease may have
      // run out (LeaseFence; ASourceCutOffFromEtcd... above), and every
      // batch holds a tag of it.
      if (c.step == "start") {
        ASSERT_TRUE(writer.WaitForMore(3)) << writer.last_error();
      }
      ASSERT_TRUE(cluster.StartEtcd());
      break;
  }
  // Every node again, without the hook (the held ones stop cleanly).
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.node(i).pid() > 0) {
      EXPECT_EQ(cluster.StopNode(i), 0) << "node " << i;
    }
    ASSERT_TRUE(cluster.StartNode(i)) << "node " << i;
  }
  v1::PlacementResponse done;
  ASSERT_NO_FATAL_FAILURE(WaitForThreeMembersAndNoMoves(cluster, &done));
  EXPECT_EQ(done.shard_owner(static_cast<int>(plan.moves(0).shard())), plan.moves(0).to());
  ASSERT_TRUE(writer.WaitForMore(10)) << writer.last_error();
  writer.Stop();
  ASSERT_FALSE(writer.failed()) << writer.last_error();
  ASSERT_NO_FATAL_FAILURE(ExpectModel(cluster, writer.model(), "after the kill at " + c.step));
}

INSTANTIATE_TEST_SUITE_P(
    EveryStep, ClusterMoveKillTest,
    ::testing::Values(KillCase{"start", Victim::kEtcd}, KillCase{"wipe", Victim::kTarget},
                      KillCase{"copy", Victim::kSource}, KillCase{"copy", Victim::kTarget},
                      KillCase{"tail", Victim::kTarget}, KillCase{"tail", Victim::kSource},
                      KillCase{"flip", Victim::kTarget}, KillCase{"flip", Victim::kEtcd},
                      KillCase{"fence", Victim::kSource}, KillCase{"fence", Victim::kTarget},
                      KillCase{"tail_to_fence", Victim::kTarget},
                      KillCase{"tail_to_fence", Victim::kEtcd}, KillCase{"finish", Victim::kTarget},
                      KillCase{"finish", Victim::kSource}),
    CaseName);

}  // namespace
}  // namespace historian::testing
