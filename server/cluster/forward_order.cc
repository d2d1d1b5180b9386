#include "server/cluster/forward_order.h"

#include <utility>
#include <vector>

namespace historian::cluster {
namespace {

grpc::Status NotSent(const std::string& owner, const grpc::Status& failed) {
  return grpc::Status(
      grpc::StatusCode::ABORTED,
      "not forwarded to " + owner + ": an earlier batch of this stream failed there (" +
          failed.error_message() + "); resend the stream's batches from that one, in order");
}

}  // namespace

bool ForwardOrder::MustAwaitBefore(int64_t revision) {
  absl::MutexLock l(&mu_);
  return (unanswered_ > 0 || !first_failure_.ok()) && revision != routed_at_;
}

grpc::Status ForwardOrder::AwaitAllAnswered() {
  absl::MutexLock l(&mu_);
  auto answered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return unanswered_ == 0; };
  mu_.Await(absl::Condition(&answered));
  return first_failure_;
}

void ForwardOrder::Submit(const std::string& owner, int64_t revision, Send send, Skip skip) {
  grpc::Status failed;
  {
    absl::MutexLock l(&mu_);
    Lane& lane = lanes_[owner];
    if (lane.failed.ok()) {
      ++unanswered_;
      routed_at_ = revision;
      if (lane.busy) {
        lane.waiting.push_back({std::move(send), std::move(skip)});
        return;
      }
      lane.busy = true;
    } else {
      failed = lane.failed;
    }
  }
  if (failed.ok()) {
    send();
  } else {
    skip(NotSent(owner, failed));
  }
}

void ForwardOrder::Finished(const std::string& owner, const grpc::Status& status) {
  std::vector<Waiting> skipped;
  Send next;
  grpc::Status failed;
  {
    absl::MutexLock l(&mu_);
    Lane& lane = lanes_[owner];
    --unanswered_;
    if (!status.ok() && lane.failed.ok()) lane.failed = status;
    if (!status.ok() && first_failure_.ok()) first_failure_ = status;
    failed = lane.failed;
    if (!failed.ok()) {
      for (Waiting& w : lane.waiting) skipped.push_back(std::move(w));
      unanswered_ -= static_cast<int>(lane.waiting.size());
      lane.waiting.clear();
      lane.busy = false;
    } else if (!lane.waiting.empty()) {
      next = std::move(lane.waiting.front().send);
      lane.waiting.pop_front();
    } else {
      lane.busy = false;
    }
  }
  for (Waiting& w : skipped) w.skip(NotSent(owner, failed));
  if (next) next();
}

}  // namespace historian::cluster
