#include "server/admin_service.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/listing_scope.h"
#include "server/cluster/member_channels.h"
#include "server/logging.h"
#include "server/site_verify.h"
#include "server/status_util.h"

namespace historian::server {
namespace {

uint64_t TotalSstBytes(const Store& store) {
  uint64_t total = 0;
  for (const auto& cf : store.ColumnFamilyProperties()) total += cf.sst_bytes;
  return total;
}

}  // namespace

grpc::Status AdminService::Stats(grpc::ServerContext* context, const v1::StatsRequest*,
                                 v1::StatsResponse* response) {
  return RunRpc(env_, context, "Admin.Stats", RpcKind::kUnary, [&] {
    StoreStats stats = store_->Stats();
    response->set_site(store_->options().site);
    absl::StatusOr<std::string> twin_map = store_->TwinMap();
    if (!twin_map.ok()) return ToGrpcStatus(twin_map.status());
    response->set_twin_map(*twin_map);
    response->set_tags(stats.tags);
    response->set_head_samples(stats.head_samples);
    response->set_head_tags(stats.head_tags);
    response->set_head_bytes(stats.head_bytes);
    response->set_catalog_bytes(stats.catalog_bytes);
    response->set_memtable_bytes(stats.memtable_bytes);
    response->set_block_cache_bytes(stats.block_cache_bytes);
    response->set_block_cache_pinned_bytes(stats.block_cache_pinned_bytes);
    response->set_table_readers_bytes(stats.table_readers_bytes);
    response->set_chunks_sealed(stats.chunks_sealed);
    response->set_chunks_merged(stats.chunks_merged);
    response->set_chunks_rewritten(stats.chunks_rewritten);
    response->set_log_entries_trimmed(stats.log_entries_trimmed);
    response->set_own_log_sequence(stats.own_sequence);
    if (replicator_ != nullptr) {
      for (auto& p : replicator_->Status()) {
        if (replication_ != nullptr) replication_->FillOutbound(&p);
        *response->add_peers() = std::move(p);
      }
    }
    for (const Store::ColumnFamilyStats& cf : store_->ColumnFamilyProperties()) {
      v1::ColumnFamilyStats* out = response->add_column_families();
      out->set_name(cf.name);
      out->set_sst_bytes(cf.sst_bytes);
      out->set_pending_compaction_bytes(cf.pending_compaction_bytes);
      out->set_memtable_bytes(cf.memtable_bytes);
      out->set_table_readers_bytes(cf.table_readers_bytes);
      out->set_estimated_keys(cf.estimated_keys);
      out->set_write_stops(cf.write_stops);
      out->set_write_slowdowns(cf.write_slowdowns);
    }
    response->set_writes_accepted(env_.write_gate == nullptr || env_.write_gate->writes_accepted());
    if (env_.write_gate != nullptr) response->set_write_error(env_.write_gate->last_error());
    return grpc::Status::OK;
  });
}

grpc::Status AdminService::Verify(grpc::ServerContext* context, const v1::VerifyRequest* request,
                                  v1::VerifyResponse* response) {
  return RunRpc(env_, context, "Admin.Verify", RpcKind::kUnary, [&] {
    // In a site cluster, the member asked verifies the whole site: it asks
    // every other member for its owned shards and adds the answers up.
    if (env_.cluster != nullptr && env_.cluster->placement() != nullptr &&
        env_.member_channels != nullptr && !cluster::MemberChannels::IsForwarded(*context)) {
      absl::StatusOr<v1::VerifyResponse> total = VerifyAcrossMembers(
          env_, *context, *request, [&]() -> absl::StatusOr<v1::VerifyResponse> {
            v1::VerifyResponse mine;
            grpc::Status st = DoVerify(*request, &mine);
            if (!st.ok()) return FromGrpcStatus(st);
            return mine;
          });
      if (!total.ok()) return ToGrpcStatus(total.status());
      *response = std::move(*total);
      return grpc::Status::OK;
    }
    // A member's part covers the shards its placement gives it: refused
    // when those are not the ones the caller split by, or changed during it.
    absl::StatusOr<cluster::ListingScope> scope =
        cluster::ListingScope::Begin(env_, *context, "Admin.Verify");
    if (!scope.ok()) return ToGrpcStatus(scope.status());
    grpc::Status status = DoVerify(*request, response);
    if (absl::Status end = scope->End(); !end.ok()) return ToGrpcStatus(end);
    return status;
  });
}

grpc::Status AdminService::DoVerify(const v1::VerifyRequest& request,
                                    v1::VerifyResponse* response) {
  if (replicator_ == nullptr) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        absl::StrCat("peer_site: this node has no peers (--peers is empty)")));
  }
  if (request.start_ns() > request.end_ns() ||
      (request.start_ns() == request.end_ns() && request.start_ns() != 0)) {
    return ToGrpcStatus(absl::InvalidArgumentError("start_ns: must be below end_ns"));
  }
  absl::StatusOr<v1::VerifyResponse> v = replicator_->Verify(
      request.peer_site(), request.start_ns(), request.end_ns(), request.repair());
  if (!v.ok()) return ToGrpcStatus(v.status());
  *response = std::move(*v);
  return grpc::Status::OK;
}

