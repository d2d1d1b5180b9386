// File: listing_scope.h
// Which tags a part of a glob or listing query answers for (ListTags, a
// Latest glob; docs/cluster.md, "Queries"). Such a query is asked of every
// owner and each reports only the tags of the shards it owns. If the
// coordinator chose the parts by one placement and a member filtered by
// another, a shard that moved between the two would be reported by nobody:
// a short answer with OK. So, as a fanned-out Subscribe does:
// - the coordinator sends each remote part its placement revision and a
//   digest of the shards it asks that member for (AddListingPartScope), and
//   checks before and after its own part that its placement still gives
//   itself the shards it chose by (RunOwnListingPart);
// - a member takes its placement once per part (ListingScope::Begin),
//   refuses the part when that gives it other shards than the
//   coordinator's, filters by it (Answers), and refuses again when its
//   shards changed before its scan ended (End).
// A refusal is ABORTED: the placement changed; ask again.
//
//   ASSIGN_OR_RETURN(ListingScope scope, ListingScope::Begin(env, *context, "Catalog.ListTags"));
//   ... store scan keeping the names scope.Answers(name) ...
//   RETURN_IF_ERROR(scope.End());
//
// Thread-safety: a ListingScope is used by one call's thread; the free
// functions are thread-safe.
#ifndef HISTORIAN_SERVER_CLUSTER_LISTING_SCOPE_H_
#define HISTORIAN_SERVER_CLUSTER_LISTING_SCOPE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "server/cluster/placement.h"

namespace historian::server {
struct ServiceEnv;
}  // namespace historian::server

namespace historian::cluster {

class ClusterView;

class ListingScope {
 public:
  // Not in a cluster, a call asking for this node's data as stored
  // (kLocalDataMetadataKey, member_channels.h), or a cluster node that read etcd and found no
  // placement (`historian cluster init` has not run): every tag.
  // UNAVAILABLE for a cluster node without a placement when a coordinator
  // asked (it split by one) or when it has not read etcd yet (it cannot
  // tell its own tags). Otherwise this node's placement now. ABORTED when the part came with the
  // coordinator's choice (kOwnedShardsMetadataKey) and this placement gives this member other
  // shards; INVALID_ARGUMENT when that metadata is malformed; UNAVAILABLE while a shard it answers
  // for is handed over here (the target of a move between the flip and the fence, whose data of it
  // is incomplete). `method` names the call in errors.
  static absl::StatusOr<ListingScope> Begin(const server::ServiceEnv& env,
                                            const grpc::ServerContextBase& context,
                                            std::string_view method);

  bool Answers(std::string_view tag) const {
    return placement_ == nullptr || placement_->OwnerOfTag(tag).id == self_;
  }

  // ABORTED when this node's placement now gives it other shards than at
  // Begin: tags of a shard that came or went during the scan may be missing.
  absl::Status End() const;

 private:
  ListingScope() = default;

  const ClusterView* view_ = nullptr;  // null: not in a cluster
  std::shared_ptr<const Placement> placement_;
  std::string self_;
  uint64_t digest_ = 0;
  std::string method_;
};

// On a remote part of a glob or listing chosen by `placement`: its revision
// and the digest of the shards `member` owns in it.
void AddListingPartScope(const Placement& placement, std::string_view member,
                         grpc::ClientContext* call);

// The coordinator's own part of a glob or listing split by `chosen`:
// `part`'s status, or ABORTED unless this node's placement gives it the
// shards `chosen` does both before and after `part` ran.
absl::Status RunOwnListingPart(const ClusterView& view, const Placement& chosen,
                               std::string_view method, const std::function<absl::Status()>& part);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_LISTING_SCOPE_H_
