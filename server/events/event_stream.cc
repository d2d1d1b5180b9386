// File: server/events/event_stream.cc
#include "server/events/event_stream.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/events/events_service.h"
#include "server/status_util.h"
#include "storage/catalog/glob.h"
#include "storage/events/events_part.h"
#include "storage/store.h"

namespace historian::server {
namespace {

constexpr char kMethod[] = "Events.Subscribe";
// About this many bytes of events per response.
constexpr size_t kResponseBytes = 1 << 20;

// A refused call: finishes at once, deletes itself when done.
class RefusedEventStream final : public grpc::ServerWriteReactor<v1::SubscribeEventsResponse> {
 public:
  explicit RefusedEventStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

EventFeedWatcher::EventFeedWatcher(Store* store) : store_(store) {
  watch_thread_ = std::thread([this] { Watch(); });
  dispatch_thread_ = std::thread([this] { Dispatch(); });
}

EventFeedWatcher::~EventFeedWatcher() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  watch_thread_.join();
  dispatch_thread_.join();
}

bool EventFeedWatcher::Add(EventStream* stream) {
  absl::MutexLock l(&mu_);
  if (closed_) return false;
  streams_.insert(stream);
  QueueLocked(stream);
  return true;
}

void EventFeedWatcher::Kick(EventStream* stream) {
  absl::MutexLock l(&mu_);
  if (streams_.count(stream) > 0) QueueLocked(stream);
}

void EventFeedWatcher::QueueLocked(EventStream* stream) {
  if (queued_.insert(stream).second) queue_.push_back(stream);
}

void EventFeedWatcher::Remove(EventStream* stream) {
  absl::MutexLock l(&mu_);
  streams_.erase(stream);
  if (queued_.erase(stream) > 0) queue_.erase(std::find(queue_.begin(), queue_.end(), stream));
  auto not_telling = [this, stream]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return telling_ != stream; };
  mu_.Await(absl::Condition(&not_telling));
}

size_t EventFeedWatcher::open() const {
  absl::MutexLock l(&mu_);
  return streams_.size();
}

void EventFeedWatcher::Watch() {
  uint64_t head = store_->EventFeedHead();
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stop_) return;
    }
    // Bounded, so a stop is seen; the feed's close ends it at once.
    const absl::Time asked = absl::Now();
    events::EventChanges c = store_->WaitEventChanges(head, absl::Seconds(1));
    if (!c.closed && c.next == head && !c.lagged) {
      // Back at once with nothing (a store stopped without closing the
      // feed): do not spin.
      if (absl::Now() - asked < absl::Milliseconds(500)) {
        absl::MutexLock l(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(100));
      }
      continue;
    }
    head = c.next;
    absl::MutexLock l(&mu_);
    if (c.closed) closed_ = true;
    for (EventStream* s : streams_) QueueLocked(s);
    if (c.closed) return;
  }
}

void EventFeedWatcher::Dispatch() {
  mu_.Lock();
  while (true) {
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
    mu_.Await(absl::Condition(&ready));
    if (stop_) break;
    EventStream* stream = queue_.front();
    queue_.pop_front();
    queued_.erase(stream);
    telling_ = stream;
    const bool closed = closed_;
    mu_.Unlock();
    stream->FeedMoved(closed);
    mu_.Lock();
    telling_ = nullptr;
  }
  mu_.Unlock();
}

