// File: lease_keeper.cc
#include "server/cluster/etcd/lease_keeper.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace historian::cluster {

LeaseKeeper::LeaseKeeper(std::shared_ptr<const EtcdEndpoints> endpoints, EtcdLease lease,
                         std::function<void(absl::Status)> on_lost,
                         std::function<void(std::chrono::steady_clock::time_point)> on_renewed)
    : endpoints_(std::move(endpoints)),
      lease_(lease),
      on_lost_(std::move(on_lost)),
      on_renewed_(std::move(on_renewed)) {
  {
    absl::MutexLock l(&mu_);
    expires_ = absl::Now() + absl::Seconds(lease_.ttl_seconds);
  }
  thread_ = std::thread([this] { Run(); });
}

LeaseKeeper::~LeaseKeeper() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    if (stream_context_ != nullptr) stream_context_->TryCancel();
  }
  thread_.join();
}

absl::Status LeaseKeeper::status() const {
  absl::MutexLock l(&mu_);
  return status_;
}

int64_t LeaseKeeper::renewals() const {
  absl::MutexLock l(&mu_);
  return renewals_;
}

bool LeaseKeeper::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
  return stop_;
}

void LeaseKeeper::Lose(absl::Status reason) {
  {
    absl::MutexLock l(&mu_);
    if (stop_) return;  // the owner is going away: nobody to tell
    status_ = reason;
  }
  if (on_lost_) on_lost_(std::move(reason));
}

absl::Status LeaseKeeper::RunStream(size_t index, bool* lost) {
  const std::shared_ptr<const EtcdEndpoints::Endpoint> held = endpoints_->at(index);
  const EtcdEndpoints::Endpoint& endpoint = *held;
  const absl::Duration interval =
      std::max(absl::Seconds(lease_.ttl_seconds) / 3, absl::Milliseconds(100));
  grpc::ClientContext context;
  RequireLeader(&context);
  {
    absl::MutexLock l(&mu_);
    if (stop_) return absl::OkStatus();
    // Never block past the moment the lease would count as lost.
    context.set_deadline(absl::ToChronoTime(expires_));
    stream_context_ = &context;
  }
  auto stream = endpoint.lease->LeaseKeepAlive(&context);
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(lease_.id);
  etcdserverpb::LeaseKeepAliveResponse response;
  // One keep-alive in flight at a time: the answer read is to the request
  // sent at `sent_at`.
  auto sent_at = std::chrono::steady_clock::now();
  while (stream->Write(request) && stream->Read(&response)) {
    if (response.ttl() <= 0) {
      *lost = true;
      break;
    }
    {
      absl::MutexLock l(&mu_);
      ++renewals_;
      expires_ = absl::Now() + absl::Seconds(response.ttl());
    }
    if (on_renewed_) on_renewed_(sent_at + std::chrono::seconds(response.ttl()));
    endpoints_->Prefer(index);
    endpoints_->Report(index, held.get(), true);
    if (SleepUnlessStopped(interval)) break;
    sent_at = std::chrono::steady_clock::now();
  }
  context.TryCancel();
  const grpc::Status finish = stream->Finish();
  if (finish.error_code() == grpc::StatusCode::UNAVAILABLE) {
    endpoints_->Report(index, held.get(), false);
  }
  absl::MutexLock l(&mu_);
  stream_context_ = nullptr;
  if (stop_ || *lost) return absl::OkStatus();
  if (finish.ok()) {
    return absl::UnavailableError(
        absl::StrCat("etcd ", endpoint.address, ": LeaseKeepAlive ", lease_.id, ": stream ended"));
  }
  return EtcdEndpoints::ToStatus(endpoint, absl::StrCat("LeaseKeepAlive ", lease_.id), finish);
}

void LeaseKeeper::Run() {
  const EtcdClientOptions& options = endpoints_->options();
  absl::Duration backoff = options.reconnect_backoff;
  size_t index = endpoints_->preferred();
  while (true) {
    bool lost = false;
    const int64_t renewals_before = renewals();
    const absl::Status error = RunStream(index, &lost);
    if (lost) {
      Lose(absl::NotFoundError(absl::StrCat("etcd ", endpoints_->at(index)->address, ": lease ",
                                            lease_.id, " expired or was revoked")));
      return;
    }
    absl::Time expires;
    {
      absl::MutexLock l(&mu_);
      if (stop_) return;
      expires = expires_;
    }
    if (absl::Now() >= expires) {
      Lose(absl::UnavailableError(
          absl::StrCat("etcd lease ", lease_.id, ": no keep-alive answered for its TTL of ",
                       lease_.ttl_seconds, " s; last error: ", error.message())));
      return;
    }
    if (renewals() > renewals_before) {
      // The stream worked and only reached its deadline: reopen at once.
      backoff = options.reconnect_backoff;
      continue;
    }
    index = (index + 1) % endpoints_->size();
    if (SleepUnlessStopped(std::min(backoff, expires - absl::Now()))) return;
    backoff = std::min(backoff * 2, options.max_reconnect_backoff);
  }
}

}  // namespace historian::cluster
