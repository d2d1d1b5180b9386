#include "server/replicator.h"

#include <set>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "api/core/bearer_token.h"
#include "api/core/status_macros.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/create_channel.h"
#include "server/digest.h"
#include "server/logging.h"
#include "server/proto_convert.h"
#include "server/status_util.h"
#include "storage/engine/columns.h"
#include "storage/engine/version.h"

namespace historian::server {

struct Replicator::SiteState {
  Peer peer;
  // One Cluster stub per seed address.
  std::vector<std::unique_ptr<v1::Cluster::Stub>> seed_stubs;

  // Guarded by Replicator::mu_.
  bool discovered = false;  // its placement was read at least once
  bool clustered = false;   // it is a site cluster (num_shards > 0)
  int64_t revision = 0;
  std::string discover_error;  // last failure, for Status() and logs
  // A member we held a cursor of left its placement, or the site's count
  // of departed members differs from the one recorded (departures_): a
  // full-range anti-entropy pass with the site is due (ClusterLoop).
  bool resync_due = false;
  // Raised with every reason for a pass: one that began before the last
  // raise leaves the pass due.
  uint64_t resync_generation = 0;
  // The departed count of the placement that made a pass due (recorded
  // once the pass is done); nullopt: none.
  std::optional<uint64_t> departed_due;
  // A placement older than `revision` was last ignored at this revision
  // (logged once per stale revision).
  int64_t stale_logged = 0;
  // Per member of the site seen listed or acking here: the sender-side
  // forget rule (docs/cluster.md, "Member acks").
  struct MemberSeen {
    int64_t listed_revision = 0;  // the last placement read listing it (0: none)
    // Reads in a row, each at a revision above listed_revision, that did
    // not list it.
    int absent_reads = 0;
    bool forget_logged = false;  // its forget was logged (once until listed again)
  };
  std::map<std::string, MemberSeen> members_seen;
};

struct Replicator::PeerState {
  SiteState* site = nullptr;
  Peer peer;               // the site and this member's address
  std::string member_id;   // the remote member; empty: a single node
  std::string cursor_key;  // the origin of its entries here: site[/member]

  // Guarded by Replicator::mu_.
  std::shared_ptr<v1::Replication::Stub> stub;
  bool in_placement = true;               // false: left the peer site's placement
  bool retired = false;                   // a single-node link of a site now a cluster
  grpc::ClientContext* active = nullptr;  // the open Pull stream, to cancel
  std::optional<ShardSet> stream_filter;  // the open stream's filter
  bool streaming = false;
  std::string state = "connecting";
  // When the link last went up or down (connected or not), for Admin.Stats.
  absl::Time state_since = absl::Now();
  uint64_t peer_head = 0;
  uint64_t pending_samples = 0;
  absl::Time caught_up_at = absl::Now();
  bool caught_up = false;
  uint64_t entries_applied = 0;
  uint64_t samples_applied = 0;
  uint64_t range_syncs = 0;
};

struct Replicator::RemoteDigests {
  v1::DigestResponse merged;  // every asked member's tags and tombstones
  // The members asked, and per tag the members holding it.
  using Member = std::pair<PeerState*, std::shared_ptr<v1::Replication::Stub>>;
  std::vector<Member> asked;
  // Per asked member, its own entry applied when its digest began.
  std::vector<uint64_t> digest_applied;
  std::map<std::string, std::vector<Member>> holders;
  bool single = false;  // one single node (events compare then)
};

namespace {

// Reads of a peer site's placement in a row that must leave a member out
// before its sender-side ack is forgotten (Discover).
constexpr int kForgetAfterReads = 3;

// What a peer says about its own log must hang together before it moves our
// cursor of it: record sequences rise past our cursor; a gap's log start is
// 1..head+1. (Records may pass the head it reports: entries are shipped once
// durable, the head moves once they are applied.)
absl::Status CheckPullResponse(const v1::PullResponse& resp, uint64_t applied) {
  const uint64_t head = resp.head_sequence();
  if (resp.gap()) {
    if (resp.log_start_sequence() == 0 || resp.log_start_sequence() - 1 > head) {
      return absl::DataLossError(absl::StrCat("peer gap: log_start_sequence ",
                                              resp.log_start_sequence(), " is not in 1..", head,
                                              "+1 (head_sequence)"));
    }
    return absl::OkStatus();
  }
  uint64_t last = applied;
  for (const v1::LogRecord& rec : resp.records()) {
    if (rec.sequence() <= last || rec.sequence() == UINT64_MAX) {
      return absl::DataLossError(absl::StrCat("peer record: sequence ", rec.sequence(),
                                              " is not above ", last,
                                              " (the previous one) or is 2^64-1"));
    }
    last = rec.sequence();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Peer>> ParsePeers(const std::string& flag) {
  std::vector<Peer> peers;
  if (flag.empty()) return peers;
  for (absl::string_view item : absl::StrSplit(flag, ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("peers: '", item, "' is not site=host:port"));
    }
    Peer peer;
    peer.site = parts[0];
    for (absl::string_view seed : absl::StrSplit(parts[1], '|')) {
      if (seed.find(':') == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("peers: '", item, "' is not site=host:port[|host:port...]"));
      }
      peer.seeds.emplace_back(seed);
    }
    for (const Peer& p : peers) {
      if (p.site == peer.site) {
        return absl::InvalidArgumentError(
            absl::StrCat("peers: site '", peer.site, "' is listed twice"));
      }
    }
    peer.address = peer.seeds[0];
    peers.push_back(std::move(peer));
  }
  return peers;
}

absl::StatusOr<std::map<std::string, std::string>> ParseAddressMap(const std::string& flag) {
  std::map<std::string, std::string> out;
  for (absl::string_view item : absl::StrSplit(flag, ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || parts[0].find(':') == std::string::npos ||
        parts[1].find(':') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("peer_address_map: '", item, "' is not host:port=host:port"));
    }
    out[parts[0]] = parts[1];
  }
  return out;
}

grpc::ChannelArguments Replicator::ChannelArgs() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // Reconnect quickly after a cut link heals.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  const int keepalive_ms = static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, keepalive_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return args;
}

std::string Replicator::MemberAddress(const std::string& advertised) const {
  auto it = options_.address_map.find(advertised);
  return it != options_.address_map.end() ? it->second : advertised;
}

void Replicator::AddToken(grpc::ClientContext* ctx) const {
  if (!options_.token.empty()) {
    ctx->AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
  }
}

