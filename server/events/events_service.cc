#include "server/events/events_service.h"

#include "absl/strings/str_cat.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/fanout_event_stream.h"
#include "server/cluster/fanout_events.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/query_fanout.h"
#include "server/status_util.h"
#include "storage/catalog/glob.h"
#include "storage/events/events_part.h"

namespace historian::server {
namespace {

// A refused Events.Subscribe: finishes at once, deletes itself when done.
class RefusedEventsCall final : public grpc::ServerWriteReactor<v1::SubscribeEventsResponse> {
 public:
  explicit RefusedEventsCall(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

constexpr uint32_t kDefaultEventLimit = 1000;
constexpr uint32_t kMaxEventLimit = 10000;
constexpr size_t kMaxCommentBytes = 1024;

}  // namespace

events::RuleRecord RuleFromProto(const v1::Rule& rule) {
  events::RuleRecord r;
  r.name = rule.name();
  r.kind = static_cast<events::RuleKind>(rule.kind());
  r.tag = rule.tag();
  r.home_site = rule.home_site();
  if (rule.has_limit()) r.limit = rule.limit();
  r.deadband = rule.deadband();
  r.on_delay_ns = rule.on_delay_ns();
  r.window_ns = rule.window_ns();
  r.duration_ns = rule.duration_ns();
  r.description = rule.description();
  return r;
}

void RuleToProto(const events::RuleRecord& r, v1::Rule* out) {
  out->set_name(r.name);
  out->set_kind(static_cast<v1::RuleKind>(r.kind));
  out->set_tag(r.tag);
  out->set_home_site(r.home_site);
  if (r.limit.has_value()) out->set_limit(*r.limit);
  out->set_deadband(r.deadband);
  out->set_on_delay_ns(r.on_delay_ns);
  out->set_window_ns(r.window_ns);
  out->set_duration_ns(r.duration_ns);
  out->set_description(r.description);
  out->set_version(r.version);
}

void EventToProto(const events::EventRecord& e, v1::Event* out) {
  out->set_id(events::EventIdToString(e.id));
  out->set_rule(e.rule);
  out->set_tag(e.tag);
  out->set_active(e.active());
  out->set_raised_unix_ns(e.raised_ns);
  out->set_value(e.value);
  out->set_late(e.late);
  out->set_origin_site(e.origin_site);
  out->set_cleared(e.cleared);
  out->set_cleared_unix_ns(e.cleared_ns);
  out->set_acked(e.acked);
  out->set_acked_unix_ns(e.acked_ns);
  out->set_ack_user(e.ack_user);
  out->set_ack_comment(e.ack_comment);
}

grpc::Status EventsService::PutRule(grpc::ServerContext* context, const char* method,
                                    const v1::Rule& rule, bool create, v1::Rule* response) {
  return RunRpc(env_, context, method, RpcKind::kUnary, [&] {
    if (!v1::RuleKind_IsValid(rule.kind()) || rule.kind() == v1::RULE_KIND_UNSPECIFIED) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "rule.kind: ", static_cast<int>(rule.kind()),
          " is not a rule kind (1 high, 2 high_high, 3 low, 4 low_low, 5 rate, 6 stale, "
          "7 twin_deviation, 8 bad_quality)")));
    }
    if (rule.description().size() > kMaxCommentBytes) {
      return ToGrpcStatus(absl::InvalidArgumentError("rule.description: over 1024 bytes"));
    }
    absl::StatusOr<std::shared_ptr<const cluster::Placement>> placement =
        SiteRulesPlacement(*context, method);
    if (!placement.ok()) return ToGrpcStatus(placement.status());
    absl::StatusOr<events::RuleRecord> r =
        *placement == nullptr ? store_->PutRule(RuleFromProto(rule), create)
                              : cluster::PutRuleSiteWide(env_, **placement, *context, method,
                                                         RuleFromProto(rule), create);
    if (!r.ok()) return ToGrpcStatus(r.status());
    RuleToProto(*r, response);
    return grpc::Status::OK;
  });
}

