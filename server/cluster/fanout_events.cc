#include "server/cluster/fanout_events.h"

#include <algorithm>
#include <bit>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/core/status_macros.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/fanout_catalog.h"
#include "server/cluster/listing_scope.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/query_fanout.h"
#include "server/cluster/run_parts.h"
#include "server/cluster/site_rules.h"
#include "server/proto_convert.h"
#include "server/rpc_env.h"
#include "server/status_util.h"
#include "storage/engine/version.h"

namespace historian::cluster {
namespace {

bool IsGlob(std::string_view s) { return s.find_first_of("*?") != std::string_view::npos; }

// Every member of the placement, shards or not: a member that handed its
// shards on still holds the events it raised for them.
std::vector<OwnerPart> EveryMember(const Placement& placement, std::string_view self_id) {
  std::vector<OwnerPart> parts;
  for (const PlacementMember& m : placement.members()) {
    OwnerPart p;
    p.member = m;
    p.self = m.id == self_id;
    parts.push_back(std::move(p));
  }
  return parts;
}

// The tags `rule_tag` covers across the site, as their owners report them:
// a glob's matches from every owner (paged; at most `max_tags` + 1 names,
// so the check sees a glob over the limit), or one name from its owner.
absl::StatusOr<std::map<std::string, engine::TagInfo>> SiteTagsOfRule(
    const server::ServiceEnv& env, const Placement& placement, const grpc::ServerContext& context,
    const std::string& rule_tag, size_t max_tags) {
  std::map<std::string, engine::TagInfo> tags;
  if (!IsGlob(rule_tag)) {
    v1::Tag tag;
    absl::Status s;
    if (placement.OwnerOfTag(rule_tag).id == env.cluster->self_id()) {
      absl::StatusOr<engine::TagInfo> info = env.store->GetTag(rule_tag);
      if (info.ok()) tags.emplace(rule_tag, *std::move(info));
      return tags;  // unknown here: the check names it
    }
    s = ForwardToOwner(env, placement, context, "Catalog.GetTag", rule_tag,
                       [&](v1::Catalog::Stub* stub, grpc::ClientContext* c) {
                         v1::GetTagRequest req;
                         req.set_name(rule_tag);
                         return stub->GetTag(c, req, &tag);
                       });
    if (s.code() == absl::StatusCode::kNotFound) return tags;
    RETURN_IF_ERROR(s);
    tags.emplace(rule_tag, server::TagFromProto(tag));
    return tags;
  }
  // Each owner's tags of the glob, page by page, through its Catalog
  // service (this node's own part too: the listing scope checks each
  // part's shards against the placement the parts were chosen by).
  const uint32_t page_size = static_cast<uint32_t>(std::min<size_t>(max_tags + 1, 10000));
  for (const OwnerPart& part : PartsForAllOwners(placement, env.cluster->self_id())) {
    auto stub = v1::Catalog::NewStub(env.member_channels->Get(part.member.address));
    std::string token;
    do {
      v1::ListTagsRequest req;
      req.set_glob(rule_tag);
      req.set_page_size(page_size);
      req.set_page_token(token);
      v1::ListTagsResponse page;
      grpc::ClientContext c;
      env.member_channels->PrepareForwardedQuery(context, &c);
      AddListingPartScope(placement, part.member.id, &c);
      absl::Status s = server::FromGrpcStatus(stub->ListTags(&c, req, &page));
      const std::vector<PartOutcome> outcome = {{&part, s}};
      RETURN_IF_ERROR(CombineOutcomes("Catalog.ListTags", outcome, env.cluster->alive_members()));
      for (const v1::Tag& t : page.tags()) tags.emplace(t.name(), server::TagFromProto(t));
      token = page.next_page_token();
    } while (!token.empty() && tags.size() <= max_tags);
  }
  return tags;
}

// Asks every other member to apply the site's record of rule `name` now
// (this member applied `written`, version `written.version`). ABORTED when
// some member holds a newer record of the name (a change made at a peer
// site, not in etcd yet): that record wins everywhere, this change does not.
absl::Status SyncOnEveryMember(const server::ServiceEnv& env, const Placement& placement,
                               const grpc::ServerContext& context, std::string_view method,
                               const events::RuleRecord& written) {
  const std::vector<OwnerPart> parts = EveryMember(placement, env.cluster->self_id());
  ParallelUnary<v1::SyncRuleResponse> calls(context, *env.member_channels);
  std::vector<std::unique_ptr<v1::Cluster::Stub>> stubs;
  std::vector<const OwnerPart*> asked;
  v1::SyncRuleRequest req;
  req.set_name(written.name);
  for (const OwnerPart& part : parts) {
    if (part.self) continue;
    stubs.push_back(v1::Cluster::NewStub(env.member_channels->Get(part.member.address)));
    v1::Cluster::Stub* stub = stubs.back().get();
    calls.Start([&](grpc::ClientContext* c, grpc::CompletionQueue* cq) {
      return stub->AsyncSyncRule(c, req, cq);
    });
    asked.push_back(&part);
  }
  calls.Wait();
  std::vector<std::string> missing, newer;
  // Only a newer record stamped by another site: one stamped here is a
  // later change at this site (another call), which last-writer-wins
  // orders after this one as on a single node.
  const uint8_t own_tag = engine::SiteTag(env.store->options().site);
  auto elsewhere = [&](Version v) {
    return v > written.version && engine::VersionSiteTag(v) != own_tag;
  };
  if (std::optional<events::RuleRecord> here = env.store->FindRule(written.name);
      here.has_value() && elsewhere(here->version)) {
    newer.push_back(absl::StrCat(env.cluster->self_id(), " (version ", here->version, ")"));
  }
  for (size_t i = 0; i < asked.size(); ++i) {
    const auto& call = calls.call(i);
    if (!call.status.ok()) {
      missing.push_back(absl::StrCat(asked[i]->member.id, " (", asked[i]->member.address,
                                     "): ", call.status.ToString()));
    } else if (elsewhere(call.response.held_version())) {
      newer.push_back(
          absl::StrCat(asked[i]->member.id, " (version ", call.response.held_version(), ")"));
    }
  }
  if (!newer.empty()) {
    return absl::AbortedError(absl::StrCat(
        std::string(method), ": rule '", written.name, "' (version ", written.version,
        ") is superseded by a newer record of it held at member ", absl::StrJoin(newer, ", "),
        ": a change made elsewhere (a peer site) wins at every member; read the rule again"));
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      std::string(method), ": rule '", written.name,
      "' is stored site-wide (etcd) and in force at this member, but these members did not "
      "confirm it yet; each takes it from etcd as soon as it reaches etcd: ",
      absl::StrJoin(missing, "; ")));
}

}  // namespace

