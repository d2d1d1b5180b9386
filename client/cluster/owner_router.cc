#include "client/cluster/owner_router.h"

#include <chrono>
#include <future>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/cluster/write_split.h"
#include "api/core/bearer_token.h"
#include "api/core/status_macros.h"
#include "client/status_convert.h"
#include "client/tls_options.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace historian::client {

absl::StatusOr<v1::PlacementResponse> ReadPlacement(const ClientOptions& options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("no server endpoints given");
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                   MakeChannelCredentials(options.tls));
  grpc::ChannelArguments args;
  if (!options.tls.server_name.empty()) args.SetSslTargetNameOverride(options.tls.server_name);
  std::string errors;
  for (const std::string& address : options.endpoints) {
    auto stub = v1::Cluster::NewStub(grpc::CreateCustomChannel(address, credentials, args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoNanoseconds(options.timeout));
    if (!options.token.empty()) {
      context.AddMetadata(kAuthorizationMetadataKey, BearerValue(options.token));
    }
    v1::PlacementResponse placement;
    absl::Status s = FromGrpcStatus(stub->Placement(&context, {}, &placement));
    if (s.ok()) return placement;
    if (!absl::IsUnavailable(s)) {
      return absl::Status(s.code(),
                          absl::StrCat("Cluster.Placement at ", address, ": ", s.message()));
    }
    absl::StrAppend(&errors, errors.empty() ? "" : "; ", address, ": ", s.message());
  }
  return absl::UnavailableError(
      absl::StrCat("Cluster.Placement: no server reachable (", errors, ")"));
}

OwnerRouter::OwnerRouter(Client* known, ClientOptions options, absl::Duration placement_max_age)
    : known_(known), options_(std::move(options)), placement_max_age_(placement_max_age) {}

absl::StatusOr<std::unique_ptr<OwnerRouter>> OwnerRouter::Create(Client* known,
                                                                 const ClientOptions& options,
                                                                 absl::Duration placement_max_age) {
  std::unique_ptr<OwnerRouter> router(new OwnerRouter(known, options, placement_max_age));
  RETURN_IF_ERROR(router->RefreshPlacement());
  return router;
}

absl::Status OwnerRouter::RefreshPlacement() {
  absl::StatusOr<v1::PlacementResponse> read = ReadPlacement(options_);
  absl::MutexLock l(&mu_);
  ++stats_.placement_reads;
  if (!read.ok() && absl::IsUnimplemented(read.status())) {
    read = v1::PlacementResponse();  // a node without Cluster: not a cluster
  }
  if (!read.ok()) return read.status();
  placement_read_at_ = absl::Now();
  // A node that lags behind (older revision), or one without a placement
  // (num_shards 0) while we hold a cluster's, does not undo what we hold.
  if (routing::ReplacesPlacement(placement_.get(), *read)) {
    placement_ = std::make_shared<const v1::PlacementResponse>(*std::move(read));
    stats_.revision = placement_->revision();
    stats_.num_shards = placement_->num_shards();
  }
  return absl::OkStatus();
}

OwnerRouterStats OwnerRouter::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

absl::StatusOr<Client*> OwnerRouter::OwnerClient(const std::string& address) {
  absl::MutexLock l(&mu_);
  auto it = owners_.find(address);
  if (it != owners_.end()) return it->second.get();
  ClientOptions o = options_;
  o.endpoints = {address};
  ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Connect(o));
  Client* out = client.get();
  owners_.emplace(address, std::move(client));
  return out;
}

absl::StatusOr<v1::WriteAck> OwnerRouter::WriteBatch(const v1::WriteRequest& request) {
  std::shared_ptr<const v1::PlacementResponse> placement;
  bool stale = false;
  {
    absl::MutexLock l(&mu_);
    placement = placement_;
    stale = absl::Now() - placement_read_at_ > placement_max_age_;
  }
  if (stale) {
    // A failed read keeps the placement held: the nodes forward what a
    // stale placement sends to a former owner.
    RefreshPlacement().IgnoreError();
    absl::MutexLock l(&mu_);
    placement = placement_;
  }
  if (placement == nullptr || placement->num_shards() == 0) return known_->WriteBatch(request);

  ASSIGN_OR_RETURN(std::vector<routing::WritePart> parts,
                   routing::SplitWriteByOwner(request, *placement));
  std::vector<Client*> clients(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    ASSIGN_OR_RETURN(clients[i],
                     OwnerClient(placement->members(static_cast<int>(parts[i].owner)).address()));
  }
  // Parts in parallel: one on this thread, the others on their own.
  std::vector<std::future<absl::StatusOr<v1::WriteAck>>> sent;
  for (size_t i = 1; i < parts.size(); ++i) {
    sent.push_back(std::async(std::launch::async,
                              [&, i] { return clients[i]->WriteBatch(parts[i].request); }));
  }
  std::vector<absl::StatusOr<v1::WriteAck>> results;
  results.push_back(clients[0]->WriteBatch(parts[0].request));
  for (auto& f : sent) results.push_back(f.get());

  std::vector<v1::WriteAck> acks;
  absl::Status failed;
  std::string failed_owner;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      if (failed.ok()) {
        failed = results[i].status();
        const v1::ClusterMember& m = placement->members(static_cast<int>(parts[i].owner));
        failed_owner = absl::StrCat("member '", m.id(), "' (", m.address(), ")");
      }
      continue;
    }
    acks.push_back(*std::move(results[i]));
  }
  if (failed.ok()) {
    absl::MutexLock l(&mu_);
    ++stats_.batches_routed;
    stats_.parts_sent += parts.size();
    return routing::JoinWriteAcks(parts, acks);
  }
  // Maybe the placement moved, maybe the owner is down: read it again and
  // let the known node route the whole batch (each owner deduplicates).
  RefreshPlacement().IgnoreError();
  if (request.client_id().empty() || request.batch_sequence() == 0) {
    return absl::Status(failed.code(),
                        absl::StrCat("owner ", failed_owner, ": ", failed.message(),
                                     " (batch without client_id/batch_sequence: not resent)"));
  }
  {
    absl::MutexLock l(&mu_);
    ++stats_.batches_resent;
  }
  return known_->WriteBatch(request);
}

}  // namespace historian::client
