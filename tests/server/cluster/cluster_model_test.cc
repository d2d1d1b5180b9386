// File: cluster_model_test.cc
// A model test of a site cluster whose membership changes (issues 20 and
// 21; docs/cluster.md "Moving shards"), through real processes: a real
// etcd, four real historiand nodes (two placed at the start), the real CLI.
// Each step does one random operation:
//
// - a batch of random samples (overwrites of earlier timestamps included)
//   through a random node, retried with the same client id and sequence
//   until one answers OK (a handover or a node down answers UNAVAILABLE);
//   or through the client library's streaming Writer routing to the owners
//   (a gateway's path), which retries until acked;
// - a tag deleted through a random node (later batches create it again),
//   or its unit changed (Catalog.UpdateTag);
// - `historian cluster add-node` of a node outside the placement, or
//   `remove-node` of a member (its data dir stays: it may be added again,
//   the M3DB 4103 case); the moves run in the background from then on;
// - kill -9 of a random node, or of etcd, and a start again;
// - the moves of a random node held at a random step (the test hook), or
//   released, so the other operations meet moves in every state;
// - Admin.Compact of a random node (seals every head; with the log kept for
//   no one, --log_retention_bytes=1, it also trims the log a move may be
//   tailing: a gap, a copy made again or a FLIPPED move rolled back);
// - a wait until no move is left;
// - with a peer site (the third and fourth cases): a batch of its own tags
//   written there, or the sites partitioned or healed; with a peer that is
//   a cluster of its own (the fourth), also `add-node`/`remove-node` there,
//   so shards move at both sites at once, kill -9 of one of its nodes, and
//   its moves held at a random step or released.
//
// After every step each tag reads exactly the model (every acknowledged
// sample once, deleted tags NOT_FOUND) through a random node, whatever
// moves are under way, and Latest and ListTags of all tags (with their
// units) agree with it; at the end, through every node. With a peer site
// connected, each site reads the other's tags as modelled within 2
// minutes. A failure names the seed, the step and every operation. HISTORIAN_MODEL_SEEDS=N runs
// seeds 1..N, HISTORIAN_MODEL_SEED=S one seed; HISTORIAN_KEEP_TEST_DIRS=1 keeps the node logs;
// HISTORIAN_MODEL_VERBOSE=1 prints the operations of seeds that pass too.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/writer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/model_run.h"
#include "tests/testutil/tag_reads.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {
namespace {

constexpr int64_t kT0 = 1795428000000000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSecond = 1000000000;
constexpr int kNodes = 4;
constexpr uint32_t kShards = 8;
constexpr int kTags = 12;
constexpr int kSlots = 40;  // timestamps a tag is written at: kT0 + slot s
constexpr int kSteps = 40;

using Model = std::map<std::string, std::map<int64_t, double>>;

std::string TagName(int t) { return absl::StrCat("cm.t", t); }
// The peer site's own tags (written there only: no two sites write one tag).
constexpr int kMxTags = 6;
std::string MxTagName(int t) { return absl::StrCat("mx.t", t); }

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

// A handover, a node or etcd down or stopping: the same request again
// (another node) succeeds once it is over.
bool Retryable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::ABORTED ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::CANCELLED;
}

