// File: admin_cmd.cc
// `historian stats`, `historian backup DIR`, `historian compact` and
// `historian verify --peer SITE [--repair]`: the Admin service (role admin;
// stats also reader). They talk to the first --server only: administration
// is about one node.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/core/bearer_token.h"
#include "api/core/status_macros.h"
#include "client/cli/context.h"
#include "client/status_convert.h"
#include "client/tls_options.h"
#include "grpcpp/create_channel.h"
#include "historian/v1/admin.grpc.pb.h"

namespace historian::cli {
namespace {

namespace v1 = historian::v1;

constexpr char kStatsUsage[] =
    "Usage: historian stats\n"
    "\n"
    "Prints the node's statistics: site, tags, head samples, own log sequence,\n"
    "whether storage accepts writes, RocksDB figures per column family, and per\n"
    "replication peer its state and lag (samples and seconds behind).\n"
    "--format json prints one object with every field the node sent.\n";

constexpr char kBackupUsage[] =
    "Usage: historian backup DIR\n"
    "\n"
    "Makes an online backup (RocksDB checkpoint) of the node into DIR, a new\n"
    "directory ON THE NODE'S FILESYSTEM (relative paths are relative to the\n"
    "node's working directory). The node keeps serving meanwhile. Restore: stop\n"
    "the node and start it with --data_dir=DIR (or copy DIR back to its data\n"
    "dir); see docs/operations.md.\n";

constexpr char kCompactUsage[] =
    "Usage: historian compact\n"
    "\n"
    "Runs a full manual compaction of every column family and waits for it\n"
    "(may take long on a big node; the deadline is at least 1 hour).\n";

constexpr char kVerifyUsage[] =
    "Usage: historian verify --peer SITE [--repair] [--from T --to T]\n"
    "\n"
    "Compares the node's data with the replication peer SITE by digests per\n"
    "(tag, hour) and prints what differs; with --repair the node also fetches\n"
    "the peer's samples for every differing bucket.\n"
    "\n"
    "Flags:\n"
    "  --peer SITE   peer site (one of the node's --peers), required\n"
    "  --repair      fetch differing buckets from the peer\n"
    "  --from/--to   time range (default: all time)\n";

// An Admin stub to the first endpoint, with the client's TLS and token.
class AdminClient {
 public:
  static absl::StatusOr<AdminClient> Connect(const client::ClientOptions& options) {
    if (options.endpoints.empty()) return absl::InvalidArgumentError("--server: no address");
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> creds,
                     client::MakeChannelCredentials(options.tls));
    grpc::ChannelArguments args;
    if (!options.tls.server_name.empty()) args.SetSslTargetNameOverride(options.tls.server_name);
    AdminClient c;
    c.options_ = options;
    c.stub_ = v1::Admin::NewStub(grpc::CreateCustomChannel(options.endpoints[0], creds, args));
    return c;
  }

  // Sets deadline (at least `min_timeout`) and token.
  void Prepare(grpc::ClientContext* ctx, absl::Duration min_timeout = absl::ZeroDuration()) const {
    absl::Duration timeout = std::max(options_.timeout, min_timeout);
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
    if (!options_.token.empty()) {
      ctx->AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
    }
  }
  v1::Admin::Stub* stub() const { return stub_.get(); }

 private:
  client::ClientOptions options_;
  std::shared_ptr<v1::Admin::Stub> stub_;
};

// "2026-11-30T18:00:00Z (12 s ago)"; "start" for 0 (no change since the
// node started).
std::string SinceText(int64_t unix_ns) {
  if (unix_ns == 0) return "start";
  const absl::Time t = absl::FromUnixNanos(unix_ns);
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()), " (",
                      absl::StrFormat("%.0f", absl::ToDoubleSeconds(absl::Now() - t)), " s ago)");
}

std::string Bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrCat(n, " B") : absl::StrFormat("%.1f %s", v, units[u]);
}

