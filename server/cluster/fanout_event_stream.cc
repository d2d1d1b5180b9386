#include "server/cluster/fanout_event_stream.h"

#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/support/client_callback.h"
#include "historian/v1/events.grpc.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/fanout_events.h"
#include "server/cluster/fanout_part.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/query_fanout.h"
#include "server/events/event_stream.h"
#include "server/events/events_service.h"
#include "server/rpc_env.h"
#include "server/status_util.h"

namespace historian::cluster {
namespace {

constexpr char kMethod[] = "Events.Subscribe";
// Members' responses held for a slow caller before their streams are no
// longer read (gRPC flow control then holds the members' writes, and a
// member's feed overflows into `lagged` as on a single node).
constexpr size_t kPendingBytes = 4 << 20;
// About this much per response to the caller.
constexpr size_t kResponseBytes = 1 << 20;
// Events whose last sent state is kept to merge copies from several members.
constexpr size_t kMergedKept = 65536;

constexpr char kTokenMagic = 'E';

bool ParseNumber(std::string_view text, uint64_t* out) {
  return absl::SimpleAtoi(absl::string_view(text.data(), text.size()), out);
}

// A refused call: finishes at once, deletes itself when done.
class RefusedStream final : public grpc::ServerWriteReactor<v1::SubscribeEventsResponse> {
 public:
  explicit RefusedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

class EventFanout;

// One member's forwarded stream (fanout_part.h).
using EventPart = FanoutPart<v1::Events::Stub, v1::SubscribeEventsRequest,
                             v1::SubscribeEventsResponse, EventFanout>;
using Next = PartNext;

std::set<std::string> MemberIds(const Placement& p) {
  std::set<std::string> ids;
  for (const PlacementMember& m : p.members()) ids.insert(m.id);
  return ids;
}

class EventFanout final : public grpc::ServerWriteReactor<v1::SubscribeEventsResponse> {
 public:
  EventFanout(const server::ServiceEnv& env, grpc::CallbackServerContext* context,
              std::shared_ptr<const Placement> placement, absl::Time start)
      : env_(env), context_(context), placement_(std::move(placement)), start_(start) {
    for (const PlacementMember& m : placement_->members()) members_.push_back(m);
  }

  // Opens every member's stream, each from its position in `positions`
  // (`has_token`: members it does not name start from now, after a
  // `lagged`). Ends the stream (ABORTED) once the placement's members change.
  void Begin(const std::string& glob, const std::map<std::string, uint64_t>& positions,
             bool has_token) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock l(&mu_);
      paused_.assign(members_.size(), false);
      for (size_t i = 0; i < members_.size(); ++i) {
        auto part = std::make_unique<EventPart>(this, i);
        part->request.set_glob(glob);
        auto it = positions.find(members_[i].id);
        if (it != positions.end()) {
          part->request.set_from_position(it->second);
          positions_[members_[i].id] = it->second;
        } else if (has_token) {
          lagged_ = true;  // what it raised since the token's time is not sent
        }
        part->stub = v1::Events::NewStub(env_.member_channels->Get(members_[i].address));
        MemberChannels::PrepareForwardedCall(*context_, &part->context);
        parts_.push_back(std::move(part));
      }
    }
    listener_ = env_.cluster->AddPlacementListener(
        [this](const std::shared_ptr<const Placement>&,
               const std::shared_ptr<const Placement>& after, bool) { OnPlacement(after); });
    OnPlacement(env_.cluster->placement());
    for (auto& part : parts_) part->Begin();
  }

  void PartOpened(size_t part, bool ok) ABSL_LOCKS_EXCLUDED(mu_) {
    if (!ok) return;  // refused: OnDone says why
    {
      absl::MutexLock l(&mu_);
      const auto& md = parts_[part]->context.GetServerInitialMetadata();
      auto it = md.find(server::kEventFeedPositionMetadataKey);
      uint64_t position = 0;
      if (it != md.end() &&
          absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &position)) {
        positions_.try_emplace(members_[part].id, position);
      }
      if (++opened_ < parts_.size() || metadata_sent_ || finishing_) return;
      metadata_sent_ = true;
      // Every member's stream is registered at its feed: what any applies
      // from now reaches the caller. Under mu_, as every Finish is: gRPC
      // asserts the headers are not sent twice, and Finish sends them when
      // they were not.
      StartSendInitialMetadata();
    }
    Pump();
  }

