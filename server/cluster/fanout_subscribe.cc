#include "server/cluster/fanout_subscribe.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/alarm.h"
#include "grpcpp/support/client_callback.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/fanout_part.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/query_fanout.h"
#include "server/cluster/subscribe_heartbeat.h"
#include "server/cluster/subscribe_token.h"
#include "server/limits.h"
#include "server/rpc_env.h"
#include "server/status_util.h"
#include "server/subscriptions/byte_stream.h"
#include "server/subscriptions/resume_token.h"
#include "server/subscriptions/subscription_hub.h"

namespace historian::cluster {
namespace {

constexpr char kMethod[] = "Query.Subscribe";
// About this much per response to the caller (the owners send about 1 MiB
// each; a client's default receive limit is 4 MiB).
constexpr size_t kResponseBytes = 1 << 20;
// Owners' responses held for a slow caller before their streams are no
// longer read: gRPC flow control then holds the owners' writes, and each
// owner's buffer overflows into `lagged` as on a single node.
constexpr size_t kPendingBytes = 4 << 20;

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

// When `member_token` (a member's own resume token) was made; `fallback`
// when it does not decode.
int64_t MemberTokenTime(const std::string& member_token, int64_t fallback) {
  absl::StatusOr<server::ResumeToken> t = server::DecodeResumeToken(member_token);
  return t.ok() ? std::min(t->issued_ns, fallback) : fallback;
}

// Empty when every shard of `covered` (nullopt: all) has the same owner in
// both placements; otherwise what moved, for an error message.
std::string CoveredOwnersChanged(const Placement& before, const Placement& after,
                                 const std::optional<std::vector<uint32_t>>& covered) {
  if (before.num_shards() != after.num_shards()) {
    return absl::StrCat("the shard count went from ", before.num_shards(), " to ",
                        after.num_shards());
  }
  std::vector<std::string> moves;
  size_t count = 0;
  auto check = [&](uint32_t shard) {
    const std::string& from = before.OwnerOfShard(shard).id;
    const std::string& to = after.OwnerOfShard(shard).id;
    if (from == to) return;
    if (++count <= 5) {
      moves.push_back(absl::StrCat("shard ", shard, " from member ", from, " to ", to));
    }
  };
  if (covered.has_value()) {
    for (uint32_t shard : *covered) check(shard);
  } else {
    for (uint32_t shard = 0; shard < before.num_shards(); ++shard) check(shard);
  }
  if (count == 0) return "";
  if (count > moves.size()) moves.push_back(absl::StrCat("... (", count, " shards)"));
  return absl::StrJoin(moves, ", ");
}

std::chrono::system_clock::time_point AlarmTime(absl::Duration from_now) {
  return std::chrono::system_clock::now() +
         std::chrono::nanoseconds(absl::ToInt64Nanoseconds(from_now));
}

// Whether the owner of `part` said in its initial metadata that it sends
// heartbeats (read once its first response came).
bool SendsHeartbeats(const grpc::ClientContext& part) {
  return part.GetServerInitialMetadata().count(kSubscribeHeartbeatsSentMetadataKey) > 0;
}

// Adds `in` (an owner's) to `out`'s lagged: the union of the ranges, the
// reasons joined when they differ.
void MergeLagged(const v1::Lagged& in, v1::SubscribeResponse* out) {
  if (!out->has_lagged()) {
    *out->mutable_lagged() = in;
    return;
  }
  v1::Lagged* l = out->mutable_lagged();
  l->set_start_ns(std::min(l->start_ns(), in.start_ns()));
  l->set_end_ns(std::max(l->end_ns(), in.end_ns()));
  if (l->reason().find(in.reason()) == std::string::npos) {
    l->set_reason(absl::StrCat(l->reason(), "; ", in.reason()));
  }
}

class FanoutSubscribe;

// One owner's forwarded stream (fanout_part.h).
using PartStream =
    FanoutPart<v1::Query::Stub, v1::SubscribeRequest, v1::SubscribeResponse, FanoutSubscribe>;
using Next = PartNext;

class FanoutSubscribe final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  FanoutSubscribe(const server::ServiceEnv& env, grpc::CallbackServerContext* context,
                  std::shared_ptr<const Placement> placement,
                  std::optional<std::vector<uint32_t>> covered, std::vector<OwnerPart> parts,
                  absl::Time start)
      : env_(env),
        context_(context),
        placement_(std::move(placement)),
        covered_(std::move(covered)),
        parts_(std::move(parts)),
        start_(start),
        steady_start_(std::chrono::steady_clock::now()),
        forward_timeout_(env.member_channels->forward_timeout()) {}

