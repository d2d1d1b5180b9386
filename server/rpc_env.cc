#include "server/rpc_env.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "api/core/bearer_token.h"
#include "server/logging.h"
#include "server/status_util.h"

namespace historian::server {
namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK:
      return "OK";
    case grpc::CANCELLED:
      return "CANCELLED";
    case grpc::UNKNOWN:
      return "UNKNOWN";
    case grpc::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::ABORTED:
      return "ABORTED";
    case grpc::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::INTERNAL:
      return "INTERNAL";
    case grpc::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

void DescribeRpcMetrics(Metrics* metrics) {
  metrics->Describe(kRpcDurationMetric, "histogram",
                    "Latency of gRPC calls (streams: until the stream ends), by method");
  metrics->Describe(kRpcTotalMetric, "counter", "Finished gRPC calls by method and status code");
  metrics->Describe("historian_cluster_query_parts_total", "counter",
                    "Parts of cluster fan-out queries (docs/cluster.md, \"Queries\"), by method, "
                    "target (local: this node's own tags, remote: forwarded to their owner) and "
                    "status code");
  metrics->Describe(kSamplesAckedMetric, "counter",
                    "Samples stored and acknowledged by Ingest (duplicates excluded)");
  metrics->Describe(kBatchesAckedMetric, "counter", "Write batches acknowledged by Ingest");
  metrics->Describe(kSamplesRejectedMetric, "counter",
                    "Samples not stored, by reason (gRPC code): single rejected samples and every "
                    "sample of a refused batch");
}

grpc::Status BeginRpc(const ServiceEnv& env, grpc::ServerContextBase* context,
                      std::string_view method, RpcKind kind, StreamLimiter::Slot* slot) {
  std::string client;
  if (env.auth != nullptr) {
    absl::StatusOr<Principal> p = env.auth->Authorize(*context, method);
    if (!p.ok()) {
      LogInfo("auth", "call refused",
              {{"method", std::string(method)},
               {"peer", context->peer()},
               {"code", CodeName(static_cast<grpc::StatusCode>(p.status().code()))}});
      return ToGrpcStatus(p.status());
    }
    client = p->name;
  }
  StreamLimiter* limiter = kind == RpcKind::kStream              ? env.streams
                           : kind == RpcKind::kReplicationStream ? env.replication_streams
                                                                 : nullptr;
  if (limiter != nullptr) {
    if (client.empty()) client = PeerHost(context->peer());
    absl::Status s = limiter->Acquire(client, slot);
    if (!s.ok()) {
      LogWarning("limits", "stream refused", {{"method", std::string(method)}, {"client", client}});
      return ToGrpcStatus(s);
    }
  }
  return grpc::Status::OK;
}

void EndRpc(const ServiceEnv& env, grpc::ServerContextBase* context, std::string_view method,
            absl::Time start, const grpc::Status& status) {
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (env.metrics != nullptr) {
    std::string m = Label("method", method);
    env.metrics->Observe(kRpcDurationMetric, m, seconds);
    env.metrics->Add(kRpcTotalMetric,
                     absl::StrCat(m, ",", Label("code", CodeName(status.error_code()))), 1);
  }
  if (LogEnabled(LogLevel::kDebug)) {
    LogDebug("rpc", "call finished",
             {{"method", std::string(method)},
              {"code", CodeName(status.error_code())},
              {"seconds", absl::StrCat(seconds)},
              {"peer", context->peer()}});
  }
}

grpc::Status EarlyTokenCheck::Process(const InputMetadata& auth_metadata, grpc::AuthContext*,
                                      OutputMetadata*, OutputMetadata*) {
  auto path = auth_metadata.find(":path");
  if (env_.auth == nullptr || path == auth_metadata.end()) return grpc::Status::OK;
  // "/historian.v1.Ingest/WriteBatch" -> "Ingest.WriteBatch".
  absl::string_view full(path->second.data(), path->second.size());
  if (!absl::ConsumePrefix(&full, "/historian.v1.")) return grpc::Status::OK;
  std::string method(full);
  std::replace(method.begin(), method.end(), '/', '.');
  if (RolesFor(method) == 0) return grpc::Status::OK;  // RunRpc refuses it
  auto header = auth_metadata.find(kAuthorizationMetadataKey);
  absl::StatusOr<Principal> p =
      header == auth_metadata.end()
          ? env_.auth->AuthorizeHeader("", false, method)
          : env_.auth->AuthorizeHeader(
                std::string_view(header->second.data(), header->second.size()), true, method);
  if (p.ok() || p.status().code() != absl::StatusCode::kUnauthenticated) return grpc::Status::OK;
  const char* code = CodeName(grpc::StatusCode::UNAUTHENTICATED);
  LogInfo("auth", "call refused",
          {{"method", method}, {"code", code}, {"stage", "metadata, before the message"}});
  if (env_.metrics != nullptr) {
    env_.metrics->Add(kRpcTotalMetric,
                      absl::StrCat(Label("method", method), ",", Label("code", code)), 1);
  }
  return ToGrpcStatus(p.status());
}

}  // namespace historian::server
