#include <algorithm>
#include <functional>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "server/cancellation.h"
#include "server/cluster/fanout_queries.h"
#include "server/cluster/fanout_read.h"
#include "server/cluster/listing_scope.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/named_tags_scope.h"
#include "server/cluster/query_fanout.h"
#include "server/proto_convert.h"
#include "server/read_token.h"
#include "server/services.h"
#include "server/status_util.h"
#include "server/subscriptions/subscribe_reactor.h"
#include "storage/engine/coding.h"
#include "storage/engine/version.h"

namespace historian::server {
namespace {

// [start, end) is half-open: start == end is an empty range (an empty
// answer), start > end is a mistake.
absl::Status ValidateRange(int64_t start, int64_t end) {
  if (start > end) {
    return absl::InvalidArgumentError(
        absl::StrCat("start_ns: ", start, " must not be above end_ns ", end));
  }
  return absl::OkStatus();
}

// Passes a Read's pieces on and counts them: a fanned-out Read is asked
// again after a placement change only while it has sent nothing.
class CountingReadWriter final : public grpc::ServerWriterInterface<v1::ReadResponse> {
 public:
  explicit CountingReadWriter(grpc::ServerWriterInterface<v1::ReadResponse>* out) : out_(out) {}
  void SendInitialMetadata() override { out_->SendInitialMetadata(); }
  bool Write(const v1::ReadResponse& msg, grpc::WriteOptions options) override {
    ++written_;
    return out_->Write(msg, options);
  }
  size_t written() const { return written_; }

 private:
  grpc::ServerWriterInterface<v1::ReadResponse>* const out_;
  size_t written_ = 0;
};

}  // namespace

grpc::Status QueryService::Read(grpc::ServerContext* context, const v1::ReadRequest* request,
                                grpc::ServerWriter<v1::ReadResponse>* writer) {
  return ReadTo(context, request, writer);
}

grpc::Status QueryService::ReadTo(grpc::ServerContext* context, const v1::ReadRequest* request,
                                  grpc::ServerWriterInterface<v1::ReadResponse>* writer) {
  return RunRpc(env_, context, "Query.Read", RpcKind::kStream,
                [&] { return DoRead(context, request, writer); });
}

grpc::Status QueryService::Latest(grpc::ServerContext* context, const v1::LatestRequest* request,
                                  v1::LatestResponse* response) {
  return RunRpc(env_, context, "Query.Latest", RpcKind::kUnary, [&] {
    if (auto placement = cluster::ReadFanoutPlacement(env_, *context)) {
      return ToGrpcStatus(cluster::AskAgainOnPlacementChange(
          *env_.cluster, placement, [&](const cluster::Placement& p) {
            response->Clear();
            return cluster::FanOutLatest(
                env_, p, context, *request,
                [&](const v1::LatestRequest& part, v1::LatestResponse* out) {
                  return FromGrpcStatus(DoLatest(context, &part, out));
                },
                response);
          }));
    }
    return DoLatest(context, request, response);
  });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* QueryService::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return SubscribeReactor::Start(env_, env_.subscriptions, context, request);
}

grpc::Status QueryService::DoRead(grpc::ServerContext* context, const v1::ReadRequest* request,
                                  grpc::ServerWriterInterface<v1::ReadResponse>* writer) {
  const int64_t start = request->start_ns(), end = request->end_ns();
  if (request->tags_size() == 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("tags: at least one tag is required"));
  }
  if (static_cast<uint32_t>(request->tags_size()) > limits_.max_tags_per_query) {
    return ToGrpcStatus(absl::ResourceExhaustedError(
        absl::StrCat("tags: ", request->tags_size(), " tags, over the limit of ",
                     limits_.max_tags_per_query, " (--max_tags_per_query)")));
  }
  if (absl::Status s = ValidateRange(start, end); !s.ok()) return ToGrpcStatus(s);
  // end - start may overflow int64; compare in unsigned arithmetic.
  if (limits_.max_read_range_ns > 0 && static_cast<uint64_t>(end) - static_cast<uint64_t>(start) >
                                           static_cast<uint64_t>(limits_.max_read_range_ns)) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "end_ns - start_ns: the range spans ",
        (static_cast<uint64_t>(end) - static_cast<uint64_t>(start)) /
            static_cast<uint64_t>(engine::kNanosPerSecond),
        " s, over the limit of ", limits_.max_read_range_ns / engine::kNanosPerSecond,
        " s for raw reads (--max_read_range); split the range or use Aggregate/Plot")));
  }
  uint64_t limit = request->limit() == 0
                       ? limits_.max_read_samples
                       : std::min<uint64_t>(request->limit(), limits_.max_read_samples);
  if (std::optional<uint64_t> forwarded = cluster::ForwardedReadLimit(*context)) {
    limit = std::min(*forwarded, limits_.max_read_samples);
  }
  if (auto placement = cluster::ReadFanoutPlacement(env_, *context)) {
    CountingReadWriter counted(writer);
    return ToGrpcStatus(cluster::AskAgainOnPlacementChange(
        *env_.cluster, placement,
        [&](const cluster::Placement& p) {
          return FromGrpcStatus(cluster::FanOutRead(
              env_, p, context, *request, limit,
              [&](const v1::ReadRequest& run, uint64_t run_limit, size_t index_offset,
                  grpc::ServerWriterInterface<v1::ReadResponse>* out, uint64_t* sent,
                  bool* stopped) {
                return ReadLocal(context, run, run_limit, index_offset, out, sent, stopped);
              },
              &counted));
        },
        [&] { return counted.written() == 0; }));
  }
  uint64_t sent = 0;
  bool stopped = false;
  grpc::Status status = ReadLocal(context, *request, limit, 0, writer, &sent, &stopped);
  if (cluster::MemberChannels::IsForwarded(*context)) {
    context->AddTrailingMetadata(cluster::kReadSentMetadataKey, absl::StrCat(sent));
  }
  return status;
}

