// File: writer.h
// Writer: streams samples to a historian node over the bidirectional
// `Ingest.Write` stream, with batching, backpressure, per-batch acks,
// idempotent retries, failover and reconnect.
//
//   WriterOptions options;
//   options.endpoints = {"us-node:7400", "mx-node:7400"};  // own site first
//   options.client_id = "gw-us-line3";
//   ASSIGN_OR_RETURN(std::unique_ptr<Writer> writer, Writer::Start(options));
//   RETURN_IF_ERROR(writer->Append("us.line3.press2.temp", sample));
//   ...
//   std::vector<historian::v1::WriteRequest> unacked = writer->Close(absl::Seconds(10));
//
// Batching: Append() collects samples into a batch (grouped by tag) that is
// sent when it holds `batch_max_samples` samples or its first sample is
// `batch_max_delay` old. Send() hands over a whole batch instead (the gateway
// does this with batches it has already made durable).
//
// Acks and retries: every batch carries (client_id, batch_sequence). The node
// acks each batch, in order, once it is durable; the writer matches acks by
// batch_sequence. After a stream error, an ack timeout or a reconnect, every
// unacked batch is resent with the SAME client_id and batch_sequence, so the
// node stores it once (the node deduplicates by those two). Sequences
// increase by one per batch from `first_sequence`.
//
// IMPORTANT: a node remembers sequences per client_id durably, so a new
// writer must not reuse a client_id with sequences that were already used for
// other data: that data would be taken for a retry and not stored. Either
// leave client_id empty (a unique one is generated per Writer) or persist the
// next sequence yourself (the gateway's DiskQueue does) and pass it as
// `first_sequence`, or pass explicit sequences to Send().
//
// Failover: connections go to `endpoints[0]` (the own site) first; when it is
// unreachable, or its stream breaks or refuses a batch (a retryable
// refusal: low disk, no placement, a member cut off from etcd) before any
// ack, the next endpoint (the twin site) is tried at once; after every endpoint failed the writer
// waits a bounded, jittered exponential backoff and starts again from endpoints[0]. A stream that
// worked (got acks) and then broke is retried from endpoints[0] without waiting. The writer stays
// on a working twin endpoint until that stream breaks (no periodic fail-back).
//
// Site cluster (route_to_owners, docs/cluster.md "Routing writes"): the
// writer reads Cluster.Placement from endpoints[0] (again every
// `placement_refresh`) and, when the node is in a cluster (num_shards > 0),
// splits each batch by the owner of each tag and sends every part on its
// own stream to its owner: one inner Writer per owner, with endpoints
// {owner, endpoints...} (if the owner cannot be reached the part goes to
// the known nodes, which forward it to the current owner). Parts keep the
// batch's client_id and batch_sequence, so every owner deduplicates its
// part; a batch's result is reported once every part has its result
// (acks joined; the first error otherwise), and the batch counts as
// in flight until then. A batch routed by another placement revision than
// the batches still in flight waits until they have their results: an
// earlier batch's part sent to a shard's old owner may go on from there to
// the new one and must not be stored after this batch's part (the later
// batch wins a rewrite of a tag and timestamp). Without a placement (node
// unreachable, not a cluster) batches go to `endpoints` as described above.
//
// Errors per batch (the node refuses a batch in band, WriteAck.refused, and
// the writer half-closes to learn the stream's status): a stream ended with
// INVALID_ARGUMENT, FAILED_PRECONDITION
// (e.g. a sequence older than the node's dedup window) or OUT_OF_RANGE is
// blamed on the oldest unacked batch (the node handles batches in order):
// that batch is given up and reported through `on_result` with the error;
// every other error (UNAVAILABLE, UNAUTHENTICATED, RESOURCE_EXHAUSTED, ...)
// is retried forever.
//
// Batches over the node's limits: a node says in the initial metadata of
// every Write stream how many samples and bytes it takes in one message
// (--max_samples_per_batch, --max_message_bytes), and the writer sends
// nothing in a session before it knows them (an older node that says
// nothing before an ack: after connect_timeout). A batch over either is sent
// as slices within them (client/batch_slicer.h; WriteRequest.slice), each
// deduplicated on its own, and reported once, when every slice is acked,
// with one joined ack in the batch's own indexes. Slices not sent yet are
// cut again for a node with lower limits (a failover), and joined into one
// whole request for a node that sends no limits (it would take slice 2 for
// a retry of slice 1). A batch that cannot be cut to the session's node's
// limits (one sample over max_message_bytes, a malformed series) is not
// sent: it is given up with INVALID_ARGUMENT (the other endpoints are not
// tried).
//
// Thread-safety: Append, Flush, Send, WaitIdle, stats and Close may be called
// from any threads concurrently. `on_result` runs on the writer's internal
// thread with no lock held; it must not call Close().
#ifndef HISTORIAN_CLIENT_WRITER_H_
#define HISTORIAN_CLIENT_WRITER_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "api/cluster/write_split.h"
#include "client/backoff.h"
#include "client/batch_slicer.h"
#include "client/batcher.h"
#include "client/tls_options.h"
#include "historian/v1/cluster.pb.h"
#include "historian/v1/ingest.grpc.pb.h"

