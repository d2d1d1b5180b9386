// File: rpc_env.h
// What every service method shares: the Store, limits, authorisation,
// metrics, the per-client stream limiter and the write gate; and RunRpc,
// which wraps each method body with the role check, the stream slot (for
// streaming RPCs), the latency histogram and the per-code counter.
//
//   grpc::Status QueryService::Latest(grpc::ServerContext* ctx, ...) {
//     return RunRpc(env_, ctx, "Query.Latest", RpcKind::kUnary, [&] { ...; });
//   }
//
// Thread-safety: ServiceEnv only holds pointers to thread-safe objects.
#ifndef HISTORIAN_SERVER_RPC_ENV_H_
#define HISTORIAN_SERVER_RPC_ENV_H_

#include <string_view>

#include "absl/time/clock.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "server/auth.h"
#include "server/limits.h"
#include "server/metrics.h"
#include "server/query_budget.h"
#include "server/stream_limiter.h"
#include "server/write_gate.h"
#include "storage/store.h"

namespace historian::cluster {
class ClusterView;
class LeaseFence;
class MemberChannels;
class SiteRules;
}  // namespace historian::cluster

namespace historian::server {

class SubscriptionHub;

struct ServiceEnv {
  Store* store = nullptr;  // required
  Limits limits;
  // Each may be null: authorisation off, no metrics, no stream limit, no
  // write gate.
  const Authorizer* auth = nullptr;
  Metrics* metrics = nullptr;
  StreamLimiter* streams = nullptr;
  // Replication.Pull/Fetch streams per peer (each holds a thread or two).
  StreamLimiter* replication_streams = nullptr;
  WriteGate* write_gate = nullptr;
  // Node-wide query cells (--max_query_cells_in_flight); null: no limit.
  QueryBudget* query_budget = nullptr;
  // Live subscriptions (Query.Subscribe); null: UNAVAILABLE.
  SubscriptionHub* subscriptions = nullptr;
  // The site cluster this node is a member of (server/cluster/
  // cluster_view.h) and channels to its other members; null: a single node
  // that owns every tag.
  const cluster::ClusterView* cluster = nullptr;
  cluster::MemberChannels* member_channels = nullptr;
  // This member's lease, as far as a move's source may still store writes
  // of a shard it hands over (cluster/lease_fence.h); null: no fence.
  const cluster::LeaseFence* lease_fence = nullptr;
  // The site cluster's alarm rules, held site-wide (cluster/site_rules.h);
  // null: not in a cluster.
  cluster::SiteRules* site_rules = nullptr;
};

// kStream takes a slot of env.streams, kReplicationStream one of
// env.replication_streams.
enum class RpcKind { kUnary, kStream, kReplicationStream };

// Metric family names fed by RunRpc and the ingest path.
inline constexpr char kRpcDurationMetric[] = "historian_rpc_duration_seconds";
inline constexpr char kRpcTotalMetric[] = "historian_rpc_total";
inline constexpr char kSamplesAckedMetric[] = "historian_ingest_samples_acked_total";
inline constexpr char kBatchesAckedMetric[] = "historian_ingest_batches_acked_total";
inline constexpr char kSamplesRejectedMetric[] = "historian_ingest_samples_rejected_total";
// Declares the families above in `metrics`.
void DescribeRpcMetrics(Metrics* metrics);

// Authorises the call and takes a stream slot (kStream). On failure returns
// the status to answer with.
grpc::Status BeginRpc(const ServiceEnv& env, grpc::ServerContextBase* context,
                      std::string_view method, RpcKind kind, StreamLimiter::Slot* slot);
// Records the call's latency and status code.
void EndRpc(const ServiceEnv& env, grpc::ServerContextBase* context, std::string_view method,
            absl::Time start, const grpc::Status& status);

// Refuses calls without a known bearer token to the methods of the role
// table on their initial metadata, before gRPC reads the request message:
// RunRpc only sees a call once its message is read and parsed, so an
// unauthenticated caller could make the node hold --max_message_bytes per
// call. Logs and counts the refusal as RunRpc does. A known token with the
// wrong role is left to RunRpc (PERMISSION_DENIED). Other methods (health
// checks, reflection) pass. Install with SetAuthMetadataProcessor when
// env.auth is enabled.
class EarlyTokenCheck final : public grpc::AuthMetadataProcessor {
 public:
  // What `env` points to must outlive the processor.
  explicit EarlyTokenCheck(const ServiceEnv& env) : env_(env) {}
  bool IsBlocking() const override { return false; }  // no I/O: runs inline
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const ServiceEnv env_;
};

template <typename Body>
grpc::Status RunRpc(const ServiceEnv& env, grpc::ServerContext* context, std::string_view method,
                    RpcKind kind, Body&& body) {
  const absl::Time start = absl::Now();
  StreamLimiter::Slot slot;
  grpc::Status status = BeginRpc(env, context, method, kind, &slot);
  if (status.ok()) status = body();
  EndRpc(env, context, method, start, status);
  return status;
}

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_RPC_ENV_H_
