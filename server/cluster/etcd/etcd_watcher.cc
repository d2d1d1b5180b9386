// File: etcd_watcher.cc
#include "server/cluster/etcd/etcd_watcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/cluster/etcd/etcd_convert.h"

namespace historian::cluster {

EtcdWatcher::EtcdWatcher(std::shared_ptr<const EtcdEndpoints> endpoints, std::string prefix,
                         int64_t start_revision, EtcdWatchHandlers handlers)
    : endpoints_(std::move(endpoints)), prefix_(std::move(prefix)), handlers_(std::move(handlers)) {
  {
    absl::MutexLock l(&mu_);
    next_revision_ = std::max<int64_t>(start_revision, 0);
  }
  thread_ = std::thread([this] { Run(); });
}

EtcdWatcher::~EtcdWatcher() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    if (stream_context_ != nullptr) stream_context_->TryCancel();
  }
  thread_.join();
}

absl::Status EtcdWatcher::status() const {
  absl::MutexLock l(&mu_);
  return status_;
}

int64_t EtcdWatcher::next_revision() const {
  absl::MutexLock l(&mu_);
  return next_revision_;
}

int64_t EtcdWatcher::reconnects() const {
  absl::MutexLock l(&mu_);
  return std::max<int64_t>(streams_opened_ - 1, 0);
}

int64_t EtcdWatcher::streams_created() const {
  absl::MutexLock l(&mu_);
  return streams_created_;
}

absl::Status EtcdWatcher::last_stream_error() const {
  absl::MutexLock l(&mu_);
  return last_stream_error_;
}

bool EtcdWatcher::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
  return stop_;
}

void EtcdWatcher::Fail(absl::Status reason) {
  {
    absl::MutexLock l(&mu_);
    if (stop_) return;
    status_ = reason;
  }
  if (handlers_.on_failed) handlers_.on_failed(std::move(reason));
}

absl::Status EtcdWatcher::RunStream(size_t index, bool* ended) {
  const std::shared_ptr<const EtcdEndpoints::Endpoint> held = endpoints_->at(index);
  const EtcdEndpoints::Endpoint& endpoint = *held;
  grpc::ClientContext context;
  RequireLeader(&context);
  etcdserverpb::WatchRequest request;
  etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(prefix_);
  create->set_range_end(EtcdPrefixEnd(prefix_));
  {
    absl::MutexLock l(&mu_);
    if (stop_) return absl::OkStatus();
    create->set_start_revision(next_revision_);
    stream_context_ = &context;
    ++streams_opened_;
  }
  const std::string what =
      absl::StrCat("Watch '", prefix_, "' from revision ", create->start_revision());
  auto stream = endpoint.watch->Watch(&context);
  etcdserverpb::WatchResponse response;
  bool written = stream->Write(request);
  while (written && stream->Read(&response)) {
    if (response.compact_revision() > 0) {
      *ended = true;
      Fail(absl::OutOfRangeError(absl::StrCat(
          "etcd ", endpoint.address, ": ", what, ": revisions before ", response.compact_revision(),
          " were compacted, events since the last one delivered are lost; read the prefix "
          "again and watch from that read's revision + 1")));
      break;
    }
    if (response.canceled()) {
      *ended = true;
      Fail(absl::AbortedError(absl::StrCat("etcd ", endpoint.address, ": ", what,
                                           ": canceled by etcd: ", response.cancel_reason())));
      break;
    }
    if (response.created()) {
      absl::MutexLock l(&mu_);
      ++streams_created_;
      // A watch from "now" sees every event after the revision it was
      // created at: resume from there if the stream breaks before an event.
      if (next_revision_ == 0) next_revision_ = response.header().revision() + 1;
    }
    if (response.created()) {
      endpoints_->Prefer(index);
      endpoints_->Report(index, held.get(), true);
    }
    if (response.events_size() == 0) continue;
    std::vector<EtcdEvent> events;
    events.reserve(response.events_size());
    for (const mvccpb::Event& e : response.events()) events.push_back(FromProto(e));
    {
      absl::MutexLock l(&mu_);
      if (stop_) break;
      next_revision_ = events.back().kv.mod_revision + 1;
    }
    if (handlers_.on_events) handlers_.on_events(events);
  }
  context.TryCancel();
  const grpc::Status finish = stream->Finish();
  if (finish.error_code() == grpc::StatusCode::UNAVAILABLE) {
    endpoints_->Report(index, held.get(), false);
  }
  absl::MutexLock l(&mu_);
  stream_context_ = nullptr;
  if (stop_ || *ended) return absl::OkStatus();
  if (finish.ok()) {
    return absl::UnavailableError(
        absl::StrCat("etcd ", endpoint.address, ": ", what, ": stream ended"));
  }
  return EtcdEndpoints::ToStatus(endpoint, what, finish);
}

void EtcdWatcher::Run() {
  const EtcdClientOptions& options = endpoints_->options();
  absl::Duration backoff = options.reconnect_backoff;
  size_t index = endpoints_->preferred();
  while (true) {
    bool ended = false;
    const int64_t created_before = streams_created();
    const absl::Status error = RunStream(index, &ended);
    if (ended || SleepUnlessStopped(absl::ZeroDuration())) return;
    // A stream that was up resets the backoff; one that never came up moves
    // on to the next endpoint.
    if (streams_created() > created_before) {
      backoff = options.reconnect_backoff;
    } else {
      index = (index + 1) % endpoints_->size();
    }
    {
      absl::MutexLock l(&mu_);
      last_stream_error_ = error;
    }
    if (SleepUnlessStopped(backoff)) return;
    backoff = std::min(backoff * 2, options.max_reconnect_backoff);
  }
}

}  // namespace historian::cluster