namespace grpc {
class ClientContext;
}

namespace historian::client {

// What Append and Send do when `max_in_flight_batches` batches are unacked.
enum class Backpressure {
  kBlock,  // wait until an ack makes room (or the writer closes)
  kFail,   // return RESOURCE_EXHAUSTED at once; nothing was taken
};

struct WriterOptions {
  // Nodes in order of preference: own site first, then the twin site.
  std::vector<std::string> endpoints;
  // Sent as `authorization: Bearer <token>` when set.
  std::string token;
  // TLS (and mutual TLS) to the nodes; off when empty.
  TlsOptions tls;
  // Empty: "writer-<host>-<pid>-<start ns>", unique per Writer.
  std::string client_id;
  // Sequence of the first batch made by Append() or by Send() of a request
  // whose batch_sequence is 0. Must be > 0.
  uint64_t first_sequence = 1;
  size_t batch_max_samples = 10000;
  absl::Duration batch_max_delay = absl::Seconds(1);
  // Batches sent (or ready to send) but not yet acked; bounds memory.
  size_t max_in_flight_batches = 64;
  Backpressure backpressure = Backpressure::kBlock;
  // Between rounds of failed connection attempts.
  BackoffOptions backoff;
  // Waiting for a node to accept the TCP/HTTP2 connection.
  absl::Duration connect_timeout = absl::Seconds(5);
  // A stream whose oldest sent batch has no ack after this long is cancelled
  // and the writer reconnects (a hung node).
  absl::Duration ack_timeout = absl::Seconds(60);
  // Called once per batch: with OK and the node's ack, or with the error for
  // which the batch was given up (see above). May be empty.
  std::function<void(uint64_t sequence, const absl::Status& status,
                     const historian::v1::WriteAck& ack)>
      on_result;
  // Send each tag's samples straight to its site cluster owner (above).
  bool route_to_owners = false;
  // How often the placement is read again (route_to_owners).
  absl::Duration placement_refresh = absl::Seconds(10);
};

struct WriterStats {
  uint64_t batches_acked = 0;
  uint64_t batches_duplicate = 0;  // acked as already stored (a retry)
  uint64_t batches_failed = 0;     // given up after a permanent error
  uint64_t samples_accepted = 0;   // stored by first deliveries
  uint64_t samples_rejected = 0;   // listed as rejected in acks
  uint64_t reconnects = 0;         // streams opened after the first
  uint64_t batches_cut = 0;        // sent as slices: over their node's limits
  uint64_t slices_cut_again = 0;   // unsent slices cut again or joined for another node
  // route_to_owners: batches held back until the batches routed by the
  // placement before were answered (a placement change between them).
  uint64_t placement_waits = 0;
  size_t in_flight = 0;         // unacked batches held
  size_t buffered_samples = 0;  // in the batch being built
  std::string endpoint;         // of the open stream; empty if none
  absl::Status last_error;      // of the last failed stream; OK again once a batch is acked
};

class Writer {
 public:
  // Validates the options and starts the writer's threads. Connects lazily,
  // on the first batch. INVALID_ARGUMENT for no or empty endpoints, zero
  // batch or in-flight limits, or first_sequence 0.
  static absl::StatusOr<std::unique_ptr<Writer>> Start(WriterOptions options);

