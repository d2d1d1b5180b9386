#include "absl/strings/str_cat.h"
#include "server/cancellation.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/fanout_catalog.h"
#include "server/cluster/lease_fence.h"
#include "server/cluster/listing_scope.h"
#include "server/cluster/named_tags_scope.h"
#include "server/cluster/query_fanout.h"
#include "server/proto_convert.h"
#include "server/services.h"
#include "server/status_util.h"

namespace historian::server {
namespace {
constexpr uint32_t kDefaultPageSize = 1000;
constexpr uint32_t kMaxPageSize = 10000;

absl::Status CheckBytes(absl::string_view field, size_t bytes, uint32_t limit,
                        absl::string_view flag) {
  if (bytes <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", bytes, " bytes, over the limit of ", limit, " (--", flag, ")"));
}

// Why CreateTag/UpdateTag refuse `tag` before the store sees it: an unknown
// value_type (it would read as "unchanged"), or metadata over its limit
// (every GetTag/ListTags answer carries it).
absl::Status CheckTagFields(const v1::Tag& tag, const Limits& limits) {
  if (!v1::ValueType_IsValid(tag.value_type())) {
    return absl::InvalidArgumentError(
        absl::StrCat("tag.value_type: ", static_cast<int>(tag.value_type()),
                     " is not a value type (0 unspecified, 1 double, 2 int64, 3 bool, 4 string)"));
  }
  if (absl::Status s = CheckBytes("tag.description", tag.description().size(),
                                  limits.max_tag_description_bytes, "max_tag_description_bytes");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckBytes("tag.unit", tag.unit().size(), limits.max_tag_unit_bytes,
                                  "max_tag_unit_bytes");
      !s.ok()) {
    return s;
  }
  size_t attribute_bytes = 0;
  for (const auto& [key, value] : tag.attributes()) attribute_bytes += key.size() + value.size();
  return CheckBytes("tag.attributes", attribute_bytes, limits.max_tag_attributes_bytes,
                    "max_tag_attributes_bytes");
}

// The placement to forward a call about `tag` by: null when this node
// answers it itself (not in a cluster, forwarded to it, or its owner).
std::shared_ptr<const cluster::Placement> ForwardPlacement(const ServiceEnv& env,
                                                           const grpc::ServerContext& context,
                                                           std::string_view tag,
                                                           bool read = false) {
  std::shared_ptr<const cluster::Placement> p =
      read ? cluster::ReadFanoutPlacement(env, context) : cluster::FanoutPlacement(env, context);
  if (p == nullptr || p->OwnerOfTag(tag).id == env.cluster->self_id()) return nullptr;
  return p;
}

// A call about `tag` that this node answers itself, as a part (forwarded
// to it, or its own): the scope refusing it when this node's placement
// gives the tag to another member (cluster/named_tags_scope.h).
absl::StatusOr<cluster::NamedTagsScope> OwnTagScope(const ServiceEnv& env,
                                                    const grpc::ServerContext& context,
                                                    std::string_view method, std::string_view tag,
                                                    cluster::NamedTagsScope::Access access) {
  return cluster::NamedTagsScope::Begin(env, context, method, {tag}, access);
}

constexpr auto kRead = cluster::NamedTagsScope::Access::kRead;
constexpr auto kChange = cluster::NamedTagsScope::Access::kChange;

// A change of `tag` stored here: refused while this member hands its shard
// over and its etcd lease may have run out (cluster/lease_fence.h), before
// the change (`held` asked before the placement was read) and after it
// (done, but not acknowledged).
absl::Status CheckLeaseFence(const ServiceEnv& env, const cluster::LeaseFence::LeaseCheck& lease,
                             std::string_view what, std::string_view tag) {
  if (env.lease_fence == nullptr || env.cluster == nullptr) return absl::OkStatus();
  return cluster::LeaseFence::CheckTagChange(lease, *env.cluster, env.store, what, tag);
}

cluster::LeaseFence::LeaseCheck LeaseHeld(const ServiceEnv& env) {
  return env.lease_fence != nullptr ? env.lease_fence->Check() : cluster::LeaseFence::LeaseCheck{};
}

// Runs `call` (a call about one tag: forwarded to its owner, or answered
// here) and again while it ends ABORTED and this node's placement changed
// since the attempt began, at most cluster::kPlacementAttempts times: the
// owner (or this node's own check, cluster/named_tags_scope.h) refused it
// because the placement moved, and an ABORTED attempt did nothing. By the
// newer placement it goes to the new owner. Never waits: a member behind
// this node still ends the call ABORTED (ask again).
grpc::Status AskAgainWhileMoved(const ServiceEnv& env, const std::function<grpc::Status()>& call) {
  for (int n = 1;; ++n) {
    std::shared_ptr<const cluster::Placement> before =
        env.cluster != nullptr ? env.cluster->placement() : nullptr;
    grpc::Status status = call();
    if (status.error_code() != grpc::StatusCode::ABORTED || n == cluster::kPlacementAttempts ||
        before == nullptr) {
      return status;
    }
    std::shared_ptr<const cluster::Placement> now = env.cluster->placement();
    if (now == nullptr || now == before) return status;
  }
}

// A change of one tag (CreateTag, UpdateTag, DeleteTag): forwarded to its
// owner, or, when this node answers it, `change_here` between the checks a
// change stored here needs: the part's ownership (NamedTagsScope), and the
// lease fence before the change and after it. Asked again while the
// placement moves (AskAgainWhileMoved).
grpc::Status ChangeOneTag(const ServiceEnv& env, const grpc::ServerContext& context,
                          std::string_view method, std::string_view tag,
                          const cluster::CatalogCall& forward,
                          const std::function<grpc::Status()>& change_here) {
  return AskAgainWhileMoved(env, [&]() -> grpc::Status {
    const cluster::LeaseFence::LeaseCheck held = LeaseHeld(env);
    if (auto p = ForwardPlacement(env, context, tag)) {
      return ToGrpcStatus(cluster::ForwardToOwner(env, *p, context, method, tag, forward));
    }
    if (auto own = OwnTagScope(env, context, method, tag, kChange); !own.ok()) {
      return ToGrpcStatus(own.status());
    }
    if (absl::Status s = CheckLeaseFence(env, held, method, tag); !s.ok()) return ToGrpcStatus(s);
    if (grpc::Status s = change_here(); !s.ok()) return s;
    return ToGrpcStatus(CheckLeaseFence(
        env, LeaseHeld(env),
        absl::StrCat(absl::string_view(method.data(), method.size()), " (done here)"), tag));
  });
}

}  // namespace

grpc::Status CatalogService::CreateTag(grpc::ServerContext* context,
                                       const v1::CreateTagRequest* request, v1::Tag* response) {
  return RunRpc(env_, context, "Catalog.CreateTag", RpcKind::kUnary, [&] {
    if (absl::Status s = CheckTagFields(request->tag(), env_.limits); !s.ok()) {
      return ToGrpcStatus(s);
    }
    return ChangeOneTag(
        env_, *context, "Catalog.CreateTag", request->tag().name(),
        [&](v1::Catalog::Stub* stub, grpc::ClientContext* c) {
          return stub->CreateTag(c, *request, response);
        },
        [&]() -> grpc::Status {
          absl::StatusOr<engine::TagInfo> info = store_->CreateTag(TagFromProto(request->tag()));
          if (!info.ok()) return ToGrpcStatus(info.status());
          TagToProto(*info, response);
          return grpc::Status::OK;
        });
  });
}

grpc::Status CatalogService::GetTag(grpc::ServerContext* context, const v1::GetTagRequest* request,
                                    v1::Tag* response) {
  return RunRpc(env_, context, "Catalog.GetTag", RpcKind::kUnary, [&] {
    return AskAgainWhileMoved(env_, [&]() -> grpc::Status {
      if (auto p = ForwardPlacement(env_, *context, request->name(), /*read=*/true)) {
        return ToGrpcStatus(
            cluster::ForwardToOwner(env_, *p, *context, "Catalog.GetTag", request->name(),
                                    [&](v1::Catalog::Stub* stub, grpc::ClientContext* c) {
                                      return stub->GetTag(c, *request, response);
                                    }));
      }
      absl::StatusOr<cluster::NamedTagsScope> own =
          OwnTagScope(env_, *context, "Catalog.GetTag", request->name(), kRead);
      if (!own.ok()) return ToGrpcStatus(own.status());
      // A shard move's handover: this node's catalog of the shard may lack
      // what the tail has not brought yet (checked first: no NOT_FOUND for it).
      absl::Status open = store_->CheckShardOpen(request->name());
      absl::StatusOr<engine::TagInfo> info =
          open.ok() ? store_->GetTag(request->name()) : absl::StatusOr<engine::TagInfo>(open);
      if (absl::Status s = own->End(); !s.ok()) return ToGrpcStatus(s);
      if (!info.ok()) return ToGrpcStatus(info.status());
      TagToProto(*info, response);
      return grpc::Status::OK;
    });
  });
}

grpc::Status CatalogService::UpdateTag(grpc::ServerContext* context,
                                       const v1::UpdateTagRequest* request, v1::Tag* response) {
  return RunRpc(env_, context, "Catalog.UpdateTag", RpcKind::kUnary, [&] {
    if (absl::Status s = CheckTagFields(request->tag(), env_.limits); !s.ok()) {
      return ToGrpcStatus(s);
    }
    // Forwarded, the owner checks the role a data change needs with the
    // same token.
    return ChangeOneTag(
        env_, *context, "Catalog.UpdateTag", request->tag().name(),
        [&](v1::Catalog::Stub* stub, grpc::ClientContext* c) {
          return stub->UpdateTag(c, *request, response);
        },
        [&]() -> grpc::Status {
          engine::TagInfo update = TagFromProto(request->tag());
          if (grpc::Status s = AuthorizeDataChange(*context, update); !s.ok()) return s;
          absl::StatusOr<engine::TagInfo> info = store_->UpdateTag(update);
          if (!info.ok()) return ToGrpcStatus(info.status());
          TagToProto(*info, response);
          return grpc::Status::OK;
        });
  });
}

grpc::Status CatalogService::AuthorizeDataChange(const grpc::ServerContext& context,
                                                 const engine::TagInfo& update) const {
  if (env_.auth == nullptr || !env_.auth->enabled()) return grpc::Status::OK;
  absl::StatusOr<engine::TagInfo> current = store_->GetTag(update.name);
  if (!current.ok()) return grpc::Status::OK;  // UpdateTag answers NOT_FOUND
  const bool retention = update.retention_ns != current->retention_ns;
  const bool type = update.type != ValueType::kUnspecified && update.type != current->type;
  if (!retention && !type) return grpc::Status::OK;
  // A shorter retention drops sealed data, as DeleteTag does: admin only.
  absl::StatusOr<Principal> p = env_.auth->Authorize(context, kUpdateTagDataMethod);
  return p.ok() ? grpc::Status::OK : ToGrpcStatus(p.status());
}

grpc::Status CatalogService::DeleteTag(grpc::ServerContext* context,
                                       const v1::DeleteTagRequest* request,
                                       v1::DeleteTagResponse* response) {
  return RunRpc(env_, context, "Catalog.DeleteTag", RpcKind::kUnary, [&] {
    return ChangeOneTag(
        env_, *context, "Catalog.DeleteTag", request->name(),
        [&](v1::Catalog::Stub* stub, grpc::ClientContext* c) {
          return stub->DeleteTag(c, *request, response);
        },
        [&] { return ToGrpcStatus(store_->DeleteTag(request->name())); });
  });
}

grpc::Status CatalogService::ListTags(grpc::ServerContext* context,
                                      const v1::ListTagsRequest* request,
                                      v1::ListTagsResponse* response) {
  return RunRpc(env_, context, "Catalog.ListTags", RpcKind::kUnary, [&] {
    uint32_t page_size = request->page_size() == 0 ? kDefaultPageSize : request->page_size();
    if (page_size > kMaxPageSize) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("page_size: ", page_size, " is over the limit of ", kMaxPageSize)));
    }
    if (absl::Status s = CheckGlob(request->glob(), env_.limits); !s.ok()) return ToGrpcStatus(s);
    if (auto placement = cluster::ReadFanoutPlacement(env_, *context)) {
      return ToGrpcStatus(cluster::AskAgainOnPlacementChange(
          *env_.cluster, placement, [&](const cluster::Placement& p) {
            response->Clear();
            return cluster::FanOutListTags(
                env_, p, context, *request, page_size,
                [&](const v1::ListTagsRequest& r, v1::ListTagsResponse* out) {
                  return FromGrpcStatus(ListLocal(context, r, page_size, out));
                },
                response);
          }));
    }
    return ListLocal(context, *request, page_size, response);
  });
}

