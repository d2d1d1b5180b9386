#include "server/services.h"
#include "server/status_util.h"
#include "server/write_request.h"

namespace historian::server {

grpc::Status IngestService::Write(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::WriteAck, v1::WriteRequest>* stream) {
  v1::WriteRequest request;
  while (stream->Read(&request)) {
    absl::StatusOr<v1::WriteAck> ack = HandleWrite(request, limits_, store_);
    // A batch the node cannot take ends the stream; the client resends it
    // (with the same batch_sequence) on a new stream.
    if (!ack.ok()) return ToGrpcStatus(ack.status());
    if (!stream->Write(*ack)) break;  // client went away; the batch is stored
  }
  return grpc::Status::OK;
}

grpc::Status IngestService::WriteBatch(grpc::ServerContext* context,
                                       const v1::WriteRequest* request, v1::WriteAck* ack) {
  absl::StatusOr<v1::WriteAck> result = HandleWrite(*request, limits_, store_);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *ack = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace historian::server
