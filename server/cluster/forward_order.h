// File: forward_order.h
// ForwardOrder: keeps one Ingest.Write stream's forwarded parts in stream
// order per owner (docs/cluster.md, "Routing writes"). A node that forwards
// batch N and batch N+1 of a stream to the same owner sends N+1's part only
// once N's part was answered, so the owner stores them in stream order: a
// rewrite of a tag and timestamp in N+1 wins over N, as on a single node.
// Once a part to an owner failed, the stream's later parts to that owner
// are not sent (the stream fails at batch N; the client resends from N, in
// order).
//
// Across a placement change the lanes are not enough: batch N's part routed
// by the older placement may go on from its old owner to the new one (the
// second hop, WriteHop) and arrive there after batch N+1's part, sent
// straight to the new owner (or stored by this node, the new owner), and
// the earlier batch would win. So a batch routed by another placement
// revision than the stream's parts still unanswered waits until they are
// all answered; placements change rarely, so this costs nothing in between.
//
//   ForwardOrder order;                                  // one per stream
//   if (order.MustAwaitBefore(revision) && !order.AwaitAllAnswered().ok()) { refuse }
//   order.Submit(owner_address, revision, send, skip);   // per remote part, in order
//   ... in send's completion: order.Finished(owner_address, status);
//
// Thread-safety: thread-safe (mu_ guards the lanes). The callbacks run
// without mu_ held, on the caller's thread or on the thread that calls
// Finished. The order must outlive every part submitted to it.
#ifndef HISTORIAN_SERVER_CLUSTER_FORWARD_ORDER_H_
#define HISTORIAN_SERVER_CLUSTER_FORWARD_ORDER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/status.h"

namespace historian::cluster {

class ForwardOrder {
 public:
  // Starts the part's call (which must call Finished(owner, ...) once when
  // answered).
  using Send = std::function<void()>;
  // The part is not sent: an earlier part to the owner failed with `why`.
  using Skip = std::function<void(const grpc::Status& why)>;

  ForwardOrder() = default;
  ForwardOrder(const ForwardOrder&) = delete;
  ForwardOrder& operator=(const ForwardOrder&) = delete;

  // Before routing a batch by placement `revision`: whether parts of this
  // stream were routed by another revision and are unanswered, or one of
  // the stream's parts failed. The batch must then wait for them
  // (AwaitAllAnswered) and be routed afresh, or be refused.
  bool MustAwaitBefore(int64_t revision) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until every part submitted so far was answered (or skipped).
  // Returns the first failure of a part of this stream (OK when none
  // failed): the stream fails at that batch and the client resends from
  // it, so a batch routed after the wait must not be stored before it.
  grpc::Status AwaitAllAnswered() ABSL_LOCKS_EXCLUDED(mu_);
  // Sends now when nothing of this stream is in flight to `owner`, later
  // (from Finished) otherwise; skips when a part to `owner` failed.
  // `revision`: the placement revision the part was routed by.
  void Submit(const std::string& owner, int64_t revision, Send send, Skip skip)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The part in flight to `owner` was answered with `status`: sends the
  // next one waiting (or skips them all after a failure).
  void Finished(const std::string& owner, const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Waiting {
    Send send;
    Skip skip;
  };
  struct Lane {
    bool busy = false;    // a part is in flight
    grpc::Status failed;  // the first failure; OK until then
    std::deque<Waiting> waiting;
  };

  absl::Mutex mu_;
  std::map<std::string, Lane> lanes_ ABSL_GUARDED_BY(mu_);
  // Parts submitted and not yet answered or skipped, every one of them
  // routed by `routed_at_` (callers wait before routing by another).
  int unanswered_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t routed_at_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status first_failure_ ABSL_GUARDED_BY(mu_);  // of any lane
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_FORWARD_ORDER_H_
