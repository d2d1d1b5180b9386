// File: cluster_fixture.h
// ClusterFixture: a real site cluster for end-to-end tests (docs/cluster.md):
// one real etcd (EtcdProcess) and N real historiand nodes started with
// --cluster_etcd, each on a fixed 127.0.0.1 port kept across restarts (the
// placement names addresses), data in `dir`/node<i>. Start() runs
// `historian cluster init` through node 0 and waits until every node answers
// Cluster.Placement with the placement (num_shards > 0, every member, all
// alive).
//
//   testing::TempDir dir;
//   testing::ClusterFixture cluster(dir.Sub("c"), {.nodes = 3});
//   ASSERT_TRUE(cluster.Start());
//   auto channel = grpc::CreateChannel(cluster.address(1), ...);
//   cluster.KillNode(2); ASSERT_TRUE(cluster.StartNode(2));
//
// Member ids are the nodes' own (derived from the data dir on the first
// start, kept in <data dir>/cluster/member_id), read back after start.
//
// Thread-safety: not thread-safe; one test thread drives it. Needs the
// historiand and historian binaries (add_dependencies) and etcd-server.
#ifndef HISTORIAN_TESTS_TESTUTIL_CLUSTER_FIXTURE_H_
#define HISTORIAN_TESTS_TESTUTIL_CLUSTER_FIXTURE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "historian/v1/cluster.pb.h"
#include "tests/testutil/etcd_process.h"
#include "tests/testutil/node_process.h"

namespace historian::testing {

struct ClusterFixtureOptions {
  int nodes = 3;
  std::string site = "us";
  uint32_t num_shards = 256;
  // Passed to every node (e.g. "--cluster_lease_ttl=2s", "--token_file=...").
  std::vector<std::string> node_flags{};
  // Run `historian cluster init` in Start() (false: the test does it).
  bool init = true;
  // Nodes in the placement init writes: the first `placed_nodes` (0: all).
  // The others start after init: registered but unplaced (add-node's
  // candidates).
  int placed_nodes = 0;
  // Serve the HTTP API (--http_listen on a free 127.0.0.1 port; http_port).
  bool http = false;
  // With --token_file in node_flags: the bearer token (admin and reader
  // roles) the fixture's Cluster.Placement calls and CLI runs send.
  std::string token{};
  // etcd with TLS and client-certificate auth (cert_file set): the nodes get
  // --cluster_etcd_ca/_cert/_key with its CA and client files.
  EtcdTlsFiles etcd_tls{};
};

class ClusterFixture {
 public:
  // `dir` is created; etcd and the nodes keep their data under it.
  explicit ClusterFixture(std::string dir, ClusterFixtureOptions options = {});
  ~ClusterFixture();  // kills what still runs
  ClusterFixture(const ClusterFixture&) = delete;
  ClusterFixture& operator=(const ClusterFixture&) = delete;

  // etcd, every node, init, and every node serving the placement. False
  // (with the reason and the logs' paths on stderr) otherwise.
  bool Start();

  int size() const { return static_cast<int>(nodes_.size()); }
  // host:port of node i; stable across restarts.
  std::string address(int i) const;
  std::vector<std::string> addresses() const;
  // The member id node i registered with ("" before its first start).
  const std::string& member_id(int i) const { return member_ids_[i]; }
  // Port of node i's /metrics (127.0.0.1), as of its last start.
  int metrics_port(int i) const;
  // Port of node i's HTTP API (options.http), as of its last start.
  int http_port(int i) const;
  NodeProcess& node(int i) { return *nodes_[i]; }
  EtcdProcess& etcd() { return *etcd_; }
  const ClusterFixtureOptions& options() const { return options_; }

  // Node i: SIGTERM (returns the exit status), SIGKILL, start again (same
  // port, data dir and flags; waits until it serves gRPC, then reads its
  // member id).
  int StopNode(int i);
  void KillNode(int i);
  bool StartNode(int i);
  // etcd: SIGTERM, or start again (same ports and data).
  void StopEtcd();
  bool StartEtcd();

  // Cluster.Placement of node i (5 s deadline).
  grpc::Status Placement(int i, v1::PlacementResponse* out) const;
  // True once every running node's placement satisfies `condition`.
  bool WaitForPlacement(const std::function<bool(const v1::PlacementResponse&)>& condition,
                        absl::Duration timeout) const;
  // The condition Start() waits for: num_shards as configured, every placed
  // node a member (by address) and alive.
  bool IsFullPlacement(const v1::PlacementResponse& p) const;

  // `historian --server=<node i> args...`.
  CommandResult Cli(int i, const std::vector<std::string>& args) const;

 private:
  std::string ReadMemberId(int i) const;
  int placed() const { return options_.placed_nodes > 0 ? options_.placed_nodes : options_.nodes; }
  bool WaitRegistered(int first, int last);

  const std::string dir_;
  const ClusterFixtureOptions options_;
  std::unique_ptr<EtcdProcess> etcd_;
  std::vector<int> ports_;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
  std::vector<std::string> member_ids_;
};

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_CLUSTER_FIXTURE_H_