class ClusterModelTest : public ::testing::Test {
 protected:
  // Runs one seed on a fresh cluster; false after reporting a failure.
  // With `peer_nodes` > 0, a peer site "mx" of that many nodes (one
  // placed less than that when more than one: add-node's candidate)
  // replicates both ways with the cluster, each node of either site
  // reached through a FaultProxy.
  bool RunSeed(uint64_t seed, const std::vector<std::string>& flags, int peer_nodes = 0) {
    TempDir dir;
    std::vector<std::string> us_flags = flags;
    const bool with_peer = peer_nodes > 0;
    mx_nodes_ = peer_nodes;
    if (with_peer) {
      for (int i = 0; i < kNodes; ++i) {
        us_proxies_.push_back(std::make_unique<FaultProxy>("127.0.0.1:1"));
      }
      for (int i = 0; i < peer_nodes; ++i) {
        mx_proxies_.push_back(std::make_unique<FaultProxy>("127.0.0.1:1"));
      }
      us_flags.push_back("--flagfile=" + dir.Sub("us.flags"));
      us_flags.push_back("--peer_placement_poll=200ms");
      std::vector<std::string> mx_flags = flags;
      mx_flags.push_back("--flagfile=" + dir.Sub("mx.flags"));
      mx_flags.push_back("--peer_placement_poll=200ms");
      mx_ = std::make_unique<ClusterFixture>(
          dir.Sub("mx"), ClusterFixtureOptions{.nodes = peer_nodes,
                                               .site = "mx",
                                               .num_shards = 4,
                                               .node_flags = mx_flags,
                                               .placed_nodes = std::max(1, peer_nodes - 1)});
    }
    cluster_ = std::make_unique<ClusterFixture>(
        dir.Sub("cluster"),
        ClusterFixtureOptions{
            .nodes = kNodes, .num_shards = kShards, .node_flags = us_flags, .placed_nodes = 2});
    if (with_peer) {
      std::vector<std::string> seeds, map;
      for (int i = 0; i < kNodes; ++i) {
        us_proxies_[i]->SetTarget(cluster_->address(i));
        seeds.push_back(us_proxies_[i]->address());
        map.push_back(absl::StrCat(cluster_->address(i), "=", us_proxies_[i]->address()));
      }
      std::vector<std::string> mx_seeds, mx_map;
      for (int i = 0; i < peer_nodes; ++i) {
        mx_proxies_[i]->SetTarget(mx_->address(i));
        mx_seeds.push_back(mx_proxies_[i]->address());
        mx_map.push_back(absl::StrCat(mx_->address(i), "=", mx_proxies_[i]->address()));
      }
      std::ofstream(dir.Sub("us.flags"))
          << "--peers=mx=" << absl::StrJoin(mx_seeds, "|")
          << "\n--peer_address_map=" << absl::StrJoin(mx_map, ",") << "\n";
      std::ofstream(dir.Sub("mx.flags"))
          << "--peers=us=" << absl::StrJoin(seeds, "|")
          << "\n--peer_address_map=" << absl::StrJoin(map, ",") << "\n";
    }
    partitioned_ = false;
    mx_model_.clear();
    rng_.seed(seed * 7919 + 17);
    for (std::string& h : held_) h.clear();
    mx_held_.assign(static_cast<size_t>(peer_nodes), "");
    model_.clear();
    units_.clear();
    log_.clear();
    bool ok = RunSteps(seed);
    if (writer_ != nullptr) writer_->Close(absl::ZeroDuration());
    writer_.reset();
    cluster_.reset();  // stops the nodes before `dir` goes
    mx_.reset();
    us_proxies_.clear();
    mx_proxies_.clear();
    absl::MutexLock l(&results_mu_);
    results_.clear();
    return ok;
  }

 private:
  bool RunSteps(uint64_t seed) {
    auto fail = [&](int step, const std::string& what) {
      std::string logs;
      for (int i = 0; i < kNodes; ++i) {
        logs += absl::StrCat("\nend of node ", i, "'s log:\n",
                             LogTail(cluster_->node(i).log_path(), 2000));
      }
      for (int i = 0; mx_ != nullptr && i < mx_nodes_; ++i) {
        logs += absl::StrCat("\nend of mx node ", i, "'s log:\n",
                             LogTail(mx_->node(i).log_path(), 2000));
      }
      ADD_FAILURE() << "seed " << seed << " step " << step << ": " << what << "\noperations:\n  "
                    << absl::StrJoin(log_, "\n  ") << logs;
      return false;
    };
    if (!cluster_->Start()) return fail(0, "the cluster did not start");
    if (mx_ != nullptr && !mx_->Start()) return fail(0, "the peer site did not start");
    for (int step = 1; step <= kSteps; ++step) {
      const bool moving = !NoMoves();
      const uint64_t r = Uniform(100);
      std::string err;
      if (mx_ != nullptr && r < 12) {
        const uint64_t what = Uniform(mx_nodes_ > 1 ? 6 : 3);
        err = what == 0   ? TogglePartition()
              : what == 3 ? MxChangeMembers()
              : what == 4 ? MxKillAndStartNode()
              : what == 5 ? MxHoldOrReleaseMoves()
                          : MxWrite();
      } else if (r < 40 || (moving && r < 60)) {
        err = Uniform(2) == 0 ? WriteBatch() : StreamBatch();
      } else if (r < 50) {
        err = Uniform(2) == 0 ? DeleteTag() : UpdateUnit();
      } else if (r < 60) {
        err = Uniform(2) == 0 ? AddNode() : RemoveNode();
      } else if (r < 68) {
        err = KillAndStartNode();
      } else if (r < 71) {
        err = KillAndStartEtcd();
      } else if (r < 83) {
        err = HoldOrReleaseMoves();
      } else if (r < 94) {
        err = Compact();
      } else {
        err = WaitForNoMoves();
      }
      if (err.empty()) err = CheckReads(/*every_node=*/false);
      if (err.empty() && mx_ != nullptr && !partitioned_) err = CheckPeerSite();
      if (!err.empty()) return fail(step, err);
    }
    std::string err = WaitForNoMoves();
    if (err.empty()) err = CheckReads(/*every_node=*/true);
    if (err.empty() && mx_ != nullptr) {
      if (partitioned_) err = TogglePartition();
      if (err.empty()) err = CheckPeerSite();
    }
    if (!err.empty()) return fail(kSteps + 1, err);
    if (std::getenv("HISTORIAN_MODEL_VERBOSE") != nullptr) {
      std::printf("seed %llu passed:\n  %s\n", static_cast<unsigned long long>(seed),
                  absl::StrJoin(log_, "\n  ").c_str());
    }
    return true;
  }

  uint64_t Uniform(uint64_t n) { return rng_() % n; }
  int RandomNode() { return static_cast<int>(Uniform(kNodes)); }
  void Log(std::string line) { log_.push_back(std::move(line)); }

