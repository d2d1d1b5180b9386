// File: etcd_endpoints.h
// EtcdEndpoints: the gRPC channels and stubs to the members of one etcd
// cluster, and the failover rule every call follows: start at the endpoint
// that answered last, move on to the next one when an endpoint is
// unreachable. Errors name the endpoint and the operation.
//
// Shared (std::shared_ptr) by the client, its lease keepers and watchers, so
// those may outlive the EtcdClient that made them.
//
// Channel recycling: an endpoint unreachable for longer than
// kRecycleAfter gets a new gRPC channel. A channel whose connection attempt
// raced an etcd restart (etcd 3.4 binds its client port before it serves)
// was seen to stay unusable for ~10 s after etcd was back, while a new
// channel connected at once.
//
// Thread-safety: thread-safe. The endpoint list and addresses are fixed
// after Create; each slot's mutex guards its current channel and failure
// time; the preferred index is an atomic (a stale read only costs one
// failed attempt).
#ifndef HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_ENDPOINTS_H_
#define HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_ENDPOINTS_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcd/rpc.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"

namespace historian::cluster {

struct EtcdClientOptions {
  // host:port of each etcd member's client URL. Must not be empty. With TLS
  // the host must be in the member's server certificate (a DNS name or an
  // IP subjectAltName).
  std::vector<std::string> endpoints;
  // TLS towards etcd (historiand --cluster_etcd_ca/_cert/_key). Empty
  // tls_ca_file (default): plaintext HTTP/2. Otherwise the PEM bundle of the
  // CA(s) that sign the members' server certificates, and every channel
  // uses TLS. tls_cert_file and tls_key_file: the PEM client certificate and
  // its private key for etcd's --client-cert-auth, both or neither, only
  // with tls_ca_file. The files are read once, by Create.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Deadline of each unary call on one endpoint. Default: 5 s.
  absl::Duration call_timeout = absl::Seconds(5);
  // First wait before a stream (watch, keep-alive) reconnects; doubles up to
  // max_reconnect_backoff. Defaults: 100 ms, 2 s.
  absl::Duration reconnect_backoff = absl::Milliseconds(100);
  absl::Duration max_reconnect_backoff = absl::Seconds(2);
};

class EtcdEndpoints {
 public:
  struct Endpoint {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  };

  // How long an endpoint fails with UNAVAILABLE before its channel is
  // replaced.
  static constexpr absl::Duration kRecycleAfter = absl::Seconds(2);

  // INVALID_ARGUMENT for an empty list or an empty endpoint, and for TLS
  // files that are missing, unreadable or given without their pair (naming
  // the flag and the path). Does not connect: the first call does.
  static absl::StatusOr<std::shared_ptr<const EtcdEndpoints>> Create(EtcdClientOptions options);

  // Whether a failed attempt may be repeated on the next endpoint.
  enum class Retry {
    // Reads: repeat on UNAVAILABLE and DEADLINE_EXCEEDED.
    kIdempotent,
    // Writes: repeat only on UNAVAILABLE (etcd was not reached, as far as
    // gRPC can tell); a deadline may hide an applied write, so it is
    // returned to the caller.
    kWrite,
  };

  // Runs `call` (with a fresh context whose deadline is call_timeout) on the
  // preferred endpoint, then on the next ones as `retry` allows. Returns OK
  // from the first endpoint that answers; an error that may not be retried
  // with its code and "etcd <address>: <what>: <message>"; UNAVAILABLE
  // naming every endpoint and its error when none answered.
  absl::Status Call(
      absl::string_view what, Retry retry,
      const std::function<grpc::Status(const Endpoint&, grpc::ClientContext*)>& call) const;

  size_t size() const { return slots_.size(); }
  // Endpoint `i % size()` with its current channel; keep the pointer for
  // the whole call or stream.
  std::shared_ptr<const Endpoint> at(size_t i) const;
  // What a call or stream on `endpoint` (from at(i)) found: `reachable`
  // false for UNAVAILABLE. Replaces the slot's channel after kRecycleAfter
  // of failures.
  void Report(size_t i, const Endpoint* endpoint, bool reachable) const;
  // The endpoint that answered last (0 at first).
  size_t preferred() const { return preferred_.load(std::memory_order_relaxed); }
  void Prefer(size_t i) const { preferred_.store(i % slots_.size(), std::memory_order_relaxed); }
  const EtcdClientOptions& options() const { return options_; }

  // `status` (a failed gRPC call or stream on `endpoint`) as an absl::Status
  // with the same code and a message naming the endpoint and `what`.
  static absl::Status ToStatus(const Endpoint& endpoint, absl::string_view what,
                               const grpc::Status& status);

 private:
  // One member: its address and current channel.
  struct Slot {
    std::string address;
    mutable absl::Mutex mu;
    std::shared_ptr<const Endpoint> current ABSL_GUARDED_BY(mu);
    // Start of the current run of UNAVAILABLE answers; InfiniteFuture when
    // the last answer was not UNAVAILABLE.
    absl::Time failing_since ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  };

  EtcdEndpoints(EtcdClientOptions options, std::shared_ptr<grpc::ChannelCredentials> credentials);
  std::shared_ptr<const Endpoint> Connect(const std::string& address) const;

  const EtcdClientOptions options_;
  // Insecure, or TLS with the PEMs Create read.
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::vector<std::unique_ptr<Slot>> slots_;  // the vector is fixed after Create
  mutable std::atomic<size_t> preferred_{0};
};

// Adds the metadata etcd reads to end a stream when its member loses the
// Raft leader ("hasleader"), instead of leaving it open and silent.
void RequireLeader(grpc::ClientContext* context);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_ENDPOINTS_H_