grpc::ServerWriteReactor<v1::SubscribeEventsResponse>* EventStream::Start(
    const ServiceEnv& env, EventFeedWatcher* watcher, grpc::CallbackServerContext* context,
    const v1::SubscribeEventsRequest* request) {
  const absl::Time start = absl::Now();
  StreamLimiter::Slot slot;
  grpc::Status s = BeginRpc(env, context, kMethod, RpcKind::kStream, &slot);
  uint64_t position = 0;
  if (s.ok() && request->glob().size() > kMaxEventGlobBytes) {
    s = ToGrpcStatus(absl::InvalidArgumentError("glob: over 1024 bytes"));
  }
  if (s.ok() && !request->resume_token().empty()) {
    s = ToGrpcStatus(absl::InvalidArgumentError(
        "resume_token: this node answers from its own event feed (not in a site cluster, or "
        "asked by another member): resume with from_position"));
  }
  if (s.ok()) {
    const uint64_t head = env.store->EventFeedHead();
    if (request->from_position() > head) {
      s = ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "from_position: ", request->from_position(), " is past this node's event feed (next ",
          head, "); positions are per node")));
    }
    position = request->from_position() > 0 ? request->from_position() : head;
  }
  if (!s.ok()) {
    EndRpc(env, context, kMethod, start, s);
    return new RefusedEventStream(s);
  }
  auto* stream =
      new EventStream(env, watcher, context, std::move(slot), request->glob(), position, start);
  // Headers go out at once: a caller that waits for them
  // (WaitForInitialMetadata) knows every later change reaches it.
  context->AddInitialMetadata(kEventFeedPositionMetadataKey, absl::StrCat(position));
  stream->StartSendInitialMetadata();
  // No other thread has the stream before Add; gRPC runs no reaction
  // (OnCancel, OnDone) before this handler returns it. Add queues it: the
  // dispatcher sends what the feed has from a from_position in the past.
  stream->registered_ = true;
  if (!watcher->Add(stream)) {
    stream->registered_ = false;
    absl::MutexLock l(&stream->mu_);
    stream->FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is shutting down"));
  }
  return stream;
}

EventStream::EventStream(const ServiceEnv& env, EventFeedWatcher* watcher,
                         grpc::CallbackServerContext* context, StreamLimiter::Slot slot,
                         std::string glob, uint64_t position, absl::Time start)
    : env_(env),
      watcher_(watcher),
      context_(context),
      slot_(std::move(slot)),
      glob_(std::move(glob)),
      start_(start),
      position_(position) {}

void EventStream::FeedMoved(bool closed) {
  if (closed) {
    absl::MutexLock l(&mu_);
    closing_ = true;
    // Never with a write in flight: OnWriteDone finishes then.
    if (!writing_) {
      FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is shutting down"));
    }
    return;
  }
  SendMore();
}

void EventStream::SendMore() {
  const v1::SubscribeEventsResponse* to_write = nullptr;
  {
    absl::MutexLock l(&mu_);
    if (finished_ || writing_ || cancelled_ || closing_) return;
    if (!Fill()) return;
    writing_ = true;
    to_write = &response_;
  }
  StartWrite(to_write);
}

bool EventStream::Fill() {
  while (true) {
    events::EventChanges c = env_.store->WaitEventChanges(position_, absl::ZeroDuration());
    if (c.closed) {
      FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is shutting down"));
      return false;
    }
    if (c.next == position_ && !c.lagged) return false;
    response_.Clear();
    response_.set_lagged(c.lagged);
    // At most about kResponseBytes a response (65,536 changes could pass
    // a client's 4 MiB default limit): the rest comes in the next one.
    uint64_t next = c.next;
    size_t bytes = 0;
    absl::flat_hash_set<uint64_t> seen;
    for (size_t i = 0; i < c.changes.size(); ++i) {
      if (bytes >= kResponseBytes) {
        next = c.changes[i].position;
        break;
      }
      const uint64_t id = c.changes[i].event_id;
      if (!seen.insert(id).second) continue;
      absl::StatusOr<events::EventRecord> e = env_.store->GetEvent(id);
      if (!e.ok() || !e->raised) continue;
      if (!glob_.empty() && !GlobMatch(glob_, e->tag)) continue;
      v1::Event* out = response_.add_events();
      EventToProto(*e, out);
      bytes += out->ByteSizeLong();
    }
    position_ = next;
    response_.set_next_position(next);
    // Changes the glob does not match move the position only.
    if (response_.events_size() > 0 || c.lagged) return true;
  }
}

void EventStream::OnWriteDone(bool ok) {
  {
    absl::MutexLock l(&mu_);
    writing_ = false;
    if (!ok || cancelled_) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "Events.Subscribe: stream closed"));
      return;
    }
    if (closing_) {
      FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is shutting down"));
      return;
    }
  }
  watcher_->Kick(this);  // what came while writing, read on the dispatcher
}

void EventStream::OnCancel() {
  absl::MutexLock l(&mu_);
  cancelled_ = true;
  if (!writing_) {
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "Events.Subscribe: cancelled"));
  }
}

void EventStream::FinishOnce(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  final_status_ = status;
  Finish(status);
}

void EventStream::OnDone() {
  if (registered_) watcher_->Remove(this);
  grpc::Status status;
  {
    absl::MutexLock l(&mu_);
    status = final_status_;
  }
  EndRpc(env_, context_, kMethod, start_, status);
  delete this;
}

}  // namespace historian::server
