// File: events_service.h
// EventsService: the Events gRPC service (api/historian/v1/events.proto,
// docs/events.md): rules (admin), event lists and the change stream
// (reader), acknowledgements (writer; the user is the caller's token name).
// Every method runs inside RunRpc (role check, stream slot, metrics);
// Subscribe is on gRPC's callback API (event_stream.h), the rest on the
// synchronous one.
//
// Thread-safety: stateless beyond its ServiceEnv and the feed watcher
// (thread-safe); called concurrently by gRPC's threads.
#ifndef HISTORIAN_SERVER_EVENTS_EVENTS_SERVICE_H_
#define HISTORIAN_SERVER_EVENTS_EVENTS_SERVICE_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "historian/v1/events.grpc.pb.h"
#include "server/cluster/placement.h"
#include "server/events/event_stream.h"
#include "server/rpc_env.h"
#include "storage/events/event_record.h"

namespace historian::server {

// The longest glob of ListEvents and Subscribe.
inline constexpr size_t kMaxEventGlobBytes = 1024;

class EventsService final : public v1::Events::WithCallbackMethod_Subscribe<v1::Events::Service> {
 public:
  // Everything `env` points to must outlive the service. Starts the feed
  // watcher's thread.
  explicit EventsService(const ServiceEnv& env)
      : env_(env), store_(env.store), feed_watcher_(env.store) {}

  grpc::Status CreateRule(grpc::ServerContext* context, const v1::CreateRuleRequest* request,
                          v1::Rule* response) override;
  grpc::Status UpdateRule(grpc::ServerContext* context, const v1::UpdateRuleRequest* request,
                          v1::Rule* response) override;
  grpc::Status DeleteRule(grpc::ServerContext* context, const v1::DeleteRuleRequest* request,
                          v1::DeleteRuleResponse* response) override;
  grpc::Status ListRules(grpc::ServerContext* context, const v1::ListRulesRequest* request,
                         v1::ListRulesResponse* response) override;
  grpc::Status ListEvents(grpc::ServerContext* context, const v1::ListEventsRequest* request,
                          v1::ListEventsResponse* response) override;
  grpc::Status Ack(grpc::ServerContext* context, const v1::AckRequest* request,
                   v1::Event* response) override;
  grpc::ServerWriteReactor<v1::SubscribeEventsResponse>* Subscribe(
      grpc::CallbackServerContext* context, const v1::SubscribeEventsRequest* request) override;
  // Open Subscribe streams.
  size_t open_streams() const { return feed_watcher_.open(); }
  // Closes the event feed: every open Subscribe stream ends UNAVAILABLE
  // (on the feed watcher's threads, soon after; a stream writing to a
  // stalled client once its write ends, at the latest when the server's
  // shutdown grace cancels it) and new ones are refused. Call before the
  // gRPC server's Shutdown, which waits for open calls.
  void Shutdown();

 private:
  grpc::Status PutRule(grpc::ServerContext* context, const char* method, const v1::Rule& rule,
                       bool create, v1::Rule* response);
  // In a site cluster the placement rule changes are checked and spread by
  // (null: a single node, the store alone); errors name `method`.
  absl::StatusOr<std::shared_ptr<const cluster::Placement>> SiteRulesPlacement(
      const grpc::ServerContext& context, std::string_view method) const;
  // The placement whose members ListEvents, Ack and Subscribe ask (null: a
  // single node, or a call forwarded by a member: this node's events);
  // UNAVAILABLE in a cluster without a placement.
  absl::StatusOr<std::shared_ptr<const cluster::Placement>> EventsPlacement(
      const grpc::ServerContextBase& context, std::string_view method) const;

  const ServiceEnv env_;
  Store* const store_;
  EventFeedWatcher feed_watcher_;
};

// Conversions (also for tests).
events::RuleRecord RuleFromProto(const v1::Rule& rule);
void RuleToProto(const events::RuleRecord& rule, v1::Rule* out);
void EventToProto(const events::EventRecord& e, v1::Event* out);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_EVENTS_EVENTS_SERVICE_H_
