#include "server/cluster/shard_mover.h"

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/bearer_token.h"
#include "api/core/status_macros.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/replication.grpc.pb.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/move_fence_key.h"
#include "server/cluster/move_tail.h"
#include "server/cluster/move_transitions.h"
#include "server/cluster/move_txn.h"
#include "server/cluster/shard_copy_client.h"
#include "server/logging.h"
#include "storage/commit_log/move_origin.h"
#include "storage/store.h"

namespace historian::cluster {
namespace {

// The move `move` of `placement` as its fence names it.
FencedMove OfMove(const Placement& placement, const ShardMove& move) {
  return {placement.members()[move.from].id, placement.members()[move.to].id, move.since_unix_ns};
}

constexpr std::pair<MoveStep, std::string_view> kStepNames[] = {
    {MoveStep::kStart, "start"},
    {MoveStep::kWipeTarget, "wipe"},
    {MoveStep::kCopySealed, "copy"},
    {MoveStep::kTailLog, "tail"},
    {MoveStep::kFlip, "flip"},
    {MoveStep::kPublishFence, "fence"},
    {MoveStep::kTailToFence, "tail_to_fence"},
    {MoveStep::kDropSource, "finish"},
};

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

// The copy's source name in the marker: the source member and a nonce, so
// each copy applies its tail under an origin of its own (a cursor reused
// across copies would skip entries the wipe dropped).
std::string CopySourceName(const std::string& member) { return absl::StrCat(member, "@", NowNs()); }
std::string MemberOfCopySource(const std::string& source) {
  return source.substr(0, source.rfind('@'));
}

}  // namespace

std::string_view MoveStepName(MoveStep step) {
  for (const auto& [s, name] : kStepNames) {
    if (s == step) return name;
  }
  return "?";
}

std::optional<MoveStep> ParseMoveStep(std::string_view name) {
  for (const auto& [s, n] : kStepNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

ShardMover::ShardMover(Store* store, const ClusterView* view, const EtcdClient* etcd,
                       MemberChannels* channels, ShardMoverOptions options)
    : store_(store), view_(view), etcd_(etcd), channels_(channels), options_(std::move(options)) {}

ShardMover::~ShardMover() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    if (active_call_ != nullptr) active_call_->TryCancel();
  }
  if (target_thread_.joinable()) target_thread_.join();
  if (source_thread_.joinable()) source_thread_.join();
}

void ShardMover::Start() {
  target_thread_ = std::thread([this] { Loop(/*target_side=*/true); });
  source_thread_ = std::thread([this] { Loop(/*target_side=*/false); });
}

void ShardMover::OnPlacement() {
  absl::MutexLock l(&mu_);
  ++target_wakes_;
  ++source_wakes_;
}

ShardMover::Stats ShardMover::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

bool ShardMover::stopping() const {
  absl::MutexLock l(&mu_);
  return stopping_;
}

void ShardMover::NoteError(const absl::Status& s) {
  absl::MutexLock l(&mu_);
  ++stats_.errors;
  stats_.last_error = s.ToString();
}

void ShardMover::Loop(bool target_side) {
  uint64_t seen = 0;
  while (true) {
    {
      absl::MutexLock l(&mu_);
      uint64_t& wakes = target_side ? target_wakes_ : source_wakes_;
      seen = wakes;
    }
    absl::Status s = target_side ? TargetPass() : SourcePass();
    if (!s.ok() && !stopping()) {
      NoteError(s);
      server::LogError("cluster",
                       target_side ? "mover: a move failed; retrying"
                                   : "mover: publishing a fence failed; retrying",
                       {{"error", s.ToString()}});
    }
    absl::MutexLock l(&mu_);
    uint64_t& wakes = target_side ? target_wakes_ : source_wakes_;
    auto woken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || wakes != seen; };
    // A pass that did everything it could waits for the next placement; a
    // failed one (or a move waiting for a slot) looks again after `retry`.
    mu_.AwaitWithTimeout(absl::Condition(&woken), options_.retry);
    if (stopping_) return;
  }
}