  v1::PlacementResponse Placement() {
    v1::PlacementResponse p;
    for (int i = 0; i < kNodes; ++i) {
      if (cluster_->Placement(i, &p).ok() && p.num_shards() > 0) return p;
    }
    return p;
  }
  bool NoMoves() { return Placement().moves_size() == 0; }
  std::vector<int> Members(const v1::PlacementResponse& p) {
    std::vector<int> members;
    for (int i = 0; i < kNodes; ++i) {
      for (const v1::ClusterMember& m : p.members()) {
        if (m.address() == cluster_->address(i)) members.push_back(i);
      }
    }
    return members;
  }

  // 1..6 random tags, 1..4 samples each at random slots; `wrote` is what
  // the batch holds. Values are unique across the run.
  void RandomBatch(v1::WriteRequest* batch, Model* wrote, bool mx_tags = false) {
    ++batches_;
    const int tags = 1 + static_cast<int>(Uniform(6));
    for (int i = 0; i < tags; ++i) {
      const std::string tag = mx_tags ? MxTagName(static_cast<int>(Uniform(kMxTags)))
                                      : TagName(static_cast<int>(Uniform(kTags)));
      if (wrote->count(tag)) continue;
      v1::TagSamples* series = batch->add_series();
      series->set_tag(tag);
      const int samples = 1 + static_cast<int>(Uniform(4));
      for (int j = 0; j < samples; ++j) {
        const int64_t ts = kT0 + static_cast<int64_t>(Uniform(kSlots)) * kSecond;
        if ((*wrote)[tag].count(ts)) continue;
        const double v = static_cast<double>(batches_) + 0.01 * j;
        (*wrote)[tag][ts] = v;
        v1::Sample* s = series->add_samples();
        s->set_timestamp_ns(ts);
        s->mutable_value()->set_double_value(v);
      }
    }
  }
  void Apply(const Model& wrote) {
    for (const auto& [tag, samples] : wrote) {
      if (!model_.count(tag)) units_[tag] = "";  // created by this batch
      for (const auto& [ts, v] : samples) model_[tag][ts] = v;
    }
  }