grpc::Status EventsService::CreateRule(grpc::ServerContext* context,
                                       const v1::CreateRuleRequest* request, v1::Rule* response) {
  return PutRule(context, "Events.CreateRule", request->rule(), /*create=*/true, response);
}

grpc::Status EventsService::UpdateRule(grpc::ServerContext* context,
                                       const v1::UpdateRuleRequest* request, v1::Rule* response) {
  return PutRule(context, "Events.UpdateRule", request->rule(), /*create=*/false, response);
}

grpc::Status EventsService::DeleteRule(grpc::ServerContext* context,
                                       const v1::DeleteRuleRequest* request,
                                       v1::DeleteRuleResponse* /*response*/) {
  return RunRpc(env_, context, "Events.DeleteRule", RpcKind::kUnary, [&] {
    absl::StatusOr<std::shared_ptr<const cluster::Placement>> placement =
        SiteRulesPlacement(*context, "Events.DeleteRule");
    if (!placement.ok()) return ToGrpcStatus(placement.status());
    return ToGrpcStatus(*placement == nullptr ? store_->DeleteRule(request->name())
                                              : cluster::DeleteRuleSiteWide(
                                                    env_, **placement, *context, request->name()));
  });
}

grpc::Status EventsService::ListRules(grpc::ServerContext* context,
                                      const v1::ListRulesRequest* /*request*/,
                                      v1::ListRulesResponse* response) {
  return RunRpc(env_, context, "Events.ListRules", RpcKind::kUnary, [&] {
    for (const events::RuleRecord& r : store_->ListRules()) RuleToProto(r, response->add_rules());
    return grpc::Status::OK;
  });
}

grpc::Status EventsService::ListEvents(grpc::ServerContext* context,
                                       const v1::ListEventsRequest* request,
                                       v1::ListEventsResponse* response) {
  return RunRpc(env_, context, "Events.ListEvents", RpcKind::kUnary, [&] {
    if (request->glob().size() > kMaxEventGlobBytes) {
      return ToGrpcStatus(absl::InvalidArgumentError("glob: over 1024 bytes"));
    }
    events::EventFilter f;
    if (request->from_unix_ns() != 0) f.from_ns = request->from_unix_ns();
    if (request->to_unix_ns() != 0) f.to_ns = request->to_unix_ns();
    f.active_only = request->active_only();
    f.glob = request->glob();
    f.rule = request->rule();
    f.limit =
        request->limit() == 0 ? kDefaultEventLimit : std::min(request->limit(), kMaxEventLimit);
    auto local = [&](const v1::ListEventsRequest&, v1::ListEventsResponse* out) -> absl::Status {
      absl::StatusOr<std::vector<events::EventRecord>> list = store_->ListEvents(f);
      if (!list.ok()) return list.status();
      for (const events::EventRecord& e : *list) EventToProto(e, out->add_events());
      return absl::OkStatus();
    };
    absl::StatusOr<std::shared_ptr<const cluster::Placement>> placement =
        EventsPlacement(*context, "Events.ListEvents");
    if (!placement.ok()) return ToGrpcStatus(placement.status());
    if (*placement == nullptr) return ToGrpcStatus(local(*request, response));
    return ToGrpcStatus(cluster::FanOutListEvents(env_, **placement, *context, *request,
                                                  static_cast<uint32_t>(f.limit), local, response));
  });
}