absl::Status RunStats(CommandContext& ctx, const ParsedArgs& args) {
  if (!args.positional.empty()) return absl::InvalidArgumentError("stats takes no arguments");
  ASSIGN_OR_RETURN(AdminClient admin, AdminClient::Connect(ctx.options()));
  grpc::ClientContext gctx;
  admin.Prepare(&gctx);
  v1::StatsResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(admin.stub()->Stats(&gctx, v1::StatsRequest(), &r)));
  std::ostream& out = ctx.out();
  if (ctx.format() == OutputFormat::kJson) {
    out << MessageJson(r) << '\n';
    return absl::OkStatus();
  }
  out << "site:                " << r.site() << '\n'
      << "twin_map:            " << (r.twin_map().empty() ? "-" : r.twin_map()) << '\n'
      << "tags:                " << r.tags() << '\n'
      << "head_samples:        " << r.head_samples() << '\n'
      << "head_tags:           " << r.head_tags() << '\n'
      << "head_bytes:          " << Bytes(r.head_bytes()) << '\n'
      << "memory:              head " << Bytes(r.head_bytes()) << ", catalog "
      << Bytes(r.catalog_bytes()) << ", memtables " << Bytes(r.memtable_bytes()) << ", block cache "
      << Bytes(r.block_cache_bytes()) << " (pinned " << Bytes(r.block_cache_pinned_bytes())
      << "), table readers " << Bytes(r.table_readers_bytes()) << '\n'
      << "chunks_sealed:       " << r.chunks_sealed() << '\n'
      << "chunks_merged:       " << r.chunks_merged() << '\n'
      << "chunks_rewritten:    " << r.chunks_rewritten() << '\n'
      << "log_entries_trimmed: " << r.log_entries_trimmed() << '\n'
      << "own_log_sequence:    " << r.own_log_sequence() << '\n'
      << "writes_accepted:     " << (r.writes_accepted() ? "yes" : "NO") << '\n';
  if (!r.write_error().empty()) out << "write_error:         " << r.write_error() << '\n';
  if (r.column_families_size() > 0) {
    out << "\n"
        << absl::StrFormat("%-10s %12s %16s %12s %13s %12s %8s %10s\n", "cf", "sst",
                           "pending_compact", "memtable", "table_readers", "keys", "stops",
                           "slowdowns");
    for (const auto& cf : r.column_families()) {
      out << absl::StrFormat("%-10s %12s %16s %12s %13s %12d %8d %10d\n", cf.name(),
                             Bytes(cf.sst_bytes()), Bytes(cf.pending_compaction_bytes()),
                             Bytes(cf.memtable_bytes()), Bytes(cf.table_readers_bytes()),
                             cf.estimated_keys(), cf.write_stops(), cf.write_slowdowns());
    }
  }
  out << "\npeers: " << (r.peers_size() == 0 ? "none" : "") << '\n';
  for (const auto& p : r.peers()) {
    out << absl::StrFormat(
        "  %s (%s): %s, applied_sequence=%d peer_head_sequence=%d lag_samples=%d "
        "lag_seconds=%.3f samples_applied=%d range_syncs=%d\n",
        p.member_id().empty() ? p.site() : absl::StrCat(p.site(), "/", p.member_id()), p.address(),
        p.state(), p.applied_sequence(), p.peer_head_sequence(), p.lag_samples(), p.lag_seconds(),
        p.samples_applied(), p.range_syncs());
    out << absl::StrFormat(
        "    link %s since %s; peer %s since %s; not yet taken by the peer: %d entries "
        "(acked_sequence=%d), oldest %.3f s old\n",
        p.state() == "connected" ? "up" : "down", SinceText(p.state_since_unix_ns()),
        p.peer_pulling() ? "pulling" : "not pulling", SinceText(p.peer_pulling_since_unix_ns()),
        p.unacked_entries(), p.peer_acked_sequence(), p.unacked_age_seconds());
  }
  return absl::OkStatus();
}

absl::Status RunBackup(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError("want DIR (see historian backup --help)");
  }
  ASSIGN_OR_RETURN(AdminClient admin, AdminClient::Connect(ctx.options()));
  grpc::ClientContext gctx;
  admin.Prepare(&gctx, absl::Hours(1));
  v1::BackupRequest req;
  req.set_dir(args.positional[0]);
  v1::BackupResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(admin.stub()->Backup(&gctx, req, &r)));
  ctx.out() << "backup written to " << r.dir() << " on the node: " << r.files() << " files, "
            << Bytes(r.bytes()) << ", " << absl::StrFormat("%.2f", r.seconds()) << " s\n";
  return absl::OkStatus();
}