Replicator::Replicator(Store* store, std::vector<Peer> peers, ReplicatorOptions options)
    : store_(store),
      options_(std::move(options)),
      ownership_(options_.ownership_file),
      departures_(options_.departures_file),
      replay_fences_(options_.replay_fences_file) {
  auto creds = options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials();
  for (Peer& p : peers) {
    auto site = std::make_unique<SiteState>();
    if (p.seeds.empty()) p.seeds.push_back(p.address);
    site->peer = std::move(p);
    for (const std::string& seed : site->peer.seeds) {
      site->seed_stubs.push_back(
          v1::Cluster::NewStub(grpc::CreateCustomChannel(seed, creds, ChannelArgs())));
    }
    sites_.push_back(std::move(site));
  }
  absl::MutexLock l(&mu_);
  throttle_start_ = absl::Now();
}

Replicator::~Replicator() { Stop(); }

void Replicator::Start() {
  absl::MutexLock l(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  if (sites_.empty()) return;
  // Links appear as the peer sites' placements are read (ClusterLoop).
  threads_.emplace_back([this] { ClusterLoop(); });
  if (options_.anti_entropy_interval > absl::ZeroDuration()) {
    threads_.emplace_back([this] { AntiEntropyLoop(); });
  }
}

void Replicator::Stop() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    for (auto& p : links_) {
      if (p->active) p->active->TryCancel();
    }
  }
  // A thread may add a link (and its thread) until it sees stopping_.
  while (true) {
    {
      absl::MutexLock l(&mu_);
      threads.swap(threads_);
    }
    if (threads.empty()) break;
    for (auto& t : threads) t.join();
    threads.clear();
  }
}

std::optional<ShardSet> Replicator::LocalOwnership() const {
  if (options_.cluster == nullptr) return std::nullopt;
  std::shared_ptr<const cluster::Placement> p = options_.cluster->placement();
  if (p == nullptr) return std::nullopt;
  absl::StatusOr<ShardSet> set =
      ShardSet::Create(p->num_shards(), p->ShardsOwnedBy(options_.cluster->self_id()));
  // A validated placement always makes a valid set.
  if (!set.ok()) return *ShardSet::Create(p->num_shards(), {});
  return std::move(*set);
}

bool Replicator::AwaitingPlacement() const {
  return options_.cluster != nullptr && options_.cluster->placement() == nullptr;
}

Replicator::PeerState* Replicator::AddLink(SiteState* site, const std::string& member_id,
                                           const std::string& address) {
  auto link = std::make_unique<PeerState>();
  link->site = site;
  link->peer.site = site->peer.site;
  link->member_id = member_id;
  link->cursor_key =
      member_id.empty() ? site->peer.site : absl::StrCat(site->peer.site, "/", member_id);
  link->peer.address = MemberAddress(address);
  auto creds = options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials();
  link->stub =
      v1::Replication::NewStub(grpc::CreateCustomChannel(link->peer.address, creds, ChannelArgs()));
  PeerState* raw = link.get();
  links_.push_back(std::move(link));
  if (started_ && !stopping_) threads_.emplace_back([this, raw] { PullLoop(raw); });
  LogInfo("replicator", "pulling from peer",
          {{"peer", site->peer.site},
           {"member", member_id.empty() ? "(single node)" : member_id},
           {"address", raw->peer.address}});
  return raw;
}

