// File: services.h
// The gRPC services of a node: Ingest, Query and Catalog. Each parses the
// request, calls the Store (Query's Aggregate, Interpolate and Plot through
// the planner, storage/query/tag_queries.h) and converts the status at the
// edge (status_util.h). Every method runs inside RunRpc (rpc_env.h): role
// check, stream limit, metrics.
//
// Thread-safety: the services are stateless beyond their ServiceEnv (whose
// members are thread-safe) and are called concurrently by gRPC's thread pool.
#ifndef HISTORIAN_SERVER_SERVICES_H_
#define HISTORIAN_SERVER_SERVICES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/cluster/write_forwarder.h"
#include "server/limits.h"
#include "server/rpc_env.h"
#include "server/write_request.h"
#include "storage/store.h"

namespace historian::server {

class IngestService final : public v1::Ingest::Service {
 public:
  // Everything `env` points to must outlive the service.
  explicit IngestService(const ServiceEnv& env);
  // Ingest.Write, registered on raw bytes: gRPC's typed reader reports a
  // message that does not parse as the end of the stream, so the client
  // would see OK and no acks for its later batches. Here such a message
  // ends the stream with INVALID_ARGUMENT.
  grpc::Status WriteRaw(grpc::ServerContext* context,
                        grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream);
  grpc::Status WriteBatch(grpc::ServerContext* context, const v1::WriteRequest* request,
                          v1::WriteAck* ack) override;

 private:
  // One batch between Start and Finish: the part this node stores (the
  // whole batch outside a cluster) and, in a cluster, the parts on their
  // way to their owners.
  struct PendingWrite {
    bool has_local = true;
    // The local part, queued in the store, or why it was not (has_local).
    std::optional<StartedWrite> started;
    absl::Status start_error;
    uint64_t samples = 0;                                // in the local part
    std::unique_ptr<cluster::ForwardedBatch> forwarded;  // null: all local
    // The local part's shards (only with a lease fence): its ack waits for
    // the fence to hold still for them (cluster/lease_fence.h).
    std::vector<uint32_t> local_shards;
    void Set(absl::StatusOr<StartedWrite> s) {
      if (s.ok()) {
        started.emplace(std::move(*s));
      } else {
        start_error = s.status();
      }
    }
  };
  // Stores one batch through the write gate and counts it in the metrics.
  absl::StatusOr<v1::WriteAck> Handle(const grpc::ServerContextBase& context,
                                      const v1::WriteRequest& request);
  // The same in two steps, for pipelined streams: Start routes the batch
  // (server/cluster/write_forwarder.h) and queues the local part in the
  // store (in stream order), Finish waits for every part and counts it.
  // `order`: the stream's (its forwarded parts reach each owner in stream
  // order); null for Ingest.WriteBatch.
  PendingWrite Start(const grpc::ServerContextBase& context, const v1::WriteRequest& request,
                     cluster::ForwardOrder* order = nullptr);
  absl::StatusOr<v1::WriteAck> Finish(PendingWrite write);
  absl::StatusOr<StartedWrite> StartLocal(const v1::WriteRequest& request);
  absl::StatusOr<v1::WriteAck> FinishLocal(PendingWrite& write);

  const ServiceEnv env_;
  Store* const store_;
  const Limits limits_;
  // In a site cluster: splits batches by owner; null otherwise.
  std::unique_ptr<cluster::WriteForwarder> forwarder_;
};

// Query.Subscribe is on gRPC's callback API (server/subscriptions/), the
// other methods on the synchronous one.
class QueryService final : public v1::Query::WithRawCallbackMethod_Subscribe<v1::Query::Service> {
 public:
  explicit QueryService(const ServiceEnv& env)
      : env_(env), store_(env.store), limits_(env.limits) {}
  grpc::Status Read(grpc::ServerContext* context, const v1::ReadRequest* request,
                    grpc::ServerWriter<v1::ReadResponse>* writer) override;
  grpc::Status Latest(grpc::ServerContext* context, const v1::LatestRequest* request,
                      v1::LatestResponse* response) override;
  grpc::Status Aggregate(grpc::ServerContext* context, const v1::AggregateRequest* request,
                         v1::AggregateResponse* response) override;
  grpc::Status Interpolate(grpc::ServerContext* context, const v1::InterpolateRequest* request,
                           v1::InterpolateResponse* response) override;
  grpc::Status Plot(grpc::ServerContext* context, const v1::PlotRequest* request,
                    v1::PlotResponse* response) override;
  // Raw (serialized messages): server/subscriptions/subscribe_reactor.h.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request) override;
  // Read into any writer: the in-process callers (the HTTP API) use it.
  grpc::Status ReadTo(grpc::ServerContext* context, const v1::ReadRequest* request,
                      grpc::ServerWriterInterface<v1::ReadResponse>* writer);

 private:
  grpc::Status DoRead(grpc::ServerContext* context, const v1::ReadRequest* request,
                      grpc::ServerWriterInterface<v1::ReadResponse>* writer);
  grpc::Status DoLatest(grpc::ServerContext* context, const v1::LatestRequest* request,
                        v1::LatestResponse* response);
  // Reads `request`'s tags from this node's store: at most `limit` samples
  // in range; a continuation token's tag index is offset by `index_offset`
  // (a run of a cluster read, server/cluster/fanout_read.h). Sets *sent (in
  // range) and *stopped (a token was sent). In a cluster, a part that
  // refuses tags this node's placement gives another member
  // (cluster/named_tags_scope.h).
  grpc::Status ReadLocal(grpc::ServerContext* context, const v1::ReadRequest& request,
                         uint64_t limit, size_t index_offset,
                         grpc::ServerWriterInterface<v1::ReadResponse>* writer, uint64_t* sent,
                         bool* stopped);
  grpc::Status ReadOwnData(grpc::ServerContext* context, const v1::ReadRequest& request,
                           uint64_t limit, size_t index_offset,
                           grpc::ServerWriterInterface<v1::ReadResponse>* writer, uint64_t* sent,
                           bool* stopped);

  const ServiceEnv env_;
  Store* const store_;
  const Limits limits_;
};

class CatalogService final : public v1::Catalog::Service {
 public:
  explicit CatalogService(const ServiceEnv& env) : env_(env), store_(env.store) {}
  grpc::Status CreateTag(grpc::ServerContext* context, const v1::CreateTagRequest* request,
                         v1::Tag* response) override;
  grpc::Status GetTag(grpc::ServerContext* context, const v1::GetTagRequest* request,
                      v1::Tag* response) override;
  grpc::Status UpdateTag(grpc::ServerContext* context, const v1::UpdateTagRequest* request,
                         v1::Tag* response) override;
  grpc::Status DeleteTag(grpc::ServerContext* context, const v1::DeleteTagRequest* request,
                         v1::DeleteTagResponse* response) override;
  grpc::Status ListTags(grpc::ServerContext* context, const v1::ListTagsRequest* request,
                        v1::ListTagsResponse* response) override;

 private:
  // UpdateTag of retention_ns or value_type (retention drops data) needs the
  // role of kUpdateTagDataMethod (admin); other fields need Catalog.UpdateTag.
  grpc::Status AuthorizeDataChange(const grpc::ServerContext& context,
                                   const engine::TagInfo& update) const;
  // ListTags from this node's store (in a cluster: the tags it owns).
  grpc::Status ListLocal(grpc::ServerContext* context, const v1::ListTagsRequest& request,
                         uint32_t page_size, v1::ListTagsResponse* response);

  const ServiceEnv env_;
  Store* const store_;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_SERVICES_H_
