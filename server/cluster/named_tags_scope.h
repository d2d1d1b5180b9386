// File: named_tags_scope.h
// Which node answers a part of a request naming its tags (Query.Read,
// Latest, Aggregate, Interpolate, Plot; Catalog.GetTag, CreateTag,
// UpdateTag, DeleteTag; docs/cluster.md, "Queries"). The coordinator sends
// each owner of its placement the tags it owns there. If the owner's own
// placement gives a tag's shard to another member (a move flipped and one
// of the two has not seen it yet), its data of the shard is stale or gone:
// a read answered from it is OK and short, a catalog change made there is
// acknowledged and lost with the dropped shard. So a part is answered only
// while this node's placement gives it every named tag:
// - Begin refuses (ABORTED: the placement changed; ask again) a part naming
//   a tag this node's placement gives another member;
// - End refuses a read whose tags' shards left this node before it ended
//   (the janitor may have dropped them under the scan).
// A catalog change needs no End: a shard is closed at its flip, and a
// change the close did not stop is carried by the move's tail.
//
//   ASSIGN_OR_RETURN(NamedTagsScope scope,
//                    NamedTagsScope::Begin(env, *context, "Query.Read", request.tags()));
//   ... answer from the store ...
//   RETURN_IF_ERROR(scope.End());
//
// Thread-safety: a NamedTagsScope is used by one call's thread; Begin and
// RunNamedTagsPart are thread-safe.
#ifndef HISTORIAN_SERVER_CLUSTER_NAMED_TAGS_SCOPE_H_
#define HISTORIAN_SERVER_CLUSTER_NAMED_TAGS_SCOPE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "grpcpp/server_context.h"
#include "server/cluster/placement.h"

namespace historian::server {
struct ServiceEnv;
}  // namespace historian::server

namespace historian::cluster {

class ClusterView;

class NamedTagsScope {
 public:
  enum class Access { kRead, kChange };

  // A scope that checks nothing when this node answers every tag itself:
  // not in a cluster, a cluster node without member channels asked
  // directly, or a read asking for the node's data as stored
  // (kLocalDataMetadataKey, member_channels.h). Otherwise the call is a part (forwarded to this
  // node, or the coordinator's own part): UNAVAILABLE when the node has no placement and the part
  // was forwarded (the sender split by one) or it has not read etcd yet; ABORTED naming the first
  // tag its placement gives another member. `method` names the call in errors.
  static absl::StatusOr<NamedTagsScope> Begin(const server::ServiceEnv& env,
                                              const grpc::ServerContextBase& context,
                                              std::string_view method,
                                              absl::Span<const std::string_view> tags,
                                              Access access);
  // A read of `tags`.
  static absl::StatusOr<NamedTagsScope> Begin(
      const server::ServiceEnv& env, const grpc::ServerContextBase& context,
      std::string_view method, const google::protobuf::RepeatedPtrField<std::string>& tags);

  // ABORTED when this node's placement now gives a shard of the part's tags
  // to another member: its data may have been dropped during the answer.
  absl::Status End() const;

 private:
  NamedTagsScope() = default;

  const ClusterView* view_ = nullptr;  // null: checks nothing
  std::shared_ptr<const Placement> placement_;
  std::string self_;
  std::vector<uint32_t> shards_;  // ascending, unique
  std::string method_;
};

// `part` (an answer from this node's store about `tags`, a read) between
// Begin and End: Begin's failure, else End's (a shard that left during the
// part may be why it failed), else the part's status.
absl::Status RunNamedTagsPart(const server::ServiceEnv& env, const grpc::ServerContextBase& context,
                              std::string_view method,
                              const google::protobuf::RepeatedPtrField<std::string>& tags,
                              const std::function<absl::Status()>& part);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_NAMED_TAGS_SCOPE_H_