absl::Status Replicator::Discover(SiteState* site) {
  // Every seed, at once, and the highest revision wins: one node's view
  // may be behind (restarting on its cache, its watch down), and after a
  // restart this replicator holds no revision to judge a read by (the
  // forget rule below would trust a stale seed that answers first).
  const size_t n = site->seed_stubs.size();
  std::vector<v1::PlacementResponse> answers(n);
  std::vector<grpc::Status> statuses(n);
  {
    std::vector<std::thread> reads;
    for (size_t i = 0; i < n; ++i) {
      reads.emplace_back([&, i] {
        grpc::ClientContext ctx;
        AddToken(&ctx);
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        statuses[i] = site->seed_stubs[i]->Placement(&ctx, v1::PlacementRequest(), &answers[i]);
      });
    }
    for (std::thread& t : reads) t.join();
  }
  v1::PlacementResponse placement;
  std::vector<std::string> errors;
  bool found = false;
  for (size_t i = 0; i < n; ++i) {
    // Revisions of another site's etcd do not compare: a seed of the wrong
    // site answers only when no right one does (the check below fails it).
    const bool right_site = answers[i].site() == site->peer.site;
    const bool right_found = found && placement.site() == site->peer.site;
    if (statuses[i].ok()) {
      if (!found || (right_site && !right_found) ||
          (right_site == right_found && answers[i].revision() > placement.revision())) {
        placement = answers[i];
      }
      found = true;
    } else if (statuses[i].error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      // A node that predates Cluster.Placement: a single node.
      if (!found) {
        placement.Clear();
        placement.set_site(site->peer.site);
      }
      found = true;
    } else {
      errors.push_back(absl::StrCat(site->peer.seeds[i], ": ", statuses[i].error_message()));
    }
  }
  absl::MutexLock l(&mu_);
  if (!found) {
    std::string error = absl::StrCat("reading the placement of site '", site->peer.site,
                                     "' failed at every seed: ", absl::StrJoin(errors, "; "));
    if (site->discover_error.empty()) {
      LogWarning("replicator", "peer placement unreadable",
                 {{"peer", site->peer.site}, {"error", error}});
    }
    site->discover_error = error;
    return absl::UnavailableError(error);
  }
  if (placement.site() != site->peer.site) {
    std::string error = absl::StrCat("the node at ", site->peer.address, " is site '",
                                     placement.site(), "', expected '", site->peer.site, "'");
    site->discover_error = error;
    return absl::FailedPreconditionError(error);
  }
  site->discover_error.clear();
  if (placement.num_shards() == 0) {
    // A single node: one link, cursor under the site's name (as before
    // clusters).
    site->discovered = true;
    for (auto& p : links_) {
      if (p->site == site && p->member_id.empty() && !p->retired) return absl::OkStatus();
    }
    if (site->clustered) {
      return absl::FailedPreconditionError(absl::StrCat(
          "site '", site->peer.site, "' was a cluster and now answers as a single node"));
    }
    AddLink(site, "", site->peer.seeds[0]);
    return absl::OkStatus();
  }
  absl::StatusOr<cluster::Placement> parsed = cluster::Placement::FromProto(placement);
  if (!parsed.ok()) {
    site->discover_error =
        absl::StrCat("placement of site '", site->peer.site, "': ", parsed.status().message());
    return absl::DataLossError(site->discover_error);
  }
  if (parsed->revision() < site->revision) {
    // A peer node serving an older placement (restarting on its cache, its
    // watch down): nothing of it is trusted, neither members that left nor
    // addresses.
    if (site->stale_logged != parsed->revision()) {
      site->stale_logged = parsed->revision();
      LogWarning("replicator", "ignoring an older placement of a peer site",
                 {{"peer", site->peer.site},
                  {"revision", absl::StrCat(parsed->revision())},
                  {"held", absl::StrCat(site->revision)}});
    }
    return absl::OkStatus();
  }
  if (!site->clustered) {
    site->clustered = true;
    // A single node became a cluster's first member: its single-node link
    // stops; the member's own link takes over (its cursor starts at 0, so
    // it pulls the log again or range-syncs: nothing is skipped).
    for (auto& p : links_) {
      if (p->site == site && p->member_id.empty() && !p->retired) {
        p->retired = true;
        if (p->active) p->active->TryCancel();
      }
    }
    // Cursors of members this node pulled before a restart that are not in
    // the placement any more: their unpulled entries may be elsewhere now.
    const std::string prefix = absl::StrCat(site->peer.site, "/");
    for (const auto& [origin, seq] : store_->AppliedSequences()) {
      if (!absl::StartsWith(origin, prefix) || seq == 0) continue;
      const std::string member = origin.substr(prefix.size());
      bool present = false;
      for (const cluster::PlacementMember& m : parsed->members()) present |= m.id == member;
      if (!present) {
        LogWarning("replicator", "a peer member this node pulled from left its placement",
                   {{"peer", site->peer.site}, {"member", member}});
        site->resync_due = true;
        ++site->resync_generation;
      }
    }
  }
  if (parsed->revision() != site->revision) {
    LogInfo("replicator", "peer placement",
            {{"peer", site->peer.site},
             {"revision", absl::StrCat(parsed->revision())},
             {"members", absl::StrCat(parsed->members().size())},
             {"num_shards", absl::StrCat(parsed->num_shards())}});
  }
  site->revision = parsed->revision();
  site->discovered = true;
  // Members may have joined and left since this node last read the
  // placement (down, cut off, or simply between two polls): what they
  // stored and handed over by copy is in no log this node pulls. The
  // departed count says so; a pass over all time fetches it.
  const uint64_t departed = parsed->members_departed();
  const std::optional<uint64_t> synced = departures_.Get(site->peer.site);
  if (!synced.has_value() && departed == 0) {
    // Nobody ever left: nothing to fetch (so no pass after an upgrade).
    if (absl::Status s = departures_.Record(site->peer.site, 0); !s.ok()) return s;
  } else if (synced != departed && site->departed_due != departed) {
    LogWarning("replicator", "peer members departed since this node's last range sync",
               {{"peer", site->peer.site},
                {"departed", absl::StrCat(departed)},
                {"synced_for", synced.has_value() ? absl::StrCat(*synced) : "none"}});
    site->resync_due = true;
    ++site->resync_generation;
    site->departed_due = departed;
  }
  for (auto& p : links_) {
    if (p->site != site || p->member_id.empty()) continue;
    bool present = false;
    for (const cluster::PlacementMember& m : parsed->members()) {
      if (m.id != p->member_id) continue;
      present = true;
      if (const std::string address = MemberAddress(m.address); address != p->peer.address) {
        // Same member, new address: same log, same cursor.
        auto creds =
            options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials();
        p->peer.address = address;
        p->stub =
            v1::Replication::NewStub(grpc::CreateCustomChannel(address, creds, ChannelArgs()));
        if (p->active) p->active->TryCancel();
      }
    }
    if (p->in_placement && !present) {
      // It keeps its link (its log may still hold entries for us), and a
      // full-range anti-entropy pass finds what moved with its shards.
      LogWarning("replicator", "a peer member left its placement",
                 {{"peer", site->peer.site}, {"member", p->member_id}});
      site->resync_due = true;
      ++site->resync_generation;
    }
    p->in_placement = present;
  }
  for (const cluster::PlacementMember& m : parsed->members()) {
    bool have = false;
    for (auto& p : links_) have |= p->site == site && p->member_id == m.id;
    if (!have) AddLink(site, m.id, m.address);
  }
  // The sender's side (R2): a member no longer in the site's placement
  // stops holding our own log back; its ack is forgotten. Only once it was
  // absent from kForgetAfterReads reads in a row, each at a revision above
  // the last that listed it (older placements are ignored above): a read
  // of one peer node's view could be behind, and forgetting an active
  // member's ack lets the log be trimmed past its cursor (it range-syncs,
  // and between sites that does not carry events). One that comes back,
  // or is new, is protected from its first ack on.
  const int64_t revision = parsed->revision();
  std::set<std::string> listed;
  for (const cluster::PlacementMember& m : parsed->members()) {
    listed.insert(m.id);
    site->members_seen[m.id] = {revision, 0, false};
  }
  std::set<std::string> forget;
  for (const auto& [member, ack] : store_->MemberAcks(site->peer.site)) {
    if (listed.count(member) > 0) continue;
    SiteState::MemberSeen& seen = site->members_seen[member];
    if (revision > seen.listed_revision) ++seen.absent_reads;
    if (seen.absent_reads >= kForgetAfterReads) forget.insert(member);
  }
  if (!forget.empty()) {
    for (const std::string& gone : store_->ForgetMemberAcks(site->peer.site, forget)) {
      SiteState::MemberSeen& seen = site->members_seen[gone];
      // A departed member that keeps pulling is forgotten at every read:
      // logged once.
      if (seen.forget_logged) continue;
      seen.forget_logged = true;
      LogWarning("replicator",
                 "a peer member left its placement: its ack no longer holds this node's log",
                 {{"peer", site->peer.site},
                  {"member", gone},
                  {"revision", absl::StrCat(revision)},
                  {"last_listed_revision", absl::StrCat(seen.listed_revision)}});
    }
  }
  return absl::OkStatus();
}