  // Close(absl::ZeroDuration()).
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Adds one sample to the current batch. RESOURCE_EXHAUSTED (kFail, when
  // the batch is full and no batch can be sent) or FAILED_PRECONDITION
  // (closed); the sample is not taken then.
  absl::Status Append(absl::string_view tag, historian::v1::Sample sample);
  // Sends the current batch now, whatever its size (subject to backpressure).
  absl::Status Flush();
  // Sends a whole batch. Its client_id is overwritten with the writer's; a
  // batch_sequence of 0 is replaced by the next sequence, a non-zero one is
  // kept (the caller owns the numbering then). Returns the sequence.
  // INVALID_ARGUMENT for a request with `slice` set (the writer's own).
  absl::StatusOr<uint64_t> Send(historian::v1::WriteRequest request);

  // Waits until every batch handed over so far has its result.
  // DEADLINE_EXCEEDED when `deadline` passes first.
  absl::Status WaitIdle(absl::Time deadline);

  // Stops taking samples, sends the current batch, waits up to `grace` for
  // the acks of everything unacked, then cancels the stream and stops the
  // threads. Returns the batches still unacked (with their sequences), which
  // the caller may keep for a later retry; of a batch being sent as slices,
  // its unacked slices joined into one whole request (a retry of it may
  // store the samples of those slices the node stored without an ack
  // again, with the same values). Idempotent (later calls return {}).
  std::vector<historian::v1::WriteRequest> Close(absl::Duration grace);

  WriterStats stats() const;
  // Placement revision routed by (route_to_owners); 0 when none was read,
  // -1 when the node is not in a cluster.
  int64_t placement_revision() const;
  const std::string& client_id() const { return options_.client_id; }

 private:
  // A batch sent as slices because it is over its node's limits. Its
  // entries in pending_ are consecutive, one per slot (a slice in flight or
  // waiting); the batch is reported once, joined, when no slot is unacked.
  // Slots of slices cut again are abandoned, their acks never come.
  struct SliceGroup {
    std::vector<std::vector<SliceOrigin>> origins;             // per slot
    std::vector<uint32_t> numbers;                             // per slot: its slice
    std::vector<std::optional<historian::v1::WriteAck>> acks;  // per slot, once acked
    size_t unacked = 0;                                        // live slots without an ack
    uint32_t next_number = 1;  // WriteRequest.slice of the next slice cut
  };
  struct Pending {
    uint64_t sequence;
    std::shared_ptr<const historian::v1::WriteRequest> request;
    absl::Time sent_at = absl::InfinitePast();
    std::shared_ptr<SliceGroup> slices{};  // null: the whole batch
    size_t slot = 0;                       // in slices
    // Why this session's node cannot take it (over its limits, cannot be
    // cut to them): then it is not sent but given up.
    absl::Status unsendable{};
  };
  // Result of one stream session.
  struct Session {
    absl::Status status;
    bool got_ack = false;
    bool stopped_at_unsendable = false;  // half-closed before such a batch
  };

  explicit Writer(WriterOptions options);

  // REQUIRES: mu_ held. Waits (kBlock) or fails (kFail) until a batch fits.
  absl::Status WaitForRoomLocked(std::unique_lock<std::mutex>& lock);
  // REQUIRES: mu_ held. Moves the batcher's batch to pending_.
  void EnqueueBatchLocked();
  void FlushLoop();
  void IoLoop();
  Session RunSession(const std::string& endpoint);
  // Gives up the oldest unacked batch (all of its slices) and reports it:
  // one the node of `session` refused for good (a permanent status), or one
  // it cannot take (Pending::unsendable). False when there is none to give
  // up.
  bool GiveUpOldest(const Session& session);
  // Handles one ack; returns false on a protocol error.
  bool HandleAck(const historian::v1::WriteAck& ack);
  // The ack of a batch sent as slices: its acked slots' acks joined.
  static historian::v1::WriteAck JoinGroupAcks(uint64_t sequence, const SliceGroup& group);
  static size_t SlicesAcked(const SliceGroup& group);
  // REQUIRES: mu_ held. Batches in pending_ (a batch's slices count once).
  size_t BatchesPendingLocked() const;
  // REQUIRES: mu_ held. Makes the unsent pending_[index] fit this session's
  // node (`limits`; zeros: it takes no slices): a whole batch over them is
  // cut into slices; slices that a node does not take, or that are over its
  // limits (cut for another node), are joined again with the rest of their
  // batch that is unsent, and cut again (or sent whole).
  void FitToNodeLocked(size_t index, const NodeWriteLimits& limits);
  void Report(uint64_t sequence, const absl::Status& status, const historian::v1::WriteAck& ack);

  // route_to_owners: one batch split over owners, until every part has its
  // result.
  struct RoutedBatch {
    std::vector<routing::WritePart> parts;  // requests moved out; indexes kept
    std::map<std::string, size_t> part_of;  // inner writer key -> index in parts
    std::vector<historian::v1::WriteAck> acks;
    size_t remaining = 0;
    absl::Status error;
  };
  void RouteLoop();
  void MaybeReadPlacement();
  // The inner writer for `key` (made on first use); null once closing.
  Writer* Inner(const std::string& key, std::vector<std::string> endpoints);
  void OnPartResult(const std::string& key, uint64_t sequence, const absl::Status& status,
                    const historian::v1::WriteAck& ack);

  WriterOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // any state change below
  Batcher batcher_;
  std::deque<Pending> pending_;  // unacked batches in sequence order
  size_t next_to_send_ = 0;      // index in pending_ of the first unsent batch this session
  uint64_t next_sequence_;
  bool closing_ = false;  // no new samples; drain
  bool abort_ = false;    // stop now
  grpc::ClientContext* session_context_ = nullptr;
  bool session_refused_ = false;  // the session's node refused a batch
  WriterStats stats_;
  bool started_session_ = false;
  // What this session's node takes in one message, from its initial
  // metadata (zeros: it said nothing, so it takes no slices); guarded by
  // mu_. Nothing is sent in a session before it is known.
  NodeWriteLimits session_limits_;
  bool session_limits_known_ = false;

  std::map<uint64_t, RoutedBatch> routed_;  // guarded by mu_
  // Read and written by the io thread only (RouteLoop); the revision is
  // copied to placement_revision_ under mu_.
  std::shared_ptr<const historian::v1::PlacementResponse> placement_;
  absl::Time placement_read_at_ = absl::InfinitePast();
  int64_t placement_revision_ = 0;  // guarded by mu_
  // placement_revision_ when the batches in routed_ were routed.
  int64_t routed_at_revision_ = 0;  // guarded by mu_
  mutable std::mutex inner_mu_;     // guards inner_ and inner_closed_; never held with mu_
  std::map<std::string, std::unique_ptr<Writer>> inner_;
  bool inner_closed_ = false;

  std::thread flush_thread_;
  std::thread io_thread_;
  std::mutex close_mu_;  // serialises Close
  bool closed_ = false;
};

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_WRITER_H_