  Next TakeResponse(size_t part, v1::SubscribeEventsResponse* msg) ABSL_LOCKS_EXCLUDED(mu_) {
    Next next = Next::kRead;
    {
      absl::MutexLock l(&mu_);
      if (finishing_) return Next::kStop;
      Pending p{part, msg->ByteSizeLong(), v1::SubscribeEventsResponse()};
      p.response.Swap(msg);
      pending_bytes_ += p.bytes;
      pending_.push_back(std::move(p));
      if (pending_bytes_ >= kPendingBytes) {
        paused_[part] = true;
        next = Next::kPause;
      }
    }
    Pump();
    return next;
  }

  void PartEnded(size_t part, const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    bool cancel = false;
    {
      absl::MutexLock l(&mu_);
      if (!finishing_) {
        absl::Status s = server::FromGrpcStatus(status);
        // A member never ends a subscription by itself: an end without an
        // error of the caller's is the member lost.
        if (s.ok() || absl::IsCancelled(s)) {
          s = absl::UnavailableError(absl::StrCat("its stream ended: ", s.ToString()));
        }
        OwnerPart named;
        named.member = members_[part];
        const std::vector<PartOutcome> outcomes = {{&named, s}};
        absl::Status combined = CombineOutcomes(kMethod, outcomes, env_.cluster->alive_members());
        if (absl::IsUnavailable(combined)) {
          combined = absl::UnavailableError(
              absl::StrCat(combined.message(), "; subscribe again with the last resume_token"));
        }
        FinishLocked(server::ToGrpcStatus(combined));
        cancel = true;
      } else if (FinishDueLocked()) {
        cancel = true;
      }
    }
    if (cancel) CancelParts();
    bool last = false;
    {
      absl::MutexLock l(&mu_);
      ++parts_done_;
      last = AllDoneLocked();
    }
    if (last) delete this;
  }

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    bool cancel = false;
    {
      absl::MutexLock l(&mu_);
      writing_ = false;
      if (!ok && !finishing_) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "Events.Subscribe: stream closed"));
        cancel = true;
      } else if (FinishDueLocked()) {
        cancel = true;
      }
    }
    if (cancel) CancelParts();
    Pump();
  }

  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock l(&mu_);
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "Events.Subscribe: cancelled"));
    }
    CancelParts();
  }

  void OnDone() override ABSL_LOCKS_EXCLUDED(mu_) {
    // No placement listener runs once this returns.
    env_.cluster->RemovePlacementListener(listener_);
    grpc::Status status;
    {
      absl::MutexLock l(&mu_);
      finishing_ = true;
      status = final_status_;
    }
    server::EndRpc(env_, context_, kMethod, start_, status);
    CancelParts();
    bool last = false;
    {
      absl::MutexLock l(&mu_);
      server_done_ = true;
      last = AllDoneLocked();
    }
    if (last) delete this;
  }

 private:
  struct Pending {
    size_t part;
    size_t bytes;
    v1::SubscribeEventsResponse response;
  };

  // Ends the stream (ABORTED) when the placement's members differ from
  // those asked. Runs under the view's change lock: only marks the end and
  // cancels the parts (non-blocking); PartEnded or OnWriteDone finishes.
  void OnPlacement(const std::shared_ptr<const Placement>& after) ABSL_LOCKS_EXCLUDED(mu_) {
    if (after == nullptr || after == placement_ || MemberIds(*after) == MemberIds(*placement_)) {
      return;
    }
    {
      absl::MutexLock l(&mu_);
      if (finishing_) return;
      finishing_ = true;
      final_status_ = grpc::Status(
          grpc::StatusCode::ABORTED,
          absl::StrCat(kMethod, ": the site cluster's members changed (placement revision ",
                       placement_->revision(), " -> ", after->revision(),
                       "); subscribe again with the last resume_token"));
    }
    for (auto& part : parts_) part->context.TryCancel();
  }

  bool AllDoneLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return server_done_ && parts_done_ == parts_.size();
  }

  // Takes `e` into merged_; true when the merge changed what was sent of
  // it (or it is new), `e` then holding the state to send.
  bool MergeLocked(v1::Event* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto [it, fresh] = merged_.try_emplace(e->id());
    if (fresh) {
      it->second = *e;
      merged_order_.push_back(e->id());
      if (merged_order_.size() > kMergedKept) {
        merged_.erase(merged_order_.front());
        merged_order_.pop_front();
      }
      return true;
    }
    v1::Event next = it->second;
    MergeEventCopies(*e, &next);
    if (next.SerializeAsString() == it->second.SerializeAsString()) return false;
    it->second = next;
    *e = std::move(next);
    return true;
  }

  void Pump() ABSL_LOCKS_EXCLUDED(mu_) {
    const v1::SubscribeEventsResponse* to_write = nullptr;
    std::vector<EventPart*> resume;
    {
      absl::MutexLock l(&mu_);
      if (finishing_ || writing_ || !metadata_sent_) return;
      out_.Clear();
      bool lagged = lagged_;
      lagged_ = false;
      size_t bytes = 0;
      while (!pending_.empty()) {
        Pending& p = pending_.front();
        // (Copies already sent write nothing: drained until something is
        // to be sent, so a batch of duplicates never leaves every part
        // paused with no write in flight.)
        if (out_.events_size() > 0 && bytes + p.bytes > kResponseBytes) break;
        bytes += p.bytes;
        pending_bytes_ -= p.bytes;
        lagged |= p.response.lagged();
        for (v1::Event& e : *p.response.mutable_events()) {
          if (MergeLocked(&e)) *out_.add_events() = std::move(e);
        }
        positions_[members_[p.part].id] = p.response.next_position();
        pending_.pop_front();
      }
      if (pending_bytes_ < kPendingBytes) {
        for (size_t i = 0; i < paused_.size(); ++i) {
          if (!paused_[i]) continue;
          paused_[i] = false;
          resume.push_back(parts_[i].get());
        }
      }
      if (out_.events_size() > 0 || lagged) {
        out_.set_lagged(lagged);
        out_.set_resume_token(EncodeEventsResumeToken(positions_));
        writing_ = true;
        to_write = &out_;
      }
    }
    if (to_write != nullptr) StartWrite(to_write);
    for (EventPart* p : resume) p->ReadNext();
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_) return;
    finishing_ = true;
    final_status_ = status;
    if (!writing_) {
      finished_ = true;
      Finish(status);
    }
  }

  bool FinishDueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!finishing_ || finished_ || writing_ || server_done_) return false;
    finished_ = true;
    Finish(final_status_);
    return true;
  }

  void CancelParts() ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<EventPart*> paused;
    {
      absl::MutexLock l(&mu_);
      for (size_t i = 0; i < paused_.size(); ++i) {
        if (paused_[i]) paused.push_back(parts_[i].get());
        paused_[i] = false;
      }
    }
    for (auto& part : parts_) part->context.TryCancel();
    // A paused part has no read in flight: this one ends it (TakeResponse
    // answers kStop from now on).
    for (EventPart* p : paused) p->ReadNext();
  }

  const server::ServiceEnv env_;
  grpc::CallbackServerContext* const context_;
  const std::shared_ptr<const Placement> placement_;  // the members asked
  const absl::Time start_;
  std::vector<PlacementMember> members_;  // placement_'s; constant after construction
  uint64_t listener_ = 0;                 // set by Begin
  // Made by Begin before any part starts; constant after.
  std::vector<std::unique_ptr<EventPart>> parts_;

  absl::Mutex mu_;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<bool> paused_ ABSL_GUARDED_BY(mu_);
  size_t opened_ ABSL_GUARDED_BY(mu_) = 0;
  bool metadata_sent_ ABSL_GUARDED_BY(mu_) = false;
  // Per member, the feed position after its changes sent (or the
  // caller's token's, or where its stream started).
  std::map<std::string, uint64_t> positions_ ABSL_GUARDED_BY(mu_);
  bool lagged_ ABSL_GUARDED_BY(mu_) = false;  // to send first
  std::map<std::string, v1::Event> merged_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> merged_order_ ABSL_GUARDED_BY(mu_);  // oldest first
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;  // Finish called or due
  bool finished_ ABSL_GUARDED_BY(mu_) = false;   // Finish called
  bool server_done_ ABSL_GUARDED_BY(mu_) = false;
  size_t parts_done_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  v1::SubscribeEventsResponse out_ ABSL_GUARDED_BY(mu_);  // read by gRPC while writing_
};

}  // namespace

