// File: fanout_event_stream.h
// Events.Subscribe on a node of a site cluster (docs/cluster.md, "Alarm
// rules and events"): every member keeps the events it raised (and copies of
// a peer site's), so the subscription asks every member of the placement,
// this node included, with a forwarded Events.Subscribe (one hop, the
// caller's token) and merges their changes into the caller's stream as they
// come.
//
// - Resume: each response carries a resume_token holding, per member, the
//   feed position after that member's changes sent so far; a reconnect at
//   any member gives each member its position. A member the token does not
//   name (one that joined since) starts from now, after a `lagged`.
// - One event held by several members (a peer site's, which every member
//   pulls) is merged fact by fact with what was sent of it before
//   (MergeEventCopies) and sent only when the merge changed it, so a
//   subscriber sees each change once and never an older state after a newer.
// - A member that joins or leaves the placement ends the stream (ABORTED;
//   subscribe again with the last resume_token): the members asked are the
//   placement's at the start.
// - A member's stream that ends ends the caller's: UNAVAILABLE naming the
//   member. Never silently fewer events.
// - The caller gets its initial metadata once every member's stream is
//   open, so a change applied after it reaches the subscriber.
//
// Thread-safety: gRPC calls the reactors' methods from its threads; the
// merge state is guarded by the stream's mutex (fanout_event_stream.cc).
#ifndef HISTORIAN_SERVER_CLUSTER_FANOUT_EVENT_STREAM_H_
#define HISTORIAN_SERVER_CLUSTER_FANOUT_EVENT_STREAM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/support/server_callback.h"
#include "historian/v1/events.pb.h"
#include "server/cluster/placement.h"

namespace historian::server {
struct ServiceEnv;
}  // namespace historian::server

namespace historian::cluster {

// Checks the call (authorisation, the request, the resume token) and returns
// the reactor of the fanned-out stream (gRPC owns it until OnDone), or one
// that finishes at once with the error. What `env` points to must outlive
// the stream.
grpc::ServerWriteReactor<v1::SubscribeEventsResponse>* StartFanoutEventStream(
    const server::ServiceEnv& env, std::shared_ptr<const Placement> placement,
    grpc::CallbackServerContext* context, const v1::SubscribeEventsRequest& request);

// The resume token of a fanned-out Events.Subscribe: member id -> the
// member's event feed position. INVALID_ARGUMENT naming the field for bytes
// that are not one.
std::string EncodeEventsResumeToken(const std::map<std::string, uint64_t>& positions);
absl::StatusOr<std::map<std::string, uint64_t>> DecodeEventsResumeToken(std::string_view token);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_FANOUT_EVENT_STREAM_H_