absl::Status Replicator::CheckOwnership() {
  absl::MutexLock check(&check_mu_);
  if (AwaitingPlacement()) return absl::OkStatus();  // nothing owned is known
  const std::optional<ShardSet> now = LocalOwnership();
  // Shards no longer owned leave the record at once (before any stream
  // applies entries cut without them), so regaining them later range-syncs
  // them, however quickly it happens.
  RETURN_IF_ERROR(ownership_.Lower(now));
  {
    absl::MutexLock l(&mu_);
    // A stream whose filter lacks an owned shard ends before it applies
    // anything (PullOnce); end an idle one now.
    for (auto& p : links_) {
      if (p->streaming && !FilterCovers(p->stream_filter, now) && p->active) {
        p->active->TryCancel();
      }
    }
  }
  if (ownership_.Get() == now) return absl::OkStatus();
  {
    absl::MutexLock l(&mu_);
    // Every stream switches to the new filter first: whatever a stream
    // with the old one applies happens before the range sync below reads
    // the peers' digests.
    for (auto& p : links_) {
      if (p->streaming && p->stream_filter != now && p->active) p->active->TryCancel();
    }
    auto switched = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (stopping_) return true;
      // Covers, not equals: a stream reopened after a newer placement
      // change has a newer filter, and it must not hold this one back.
      for (auto& p : links_) {
        if (p->streaming && !FilterCovers(p->stream_filter, now)) return false;
      }
      return true;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&switched), absl::Seconds(30))) {
      return absl::DeadlineExceededError("ownership changed: pull streams did not restart");
    }
    if (stopping_) return absl::CancelledError("stopping");
  }
  // What the cursors are complete for now that no stream uses an older
  // filter (streams may still lower it; FinishChange keeps that).
  const std::optional<ShardSet> before = ownership_.BeginChange();
  std::vector<uint32_t> gained;
  bool all_gained = false;
  if (!now.has_value()) {
    all_gained = before.has_value();  // left the cluster: owns every tag now
  } else if (before.has_value()) {
    gained = now->GainedSince(*before);
  }  // else: owned every tag before; nothing gained
  if (all_gained || !gained.empty()) {
    // Entries the cursors passed held these shards' series for another
    // node of this site; fetch everything that differs, over all time.
    LogInfo("replicator", "ownership grew: range-syncing with every peer site",
            {{"gained_shards", all_gained ? "all" : absl::StrCat(gained.size())}});
    for (auto& site : sites_) {
      // Exactly `now`'s shards, which is what gets recorded.
      absl::StatusOr<v1::VerifyResponse> v =
          VerifyOwned(site->peer.site, kMinTimestamp, kMaxTimestamp, /*repair=*/true, now);
      if (!v.ok()) {
        return absl::Status(v.status().code(),
                            absl::StrCat("range sync after an ownership change with '",
                                         site->peer.site, "': ", v.status().message()));
      }
    }
  }
  RETURN_IF_ERROR(ownership_.FinishChange(now));
  const std::optional<ShardSet> recorded = ownership_.Get();
  LogInfo("replicator", "ownership recorded",
          {{"shards", recorded.has_value()
                          ? absl::StrCat(recorded->shards().size(), " of ", recorded->num_shards())
                          : "all"}});
  return absl::OkStatus();
}

void Replicator::ClusterLoop() {
  absl::Duration backoff = options_.min_backoff;
  while (true) {
    bool all_ok = true;
    for (auto& site : sites_) {
      if (!Discover(site.get()).ok()) all_ok = false;
    }
    if (absl::Status s = CheckOwnership(); !s.ok()) {
      all_ok = false;
      LogWarning("replicator", "ownership change not complete yet", {{"error", s.ToString()}});
    }
    for (auto& site : sites_) {
      bool due;
      uint64_t generation;
      std::optional<uint64_t> departed;
      {
        absl::MutexLock l(&mu_);
        due = site->resync_due;
        generation = site->resync_generation;
        departed = site->departed_due;
      }
      if (!due) continue;
      absl::StatusOr<v1::VerifyResponse> v =
          Verify(site->peer.site, kMinTimestamp, kMaxTimestamp, /*repair=*/true);
      if (!v.ok()) {
        all_ok = false;
        continue;
      }
      if (departed.has_value()) {
        if (absl::Status s = departures_.Record(site->peer.site, *departed); !s.ok()) {
          LogWarning("replicator", "peer departures not recorded", {{"error", s.ToString()}});
          all_ok = false;
          continue;
        }
      }
      LogInfo("replicator", "range sync after a peer member left done",
              {{"peer", site->peer.site},
               {"samples_repaired", absl::StrCat(v->samples_repaired())},
               {"departed", departed.has_value() ? absl::StrCat(*departed) : "-"}});
      absl::MutexLock l(&mu_);
      if (site->resync_generation == generation) {
        site->resync_due = false;
        site->departed_due.reset();
      }
    }
    absl::Duration wait = all_ok ? options_.placement_poll : backoff;
    backoff = all_ok ? options_.min_backoff : std::min(backoff * 2, options_.placement_poll);
    if (!SleepUnlessStopped(wait)) return;
  }
}

bool Replicator::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

void Replicator::Throttle(uint64_t samples) {
  if (options_.max_samples_per_second == 0) return;
  absl::Duration wait;
  {
    absl::MutexLock l(&mu_);
    throttle_samples_ += samples;
    absl::Time now = absl::Now();
    absl::Duration elapsed = now - throttle_start_;
    absl::Duration due = absl::Seconds(static_cast<double>(throttle_samples_) /
                                       static_cast<double>(options_.max_samples_per_second));
    if (elapsed > absl::Seconds(1)) {  // forget old history
      throttle_start_ = now;
      throttle_samples_ = 0;
    }
    wait = due - elapsed;
  }
  if (wait > absl::ZeroDuration()) SleepUnlessStopped(wait);
}

// Sets `peer`'s state; when the link goes up or down, records the time and
// logs one line (not one per reconnect attempt while it stays down).
void Replicator::SetLinkState(PeerState* peer, std::string state) {
  const bool was_up = peer->state == "connected";
  const bool up = state == "connected";
  if (was_up != up) {
    peer->state_since = absl::Now();
    if (up) {
      LogInfo("replicator", "peer link up", {{"peer", peer->cursor_key}});
    } else {
      LogWarning("replicator", "peer link down", {{"peer", peer->cursor_key}, {"state", state}});
    }
  }
  peer->state = std::move(state);
}