std::string EncodeEventsResumeToken(const std::map<std::string, uint64_t>& positions) {
  std::string out(1, kTokenMagic);
  for (const auto& [id, position] : positions) {
    absl::StrAppend(&out, id.size(), ":", id, position, ";");
  }
  return out;
}

absl::StatusOr<std::map<std::string, uint64_t>> DecodeEventsResumeToken(std::string_view token) {
  const absl::Status bad = absl::InvalidArgumentError(
      "resume_token: not an Events.Subscribe resume token of a site cluster (pass a previous "
      "response's resume_token as it came)");
  if (token.empty() || token[0] != kTokenMagic) return bad;
  std::map<std::string, uint64_t> positions;
  std::string_view rest = token.substr(1);
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    uint64_t length = 0;
    if (colon == std::string_view::npos || !ParseNumber(rest.substr(0, colon), &length) ||
        length == 0 || length > rest.size() - colon - 1) {
      return bad;
    }
    std::string id(rest.substr(colon + 1, length));
    rest.remove_prefix(colon + 1 + length);
    const size_t semi = rest.find(';');
    uint64_t position = 0;
    if (semi == std::string_view::npos || !ParseNumber(rest.substr(0, semi), &position)) {
      return bad;
    }
    rest.remove_prefix(semi + 1);
    positions[std::move(id)] = position;
  }
  return positions;
}

