#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/cluster/write_split.h"
#include "api/core/write_stream_metadata.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/method_handler.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "server/cluster/lease_fence.h"
#include "server/cluster/member_channels.h"
#include "server/services.h"
#include "server/status_util.h"
#include "server/write_request.h"

namespace historian::server {
namespace {

uint64_t SamplesIn(const v1::WriteRequest& request) {
  uint64_t n = 0;
  for (const auto& series : request.series()) n += series.samples_size();
  return n;
}

std::string CodeLabel(int code) {
  return Label("reason", absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
}

// Index of Ingest.Write among the service's methods (declaration order).
constexpr int kWriteMethodIndex = 0;

}  // namespace

IngestService::IngestService(const ServiceEnv& env)
    : env_(env), store_(env.store), limits_(env.limits) {
  if (env.cluster != nullptr) {
    forwarder_ = std::make_unique<cluster::WriteForwarder>(
        env.cluster, env.member_channels, env.metrics,
        env.member_channels != nullptr ? env.member_channels->forward_timeout() : absl::Seconds(30),
        env.lease_fence, env.store);
  }
  MarkMethodStreamed(
      kWriteMethodIndex,
      new grpc::internal::BidiStreamingHandler<IngestService, grpc::ByteBuffer, grpc::ByteBuffer>(
          &IngestService::WriteRaw, this));
}

absl::StatusOr<StartedWrite> IngestService::StartLocal(const v1::WriteRequest& request) {
  if (env_.write_gate != nullptr) {
    if (absl::Status s = env_.write_gate->BeforeWrite(); !s.ok()) return s;
  }
  // In a site cluster the part this node stores is deduplicated under its
  // digest too: a retry after the placement moved may bring this node
  // another slice of the same batch (docs/cluster.md, "Routing writes").
  // So is a slice its writer cut from a batch over this node's limits
  // (WriteRequest.slice): the batch's other slices are not retries of it.
  const uint64_t digest =
      env_.cluster != nullptr || request.slice() != 0 ? routing::WritePartDigest(request) : 0;
  return StartWrite(request, limits_, store_, digest);
}

absl::StatusOr<v1::WriteAck> IngestService::FinishLocal(PendingWrite& write) {
  const uint64_t samples = write.samples;
  absl::StatusOr<v1::WriteAck> ack = write.started.has_value()
                                         ? FinishWrite(std::move(*write.started), store_)
                                         : absl::StatusOr<v1::WriteAck>(write.start_error);
  if (!ack.ok() && env_.write_gate != nullptr && !absl::IsUnavailable(write.start_error)) {
    ack = env_.write_gate->AfterWrite(ack.status());
  }
  if (ack.ok() && !write.local_shards.empty() && env_.lease_fence != nullptr &&
      env_.cluster != nullptr) {
    // Admitted by the fence, committed since: no ack once the lease may
    // have run out for a shard fenced by now (a copy may have started
    // meanwhile, or the isolation fence passed; cluster/lease_fence.h).
    const cluster::LeaseFence::LeaseCheck lease = env_.lease_fence->Check();
    if (std::optional<std::string> why =
            cluster::LeaseFence::FirstFenced(lease, *env_.cluster, store_, write.local_shards)) {
      ack = absl::UnavailableError(
          absl::StrCat("write stored here but not acknowledged: it holds a tag that ", *why,
                       "; retry (a retry here is deduplicated, or goes to the shard's new owner)"));
    } else if (std::optional<std::string> moved = cluster::ShardsNoLongerOwned(
                   *env_.cluster, write.local_shards, lease.held.ok())) {
      // The placement gave a shard away while the write was stored (a
      // removal this member applied on reaching etcd again). A move's flip
      // alone does not count: the write reaches the new owner by its tail.
      ack = absl::UnavailableError(absl::StrCat("write stored here but not acknowledged: ", *moved,
                                                "; retry (it goes to the shard's owner)"));
    }
  }
  if (env_.metrics != nullptr) {
    if (!ack.ok()) {
      env_.metrics->Add(kSamplesRejectedMetric, CodeLabel(static_cast<int>(ack.status().code())),
                        static_cast<double>(samples));
    } else {
      env_.metrics->Add(kBatchesAckedMetric, "", 1);
      if (!ack->duplicate()) {
        env_.metrics->Add(kSamplesAckedMetric, "", static_cast<double>(ack->accepted_count()));
      }
      for (const v1::RejectedSample& r : ack->rejected()) {
        env_.metrics->Add(kSamplesRejectedMetric, CodeLabel(r.code()), 1);
      }
    }
  }
  return ack;
}

IngestService::PendingWrite IngestService::Start(const grpc::ServerContextBase& context,
                                                 const v1::WriteRequest& request,
                                                 cluster::ForwardOrder* order) {
  PendingWrite write;
  if (forwarder_ != nullptr) {
    // A batch refused as a whole is refused before any part is stored.
    if (absl::Status s = ValidateBatch(request, limits_); !s.ok()) {
      write.start_error = s;
      write.samples = SamplesIn(request);
      return write;
    }
    absl::StatusOr<std::unique_ptr<cluster::ForwardedBatch>> routed =
        forwarder_->Route(context, request, order, &write.local_shards);
    if (!routed.ok()) {
      write.start_error = routed.status();
      write.samples = SamplesIn(request);
      return write;
    }
    if (*routed != nullptr) {
      write.forwarded = std::move(*routed);
      write.has_local = write.forwarded->has_local();
      if (write.has_local) {
        write.samples = SamplesIn(write.forwarded->local());
        write.Set(StartLocal(write.forwarded->local()));
      }
      return write;
    }
  }
  write.samples = SamplesIn(request);
  write.Set(StartLocal(request));
  return write;
}

absl::StatusOr<v1::WriteAck> IngestService::Finish(PendingWrite write) {
  absl::StatusOr<v1::WriteAck> local = absl::UnknownError("no local part");
  if (write.has_local) local = FinishLocal(write);
  if (write.forwarded == nullptr) return local;
  return forwarder_->Join(std::move(write.forwarded), std::move(local));
}

absl::StatusOr<v1::WriteAck> IngestService::Handle(const grpc::ServerContextBase& context,
                                                   const v1::WriteRequest& request) {
  return Finish(Start(context, request));
}

grpc::Status IngestService::WriteRaw(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
  return RunRpc(env_, context, "Ingest.Write", RpcKind::kStream, [&] {
    // Pipelined: this thread reads and queues batches in stream order; an
    // acker thread waits for each commit and writes the acks in the same
    // order. So one stream can have many batches in one group commit
    // instead of one fsync per batch.
    struct Item {
      PendingWrite write;
      uint64_t sequence = 0;  // the batch's
    };
    constexpr size_t kMaxInFlight = 32;
    // A writer that takes refusals in band half-closes on one, so the
    // stream ends with the refusal's status instead of CANCELLED.
    const auto& client_metadata = context->client_metadata();
    auto refusals = client_metadata.find(kWriteRefusalsMetadataKey);
    const bool refusals_in_band = refusals != client_metadata.end() && refusals->second == "1";
    // What this node takes in one message, before any batch: a writer cuts
    // a batch over these into slices (WriteRequest.slice) instead of
    // resending it forever. Not said while a member of the site cluster
    // does not take slices (an older version, during an upgrade): the
    // writer then sends whole batches only.
    if (env_.cluster == nullptr || env_.cluster->EveryMemberTakesSlices()) {
      context->AddInitialMetadata(kMaxSamplesPerBatchMetadataKey,
                                  absl::StrCat(limits_.max_samples_per_batch));
      context->AddInitialMetadata(kMaxMessageBytesMetadataKey,
                                  absl::StrCat(limits_.max_message_bytes));
    }
    stream->SendInitialMetadata();
    // Forwarded parts reach each owner in stream order (declared before the
    // items: every item's calls are done before it goes).
    cluster::ForwardOrder order;
    absl::Mutex mu;
    std::deque<Item> queue;
    bool reading_done = false;
    bool failed = false;
    grpc::Status result = grpc::Status::OK;
    // Serializes `ack` and writes it to the stream; false when the client
    // went away (or the ack does not serialize).
    auto send_ack = [&](const v1::WriteAck& ack) {
      grpc::ByteBuffer bytes;
      bool own = false;
      return grpc::SerializationTraits<v1::WriteAck>::Serialize(ack, &bytes, &own).ok() &&
             stream->Write(bytes);
    };
    std::thread acker([&] {
      while (true) {
        std::optional<Item> item;
        {
          absl::MutexLock l(&mu);
          auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
            return !queue.empty() || reading_done;
          };
          mu.Await(absl::Condition(&ready));
          if (queue.empty()) break;
          item.emplace(std::move(queue.front()));
          queue.pop_front();
        }
        absl::StatusOr<v1::WriteAck> ack = Finish(std::move(item->write));
        absl::MutexLock l(&mu);
        if (failed) continue;  // later batches are stored, not acked: resent
        if (!ack.ok()) {
          // A batch the node cannot take ends the stream; the client resends
          // it (with the same batch_sequence) on a new stream, or gives it
          // up when the status says it can never be taken.
          failed = true;
          result = ToGrpcStatus(ack.status());
          v1::WriteAck refusal;
          refusal.set_batch_sequence(item->sequence);
          refusal.set_refused(true);
          // In band, the reader ends the stream with `result` at the
          // writer's half-close (or its next message); otherwise only a
          // cancel ends it.
          if (!refusals_in_band || !send_ack(refusal)) context->TryCancel();
          continue;
        }
        if (!send_ack(*ack)) {
          failed = true;  // client went away; the batches are stored
          context->TryCancel();
        }
      }
    });
    v1::WriteRequest request;
    grpc::ByteBuffer bytes;
    uint64_t received = 0;
    grpc::Status unparsable = grpc::Status::OK;
    while (stream->Read(&bytes)) {
      ++received;
      if (!grpc::SerializationTraits<v1::WriteRequest>::Deserialize(&bytes, &request).ok()) {
        unparsable = grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("message ", received,
                         " of this Ingest.Write stream is not a WriteRequest (protobuf parse "
                         "failed); it and later batches were not stored: resend from it"));
        break;
      }
      {
        absl::MutexLock l(&mu);
        auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
          return failed || queue.size() < kMaxInFlight;
        };
        mu.Await(absl::Condition(&room));
        if (failed) break;
      }
      Item item{Start(*context, request, &order), request.batch_sequence()};
      absl::MutexLock l(&mu);
      queue.push_back(std::move(item));
    }
    {
      absl::MutexLock l(&mu);
      reading_done = true;
    }
    acker.join();
    if (result.ok() && !unparsable.ok()) return unparsable;
    return result;
  });
}

grpc::Status IngestService::WriteBatch(grpc::ServerContext* context,
                                       const v1::WriteRequest* request, v1::WriteAck* ack) {
  return RunRpc(env_, context, "Ingest.WriteBatch", RpcKind::kUnary, [&] {
    absl::StatusOr<v1::WriteAck> result = Handle(*context, *request);
    if (!result.ok()) return ToGrpcStatus(result.status());
    *ack = std::move(*result);
    return grpc::Status::OK;
  });
}

}  // namespace historian::server