absl::Status ShardMover::Pause(MoveStep step, uint32_t shard) {
  if (!options_.pause_before.has_value() || step < *options_.pause_before) {
    return absl::OkStatus();
  }
  server::LogWarning("cluster", "mover: paused by the test hook",
                     {{"step", std::string(MoveStepName(step))}, {"shard", absl::StrCat(shard)}});
  absl::MutexLock l(&mu_);
  stats_.paused_step = static_cast<int>(step);
  mu_.Await(absl::Condition(&stopping_));
  return absl::CancelledError("the node is stopping");
}

std::unique_ptr<grpc::ClientContext> ShardMover::NewCall() const {
  auto call = std::make_unique<grpc::ClientContext>();
  if (!options_.token.empty()) {
    call->AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
  }
  return call;
}

void ShardMover::ReportProgress(uint32_t shard, const std::string& to, MoveStep step,
                                int64_t bytes_copied, int64_t bytes_total, int64_t entries_behind,
                                int64_t eta_seconds) const {
  MoveProgress p{to,
                 std::string(MoveStepName(step)),
                 bytes_copied,
                 bytes_total,
                 entries_behind,
                 eta_seconds,
                 NowNs()};
  etcd_->Put(MoveProgressKey(options_.site, shard), EncodeMoveProgress(p)).IgnoreError();
}

