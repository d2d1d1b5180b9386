// File: owner_router.h
// OwnerRouter: sends write batches straight to the site cluster members that
// own their tags (docs/cluster.md, "Routing writes"), so a batch takes no
// extra hop through a node that would forward it. For clients that write
// batch by batch with Client::WriteBatch (`historian import-csv`,
// `historian write`).
//
// The placement is read with Cluster.Placement from the nodes the caller
// knows (ClientOptions.endpoints), never from etcd. A node outside a cluster
// answers num_shards = 0 and every batch goes to it as before.
//
// A batch is split by owner (api/cluster/write_split.h) and its parts are
// sent in parallel; the ack is the join of the owners' acks. When a part
// fails, the router reads the placement again and, for an idempotent batch
// (client_id and batch_sequence set), resends the WHOLE batch to the known
// node, which forwards each part to its current owner: owners that already
// stored their part acknowledge it as a duplicate, so nothing is stored
// twice and a moved shard is found. A batch without client_id/sequence is
// not resent (it could be stored twice); the owner's error is returned.
// The placement is also read again when it is older than
// `placement_max_age`.
//
// Thread-safety: thread-safe; mu_ guards the placement and the owner clients.
#ifndef HISTORIAN_CLIENT_CLUSTER_OWNER_ROUTER_H_
#define HISTORIAN_CLIENT_CLUSTER_OWNER_ROUTER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/historian_client.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/ingest.pb.h"

namespace historian::client {

struct OwnerRouterStats {
  uint64_t batches_routed = 0;  // split and sent to owners directly
  uint64_t parts_sent = 0;      // parts acked by their owners directly
  uint64_t batches_resent = 0;  // a part failed: resent whole via the known node
  uint64_t placement_reads = 0;
  int64_t revision = 0;     // of the placement held
  uint32_t num_shards = 0;  // 0: not a cluster
};

class OwnerRouter {
 public:
  // `known` is the client of the nodes the caller knows (it must outlive the
  // router); `options` are its options (token, TLS, timeout for the owners).
  // Reads the placement once; an error reading it is returned.
  static absl::StatusOr<std::unique_ptr<OwnerRouter>> Create(
      Client* known, const ClientOptions& options,
      absl::Duration placement_max_age = absl::Seconds(30));

  // Stores `request` (routed as above). Errors: the known node's, or for a
  // non-idempotent batch the failing owner's (naming it).
  absl::StatusOr<v1::WriteAck> WriteBatch(const v1::WriteRequest& request);

  // Reads the placement again (Cluster.Placement from the known nodes); a
  // larger revision replaces the one held.
  absl::Status RefreshPlacement() ABSL_LOCKS_EXCLUDED(mu_);

  OwnerRouterStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  OwnerRouter(Client* known, ClientOptions options, absl::Duration placement_max_age);
  absl::StatusOr<Client*> OwnerClient(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);

  Client* const known_;
  const ClientOptions options_;
  const absl::Duration placement_max_age_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const v1::PlacementResponse> placement_ ABSL_GUARDED_BY(mu_);
  absl::Time placement_read_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::flat_hash_map<std::string, std::unique_ptr<Client>> owners_ ABSL_GUARDED_BY(mu_);
  OwnerRouterStats stats_ ABSL_GUARDED_BY(mu_);
};

// Cluster.Placement from the first of `options.endpoints` that answers.
absl::StatusOr<v1::PlacementResponse> ReadPlacement(const ClientOptions& options);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_CLUSTER_OWNER_ROUTER_H_