grpc::Status QueryService::ReadLocal(grpc::ServerContext* context, const v1::ReadRequest& request,
                                     uint64_t limit, size_t index_offset,
                                     grpc::ServerWriterInterface<v1::ReadResponse>* writer,
                                     uint64_t* sent, bool* stopped) {
  *sent = 0;
  *stopped = false;
  absl::StatusOr<cluster::NamedTagsScope> scope =
      cluster::NamedTagsScope::Begin(env_, *context, "Query.Read", request.tags());
  if (!scope.ok()) return ToGrpcStatus(scope.status());
  grpc::Status status = ReadOwnData(context, request, limit, index_offset, writer, sent, stopped);
  // A shard that left during the read may be why it failed, too.
  if (absl::Status end = scope->End(); !end.ok()) return ToGrpcStatus(end);
  return status;
}

grpc::Status QueryService::ReadOwnData(grpc::ServerContext* context, const v1::ReadRequest& req,
                                       uint64_t limit, size_t index_offset,
                                       grpc::ServerWriterInterface<v1::ReadResponse>* writer,
                                       uint64_t* sent_out, bool* stopped) {
  const v1::ReadRequest* request = &req;
  const int64_t start = request->start_ns(), end = request->end_ns();
  *sent_out = 0;
  *stopped = false;
  std::vector<engine::TagInfo> tags;
  for (const std::string& name : request->tags()) {
    // A shard move's handover: this node's data of the tag is incomplete
    // (checked first: a tag the copy has not brought yet is no NOT_FOUND).
    if (absl::Status s = store_->CheckShardOpen(name); !s.ok()) return ToGrpcStatus(s);
    absl::StatusOr<engine::TagInfo> tag = store_->GetTag(name);
    if (!tag.ok()) return ToGrpcStatus(tag.status());
    tags.push_back(std::move(*tag));
  }
  if (start == end && !request->include_bounds()) return grpc::Status::OK;  // empty range
  size_t first_tag = 0;
  int64_t first_cursor = start;
  if (!request->continuation_token().empty()) {
    absl::Status s = DecodeReadToken(request->continuation_token(), tags.size(), start, end,
                                     &first_tag, &first_cursor);
    if (!s.ok()) return ToGrpcStatus(s);
  }
  uint64_t& sent = *sent_out;
  CancellationProbe cancel(context);
  codec::ChunkColumns cols;
  v1::ReadResponse response;
  auto send = [&](const engine::TagInfo& tag, const codec::ChunkColumns& c) {
    response.Clear();
    response.set_tag(tag.name);
    if (request->columns()) {
      ColumnsToProto(c, response.mutable_columns());
    } else {
      for (size_t i = 0; i < c.size(); ++i) SampleToProto(c, i, response.add_samples());
    }
    return writer->Write(response);
  };
  // Bounds do not count toward the limit. A tag's before-bound goes on its
  // first page (cursor == start: a token's cursor is past a sample, so above
  // start) and its after-bound on its last; a token is sent if and only if
  // samples in [start, end) remain.
  auto send_after = [&](const engine::TagInfo& tag) {
    if (!request->include_bounds()) return absl::OkStatus();
    RETURN_IF_ERROR(store_->ReadRaw(tag.id, end, kMaxTimestamp, 1, &cols));
    if (cols.size() > 0 && !send(tag, cols)) return absl::CancelledError("cancelled");
    return absl::OkStatus();
  };
  for (size_t ti = first_tag; ti < tags.size(); ++ti) {
    const engine::TagInfo& tag = tags[ti];
    int64_t cursor = ti == first_tag ? first_cursor : start;
    bool before_sent = !request->include_bounds() || cursor != start;
    while (true) {
      if (cancel.Cancelled()) return grpc::Status::CANCELLED;
      if (sent == limit) {
        // Limit reached: a token only if this tag has samples left.
        absl::Status s = store_->ReadRaw(tag.id, cursor, end, 1, &cols);
        if (!s.ok()) return ToGrpcStatus(s);
        if (cols.size() > 0) {
          response.Clear();
          response.set_tag(tag.name);
          response.set_continuation_token(EncodeReadToken(ti + index_offset, cursor));
          writer->Write(response);
          *stopped = true;
          return grpc::Status::OK;
        }
      }
      if (!before_sent) {
        before_sent = true;
        if (absl::Status s = store_->Before(tag.id, start, &cols); !s.ok()) return ToGrpcStatus(s);
        if (cols.size() > 0 && !send(tag, cols)) return grpc::Status::CANCELLED;
      }
      if (sent == limit) break;  // nothing left of this tag
      size_t want = std::min<uint64_t>(limits_.read_page_samples, limit - sent);
      absl::Status s = store_->ReadRaw(tag.id, cursor, end, want, &cols);
      if (!s.ok()) return ToGrpcStatus(s);
      if (cols.size() > 0) {
        if (!send(tag, cols)) return grpc::Status::CANCELLED;
        sent += cols.size();
        cursor = cols.timestamps.back() + 1;
      }
      if (cols.size() < want) break;  // exhausted
    }
    if (absl::Status s = send_after(tag); !s.ok()) {
      return s.code() == absl::StatusCode::kCancelled ? grpc::Status::CANCELLED : ToGrpcStatus(s);
    }
  }
  return grpc::Status::OK;
}

