// File: move_tail.h
// MoveTail: step 4 of a shard move on its target (docs/cluster.md, "Moving
// shards"): tails the source's own log from the copy's position with
// Replication.Pull (shard_move set, the moving shard as the filter) and
// applies each entry under the move's own origin (Store::ApplyReplicated),
// so its cursor is never a cross-site peer's nor another move's. Entries
// cut down to nothing (other shards' writes) only move the cursor; event
// records are left out (a site's events are not per shard, and the source
// keeps its own), and so are series of tags this node holds outside the
// moving shard (KeepOnlyMovingShards).
//
//   MoveTail tail(store, stub, request, "move/3/us-0@17...");
//   RETURN_IF_ERROR(tail.RunUntil([](const MoveTail::Progress& p) { return p.caught_up; }));
//
// Thread-safety: one caller runs it; the context's TryCancel (any thread)
// ends a RunUntil.
#ifndef HISTORIAN_SERVER_CLUSTER_MOVE_TAIL_H_
#define HISTORIAN_SERVER_CLUSTER_MOVE_TAIL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/client_context.h"
#include "historian/v1/replication.grpc.pb.h"
#include "server/replication_filter.h"
#include "storage/engine/log_entry.h"
#include "storage/store.h"

namespace historian::cluster {

// Leaves out of `entry` (one of the source's, already cut by it to the
// moving shards) the series of tags `target` holds outside `moving`. The
// source keeps the series of tags it no longer knows (a shard that moved
// away from it since), and the target may hold such a tag now: its
// samples are not this move's to apply. Series of tags the target does
// not hold stay (the apply drops them) and so do those of tags the entry
// itself creates (the source kept only the moving shards' upserts).
void KeepOnlyMovingShards(const Store& target, const server::ShardSet& moving,
                          engine::LogEntry* entry);

class MoveTail {
 public:
  struct Progress {
    uint64_t applied = 0;          // the move's cursor: every source entry up to it is here
    uint64_t head = 0;             // the source's newest own sequence, as last reported
    bool caught_up = false;        // the last answer said nothing more was there
    uint64_t entries_applied = 0;  // entries that held something of the shard
  };

  // `first` is the Pull's first message without from_sequence (set from
  // the cursor). `context` carries the token; the tail owns neither.
  MoveTail(Store* store, v1::Replication::StubInterface* stub, grpc::ClientContext* context,
           v1::PullRequest first, std::string origin);
  ~MoveTail();

  // Opens the stream (at the first call) and applies what comes until
  // `done(progress)` holds after an answer. DataLoss when the source
  // trimmed its log past the cursor (the copy must be made again), the
  // stream's status when it ends, the store's errors.
  absl::Status RunUntil(const std::function<bool(const Progress&)>& done);
  const Progress& progress() const { return progress_; }
  // The ids of the tags whose definitions the applied entries carried
  // (created or changed at the source) since the last call.
  std::vector<TagId> TakeTagsDefined() { return std::exchange(tags_defined_, {}); }

 private:
  absl::Status Apply(const v1::LogRecord& record);

  Store* const store_;
  v1::Replication::StubInterface* const stub_;
  grpc::ClientContext* const context_;
  v1::PullRequest first_;
  const std::string origin_;
  // first_'s filter; an invalid one leaves the cut to the source.
  std::optional<server::ShardSet> moving_;
  std::unique_ptr<grpc::ClientReaderWriterInterface<v1::PullRequest, v1::PullResponse>> stream_;
  Progress progress_;
  std::vector<TagId> tags_defined_;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_MOVE_TAIL_H_