grpc::ServerWriteReactor<v1::SubscribeEventsResponse>* StartFanoutEventStream(
    const server::ServiceEnv& env, std::shared_ptr<const Placement> placement,
    grpc::CallbackServerContext* context, const v1::SubscribeEventsRequest& request) {
  const absl::Time start = absl::Now();
  server::StreamLimiter::Slot no_slot;  // each member's part takes one there
  grpc::Status s = server::BeginRpc(env, context, kMethod, server::RpcKind::kUnary, &no_slot);
  if (s.ok() && request.glob().size() > server::kMaxEventGlobBytes) {
    s = server::ToGrpcStatus(absl::InvalidArgumentError("glob: over 1024 bytes"));
  }
  if (s.ok() && request.from_position() != 0) {
    s = server::ToGrpcStatus(absl::InvalidArgumentError(
        "from_position: positions are per node; in a site cluster resume with resume_token"));
  }
  std::map<std::string, uint64_t> positions;
  if (s.ok() && !request.resume_token().empty()) {
    absl::StatusOr<std::map<std::string, uint64_t>> t =
        DecodeEventsResumeToken(request.resume_token());
    if (t.ok()) {
      positions = *std::move(t);
    } else {
      s = server::ToGrpcStatus(t.status());
    }
  }
  if (!s.ok()) {
    server::EndRpc(env, context, kMethod, start, s);
    return new RefusedStream(s);
  }
  auto* r = new EventFanout(env, context, std::move(placement), start);
  r->Begin(request.glob(), positions, !request.resume_token().empty());
  return r;
}

}  // namespace historian::cluster
