// File: etcd_endpoints.cc
#include "server/cluster/etcd/etcd_endpoints.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace historian::cluster {

namespace {

std::chrono::system_clock::time_point DeadlineIn(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const EtcdEndpoints>> EtcdEndpoints::Create(
    EtcdClientOptions options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("etcd: no endpoints given");
  }
  for (const std::string& e : options.endpoints) {
    if (e.empty()) return absl::InvalidArgumentError("etcd: an endpoint is empty");
  }
  if (options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("etcd: call_timeout must be positive");
  }
  return std::shared_ptr<const EtcdEndpoints>(new EtcdEndpoints(std::move(options)));
}

EtcdEndpoints::EtcdEndpoints(EtcdClientOptions options) : options_(std::move(options)) {
  for (const std::string& address : options_.endpoints) {
    auto slot = std::make_unique<Slot>();
    slot->address = address;
    absl::MutexLock l(&slot->mu);
    slot->current = Connect(address);
    slots_.push_back(std::move(slot));
  }
}

std::shared_ptr<const EtcdEndpoints::Endpoint> EtcdEndpoints::Connect(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // Reconnect soon after an etcd member comes back.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Find a dead connection under a long-lived stream (etcd allows a ping
  // every 5 s: --grpc-keepalive-min-time).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  // A channel of its own (no shared subchannel), so recycling it really
  // starts a new connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto e = std::make_shared<Endpoint>();
  e->address = address;
  e->channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  e->kv = etcdserverpb::KV::NewStub(e->channel);
  e->lease = etcdserverpb::Lease::NewStub(e->channel);
  e->watch = etcdserverpb::Watch::NewStub(e->channel);
  return e;
}

std::shared_ptr<const EtcdEndpoints::Endpoint> EtcdEndpoints::at(size_t i) const {
  const Slot& slot = *slots_[i % slots_.size()];
  absl::MutexLock l(&slot.mu);
  return slot.current;
}

void EtcdEndpoints::Report(size_t i, const Endpoint* endpoint, bool reachable) const {
  Slot& slot = *slots_[i % slots_.size()];
  absl::MutexLock l(&slot.mu);
  if (slot.current.get() != endpoint) return;  // already replaced
  const absl::Time now = absl::Now();
  if (reachable) {
    slot.failing_since = absl::InfiniteFuture();
  } else if (slot.failing_since == absl::InfiniteFuture()) {
    slot.failing_since = now;
  } else if (now - slot.failing_since >= kRecycleAfter) {
    slot.current = Connect(slot.address);
    slot.failing_since = now;
  }
}

absl::Status EtcdEndpoints::ToStatus(const Endpoint& endpoint, absl::string_view what,
                                     const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = static_cast<int>(status.error_code());
  const absl::StatusCode absl_code =
      code >= 0 && code <= 16 ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown;
  return absl::Status(
      absl_code, absl::StrCat("etcd ", endpoint.address, ": ", what, ": ", status.error_message()));
}

absl::Status EtcdEndpoints::Call(
    absl::string_view what, Retry retry,
    const std::function<grpc::Status(const Endpoint&, grpc::ClientContext*)>& call) const {
  const size_t first = preferred();
  std::vector<std::string> failures;
  for (size_t n = 0; n < slots_.size(); ++n) {
    const size_t i = (first + n) % slots_.size();
    const std::shared_ptr<const Endpoint> held = at(i);
    const Endpoint& endpoint = *held;
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(options_.call_timeout));
    const grpc::Status status = call(endpoint, &context);
    Report(i, held.get(), status.error_code() != grpc::StatusCode::UNAVAILABLE);
    if (status.ok()) {
      if (i != first) Prefer(i);
      return absl::OkStatus();
    }
    const bool next =
        status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        (retry == Retry::kIdempotent && status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    if (!next) return ToStatus(endpoint, what, status);
    failures.push_back(absl::StrCat(endpoint.address, " (", status.error_message(), ")"));
  }
  return absl::UnavailableError(
      absl::StrCat("etcd: ", what, ": no endpoint answered: ", absl::StrJoin(failures, "; ")));
}

void RequireLeader(grpc::ClientContext* context) { context->AddMetadata("hasleader", "true"); }

}  // namespace historian::cluster