void Replicator::PullLoop(PeerState* peer) {
  absl::Duration backoff = options_.min_backoff;
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stopping_ || peer->retired) return;
    }
    absl::Status s = PullOnce(peer);
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
      SetLinkState(peer, absl::StrCat("disconnected: ", s.message()));
      peer->caught_up = false;
      if (peer->retired) return;
    }
    if (s.ok()) {
      backoff = options_.min_backoff;  // a gap was repaired; reconnect now
    } else {
      SleepUnlessStopped(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

absl::Status Replicator::PullOnce(PeerState* peer) {
  const std::string& site = peer->peer.site;
  // Entries of this link's log are applied under its own cursor.
  const std::string& origin = peer->cursor_key;
  grpc::ClientContext ctx;
  AddToken(&ctx);
  std::shared_ptr<v1::Replication::Stub> stub;
  std::optional<ShardSet> filter;
  std::string address;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return absl::CancelledError("stopping");
    if (peer->retired) return absl::CancelledError("the peer site is a cluster now");
    // Without its own placement a member would pull every tag, unfiltered
    // and with no member id (the sender would take its acks for the whole
    // site's): it waits for the placement instead.
    if (AwaitingPlacement()) {
      return absl::UnavailableError(
          "this node's own cluster placement is not known yet: not pulling until it is");
    }
    peer->active = &ctx;
    stub = peer->stub;
    address = peer->peer.address;
    // The ownership is read with the stream marked, so CheckOwnership sees
    // every stream that still uses an older one.
    filter = LocalOwnership();
    peer->streaming = true;
    peer->stream_filter = filter;
    SetLinkState(peer, "connecting");
  }
  struct Unmark {
    Replicator* self;
    PeerState* peer;
    ~Unmark() {
      absl::MutexLock l(&self->mu_);
      peer->active = nullptr;
      peer->streaming = false;
      peer->stream_filter.reset();
    }
  };
  auto stream = stub->Pull(&ctx);
  v1::PullRequest first;
  first.set_site(store_->options().site);
  first.set_from_sequence(store_->AppliedSequence(origin) + 1);
  if (filter.has_value()) {
    first.set_member_id(options_.cluster->self_id());
    *first.mutable_filter() = filter->ToProto();
  }
  absl::Status result;
  bool gap = false;
  absl::Status undefined_tag;  // an entry with samples of a tag undefined here
  bool stream_ended = false;
  uint64_t gap_start = 0;
  grpc::Status st;
  {
    Unmark unmark{this, peer};
    if (stream->Write(first)) {
      v1::PullResponse resp;
      absl::Time last_ack = absl::InfinitePast();
      while (true) {
        if (!stream->Read(&resp)) {
          stream_ended = true;
          break;
        }
        if (resp.site() != site) {
          result = absl::FailedPreconditionError(absl::StrCat(
              "peer at ", address, " is site '", resp.site(), "', expected '", site, "'"));
          break;
        }
        // The cursor is this member's: its log must be the one we read.
        if (resp.member_id() != peer->member_id) {
          result = absl::FailedPreconditionError(absl::StrCat(
              "peer at ", address, " is member '", resp.member_id(), "' of site '", site,
              "', expected '", peer->member_id, "' (placement of '", site, "' re-read)"));
          break;
        }
        if (absl::Status valid = CheckPullResponse(resp, store_->AppliedSequence(origin));
            !valid.ok()) {
          result = valid;
          break;
        }
        if (resp.gap()) {
          gap = true;
          gap_start = resp.log_start_sequence();
          break;
        }
        uint64_t samples = 0;
        const std::optional<ShardSet> now = LocalOwnership();
        // Ownership grew since the stream was opened with `filter`: its
        // records lack series this node owns now, and the cursor must not
        // pass them. End the stream before applying anything; the next
        // one asks with the new filter (what was passed before is
        // CheckOwnership's range sync).
        if (!FilterCovers(filter, now)) {
          result = absl::AbortedError(
              "this node owns shards the stream's filter lacks: reopening with its ownership");
          break;
        }
        // Ownership may have shrunk since the stream was opened (the
        // placement changed after it): records are cut to what this node
        // owns now before they are applied; the other owners pull those
        // series under their own cursors. The record of complete ownership
        // is lowered to the same set first (on disk), so regaining the
        // shards cut here range-syncs them.
        if (resp.records_size() > 0) {
          if (absl::Status s = ownership_.Lower(now); !s.ok()) {
            result = s;
            break;
          }
        }
        const bool recut = now.has_value() && !(filter.has_value() && *filter == *now);
        // While shards this node gained wait for their range sync, a tag
        // with no definition here may be one of theirs whose definition
        // entry the cursor passed, cut, while another member owned it: its
        // samples must not be left out and passed. The entry waits for the
        // range sync instead (AwaitGainedShardsSynced).
        const Store::UndefinedTags undefined = FilterCovers(ownership_.Get(), now)
                                                   ? Store::UndefinedTags::kDrop
                                                   : Store::UndefinedTags::kRefuse;
        for (const v1::LogRecord& rec : resp.records()) {
          std::string cut;
          bool changed = false;
          if (recut) {
            if (absl::Status fs = FilterLogEntry(*store_, *now, rec.entry(), &cut, &changed);
                !fs.ok()) {
              result = fs;
              break;
            }
          }
          std::string_view entry = changed ? cut : rec.entry();
          const std::optional<TimeRange> reflected =
              replay_fences_.Covering(origin, rec.sequence());
          std::string replay;
          bool filtered = false;
          if (reflected.has_value()) {
            if (absl::Status fs = ReplayFiltered(*store_, *reflected, entry, &replay, &filtered);
                !fs.ok()) {
              result = fs;
              break;
            }
            if (filtered) entry = replay;
          }
          absl::StatusOr<uint64_t> n =
              store_->ApplyReplicated(origin, rec.sequence(), entry, undefined);
          if (Store::IsUndefinedTag(n.status())) {
            undefined_tag = n.status();
            break;
          }
          if (!n.ok()) {
            result = n.status();
            break;
          }
          samples += *n;
          Throttle(*n);  // per entry, so catch-up is smooth, not bursty
        }
        if (!result.ok() || !undefined_tag.ok()) break;
        uint64_t applied = store_->AppliedSequence(origin);
        replay_fences_.Passed(origin, applied);
        {
          absl::MutexLock l(&mu_);
          SetLinkState(peer, "connected");
          peer->peer_head = resp.head_sequence();
          peer->pending_samples = resp.pending_samples();
          peer->entries_applied += resp.records_size();
          peer->samples_applied += samples;
          bool caught_up = applied >= resp.head_sequence();
          if (caught_up) peer->caught_up_at = absl::Now();
          peer->caught_up = caught_up;
        }
        if (absl::Now() - last_ack > absl::Milliseconds(200) || resp.records_size() == 0) {
          v1::PullRequest ack;
          ack.set_applied_sequence(applied);
          stream->Write(ack);
          last_ack = absl::Now();
        }
      }
    }
    // Cancel only a stream we leave early; one the peer ended carries the
    // peer's own status (e.g. PERMISSION_DENIED for a bad token), kept for
    // the peer's state line.
    if (!result.ok() || gap || !undefined_tag.ok() || !stream_ended) ctx.TryCancel();
    st = stream->Finish();
  }
  if (!result.ok()) return result;
  if (!undefined_tag.ok()) return AwaitGainedShardsSynced(peer, undefined_tag);
  if (gap) {
    // The peer trimmed entries we never applied: compare everything (our
    // shards, with every member of the site) and fetch what differs, then
    // continue from where its log starts now. The cursor then passes those
    // entries complete for `own` only: the record goes down to it first.
    if (AwaitingPlacement()) return absl::UnavailableError("own placement not known");
    const std::optional<ShardSet> own = LocalOwnership();
    RETURN_IF_ERROR(ownership_.Lower(own));
    absl::StatusOr<v1::VerifyResponse> v =
        VerifyOwned(site, kMinTimestamp, kMaxTimestamp, /*repair=*/true, own);
    if (!v.ok()) return v.status();
    bool peer_clustered;
    {
      absl::MutexLock l(&mu_);
      peer_clustered = peer->site->clustered;
    }
    if (own.has_value() || peer_clustered) {
      // The digest compared no events (a cluster on either side holds them
      // unevenly: its own site's by owner, the twin's at every member), so
      // the rule and event records of the trimmed entries come from this
      // member's whole set: all of them, merged where they differ (the
      // merge is idempotent). Range syncs are rare; events are few.
      absl::StatusOr<uint64_t> n = RepairEvents(peer);
      if (!n.ok()) {
        return absl::Status(n.status().code(),
                            absl::StrCat("range sync of rules and events: ", n.status().message()));
      }
      v->set_event_records_repaired(v->event_records_repaired() + *n);
    }
    {
      absl::MutexLock l(&mu_);
      ++peer->range_syncs;
    }
    absl::Status s = store_->AdvanceCursor(origin, gap_start - 1);
    LogInfo("replicator", "range sync done",
            {{"peer", origin},
             {"samples_repaired", absl::StrCat(v->samples_repaired())},
             {"event_records_repaired", absl::StrCat(v->event_records_repaired())},
             {"tag_definitions_repaired", absl::StrCat(v->tag_definitions_repaired())},
             {"status", s.ToString()}});
    return s;
  }
  if (st.ok()) return absl::UnavailableError("stream ended");
  return FromGrpcStatus(st);
}

absl::Status Replicator::AwaitGainedShardsSynced(PeerState* peer, const absl::Status& why) {
  const std::string waiting =
      absl::StrCat("waiting for the range sync of the shards this node gained: ", why.message());
  {
    absl::MutexLock l(&mu_);
    SetLinkState(peer, waiting);
  }
  LogInfo("replicator", "pull paused until the range sync of gained shards",
          {{"peer", peer->cursor_key}, {"entry", std::string(why.message())}});
  // CheckOwnership (the cluster thread) records the ownership once its
  // range sync is done; pull again at once then.
  const absl::Time give_up = absl::Now() + absl::Minutes(1);
  while (absl::Now() < give_up) {
    if (FilterCovers(ownership_.Get(), LocalOwnership())) return absl::OkStatus();
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return absl::CancelledError("stopping");
    }
    SleepUnlessStopped(absl::Milliseconds(20));
  }
  return absl::UnavailableError(waiting);
}

