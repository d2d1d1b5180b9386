#include "absl/strings/str_cat.h"
#include "server/cancellation.h"
#include "server/proto_convert.h"
#include "server/services.h"
#include "server/status_util.h"

namespace historian::server {
namespace {
constexpr uint32_t kDefaultPageSize = 1000;
constexpr uint32_t kMaxPageSize = 10000;
}  // namespace

grpc::Status CatalogService::CreateTag(grpc::ServerContext* context,
                                       const v1::CreateTagRequest* request, v1::Tag* response) {
  return RunRpc(env_, context, "Catalog.CreateTag", RpcKind::kUnary, [&] {
    absl::StatusOr<engine::TagInfo> info = store_->CreateTag(TagFromProto(request->tag()));
    if (!info.ok()) return ToGrpcStatus(info.status());
    TagToProto(*info, response);
    return grpc::Status::OK;
  });
}

grpc::Status CatalogService::GetTag(grpc::ServerContext* context, const v1::GetTagRequest* request,
                                    v1::Tag* response) {
  return RunRpc(env_, context, "Catalog.GetTag", RpcKind::kUnary, [&] {
    absl::StatusOr<engine::TagInfo> info = store_->GetTag(request->name());
    if (!info.ok()) return ToGrpcStatus(info.status());
    TagToProto(*info, response);
    return grpc::Status::OK;
  });
}

grpc::Status CatalogService::UpdateTag(grpc::ServerContext* context,
                                       const v1::UpdateTagRequest* request, v1::Tag* response) {
  return RunRpc(env_, context, "Catalog.UpdateTag", RpcKind::kUnary, [&] {
    engine::TagInfo update = TagFromProto(request->tag());
    if (grpc::Status s = AuthorizeDataChange(*context, update); !s.ok()) return s;
    absl::StatusOr<engine::TagInfo> info = store_->UpdateTag(update);
    if (!info.ok()) return ToGrpcStatus(info.status());
    TagToProto(*info, response);
    return grpc::Status::OK;
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
                                       v1::DeleteTagResponse*) {
  return RunRpc(env_, context, "Catalog.DeleteTag", RpcKind::kUnary,
                [&] { return ToGrpcStatus(store_->DeleteTag(request->name())); });
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
    std::map<std::string, std::string> attrs(request->attributes().begin(),
                                             request->attributes().end());
    CancellationProbe cancel(context);
    ListTagsResult result = store_->ListTags(request->glob(), attrs, request->page_token(),
                                             page_size, [&] { return cancel.Cancelled(); });
    if (result.cancelled) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "ListTags: cancelled or past its deadline");
    }
    for (const auto& info : result.tags) TagToProto(info, response->add_tags());
    response->set_next_page_token(result.next_page_token);
    return grpc::Status::OK;
  });
}

}  // namespace historian::server
