// File: fanout_read.h
// Fan-out of Query.Read in a site cluster (docs/cluster.md, "Queries").
//
// A Read streams its tags in request order, each in time order, at most
// `limit` samples in [start_ns, end_ns) (bounds do not count), and ends with
// a continuation token (tag index, next timestamp) when samples remain. In a
// cluster the tags are taken in runs of consecutive tags with the same
// owner; each run is read from its owner (this node's store, or the owner
// with a forwarded Read) with the limit still left, and its pieces are
// relayed unchanged. An owner that stops at the limit ends the run with a
// token in the run's own tag indexes; it is rewritten to the request's, so
// the token is exactly the one a single node holding all the data would
// send, and resuming at any node neither skips nor repeats a sample.
//
// The limit left goes to the owner in metadata (kReadLimitMetadataKey; it
// may be 0, which ReadRequest.limit cannot say), and the owner reports the
// samples in range it sent in trailing metadata (kReadSentMetadataKey).
//
// Thread-safety: stateless; runs on the RPC's thread.
#ifndef HISTORIAN_SERVER_CLUSTER_FANOUT_READ_H_
#define HISTORIAN_SERVER_CLUSTER_FANOUT_READ_H_

#include <cstdint>
#include <functional>
#include <optional>

#include "grpcpp/server_context.h"
#include "grpcpp/support/sync_stream.h"
#include "historian/v1/query.pb.h"
#include "server/cluster/placement.h"

namespace historian::server {
struct ServiceEnv;
}  // namespace historian::server

namespace historian::cluster {

inline constexpr char kReadLimitMetadataKey[] = "x-historian-read-limit";
inline constexpr char kReadSentMetadataKey[] = "x-historian-read-sent";

// The limit a forwarding coordinator set for this (forwarded) Read; nullopt
// when none (then the request's own limit applies).
std::optional<uint64_t> ForwardedReadLimit(const grpc::ServerContextBase& context);

// Reads `request` (a run of tags; its token, if any, in the run's indexes)
// from this node's store: at most `limit` samples in range, a token's tag
// index offset by `index_offset`. Sets *sent and *stopped (a token was sent).
using LocalRead = std::function<grpc::Status(
    const v1::ReadRequest& request, uint64_t limit, size_t index_offset,
    grpc::ServerWriterInterface<v1::ReadResponse>* writer, uint64_t* sent, bool* stopped)>;

// `request` was checked (tag count, range) by the caller; `limit` is its
// effective limit (request.limit() bounded by --max_read_samples).
grpc::Status FanOutRead(const server::ServiceEnv& env, const Placement& placement,
                        grpc::ServerContext* context, const v1::ReadRequest& request,
                        uint64_t limit, const LocalRead& local,
                        grpc::ServerWriterInterface<v1::ReadResponse>* writer);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_FANOUT_READ_H_