std::vector<v1::PeerStatus> Replicator::Status() const {
  std::vector<v1::PeerStatus> out;
  absl::MutexLock l(&mu_);
  for (const auto& site : sites_) {
    bool any = false;
    for (const auto& p : links_) {
      if (p->site != site.get() || p->retired) continue;
      any = true;
      v1::PeerStatus s;
      s.set_site(p->peer.site);
      s.set_member_id(p->member_id);
      s.set_address(p->peer.address);
      s.set_state(p->in_placement ? p->state
                                  : absl::StrCat(p->state, " (left the peer's placement)"));
      s.set_state_since_unix_ns(absl::ToUnixNanos(p->state_since));
      uint64_t applied = store_->AppliedSequence(p->cursor_key);
      s.set_applied_sequence(applied);
      s.set_peer_head_sequence(p->peer_head);
      bool behind = !p->caught_up || applied < p->peer_head;
      s.set_lag_samples(behind ? p->pending_samples : 0);
      s.set_lag_seconds(behind ? absl::ToDoubleSeconds(absl::Now() - p->caught_up_at) : 0);
      s.set_entries_applied(p->entries_applied);
      s.set_samples_applied(p->samples_applied);
      s.set_range_syncs(p->range_syncs);
      out.push_back(std::move(s));
    }
    if (!any) {
      // Its placement was not read yet: nothing pulls from it.
      v1::PeerStatus s;
      s.set_site(site->peer.site);
      s.set_address(site->peer.address);
      s.set_state(site->discover_error.empty()
                      ? "connecting"
                      : absl::StrCat("disconnected: ", site->discover_error));
      out.push_back(std::move(s));
    }
  }
  return out;
}