absl::Status RunCompact(CommandContext& ctx, const ParsedArgs& args) {
  if (!args.positional.empty()) return absl::InvalidArgumentError("compact takes no arguments");
  ASSIGN_OR_RETURN(AdminClient admin, AdminClient::Connect(ctx.options()));
  grpc::ClientContext gctx;
  admin.Prepare(&gctx, absl::Hours(1));
  v1::CompactResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(admin.stub()->Compact(&gctx, v1::CompactRequest(), &r)));
  ctx.out() << "compacted: SST " << Bytes(r.sst_bytes_before()) << " -> "
            << Bytes(r.sst_bytes_after()) << " in " << absl::StrFormat("%.2f", r.seconds())
            << " s\n";
  return absl::OkStatus();
}

absl::Status RunVerify(CommandContext& ctx, const ParsedArgs& args) {
  std::optional<std::string> peer = args.Get("peer");
  if (!peer.has_value() || peer->empty()) {
    return absl::InvalidArgumentError("--peer SITE is required (see historian verify --help)");
  }
  v1::VerifyRequest req;
  req.set_peer_site(*peer);
  req.set_repair(args.Has("repair"));
  if (args.Has("from") || args.Has("to")) {
    ASSIGN_OR_RETURN(int64_t from, TimeFlag(ctx, args, "from", "0s"));
    ASSIGN_OR_RETURN(int64_t to, TimeFlag(ctx, args, "to", "now"));
    req.set_start_ns(from);
    req.set_end_ns(to);
  }
  ASSIGN_OR_RETURN(AdminClient admin, AdminClient::Connect(ctx.options()));
  grpc::ClientContext gctx;
  admin.Prepare(&gctx, absl::Minutes(10));
  v1::VerifyResponse r;
  RETURN_IF_ERROR(client::FromGrpcStatus(admin.stub()->Verify(&gctx, req, &r)));
  std::ostream& out = ctx.out();
  out << "tags_compared:     " << r.tags_compared() << '\n'
      << "buckets_compared:  " << r.buckets_compared() << '\n'
      << "buckets_differing: " << r.buckets_differing() << '\n'
      << "local_samples:     " << r.local_samples() << '\n'
      << "peer_samples:      " << r.peer_samples() << '\n';
  if (req.repair()) out << "samples_repaired:  " << r.samples_repaired() << '\n';
  out << "event_records:     " << r.event_records_local() << " here, " << r.event_records_peer()
      << " at the peer, " << (r.events_differ() ? "differ" : "same") << '\n';
  if (req.repair()) out << "events_repaired:   " << r.event_records_repaired() << '\n';
  // Tags defined newer at the peer without a sample to show it (docs/replication.md).
  out << "definitions_behind: " << r.tag_definitions_behind() << '\n';
  if (req.repair()) out << "definitions_repaired: " << r.tag_definitions_repaired() << '\n';
  if (r.members_verified_size() > 0) {
    // Site clusters: every member of this site compared its own shards with
    // every member of the peer site (docs/cluster.md).
    out << "members_verified:  " << absl::StrJoin(r.members_verified(), ",") << '\n'
        << "peer_members:      " << r.peer_members() << '\n';
  }
  for (const std::string& tag : r.differing_tags()) out << "differs: " << tag << '\n';
  out << "result:            "
      << (r.buckets_differing() == 0 && !r.events_differ() && r.tag_definitions_behind() == 0
              ? "equal"
              : "differ")
      << '\n';
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> AdminCommands() {
  return {
      {"stats", "node statistics, storage figures and replication lag", kStatsUsage, {}, RunStats},
      {"backup",
       "online backup of the node into a directory on the node",
       kBackupUsage,
       {},
       RunBackup},
      {"compact", "full manual compaction of the node's database", kCompactUsage, {}, RunCompact},
      {"verify",
       "compare (and --repair) the node's data with a peer site",
       kVerifyUsage,
       {{"peer", true}, {"repair", false}, {"from", true}, {"to", true}},
       RunVerify},
  };
}

}  // namespace historian::cli