  // Opens every owner's stream. `token`: the caller's (members' positions);
  // with `has_token`, parts whose member it does not name (a single node's
  // token names none) start from now, after a `lagged` from its time, and
  // members whose covered shards changed since their position was taken
  // get a `lagged` from that position's time (what their old shards'
  // owners stored since is not sent). Ends the stream (ABORTED) once the
  // owner of a covered shard changes.
  void Begin(const v1::SubscribeRequest& request, const ClusterResumeToken& token, bool has_token)
      ABSL_LOCKS_EXCLUDED(mu_);

  // From PartStream.
  Next TakeResponse(size_t part, v1::SubscribeResponse* msg) ABSL_LOCKS_EXCLUDED(mu_);
  void PartEnded(size_t part, const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone() override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The silence alarm (`fired`: its deadline passed, not cancelled), first
  // at --cluster_forward_timeout after the start, then every half of it
  // while a part is watched. A part silent for that long ends the stream
  // UNAVAILABLE naming it: one without a first response (it holds the
  // caller's first response forever), or one whose owner sends heartbeats
  // and sent nothing, not even one (cluster/subscribe_heartbeat.h). A hung
  // owner's process may be stopped, or its threads wedged, with its
  // connections still open. Parts paused by this node are not counted.
  void OnSilenceCheck(bool fired) ABSL_LOCKS_EXCLUDED(mu_);
  // A new silence alarm to set (the one before may still be in its own
  // callback: a grpc::Alarm is not set again from there).
  grpc::Alarm* NextSilenceAlarmLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether gRPC, every part and the alarm are done with this: the holder
  // whose release makes it true (in the same hold of mu_) deletes it.
  bool AllDoneLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes what is pending when no write is in flight and every part
  // answered its first response; resumes paused parts once below the bound.
  void Pump() ABSL_LOCKS_EXCLUDED(mu_);
  // Finishes now, or after the write in flight; the parts are cancelled.
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The placement listener: ends the stream (ABORTED) when `after` gives a
  // covered shard another owner than placement_ does, or follows a re-read
  // (not `contiguous`). Runs under the view's change lock: only marks the
  // end and cancels the parts; FinishDueLocked finishes.
  void OnPlacement(const std::shared_ptr<const Placement>& after, bool contiguous)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Calls Finish when an end is due (finishing_) and not called yet, no
  // write is in flight and gRPC is not done; true when it did.
  bool FinishDueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The token of the caller's stream after what was sent.
  std::string TokenLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels every part; paused ones are made to stop reading.
  void CancelParts() ABSL_LOCKS_EXCLUDED(mu_);

  const server::ServiceEnv env_;
  grpc::CallbackServerContext* const context_;
  // The placement the parts were chosen by, and the shards the
  // subscription covers (nullopt: every shard, a glob).
  const std::shared_ptr<const Placement> placement_;
  const std::optional<std::vector<uint32_t>> covered_;
  const std::vector<OwnerPart> parts_;
  const absl::Time start_;
  // When the fan-out began, on the clock the first-response deadline is
  // kept on (a wall clock stepped does not move it).
  const std::chrono::steady_clock::time_point steady_start_;
  // --cluster_forward_timeout (kept: a last alarm may run after the node's
  // channels are gone).
  const absl::Duration forward_timeout_;
  // Per member of a part, which covered shards it owns in placement_
  // (OwnedShardsDigest); made by Begin before any part starts.
  std::map<std::string, uint64_t> owned_digests_;
  uint64_t listener_ = 0;  // the placement listener's id; set by Begin
  // ClusterResumeToken::placement_since_ns of the tokens this stream
  // gives; set by Begin.
  int64_t placement_since_ns_ = 0;
  // Made by Begin before any part starts; constant after.
  std::vector<std::unique_ptr<PartStream>> streams_;

  absl::Mutex mu_;
  struct Pending {
    size_t part;
    size_t bytes;
    v1::SubscribeResponse response;
  };
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<bool> got_first_ ABSL_GUARDED_BY(mu_);
  size_t first_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<bool> paused_ ABSL_GUARDED_BY(mu_);
  // Per part: whether its owner sends heartbeats, and when this node last
  // read from it (or resumed reading it).
  std::vector<bool> heartbeats_ ABSL_GUARDED_BY(mu_);
  // (A steady clock: a step of the wall clock is no silence.)
  std::vector<std::chrono::steady_clock::time_point> last_heard_ ABSL_GUARDED_BY(mu_);
  // The silence alarm set last (Begin, when there are parts; cancelled when
  // gRPC is done with the stream, its callback then runs with false) and
  // the one before it.
  std::unique_ptr<grpc::Alarm> silence_alarm_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Alarm> spent_alarm_ ABSL_GUARDED_BY(mu_);
  // Per member, the token of its last response whose batches were sent
  // (or the caller's token's, before any).
  std::map<std::string, std::string> sent_tokens_ ABSL_GUARDED_BY(mu_);
  std::optional<v1::Lagged> lagged_ ABSL_GUARDED_BY(mu_);  // to send first
  bool first_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;  // Finish called or due
  bool finished_ ABSL_GUARDED_BY(mu_) = false;   // Finish called
  // Deleted by whichever comes last: gRPC done with the stream
  // (server_done_), the last part's OnDone (parts_done_) or the alarm's
  // callback (alarm_done_; true when no alarm was set).
  bool server_done_ ABSL_GUARDED_BY(mu_) = false;
  size_t parts_done_ ABSL_GUARDED_BY(mu_) = 0;
  bool alarm_done_ ABSL_GUARDED_BY(mu_) = true;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer out_ ABSL_GUARDED_BY(mu_);
};

void FanoutSubscribe::Begin(const v1::SubscribeRequest& request, const ClusterResumeToken& token,
                            bool has_token) {
  for (const OwnerPart& part : parts_) {
    owned_digests_[part.member.id] = OwnedShardsDigest(*placement_, part.member.id, covered_);
  }
  // The token's placement is this one: digests compare. Another revision:
  // the placements between the two are not known here (a shard may have
  // moved away and back, its samples stored meanwhile by a member whose
  // part no longer asks for it), so every member counts as moved.
  const bool same_placement =
      token.owners_known && token.placement_revision == placement_->revision();
  const int64_t installed = env_.cluster->InstalledAtNs(placement_);
  if (same_placement && token.placement_since_ns > 0) {
    placement_since_ns_ =
        installed > 0 ? std::min(installed, token.placement_since_ns) : token.placement_since_ns;
  } else {
    placement_since_ns_ = installed;
  }
  // Where a `lagged` starts when a member is missing or moved: no later
  // than any time the token's data could have become incomplete
  // (docs/cluster.md, "Subscribe": the earliest of the token's time, its
  // members' positions and when its placement revision was installed).
  int64_t earliest = token.issued_ns;
  if (token.placement_since_ns > 0) earliest = std::min(earliest, token.placement_since_ns);
  std::vector<std::string> missing, moved;
  for (const auto& [id, member] : token.members) {
    earliest = std::min(earliest, MemberTokenTime(member.token, token.issued_ns));
    // A member whose covered shards differ from when its position was
    // taken: the shards it lost were stored by it after that position and
    // its part no longer asks for them (the shards it gained come exactly:
    // their samples are in its log after the position).
    if (same_placement && member.owned_digest == OwnedShardsDigest(*placement_, id, covered_)) {
      continue;
    }
    moved.push_back(id);
  }
  {
    absl::MutexLock l(&mu_);
    got_first_.assign(parts_.size(), false);
    paused_.assign(parts_.size(), false);
    heartbeats_.assign(parts_.size(), false);
    last_heard_.assign(parts_.size(), std::chrono::steady_clock::time_point::min());
    for (size_t i = 0; i < parts_.size(); ++i) {
      const OwnerPart& part = parts_[i];
      auto stream = std::make_unique<PartStream>(this, i);
      stream->request.set_columns(request.columns());
      stream->request.set_glob(request.glob());
      SelectTags(request.tags(), part, stream->request.mutable_tags());
      auto it = token.members.find(part.member.id);
      if (it != token.members.end()) {
        stream->request.set_resume_token(it->second.token);
        sent_tokens_[part.member.id] = it->second.token;
      } else if (has_token) {
        missing.push_back(part.member.id);
      }
      stream->stub = v1::Query::NewStub(env_.member_channels->Get(part.member.address));
      MemberChannels::PrepareForwardedCall(*context_, &stream->context);
      // The owner refuses the part unless it owns what placement_ says
      // (server/subscriptions/subscribe_reactor.cc).
      stream->context.AddMetadata(
          kOwnedShardsMetadataKey,
          OwnedShardsValue(placement_->revision(),
                           OwnedShardsDigest(*placement_, part.member.id, std::nullopt)));
      stream->context.AddMetadata(
          kSubscribeHeartbeatMetadataKey,
          SubscribeHeartbeatValue(SubscribeHeartbeatInterval(forward_timeout_)));
      streams_.push_back(std::move(stream));
    }
    std::vector<std::string> reasons;
    int64_t since = INT64_MAX;
    if (!missing.empty()) {
      // Those members' streams start from now: what they applied since the
      // token's data could have become incomplete is named, never skipped
      // silently.
      since = earliest;
      reasons.push_back(absl::StrCat("resume token without a position for member ",
                                     absl::StrJoin(missing, ", "),
                                     " (a single node's token, or the placement changed)"));
    }
    if (!moved.empty()) {
      since = std::min(since, earliest);
      reasons.push_back(absl::StrCat(
          token.owners_known
              ? absl::StrCat("the placement changed since the resume token (revision ",
                             token.placement_revision, " -> ", placement_->revision(),
                             same_placement
                                 ? "): shards of this subscription moved to or from member "
                                 : "; the placements between are not known here): shards "
                                   "may have moved to or from member ")
              : "the resume token predates owner tracking (version 2): owners of member ",
          absl::StrJoin(moved, ", "),
          "; what their previous owners stored since is not sent: re-read this range"));
    }
    if (!reasons.empty()) {
      v1::Lagged lagged;
      lagged.set_start_ns(since);
      lagged.set_end_ns(NowNs());
      lagged.set_reason(absl::StrJoin(reasons, "; "));
      lagged_ = std::move(lagged);
    }
  }
  // From here on a change of a covered shard's owner ends the stream; one
  // that came between choosing the parts and now ends it at once.
  listener_ = env_.cluster->AddPlacementListener(
      [this](const std::shared_ptr<const Placement>&, const std::shared_ptr<const Placement>& after,
             bool contiguous) { OnPlacement(after, contiguous); });
  OnPlacement(env_.cluster->placement(), /*contiguous=*/true);
  if (!streams_.empty()) {
    absl::MutexLock l(&mu_);
    alarm_done_ = false;
    NextSilenceAlarmLocked()->Set(AlarmTime(forward_timeout_),
                                  [this](bool fired) { OnSilenceCheck(fired); });
  }
  for (auto& s : streams_) s->Begin();
  Pump();  // (no parts: the first response at once)
}

grpc::Alarm* FanoutSubscribe::NextSilenceAlarmLocked() {
  spent_alarm_ = std::move(silence_alarm_);
  silence_alarm_ = std::make_unique<grpc::Alarm>();
  return silence_alarm_.get();
}

void FanoutSubscribe::OnSilenceCheck(bool fired) {
  const absl::Duration timeout = forward_timeout_;
  bool cancel = false;
  bool set_again = false;
  {
    absl::MutexLock l(&mu_);
    if (fired && !finishing_) {
      const auto steady_now = std::chrono::steady_clock::now();
      const std::string limit =
          absl::StrCat(absl::FormatDuration(timeout), " (--cluster_forward_timeout)");
      const absl::Status no_first =
          absl::UnavailableError(absl::StrCat("its stream gave no first response within ", limit,
                                              ": the member is hung or overloaded"));
      const absl::Status quiet =
          absl::UnavailableError(absl::StrCat("its stream sent nothing, not even a heartbeat, for ",
                                              limit, ": the member is hung or overloaded"));
      std::vector<OwnerPart> silent;
      std::vector<const absl::Status*> why;
      bool watched = false;
      for (size_t i = 0; i < parts_.size(); ++i) {
        const absl::Status* reason = nullptr;
        if (!got_first_[i]) {
          watched = true;
          if (steady_now - steady_start_ >= absl::ToChronoNanoseconds(timeout)) {
            reason = &no_first;
          }
        } else if (heartbeats_[i]) {
          watched = true;
          if (!paused_[i] && steady_now - last_heard_[i] >= absl::ToChronoNanoseconds(timeout)) {
            reason = &quiet;
          }
        }
        if (reason == nullptr) continue;
        silent.push_back(parts_[i]);
        silent.back().self = false;  // this node's own part is a stream too: name it
        why.push_back(reason);
      }
      if (!silent.empty()) {
        std::vector<PartOutcome> outcomes;
        for (size_t i = 0; i < silent.size(); ++i) outcomes.push_back({&silent[i], *why[i]});
        const absl::Status combined =
            CombineOutcomes(kMethod, outcomes, env_.cluster->alive_members());
        FinishLocked(server::ToGrpcStatus(absl::UnavailableError(
            absl::StrCat(combined.message(), "; subscribe again with the last resume_token"))));
        cancel = true;
      } else if (watched) {
        // Under mu_ (its deadline is ahead: Set never runs the callback
        // inline), so OnDone's Cancel always finds it set.
        NextSilenceAlarmLocked()->Set(AlarmTime(timeout / 2),
                                      [this](bool fired) { OnSilenceCheck(fired); });
        set_again = true;
      }
    }
  }
  if (cancel) CancelParts();
  if (set_again) return;  // alarm_done_ stays false: the next check deletes this if last
  bool last = false;
  {
    absl::MutexLock l(&mu_);
    alarm_done_ = true;
    last = AllDoneLocked();
  }
  // Nothing of this is touched after the flag went up (but by the last).
  if (last) delete this;
}

bool FanoutSubscribe::AllDoneLocked() const {
  return server_done_ && parts_done_ == parts_.size() && alarm_done_;
}

void FanoutSubscribe::OnPlacement(const std::shared_ptr<const Placement>& after, bool contiguous) {
  if (after == nullptr || after == placement_ || streams_.empty()) return;
  // A re-read of the placement may have skipped revisions: an owner may
  // have moved away and back, so the parts' owners are not known to be
  // the covered shards' owners throughout.
  const std::string changed =
      contiguous ? CoveredOwnersChanged(*placement_, *after, covered_)
                 : "the placement was read again after its watch ended (the revisions between "
                   "are not known)";
  if (changed.empty()) return;
  {
    absl::MutexLock l(&mu_);
    if (finishing_) return;
    // Finish is not called here (this runs under the view's change lock,
    // and a finished stream's OnDone removes its listener under it): the
    // parts are cancelled, and whichever of PartEnded and OnWriteDone comes
    // next finishes the stream with this status (FinishDueLocked).
    finishing_ = true;
    final_status_ = grpc::Status(
        grpc::StatusCode::ABORTED,
        absl::StrCat(kMethod, ": the placement changed (revision ", placement_->revision(), " -> ",
                     after->revision(), "): ", changed,
                     "; subscribe again with the last resume_token (the new owners continue "
                     "from it; what cannot be sent is named as lagged)"));
  }
  // Non-blocking: the parts' reactions run later on gRPC's threads.
  for (auto& stream : streams_) stream->context.TryCancel();
}

std::string FanoutSubscribe::TokenLocked() const {
  ClusterResumeToken token;
  for (const auto& [id, member_token] : sent_tokens_) {
    auto d = owned_digests_.find(id);
    token.members[id] = {member_token, d != owned_digests_.end() ? d->second : 0};
  }
  token.issued_ns = NowNs();
  token.placement_revision = placement_->revision();
  token.placement_since_ns = placement_since_ns_;
  return EncodeClusterResumeToken(token);
}

Next FanoutSubscribe::TakeResponse(size_t part, v1::SubscribeResponse* msg) {
  Next next = Next::kRead;
  {
    absl::MutexLock l(&mu_);
    if (finishing_) return Next::kStop;
    last_heard_[part] = std::chrono::steady_clock::now();
    const std::string& member = parts_[part].member.id;
    const bool first = !got_first_[part];
    if (!first && msg->heartbeat()) {
      msg->Clear();  // the owner is alive; nothing to relay
      return Next::kRead;
    }
    if (first) {
      got_first_[part] = true;
      ++first_count_;
      heartbeats_[part] = SendsHeartbeats(streams_[part]->context);
    }
    if (first && !sent_tokens_.count(member) && msg->batches_size() == 0 && !msg->has_lagged()) {
      // A fresh part's starting point: nothing before it to send.
      sent_tokens_[member] = msg->resume_token();
    } else {
      Pending p{part, msg->ByteSizeLong(), v1::SubscribeResponse()};
      p.response.Swap(msg);
      pending_bytes_ += p.bytes;
      pending_.push_back(std::move(p));
      if (pending_bytes_ >= kPendingBytes) {
        paused_[part] = true;
        next = Next::kPause;
      }
    }
    msg->Clear();
  }
  Pump();
  return next;
}

void FanoutSubscribe::Pump() {
  grpc::ByteBuffer* to_write = nullptr;
  std::vector<PartStream*> resume;
  {
    absl::MutexLock l(&mu_);
    if (finishing_ || writing_ || first_count_ < parts_.size()) return;
    if (first_sent_ && pending_.empty() && !lagged_) return;
    v1::SubscribeResponse out;
    if (lagged_) {
      *out.mutable_lagged() = *lagged_;
      lagged_.reset();
    }
    size_t bytes = 0;
    while (!pending_.empty()) {
      Pending& p = pending_.front();
      if (bytes > 0 && bytes + p.bytes > kResponseBytes) break;
      bytes += p.bytes;
      pending_bytes_ -= p.bytes;
      if (p.response.has_lagged()) MergeLagged(p.response.lagged(), &out);
      for (v1::SubscribedSamples& b : *p.response.mutable_batches()) out.add_batches()->Swap(&b);
      sent_tokens_[parts_[p.part].member.id] = p.response.resume_token();
      pending_.pop_front();
    }
    out.set_resume_token(TokenLocked());
    first_sent_ = true;
    writing_ = true;
    out_ = server::ToByteBuffer(out.SerializeAsString());
    to_write = &out_;
    if (pending_bytes_ < kPendingBytes) {
      for (size_t i = 0; i < paused_.size(); ++i) {
        if (!paused_[i]) continue;
        paused_[i] = false;
        last_heard_[i] = std::chrono::steady_clock::now();  // its silence while paused was ours
        resume.push_back(streams_[i].get());
      }
    }
  }
  StartWrite(to_write);
  for (PartStream* s : resume) s->ReadNext();
}

void FanoutSubscribe::PartEnded(size_t part, const grpc::Status& status) {
  bool cancel = false;
  {
    absl::MutexLock l(&mu_);
    if (!finishing_) {
      absl::Status s = server::FromGrpcStatus(status);
      // An owner never ends a subscription by itself: an end without an
      // error of the caller's is the owner lost.
      if (s.ok() || absl::IsCancelled(s)) {
        s = absl::UnavailableError(absl::StrCat("its stream ended: ", s.ToString()));
      }
      OwnerPart named = parts_[part];
      named.self = false;  // this node's own part is a stream too: name it
      const std::vector<PartOutcome> outcomes = {{&named, s}};
      absl::Status combined = CombineOutcomes(kMethod, outcomes, env_.cluster->alive_members());
      if (absl::IsUnavailable(combined)) {
        combined = absl::UnavailableError(
            absl::StrCat(combined.message(), "; subscribe again with the last resume_token"));
      }
      FinishLocked(server::ToGrpcStatus(combined));
      cancel = true;
    } else if (FinishDueLocked()) {
      cancel = true;  // the placement listener's end: paused parts stop too
    }
  }
  if (cancel) CancelParts();
  bool last = false;
  {
    absl::MutexLock l(&mu_);
    ++parts_done_;
    last = AllDoneLocked();
  }
  // Nothing of this is touched after the count went up (but by the last).
  if (last) delete this;
}

void FanoutSubscribe::FinishLocked(const grpc::Status& status) {
  if (finishing_) return;
  finishing_ = true;
  final_status_ = status;
  if (!writing_) {
    finished_ = true;
    Finish(status);
  }
}

bool FanoutSubscribe::FinishDueLocked() {
  if (!finishing_ || finished_ || writing_ || server_done_) return false;
  finished_ = true;
  Finish(final_status_);
  return true;
}

void FanoutSubscribe::CancelParts() {
  std::vector<PartStream*> paused;
  {
    absl::MutexLock l(&mu_);
    for (size_t i = 0; i < paused_.size(); ++i) {
      if (paused_[i]) paused.push_back(streams_[i].get());
      paused_[i] = false;
    }
  }
  for (auto& s : streams_) s->context.TryCancel();
  // A paused part has no read in flight: this one ends it (TakeResponse
  // answers kStop from now on).
  for (PartStream* s : paused) s->ReadNext();
}

void FanoutSubscribe::OnWriteDone(bool ok) {
  bool cancel = false;
  {
    absl::MutexLock l(&mu_);
    writing_ = false;
    if (!ok && !finishing_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "Query.Subscribe: stream closed"));
      cancel = true;
    } else if (FinishDueLocked()) {
      cancel = true;  // paused parts stop too
    }
  }
  if (cancel) CancelParts();
  Pump();
}

