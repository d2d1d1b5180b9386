// File: write_forwarder.h
// WriteForwarder: a node's side of routing writes in a site cluster
// (docs/cluster.md, "Routing writes"). A batch that reaches a node holding
// tags of shards other members own is split by owner: this node stores its
// own part, the other parts go to their owners in parallel (Ingest.WriteBatch
// with the caller's token and the forwarded marker), and the batch is acked
// only after every owner acked. Every part keeps the batch's client_id and
// batch_sequence, and each owner deduplicates its part under that key and
// the part's digest (routing::WritePartDigest), so a retry after a partial
// failure stores nothing twice, and a retry that brings an owner another
// slice of the batch (the placement moved) is stored. On a stream, parts
// reach each owner in stream order (ForwardOrder).
//
// A move's source cut off from etcd stores none of its own writes of a
// shard it hands over (an INITIALIZING move away from it in its view, or a
// move ack: it served a copy of the shard) once its lease may have run out
// (LeaseFence): the batch is refused UNAVAILABLE, nothing stored, before
// another node can take the shard over without it. A member without a
// lease for its isolation write fence or longer refuses writes of every
// shard it owns the same way.
//
// Two hops at most (WriteHop): a forwarded batch holding a tag this node
// does not own (the shard moved away from here after the sender read its
// placement) goes on to the owners this node's newer placement names, as
// the late writes of a move's source must; it is acked once they acked.
// A batch forwarded twice, or by a sender whose placement is not older than
// this node's, is refused with ABORTED naming the tag, its shard and the
// owner, and nothing of it is stored here: the sender answers its client
// with a status the client retries, and by then the placements agree again.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<ForwardedBatch> batch, forwarder.Route(*ctx, request));
//   if (batch == nullptr) { store request here as always }
//   else { store batch->local() here; ack = forwarder.Join(std::move(batch), local_ack); }
//
// Thread-safety: WriteForwarder is thread-safe (mu_ guards the cached
// placement proto); a ForwardedBatch belongs to one caller (its in-flight
// calls only touch their own Call and the counter).
#ifndef HISTORIAN_SERVER_CLUSTER_WRITE_FORWARDER_H_
#define HISTORIAN_SERVER_CLUSTER_WRITE_FORWARDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/cluster/write_split.h"
#include "grpcpp/server_context.h"
#include "historian/v1/cluster.pb.h"
#include "historian/v1/ingest.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/forward_order.h"
#include "server/cluster/lease_fence.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/write_hop.h"
#include "server/metrics.h"
#include "storage/store.h"

namespace historian::cluster {

// Metric families (declared by WriteForwarder::DescribeMetrics).
inline constexpr char kForwardedSamplesMetric[] = "historian_cluster_forwarded_samples_total";
inline constexpr char kForwardedBatchesMetric[] = "historian_cluster_forwarded_parts_total";
inline constexpr char kForwardErrorsMetric[] = "historian_cluster_forward_errors_total";
inline constexpr char kForwardedOnMetric[] = "historian_cluster_forwarded_on_total";
inline constexpr char kForwardOrderWaitsMetric[] = "historian_cluster_forward_order_waits_total";
inline constexpr char kMisroutedRefusedMetric[] = "historian_cluster_misrouted_refused_total";
inline constexpr char kLeaseFencedMetric[] = "historian_cluster_lease_fenced_writes_total";

class ForwardedBatch;

class WriteForwarder {
 public:
  // Everything passed must outlive the forwarder; `metrics` may be null.
  // `forward_timeout` bounds each forwarded call (and the caller's deadline,
  // when earlier, wins). `lease_fence` and `store` (for its move acks) may
  // be null: no fence.
  WriteForwarder(const ClusterView* view, MemberChannels* channels, server::Metrics* metrics,
                 absl::Duration forward_timeout = absl::Seconds(30),
                 const LeaseFence* lease_fence = nullptr, const Store* store = nullptr);
  ~WriteForwarder();

  static void DescribeMetrics(server::Metrics* metrics);

