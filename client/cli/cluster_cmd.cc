// File: cluster_cmd.cc
// `historian cluster init [--shards N]` and `historian cluster status`: the
// site cluster's operator commands (docs/cluster.md). Both go through the
// first --server node, which must run with --cluster_etcd: the node talks to
// the site's etcd, so the CLI needs no etcd address and client/ never links
// the etcd client.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "api/core/bearer_token.h"
#include "api/core/status_macros.h"
#include "client/cli/context.h"
#include "client/status_convert.h"
#include "client/tls_options.h"
#include "grpcpp/create_channel.h"
#include "historian/v1/cluster.grpc.pb.h"

namespace historian::cli {
namespace {

namespace v1 = historian::v1;

constexpr char kClusterUsage[] =
    "Usage: historian cluster init [--shards N]\n"
    "       historian cluster status\n"
    "\n"
    "The site cluster (docs/cluster.md), through the --server node, which must\n"
    "run with --cluster_etcd (it talks to the site's etcd).\n"
    "\n"
    "init    creates the cluster once per site: its config (shard count, fixed\n"
    "        for its life) and a balanced placement over the members registered\n"
    "        now, each owning about N/members shards. A single node becomes the\n"
    "        first member and owns every shard, keeping its data. Fails when the\n"
    "        site is a cluster already (role admin).\n"
    "status  members (alive: their lease is kept), their leases, shards per\n"
    "        member, the placement's revision (role reader or admin).\n"
    "\n"
    "Flags:\n"
    "  --shards N   virtual shards of a new cluster, 1..65536 (default 256)\n";

// A Cluster stub to the first endpoint, with the client's TLS and token.
absl::StatusOr<std::unique_ptr<v1::Cluster::Stub>> Connect(const client::ClientOptions& options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("--server: no address");
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> creds,
                   client::MakeChannelCredentials(options.tls));
  grpc::ChannelArguments args;
  if (!options.tls.server_name.empty()) args.SetSslTargetNameOverride(options.tls.server_name);
  return v1::Cluster::NewStub(grpc::CreateCustomChannel(options.endpoints[0], creds, args));
}

void Prepare(const client::ClientOptions& options, grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(absl::ToInt64Milliseconds(options.timeout)));
  if (!options.token.empty()) {
    ctx->AddMetadata(kAuthorizationMetadataKey, BearerValue(options.token));
  }
}

std::string TimeText(int64_t unix_ns) {
  if (unix_ns == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(unix_ns), absl::UTCTimeZone());
}

absl::Status RunInit(CommandContext& ctx, const ParsedArgs& args) {
  v1::ClusterInitRequest req;
  if (std::optional<std::string> shards = args.Get("shards"); shards.has_value()) {
    uint32_t n = 0;
    if (!absl::SimpleAtoi(*shards, &n) || n == 0 || n > 65536) {
      return absl::InvalidArgumentError(
          absl::StrCat("--shards: '", *shards, "' is not a number in 1..65536"));
    }
    req.set_num_shards(n);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<v1::Cluster::Stub> stub, Connect(ctx.options()));
  grpc::ClientContext gctx;
  Prepare(ctx.options(), &gctx);
  v1::ClusterInitResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(stub->Init(&gctx, req, &r)));
  if (ctx.format() == OutputFormat::kJson) {
    ctx.out() << MessageJson(r) << '\n';
    return absl::OkStatus();
  }
  const v1::PlacementResponse& p = r.placement();
  ctx.out() << "cluster created: site " << p.site() << ", " << p.num_shards() << " shards, "
            << p.members_size() << " member(s), placement revision " << p.revision() << '\n';
  std::vector<uint32_t> owned(p.members_size(), 0);
  for (uint32_t owner : p.shard_owner()) {
    if (owner < owned.size()) ++owned[owner];
  }
  for (int i = 0; i < p.members_size(); ++i) {
    ctx.out() << absl::StrFormat("  %-24s %-24s %6d shards\n", p.members(i).id(),
                                 p.members(i).address(), owned[i]);
  }
  return absl::OkStatus();
}

absl::Status RunStatus(CommandContext& ctx, const ParsedArgs& args) {
  if (args.Has("shards")) return absl::InvalidArgumentError("--shards: only for cluster init");
  ASSIGN_OR_RETURN(std::unique_ptr<v1::Cluster::Stub> stub, Connect(ctx.options()));
  grpc::ClientContext gctx;
  Prepare(ctx.options(), &gctx);
  v1::ClusterStatusResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(stub->Status(&gctx, v1::ClusterStatusRequest(), &r)));
  std::ostream& out = ctx.out();
  if (ctx.format() == OutputFormat::kJson) {
    out << MessageJson(r) << '\n';
    return absl::OkStatus();
  }
  out << "site:               " << r.site() << '\n';
  if (r.num_shards() == 0) {
    out << "cluster:            not initialised (historian cluster init)\n";
  } else {
    out << "shards:             " << r.num_shards() << '\n'
        << "placement_revision: " << r.placement_revision() << '\n'
        << "created:            " << TimeText(r.created_unix_ns()) << '\n'
        << "format_version:     " << r.format_version() << '\n';
  }
  out << "answered_by:        " << r.answered_by() << " (etcd revision " << r.etcd_revision()
      << ")\n\n";
  out << absl::StrFormat("%-24s %-22s %-6s %7s %10s %18s %s\n", "member", "address", "alive",
                         "shards", "lease_ttl", "lease", "started");
  for (const v1::ClusterMemberStatus& m : r.members()) {
    std::string ttl = m.lease_ttl_seconds() < 0 ? "-"
                                                : absl::StrCat(m.lease_ttl_seconds(), "/",
                                                               m.lease_granted_ttl_seconds(), "s");
    std::string shards = m.in_placement() ? absl::StrCat(m.shards_owned()) : "unplaced";
    out << absl::StrFormat("%-24s %-22s %-6s %7s %10s %18s %s\n", m.id(), m.address(),
                           m.alive() ? "yes" : "NO", shards, ttl,
                           m.lease_id() == 0 ? "-" : absl::StrFormat("%x", m.lease_id()),
                           TimeText(m.start_unix_ns()));
    if (!m.registered_address().empty() && m.registered_address() != m.address()) {
      out << "  ! registered at " << m.registered_address() << ", the placement routes to "
          << m.address() << '\n';
    }
  }
  return absl::OkStatus();
}

absl::Status RunCluster(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError("want init or status (see historian cluster --help)");
  }
  const std::string& sub = args.positional[0];
  if (sub == "init") return RunInit(ctx, args);
  if (sub == "status") return RunStatus(ctx, args);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown cluster command '", sub, "': want init or status"));
}

}  // namespace

std::vector<Command> ClusterCommands() {
  return {
      {"cluster",
       "site cluster: init (once per site) and status",
       kClusterUsage,
       {{"shards", true}},
       RunCluster},
  };
}

}  // namespace historian::cli
