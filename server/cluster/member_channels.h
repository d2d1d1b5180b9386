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
// send a request round in circles).
//
// Thread-safety: thread-safe; mu_ guards the channel map.
#ifndef HISTORIAN_SERVER_CLUSTER_MEMBER_CHANNELS_H_
#define HISTORIAN_SERVER_CLUSTER_MEMBER_CHANNELS_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server_context.h"

namespace historian::cluster {

// Metadata key of the forwarded marker (value "1").
inline constexpr char kForwardedMetadataKey[] = "x-historian-forwarded";

class MemberChannels {
 public:
  // `credentials`: what the node uses towards its peers (server/tls.h,
  // MakePeerCredentials); null: insecure.
  explicit MemberChannels(std::shared_ptr<grpc::ChannelCredentials> credentials);

  // The channel to `address` (host:port), made on the first call.
  std::shared_ptr<grpc::Channel> Get(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);

  // Sets up `call` to forward `caller`'s request: the caller's authorization
  // metadata, the forwarded marker, and the caller's deadline.
  static void PrepareForwardedCall(const grpc::ServerContextBase& caller,
                                   grpc::ClientContext* call);
  // True when `context`'s request came forwarded from another member.
  static bool IsForwarded(const grpc::ServerContextBase& context);

 private:
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_MEMBER_CHANNELS_H_
