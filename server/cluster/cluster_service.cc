#include "server/cluster/cluster_service.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/shard_copy_client.h"
#include "server/cluster/site_rules.h"
#include "server/status_util.h"
#include "storage/engine/column_families.h"
#include "storage/store.h"

namespace historian::server {
namespace {

grpc::Status NotInCluster() {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "this node runs without --cluster_etcd: it is not in a site cluster");
}

}  // namespace

grpc::Status ClusterService::Placement(grpc::ServerContext* context,
                                       const v1::PlacementRequest* /*request*/,
                                       v1::PlacementResponse* response) {
  return RunRpc(env_, context, "Cluster.Placement", RpcKind::kUnary, [&] {
    std::shared_ptr<const cluster::Placement> placement =
        env_.cluster != nullptr ? env_.cluster->placement() : nullptr;
    if (placement == nullptr) {
      // A single node: no shards, no members; a client sends it everything.
      response->set_site(env_.store->options().site);
      response->set_num_shards(0);
      return grpc::Status::OK;
    }
    *response = placement->ToProto(env_.cluster->alive_members());
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::Init(grpc::ServerContext* context,
                                  const v1::ClusterInitRequest* request,
                                  v1::ClusterInitResponse* response) {
  return RunRpc(env_, context, "Cluster.Init", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::ClusterInitResponse> r = admin_->Init(request->num_shards());
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::Status(grpc::ServerContext* context,
                                    const v1::ClusterStatusRequest* /*request*/,
                                    v1::ClusterStatusResponse* response) {
  return RunRpc(env_, context, "Cluster.Status", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::ClusterStatusResponse> r = admin_->Status();
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::AddNode(grpc::ServerContext* context,
                                     const v1::AddNodeRequest* request,
                                     v1::PlacementChangeResponse* response) {
  return RunRpc(env_, context, "Cluster.AddNode", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::PlacementChangeResponse> r = admin_->AddNode(*request);
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::RemoveNode(grpc::ServerContext* context,
                                        const v1::RemoveNodeRequest* request,
                                        v1::PlacementChangeResponse* response) {
  return RunRpc(env_, context, "Cluster.RemoveNode", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::PlacementChangeResponse> r = admin_->RemoveNode(*request);
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::CancelMoves(grpc::ServerContext* context,
                                         const v1::CancelMovesRequest* request,
                                         v1::PlacementChangeResponse* response) {
  return RunRpc(env_, context, "Cluster.CancelMoves", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::PlacementChangeResponse> r = admin_->CancelMoves(*request);
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::FenceWithoutSource(grpc::ServerContext* context,
                                                const v1::FenceWithoutSourceRequest* request,
                                                v1::FenceWithoutSourceResponse* response) {
  return RunRpc(env_, context, "Cluster.FenceWithoutSource", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::FenceWithoutSourceResponse> r = admin_->FenceWithoutSource(*request);
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::CheckShard(uint32_t num_shards, uint32_t shard) const {
  std::shared_ptr<const cluster::Placement> placement =
      env_.cluster != nullptr ? env_.cluster->placement() : nullptr;
  if (placement == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this node has no placement: it is not in a site cluster (yet)");
  }
  if (num_shards != placement->num_shards()) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("num_shards: ", num_shards, " is not this node's placement's (",
                     placement->num_shards(), ")"));
  }
  if (shard >= num_shards) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("shard: ", shard, " must be below num_shards (", num_shards, ")"));
  }
  return grpc::Status::OK;
}

namespace {

// CopyShardRequest.max_piece_bytes: 0 or up to 2 MiB.
constexpr uint32_t kMaxPieceBytes = uint32_t{2} << 20;

// About how many piece bytes a copy of `shard` holds: the chunks' and
// rollups' bytes (SST files and memtables) and the heads', in the shard's
// share of the catalog's tags. For progress only (`cluster status`'s
// copied/total and the copy's ETA); 0 when the store holds no tag.
uint64_t EstimateShardBytes(const Store& store, uint32_t num_shards, uint32_t shard) {
  const std::map<uint32_t, uint64_t> counts = store.TagCountsByShard(num_shards);
  uint64_t all_tags = 0;
  for (const auto& [s, n] : counts) all_tags += n;
  auto in_shard = counts.find(shard);
  if (all_tags == 0 || in_shard == counts.end()) return 0;
  uint64_t bytes = store.Stats().head_bytes;
  for (const Store::ColumnFamilyStats& cf : store.ColumnFamilyProperties()) {
    if (cf.name == engine::kChunksCf || cf.name == engine::kRollupsCf) {
      bytes += cf.sst_bytes + cf.memtable_bytes;
    }
  }
  return static_cast<uint64_t>(static_cast<double>(bytes) * static_cast<double>(in_shard->second) /
                               static_cast<double>(all_tags));
}

grpc::Status CheckPieceBytes(uint32_t bytes, const char* field) {
  if (bytes > kMaxPieceBytes) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat(field, ": ", bytes, " is above ", kMaxPieceBytes, " (2 MiB; 0: 1 MiB)"));
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ClusterService::CopyShard(grpc::ServerContext* context,
                                       const v1::CopyShardRequest* request,
                                       grpc::ServerWriter<v1::CopyShardChunk>* writer) {
  return RunRpc(env_, context, "Cluster.CopyShard", RpcKind::kStream, [&] {
    grpc::Status ok = CheckShard(request->num_shards(), request->shard());
    if (!ok.ok()) return ok;
    ok = CheckPieceBytes(request->max_piece_bytes(), "max_piece_bytes");
    if (!ok.ok()) return ok;
    // The move ack keeps this node's own log from here on for the target's
    // tail (step 4): set before the export's snapshot at P >= here (both
    // count applied entries), or a seal pass could trim entries after P
    // meanwhile. The janitor clears it once no move of the shard from this
    // node is left.
    if (absl::Status s = env_.store->SetMoveAck(request->shard(), env_.store->OwnAppliedSequence());
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    const uint64_t estimated =
        EstimateShardBytes(*env_.store, request->num_shards(), request->shard());
    // One piece is held back so the last one can say so.
    std::optional<std::string> held;
    uint64_t position = 0;
    auto send = [&](std::string piece, bool last) -> absl::Status {
      v1::CopyShardChunk chunk;
      chunk.set_piece(std::move(piece));
      chunk.set_position(position);
      chunk.set_last(last);
      chunk.set_estimated_bytes(estimated);
      if (context->IsCancelled() || !writer->Write(chunk)) {
        return absl::CancelledError("Cluster.CopyShard: the caller went away");
      }
      return absl::OkStatus();
    };
    absl::StatusOr<shard_copy::ExportStats> stats =
        env_.store->ExportShard(request->num_shards(), request->shard(), request->max_piece_bytes(),
                                [&](std::string piece) -> absl::Status {
                                  if (position == 0 && !held.has_value()) {
                                    // The first piece's header carries P; every message repeats it.
                                    std::vector<shard_copy::Record> records;
                                    RETURN_IF_ERROR(shard_copy::ParsePiece(piece, &records));
                                    if (!records.empty())
                                      position = records.front().header.position;
                                  }
                                  if (held.has_value())
                                    RETURN_IF_ERROR(send(*std::move(held), false));
                                  held = std::move(piece);
                                  return absl::OkStatus();
                                });
    if (!stats.ok()) return ToGrpcStatus(stats.status());
    if (held.has_value()) {
      absl::Status s = send(*std::move(held), true);
      if (!s.ok()) return ToGrpcStatus(s);
    }
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::PullShard(grpc::ServerContext* context,
                                       const v1::PullShardRequest* request,
                                       v1::PullShardResponse* response) {
  return RunRpc(env_, context, "Cluster.PullShard", RpcKind::kUnary, [&] {
    grpc::Status ok = CheckShard(request->num_shards(), request->shard());
    if (!ok.ok()) return ok;
    ok = CheckPieceBytes(request->max_piece_bytes(), "max_piece_bytes");
    if (!ok.ok()) return ok;
    if (request->source().empty() || env_.member_channels == nullptr) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "source: the host:port of the node to copy from is required");
    }
    std::unique_ptr<v1::Cluster::Stub> stub =
        v1::Cluster::NewStub(env_.member_channels->Get(request->source()));
    grpc::ClientContext call;
    cluster::MemberChannels::PrepareForwardedCall(*context, &call);  // the caller's token
    absl::StatusOr<shard_copy::MoveMarker> marker = cluster::PullShardCopy(
        stub.get(), &call, env_.store,
        {request->num_shards(), request->shard(), request->max_piece_bytes(), request->source()});
    if (!marker.ok()) return ToGrpcStatus(marker.status());
    response->set_position(marker->position);
    response->set_pieces(marker->pieces);
    response->set_bytes(marker->bytes);
    response->set_complete(marker->complete);
    response->set_source(marker->source);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::SyncRule(grpc::ServerContext* context,
                                      const v1::SyncRuleRequest* request,
                                      v1::SyncRuleResponse* response) {
  return RunRpc(env_, context, "Cluster.SyncRule", RpcKind::kUnary, [&] {
    if (env_.site_rules == nullptr) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "Cluster.SyncRule: this node is not in a site cluster");
    }
    if (request->name().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name: the rule's name is required");
    }
    absl::StatusOr<Version> held = env_.site_rules->Sync(request->name());
    if (!held.ok()) return ToGrpcStatus(held.status());
    response->set_held_version(*held);
    return grpc::Status::OK;
  });
}

}  // namespace historian::server
