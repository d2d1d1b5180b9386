// File: replication_service.h
// The sending side of replication: peers pull this node's own log, and ask
// for digests, samples and event records for anti-entropy.
//
// Thread-safety: called concurrently by gRPC; state lives in the Store.
#ifndef HISTORIAN_SERVER_REPLICATION_SERVICE_H_
#define HISTORIAN_SERVER_REPLICATION_SERVICE_H_

#include <atomic>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "historian/v1/admin.pb.h"
#include "historian/v1/replication.grpc.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/limits.h"
#include "storage/store.h"

namespace historian::server {

class ReplicationService final : public v1::Replication::Service {
 public:
  // `store` must outlive the service. Digest requests naming tags are held
  // to limits.max_tags_per_query distinct names.
  // `cluster` (may be null): the site cluster this node is a member of; its
  // member id goes into every PullResponse.
  explicit ReplicationService(Store* store, Limits limits = {},
                              const cluster::ClusterView* cluster = nullptr)
      : store_(store), limits_(limits), cluster_(cluster) {}
  // Makes every open Pull stream return (called before shutdown).
  void Stop() { stopping_ = true; }

  grpc::Status Pull(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::PullResponse, v1::PullRequest>* stream) override;
  grpc::Status Digest(grpc::ServerContext* context, const v1::DigestRequest* request,
                      v1::DigestResponse* response) override;
  grpc::Status Fetch(grpc::ServerContext* context, const v1::FetchRequest* request,
                     grpc::ServerWriter<v1::FetchResponse>* writer) override;
  grpc::Status FetchEvents(grpc::ServerContext* context, const v1::FetchEventsRequest* request,
                           grpc::ServerWriter<v1::FetchEventsResponse>* writer) override;

  // Fills the outbound fields of `status` (its site set): what the peer has
  // not taken of this node's own log, and whether its Pull stream is open.
  void FillOutbound(v1::PeerStatus* status) const;

 private:
  // A configured peer's Pull streams on this node.
  struct Outbound {
    int open = 0;
    absl::Time since = absl::InfinitePast();  // last change of open > 0
  };
  // Counts a Pull stream of `site` opening (+1) or closing (-1); logs when
  // the peer's link comes up or goes down.
  void TrackPull(const std::string& site, int delta);
  // Records that `site`'s member `member` (empty: a single node) applied
  // our own entries up to `seq`. The store keeps one ack per site (the log
  // is kept until it): for a cluster that is the lowest of its members'
  // acks, which the store keeps too (across restarts); an ack without a
  // member id never raises it past a known member's. ResourceExhausted
  // past kMaxMembersPerSite members of one site.
  absl::Status RecordAck(const std::string& site, const std::string& member, uint64_t seq);
  // Age of own entry `seq` (from its version), or 0 when it is not kept.
  double EntryAgeSeconds(uint64_t seq) const;

  Store* const store_;
  const Limits limits_;
  const cluster::ClusterView* const cluster_;
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Outbound> outbound_ ABSL_GUARDED_BY(mu_);
  static constexpr size_t kMaxMembersPerSite = 1024;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_REPLICATION_SERVICE_H_
