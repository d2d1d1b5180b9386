// File: fanout_subscribe.h
// Query.Subscribe on a node of a site cluster (docs/cluster.md,
// "Subscribe"): the subscription is split by owner (named tags to their
// owners, a glob to every member that owns a shard) and each owner, this
// node included, is asked with a forwarded Subscribe (one hop, the caller's
// token, the forwarded marker, no deadline but the caller's). The owners'
// responses are merged into the caller's stream as they come; its resume
// token (subscribe_token.h) holds, per member, the token of the last
// response of that member whose batches were sent, so a reconnect at any
// node gets exactly what it missed from each member, or `lagged`.
//
// A change of the owner of any shard the subscription covers ends the
// caller's stream with ABORTED (its parts were chosen by the old owners);
// the token records which covered shards each member owned, so a reconnect
// names what moved as `lagged` (subscribe_token.h).
//
// An owner's stream that ends (owner down, stopping, refusing) ends the
// caller's stream: UNAVAILABLE naming the member and its shards when it
// could not be reached, the owner's own error otherwise. Never silently
// fewer tags.
//
// Thread-safety: gRPC calls the reactors' methods from its threads; the
// merge state is guarded by FanoutSubscribe's mutex (docs in the .cc).
#ifndef HISTORIAN_SERVER_CLUSTER_FANOUT_SUBSCRIBE_H_
#define HISTORIAN_SERVER_CLUSTER_FANOUT_SUBSCRIBE_H_

#include <cstdint>
#include <memory>

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "historian/v1/query.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/placement.h"

namespace historian::server {
struct ServiceEnv;
class SubscriptionHub;
}  // namespace historian::server

namespace historian::cluster {

// Checks the call (authorisation, the request's form, the resume token) and
// returns the reactor of the fanned-out stream (gRPC owns it until OnDone),
// or one that finishes at once with the error. What `env` points to must
// outlive the stream.
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartFanoutSubscribe(
    const server::ServiceEnv& env, std::shared_ptr<const Placement> placement,
    grpc::CallbackServerContext* context, const v1::SubscribeRequest& request);

// The owners' side: makes `hub` end its forwarded Subscribe parts (ABORTED,
// naming both revisions) whenever a placement change gives this member other
// shards, before the new placement routes any write (ClusterView listeners
// run first). Returns the listener's id: remove it (RemovePlacementListener)
// before `hub` goes.
uint64_t EndPartsWhenOwnershipChanges(const ClusterView& view, server::SubscriptionHub* hub);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_FANOUT_SUBSCRIBE_H_
