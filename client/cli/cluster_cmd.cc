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
#include <type_traits>
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
    "       historian cluster add-node ID|ADDR [--concurrency N] [--if-revision R]\n"
    "       historian cluster remove-node ID|ADDR [--concurrency N] [--if-revision R]\n"
    "       historian cluster remove-node ID|ADDR --lost --accept-loss [--if-revision R]\n"
    "       historian cluster cancel-moves [SHARD...] [--if-revision R]\n"
    "       historian cluster fence-without-source SHARD --accept-loss\n"
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
    "        member, the placement's revision, and the shard moves of a change\n"
    "        in progress (role reader or admin).\n"
    "add-node     plans a balanced placement with a registered node (its member\n"
    "             id or address) added: it takes about S/(N+1) shards, evenly\n"
    "             from the others; the moves are written PENDING (role admin).\n"
    "remove-node  plans moving every shard of a member evenly to the others and\n"
    "             marks it leaving (role admin).\n"
    "             With --lost, for a member gone for good (its lease expired, no\n"
    "             answer at its address, its disk lost): nothing is copied from\n"
    "             it; its shards go to the others at once, each new owner\n"
    "             serving what it holds and range-syncing the rest from the\n"
    "             peer sites; its moves in progress are settled (docs/cluster.md,\n"
    "             \"A member lost for good\"). What only it held is lost:\n"
    "             --accept-loss says so.\n"
    "             Both are refused while a change's moves are in progress, and\n"
    "             when the placement changed meanwhile (ABORTED: another\n"
    "             operator's change won).\n"
    "cancel-moves cancels the PENDING moves of the change in progress (all, or\n"
    "             the SHARDs listed), e.g. when their target died before\n"
    "             copying: each shard stays with its owner, and a leaving\n"
    "             member that keeps a shard stops leaving. Moves that started\n"
    "             run to their end (role admin).\n"
    "fence-without-source  for a FLIPPED move whose source is gone for good\n"
    "             (its lease expired, its disk lost): writes the fence the\n"
    "             source would have published, so the target opens the shard\n"
    "             with what it tailed. The source's entries it did not tail\n"
    "             are lost here (a peer site that pulled them brings them\n"
    "             back by range sync): --accept-loss says so (role admin).\n"
    "\n"
    "Flags:\n"
    "  --shards N        virtual shards of a new cluster, 1..65536 (default 256)\n"
    "  --concurrency N   shard moves at once, 1..64 (default 2)\n"
    "  --if-revision R   change only if the placement is still at revision R\n"
    "                    (as cluster status showed it)\n";

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

std::string MoveStateText(int state) {
  switch (state) {
    case v1::SHARD_MOVE_PENDING:
      return "PENDING";
    case v1::SHARD_MOVE_INITIALIZING:
      return "INITIALIZING";
    case v1::SHARD_MOVE_FLIPPED:
      return "FLIPPED";
  }
  return absl::StrCat("state ", state);
}

void PrintMoves(std::ostream& out, const v1::ClusterStatusResponse& r) {
  if (r.moves_size() == 0) {
    out << "\nmoves:              none\n";
    return;
  }
  out << "\nmoves:              " << r.moves_size() << " in progress (at most "
      << r.max_concurrent_moves() << " at once)\n";
  out << absl::StrFormat("%6s %-24s %-24s %-13s %-21s %-13s %12s %8s %6s\n", "shard", "from", "to",
                         "state", "since", "step", "copied", "behind", "eta");
  for (const v1::ShardMoveStatus& m : r.moves()) {
    std::string copied = m.bytes_total() < 0 ? absl::StrCat(m.bytes_copied())
                                             : absl::StrCat(m.bytes_copied(), "/", m.bytes_total());
    out << absl::StrFormat("%6d %-24s %-24s %-13s %-21s %-13s %12s %8s %6s\n", m.shard(),
                           m.from_id(), m.to_id(), MoveStateText(m.state()),
                           TimeText(m.since_unix_ns()), m.step().empty() ? "-" : m.step(), copied,
                           m.log_entries_behind() < 0 ? "-" : absl::StrCat(m.log_entries_behind()),
                           m.eta_seconds() < 0 ? "-" : absl::StrCat(m.eta_seconds(), "s"));
  }
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
    if (m.leaving()) out << "  ! leaving: its shards are moving away (remove-node)\n";
    if (!m.alive() && m.gone_seconds() >= 0) {
      out << "  ! gone " << m.gone_seconds() << "s (as " << r.answered_by() << " saw it); "
          << (m.lost_removal_in_seconds() > 0
                  ? absl::StrCat("remove-node --lost possible in ", m.lost_removal_in_seconds(),
                                 "s (its isolation write fence)")
                  : std::string("remove-node --lost possible now, if it is gone for good"))
          << '\n';
    }
  }
  if (r.num_shards() != 0) PrintMoves(out, r);
  return absl::OkStatus();
}