grpc::Status CatalogService::ListLocal(grpc::ServerContext* context, const v1::ListTagsRequest& req,
                                       uint32_t page_size, v1::ListTagsResponse* response) {
  const v1::ListTagsRequest* request = &req;
  std::map<std::string, std::string> attrs(request->attributes().begin(),
                                           request->attributes().end());
  // In a cluster every owner lists the tags of the shards it owns, by one
  // placement for the whole scan (refused when it is not the coordinator's,
  // or while a shard handed over here may lack tags): never a short list.
  absl::StatusOr<cluster::ListingScope> scope =
      cluster::ListingScope::Begin(env_, *context, "Catalog.ListTags");
  if (!scope.ok()) return ToGrpcStatus(scope.status());
  CancellationProbe cancel(context);
  std::function<bool(std::string_view)> owned;
  if (env_.cluster != nullptr) {
    owned = [&](std::string_view name) { return scope->Answers(name); };
  }
  ListTagsResult result = store_->ListTags(
      request->glob(), attrs, request->page_token(), page_size, [&] { return cancel.Cancelled(); },
      owned);
  if (result.cancelled) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "ListTags: cancelled or past its deadline");
  }
  if (absl::Status s = scope->End(); !s.ok()) return ToGrpcStatus(s);
  // A page ends early (with a token) once its tags pass
  // --max_list_tags_response_bytes; the first tag is always sent.
  size_t bytes = 0;
  for (const auto& info : result.tags) {
    if (bytes > env_.limits.max_list_tags_response_bytes) {
      response->set_next_page_token(response->tags(response->tags_size() - 1).name());
      return grpc::Status::OK;
    }
    v1::Tag* tag = response->add_tags();
    TagToProto(info, tag);
    bytes += tag->ByteSizeLong();
  }
  response->set_next_page_token(result.next_page_token);
  return grpc::Status::OK;
}

}  // namespace historian::server