void FanoutSubscribe::OnCancel() {
  {
    absl::MutexLock l(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "Query.Subscribe: cancelled"));
  }
  CancelParts();
}

void FanoutSubscribe::OnDone() {
  // No placement listener runs once this returns.
  env_.cluster->RemovePlacementListener(listener_);
  grpc::Status status;
  grpc::Alarm* alarm = nullptr;
  {
    absl::MutexLock l(&mu_);
    finishing_ = true;  // no silence alarm is set after this one
    status = final_status_;
    alarm = silence_alarm_.get();
  }
  server::EndRpc(env_, context_, kMethod, start_, status);
  CancelParts();
  // Before server_done_: the alarm's callback cannot delete this meanwhile.
  // No alarm is set after finishing_ went up, and this one was set under mu_.
  if (alarm != nullptr) alarm->Cancel();
  bool last = false;
  {
    absl::MutexLock l(&mu_);
    server_done_ = true;
    last = AllDoneLocked();
  }
  if (last) delete this;
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* StartFanoutSubscribe(
    const server::ServiceEnv& env, std::shared_ptr<const Placement> placement,
    grpc::CallbackServerContext* context, const v1::SubscribeRequest& request) {
  const absl::Time start = absl::Now();
  server::StreamLimiter::Slot no_slot;
  grpc::Status s = server::BeginRpc(env, context, kMethod, server::RpcKind::kUnary, &no_slot);
  // The whole request's checks, as a single node's (each owner checks its
  // part again).
  if (s.ok() && request.tags_size() == 0 && request.glob().empty()) {
    s = server::ToGrpcStatus(absl::InvalidArgumentError("tags, glob: name tags or a glob"));
  }
  if (s.ok() && static_cast<uint32_t>(request.tags_size()) > env.limits.max_tags_per_latest) {
    s = server::ToGrpcStatus(absl::ResourceExhaustedError(
        absl::StrCat("tags: ", request.tags_size(), " tags, over the limit of ",
                     env.limits.max_tags_per_latest, " (--max_tags_per_latest)")));
  }
  if (s.ok()) {
    if (absl::Status g = server::CheckGlob(request.glob(), env.limits); !g.ok()) {
      s = server::ToGrpcStatus(g);
    }
  }
  ClusterResumeToken token;
  const bool has_token = !request.resume_token().empty();
  if (s.ok() && has_token) {
    if (IsSingleNodeResumeToken(request.resume_token())) {
      // No member's position in it: every part starts from now, after a
      // `lagged` from the token's time.
      absl::StatusOr<server::ResumeToken> single =
          server::DecodeResumeToken(request.resume_token());
      if (single.ok()) {
        token.issued_ns = single->issued_ns;
      } else {
        s = server::ToGrpcStatus(single.status());
      }
    } else {
      absl::StatusOr<ClusterResumeToken> t = DecodeClusterResumeToken(request.resume_token());
      if (t.ok()) {
        token = std::move(*t);
      } else {
        s = server::ToGrpcStatus(t.status());
      }
    }
  }
  if (!s.ok()) {
    server::EndRpc(env, context, kMethod, start, s);
    return new server::RefusedByteStream(s);
  }
  std::vector<OwnerPart> parts =
      request.glob().empty()
          ? PartsByOwner(*placement, env.cluster->self_id(), request.tags())
          : PartsForAllOwners(*placement, env.cluster->self_id(), &request.tags());
  std::optional<std::vector<uint32_t>> covered = CoveredShards(
      *placement, std::vector<std::string>(request.tags().begin(), request.tags().end()),
      !request.glob().empty());
  auto* r =
      new FanoutSubscribe(env, context, placement, std::move(covered), std::move(parts), start);
  r->Begin(request, token, has_token);
  return r;
}

uint64_t EndPartsWhenOwnershipChanges(const ClusterView& view, server::SubscriptionHub* hub) {
  const std::string self = view.self_id();
  return view.AddPlacementListener([self, hub](const std::shared_ptr<const Placement>& before,
                                               const std::shared_ptr<const Placement>& after,
                                               bool contiguous) {
    // Not contiguous: this member may have lost and regained shards in
    // between (its parts would have passed samples it did not store).
    if (contiguous && before != nullptr && after != nullptr &&
        OwnedShardsDigest(*before, self, std::nullopt) ==
            OwnedShardsDigest(*after, self, std::nullopt)) {
      return;
    }
    hub->EndForwarded(absl::AbortedError(absl::StrCat(
        kMethod, ": the placement changed (revision ", before != nullptr ? before->revision() : 0,
        " -> ", after != nullptr ? after->revision() : 0, ") and gives member ", self,
        " other shards; subscribe again with the last resume_token")));
  });
}

}  // namespace historian::cluster