grpc::Status AdminService::Backup(grpc::ServerContext* context, const v1::BackupRequest* request,
                                  v1::BackupResponse* response) {
  return RunRpc(env_, context, "Admin.Backup", RpcKind::kUnary,
                [&] { return DoBackup(*request, response); });
}

grpc::Status AdminService::DoBackup(const v1::BackupRequest& request,
                                    v1::BackupResponse* response) {
  if (request.dir().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("dir: the backup directory is required"));
  }
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(request.dir(), ec);
  if (ec) return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat("dir: ", ec.message())));
  // A missing parent is the caller's mistake, not a passing outage: retrying
  // (as clients do on UNAVAILABLE) cannot help.
  std::filesystem::path target = dir.lexically_normal();
  if (target.filename().empty()) target = target.parent_path();  // "a/b/" -> "a/b"
  if (std::filesystem::path parent = target.parent_path();
      !std::filesystem::is_directory(parent, ec)) {
    return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
        "dir: the parent directory ", parent.string(), " does not exist (create it first)")));
  }
  absl::MutexLock l(&maintenance_mu_);
  const absl::Time start = absl::Now();
  LogInfo("admin", "backup started", {{"dir", dir.string()}});
  absl::Status s = store_->Backup(dir.string());
  if (!s.ok()) {
    LogWarning("admin", "backup failed", {{"dir", dir.string()}, {"error", s.ToString()}});
    return ToGrpcStatus(s);
  }
  uint64_t bytes = 0, files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) {
      bytes += entry.file_size(ec);
      ++files;
    }
  }
  response->set_dir(dir.string());
  response->set_bytes(bytes);
  response->set_files(files);
  response->set_seconds(absl::ToDoubleSeconds(absl::Now() - start));
  LogInfo("admin", "backup done",
          {{"dir", dir.string()}, {"bytes", absl::StrCat(bytes)}, {"files", absl::StrCat(files)}});
  return grpc::Status::OK;
}

grpc::Status AdminService::Compact(grpc::ServerContext* context, const v1::CompactRequest*,
                                   v1::CompactResponse* response) {
  return RunRpc(env_, context, "Admin.Compact", RpcKind::kUnary,
                [&] { return DoCompact(response); });
}

grpc::Status AdminService::DoCompact(v1::CompactResponse* response) {
  absl::MutexLock l(&maintenance_mu_);
  const absl::Time start = absl::Now();
  response->set_sst_bytes_before(TotalSstBytes(*store_));
  LogInfo("admin", "compaction started");
  absl::Status s = store_->Compact();
  if (!s.ok()) return ToGrpcStatus(s);
  response->set_sst_bytes_after(TotalSstBytes(*store_));
  response->set_seconds(absl::ToDoubleSeconds(absl::Now() - start));
  LogInfo("admin", "compaction done",
          {{"sst_bytes_before", absl::StrCat(response->sst_bytes_before())},
           {"sst_bytes_after", absl::StrCat(response->sst_bytes_after())}});
  return grpc::Status::OK;
}

}  // namespace historian::server