// --concurrency and --if-revision of add-node / remove-node.
template <typename Request>
absl::Status ParseChangeFlags(const ParsedArgs& args, Request* req) {
  if (args.Has("shards")) return absl::InvalidArgumentError("--shards: only for cluster init");
  if (args.positional.size() != 2 || args.positional[1].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster ", args.positional[0], ": want one node (member id or address)"));
  }
  req->set_node(args.positional[1]);
  if constexpr (std::is_same_v<Request, v1::RemoveNodeRequest>) {
    req->set_lost(args.Has("lost"));
    req->set_accept_loss(args.Has("accept-loss"));
  } else if (args.Has("lost") || args.Has("accept-loss")) {
    return absl::InvalidArgumentError("--lost, --accept-loss: only for cluster remove-node");
  }
  if (std::optional<std::string> c = args.Get("concurrency"); c.has_value()) {
    uint32_t n = 0;
    if (!absl::SimpleAtoi(*c, &n) || n == 0 || n > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("--concurrency: '", *c, "' is not a number in 1..64"));
    }
    req->set_max_concurrent_moves(n);
  }
  if (std::optional<std::string> r = args.Get("if-revision"); r.has_value()) {
    int64_t rev = 0;
    if (!absl::SimpleAtoi(*r, &rev) || rev <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--if-revision: '", *r, "' is not a positive revision"));
    }
    req->set_expected_revision(rev);
  }
  return absl::OkStatus();
}

absl::Status PrintChange(CommandContext& ctx, const std::string& what,
                         const v1::PlacementChangeResponse& r) {
  if (ctx.format() == OutputFormat::kJson) {
    ctx.out() << MessageJson(r) << '\n';
    return absl::OkStatus();
  }
  const v1::PlacementResponse& p = r.placement();
  ctx.out() << what << ": placement revision " << p.revision() << ", " << r.shards_to_move()
            << " of " << p.num_shards() << " shards to move (PENDING, at most "
            << p.max_concurrent_moves() << " at once)\n";
  std::vector<uint32_t> owned(p.members_size(), 0), gets(p.members_size(), 0),
      gives(p.members_size(), 0);
  for (uint32_t owner : p.shard_owner()) {
    if (owner < owned.size()) ++owned[owner];
  }
  for (const v1::ShardMove& m : p.moves()) {
    if (m.to() < gets.size()) ++gets[m.to()];
    if (m.from() < gives.size()) ++gives[m.from()];
  }
  for (int i = 0; i < p.members_size(); ++i) {
    ctx.out() << absl::StrFormat("  %-24s %-24s %6d shards now, %6d after%s\n", p.members(i).id(),
                                 p.members(i).address(), owned[i], owned[i] + gets[i] - gives[i],
                                 p.members(i).leaving() ? " (leaving)" : "");
  }
  return absl::OkStatus();
}

absl::Status RunAddNode(CommandContext& ctx, const ParsedArgs& args) {
  v1::AddNodeRequest req;
  RETURN_IF_ERROR(ParseChangeFlags(args, &req));
  ASSIGN_OR_RETURN(std::unique_ptr<v1::Cluster::Stub> stub, Connect(ctx.options()));
  grpc::ClientContext gctx;
  Prepare(ctx.options(), &gctx);
  v1::PlacementChangeResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(stub->AddNode(&gctx, req, &r)));
  return PrintChange(ctx, absl::StrCat("add-node ", req.node()), r);
}

absl::Status RunRemoveNode(CommandContext& ctx, const ParsedArgs& args) {
  v1::RemoveNodeRequest req;
  RETURN_IF_ERROR(ParseChangeFlags(args, &req));
  ASSIGN_OR_RETURN(std::unique_ptr<v1::Cluster::Stub> stub, Connect(ctx.options()));
  grpc::ClientContext gctx;
  Prepare(ctx.options(), &gctx);
  v1::PlacementChangeResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(stub->RemoveNode(&gctx, req, &r)));
  RETURN_IF_ERROR(PrintChange(ctx, absl::StrCat("remove-node ", req.node()), r));
  if (req.lost() && ctx.format() != OutputFormat::kJson) {
    ctx.out() << "  " << r.shards_reassigned_size()
              << " shard(s) given to another member without a copy (peer sites range-sync them "
                 "back):";
    for (uint32_t shard : r.shards_reassigned()) ctx.out() << ' ' << shard;
    ctx.out() << '\n';
  }
  return absl::OkStatus();
}

