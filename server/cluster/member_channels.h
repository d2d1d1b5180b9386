// File: member_channels.h
// MemberChannels: gRPC channels from this node to the other members of its
// site cluster, one per address, made on first use and kept; and the
// metadata a call made on behalf of a client carries (docs/cluster.md,
// "Routing").
//
// A call forwarded to a member (a write part for the owner of its tags, a
// query part for the owner of its shards) carries the caller's own bearer
// token, so the owner authorises the original caller with the same role
// table, and the forwarded marker, so the owner answers from its own data
// and never forwards again (one hop: a placement being changed can never
// send a request round in circles). A write part may take a second hop,
// from a member whose placement is newer than its sender's (write_hop.h).
//
// A caller served in process (the HTTP API) has no gRPC metadata: while an
// InProcessCaller names its token, forwarded calls made for it carry that.
//
// Thread-safety: thread-safe; mu_ guards the channel map.
#ifndef HISTORIAN_SERVER_CLUSTER_MEMBER_CHANNELS_H_
#define HISTORIAN_SERVER_CLUSTER_MEMBER_CHANNELS_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server_context.h"

namespace historian::cluster {

// Metadata key of the forwarded marker (value "1").
inline constexpr char kForwardedMetadataKey[] = "x-historian-forwarded";
// Metadata key (value "1") asking a node for its own data as stored,
// whatever its placement says: what a member still holds of a shard it
// handed on, or holds of one it is taking over. Reads only (Query.Read,
// Latest, Aggregate, Interpolate, Plot; Catalog.GetTag, ListTags): never
// fanned out, no ownership check (named_tags_scope.h, listing_scope.h). For
// tests and diagnosis; the answer may be stale or partial by design.
inline constexpr char kLocalDataMetadataKey[] = "x-historian-local-data";

class MemberChannels {
 public:
  // `credentials`: what the node uses towards its peers (server/tls.h,
  // MakePeerCredentials); null: insecure. `forward_timeout` bounds every
  // forwarded query call (PrepareForwardedQuery; --cluster_forward_timeout).
  explicit MemberChannels(std::shared_ptr<grpc::ChannelCredentials> credentials,
                          absl::Duration forward_timeout = absl::Seconds(30));

  // The channel to `address` (host:port), made on the first call. Its
  // keepalive pings (every 10 s, 5 s to answer) end a stream to a member
  // that went silent (a forwarded Subscribe has no deadline).
  std::shared_ptr<grpc::Channel> Get(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);

  // Sets up `call` to forward `caller`'s request: the caller's authorization
  // metadata (or its InProcessCaller's), the forwarded marker, and the
  // caller's deadline (none when the caller has none).
  static void PrepareForwardedCall(const grpc::ServerContextBase& caller,
                                   grpc::ClientContext* call);
  // PrepareForwardedCall with the deadline at most `forward_timeout` from now:
  // a caller without a deadline (or the HTTP API) never leaves a forwarded
  // query part running unbounded at an owner.
  void PrepareForwardedQuery(const grpc::ServerContextBase& caller,
                             grpc::ClientContext* call) const;
  absl::Duration forward_timeout() const { return forward_timeout_; }
  // True when `context`'s request came forwarded from another member.
  static bool IsForwarded(const grpc::ServerContextBase& context);
  // True when `context`'s request asks for this node's own data as stored
  // (kLocalDataMetadataKey).
  static bool AsksLocalData(const grpc::ServerContextBase& context);

 private:
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const absl::Duration forward_timeout_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

// RAII: while alive, calls forwarded for `context` (a ServerContext made in
// process, without metadata) carry `authorization` ("Bearer <token>", the
// HTTP request's Authorization header) as the caller's token. `context`
// must outlive it. Thread-safe (a process-wide registry under a mutex).
class InProcessCaller {
 public:
  InProcessCaller(const grpc::ServerContextBase* context, std::string authorization);
  ~InProcessCaller();
  InProcessCaller(const InProcessCaller&) = delete;
  InProcessCaller& operator=(const InProcessCaller&) = delete;

  // The authorization registered for `context`, or "" (none).
  static std::string AuthorizationOf(const grpc::ServerContextBase* context);

 private:
  const grpc::ServerContextBase* const context_;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_MEMBER_CHANNELS_H_
