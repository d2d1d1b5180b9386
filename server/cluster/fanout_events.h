// File: fanout_events.h
// The Events service in a site cluster (docs/cluster.md, "Alarm rules and
// events"): rules are held site-wide (site_rules.h) and evaluated by each
// member against the tags of the shards it owns; each member keeps the
// events it raised (and those a peer site sent it).
// - CreateRule/UpdateRule: the rule is checked against the tags it covers
//   as their owners report them (a glob: ListTags asked of every owner; a
//   name: GetTag at its owner), written to the site's record on a compare
//   (one of two operators creating a name wins), applied here, and then
//   applied by every other member (Cluster.SyncRule) before the call
//   returns. DeleteRule the same without the check.
// - ListEvents asks every member and merges: one event held by several
//   members (a peer site's, which every member pulls) is merged fact by
//   fact, as the stores merge records; a member that cannot be reached
//   fails the call with UNAVAILABLE naming it (never a shorter list).
// - Ack goes to every member; those holding the event record the ack.
//
// Thread-safety: stateless; runs on the RPC's thread.
#ifndef HISTORIAN_SERVER_CLUSTER_FANOUT_EVENTS_H_
#define HISTORIAN_SERVER_CLUSTER_FANOUT_EVENTS_H_

#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "historian/v1/events.grpc.pb.h"
#include "server/cluster/placement.h"
#include "storage/events/event_record.h"

namespace historian::server {
struct ServiceEnv;
}  // namespace historian::server

namespace historian::cluster {

// `method` ("Events.CreateRule") names the call in errors.
absl::StatusOr<events::RuleRecord> PutRuleSiteWide(const server::ServiceEnv& env,
                                                   const Placement& placement,
                                                   const grpc::ServerContext& context,
                                                   std::string_view method, events::RuleRecord rule,
                                                   bool create);
absl::Status DeleteRuleSiteWide(const server::ServiceEnv& env, const Placement& placement,
                                const grpc::ServerContext& context, std::string_view name);

// `local` answers the same request from this node's store.
using LocalListEvents =
    std::function<absl::Status(const v1::ListEventsRequest&, v1::ListEventsResponse*)>;
absl::Status FanOutListEvents(const server::ServiceEnv& env, const Placement& placement,
                              const grpc::ServerContext& context,
                              const v1::ListEventsRequest& request, uint32_t limit,
                              const LocalListEvents& local, v1::ListEventsResponse* response);

// `local` acks at this node's store (NOT_FOUND when it does not hold the event).
using LocalAck = std::function<absl::StatusOr<v1::Event>()>;
absl::Status FanOutAck(const server::ServiceEnv& env, const Placement& placement,
                       const grpc::ServerContext& context, const v1::AckRequest& request,
                       const LocalAck& local, v1::Event* response);

// Merges `other`, a copy of the same event held elsewhere, into `into`, as
// the stores merge event facts (docs/events.md, "Events"): a live raise
// over a late one, the earliest clear and the earliest ack.
void MergeEventCopies(const v1::Event& other, v1::Event* into);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_FANOUT_EVENTS_H_
