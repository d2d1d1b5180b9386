// File: etcd_endpoints.cc
#include "server/cluster/etcd/etcd_endpoints.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
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

// The whole of the PEM file `path`, given as `flag`; INVALID_ARGUMENT naming
// both when it cannot be read or holds no PEM block. (gRPC parses the PEMs
// only when it connects; a PEM block that is no certificate or key shows as
// a failed handshake, UNAVAILABLE.)
absl::StatusOr<std::string> ReadPem(absl::string_view flag, const std::string& path) {
  auto fail = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd TLS: ", std::string(flag), ": cannot read '", path, "': ", why));
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return fail("a directory, not a PEM file");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errno != 0 ? std::strerror(errno) : "cannot open");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail("read error");
  std::string pem = text.str();
  if (pem.find("-----BEGIN") == std::string::npos) return fail("not PEM (no -----BEGIN line)");
  return pem;
}

// Insecure credentials, or TLS with the PEMs of `options`.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(
    const EtcdClientOptions& options) {
  const bool cert = !options.tls_cert_file.empty();
  const bool key = !options.tls_key_file.empty();
  if (cert != key) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd TLS: --cluster_etcd_cert and --cluster_etcd_key go together (",
                     cert ? "the key" : "the certificate", " is missing)"));
  }
  if (options.tls_ca_file.empty()) {
    if (cert) {
      return absl::InvalidArgumentError(
          "etcd TLS: --cluster_etcd_cert/--cluster_etcd_key needs --cluster_etcd_ca (the CA "
          "of etcd's server certificates)");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadPem("--cluster_etcd_ca", options.tls_ca_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *std::move(ca);
  if (cert) {
    absl::StatusOr<std::string> chain = ReadPem("--cluster_etcd_cert", options.tls_cert_file);
    if (!chain.ok()) return chain.status();
    absl::StatusOr<std::string> private_key = ReadPem("--cluster_etcd_key", options.tls_key_file);
    if (!private_key.ok()) return private_key.status();
    ssl.pem_cert_chain = *std::move(chain);
    ssl.pem_private_key = *std::move(private_key);
  }
  return grpc::SslCredentials(ssl);
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
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = MakeCredentials(options);
  if (!credentials.ok()) return credentials.status();
  return std::shared_ptr<const EtcdEndpoints>(
      new EtcdEndpoints(std::move(options), *std::move(credentials)));
}

EtcdEndpoints::EtcdEndpoints(EtcdClientOptions options,
                             std::shared_ptr<grpc::ChannelCredentials> credentials)
    : options_(std::move(options)), credentials_(std::move(credentials)) {
  for (const std::string& address : options_.endpoints) {
    auto slot = std::make_unique<Slot>();
    slot->address = address;
    absl::MutexLock l(&slot->mu);
    slot->current = Connect(address);
    slots_.push_back(std::move(slot));
  }
}

std::shared_ptr<const EtcdEndpoints::Endpoint> EtcdEndpoints::Connect(
    const std::string& address) const {
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
  e->channel = grpc::CreateCustomChannel(address, credentials_, args);
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