absl::StatusOr<Replicator::RemoteDigests> Replicator::CollectDigests(
    SiteState* site, int64_t start, int64_t end, int64_t bucket,
    const std::optional<ShardSet>& own) {
  RemoteDigests r;
  {
    absl::MutexLock l(&mu_);
    // The members in the site's current placement (a member that left
    // keeps pulling but is not asked: it may be gone for good).
    for (auto& p : links_) {
      if (p->site != site || p->retired || !p->in_placement) continue;
      r.asked.push_back({p.get(), p->stub});
    }
    r.single = !site->clustered;
  }
  if (r.asked.empty()) {
    return absl::UnavailableError(absl::StrCat("peer site '", site->peer.site,
                                               "': its placement was not read yet (",
                                               site->discover_error, ")"));
  }
  v1::DigestRequest req;
  req.set_start_ns(start);
  req.set_end_ns(end);
  req.set_bucket_ns(bucket);
  if (own.has_value()) *req.mutable_filter() = own->ToProto();
  for (auto& [link, stub] : r.asked) {
    v1::DigestResponse remote;
    grpc::ClientContext ctx;
    AddToken(&ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
    grpc::Status st = stub->Digest(&ctx, req, &remote);
    if (!st.ok()) {
      return absl::UnavailableError(
          absl::StrCat("digest from ", site->peer.site,
                       link->member_id.empty() ? "" : absl::StrCat(" member ", link->member_id),
                       ": ", st.error_message()));
    }
    r.digest_applied.push_back(remote.applied_sequence());
    for (v1::TagDigest& t : *remote.mutable_tags()) {
      r.holders[t.tag().name()].push_back({link, stub});
      *r.merged.add_tags() = std::move(t);
    }
    for (const v1::TagTombstone& t : remote.tombstones()) *r.merged.add_tombstones() = t;
    if (r.single) {
      r.merged.set_event_records(remote.event_records());
      r.merged.set_events_hash(remote.events_hash());
    }
  }
  return r;
}

absl::StatusOr<v1::VerifyResponse> Replicator::Verify(const std::string& peer_site, int64_t start,
                                                      int64_t end, bool repair) {
  if (AwaitingPlacement()) {
    return absl::UnavailableError(
        "this node's own cluster placement is not known yet: its shards are unknown");
  }
  return VerifyOwned(peer_site, start, end, repair, LocalOwnership());
}

absl::StatusOr<v1::VerifyResponse> Replicator::VerifyOwned(const std::string& peer_site,
                                                           int64_t start, int64_t end, bool repair,
                                                           const std::optional<ShardSet>& own) {
  SiteState* site = nullptr;
  for (auto& s : sites_) {
    if (s->peer.site == peer_site) site = s.get();
  }
  if (site == nullptr) {
    return absl::NotFoundError(absl::StrCat("peer_site: '", peer_site, "' is not in --peers"));
  }
  bool discovered;
  {
    absl::MutexLock l(&mu_);
    discovered = site->discovered;
  }
  if (!discovered) {
    if (absl::Status s = Discover(site); !s.ok()) return s;
  }
  if (start == 0 && end == 0) {
    start = kMinTimestamp;
    end = kMaxTimestamp;
  }
  const int64_t bucket = absl::ToInt64Nanoseconds(options_.digest_bucket);
  // Our shards only, compared with every member of the peer site.
  absl::StatusOr<RemoteDigests> collected = CollectDigests(site, start, end, bucket, own);
  if (!collected.ok()) return collected.status();
  RemoteDigests& r = *collected;
  const v1::DigestResponse& remote = r.merged;
  // Alarm rules and events are compared between single nodes only (which
  // node of a cluster holds them is not settled yet; docs/cluster.md).
  const bool compare_events = r.single && !own.has_value();
  // Deletes first: the peer's tombstones drop deleted tags here (also those
  // whose log entries the peer trimmed), and what they cover is not fetched.
  uint64_t tombstones_applied = 0;
  if (repair && remote.tombstones_size() > 0) {
    std::vector<engine::Tombstone> tombstones;
    for (const v1::TagTombstone& t : remote.tombstones()) {
      tombstones.push_back({t.tag_id(), t.version()});
    }
    absl::StatusOr<uint64_t> n = store_->ApplyTombstones(std::move(tombstones));
    if (!n.ok()) return n.status();
    tombstones_applied = *n;
  }
  std::map<TagId, Version> dead;
  for (const engine::Tombstone& t : store_->Tombstones()) dead[t.tag] = t.version;
  v1::DigestResponse local;
  if (absl::Status s = ComputeDigests(store_, {}, start, end, bucket, &local, nullptr,
                                      own.has_value() ? &*own : nullptr);
      !s.ok()) {
    return s;
  }
  DigestMap mine = ToDigestMap(local), theirs = ToDigestMap(remote);
  std::map<std::string, v1::Tag> remote_tags;
  std::map<std::string, Version> remote_versions;
  for (const auto& t : remote.tags()) {
    remote_tags[t.tag().name()] = t.tag();
    remote_versions[t.tag().name()] =
        std::max(remote_versions[t.tag().name()], t.catalog_version());
  }

  v1::VerifyResponse out;
  std::set<std::string> all_tags;
  for (const auto& t : local.tags()) all_tags.insert(t.tag().name());
  for (const auto& t : remote.tags()) all_tags.insert(t.tag().name());
  out.set_tags_compared(all_tags.size());
  std::map<std::string, std::vector<int64_t>> to_fetch;
  std::set<std::string> differing;
  std::set<std::pair<std::string, int64_t>> keys;
  for (const auto& [k, v] : mine) keys.insert(k);
  for (const auto& [k, v] : theirs) keys.insert(k);
  for (const auto& key : keys) {
    auto a = mine.find(key), b = theirs.find(key);
    if (a != mine.end()) out.set_local_samples(out.local_samples() + a->second.first);
    if (b != theirs.end()) out.set_peer_samples(out.peer_samples() + b->second.first);
    // A tag two peer members hold (a shard being moved there) has no one
    // digest to compare with: it counts as differing and is fetched from
    // both (repairs merge by version).
    auto h = r.holders.find(key.first);
    const bool split = h != r.holders.end() && h->second.size() > 1;
    bool same = !split && a != mine.end() && b != theirs.end() && a->second == b->second;
    if (same) continue;
    differing.insert(key.first);
    out.set_buckets_differing(out.buckets_differing() + 1);
    if (b != theirs.end()) to_fetch[key.first].push_back(key.second);
  }
  out.set_buckets_compared(keys.size());
  for (const auto& tag : differing) out.add_differing_tags(tag);
  if (own.has_value()) out.add_members_verified(options_.cluster->self_id());
  if (!r.single) out.set_peer_members(static_cast<uint32_t>(r.asked.size()));
  if (compare_events) {
    out.set_event_records_local(local.event_records());
    out.set_event_records_peer(remote.event_records());
    out.set_events_differ(local.event_records() != remote.event_records() ||
                          local.events_hash() != remote.events_hash());
  }
  // The peer's definition of `name`, with its catalog version (0 from a
  // peer that predates catalog versions in digests: it creates a missing
  // tag but never overrides one, nor passes a tombstone).
  auto remote_info = [&](const std::string& name) {
    engine::TagInfo info = TagFromProto(remote_tags[name]);
    info.id = remote_tags[name].id();
    info.origin_site = remote_tags[name].origin_site();
    info.created_ns = remote_tags[name].created_ns();
    info.version = remote_versions[name];
    return info;
  };
  // An incarnation deleted here (the peer has not applied the tombstone
  // yet): nothing to fetch, ApplyRepair would refuse it.
  auto deleted_here = [&](const engine::TagInfo& info) {
    auto d = dead.find(info.id);
    return d != dead.end() && info.version <= d->second;
  };

  // Definitions newer at the peer with no differing sample to carry them:
  // a tag created there without samples yet, or its metadata (unit, eng
  // range, retention...) changed, in log entries trimmed before this node
  // pulled them. A type conflict is left as it is (each site keeps its
  // own, counted as catalog_conflicts when the log brings it).
  // An equal version is two changes in one second at the site that stamped
  // them (versions have a resolution of one second): that site's copy holds
  // the later one, as for samples (docs/consistency.md).
  const uint8_t peer_stamp = engine::SiteTag(peer_site);
  std::map<std::string, const v1::TagDigest*> local_definitions;
  for (const auto& t : local.tags()) local_definitions[t.tag().name()] = &t;
  std::vector<engine::TagInfo> definitions;
  for (const auto& [name, version] : remote_versions) {
    if (to_fetch.count(name) > 0) continue;  // the fetch carries the definition
    if (auto l = local_definitions.find(name); l != local_definitions.end()) {
      const v1::Tag& here = l->second->tag();
      const Version held = l->second->catalog_version();
      if (held > version) continue;
      if (here.value_type() != v1::VALUE_TYPE_UNSPECIFIED &&
          here.value_type() != remote_tags[name].value_type()) {
        continue;
      }
      if (held == version &&
          (engine::VersionSiteTag(version) != peer_stamp ||
           google::protobuf::util::MessageDifferencer::Equals(here, remote_tags[name]))) {
        continue;
      }
    }
    engine::TagInfo info = remote_info(name);
    if (version == 0 || deleted_here(info)) continue;
    definitions.push_back(std::move(info));
  }
  out.set_tag_definitions_behind(definitions.size());

  if (!repair) return out;
  if (!definitions.empty()) {
    absl::StatusOr<uint64_t> n = store_->ApplyRepair(definitions, {});
    if (!n.ok()) return n.status();
    out.set_tag_definitions_repaired(definitions.size());
  }
  if (out.events_differ() && remote.event_records() > 0) {
    absl::StatusOr<uint64_t> n = RepairEvents(r.asked.front().first);
    if (!n.ok()) return n.status();
    out.set_event_records_repaired(*n);
  }

  uint64_t repaired = 0;
  for (const auto& [name, buckets] : to_fetch) {
    engine::TagInfo info = remote_info(name);
    if (deleted_here(info)) continue;
    for (const auto& [link, stub] : r.holders[name]) {
      for (int64_t b : buckets) {
        v1::FetchRequest f;
        f.set_tag(name);
        f.set_start_ns(b);
        f.set_end_ns(static_cast<int64_t>(std::min<uint64_t>(
            static_cast<uint64_t>(b) + static_cast<uint64_t>(bucket), static_cast<uint64_t>(end))));
        if (f.end_ns() <= f.start_ns()) f.set_end_ns(end);
        grpc::ClientContext fctx;
        AddToken(&fctx);
        auto reader = stub->Fetch(&fctx, f);
        v1::FetchResponse resp;
        engine::SeriesData series;
        series.tag = info.id;
        series.cols.Reset(info.type);
        uint64_t fetched_through = 0;  // the member's own entries the pages reflect
        while (reader->Read(&resp)) {
          fetched_through = std::max(fetched_through, resp.applied_sequence());
          for (const auto& vs : resp.samples()) {
            const v1::Sample& s = vs.sample();
            if (ValueKind(s.value()) != info.type) continue;
            series.cols.timestamps.push_back(s.timestamp_ns());
            series.cols.qualities.push_back(s.quality());
            series.cols.versions.push_back(vs.version());
            switch (info.type) {
              case ValueType::kDouble:
                series.cols.doubles.push_back(s.value().double_value());
                break;
              case ValueType::kInt64:
                series.cols.ints.push_back(s.value().int64_value());
                break;
              case ValueType::kBool:
                series.cols.bools.push_back(s.value().bool_value());
                break;
              case ValueType::kString:
                series.cols.strings.push_back(s.value().string_value());
                break;
              default:
                break;
            }
          }
        }
        grpc::Status fs = reader->Finish();
        if (!fs.ok()) {
          return absl::UnavailableError(
              absl::StrCat("fetch from ", peer_site, ": ", fs.error_message()));
        }
        if (series.cols.size() == 0) continue;
        // This node applied every entry of the member the pages reflect:
        // what it holds is as late in the member's order, and keeps a tie.
        // Else the pages may be ahead of the log here and win it. Only
        // between single nodes: a cluster member's cursor passes entries
        // whose series it cut (another member owned them then), and a peer
        // member's pages hold samples other members' logs carried (moves).
        const bool held_is_as_late = r.single && !own.has_value() && fetched_through > 0 &&
                                     store_->AppliedSequence(link->cursor_key) >= fetched_through;
        std::vector<engine::SeriesData> batch;
        batch.push_back(std::move(series));
        absl::StatusOr<uint64_t> n = store_->ApplyRepair(
            {info}, std::move(batch),
            held_is_as_late ? Store::RepairTies::kHeldWins : Store::RepairTies::kRepairWins);
        if (!n.ok()) return n.status();
        repaired += *n;
      }
    }
  }
  out.set_samples_repaired(repaired);
  // The members' entries up to their digests are reflected here now: when
  // the log brings them again, they must not undo the repair.
  for (size_t i = 0; i < r.asked.size(); ++i) {
    const std::string& link = r.asked[i].first->cursor_key;
    replay_fences_.Note(link, r.digest_applied[i], start, end, store_->AppliedSequence(link));
  }
  if (tombstones_applied > 0) {
    LogInfo("replicator", "applied the peer's tombstones",
            {{"peer", peer_site}, {"tombstones", absl::StrCat(tombstones_applied)}});
  }
  return out;
}

absl::StatusOr<uint64_t> Replicator::RepairEvents(PeerState* peer) {
  // What is here, to merge only the peer's records that differ.
  std::map<std::string, std::string, std::less<>> mine;
  absl::Status s = store_->ForEachEventRecord([&](std::string_view key, std::string_view value) {
    mine.emplace(std::string(key), std::string(value));
    return true;
  });
  if (!s.ok()) return s;
  std::shared_ptr<v1::Replication::Stub> stub;
  {
    absl::MutexLock l(&mu_);
    stub = peer->stub;
  }
  grpc::ClientContext ctx;
  AddToken(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  auto reader = stub->FetchEvents(&ctx, v1::FetchEventsRequest());
  v1::FetchEventsResponse resp;
  std::vector<engine::EventWrite> merge;
  while (reader->Read(&resp)) {
    for (v1::EventRecordBytes& r : *resp.mutable_records()) {
      auto it = mine.find(r.key());
      if (it != mine.end() && it->second == r.value()) continue;
      merge.push_back({std::move(*r.mutable_key()), std::move(*r.mutable_value())});
    }
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("fetch events from ", peer->peer.site, ": ", st.error_message()));
  }
  return store_->MergeEventRecords(std::move(merge));
}

void Replicator::AntiEntropyLoop() {
  while (SleepUnlessStopped(options_.anti_entropy_interval)) {
    int64_t end = absl::GetCurrentTimeNanos();
    int64_t start = end - absl::ToInt64Nanoseconds(options_.anti_entropy_window);
    for (auto& site : sites_) {
      const std::string& name = site->peer.site;
      absl::StatusOr<v1::VerifyResponse> v = Verify(name, start, end, /*repair=*/true);
      if (!v.ok()) {
        LogWarning("replicator", "anti-entropy failed",
                   {{"peer", name}, {"error", v.status().ToString()}});
      } else if (v->buckets_differing() > 0 || v->event_records_repaired() > 0) {
        LogInfo("replicator", "anti-entropy repaired differences",
                {{"peer", name},
                 {"buckets_differing", absl::StrCat(v->buckets_differing())},
                 {"samples_repaired", absl::StrCat(v->samples_repaired())},
                 {"event_records_repaired", absl::StrCat(v->event_records_repaired())}});
      }
    }
  }
}

}  // namespace historian::server
