// File: server/events/event_stream.h
// Events.Subscribe on gRPC's callback API (docs/events.md, "Subscribe"): an
// idle stream holds no thread, and a cancel ends the call at once (the
// synchronous API saw a cancel only when asked, once a second).
//
// EventFeedWatcher: one thread waits on the store's event feed and, each
// time it moves or closes, queues every open EventStream for its second
// thread, the dispatcher, which tells them one at a time. A stream then
// reads its own changes from its feed position (Store::WaitEventChanges
// without a wait), keeps the events its glob matches and writes them; once
// a write is done it is queued again, so what came while it wrote is sent
// next. Positions are the feed's, so nothing is skipped between two reads.
// The store is read only on the dispatcher, never on gRPC's callback
// threads (whose reactions must not block) nor under the watcher's lock.
//
// Thread-safety: thread-safe. EventFeedWatcher::mu_ guards its streams,
// the queue and the stream being told; Remove waits until that stream is
// not being told and it is never told again. EventStream::mu_ guards the
// stream's state; the watcher never holds its lock while telling a stream,
// and a stream calls the watcher only without its own lock. gRPC calls the
// On* methods on its threads.
#ifndef HISTORIAN_SERVER_EVENTS_EVENT_STREAM_H_
#define HISTORIAN_SERVER_EVENTS_EVENT_STREAM_H_

#include <cstdint>
#include <deque>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/server_callback.h"
#include "historian/v1/events.pb.h"
#include "server/rpc_env.h"
#include "server/stream_limiter.h"

namespace historian {
class Store;
}

namespace historian::server {

class EventStream;

// Initial metadata of an Events.Subscribe stream: the feed position it
// starts from (a site cluster's coordinator puts it in its resume token
// before this member sent any change: cluster/fanout_event_stream.h).
inline constexpr char kEventFeedPositionMetadataKey[] = "x-historian-event-feed-position";

class EventFeedWatcher {
 public:
  // Starts the threads; `store` must outlive the watcher.
  explicit EventFeedWatcher(Store* store);
  // Stops the threads (the feed watch within a second).
  ~EventFeedWatcher();
  EventFeedWatcher(const EventFeedWatcher&) = delete;
  EventFeedWatcher& operator=(const EventFeedWatcher&) = delete;

  // Registers `stream` and queues it (what the feed has from its position);
  // false once the feed closed (the node is stopping).
  bool Add(EventStream* stream) ABSL_LOCKS_EXCLUDED(mu_);
  // Queues `stream` to be told (after a write).
  void Kick(EventStream* stream) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(EventStream* stream) ABSL_LOCKS_EXCLUDED(mu_);
  size_t open() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Watch();
  void Dispatch();
  void QueueLocked(EventStream* stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  mutable absl::Mutex mu_;
  std::set<EventStream*> streams_ ABSL_GUARDED_BY(mu_);
  std::deque<EventStream*> queue_ ABSL_GUARDED_BY(mu_);
  std::set<EventStream*> queued_ ABSL_GUARDED_BY(mu_);
  EventStream* telling_ ABSL_GUARDED_BY(mu_) = nullptr;  // the dispatcher's, unlocked
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watch_thread_;
  std::thread dispatch_thread_;
};

class EventStream final : public grpc::ServerWriteReactor<v1::SubscribeEventsResponse> {
 public:
  // Checks the call (role, the caller's stream slot) and the request; the
  // returned reactor is gRPC's until OnDone. A refused call finishes at
  // once with the status.
  static grpc::ServerWriteReactor<v1::SubscribeEventsResponse>* Start(
      const ServiceEnv& env, EventFeedWatcher* watcher, grpc::CallbackServerContext* context,
      const v1::SubscribeEventsRequest* request);

  // The watcher's dispatcher: the feed moved (or a write is done), or the
  // feed closed.
  void FeedMoved(bool closed) ABSL_LOCKS_EXCLUDED(mu_);

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone() override;

 private:
  EventStream(const ServiceEnv& env, EventFeedWatcher* watcher,
              grpc::CallbackServerContext* context, StreamLimiter::Slot slot, std::string glob,
              uint64_t position, absl::Time start);
  // Reads what the feed has past position_ and writes it, unless a write
  // is in flight or the stream is done.
  void SendMore() ABSL_LOCKS_EXCLUDED(mu_);
  // Fills response_ from the feed; false when there is nothing to send.
  bool Fill() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishOnce(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ServiceEnv env_;
  EventFeedWatcher* const watcher_;
  grpc::CallbackServerContext* const context_;
  const StreamLimiter::Slot slot_;  // released with the stream
  const std::string glob_;
  const absl::Time start_;
  bool registered_ = false;  // with the watcher; set before any thread tells it

  absl::Mutex mu_;
  uint64_t position_ ABSL_GUARDED_BY(mu_);  // the next feed position to read
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // the feed closed: finish after the write
  v1::SubscribeEventsResponse response_ ABSL_GUARDED_BY(mu_);  // read by gRPC while writing_
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_EVENTS_EVENT_STREAM_H_
