#include "server/replication_service.h"

#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/digest.h"
#include "server/proto_convert.h"
#include "server/status_util.h"

namespace historian::server {
namespace {
constexpr size_t kMaxPullBytes = 1 << 20;  // per PullResponse
constexpr size_t kFetchPageSamples = 10000;
}  // namespace

grpc::Status ReplicationService::Pull(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::PullResponse, v1::PullRequest>* stream) {
  v1::PullRequest first;
  if (!stream->Read(&first)) return grpc::Status::OK;
  if (first.site().empty() || first.from_sequence() == 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "site and from_sequence (>= 1) are required in the first PullRequest");
  }
  const std::string peer = first.site();
  // A peer ahead of our own log means this node lost part of its history
  // (restored from a backup): number new writes past what the peer has, or
  // the peer would skip them; anti-entropy brings the lost part back.
  absl::StatusOr<bool> moved = store_->EnsureOwnSequenceAtLeast(first.from_sequence());
  if (!moved.ok()) return ToGrpcStatus(moved.status());
  if (*moved) {
    std::fprintf(stderr,
                 "historiand: peer %s has applied our log up to %llu, beyond our own: this node "
                 "was restored; new writes continue after it; run `historian verify --peer %s "
                 "--repair` to fetch what was lost\n",
                 peer.c_str(), static_cast<unsigned long long>(first.from_sequence() - 1),
                 peer.c_str());
  }
  store_->SetPeerAcked(peer, first.from_sequence() - 1);
  // Acks arrive on the same stream; a reader thread records them.
  std::thread acks([&] {
    v1::PullRequest req;
    while (stream->Read(&req)) store_->SetPeerAcked(peer, req.applied_sequence());
  });
  uint64_t from = first.from_sequence();
  OwnLogBatch batch;
  v1::PullResponse response;
  grpc::Status status = grpc::Status::OK;
  while (!context->IsCancelled() && !stopping_) {
    absl::Status s = store_->ReadOwnLog(from, kMaxPullBytes, &batch);
    if (!s.ok()) {
      status = ToGrpcStatus(s);
      break;
    }
    if (batch.gap) {
      response.Clear();
      response.set_site(store_->options().site);
      response.set_gap(true);
      response.set_log_start_sequence(batch.first_available);
      response.set_head_sequence(batch.head_seq);
      stream->Write(response);
      break;
    }
    if (batch.records.empty()) {
      // Caught up: tell the peer (so its lag shows 0) and wait for more.
      response.Clear();
      response.set_site(store_->options().site);
      response.set_head_sequence(batch.head_seq);
      response.set_head_time_ns(batch.head_time_ns);
      if (!stream->Write(response)) break;
      store_->WaitForOwnEntry(from - 1, absl::Milliseconds(500));
      continue;
    }
    response.Clear();
    response.set_site(store_->options().site);
    for (auto& [seq, bytes] : batch.records) {
      v1::LogRecord* rec = response.add_records();
      rec->set_sequence(seq);
      rec->set_entry(std::move(bytes));
    }
    response.set_head_sequence(batch.head_seq);
    response.set_pending_samples(batch.pending_samples);
    response.set_head_time_ns(batch.head_time_ns);
    from = batch.records.back().first + 1;
    if (!stream->Write(response)) break;
  }
  context->TryCancel();  // ends the ack reader's Read
  acks.join();
  return status;
}

grpc::Status ReplicationService::Digest(grpc::ServerContext* context,
                                        const v1::DigestRequest* request,
                                        v1::DigestResponse* response) {
  std::vector<std::string> tags(request->tags().begin(), request->tags().end());
  return ToGrpcStatus(ComputeDigests(store_, tags, request->start_ns(), request->end_ns(),
                                     request->bucket_ns(), response));
}

grpc::Status ReplicationService::Fetch(grpc::ServerContext* context,
                                       const v1::FetchRequest* request,
                                       grpc::ServerWriter<v1::FetchResponse>* writer) {
  absl::StatusOr<engine::TagInfo> tag = store_->GetTag(request->tag());
  if (!tag.ok()) return ToGrpcStatus(tag.status());
  codec::ChunkColumns page;
  int64_t cursor = request->start_ns();
  v1::FetchResponse response;
  while (cursor < request->end_ns()) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    absl::Status s = store_->ReadRaw(tag->id, cursor, request->end_ns(), kFetchPageSamples, &page);
    if (!s.ok()) return ToGrpcStatus(s);
    response.Clear();
    TagToProto(*tag, response.mutable_tag());
    for (size_t i = 0; i < page.size(); ++i) {
      v1::VersionedSample* vs = response.add_samples();
      SampleToProto(page, i, vs->mutable_sample());
      vs->set_version(page.versions[i]);
    }
    if (!writer->Write(response)) return grpc::Status::CANCELLED;
    if (page.size() < kFetchPageSamples) break;
    cursor = page.timestamps.back() + 1;
  }
  return grpc::Status::OK;
}

}  // namespace historian::server
