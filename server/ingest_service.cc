#include "absl/strings/str_cat.h"
#include "server/services.h"
#include "server/status_util.h"
#include "server/write_request.h"

namespace historian::server {
namespace {

uint64_t SamplesIn(const v1::WriteRequest& request) {
  uint64_t n = 0;
  for (const auto& series : request.series()) n += series.samples_size();
  return n;
}

std::string CodeLabel(int code) {
  return Label("reason", absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
}

}  // namespace

absl::StatusOr<v1::WriteAck> IngestService::Handle(const v1::WriteRequest& request) {
  absl::StatusOr<v1::WriteAck> ack;
  if (env_.write_gate != nullptr) {
    if (absl::Status s = env_.write_gate->BeforeWrite(); !s.ok()) ack = s;
  }
  if (ack.status().ok() || !absl::IsUnavailable(ack.status())) {
    ack = HandleWrite(request, limits_, store_);
    if (!ack.ok() && env_.write_gate != nullptr) ack = env_.write_gate->AfterWrite(ack.status());
  }
  if (env_.metrics != nullptr) {
    if (!ack.ok()) {
      env_.metrics->Add(kSamplesRejectedMetric, CodeLabel(static_cast<int>(ack.status().code())),
                        static_cast<double>(SamplesIn(request)));
    } else {
      env_.metrics->Add(kBatchesAckedMetric, "", 1);
      if (!ack->duplicate()) {
        env_.metrics->Add(kSamplesAckedMetric, "", static_cast<double>(ack->accepted_count()));
      }
      for (const v1::RejectedSample& r : ack->rejected()) {
        env_.metrics->Add(kSamplesRejectedMetric, CodeLabel(r.code()), 1);
      }
    }
  }
  return ack;
}

grpc::Status IngestService::Write(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::WriteAck, v1::WriteRequest>* stream) {
  return RunRpc(env_, context, "Ingest.Write", RpcKind::kStream, [&] {
    v1::WriteRequest request;
    while (stream->Read(&request)) {
      absl::StatusOr<v1::WriteAck> ack = Handle(request);
      // A batch the node cannot take ends the stream; the client resends it
      // (with the same batch_sequence) on a new stream.
      if (!ack.ok()) return ToGrpcStatus(ack.status());
      if (!stream->Write(*ack)) break;  // client went away; the batch is stored
    }
    return grpc::Status::OK;
  });
}

grpc::Status IngestService::WriteBatch(grpc::ServerContext* context,
                                       const v1::WriteRequest* request, v1::WriteAck* ack) {
  return RunRpc(env_, context, "Ingest.WriteBatch", RpcKind::kUnary, [&] {
    absl::StatusOr<v1::WriteAck> result = Handle(*request);
    if (!result.ok()) return ToGrpcStatus(result.status());
    *ack = std::move(*result);
    return grpc::Status::OK;
  });
}

}  // namespace historian::server
