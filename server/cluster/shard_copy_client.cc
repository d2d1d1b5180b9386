#include "server/cluster/shard_copy_client.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "server/status_util.h"

namespace historian::cluster {

absl::StatusOr<shard_copy::MoveMarker> PullShardCopy(v1::Cluster::StubInterface* stub,
                                                     grpc::ClientContext* context, Store* store,
                                                     const PullShardOptions& options) {
  v1::CopyShardRequest request;
  request.set_num_shards(options.num_shards);
  request.set_shard(options.shard);
  request.set_max_piece_bytes(options.max_piece_bytes);
  std::unique_ptr<grpc::ClientReaderInterface<v1::CopyShardChunk>> reader =
      stub->CopyShard(context, request);
  shard_copy::MoveMarker marker;
  marker.source = options.source_name;
  v1::CopyShardChunk chunk;
  absl::Status failed;
  bool last = false;
  while (reader->Read(&chunk)) {
    if (last) {
      failed = absl::DataLossError("Cluster.CopyShard: a message after the last one");
      break;
    }
    failed = store->ImportShardPiece(options.shard, chunk.piece(), &marker);
    if (!failed.ok()) break;
    last = chunk.last();
    if (options.on_piece) options.on_piece(marker.bytes, chunk.estimated_bytes());
  }
  if (!failed.ok()) {
    context->TryCancel();
    (void)reader->Finish();  // cancelled: our error is the one to report
    return failed;
  }
  RETURN_IF_ERROR(server::FromGrpcStatus(reader->Finish()));
  if (!last || !marker.complete) {
    return absl::DataLossError(absl::StrCat("Cluster.CopyShard of shard ", options.shard,
                                            " ended without its last piece (", marker.pieces,
                                            " applied)"));
  }
  return marker;
}

}  // namespace historian::cluster
