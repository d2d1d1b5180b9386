// File: replicator.h
// Replicator: the receiving side of replication. For every peer it keeps a
// Pull stream open (reconnecting with backoff), applies the peer's log
// entries in order through Store::ApplyReplicated (data and cursor in one
// WriteBatch, so a crash never applies twice or skips), acknowledges what it
// applied so the peer may trim its log, throttles catch-up, falls back to a
// range sync when the peer already trimmed what it needs, and runs periodic
// anti-entropy (digest comparison and repair).
//
// Between site clusters (docs/cluster.md, "Between site clusters"): a peer
// site is reached through its --peers address (seed), whose
// Cluster.Placement names the peer site's members; the replicator keeps one
// pull link per remote member, each with its own cursor ("site/member"),
// and, when this node is itself a member of a cluster, asks each for the
// shards this node owns only (PullRequest.filter). Anti-entropy and Verify
// compare this node's owned shards with all remote members.
//
// Thread-safety: safe for concurrent use; one thread per link, one cluster
// thread (remote placements, local ownership) and one anti-entropy thread
// run in the background between Start() and Stop().
#ifndef HISTORIAN_SERVER_REPLICATOR_H_
#define HISTORIAN_SERVER_REPLICATOR_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "historian/v1/admin.pb.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/replication.grpc.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/replay_fence.h"
#include "server/replication_filter.h"
#include "server/xsite_ownership.h"
#include "server/xsite_peer_departures.h"
#include "storage/store.h"

namespace historian::server {

struct Peer {
  std::string site;
  std::string address;  // host:port (of a peer cluster: its first seed)
  // Every address given for the site (a cluster: any of its members
  // answers Cluster.Placement); address is seeds[0].
  std::vector<std::string> seeds;
};

// Parses "site=host:port,site2=host:port"; a site cluster may list several
// of its members: "mx=host:port|host2:port". InvalidArgument naming the
// entry.
absl::StatusOr<std::vector<Peer>> ParsePeers(const std::string& flag);

// Parses "advertised_host:port=host:port,...". InvalidArgument naming the
// entry.
absl::StatusOr<std::map<std::string, std::string>> ParseAddressMap(const std::string& flag);

struct ReplicatorOptions {
  // Most peer samples applied per second during catch-up (0: no limit), so
  // live ingest keeps its share of the disk. Default: 2,000,000.
  uint64_t max_samples_per_second = 2000000;
  // How often anti-entropy compares with each peer (0: never).
  absl::Duration anti_entropy_interval = absl::Minutes(10);
  // The time range anti-entropy compares, ending now.
  absl::Duration anti_entropy_window = absl::Hours(48);
  // Bucket width of digests.
  absl::Duration digest_bucket = absl::Hours(1);
  // Backoff between reconnects: doubles from min to max.
  absl::Duration min_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Keepalive ping interval on idle peer connections; a ping unanswered for
  // as long closes the connection so the stream reconnects.
  absl::Duration keepalive = absl::Seconds(10);
  // Bearer token sent to peers (role replicator), if any.
  std::string token;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // The site cluster this node is a member of (null, or a null placement:
  // a single node, which owns every tag). Must outlive the replicator.
  const cluster::ClusterView* cluster = nullptr;
  // How often the peer sites' placements and this node's ownership are
  // read again.
  absl::Duration placement_poll = absl::Seconds(2);
  // Advertised host:port -> host:port: where to reach a peer cluster's
  // member instead of the address it advertises (--peer_address_map).
  std::map<std::string, std::string> address_map;
  // Where this node keeps the ownership its cursors are complete for
  // (docs/cluster.md); empty: kept in memory only.
  std::string ownership_file;
  // Where this node keeps, per peer site, the members departed its data is
  // complete for (server/xsite_peer_departures.h); empty: in memory only.
  std::string departures_file;
  // Where the replay fences are kept (server/replay_fence.h); empty: in
  // memory only.
  std::string replay_fences_file;
};

class Replicator {
 public:
  // `store` must outlive the replicator.
  Replicator(Store* store, std::vector<Peer> peers, ReplicatorOptions options);
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  void Start();
  // Stops every stream and thread; idempotent.
  void Stop();