absl::StatusOr<events::RuleRecord> PutRuleSiteWide(const server::ServiceEnv& env,
                                                   const Placement& placement,
                                                   const grpc::ServerContext& context,
                                                   std::string_view method, events::RuleRecord rule,
                                                   bool create) {
  if (rule.kind == events::RuleKind::kTwinDeviation) {
    return absl::FailedPreconditionError(absl::StrCat(
        std::string(method),
        ": twin_deviation rules are not supported in a site cluster yet: a tag and its twin "
        "are in different shards, and each member evaluates only the samples of the shards "
        "it owns (docs/cluster.md, \"Alarm rules and events\")"));
  }
  const size_t max_tags = env.store->options().rule_max_tags;
  ASSIGN_OR_RETURN(auto tags, SiteTagsOfRule(env, placement, context, rule.tag, max_tags));
  // Two operators writing one name at once: the second write's compare
  // fails, and it reads the name again (a create then finds it taken).
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<SiteRules::Held> held, env.site_rules->Get(rule.name));
    const bool live = held.has_value() && !held->rule.deleted;
    if (create && live) {
      return absl::AlreadyExistsError(absl::StrCat("rule '", rule.name, "' exists"));
    }
    if (!create && !live) {
      return absl::NotFoundError(absl::StrCat("rule '", rule.name, "' not found"));
    }
    ASSIGN_OR_RETURN(
        events::RuleRecord prepared,
        env.store->PrepareRule(
            rule, {.create = create, .catalog = &tags, .floor = held ? held->rule.version : 0}));
    absl::StatusOr<int64_t> written = env.site_rules->Put(prepared, held ? held->mod_revision : 0);
    if (written.status().code() == absl::StatusCode::kAborted && attempt < kAttempts) continue;
    RETURN_IF_ERROR(written.status());
    RETURN_IF_ERROR(env.store->ApplyRule(prepared));
    RETURN_IF_ERROR(SyncOnEveryMember(env, placement, context, method, prepared));
    return prepared;
  }
}