  // Routes one batch. nullptr: this node stores all of it (not in a
  // cluster, every tag is its own, a forwarded batch it owns, or no
  // placement before `historian cluster init`). Otherwise the remote parts
  // are on their way: at once, or with `order` (the batch's Ingest.Write
  // stream's; null for a unary call) once the stream's previous part to the
  // same owner was answered. With `order`, a batch routed by another
  // placement than the stream's unanswered parts first waits for them all
  // (ForwardOrder), so a later batch of the stream is never stored before
  // an earlier one that goes on from the old owner; ABORTED, nothing
  // stored, when one of the stream's parts failed (the client resends from
  // that batch). ABORTED: a forwarded batch with tags this node
  // does not own that may not go on (WriteHop::MayForwardOnAt). UNAVAILABLE: no placement in
  // cluster mode (ClusterView::NoPlacementStatus), or a forwarded batch while this node has none,
  // or a tag of a shard this node fences (hands over while its lease may have run out, or owns
  // while isolated). Nothing is stored on any error. `local_shards` (optional; only with a lease
  // fence) gets the distinct shards of the part this node stores, sorted: IngestService checks the
  // fence again for them after the commit, before acknowledging.
  absl::StatusOr<std::unique_ptr<ForwardedBatch>> Route(
      const grpc::ServerContextBase& caller, const v1::WriteRequest& request,
      ForwardOrder* order = nullptr, std::vector<uint32_t>* local_shards = nullptr);

  // Waits for the remote parts of `batch` and joins them with `local_ack`
  // (the ack of batch->local(); ignored when it has no series) into the
  // batch's ack. Errors name the owner (id, address) and the batch's shards
  // it owns: UNAVAILABLE when an owner could not be reached or did not
  // answer in time; an owner's own error keeps its code. Parts that were
  // stored stay stored; a retry of the whole batch is deduplicated.
  absl::StatusOr<v1::WriteAck> Join(std::unique_ptr<ForwardedBatch> batch,
                                    absl::StatusOr<v1::WriteAck> local_ack);

 private:
  struct Snapshot {
    std::shared_ptr<const Placement> placement;
    std::shared_ptr<const v1::PlacementResponse> proto;
    int self_index = -1;  // in placement->members(); -1: owns nothing
  };
  Snapshot Current() ABSL_LOCKS_EXCLUDED(mu_);
  // OK unless `request` holds a tag of a shard this node owns and fences
  // under `lease` (LeaseFence::FencedShards; the class comment).
  absl::Status CheckLeaseFence(const v1::WriteRequest& request, const Snapshot& snap,
                               const LeaseFence::LeaseCheck& lease) const;
  void Count(std::string_view name, std::string_view labels, double value);

  const ClusterView* const view_;
  MemberChannels* const channels_;
  server::Metrics* const metrics_;
  const absl::Duration forward_timeout_;
  const LeaseFence* const lease_fence_;
  const Store* const store_;

  absl::Mutex mu_;
  Snapshot cached_ ABSL_GUARDED_BY(mu_);
};

// One batch being forwarded: the part this node stores and the calls to the
// other owners. The destructor waits for calls still in flight (each is
// bounded by its deadline).
class ForwardedBatch {
 public:
  ~ForwardedBatch();
  ForwardedBatch(const ForwardedBatch&) = delete;
  ForwardedBatch& operator=(const ForwardedBatch&) = delete;

  // The part this node stores; no series when it owns none of the batch.
  const v1::WriteRequest& local() const { return local_; }
  bool has_local() const { return local_.series_size() > 0; }

 private:
  friend class WriteForwarder;
  struct Call;
  ForwardedBatch();

  // Waits until every call has finished (once; later calls return at once).
  void Wait();

  v1::WriteRequest local_;
  std::vector<routing::WritePart> parts_;     // every part, by owner index
  int local_part_ = -1;                       // index in parts_ of this node's part
  std::vector<std::unique_ptr<Call>> calls_;  // one per remote part, in parts_ order
  std::vector<int> call_part_;                // calls_[i] answers parts_[call_part_[i]]
  std::shared_ptr<const Placement> placement_;
  std::string self_id_;
  std::string local_shards_;  // "shards 3, 17" of the local part
  // Counts the calls still in flight; their callbacks decrement it.
  std::unique_ptr<absl::BlockingCounter> done_;
  bool waited_ = false;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_WRITE_FORWARDER_H_