  std::vector<v1::PeerStatus> Status() const;
  // The shards this node owns in its own cluster; nullopt outside one (and
  // in one whose placement is not known yet: see AwaitingPlacement()).
  std::optional<ShardSet> LocalOwnership() const;
  // True for a member of a cluster whose placement is not known yet (etcd
  // unreachable at the first start): it owns no known shards, so it pulls
  // nothing, range-syncs nothing and records no ownership.
  bool AwaitingPlacement() const;
  // Compares digests with `peer_site` over [start, end) and, when asked,
  // fetches the peer's samples for every bucket that differs; and compares
  // the digests of all rules and events (whatever the range), merging the
  // peer's records that differ when asked.
  absl::StatusOr<v1::VerifyResponse> Verify(const std::string& peer_site, int64_t start,
                                            int64_t end, bool repair);

  // One ownership check of the cluster thread's poll, run now (tests).
  absl::Status TEST_CheckOwnership() { return CheckOwnership(); }
  // One read of every peer site's placement, as the cluster thread's poll
  // does, run now (tests); the first error.
  absl::Status TEST_DiscoverPeers() {
    absl::Status first;
    for (auto& site : sites_) {
      absl::Status s = Discover(site.get());
      if (first.ok()) first = s;
    }
    return first;
  }

 private:
  struct SiteState;
  struct PeerState;  // one pull link: a peer single node or cluster member
  // What Verify compares with: every remote member's digest of our shards.
  struct RemoteDigests;

  // Sets peer->state; logs and stamps a change between connected and not.
  void SetLinkState(PeerState* peer, std::string state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PullLoop(PeerState* peer);
  absl::Status PullOnce(PeerState* peer);
  // An entry of `peer` was refused (Store::IsUndefinedTag: `why`) while a
  // range sync of gained shards is pending: the link says so and waits until
  // CheckOwnership recorded the ownership (OK: pull again at once), at most
  // a minute (Unavailable: the link backs off and pulls again).
  absl::Status AwaitGainedShardsSynced(PeerState* peer, const absl::Status& why);
  void AntiEntropyLoop();
  // Reads the peer sites' placements and starts links to new members;
  // restarts streams and range-syncs gained shards when this node's
  // ownership changed. Runs every placement_poll.
  void ClusterLoop();
  // Reads `site`'s placement from its seeds (and known members) and makes
  // sure a link exists for each of its members.
  absl::Status Discover(SiteState* site);
  PeerState* AddLink(SiteState* site, const std::string& member_id, const std::string& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When this node's ownership differs from what its cursors are complete
  // for: lowers the record to what is owned now, switches every stream to
  // the new filter and, for gained shards, range-syncs every peer site
  // before recording the new ownership. One at a time (check_mu_).
  absl::Status CheckOwnership() ABSL_LOCKS_EXCLUDED(check_mu_, mu_);
  // Verify over the shards `own` (nullopt: every tag).
  absl::StatusOr<v1::VerifyResponse> VerifyOwned(const std::string& peer_site, int64_t start,
                                                 int64_t end, bool repair,
                                                 const std::optional<ShardSet>& own);
  absl::StatusOr<RemoteDigests> CollectDigests(SiteState* site, int64_t start, int64_t end,
                                               int64_t bucket, const std::optional<ShardSet>& own);
  // Fetches the peer's rule and event records and merges those that differ
  // from ours (through our own log); returns how many.
  absl::StatusOr<uint64_t> RepairEvents(PeerState* peer);
  bool SleepUnlessStopped(absl::Duration d);
  void Throttle(uint64_t samples);
  grpc::ChannelArguments ChannelArgs() const;
  void AddToken(grpc::ClientContext* ctx) const;
  // Where to reach a peer member advertised at `advertised`
  // (options_.address_map overrides).
  std::string MemberAddress(const std::string& advertised) const;

  Store* const store_;
  const ReplicatorOptions options_;
  std::vector<std::unique_ptr<SiteState>> sites_;  // fixed after construction
  // The ownership every cursor is complete for (<data_dir>/XSITE_OWNERSHIP;
  // thread-safe itself).
  XsiteOwnership ownership_;
  PeerDepartures departures_;
  // Per member link, its entries a repair already reflects here
  // (replay_fence.h; thread-safe itself).
  ReplayFences replay_fences_;
  // Serialises CheckOwnership (the cluster thread, tests). Taken before mu_.
  absl::Mutex check_mu_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Links only ever get added (a member that leaves keeps its link).
  std::vector<std::unique_ptr<PeerState>> links_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  // Token bucket shared by all peers.
  absl::Time throttle_start_ ABSL_GUARDED_BY(mu_);
  uint64_t throttle_samples_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_REPLICATOR_H_