grpc::Status EventsService::Ack(grpc::ServerContext* context, const v1::AckRequest* request,
                                v1::Event* response) {
  return RunRpc(env_, context, "Events.Ack", RpcKind::kUnary, [&] {
    if (request->comment().size() > kMaxCommentBytes) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("comment: ", request->comment().size(), " bytes, over 1024")));
    }
    absl::StatusOr<uint64_t> id = events::ParseEventId(request->id());
    if (!id.ok()) return ToGrpcStatus(id.status());
    // The user is the caller's token ("token@line N"); "anonymous" with
    // authorisation off.
    std::string user = "anonymous";
    if (env_.auth != nullptr && env_.auth->enabled()) {
      absl::StatusOr<Principal> p = env_.auth->Authorize(*context, "Events.Ack");
      if (!p.ok()) return ToGrpcStatus(p.status());
      user = p->name;
    }
    auto local = [&]() -> absl::StatusOr<v1::Event> {
      absl::StatusOr<events::EventRecord> e = store_->AckEvent(*id, user, request->comment());
      if (!e.ok()) return e.status();
      v1::Event out;
      EventToProto(*e, &out);
      return out;
    };
    absl::StatusOr<std::shared_ptr<const cluster::Placement>> placement =
        EventsPlacement(*context, "Events.Ack");
    if (!placement.ok()) return ToGrpcStatus(placement.status());
    if (*placement == nullptr) {
      absl::StatusOr<v1::Event> e = local();
      if (!e.ok()) return ToGrpcStatus(e.status());
      *response = *std::move(e);
      return grpc::Status::OK;
    }
    return ToGrpcStatus(cluster::FanOutAck(env_, **placement, *context, *request, local, response));
  });
}

absl::StatusOr<std::shared_ptr<const cluster::Placement>> EventsService::SiteRulesPlacement(
    const grpc::ServerContext& context, std::string_view method) const {
  if (env_.cluster == nullptr) return nullptr;
  if (env_.site_rules == nullptr || env_.member_channels == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(std::string(method), ": this cluster member holds no site-wide rules"));
  }
  if (cluster::MemberChannels::IsForwarded(context)) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(method), ": rule changes are never forwarded between members"));
  }
  std::shared_ptr<const cluster::Placement> placement = env_.cluster->placement();
  if (placement == nullptr) {
    absl::Status why = env_.cluster->NoPlacementStatus();
    if (why.ok()) placement = env_.cluster->placement();
    if (placement == nullptr) {
      return absl::UnavailableError(
          absl::StrCat(std::string(method),
                       ": this member has no placement, so it cannot check the rule's tags at "
                       "their owners: ",
                       why.message()));
    }
  }
  return placement;
}

absl::StatusOr<std::shared_ptr<const cluster::Placement>> EventsService::EventsPlacement(
    const grpc::ServerContextBase& context, std::string_view method) const {
  if (env_.cluster == nullptr || env_.member_channels == nullptr ||
      cluster::MemberChannels::IsForwarded(context)) {
    return nullptr;  // this node's own events
  }
  std::shared_ptr<const cluster::Placement> placement = env_.cluster->placement();
  if (placement != nullptr) return placement;
  // Without a placement the members are not known: this member's events
  // alone would be a shorter answer without a word.
  absl::Status why = env_.cluster->NoPlacementStatus();
  placement = env_.cluster->placement();
  if (placement != nullptr) return placement;
  return absl::UnavailableError(absl::StrCat(std::string(method),
                                             ": this member has no placement, so it does not "
                                             "know the members holding the site's events: ",
                                             why.message()));
}

grpc::ServerWriteReactor<v1::SubscribeEventsResponse>* EventsService::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeEventsRequest* request) {
  // In a site cluster every member keeps its own events: asked of all.
  absl::StatusOr<std::shared_ptr<const cluster::Placement>> placement =
      EventsPlacement(*context, "Events.Subscribe");
  if (!placement.ok()) return new RefusedEventsCall(ToGrpcStatus(placement.status()));
  if (*placement != nullptr) {
    return cluster::StartFanoutEventStream(env_, *std::move(placement), context, *request);
  }
  return EventStream::Start(env_, &feed_watcher_, context, request);
}

void EventsService::Shutdown() { store_->CloseEventFeed(); }

}  // namespace historian::server