absl::Status DeleteRuleSiteWide(const server::ServiceEnv& env, const Placement& placement,
                                const grpc::ServerContext& context, std::string_view name) {
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<SiteRules::Held> held, env.site_rules->Get(name));
    if (!held.has_value() || held->rule.deleted) {
      return absl::NotFoundError(absl::StrCat("rule '", std::string(name), "' not found"));
    }
    events::RuleRecord deletion = held->rule;
    deletion.deleted = true;
    deletion.version = env.store->StampRuleVersion(name, held->rule.version);
    absl::StatusOr<int64_t> written = env.site_rules->Put(deletion, held->mod_revision);
    if (written.status().code() == absl::StatusCode::kAborted && attempt < kAttempts) continue;
    RETURN_IF_ERROR(written.status());
    RETURN_IF_ERROR(env.store->ApplyRule(deletion));
    return SyncOnEveryMember(env, placement, context, "Events.DeleteRule", deletion);
  }
}

void MergeEventCopies(const v1::Event& other, v1::Event* into) {
  // A copy with no raise fact (only an ack or a clear came yet) has no
  // origin site: every raise names the site that raised it.
  const bool other_raised = !other.origin_site().empty();
  const bool into_raised = !into->origin_site().empty();
  if (other_raised) {
    const uint64_t ov = std::bit_cast<uint64_t>(other.value());
    const uint64_t iv = std::bit_cast<uint64_t>(into->value());
    if (!into_raised ||
        std::make_tuple(other.late(), other.raised_unix_ns(), ov, other.origin_site()) <
            std::make_tuple(into->late(), into->raised_unix_ns(), iv, into->origin_site())) {
      into->set_raised_unix_ns(other.raised_unix_ns());
      into->set_value(other.value());
      into->set_late(other.late());
      into->set_origin_site(other.origin_site());
    }
  }
  if (other.cleared() && (!into->cleared() || other.cleared_unix_ns() < into->cleared_unix_ns())) {
    into->set_cleared(true);
    into->set_cleared_unix_ns(other.cleared_unix_ns());
  }
  if (other.acked() &&
      (!into->acked() ||
       std::make_tuple(other.acked_unix_ns(), other.ack_user(), other.ack_comment()) <
           std::make_tuple(into->acked_unix_ns(), into->ack_user(), into->ack_comment()))) {
    into->set_acked(true);
    into->set_acked_unix_ns(other.acked_unix_ns());
    into->set_ack_user(other.ack_user());
    into->set_ack_comment(other.ack_comment());
  }
  into->set_active(!into->origin_site().empty() && !into->late() && !into->cleared());
}

