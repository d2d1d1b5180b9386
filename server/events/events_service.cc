#include "server/events/events_service.h"

#include "absl/strings/str_cat.h"
#include "server/status_util.h"
#include "storage/catalog/glob.h"
#include "storage/events/events_part.h"

namespace historian::server {
namespace {

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
    if (env_.cluster != nullptr) {
      // Each member's store sees only the samples of the shards it owns, so
      // a rule put here would watch those tags alone and miss the rest
      // without a word (docs/cluster.md, "Alarm rules and events").
      return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
          method,
          ": alarm rules are not supported in a site cluster yet: a rule kept by one "
          "member would watch only the tags it owns (docs/cluster.md, \"Alarm rules and "
          "events\"); DeleteRule, ListRules, ListEvents and Ack still work on this "
          "member's own records")));
    }
    if (!v1::RuleKind_IsValid(rule.kind()) || rule.kind() == v1::RULE_KIND_UNSPECIFIED) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "rule.kind: ", static_cast<int>(rule.kind()),
          " is not a rule kind (1 high, 2 high_high, 3 low, 4 low_low, 5 rate, 6 stale, "
          "7 twin_deviation, 8 bad_quality)")));
    }
    if (rule.description().size() > kMaxCommentBytes) {
      return ToGrpcStatus(absl::InvalidArgumentError("rule.description: over 1024 bytes"));
    }
    absl::StatusOr<events::RuleRecord> r = store_->PutRule(RuleFromProto(rule), create);
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
  return RunRpc(env_, context, "Events.DeleteRule", RpcKind::kUnary,
                [&] { return ToGrpcStatus(store_->DeleteRule(request->name())); });
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
    absl::StatusOr<std::vector<events::EventRecord>> list = store_->ListEvents(f);
    if (!list.ok()) return ToGrpcStatus(list.status());
    for (const events::EventRecord& e : *list) EventToProto(e, response->add_events());
    return grpc::Status::OK;
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
    absl::StatusOr<events::EventRecord> e = store_->AckEvent(*id, user, request->comment());
    if (!e.ok()) return ToGrpcStatus(e.status());
    EventToProto(*e, response);
    return grpc::Status::OK;
  });
}

grpc::ServerWriteReactor<v1::SubscribeEventsResponse>* EventsService::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeEventsRequest* request) {
  return EventStream::Start(env_, &feed_watcher_, context, request);
}

void EventsService::Shutdown() { store_->CloseEventFeed(); }

}  // namespace historian::server