absl::Status ShardMover::SourcePass() {
  std::shared_ptr<const Placement> p = view_->placement();
  if (p == nullptr) return absl::OkStatus();
  const std::string self = view_->self_id();
  absl::Status first_error;
  for (const ShardMove& move : p->moves().moves) {
    if (stopping()) return absl::OkStatus();
    if (move.state != ShardMoveState::kFlipped || p->members()[move.from].id != self) continue;
    absl::Status s = PublishFence(*p, move);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

absl::StatusOr<std::optional<MoveFence>> ShardMover::ReadFence(const Placement& placement,
                                                               const ShardMove& move) const {
  ASSIGN_OR_RETURN(FenceKeyRead read,
                   ReadMoveFenceKey(*etcd_, options_.site, move.shard, OfMove(placement, move)));
  if (!read.decode_error.ok()) {
    // Not ours to trust: the source writes it again.
    server::LogWarning(
        "cluster", "mover: a fence key does not decode; ignored",
        {{"shard", absl::StrCat(move.shard)}, {"error", read.decode_error.ToString()}});
  }
  return read.of_this_move;  // none: no fence yet, or an earlier move's
}

absl::Status ShardMover::PublishFence(const Placement& placement, const ShardMove& move) {
  // One read of the key: whether this move's fence is there, and the mod
  // revision the Txn below compares (the writes of the shard held at the
  // target wait for this whole function, so no second round trip).
  ASSIGN_OR_RETURN(FenceKeyRead current,
                   ReadMoveFenceKey(*etcd_, options_.site, move.shard, OfMove(placement, move)));
  if (!current.decode_error.ok()) {
    server::LogWarning(
        "cluster", "mover: a fence key does not decode; replaced",
        {{"shard", absl::StrCat(move.shard)}, {"error", current.decode_error.ToString()}});
  }
  if (current.of_this_move.has_value()) {
    if (current.of_this_move->without_source) {
      server::LogError(
          "cluster",
          "mover: the fence of a shard moved away was written without this node "
          "(cluster fence-without-source): its own entries of the shard past what "
          "the target tailed are not at the target",
          {{"shard", absl::StrCat(move.shard)}, {"to", placement.members()[move.to].id}});
    }
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(Pause(MoveStep::kPublishFence, move.shard));
  const std::string& to = placement.members()[move.to].id;
  // From here no own write of the shard is stored: the router sends them
  // to the new owner, and one that raced the placement is refused.
  ASSIGN_OR_RETURN(
      Store::ShardFence fence,
      store_->CloseShardToWrites(move.shard, placement.num_shards(),
                                 absl::StrCat("shard ", move.shard, " moved to ", to,
                                              " (placement revision ", placement.revision(), ")")));
  MoveFence value{placement.members()[move.from].id, to, move.since_unix_ns, fence.position,
                  fence.clock};
  // The key may hold an earlier move's fence of this shard (replaced), but
  // never one of this move: an admin's fence written without this source
  // (`cluster fence-without-source`) since the read is not overwritten, as
  // the target may have opened the shard with it: any write to the key
  // since the read aborts the Txn, and the next pass reads again.
  ASSIGN_OR_RETURN(EtcdTxnOutcome put,
                   etcd_->PutIfModRevision(MoveFenceKey(options_.site, move.shard),
                                           EncodeMoveFence(value), current.mod_revision));
  if (!put.committed) {
    return absl::AbortedError(
        absl::StrCat("shard ", move.shard, ": the fence key changed while publishing; read again"));
  }
  const int64_t revision = put.revision;
  server::LogInfo("cluster", "mover: fence published",
                  {{"shard", absl::StrCat(move.shard)},
                   {"to", to},
                   {"position", absl::StrCat(fence.position)},
                   {"etcd_revision", absl::StrCat(revision)}});
  absl::MutexLock l(&mu_);
  ++stats_.fences_published;
  return absl::OkStatus();
}

absl::Status ShardMover::TargetPass() {
  std::shared_ptr<const Placement> p = view_->placement();
  if (p == nullptr) return absl::OkStatus();
  const std::string self = view_->self_id();
  std::vector<ShardMove> mine;
  for (const ShardMove& move : p->moves().moves) {
    if (p->members()[move.to].id == self) mine.push_back(move);
  }
  // Moves already started first: they hold a slot, and a FLIPPED one
  // holds writes of its shard.
  std::stable_sort(mine.begin(), mine.end(), [](const ShardMove& a, const ShardMove& b) {
    return static_cast<int>(a.state) > static_cast<int>(b.state);
  });
  for (ShardMove move : mine) {
    if (stopping()) return absl::OkStatus();
    Placement current = *p;
    if (move.state == ShardMoveState::kPending) {
      RETURN_IF_ERROR(Pause(MoveStep::kStart, move.shard));
      auto start = [&] {
        return ApplyMoveStep(
            *etcd_, options_.site, move.shard, MoveGoal::kInitializing,
            [&](const Placement& c) -> absl::StatusOr<Placement> {
              // Wiped before the start, on etcd's word that the move is still
              // PENDING (only this node starts it; this node's view may lag
              // a move it already ran): a marker or data left from an earlier
              // move of the shard (an empty shard the janitor had nothing to
              // drop of) is never taken for this move's copy.
              const ShardMove* m = c.MoveOfShard(move.shard);
              if (m != nullptr && m->state == ShardMoveState::kPending &&
                  c.members()[m->to].id == self) {
                RETURN_IF_ERROR(store_->DropShard(move.shard, c.num_shards()).status());
              }
              return StartMove(c, move.shard, NowNs());
            });
      };
      // Never while the janitor drops a shard: a pass planned on an older
      // placement could be dropping this one, and would drop the copy with
      // it (ShardDropGate).
      absl::StatusOr<Placement> started = absl::UnknownError("not started");
      if (options_.drop_gate == nullptr) {
        started = start();
      } else {
        options_.drop_gate
            ->Run([&] {
              started = start();
              return absl::OkStatus();
            })
            .IgnoreError();
      }
      // No slot free yet, or the move changed meanwhile (the next
      // placement brings it): look again then.
      if (started.status().code() == absl::StatusCode::kResourceExhausted ||
          started.status().code() == absl::StatusCode::kFailedPrecondition) {
        continue;
      }
      if (!started.ok()) return started.status();
      const ShardMove* now = started->MoveOfShard(move.shard);
      if (now == nullptr || started->members()[now->to].id != self) continue;
      current = *std::move(started);
      move = *current.MoveOfShard(move.shard);
    }
    // One move a pass: the next pass starts from the placement this one
    // left (its FinishMove wakes the loop at once).
    return RunMove(current, move);
  }
  return absl::OkStatus();
}

absl::Status ShardMover::RunMove(const Placement& placement, const ShardMove& move) {
  const uint32_t shard = move.shard;
  const uint32_t num_shards = placement.num_shards();
  const PlacementMember& source = placement.members()[move.from];
  const std::string self = placement.members()[move.to].id;
  {
    absl::MutexLock l(&mu_);
    stats_.moving_shard = shard;
  }
  struct ClearMoving {
    ShardMover* m;
    ~ClearMoving() {
      absl::MutexLock l(&m->mu_);
      m->stats_.moving_shard = -1;
    }
  } clear_moving{this};
  // Registers `call` for cancellation by the stop while it lives.
  auto track = [&](grpc::ClientContext* call) {
    absl::MutexLock l(&mu_);
    if (stopping_) call->TryCancel();
    active_call_ = call;
  };
  auto untrack = [&] {
    absl::MutexLock l(&mu_);
    active_call_ = nullptr;
  };

  // Steps 2 and 3, unless a complete copy from this source is here (a
  // restart resumes its tail).
  ASSIGN_OR_RETURN(std::optional<shard_copy::MoveMarker> marker, store_->ReadMoveMarker(shard));
  const bool have_copy = marker.has_value() && marker->complete &&
                         marker->num_shards == num_shards &&
                         MemberOfCopySource(marker->source) == source.id;
  if (move.state == ShardMoveState::kFlipped && store_->ClosedShards().count(shard) == 0) {
    // Open here: the mover opened it after tailing to the source's fence
    // (then only the finish is left), unless something else did. Finish
    // only on proof: this source's copy, and the tail's cursor at the
    // fence published for this move.
    ASSIGN_OR_RETURN(std::optional<MoveFence> fence, ReadFence(placement, move));
    if (have_copy && fence.has_value() &&
        store_->AppliedSequence(MoveTailOrigin(shard, marker->source)) >= fence->position) {
      return Finish(placement, move);
    }
    // This node's view lags etcd by a watch event: a move it has just
    // finished (fence key deleted) still shows FLIPPED here for a moment.
    ASSIGN_OR_RETURN(bool current, MoveIsCurrent(placement, move));
    if (!current) return absl::OkStatus();  // the next placement shows it done
    return absl::DataLossError(
        absl::StrCat("shard ", shard,
                     " is FLIPPED to this node and open here, but this node holds no copy "
                     "from ",
                     source.id,
                     " tailed to its fence (a data dir replaced during the move?): the "
                     "move stays FLIPPED and ",
                     source.id, " keeps its data; nothing is dropped"));
  }
  if (!have_copy && move.state == ShardMoveState::kFlipped) {
    // Closed since before the flip, but the copy is gone: a new copy
    // would not bring back the peer sites' entries this node applied since
    // the flip, so the move goes back to its source (which range-syncs
    // them) and starts over.
    return RollBackFlipped(
        placement, move, move.since_unix_ns,
        absl::DataLossError(absl::StrCat("its copy from ", source.id, " is not here (move/", shard,
                                         " marker missing or incomplete)")));
  }
  if (!have_copy) {
    // Not on a stale view: once the move left the placement (e.g. `remove-node
    // --lost` gave this node the shard), what it holds of it is its data.
    ASSIGN_OR_RETURN(bool current, MoveIsCurrent(placement, move));
    if (!current) return absl::OkStatus();  // the next placement shows it
    RETURN_IF_ERROR(Pause(MoveStep::kWipeTarget, shard));
    ReportProgress(shard, self, MoveStep::kWipeTarget, 0, -1, -1);
    ASSIGN_OR_RETURN(uint64_t wiped, store_->DropShard(shard, num_shards));
    RETURN_IF_ERROR(Pause(MoveStep::kCopySealed, shard));
    ReportProgress(shard, self, MoveStep::kCopySealed, 0, -1, -1);
    std::unique_ptr<v1::Cluster::Stub> stub = v1::Cluster::NewStub(channels_->Get(source.address));
    std::unique_ptr<grpc::ClientContext> call = NewCall();
    track(call.get());
    // About once a second: the bytes so far, of the source's estimate, and
    // the time left at the copy's rate so far.
    const absl::Time copy_start = absl::Now();
    absl::Time next_copy_report = copy_start + absl::Seconds(1);
    auto report_copy = [&](uint64_t so_far, uint64_t estimated) {
      const absl::Time now = absl::Now();
      if (now < next_copy_report) return;
      next_copy_report = now + absl::Seconds(1);
      const double rate = static_cast<double>(so_far) / absl::ToDoubleSeconds(now - copy_start);
      const int64_t eta =
          estimated > so_far && rate > 0
              ? static_cast<int64_t>(static_cast<double>(estimated - so_far) / rate) + 1
              : -1;
      ReportProgress(shard, self, MoveStep::kCopySealed, static_cast<int64_t>(so_far),
                     estimated == 0 ? -1 : static_cast<int64_t>(estimated), -1, eta);
    };
    absl::StatusOr<shard_copy::MoveMarker> copied =
        PullShardCopy(stub.get(), call.get(), store_,
                      {num_shards, shard, 0, CopySourceName(source.id), report_copy});
    untrack();
    if (!copied.ok()) {
      return absl::Status(copied.status().code(),
                          absl::StrCat("copy of shard ", shard, " from ", source.id, " (",
                                       source.address, "): ", copied.status().message()));
    }
    marker = *copied;
    server::LogInfo("cluster", "mover: shard copied",
                    {{"shard", absl::StrCat(shard)},
                     {"from", source.id},
                     {"position", absl::StrCat(copied->position)},
                     {"bytes", absl::StrCat(copied->bytes)},
                     {"wiped_tags", absl::StrCat(wiped)}});
    absl::MutexLock l(&mu_);
    ++stats_.copies;
    stats_.bytes_copied += copied->bytes;
  }
  // The copy is done (or was, before a restart): what it copied is the
  // total from here on.
  ReportProgress(shard, self, MoveStep::kTailLog, static_cast<int64_t>(marker->bytes),
                 static_cast<int64_t>(marker->bytes), -1);
  const std::string origin = MoveTailOrigin(shard, marker->source);
  if (store_->AppliedSequence(origin) < marker->position) {
    // The copy holds every source entry up to P.
    RETURN_IF_ERROR(store_->AdvanceCursor(origin, marker->position));
  }

  // FLIPPED with the fence reached already (a restart after the tail got
  // there, or an operator's fence without the source, position 0): open
  // without a tail, which a source gone for good would never answer.
  if (move.state == ShardMoveState::kFlipped) {
    ASSIGN_OR_RETURN(std::optional<MoveFence> fence, ReadFence(placement, move));
    if (fence.has_value() && store_->AppliedSequence(origin) >= fence->position) {
      RETURN_IF_ERROR(Pause(MoveStep::kTailToFence, shard));
      // On etcd's word, not the view's: a move rolled back (RollBackFlipped)
      // leaves its fence key, and a view from before the roll back (the
      // placement cache at a restart) still shows it FLIPPED.
      ASSIGN_OR_RETURN(bool current, MoveIsCurrent(placement, move));
      if (!current) return absl::OkStatus();  // the next placement shows it
      return OpenAndFinish(placement, move, *fence, store_->AppliedSequence(origin),
                           /*tags_to_announce=*/std::nullopt);
    }
  }

  // Step 4: tail from P + 1.
  RETURN_IF_ERROR(Pause(MoveStep::kTailLog, shard));
  std::unique_ptr<v1::Replication::Stub> pull_stub =
      v1::Replication::NewStub(channels_->Get(source.address));
  std::unique_ptr<grpc::ClientContext> pull_call = NewCall();
  v1::PullRequest first;
  first.set_site(options_.site);
  first.set_member_id(self);
  first.set_shard_move(true);
  first.mutable_filter()->set_num_shards(num_shards);
  first.mutable_filter()->add_shards(shard);
  track(pull_call.get());
  struct Untrack {
    std::function<void()> f;
    ~Untrack() { f(); }
  } untrack_pull{untrack};
  MoveTail tail(store_, pull_stub.get(), pull_call.get(), first, origin);
  // The source trimmed its log past the cursor (its retention limits, or a
  // move ack lost) while INITIALIZING: drop the copy and its marker, so the
  // next pass copies again (the shard is not this node's yet: nothing of it
  // was written here but the copy and the tail). Once FLIPPED the move
  // cannot reach its fence: it goes back to the source (RollBackFlipped)
  // and starts over. FLIPPED is etcd's word, not `move`'s: this call may
  // have flipped the move itself (step 5), and this node's view may lag a
  // flip.
  bool flipped_here = false;
  bool announced_before_flip = false;
  int64_t flipped_since = move.since_unix_ns;
  auto on_tail_error = [&](absl::Status s) -> absl::Status {
    if (s.code() != absl::StatusCode::kDataLoss) return s;
    if (flipped_here || move.state != ShardMoveState::kInitializing) {
      return RollBackFlipped(placement, move, flipped_since, s);
    }
    absl::StatusOr<bool> current = MoveIsCurrent(placement, move);
    if (!current.ok()) {
      return absl::Status(current.status().code(),
                          absl::StrCat("shard ", shard, ": ", s.message(),
                                       "; nothing is wiped until etcd says the move is still "
                                       "INITIALIZING, and reading it failed: ",
                                       current.status().message()));
    }
    if (!*current) {
      return absl::DataLossError(absl::StrCat(
          "shard ", shard, ": ", s.message(),
          "; the move is no longer INITIALIZING in etcd (flipped, or changed): nothing is wiped, "
          "the next placement decides"));
    }
    absl::Status wiped = store_->DropShard(shard, num_shards).status();
    if (!wiped.ok()) return wiped;
    return absl::DataLossError(
        absl::StrCat("shard ", shard, ": ", s.message(), "; the copy is made again"));
  };
  absl::Time next_report = absl::InfinitePast(), last_report = absl::Now();
  uint64_t applied_at_last_report = store_->AppliedSequence(origin);
  auto report_tail = [&](MoveStep step, const MoveTail::Progress& p) {
    const absl::Time now = absl::Now();
    if (now < next_report) return;
    next_report = now + absl::Seconds(1);
    const int64_t behind = p.head > p.applied ? static_cast<int64_t>(p.head - p.applied) : 0;
    // The rate since the last report; unknown while the tail stands still.
    const double rate = static_cast<double>(p.applied - applied_at_last_report) /
                        std::max(absl::ToDoubleSeconds(now - last_report), 1e-3);
    const int64_t eta = behind == 0 ? 0 : rate > 0 ? static_cast<int64_t>(behind / rate) + 1 : -1;
    applied_at_last_report = p.applied;
    last_report = now;
    // The copy is done: what it copied is the total.
    ReportProgress(shard, self, step, static_cast<int64_t>(marker->bytes),
                   static_cast<int64_t>(marker->bytes), behind, eta);
  };
  auto note_tailed = [&](uint64_t before) {
    absl::MutexLock l(&mu_);
    stats_.entries_tailed += tail.progress().entries_applied - before;
  };
  if (move.state == ShardMoveState::kInitializing) {
    const uint64_t before = tail.progress().entries_applied;
    if (absl::Status s = tail.RunUntil([&](const MoveTail::Progress& p) {
          report_tail(MoveStep::kTailLog, p);
          return p.caught_up || p.head <= p.applied + options_.caught_up_entries || stopping();
        });
        !s.ok()) {
      return on_tail_error(s);
    }
    note_tailed(before);
    if (stopping()) return absl::CancelledError("the node is stopping");
    // Step 5: no own write of the shard here before the fence (durable, so
    // a restart between here and the open keeps refusing), then the flip.
    RETURN_IF_ERROR(Pause(MoveStep::kFlip, shard));
    // The definitions of the shard's tags, to this node's own log, while
    // writes of the shard still flow (the source owns it): the open then
    // announces only what the tail to the fence brings (OpenAndFinish).
    ASSIGN_OR_RETURN(uint64_t announced, store_->AnnounceShardTags(shard, num_shards));
    tail.TakeTagsDefined();  // all in the catalog the announce read
    announced_before_flip = true;
    server::LogInfo("cluster", "mover: shard's tags announced",
                    {{"shard", absl::StrCat(shard)}, {"tags", absl::StrCat(announced)}});
    RETURN_IF_ERROR(
        store_
            ->CloseShardToWrites(shard, num_shards,
                                 absl::StrCat("shard ", shard, " is being handed over from ",
                                              source.id, " to ", self),
                                 Store::ClosedWrites::kHold)
            .status());
    ASSIGN_OR_RETURN(Placement flipped, ApplyMoveStep(*etcd_, options_.site, shard,
                                                      MoveGoal::kFlipped, [&](const Placement& c) {
                                                        return FlipMove(c, shard, NowNs());
                                                      }));
    const ShardMove* now = flipped.MoveOfShard(shard);
    if (now == nullptr || now->state != ShardMoveState::kFlipped) {
      return absl::AbortedError(absl::StrCat("shard ", shard, ": the flip left no FLIPPED move"));
    }
    flipped_since = now->since_unix_ns;
    flipped_here = true;
    server::LogInfo("cluster", "mover: shard flipped",
                    {{"shard", absl::StrCat(shard)},
                     {"from", source.id},
                     {"placement_revision", absl::StrCat(flipped.revision())}});
  }

  // Step 6: the source's fence, then the tail to it, then writes with the
  // clock past the source's.
  RETURN_IF_ERROR(Pause(MoveStep::kTailToFence, shard));
  ShardMove flipped_move = move;
  flipped_move.state = ShardMoveState::kFlipped;
  flipped_move.since_unix_ns = flipped_since;
  ASSIGN_OR_RETURN(const MoveFence fence, AwaitFence(placement, flipped_move));
  const uint64_t before = tail.progress().entries_applied;
  if (tail.progress().applied < fence.position) {
    absl::Status tailed = tail.RunUntil([&](const MoveTail::Progress& p) {
      report_tail(MoveStep::kTailToFence, p);
      return p.applied >= fence.position || stopping();
    });
    if (!tailed.ok()) return on_tail_error(tailed);
  }
  note_tailed(before);
  if (stopping()) return absl::CancelledError("the node is stopping");
  if (!flipped_here) {
    // As above: a FLIPPED view may predate a roll back of this move. (A
    // move this pass flipped is current: only its target rolls it back.)
    ASSIGN_OR_RETURN(bool current, MoveIsCurrent(placement, flipped_move));
    if (!current) return absl::OkStatus();
  }
  std::optional<std::vector<TagId>> tags_to_announce;
  if (announced_before_flip) tags_to_announce = tail.TakeTagsDefined();
  return OpenAndFinish(placement, move, fence, tail.progress().applied, tags_to_announce);
}

absl::StatusOr<MoveFence> ShardMover::AwaitFence(const Placement& placement,
                                                 const ShardMove& move) {
  // The shard's writes wait until the fence is here, so etcd is read every
  // ms at first. Not at the tail's answers: the source writes its barrier
  // entry before the fence key, so the answer carrying it comes first and
  // the next one only after the tail's idle heartbeat (20 ms).
  // Then every 20 ms: a source that is down publishes nothing until it is
  // back (or an admin writes the fence without it), as long as that takes.
  constexpr absl::Duration kFastPolls = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  while (true) {
    ASSIGN_OR_RETURN(std::optional<MoveFence> fence, ReadFence(placement, move));
    if (fence.has_value()) return *std::move(fence);
    const absl::Duration waited = absl::Now() - start;
    absl::MutexLock l(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), waited < kFastPolls
                                                              ? absl::Milliseconds(1)
                                                              : absl::Milliseconds(20))) {
      return absl::CancelledError("the node is stopping");
    }
  }
}

absl::Status ShardMover::RollBackFlipped(const Placement& placement, const ShardMove& move,
                                         int64_t flipped_since, const absl::Status& why) {
  const uint32_t shard = move.shard;
  const std::string& source = placement.members()[move.from].id;
  const std::string& self = placement.members()[move.to].id;
  auto not_rolled_back = [&](const std::string& because) {
    return absl::DataLossError(
        absl::StrCat("shard ", shard, " (FLIPPED to this node): ", why.message(),
                     "; the move is not rolled back: ", because, "; this node keeps its copy, ",
                     source, " keeps its data"));
  };
  // Closed here from the flip step until the open: while it is, no own
  // write of the shard was stored here, so the source holds every one.
  if (store_->ClosedShards().count(shard) == 0) {
    return not_rolled_back("the shard is open here (it may hold writes of its own)");
  }
  // The writes held for the open are refused now: the shard goes back.
  RETURN_IF_ERROR(store_
                      ->CloseShardToWrites(shard, placement.num_shards(),
                                           absl::StrCat("shard ", shard, " goes back to ", source,
                                                        " (its move to ", self, " rolls back)"))
                      .status());
  bool rolled_here = false;
  absl::StatusOr<Placement> rolled = ApplyMoveStep(
      *etcd_, options_.site, shard, MoveGoal::kRolledBack,
      [&](const Placement& c) -> absl::StatusOr<Placement> {
        const ShardMove* m = c.MoveOfShard(shard);
        if (m == nullptr || c.members()[m->from].id != source || c.members()[m->to].id != self) {
          return absl::FailedPreconditionError(
              absl::StrCat("the move of shard ", shard, " from ", source, " to ", self,
                           " is not in the placement at revision ", c.revision()));
        }
        absl::StatusOr<Placement> next = RollBackFlippedMove(c, shard, flipped_since, NowNs());
        rolled_here = next.ok();
        return next;
      });
  if (!rolled.ok()) return not_rolled_back(rolled.status().ToString());
  const ShardMove* now = rolled->MoveOfShard(shard);
  if (now == nullptr || now->state != ShardMoveState::kPending ||
      rolled->members()[now->from].id != source || rolled->members()[now->to].id != self) {
    return not_rolled_back(absl::StrCat("the move changed in etcd meanwhile (revision ",
                                        rolled->revision(), "); the next placement decides"));
  }
  if (rolled_here) {
    server::LogError("cluster",
                     "mover: a FLIPPED move could not reach its source's fence; rolled back: the "
                     "source owns the shard again and the move starts over",
                     {{"shard", absl::StrCat(shard)},
                      {"from", source},
                      {"error", std::string(why.message())},
                      {"placement_revision", absl::StrCat(rolled->revision())}});
    absl::MutexLock l(&mu_);
    ++stats_.moves_rolled_back;
  }
  return absl::AbortedError(absl::StrCat(
      "shard ", shard, ": ", why.message(), "; the move was rolled back (placement revision ",
      rolled->revision(), "): ", source, " owns the shard again and the move starts over"));
}

absl::Status ShardMover::OpenAndFinish(const Placement& placement, const ShardMove& move,
                                       const MoveFence& fence, uint64_t tailed_to,
                                       const std::optional<std::vector<TagId>>& tags_to_announce) {
  if (fence.without_source) {
    // Loud: what the source stored after `tailed_to` is not here (a peer
    // site that pulled it brings it back by range sync).
    server::LogWarning("cluster",
                       "mover: opening a shard with a fence written without its source "
                       "(cluster fence-without-source): the source's later entries are lost here",
                       {{"shard", absl::StrCat(move.shard)},
                        {"source", placement.members()[move.from].id},
                        {"tailed_to", absl::StrCat(tailed_to)}});
  }
  // Before the open, so that this node's own log holds the definitions of
  // the tags it got by copy or tail ahead of any sample of them it stores:
  // a peer site pulling this log before the source's would skip those
  // samples. Most were announced before the flip (outside the handover).
  ASSIGN_OR_RETURN(uint64_t announced,
                   tags_to_announce.has_value()
                       ? store_->AnnounceTags(*tags_to_announce)
                       : store_->AnnounceShardTags(move.shard, placement.num_shards()));
  RETURN_IF_ERROR(store_->OpenShardToWrites(move.shard, fence.clock));
  server::LogInfo(
      "cluster", "mover: shard opened",
      {{"shard", absl::StrCat(move.shard)}, {"tags_announced", absl::StrCat(announced)}});
  return Finish(placement, move);
}

absl::StatusOr<bool> ShardMover::MoveIsCurrent(const Placement& placement,
                                               const ShardMove& move) const {
  ASSIGN_OR_RETURN(EtcdRange r, etcd_->Get(PlacementKey(options_.site)));
  if (r.kvs.empty()) return false;
  ASSIGN_OR_RETURN(Placement current, Placement::Decode(r.kvs[0].value, r.kvs[0].mod_revision));
  const ShardMove* now = current.MoveOfShard(move.shard);
  return now != nullptr && now->state == move.state && now->since_unix_ns == move.since_unix_ns &&
         current.members()[now->from].id == placement.members()[move.from].id &&
         current.members()[now->to].id == placement.members()[move.to].id;
}

absl::Status ShardMover::Finish(const Placement& placement, const ShardMove& move) {
  const uint32_t shard = move.shard;
  const std::string& source_id = placement.members()[move.from].id;
  // Step 7: the move leaves the placement; the source's janitor drops it.
  RETURN_IF_ERROR(Pause(MoveStep::kDropSource, shard));
  ASSIGN_OR_RETURN(Placement done,
                   ApplyMoveStep(*etcd_, options_.site, shard, MoveGoal::kDone,
                                 [&](const Placement& c) { return FinishMove(c, shard); }));
  // Stale ones would be ignored (another move's since-time or target).
  etcd_->Delete(MoveFenceKey(options_.site, shard)).IgnoreError();
  etcd_->Delete(MoveProgressKey(options_.site, shard)).IgnoreError();
  server::LogInfo("cluster", "mover: move finished",
                  {{"shard", absl::StrCat(shard)},
                   {"from", source_id},
                   {"placement_revision", absl::StrCat(done.revision())}});
  absl::MutexLock l(&mu_);
  ++stats_.moves_finished;
  return absl::OkStatus();
}

}  // namespace historian::cluster