absl::Status FanOutListEvents(const server::ServiceEnv& env, const Placement& placement,
                              const grpc::ServerContext& context,
                              const v1::ListEventsRequest& request, uint32_t limit,
                              const LocalListEvents& local, v1::ListEventsResponse* response) {
  const std::vector<OwnerPart> parts = EveryMember(placement, env.cluster->self_id());
  v1::ListEventsRequest part_request = request;
  part_request.set_limit(limit);
  std::vector<v1::ListEventsResponse> lists;
  RETURN_IF_ERROR(RunParts<v1::Events>(
      env, context, "Events.ListEvents", parts,
      std::vector<v1::ListEventsRequest>(parts.size(), part_request),
      [](v1::Events::Stub* stub, grpc::ClientContext* c, const v1::ListEventsRequest& r,
         grpc::CompletionQueue* cq) { return stub->AsyncListEvents(c, r, cq); },
      local, &lists));
  // Each member answered its newest `limit`; the site's newest `limit` are
  // among their union.
  std::map<std::string, v1::Event> by_id;
  for (v1::ListEventsResponse& list : lists) {
    for (v1::Event& e : *list.mutable_events()) {
      auto [it, fresh] = by_id.try_emplace(e.id(), e);
      if (!fresh) MergeEventCopies(e, &it->second);
    }
  }
  std::vector<v1::Event*> merged;
  for (auto& [id, e] : by_id) {
    // A member's copy can be active while another's is cleared already.
    if (request.active_only() && !e.active()) continue;
    merged.push_back(&e);
  }
  std::sort(merged.begin(), merged.end(), [](const v1::Event* a, const v1::Event* b) {
    return std::make_tuple(b->raised_unix_ns(), b->id()) <
           std::make_tuple(a->raised_unix_ns(), a->id());
  });
  if (merged.size() > limit) merged.resize(limit);
  for (v1::Event* e : merged) *response->add_events() = std::move(*e);
  return absl::OkStatus();
}

absl::Status FanOutAck(const server::ServiceEnv& env, const Placement& placement,
                       const grpc::ServerContext& context, const v1::AckRequest& request,
                       const LocalAck& local, v1::Event* response) {
  const std::vector<OwnerPart> parts = EveryMember(placement, env.cluster->self_id());
  ParallelUnary<v1::Event> calls(context, *env.member_channels);
  std::vector<std::unique_ptr<v1::Events::Stub>> stubs;
  std::vector<const OwnerPart*> asked;
  for (const OwnerPart& part : parts) {
    if (part.self) continue;
    stubs.push_back(v1::Events::NewStub(env.member_channels->Get(part.member.address)));
    v1::Events::Stub* stub = stubs.back().get();
    calls.Start([&](grpc::ClientContext* c, grpc::CompletionQueue* cq) {
      return stub->AsyncAck(c, request, cq);
    });
    asked.push_back(&part);
  }
  std::optional<v1::Event> acked;
  absl::StatusOr<v1::Event> own = local();
  if (own.ok()) {
    acked = *std::move(own);
  } else if (own.status().code() != absl::StatusCode::kNotFound) {
    calls.Cancel();
    return own.status();
  }
  calls.Wait();
  std::vector<PartOutcome> unreachable;
  absl::Status first_error;
  for (size_t i = 0; i < asked.size(); ++i) {
    auto& call = calls.call(i);
    if (call.status.ok()) {
      if (!acked.has_value()) {
        acked = std::move(call.response);
      } else {
        MergeEventCopies(call.response, &*acked);
      }
    } else if (call.status.code() == absl::StatusCode::kUnavailable ||
               call.status.code() == absl::StatusCode::kDeadlineExceeded) {
      unreachable.push_back({asked[i], call.status});
    } else if (call.status.code() != absl::StatusCode::kNotFound && first_error.ok()) {
      first_error = call.status;
    }
  }
  RETURN_IF_ERROR(first_error);
  // A member that could not be asked may hold the event (or a copy of a
  // peer site's): the ack is not where it should be yet.
  RETURN_IF_ERROR(CombineOutcomes("Events.Ack", unreachable, env.cluster->alive_members()));
  if (!acked.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("event ", request.id(), " not found at any member of this site"));
  }
  *response = *std::move(acked);
  return absl::OkStatus();
}

}  // namespace historian::cluster