absl::Status RunCancelMoves(CommandContext& ctx, const ParsedArgs& args) {
  v1::CancelMovesRequest req;
  for (size_t i = 1; i < args.positional.size(); ++i) {
    uint32_t shard = 0;
    if (!absl::SimpleAtoi(args.positional[i], &shard)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cancel-moves: shard '", args.positional[i], "' is not a shard number"));
    }
    req.add_shards(shard);
  }
  if (std::optional<std::string> r = args.Get("if-revision"); r.has_value()) {
    int64_t rev = 0;
    if (!absl::SimpleAtoi(*r, &rev) || rev <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--if-revision: '", *r, "' is not a positive revision"));
    }
    req.set_expected_revision(rev);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<v1::Cluster::Stub> stub, Connect(ctx.options()));
  grpc::ClientContext gctx;
  Prepare(ctx.options(), &gctx);
  v1::PlacementChangeResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(stub->CancelMoves(&gctx, req, &r)));
  if (ctx.format() == OutputFormat::kJson) {
    ctx.out() << MessageJson(r) << '\n';
    return absl::OkStatus();
  }
  ctx.out() << "cancel-moves: placement revision " << r.placement().revision() << ", "
            << r.shards_to_move() << " move(s) left\n";
  for (const v1::ClusterMember& m : r.placement().members()) {
    if (m.leaving()) ctx.out() << "  " << m.id() << " is still leaving\n";
  }
  return absl::OkStatus();
}

absl::Status RunFenceWithoutSource(CommandContext& ctx, const ParsedArgs& args) {
  v1::FenceWithoutSourceRequest req;
  uint32_t shard = 0;
  if (args.positional.size() != 2 || !absl::SimpleAtoi(args.positional[1], &shard)) {
    return absl::InvalidArgumentError("fence-without-source: takes one shard number");
  }
  req.set_shard(shard);
  req.set_accept_loss(args.Has("accept-loss"));
  ASSIGN_OR_RETURN(std::unique_ptr<v1::Cluster::Stub> stub, Connect(ctx.options()));
  grpc::ClientContext gctx;
  Prepare(ctx.options(), &gctx);
  v1::FenceWithoutSourceResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(stub->FenceWithoutSource(&gctx, req, &r)));
  if (ctx.format() == OutputFormat::kJson) {
    ctx.out() << MessageJson(r) << '\n';
    return absl::OkStatus();
  }
  ctx.out() << "fence-without-source: shard " << shard << " fenced without " << r.from_id() << "; "
            << r.to_id() << " opens it with what it tailed (etcd revision " << r.etcd_revision()
            << ")\n";
  return absl::OkStatus();
}

absl::Status RunCluster(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.empty()) {
    return absl::InvalidArgumentError(
        "want init, status, add-node, remove-node, cancel-moves or fence-without-source (see "
        "historian cluster --help)");
  }
  const std::string& sub = args.positional[0];
  if (sub == "add-node") return RunAddNode(ctx, args);
  if (sub == "remove-node") return RunRemoveNode(ctx, args);
  if (sub == "cancel-moves") return RunCancelMoves(ctx, args);
  if (sub == "fence-without-source") return RunFenceWithoutSource(ctx, args);
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("cluster ", sub, ": takes no argument"));
  }
  if (sub == "init") return RunInit(ctx, args);
  if (sub == "status") return RunStatus(ctx, args);
  return absl::InvalidArgumentError(absl::StrCat("unknown cluster command '", sub,
                                                 "': want init, status, add-node, remove-node, "
                                                 "cancel-moves or fence-without-source"));
}

}  // namespace

std::vector<Command> ClusterCommands() {
  return {
      {"cluster",
       "site cluster: init (once per site), status, add-node, remove-node, cancel-moves, "
       "fence-without-source",
       kClusterUsage,
       {{"shards", true},
        {"concurrency", true},
        {"if-revision", true},
        {"accept-loss", false},
        {"lost", false}},
       RunCluster},
  };
}

}  // namespace historian::cli
