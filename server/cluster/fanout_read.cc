#include "server/cluster/fanout_read.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/cancellation.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/query_fanout.h"
#include "server/read_token.h"
#include "server/rpc_env.h"
#include "server/status_util.h"

namespace historian::cluster {
namespace {

// Reads one run of tags from its remote owner and relays the pieces; the
// owner's token (run indexes) is rewritten to the request's.
absl::Status ReadRemote(const server::ServiceEnv& env, grpc::ServerContext* context,
                        const OwnerPart& part, const v1::ReadRequest& run_request, uint64_t limit,
                        size_t index_offset, grpc::ServerWriterInterface<v1::ReadResponse>* writer,
                        uint64_t* sent, bool* stopped, bool* client_gone) {
  auto stub = v1::Query::NewStub(env.member_channels->Get(part.member.address));
  grpc::ClientContext call;
  env.member_channels->PrepareForwardedQuery(*context, &call);
  call.AddMetadata(kReadLimitMetadataKey, absl::StrCat(limit));
  std::unique_ptr<grpc::ClientReader<v1::ReadResponse>> reader = stub->Read(&call, run_request);
  v1::ReadResponse piece;
  while (reader->Read(&piece)) {
    if (!piece.continuation_token().empty()) {
      size_t index = 0;
      int64_t cursor = 0;
      absl::Status s = server::DecodeReadToken(
          piece.continuation_token(), static_cast<size_t>(run_request.tags_size()),
          run_request.start_ns(), run_request.end_ns(), &index, &cursor);
      if (!s.ok()) {
        call.TryCancel();
        (void)reader->Finish();
        return absl::InternalError(
            absl::StrCat("Query.Read: member ", part.member.id,
                         " sent a token that is not its run's: ", s.message()));
      }
      piece.set_continuation_token(server::EncodeReadToken(index + index_offset, cursor));
      *stopped = true;
    }
    if (!writer->Write(piece)) {
      *client_gone = true;
      call.TryCancel();
      (void)reader->Finish();
      return absl::CancelledError("Query.Read: the client went away");
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return server::FromGrpcStatus(status);
  const auto& trailers = call.GetServerTrailingMetadata();
  auto it = trailers.find(kReadSentMetadataKey);
  if (it == trailers.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), sent)) {
    return absl::InternalError(absl::StrCat("Query.Read: member ", part.member.id,
                                            " did not say how many samples it sent"));
  }
  if (*sent > limit) {
    return absl::InternalError(absl::StrCat("Query.Read: member ", part.member.id, " sent ", *sent,
                                            " samples, over the ", limit, " asked for"));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<uint64_t> ForwardedReadLimit(const grpc::ServerContextBase& context) {
  if (!MemberChannels::IsForwarded(context)) return std::nullopt;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kReadLimitMetadataKey);
  uint64_t limit = 0;
  if (it == metadata.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &limit)) {
    return std::nullopt;
  }
  return limit;
}

grpc::Status FanOutRead(const server::ServiceEnv& env, const Placement& placement,
                        grpc::ServerContext* context, const v1::ReadRequest& request,
                        uint64_t limit, const LocalRead& local,
                        grpc::ServerWriterInterface<v1::ReadResponse>* writer) {
  const size_t num_tags = static_cast<size_t>(request.tags_size());
  size_t first_tag = 0;
  int64_t first_cursor = request.start_ns();
  const bool resumed = !request.continuation_token().empty();
  if (resumed) {
    absl::Status s =
        server::DecodeReadToken(request.continuation_token(), num_tags, request.start_ns(),
                                request.end_ns(), &first_tag, &first_cursor);
    if (!s.ok()) return server::ToGrpcStatus(s);
  }
  const std::string self = env.cluster->self_id();
  const std::vector<std::string> alive = env.cluster->alive_members();
  server::CancellationProbe cancel(context);
  uint64_t remaining = limit;
  size_t i = first_tag;
  while (i < num_tags) {
    if (cancel.Cancelled()) return grpc::Status::CANCELLED;
    // The run [i, j) of tags with the owner of tag i.
    OwnerPart part;
    part.member = placement.OwnerOfTag(request.tags(static_cast<int>(i)));
    part.self = part.member.id == self;
    size_t j = i;
    v1::ReadRequest run = request;
    run.clear_tags();
    run.clear_continuation_token();
    while (j < num_tags &&
           placement.OwnerOfTag(request.tags(static_cast<int>(j))).id == part.member.id) {
      const std::string& tag = request.tags(static_cast<int>(j));
      part.positions.push_back(static_cast<int>(j));
      const uint32_t shard = placement.ShardOfTag(tag);
      if (part.shards.empty() || part.shards.back() < shard) {
        part.shards.push_back(shard);
      } else if (std::find(part.shards.begin(), part.shards.end(), shard) == part.shards.end()) {
        part.shards.insert(std::lower_bound(part.shards.begin(), part.shards.end(), shard), shard);
      }
      *run.add_tags() = tag;
      ++j;
    }
    if (resumed && i == first_tag)
      run.set_continuation_token(server::EncodeReadToken(0, first_cursor));
    run.set_limit(remaining);  // 0 here means "none left": the metadata says so
    uint64_t sent = 0;
    bool stopped = false;
    absl::Status status;
    if (part.self) {
      grpc::Status s = local(run, remaining, i, writer, &sent, &stopped);
      CountParts(env, "Query.Read", {{&part, server::FromGrpcStatus(s)}});
      if (!s.ok()) return s;
    } else {
      bool client_gone = false;
      status =
          ReadRemote(env, context, part, run, remaining, i, writer, &sent, &stopped, &client_gone);
      CountParts(env, "Query.Read", {{&part, status}});
      if (client_gone) return grpc::Status::CANCELLED;
      if (!status.ok()) {
        return server::ToGrpcStatus(CombineOutcomes("Query.Read", {{&part, status}}, alive));
      }
    }
    if (stopped) return grpc::Status::OK;
    remaining -= std::min(sent, remaining);
    i = j;
  }
  return grpc::Status::OK;
}

}  // namespace historian::cluster