grpc::Status QueryService::DoLatest(grpc::ServerContext* context, const v1::LatestRequest* request,
                                    v1::LatestResponse* response) {
  absl::StatusOr<cluster::NamedTagsScope> named =
      cluster::NamedTagsScope::Begin(env_, *context, "Query.Latest", request->tags());
  if (!named.ok()) return ToGrpcStatus(named.status());
  std::optional<cluster::ListingScope> listing;  // a glob's
  const grpc::Status read = [&]() -> grpc::Status {
    std::vector<std::string> names;
    std::vector<TagId> ids;
    for (const std::string& name : request->tags()) {
      if (absl::Status s = store_->CheckShardOpen(name); !s.ok()) return ToGrpcStatus(s);
      absl::StatusOr<engine::TagInfo> tag = store_->GetTag(name);
      if (!tag.ok()) return ToGrpcStatus(tag.status());
      names.push_back(name);
      ids.push_back(tag->id);
    }
    if (!request->glob().empty()) {
      if (absl::Status s = CheckGlob(request->glob(), limits_); !s.ok()) return ToGrpcStatus(s);
      // In a cluster every owner reports the matches of the shards it owns,
      // by one placement for the whole scan (refused when it is not the
      // coordinator's, or while a shard handed over here may lack tags).
      absl::StatusOr<cluster::ListingScope> scope =
          cluster::ListingScope::Begin(env_, *context, "Query.Latest");
      if (!scope.ok()) return ToGrpcStatus(scope.status());
      listing.emplace(*std::move(scope));
      CancellationProbe cancel(context);
      std::function<bool(std::string_view)> owned;
      if (env_.cluster != nullptr) owned = [&](std::string_view n) { return listing->Answers(n); };
      for (auto& [name, id] : store_->MatchTags(
               request->glob(), limits_.max_tags_per_latest + 1, [&] { return cancel.Cancelled(); },
               owned)) {
        names.push_back(std::move(name));
        ids.push_back(id);
      }
      if (cancel.Cancelled()) {
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                            "Latest: cancelled or past its deadline");
      }
    }
    for (const std::string& name : names) {
      // A shard move's handover: this node's data of the tag is incomplete.
      if (absl::Status s = store_->CheckShardOpen(name); !s.ok()) return ToGrpcStatus(s);
    }
    if (ids.size() > limits_.max_tags_per_latest) {
      return ToGrpcStatus(absl::ResourceExhaustedError(
          absl::StrCat("tags: more than ", limits_.max_tags_per_latest,
                       " tags requested or matched by glob (--max_tags_per_latest)")));
    }
    response->mutable_values()->Reserve(static_cast<int>(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) response->add_values()->set_tag(std::move(names[i]));
    return ToGrpcStatus(store_->LatestMany(ids, [&](size_t i, const codec::ChunkColumns& sample) {
      if (sample.size() > 0)
        SampleToProto(sample, 0, response->mutable_values(i)->mutable_sample());
    }));
  }();
  // Both ends after the values are read, also when the read failed: a
  // shard that left meanwhile may have been dropped under the read (a tag
  // not found), and its ABORTED (ask again) wins over what the read found.
  if (listing.has_value()) {
    if (absl::Status end = listing->End(); !end.ok()) return ToGrpcStatus(end);
  }
  if (absl::Status end = named->End(); !end.ok()) return ToGrpcStatus(end);
  return read;
}

}  // namespace historian::server
