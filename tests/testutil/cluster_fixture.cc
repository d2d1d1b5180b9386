#include "tests/testutil/cluster_fixture.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/create_channel.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {

ClusterFixture::ClusterFixture(std::string dir, ClusterFixtureOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  std::filesystem::create_directories(dir_);
  etcd_ = std::make_unique<EtcdProcess>(dir_ + "/etcd", options_.etcd_tls);
  for (int i = 0; i < options_.nodes; ++i) ports_.push_back(FreePort());
  member_ids_.resize(options_.nodes);
}

ClusterFixture::~ClusterFixture() {
  for (auto& n : nodes_) n->Kill();
  etcd_->Kill();
}

std::string ClusterFixture::address(int i) const { return absl::StrCat("127.0.0.1:", ports_[i]); }

std::vector<std::string> ClusterFixture::addresses() const {
  std::vector<std::string> a;
  for (int i = 0; i < options_.nodes; ++i) a.push_back(address(i));
  return a;
}

std::string ClusterFixture::ReadMemberId(int i) const {
  std::ifstream in(absl::StrCat(dir_, "/node", i, "/cluster/member_id"));
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

int ClusterFixture::metrics_port(int i) const {
  std::ifstream in(absl::StrCat(dir_, "/node", i, ".metrics_port"));
  int port = 0;
  in >> port;
  return port;
}

int ClusterFixture::http_port(int i) const {
  std::ifstream in(absl::StrCat(dir_, "/node", i, ".http_port"));
  int port = 0;
  in >> port;
  return port;
}

bool ClusterFixture::Start() {
  if (!etcd_->Start()) {
    std::fprintf(stderr, "cluster fixture: etcd did not start; log %s\n",
                 etcd_->log_path().c_str());
    return false;
  }
  for (int i = 0; i < options_.nodes; ++i) {
    std::vector<std::string> flags = {
        absl::StrCat("--listen=", address(i)), "--metrics_listen=127.0.0.1:0",
        absl::StrCat("--metrics_port_file=", dir_, "/node", i, ".metrics_port"),
        absl::StrCat("--site=", options_.site), absl::StrCat("--cluster_etcd=", etcd_->endpoint())};
    if (etcd_->tls()) {
      flags.push_back("--cluster_etcd_ca=" + options_.etcd_tls.ca_file);
      flags.push_back("--cluster_etcd_cert=" + options_.etcd_tls.client_cert_file);
      flags.push_back("--cluster_etcd_key=" + options_.etcd_tls.client_key_file);
    }
    if (options_.http) {
      flags.push_back("--http_listen=127.0.0.1:0");
      flags.push_back(absl::StrCat("--http_port_file=", dir_, "/node", i, ".http_port"));
    }
    flags.insert(flags.end(), options_.node_flags.begin(), options_.node_flags.end());
    nodes_.push_back(std::make_unique<NodeProcess>(absl::StrCat(dir_, "/node", i), flags));
    if (i < placed() || !options_.init) {
      if (!StartNode(i)) return false;
    }
  }
  if (!options_.init) return true;
  // Every node registered (init places the members registered at that moment).
  if (!WaitRegistered(0, placed())) return false;
  CommandResult init = Cli(0, {"cluster", "init", absl::StrCat("--shards=", options_.num_shards)});
  if (init.exit_code != 0) {
    std::fprintf(stderr, "cluster fixture: cluster init failed (%d): %s%s\n", init.exit_code,
                 init.out.c_str(), init.err.c_str());
    return false;
  }
  for (int i = placed(); i < options_.nodes; ++i) {
    if (!StartNode(i)) return false;
  }
  if (!WaitRegistered(placed(), options_.nodes)) return false;
  if (!WaitForPlacement([this](const v1::PlacementResponse& p) { return IsFullPlacement(p); },
                        absl::Seconds(30))) {
    std::fprintf(stderr, "cluster fixture: not every node serves the placement; logs in %s\n",
                 dir_.c_str());
    return false;
  }
  return true;
}

bool ClusterFixture::WaitRegistered(int first, int last) {
  const std::string prefix = absl::StrCat("/historian/", options_.site, "/members/");
  std::string listed;
  const bool registered = WaitFor(
      [&] {
        CommandResult r = etcd_->Ctl({"get", "--prefix", "--keys-only", prefix});
        listed = r.out;
        for (int i = first; i < last; ++i) {
          if (r.out.find(prefix + member_ids_[i]) == std::string::npos) return false;
        }
        return true;
      },
      absl::Seconds(30));
  if (!registered) {
    std::fprintf(stderr, "cluster fixture: not every node registered; etcd has:\n%s\n",
                 listed.c_str());
  }
  return registered;
}

bool ClusterFixture::IsFullPlacement(const v1::PlacementResponse& p) const {
  if (p.num_shards() != options_.num_shards || p.members_size() != placed()) return false;
  for (int i = 0; i < placed(); ++i) {
    const std::string a = address(i);
    bool found = false;
    for (const v1::ClusterMember& m : p.members()) found = found || (m.address() == a && m.alive());
    if (!found) return false;
  }
  return true;
}

int ClusterFixture::StopNode(int i) { return nodes_[i]->Stop(); }
void ClusterFixture::KillNode(int i) { nodes_[i]->Kill(); }

bool ClusterFixture::StartNode(int i) {
  if (!nodes_[i]->Start()) {
    std::fprintf(stderr, "cluster fixture: node %d did not start; log %s\n", i,
                 nodes_[i]->log_path().c_str());
    return false;
  }
  member_ids_[i] = ReadMemberId(i);
  return !member_ids_[i].empty();
}

void ClusterFixture::StopEtcd() { etcd_->Stop(); }
bool ClusterFixture::StartEtcd() { return etcd_->Start(); }

grpc::Status ClusterFixture::Placement(int i, v1::PlacementResponse* out) const {
  auto stub =
      v1::Cluster::NewStub(grpc::CreateChannel(address(i), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!options_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + options_.token);
  return stub->Placement(&ctx, v1::PlacementRequest(), out);
}

bool ClusterFixture::WaitForPlacement(
    const std::function<bool(const v1::PlacementResponse&)>& condition,
    absl::Duration timeout) const {
  return WaitFor(
      [&] {
        for (int i = 0; i < size(); ++i) {
          if (nodes_[i]->pid() <= 0) continue;
          v1::PlacementResponse p;
          if (!Placement(i, &p).ok() || !condition(p)) return false;
        }
        return true;
      },
      timeout);
}

CommandResult ClusterFixture::Cli(int i, const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"historian", absl::StrCat("--server=", address(i))};
  if (!options_.token.empty()) argv.push_back("--token=" + options_.token);
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

}  // namespace historian::testing
