// File: replicator.h
// Replicator: the receiving side of replication. For every peer it keeps a
// Pull stream open (reconnecting with backoff), applies the peer's log
// entries in order through Store::ApplyReplicated (data and cursor in one
// WriteBatch, so a crash never applies twice or skips), acknowledges what it
// applied so the peer may trim its log, throttles catch-up, falls back to a
// range sync when the peer already trimmed what it needs, and runs periodic
// anti-entropy (digest comparison and repair).
//
// Thread-safety: safe for concurrent use; one thread per peer plus one
// anti-entropy thread run in the background between Start() and Stop().
#ifndef HISTORIAN_SERVER_REPLICATOR_H_
#define HISTORIAN_SERVER_REPLICATOR_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "historian/v1/admin.pb.h"
#include "historian/v1/replication.grpc.pb.h"
#include "storage/store.h"

namespace historian::server {

struct Peer {
  std::string site;
  std::string address;  // host:port
};

// Parses "site=host:port,site2=host:port". InvalidArgument naming the entry.
absl::StatusOr<std::vector<Peer>> ParsePeers(const std::string& flag);

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
  // Compares digests with `peer_site` over [start, end) and, when asked,
  // fetches the peer's samples for every bucket that differs; and compares
  // the digests of all rules and events (whatever the range), merging the
  // peer's records that differ when asked.
  absl::StatusOr<v1::VerifyResponse> Verify(const std::string& peer_site, int64_t start,
                                            int64_t end, bool repair);

 private:
  struct PeerState;
  // Sets peer->state; logs and stamps a change between connected and not.
  void SetLinkState(PeerState* peer, std::string state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PullLoop(PeerState* peer);
  absl::Status PullOnce(PeerState* peer);
  void AntiEntropyLoop();
  // Fetches the peer's rule and event records and merges those that differ
  // from ours (through our own log); returns how many.
  absl::StatusOr<uint64_t> RepairEvents(PeerState* peer);
  bool SleepUnlessStopped(absl::Duration d);
  void Throttle(uint64_t samples);

  Store* const store_;
  const ReplicatorOptions options_;
  std::vector<std::unique_ptr<PeerState>> peers_;
  std::vector<std::thread> threads_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Token bucket shared by all peers.
  absl::Time throttle_start_ ABSL_GUARDED_BY(mu_);
  uint64_t throttle_samples_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_REPLICATOR_H_