  // A random batch by Ingest.WriteBatch through a random node, retried
  // (the same client id and sequence) through the next until one says OK.
  std::string WriteBatch() {
    v1::WriteRequest batch;
    batch.set_client_id("cluster-model");
    batch.set_batch_sequence(++sequence_);
    Model wrote;
    RandomBatch(&batch, &wrote);
    const int first = RandomNode();
    Log(absl::StrCat("write batch ", sequence_, " (", batch.series_size(), " tags) via node ",
                     first));
    const absl::Time give_up = absl::Now() + absl::Minutes(2);
    grpc::Status s;
    for (int attempt = 0; absl::Now() < give_up; ++attempt) {
      const std::string address = cluster_->address((first + attempt) % kNodes);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::WriteAck ack;
      s = v1::Ingest::NewStub(Channel(address))->WriteBatch(&ctx, batch, &ack);
      if (s.ok() && (ack.rejected_size() > 0 || ack.accepted_count() != Samples(wrote))) {
        return absl::StrCat("batch ", sequence_, " answered OK via ", address, " with ",
                            ack.accepted_count(), " of ", Samples(wrote),
                            " samples accepted: ", ack.ShortDebugString());
      }
      if (s.ok()) {
        Apply(wrote);
        return "";
      }
      if (!Retryable(s)) break;
      if (std::string err = ReleaseIfStuck(attempt); !err.empty()) return err;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::StrCat("batch ", sequence_, " never stored: ", s.error_code(), " ",
                        s.error_message());
  }

  // A random batch through the client library's streaming Writer, as a
  // gateway sends: Ingest.Write streams straight to each tag's owner
  // (route_to_owners, its placement read now and then, so sometimes
  // stale), retried by the Writer until acked. One Writer for the run.
  std::string StreamBatch() {
    if (writer_ == nullptr) {
      client::WriterOptions options;
      options.endpoints = cluster_->addresses();
      options.client_id = "cluster-model-writer";
      options.route_to_owners = true;
      options.placement_refresh = absl::Seconds(2);
      options.on_result = [this](uint64_t sequence, const absl::Status& status,
                                 const v1::WriteAck& ack) {
        absl::MutexLock l(&results_mu_);
        results_[sequence] = {status, ack};
      };
      absl::StatusOr<std::unique_ptr<client::Writer>> w = client::Writer::Start(options);
      if (!w.ok()) return "Writer::Start: " + w.status().ToString();
      writer_ = *std::move(w);
    }
    v1::WriteRequest batch;
    Model wrote;
    RandomBatch(&batch, &wrote);
    absl::StatusOr<uint64_t> sequence = writer_->Send(batch);
    if (!sequence.ok()) return "Writer::Send: " + sequence.status().ToString();
    Log(absl::StrCat("stream batch ", *sequence, " (", batch.series_size(), " tags)"));
    absl::Status idle = writer_->WaitIdle(absl::Now() + absl::Seconds(5));
    if (absl::IsDeadlineExceeded(idle)) {
      // A held move may keep it waiting: release them.
      if (std::string err = ReleaseAll(); !err.empty()) return err;
      idle = writer_->WaitIdle(absl::Now() + absl::Minutes(2));
    }
    if (!idle.ok()) {
      return absl::StrCat("stream batch ", *sequence, " never acked: ", idle.ToString(),
                          "; writer: ", writer_->stats().last_error.ToString());
    }
    // on_result runs on the writer's thread, maybe just after WaitIdle.
    absl::MutexLock l(&results_mu_);
    auto reported = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(results_mu_) {
      return results_.count(*sequence) > 0;
    };
    if (!results_mu_.AwaitWithTimeout(absl::Condition(&reported), absl::Seconds(30))) {
      return absl::StrCat("stream batch ", *sequence, ": idle, but never reported");
    }
    const auto& [status, ack] = results_[*sequence];
    if (!status.ok() || ack.rejected_size() > 0 || ack.accepted_count() != Samples(wrote)) {
      return absl::StrCat("stream batch ", *sequence, ": ", status.ToString(), ", ",
                          ack.accepted_count(), " of ", Samples(wrote),
                          " samples accepted: ", ack.ShortDebugString());
    }
    Apply(wrote);
    return "";
  }

  // A random batch of the peer site's own tags, written there.
  std::string MxWrite() {
    v1::WriteRequest batch;
    batch.set_client_id("cluster-model-mx");
    batch.set_batch_sequence(++mx_sequence_);
    Model wrote;
    RandomBatch(&batch, &wrote, /*mx_tags=*/true);
    Log(absl::StrCat("write batch ", mx_sequence_, " (", batch.series_size(), " tags) at mx"));
    grpc::Status s;
    int attempt = 0;
    WaitFor(
        [&] {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
          v1::WriteAck ack;
          s = v1::Ingest::NewStub(Channel(mx_->address(static_cast<int>(Uniform(mx_nodes_)))))
                  ->WriteBatch(&ctx, batch, &ack);
          if (!Retryable(s)) return true;
          // A move held at mx holds the write up to a second each time:
          // release early (an error shows in `s`).
          if (++attempt == 10) ReleaseAll();
          return false;
        },
        absl::Seconds(60));
    if (!s.ok()) return "mx batch never stored: " + s.error_message();
    for (const auto& [tag, samples] : wrote) {
      for (const auto& [ts, v] : samples) mx_model_[tag][ts] = v;
    }
    return "";
  }

  // Cuts every link between the sites, or heals them.
  std::string TogglePartition() {
    partitioned_ = !partitioned_;
    Log(partitioned_ ? "partition the sites" : "heal the partition");
    for (auto& p : us_proxies_) partitioned_ ? p->Cut() : p->Heal();
    for (auto& p : mx_proxies_) partitioned_ ? p->Cut() : p->Heal();
    return "";
  }

  // kill -9 of a random node of the peer cluster, and a start again (its
  // moves, pulls and the cluster's pulls from it resume).
  std::string MxKillAndStartNode() {
    const int node = static_cast<int>(Uniform(mx_nodes_));
    Log(absl::StrCat("mx: kill -9 node ", node, " and start it again"));
    mx_->KillNode(node);
    if (!mx_->StartNode(node)) return absl::StrCat("mx node ", node, " did not start again");
    return "";
  }

  // `historian cluster add-node|remove-node` at the peer site (a cluster
  // of its own), while no move of its earlier change is left: its shards
  // move while it pulls from and is pulled by the cluster.
  std::string MxChangeMembers() {
    v1::PlacementResponse p;
    for (int i = 0; i < mx_nodes_ && p.num_shards() == 0; ++i) mx_->Placement(i, &p);
    if (p.num_shards() == 0 || p.moves_size() > 0) return MxWrite();
    std::vector<int> members, outside;
    for (int i = 0; i < mx_nodes_; ++i) {
      const bool member =
          std::any_of(p.members().begin(), p.members().end(),
                      [&](const v1::ClusterMember& m) { return m.address() == mx_->address(i); });
      (member ? members : outside).push_back(i);
    }
    const bool add = !outside.empty() && (members.size() < 2 || Uniform(2) == 0);
    const int node = add ? outside[Uniform(outside.size())] : members[Uniform(members.size())];
    const std::string verb = add ? "add-node" : "remove-node";
    return RunMembershipCommand(*mx_, "mx: ", static_cast<int>(Uniform(mx_nodes_)), verb, node);
  }

  // The sites converge (2 minutes at most): every cluster tag reads its
  // model at the peer site, and every peer-site tag reads its model
  // through the cluster (at the member owning it now).
  std::string CheckPeerSite() {
    std::vector<std::string> problems;
    const bool converged = WaitFor(
        [&] {
          problems.clear();
          for (int t = 0; t < kTags; ++t) {
            std::string p = CompareTag(mx_->address(t % mx_nodes_), TagName(t), model_);
            if (!p.empty()) problems.push_back(p + " (at mx)");
          }
          for (int t = 0; t < kMxTags; ++t) {
            std::string p = CompareTag(cluster_->address(t % kNodes), MxTagName(t), mx_model_);
            if (!p.empty()) problems.push_back(p + " (mx's tag at us)");
          }
          return problems.empty();
        },
        absl::Minutes(2));
    return converged ? ""
                     : absl::StrCat("the sites did not converge within 2 minutes:\n  ",
                                    absl::StrJoin(problems, "\n  "));
  }

  static uint64_t Samples(const Model& m) {
    uint64_t n = 0;
    for (const auto& [tag, samples] : m) n += samples.size();
    return n;
  }

  std::string DeleteTag() {
    const std::string tag = TagName(static_cast<int>(Uniform(kTags)));
    const int first = RandomNode();
    Log(absl::StrCat("delete ", tag, " via node ", first));
    const absl::Time give_up = absl::Now() + absl::Minutes(2);
    grpc::Status s;
    for (int attempt = 0; absl::Now() < give_up; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::DeleteTagRequest req;
      req.set_name(tag);
      v1::DeleteTagResponse resp;
      s = v1::Catalog::NewStub(Channel(cluster_->address((first + attempt) % kNodes)))
              ->DeleteTag(&ctx, req, &resp);
      // NOT_FOUND after a retry: an earlier attempt deleted it.
      const bool gone =
          s.error_code() == grpc::StatusCode::NOT_FOUND && (attempt > 0 || model_.count(tag) == 0);
      if (s.ok() || gone) {
        model_.erase(tag);
        units_.erase(tag);
        return "";
      }
      if (!Retryable(s)) break;
      if (std::string err = ReleaseIfStuck(attempt); !err.empty()) return err;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::StrCat("delete of ", tag, " failed: ", s.error_code(), " ", s.error_message());
  }

  // Catalog.UpdateTag of a tag the model holds: a new unit (the tag's other
  // settings stay unset), through a random node, retried until one says OK.
  std::string UpdateUnit() {
    if (model_.empty()) return WriteBatch();
    auto it = model_.begin();
    std::advance(it, static_cast<long>(Uniform(model_.size())));
    const std::string tag = it->first;
    const std::string unit = absl::StrCat("u", ++batches_);
    const int first = RandomNode();
    Log(absl::StrCat("unit of ", tag, " := ", unit, " via node ", first));
    const absl::Time give_up = absl::Now() + absl::Minutes(2);
    grpc::Status s;
    for (int attempt = 0; absl::Now() < give_up; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::UpdateTagRequest req;
      req.mutable_tag()->set_name(tag);
      req.mutable_tag()->set_unit(unit);
      v1::Tag resp;
      s = v1::Catalog::NewStub(Channel(cluster_->address((first + attempt) % kNodes)))
              ->UpdateTag(&ctx, req, &resp);
      if (s.ok()) {
        units_[tag] = unit;
        return "";
      }
      if (!Retryable(s)) break;
      if (std::string err = ReleaseIfStuck(attempt); !err.empty()) return err;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::StrCat("update of ", tag, " failed: ", s.error_code(), " ", s.error_message());
  }

  // `historian cluster add-node|remove-node ADDR` through a random node,
  // while no move of an earlier change is left (else the change is
  // refused as in progress, which is not what this step tests).
  std::string ChangeMembers(const std::string& verb, int node) {
    return RunMembershipCommand(*cluster_, "", RandomNode(), verb, node);
  }
  // `historian cluster VERB ADDR` of `site`'s node `node` through its node
  // `via`, logged behind `label`.
  std::string RunMembershipCommand(ClusterFixture& site, const std::string& label, int via,
                                   const std::string& verb, int node) {
    Log(absl::StrCat(label, "cluster ", verb, " node ", node, " via node ", via));
    CommandResult result;
    // A node started again registers within a moment; etcd started again
    // answers within one.
    WaitFor(
        [&] {
          result = site.Cli(via, {"cluster", verb, site.address(node)});
          return result.exit_code == 0 || (!absl::StrContains(result.err, "not registered") &&
                                           !absl::StrContains(result.err, "UNAVAILABLE") &&
                                           !absl::StrContains(result.err, "unavailable"));
        },
        absl::Seconds(60));
    if (result.exit_code != 0) {
      return absl::StrCat(label, "cluster ", verb, " failed: ", result.out, result.err);
    }
    return "";
  }
  std::string AddNode() {
    const v1::PlacementResponse p = Placement();
    if (p.moves_size() > 0) return WriteBatch();
    const std::vector<int> members = Members(p);
    std::vector<int> outside;
    for (int i = 0; i < kNodes; ++i) {
      if (std::find(members.begin(), members.end(), i) == members.end()) outside.push_back(i);
    }
    if (outside.empty()) return RemoveNode();
    return ChangeMembers("add-node", outside[Uniform(outside.size())]);
  }
  std::string RemoveNode() {
    const v1::PlacementResponse p = Placement();
    if (p.moves_size() > 0) return WriteBatch();
    const std::vector<int> members = Members(p);
    if (members.size() < 2) return AddNode();
    return ChangeMembers("remove-node", members[Uniform(members.size())]);
  }

  std::string KillAndStartNode() {
    const int node = RandomNode();
    Log(absl::StrCat("kill -9 node ", node, " and start it again"));
    cluster_->KillNode(node);
    if (!cluster_->StartNode(node)) return absl::StrCat("node ", node, " did not start again");
    return "";
  }

  std::string KillAndStartEtcd() {
    Log("kill -9 etcd and start it again");
    cluster_->etcd().Kill();
    if (!cluster_->StartEtcd()) return "etcd did not start again";
    return "";
  }

  // Holds every move of a random node at a random step (the test hook,
  // --cluster_move_test_pause: a writer of a shard held FLIPPED waits for
  // the release), or releases the node's held moves; each a clean restart.
  std::string HoldOrReleaseMoves() {
    const int node = RandomNode();
    return ToggleHold(*cluster_, "", node, &held_[node]);
  }
  // The same at the peer cluster: its shards closed for a handover held
  // there make its writes and reads wait (released when stuck, as here).
  std::string MxHoldOrReleaseMoves() {
    const int node = static_cast<int>(Uniform(mx_nodes_));
    return ToggleHold(*mx_, "mx: ", node, &mx_held_[node]);
  }
  // Holds every move of `site`'s node `node` at a random step (`*held`:
  // the pause flag it runs with, "" for none), or releases them; each a
  // clean restart.
  std::string ToggleHold(ClusterFixture& site, const std::string& label, int node,
                         std::string* held) {
    static const char* const kHoldSteps[] = {"copy",  "tail",          "flip",
                                             "fence", "tail_to_fence", "finish"};
    if (!held->empty()) return Release(site, label, node, held);
    *held = absl::StrCat("--cluster_move_test_pause=", kHoldSteps[Uniform(6)]);
    Log(absl::StrCat(label, "hold the moves of node ", node, " (", *held, ")"));
    site.node(node).mutable_flags()->push_back(*held);
    return Restart(site, label, node);
  }
  std::string Release(ClusterFixture& site, const std::string& label, int node, std::string* held) {
    Log(absl::StrCat(label, "release the moves held at node ", node));
    auto* flags = site.node(node).mutable_flags();
    flags->erase(std::remove(flags->begin(), flags->end(), *held), flags->end());
    held->clear();
    return Restart(site, label, node);
  }
  std::string Restart(ClusterFixture& site, const std::string& label, int node) {
    if (int code = site.StopNode(node); code != 0) {
      return absl::StrCat(label, "node ", node, " stopped with ", code);
    }
    if (!site.StartNode(node)) return absl::StrCat(label, "node ", node, " did not start again");
    return "";
  }
  std::string ReleaseAll() {
    for (int node = 0; node < kNodes; ++node) {
      if (held_[node].empty()) continue;
      if (std::string err = Release(*cluster_, "", node, &held_[node]); !err.empty()) return err;
    }
    for (int node = 0; node < mx_nodes_; ++node) {
      if (mx_held_[node].empty()) continue;
      if (std::string err = Release(*mx_, "mx: ", node, &mx_held_[node]); !err.empty()) {
        return err;
      }
    }
    return "";
  }
  // A request retried for a while may wait for a held move: release them.
  std::string ReleaseIfStuck(int attempt) { return attempt == 40 ? ReleaseAll() : ""; }

  std::string Compact() {
    const int node = RandomNode();
    Log(absl::StrCat("Admin.Compact node ", node));
    grpc::Status s;
    WaitFor(
        [&] {
          grpc::ClientContext ctx;
          v1::CompactResponse resp;
          s = v1::Admin::NewStub(Channel(cluster_->address(node)))
                  ->Compact(&ctx, v1::CompactRequest(), &resp);
          return s.error_code() != grpc::StatusCode::UNAVAILABLE;
        },
        absl::Seconds(30));
    return s.ok() ? "" : absl::StrCat("Admin.Compact of node ", node, ": ", s.error_message());
  }

  std::string WaitForNoMoves() {
    if (std::string err = ReleaseAll(); !err.empty()) return err;
    Log("wait until no move is left");
    v1::PlacementResponse last;
    if (!cluster_->WaitForPlacement(
            [&](const v1::PlacementResponse& p) {
              last = p;
              return p.moves_size() == 0;
            },
            absl::Minutes(3))) {
      return absl::StrCat("moves still under way after 3 minutes: ", last.ShortDebugString());
    }
    return "";
  }

  // Every node, or a random one.
  std::vector<int> NodesToCheck(bool every_node) {
    if (!every_node) return {RandomNode()};
    std::vector<int> nodes;
    for (int i = 0; i < kNodes; ++i) nodes.push_back(i);
    return nodes;
  }

  // Each tag reads exactly the model through a random node (every node).
  std::string CheckReads(bool every_node) {
    std::vector<std::string> problems;
    for (int t = 0; t < kTags; ++t) {
      for (int node : NodesToCheck(every_node)) {
        std::string p = CompareTag(cluster_->address(node), TagName(t), model_);
        if (!p.empty()) problems.push_back(absl::StrCat(p, " (node ", node, ")"));
      }
    }
    CheckLatestAndListing(every_node, &problems);
    return problems.empty() ? "" : absl::StrJoin(problems, "\n  ");
  }

  // "" when `tag` reads exactly `model` through the node at `address`
  // (NOT_FOUND or nothing for a tag the model lacks); else what differs.
  std::string CompareTag(const std::string& address, const std::string& tag, const Model& model) {
    std::vector<std::pair<int64_t, double>> got;
    grpc::Status s;
    // A closed shard (a handover) or an owner starting again answers
    // UNAVAILABLE for a moment; never a partial answer.
    int attempt = 0;
    WaitFor(
        [&] {
          got.clear();
          s = ReadTagSamples(address, tag, kT0, kT0 + kSlots * kSecond, &got);
          if (!Retryable(s)) return true;
          ReleaseIfStuck(attempt++);  // an error shows in the read's status
          return false;
        },
        absl::Seconds(60));
    auto it = model.find(tag);
    if (it == model.end() || it->second.empty()) {
      if (s.error_code() == grpc::StatusCode::NOT_FOUND || (s.ok() && got.empty())) return "";
      return absl::StrCat(tag, " through ", address,
                          ": want nothing (deleted or never written), got ", got.size(),
                          " samples, status ", s.error_code(), " ", s.error_message());
    }
    if (!s.ok()) {
      return absl::StrCat(tag, " through ", address, ": ", s.error_code(), " ", s.error_message());
    }
    const std::vector<std::pair<int64_t, double>> want(it->second.begin(), it->second.end());
    if (got == want) return "";
    std::string diff;
    for (const auto& [ts, v] : want) {
      auto g = std::find_if(got.begin(), got.end(), [&](auto& p) { return p.first == ts; });
      if (g == got.end()) {
        absl::StrAppend(&diff, " missing ", (ts - kT0) / kSecond, "s=", v, ";");
      } else if (g->second != v) {
        absl::StrAppend(&diff, " ", (ts - kT0) / kSecond, "s=", g->second, " want ", v, ";");
      }
    }
    return absl::StrCat(tag, " through ", address, ": ", got.size(), " samples, want ", want.size(),
                        ":", diff);
  }

  // Query.Latest and Catalog.ListTags of every cm.* tag (fanned out to the
  // owners) through a random node (every node): the newest sample of each
  // tag the model holds, and exactly those tags listed.
  void CheckLatestAndListing(bool every_node, std::vector<std::string>* problems) {
    std::map<std::string, std::pair<int64_t, double>> newest;
    for (const auto& [tag, samples] : model_) {
      if (!samples.empty()) newest[tag] = *samples.rbegin();
    }
    for (int node : NodesToCheck(every_node)) {
      auto channel = Channel(cluster_->address(node));
      v1::LatestResponse latest;
      v1::ListTagsResponse listed;
      grpc::Status ls, ts;
      int attempt = 0;
      WaitFor(
          [&] {
            v1::LatestRequest req;
            req.set_glob("cm.*");
            grpc::ClientContext lctx;
            latest.Clear();
            ls = v1::Query::NewStub(channel)->Latest(&lctx, req, &latest);
            v1::ListTagsRequest list;
            list.set_glob("cm.*");
            grpc::ClientContext tctx;
            listed.Clear();
            ts = v1::Catalog::NewStub(channel)->ListTags(&tctx, list, &listed);
            if (!Retryable(ls) && !Retryable(ts)) return true;
            ReleaseIfStuck(attempt++);
            return false;
          },
          absl::Seconds(60));
      if (!ls.ok() || !ts.ok()) {
        problems->push_back(absl::StrCat("Latest/ListTags through node ", node, ": ",
                                         ls.error_message(), " / ", ts.error_message()));
        continue;
      }
      std::map<std::string, std::pair<int64_t, double>> got;
      for (const v1::LatestValue& v : latest.values()) {
        if (v.has_sample()) {
          got[v.tag()] = {v.sample().timestamp_ns(), v.sample().value().double_value()};
        }
      }
      if (got != newest) {
        std::string diff;
        for (const auto& [tag, want] : newest) {
          auto it = got.find(tag);
          if (it == got.end()) {
            absl::StrAppend(&diff, " ", tag, " missing;");
          } else if (it->second != want) {
            absl::StrAppend(&diff, " ", tag, " at ", (it->second.first - kT0) / kSecond,
                            "s=", it->second.second, " want ", (want.first - kT0) / kSecond,
                            "s=", want.second, ";");
          }
        }
        for (const auto& [tag, v] : got) {
          if (!newest.count(tag)) absl::StrAppend(&diff, " ", tag, " not in the model;");
        }
        problems->push_back(absl::StrCat("Latest through node ", node, ":", diff));
      }
      std::set<std::string> names, want_names;
      for (const v1::Tag& t : listed.tags()) {
        names.insert(t.name());
        auto unit = units_.find(t.name());
        if (unit != units_.end() && t.unit() != unit->second) {
          problems->push_back(absl::StrCat("ListTags through node ", node, ": ", t.name(),
                                           " has unit '", t.unit(), "', want '", unit->second,
                                           "'"));
        }
      }
      for (const auto& [tag, v] : newest) want_names.insert(tag);
      if (names != want_names) {
        problems->push_back(absl::StrCat("ListTags through node ", node, ": ",
                                         absl::StrJoin(names, ","), ", want ",
                                         absl::StrJoin(want_names, ",")));
      }
    }
  }

  std::unique_ptr<ClusterFixture> cluster_;
  std::unique_ptr<client::Writer> writer_;  // StreamBatch's, made on first use
  absl::Mutex results_mu_;
  std::map<uint64_t, std::pair<absl::Status, v1::WriteAck>> results_ ABSL_GUARDED_BY(results_mu_);
  uint64_t batches_ = 0;
  std::mt19937_64 rng_;
  Model model_;
  // The peer site (RunSeed's peer_nodes): its nodes, the proxies the sites
  // reach each other through (MX pulls US node i through us_proxies_[i]),
  // its own tags' model.
  std::unique_ptr<ClusterFixture> mx_;
  int mx_nodes_ = 0;
  std::vector<std::unique_ptr<FaultProxy>> us_proxies_;
  std::vector<std::unique_ptr<FaultProxy>> mx_proxies_;  // the US nodes reach mx node i by i
  Model mx_model_;
  uint64_t mx_sequence_ = 0;
  bool partitioned_ = false;
  std::map<std::string, std::string> units_;  // of every tag in model_
  std::vector<std::string> log_;
  uint64_t sequence_ = 0;
  std::string held_[kNodes];          // the pause flag a node runs with ("": none)
  std::vector<std::string> mx_held_;  // the same for the peer cluster's nodes
};

TEST_F(ClusterModelTest, MembershipChangesUnderWritesMatchTheModel) {
  for (uint64_t seed : ModelSeeds(/*ci_count=*/1)) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    RunSeed(seed, {"--chunk_max_samples=8", "--head_max_age=1s"});
  }
}

// The same with a peer site (one node) replicating both ways with the
// cluster: it writes tags of its own, and the sites are partitioned and
// healed now and then. Whenever they are connected, each site reads the
// other's tags exactly as modelled (the cluster's at its current owners),
// whatever moves run.
//
//
// Its first runs found a loss (seed 4, 2 runs of 2, fixed 2026-12-07). Tags
// created at the old owner during a partition moved to a new owner, whose
// log held later samples of them by tag id without their definitions. The
// peer pulled that log before the old owner's, skipped the series of tags
// it did not know yet, and never got those samples. A move's target now
// writes the definitions of the shard's tags to its own log before it
// opens the shard (Store::AnnounceShardTags).
TEST_F(ClusterModelTest, MembershipChangesWithAPeerSitePullingMatchTheModel) {
  for (uint64_t seed : ModelSeeds(/*ci_count=*/1)) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    RunSeed(seed, {"--chunk_max_samples=8", "--head_max_age=1s"}, /*peer_nodes=*/1);
  }
}

// The same with a peer site that is a cluster of three nodes (two placed)
// whose membership changes too: shards move at both sites at once while
// each pulls from the other's owners (docs/cluster.md "Between site
// clusters"; a moved shard is range-synced from its new owner, no cursor
// reused across owners).
TEST_F(ClusterModelTest, MembershipChangesAtBothSitesMatchTheModel) {
  for (uint64_t seed : ModelSeeds(/*ci_count=*/1)) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    RunSeed(seed, {"--chunk_max_samples=8", "--head_max_age=1s"}, /*peer_nodes=*/3);
  }
}

// The same with both sites trimming their logs at once: moves at either
// site copy again or roll back, and every cross-site pull that finds its
// peer's log trimmed past its cursor range-syncs.
TEST_F(ClusterModelTest, MembershipChangesAtBothSitesWithLogsTrimmedMatchTheModel) {
  for (uint64_t seed : ModelSeeds(/*ci_count=*/1)) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    RunSeed(seed, {"--chunk_max_samples=8", "--head_max_age=1s", "--log_retention_bytes=1"},
            /*peer_nodes=*/3);
  }
}

// The same with every node keeping its own log for no one: a compaction
// trims what a move's tail has not read yet, so moves copy again (before
// their flip) or roll back (after it).
TEST_F(ClusterModelTest, MembershipChangesWithLogsTrimmedAtOnceMatchTheModel) {
  for (uint64_t seed : ModelSeeds(/*ci_count=*/1)) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    RunSeed(seed, {"--chunk_max_samples=8", "--head_max_age=1s", "--log_retention_bytes=1"});
  }
}

}  // namespace
}  // namespace historian::testing
