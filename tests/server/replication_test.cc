// Replication between real historiand processes on 127.0.0.1, with a
// fault-injecting TCP proxy of our own on every link: both directions,
// partitions with conflicting writes, kill -9 during catch-up, three sites,
// and range sync after a peer's log was trimmed. Convergence is checked with
// the node's own digest comparison (Admin.Verify) and by reading back.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
using testing::FaultProxy;
using testing::FreePort;
using testing::NodeProcess;

// Polls `done` until it is true or 120 s pass (a generous bound: the check
// is the condition, not the time).
template <typename Fn>
bool Eventually(Fn done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

struct Site {
  std::string name;
  int port = 0;
  std::unique_ptr<NodeProcess> node;
  std::shared_ptr<grpc::Channel> channel;

  v1::StatsResponse Stats() {
    v1::StatsResponse r;
    grpc::ClientContext ctx;
    v1::Admin::NewStub(channel)->Stats(&ctx, v1::StatsRequest(), &r);
    return r;
  }
  v1::VerifyResponse Verify(const std::string& peer, grpc::Status* st) {
    v1::VerifyRequest req;
    req.set_peer_site(peer);
    v1::VerifyResponse r;
    grpc::ClientContext ctx;
    *st = v1::Admin::NewStub(channel)->Verify(&ctx, req, &r);
    return r;
  }
  void Write(const std::string& tag, int64_t from, int n, double base, uint64_t* acked = nullptr) {
    WriteSamples(tag, from, n, [&](int i, v1::Value* v) { v->set_double_value(base + i); });
    if (acked) *acked += n;
  }
  // One batch of n samples of `tag` at from, from+1, ...; set_value(i, value)
  // fills sample i. Asserts that all n are accepted.
  void WriteSamples(const std::string& tag, int64_t from, int n,
                    const std::function<void(int, v1::Value*)>& set_value) {
    v1::WriteRequest req;
    auto* s = req.add_series();
    s->set_tag(tag);
    for (int i = 0; i < n; ++i) {
      auto* sample = s->add_samples();
      sample->set_timestamp_ns(from + i);
      set_value(i, sample->mutable_value());
    }
    v1::WriteAck ack;
    grpc::ClientContext ctx;
    grpc::Status st = v1::Ingest::NewStub(channel)->WriteBatch(&ctx, req, &ack);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(ack.accepted_count(), static_cast<uint64_t>(n));
  }
  grpc::Status DeleteTag(const std::string& tag) {
    v1::DeleteTagRequest req;
    req.set_name(tag);
    v1::DeleteTagResponse resp;
    grpc::ClientContext ctx;
    return v1::Catalog::NewStub(channel)->DeleteTag(&ctx, req, &resp);
  }
  bool HasTag(const std::string& tag) {
    v1::GetTagRequest req;
    req.set_name(tag);
    v1::Tag resp;
    grpc::ClientContext ctx;
    return v1::Catalog::NewStub(channel)->GetTag(&ctx, req, &resp).ok();
  }
  // Verify with repair: anti-entropy with `peer` now.
  grpc::Status Repair(const std::string& peer) {
    v1::VerifyRequest req;
    req.set_peer_site(peer);
    req.set_repair(true);
    v1::VerifyResponse resp;
    grpc::ClientContext ctx;
    return v1::Admin::NewStub(channel)->Verify(&ctx, req, &resp);
  }
  void WriteInts(const std::string& tag, int64_t from, int n, int64_t base) {
    WriteSamples(tag, from, n, [&](int i, v1::Value* v) { v->set_int64_value(base + i); });
  }
  // COUNT over [start, end) in one window.
  uint64_t Count(const std::string& tag, int64_t start, int64_t end) {
    v1::AggregateRequest req;
    req.add_tags(tag);
    req.set_start_ns(start);
    req.set_end_ns(end);
    req.set_step_ns(end - start);
    req.add_functions(v1::COUNT);
    v1::AggregateResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = v1::Query::NewStub(channel)->Aggregate(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    if (resp.series_size() != 1 || resp.series(0).windows_size() != 1) return UINT64_MAX;
    return resp.series(0).windows(0).count();
  }
  // The plot points of [start, end) in `buckets` buckets.
  std::vector<v1::Sample> Plot(const std::string& tag, int64_t start, int64_t end, int buckets) {
    v1::PlotRequest req;
    req.add_tags(tag);
    req.set_start_ns(start);
    req.set_end_ns(end);
    req.set_buckets(buckets);
    v1::PlotResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = v1::Query::NewStub(channel)->Plot(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    if (resp.series_size() != 1) return {};
    return {resp.series(0).samples().begin(), resp.series(0).samples().end()};
  }
  std::map<int64_t, double> Read(const std::string& tag) {
    v1::ReadRequest req;
    req.add_tags(tag);
    req.set_start_ns(0);
    req.set_end_ns(int64_t{1} << 62);
    std::map<int64_t, double> out;
    grpc::ClientContext ctx;
    auto reader = v1::Query::NewStub(channel)->Read(&ctx, req);
    v1::ReadResponse resp;
    while (reader->Read(&resp)) {
      for (const auto& s : resp.samples()) {
        out[s.timestamp_ns()] = s.value().has_int64_value()
                                    ? static_cast<double>(s.value().int64_value())
                                    : s.value().double_value();
      }
    }
    reader->Finish();
    return out;
  }
};

class ReplicationTest : public ::testing::Test {
 protected:
  // Creates `names` sites, each pulling from every other through its own
  // proxy (proxies_[{from, to}] carries `from` pulling `to`).
  void Setup(std::vector<std::string> names, std::vector<std::string> extra = {}) {
    for (const auto& n : names) {
      auto site = std::make_unique<Site>();
      site->name = n;
      site->port = FreePort();
      sites_[n] = std::move(site);
    }
    for (const auto& from : names) {
      std::string peers;
      for (const auto& to : names) {
        if (to == from) continue;
        auto proxy = std::make_unique<FaultProxy>("127.0.0.1:" + std::to_string(sites_[to]->port));
        if (!peers.empty()) peers += ",";
        peers += to + "=" + proxy->address();
        proxies_[{from, to}] = std::move(proxy);
      }
      flags_[from] = {"--site=" + from, "--peers=" + peers,
                      "--listen=127.0.0.1:" + std::to_string(sites_[from]->port),
                      "--anti_entropy_interval=0s", "--chunk_max_samples=128"};
      flags_[from].insert(flags_[from].end(), extra.begin(), extra.end());
    }
    for (const auto& n : names) Start(n);
  }
  void Start(const std::string& name) {
    Site& s = *sites_[name];
    s.node = std::make_unique<NodeProcess>(dir_.Sub(name), flags_[name]);
    ASSERT_TRUE(s.node->Start());
    s.channel = grpc::CreateChannel(s.node->address(), grpc::InsecureChannelCredentials());
  }
  // Cuts or heals every link of `name` (both directions).
  void Isolate(const std::string& name, bool cut) {
    for (auto& [key, proxy] : proxies_) {
      if (key.first == name || key.second == name) cut ? proxy->Cut() : proxy->Heal();
    }
  }
  bool Converged(const std::string& a, const std::string& b) {
    grpc::Status st;
    v1::VerifyResponse v = sites_[a]->Verify(b, &st);
    return st.ok() && v.buckets_differing() == 0 && v.local_samples() == v.peer_samples();
  }

  testing::TempDir dir_;
  std::map<std::string, std::unique_ptr<Site>> sites_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<FaultProxy>> proxies_;
  std::map<std::string, std::vector<std::string>> flags_;
};

TEST_F(ReplicationTest, BothSitesSeeBothPlants) {
  Setup({"us", "mx"});
  sites_["us"]->Write("us.line1.temp", 1000, 500, 20);
  sites_["mx"]->Write("mx.line1.temp", 1000, 700, 30);
  ASSERT_TRUE(Eventually([&] {
    return sites_["us"]->Read("mx.line1.temp").size() == 700 &&
           sites_["mx"]->Read("us.line1.temp").size() == 500;
  }));
  EXPECT_EQ(sites_["us"]->Read("mx.line1.temp"), sites_["mx"]->Read("mx.line1.temp"));
  ASSERT_TRUE(Eventually([&] { return Converged("us", "mx") && Converged("mx", "us"); }));
  // The tag catalog replicated too, with its origin.
  v1::StatsResponse stats = sites_["us"]->Stats();
  EXPECT_EQ(stats.tags(), 2u);
  ASSERT_EQ(stats.peers_size(), 1);
  EXPECT_EQ(stats.peers(0).site(), "mx");
  ASSERT_TRUE(Eventually([&] {
    auto p = sites_["us"]->Stats().peers(0);
    return p.state() == "connected" && p.lag_samples() == 0 && p.lag_seconds() == 0;
  }));
}

// The instrument range and stale_after_ns replicate with the rest of the
// tag's metadata, on create and on update.
TEST_F(ReplicationTest, TagRangeAndStaleAfterReachThePeer) {
  Setup({"us", "mx"});
  auto catalog = v1::Catalog::NewStub(sites_["us"]->channel);
  v1::CreateTagRequest create;
  create.mutable_tag()->set_name("us.flow");
  create.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
  create.mutable_tag()->set_eng_low(0);
  create.mutable_tag()->set_eng_high(250);
  create.mutable_tag()->set_stale_after_ns(60000000000);
  v1::Tag created;
  grpc::ClientContext cctx;
  ASSERT_TRUE(catalog->CreateTag(&cctx, create, &created).ok());
  auto peer_tag = [&](v1::Tag* out) {
    grpc::ClientContext ctx;
    v1::GetTagRequest get;
    get.set_name("us.flow");
    return v1::Catalog::NewStub(sites_["mx"]->channel)->GetTag(&ctx, get, out).ok();
  };
  v1::Tag got;
  ASSERT_TRUE(Eventually([&] { return peer_tag(&got); }));
  EXPECT_TRUE(got.has_eng_low());
  EXPECT_EQ(got.eng_low(), 0);
  EXPECT_EQ(got.eng_high(), 250);
  EXPECT_EQ(got.stale_after_ns(), 60000000000);
  v1::UpdateTagRequest update;
  *update.mutable_tag() = created;
  update.mutable_tag()->clear_eng_low();
  update.mutable_tag()->set_stale_after_ns(5000000000);
  v1::Tag updated;
  grpc::ClientContext uctx;
  ASSERT_TRUE(catalog->UpdateTag(&uctx, update, &updated).ok());
  ASSERT_TRUE(Eventually([&] { return peer_tag(&got) && got.stale_after_ns() == 5000000000; }));
  EXPECT_FALSE(got.has_eng_low());
  EXPECT_EQ(got.eng_high(), 250);
}

// A tag's definition changed (and a tag created without samples) while the
// peer could not pull, the log entries trimmed before it could: no sample
// differs, so only the digests' catalog versions show it; the peer's range
// sync stores them, and its verify then finds none behind.
TEST_F(ReplicationTest, DefinitionsChangedWhileTrimmedReachThePeerByRangeSync) {
  Setup({"us", "mx"}, {"--log_retention_bytes=1", "--head_max_age=0s"});
  Site& us = *sites_["us"];
  Site& mx = *sites_["mx"];
  us.Write("us.flow", 0, 10, 1);
  ASSERT_TRUE(Eventually([&] { return mx.Read("us.flow").size() == 10; }));
  auto catalog = v1::Catalog::NewStub(us.channel);
  auto get = [&](Site& at, const std::string& name, v1::Tag* out) {
    grpc::ClientContext ctx;
    v1::GetTagRequest req;
    req.set_name(name);
    return v1::Catalog::NewStub(at.channel)->GetTag(&ctx, req, out).ok();
  };
  v1::Tag flow;
  ASSERT_TRUE(get(us, "us.flow", &flow));
  Isolate("us", /*cut=*/true);
  const uint64_t trimmed = us.Stats().log_entries_trimmed();
  {
    v1::UpdateTagRequest update;
    *update.mutable_tag() = flow;
    update.mutable_tag()->set_unit("m3/h");
    update.mutable_tag()->set_eng_high(250);
    v1::Tag updated;
    grpc::ClientContext ctx;
    ASSERT_TRUE(catalog->UpdateTag(&ctx, update, &updated).ok());
  }
  {
    v1::CreateTagRequest create;
    create.mutable_tag()->set_name("us.spare");
    create.mutable_tag()->set_value_type(v1::VALUE_TYPE_INT64);
    create.mutable_tag()->set_unit("rpm");
    v1::Tag created;
    grpc::ClientContext ctx;
    ASSERT_TRUE(catalog->CreateTag(&ctx, create, &created).ok());
  }
  ASSERT_TRUE(Eventually([&] { return us.Stats().log_entries_trimmed() >= trimmed + 2; }));
  // mx's pull finds the gap and range-syncs: no sample differs, so only
  // the digests' catalog versions bring the two definitions.
  Isolate("us", /*cut=*/false);
  v1::Tag at_mx;
  ASSERT_TRUE(Eventually([&] {
    return get(mx, "us.spare", &at_mx) && get(mx, "us.flow", &flow) && flow.unit() == "m3/h";
  })) << "at mx: "
      << flow.DebugString() << "spare: " << at_mx.DebugString();
  EXPECT_EQ(at_mx.unit(), "rpm");
  EXPECT_EQ(at_mx.value_type(), v1::VALUE_TYPE_INT64);
  EXPECT_EQ(flow.eng_high(), 250);
  grpc::Status st;
  v1::VerifyResponse after = mx.Verify("us", &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(after.tag_definitions_behind(), 0u);
  EXPECT_EQ(after.buckets_differing(), 0u);
}

TEST_F(ReplicationTest, PartitionWithConflictingWritesConvergesWhenHealed) {
  Setup({"us", "mx"});
  sites_["us"]->Write("shared.setpoint", 0, 10, 1);
  ASSERT_TRUE(Eventually([&] { return sites_["mx"]->Read("shared.setpoint").size() == 10; }));
  Isolate("us", /*cut=*/true);
  // Both plants keep recording; both correct the same timestamps.
  uint64_t us_acked = 0, mx_acked = 0;
  for (int i = 0; i < 20; ++i) {
    sites_["us"]->Write("us.flow", i * 100, 100, i, &us_acked);
    sites_["mx"]->Write("mx.flow", i * 100, 100, -i, &mx_acked);
  }
  sites_["us"]->Write("shared.setpoint", 0, 5, 100);
  sites_["mx"]->Write("shared.setpoint", 3, 5, 200);
  EXPECT_EQ(sites_["us"]->Read("mx.flow").size(), 0u);  // cut: nothing crossed
  Isolate("us", /*cut=*/false);
  ASSERT_TRUE(Eventually([&] {
    return sites_["us"]->Read("mx.flow").size() == mx_acked &&
           sites_["mx"]->Read("us.flow").size() == us_acked;
  }));
  ASSERT_TRUE(Eventually([&] { return Converged("us", "mx") && Converged("mx", "us"); }));
  auto us = sites_["us"]->Read("shared.setpoint"), mx = sites_["mx"]->Read("shared.setpoint");
  EXPECT_EQ(us, mx);
  EXPECT_EQ(us.size(), 10u);
  EXPECT_EQ(sites_["us"]->Read("us.flow"), sites_["mx"]->Read("us.flow"));
}

TEST_F(ReplicationTest, KillDuringCatchUpThenConverge) {
  Setup({"us", "mx"}, {"--replication_max_samples_per_sec=20000"});
  Isolate("mx", true);
  uint64_t acked = 0;
  for (int i = 0; i < 40; ++i) sites_["us"]->Write("us.kw", i * 1000, 1000, i, &acked);
  Isolate("mx", false);
  // Catch-up is throttled to 20k samples/s: kill mx while it is under way.
  ASSERT_TRUE(Eventually([&] { return sites_["mx"]->Read("us.kw").size() > 0; }));
  sites_["mx"]->node->Kill();
  Start("mx");
  ASSERT_TRUE(Eventually([&] { return sites_["mx"]->Read("us.kw").size() == acked; }));
  ASSERT_TRUE(Eventually([&] { return Converged("mx", "us"); }));
  EXPECT_EQ(sites_["mx"]->Read("us.kw"), sites_["us"]->Read("us.kw"));
}

TEST_F(ReplicationTest, ThreeSitesPeerAwayPastLogRetentionCatchesUpByRangeSync) {
  // Tiny log retention: entries go as soon as they are sealed, whether or
  // not a peer has them.
  Setup({"us", "mx", "ca"}, {"--log_retention_bytes=1", "--head_max_age=0s"});
  sites_["us"]->Write("us.a", 0, 100, 1);
  ASSERT_TRUE(Eventually([&] {
    return sites_["ca"]->Read("us.a").size() == 100 && sites_["mx"]->Read("us.a").size() == 100;
  }));
  Isolate("ca", true);
  sites_["us"]->Write("us.a", 100, 1000, 1);
  sites_["mx"]->Write("mx.b", 0, 1000, 2);
  // Wait until both have trimmed what ca has not seen.
  ASSERT_TRUE(Eventually([&] {
    return sites_["us"]->Stats().log_entries_trimmed() >= 2 &&
           sites_["mx"]->Stats().log_entries_trimmed() >= 1;
  }));
  Isolate("ca", false);
  ASSERT_TRUE(Eventually([&] {
    return sites_["ca"]->Read("us.a").size() == 1100 && sites_["ca"]->Read("mx.b").size() == 1000;
  }));
  ASSERT_TRUE(Eventually([&] { return Converged("ca", "us") && Converged("ca", "mx"); }));
  uint64_t range_syncs = 0;
  v1::StatsResponse ca_stats = sites_["ca"]->Stats();
  for (const auto& p : ca_stats.peers()) range_syncs += p.range_syncs();
  EXPECT_GE(range_syncs, 1u);
  // us and mx did not relay each other's writes to ca: ca got mx.b from mx.
  EXPECT_TRUE(Converged("us", "mx"));
}

// A black-holed link (connections stay open, nothing gets through) and a
// slow one: keepalive notices the silence, the streams reconnect once the
// route is back, and both sites converge.
TEST_F(ReplicationTest, BlackholedThenSlowLinkConverges) {
  Setup({"us", "mx"}, {"--peer_keepalive=500ms"});
  sites_["us"]->Write("us.bh", 0, 10, 0);
  ASSERT_TRUE(Eventually([&] { return sites_["mx"]->Read("us.bh").size() == 10; }));
  for (auto& [key, proxy] : proxies_) proxy->Blackhole();
  uint64_t acked = 10;
  for (int i = 1; i <= 10; ++i) sites_["us"]->Write("us.bh", i * 100, 50, i, &acked);
  sites_["mx"]->Write("mx.bh", 0, 30, 0);
  // While black-holed, mx sees the lag and reports the link down.
  ASSERT_TRUE(Eventually([&] {
    v1::StatsResponse mx = sites_["mx"]->Stats();
    return mx.peers_size() == 1 && mx.peers(0).state() != "connected";
  }));
  EXPECT_LT(sites_["mx"]->Read("us.bh").size(), acked);
  for (auto& [key, proxy] : proxies_) {
    proxy->Heal();
    proxy->SetDelayMs(20);
  }
  ASSERT_TRUE(Eventually([&] {
    return sites_["mx"]->Read("us.bh").size() == acked && sites_["us"]->Read("mx.bh").size() == 30;
  }));
  ASSERT_TRUE(Eventually([&] { return Converged("us", "mx") && Converged("mx", "us"); }));
}

TEST_F(ReplicationTest, NodeRestoredFromBackupIsNotSkippedByItsPeer) {
  Setup({"us", "mx"});
  sites_["us"]->Write("us.a", 0, 100, 0);
  ASSERT_TRUE(Eventually([&] { return sites_["mx"]->Read("us.a").size() == 100; }));
  v1::BackupRequest backup;
  backup.set_dir(dir_.Sub("us-backup"));
  v1::BackupResponse backed_up;
  {
    grpc::ClientContext ctx;
    grpc::Status st = v1::Admin::NewStub(sites_["us"]->channel)->Backup(&ctx, backup, &backed_up);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  sites_["us"]->Write("us.a", 100, 100, 100);  // after the backup: mx has it
  ASSERT_TRUE(Eventually([&] { return sites_["mx"]->Read("us.a").size() == 200; }));

  // Restore us from the backup while mx cannot reach it: its own log is
  // behind what mx applied, and it takes writes before mx pulls again. Those
  // must not reuse sequence numbers mx has applied, or mx would skip them.
  ASSERT_EQ(sites_["us"]->node->Stop(), 0);
  proxies_[{"mx", "us"}]->Cut();
  Site& us = *sites_["us"];
  us.node = std::make_unique<NodeProcess>(dir_.Sub("us-backup"), flags_["us"]);
  ASSERT_TRUE(us.node->Start());
  us.channel = grpc::CreateChannel(us.node->address(), grpc::InsecureChannelCredentials());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(dir_.Sub("us-backup")) /
                                       "HISTORIAN_BACKUP"));  // storage/store.h kRestoreMarkerFile
  us.Write("us.a", 200, 50, 200);
  proxies_[{"mx", "us"}]->Heal();
  ASSERT_TRUE(Eventually([&] { return sites_["mx"]->Read("us.a").size() == 250; }));
  // And after mx has pulled again.
  us.Write("us.a", 250, 50, 250);
  ASSERT_TRUE(Eventually([&] { return sites_["mx"]->Read("us.a").size() == 300; }));
  // What us lost with the restore comes back from mx by repair.
  grpc::Status st;
  v1::VerifyRequest repair;
  repair.set_peer_site("mx");
  repair.set_repair(true);
  v1::VerifyResponse repaired;
  grpc::ClientContext ctx;
  ASSERT_TRUE(v1::Admin::NewStub(us.channel)->Verify(&ctx, repair, &repaired).ok());
  EXPECT_GT(repaired.samples_repaired(), 0u);
  ASSERT_TRUE(Eventually([&] { return Converged("us", "mx") && Converged("mx", "us"); }));
  EXPECT_EQ(us.Read("us.a").size(), 300u);
}

// A tag deleted at one site during a partition, while both sites write it,
// stays deleted at both once healed: here the delete's log entry is trimmed
// before the other site pulls it, so its tombstone reaches that site in a
// range sync's digest, and neither range syncs nor anti-entropy repairs
// bring the deleted samples back. Created again (as another type) the tag
// shows only its new samples, through Read, Aggregate and Plot, at both.
TEST_F(ReplicationTest, TagDeletedDuringPartitionStaysDeletedAndComesBackEmpty) {
  Setup({"us", "mx"}, {"--log_retention_bytes=1", "--head_max_age=0s"});
  Site& us = *sites_["us"];
  Site& mx = *sites_["mx"];
  us.Write("plant.del", 0, 100, 1);
  ASSERT_TRUE(Eventually([&] { return mx.Read("plant.del").size() == 100; }));
  Isolate("us", /*cut=*/true);
  us.Write("plant.del", 100, 50, 2);
  mx.Write("plant.del", 200, 50, 3);
  ASSERT_TRUE(mx.DeleteTag("plant.del").ok());
  EXPECT_FALSE(mx.HasTag("plant.del"));
  // mx's own entries (the write and the delete) and us's two are sealed and
  // trimmed: us can learn of the delete only from a digest.
  ASSERT_TRUE(Eventually([&] { return mx.Stats().log_entries_trimmed() >= 4; }));
  ASSERT_TRUE(Eventually([&] { return us.Stats().log_entries_trimmed() >= 3; }));
  // us pulls mx again (mx still cannot pull us): a range sync.
  proxies_[{"us", "mx"}]->Heal();
  ASSERT_TRUE(Eventually([&] { return !us.HasTag("plant.del"); }));
  // Then mx pulls us: us's partition writes are trimmed too, another range
  // sync, which must not fetch the deleted tag back.
  Isolate("us", /*cut=*/false);
  ASSERT_TRUE(Eventually([&] {
    const v1::StatsResponse stats = mx.Stats();
    return stats.peers_size() == 1 && stats.peers(0).range_syncs() >= 1;
  }));
  ASSERT_TRUE(Eventually([&] { return Converged("us", "mx") && Converged("mx", "us"); }));
  ASSERT_TRUE(us.Repair("mx").ok());
  ASSERT_TRUE(mx.Repair("us").ok());
  EXPECT_FALSE(us.HasTag("plant.del"));
  EXPECT_FALSE(mx.HasTag("plant.del"));
  EXPECT_TRUE(Converged("us", "mx") && Converged("mx", "us"));

  // Created again, as int64, by a write two hours later (own hour buckets).
  const int64_t h = int64_t{3600} * 1000000000;
  us.WriteInts("plant.del", 2 * h, 10, 500);
  ASSERT_TRUE(Eventually([&] { return mx.Read("plant.del").size() == 10; }));
  for (Site* site : {&us, &mx}) {
    SCOPED_TRACE(site->name);
    std::map<int64_t, double> read = site->Read("plant.del");
    ASSERT_EQ(read.size(), 10u);
    EXPECT_EQ(read.begin()->first, 2 * h);
    EXPECT_EQ(read.begin()->second, 500);
    EXPECT_EQ(site->Count("plant.del", 0, 3 * h), 10u);
    std::vector<v1::Sample> points = site->Plot("plant.del", 0, 3 * h, 3);
    ASSERT_FALSE(points.empty());
    for (const v1::Sample& p : points) {
      EXPECT_GE(p.timestamp_ns(), 2 * h);
      EXPECT_TRUE(p.value().has_int64_value());
      EXPECT_GE(p.value().int64_value(), 500);
    }
  }
  ASSERT_TRUE(Eventually([&] { return Converged("us", "mx") && Converged("mx", "us"); }));
}

}  // namespace
}  // namespace historian
