#include "server/site_verify.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "historian/v1/admin.grpc.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/listing_scope.h"
#include "server/cluster/member_channels.h"
#include "server/status_util.h"

namespace historian::server {

void AddVerifyResult(const v1::VerifyResponse& part, v1::VerifyResponse* total) {
  total->set_tags_compared(total->tags_compared() + part.tags_compared());
  total->set_buckets_compared(total->buckets_compared() + part.buckets_compared());
  total->set_buckets_differing(total->buckets_differing() + part.buckets_differing());
  total->set_local_samples(total->local_samples() + part.local_samples());
  total->set_peer_samples(total->peer_samples() + part.peer_samples());
  total->set_samples_repaired(total->samples_repaired() + part.samples_repaired());
  std::set<std::string> tags(total->differing_tags().begin(), total->differing_tags().end());
  tags.insert(part.differing_tags().begin(), part.differing_tags().end());
  total->clear_differing_tags();
  for (const std::string& t : tags) total->add_differing_tags(t);
  for (const std::string& m : part.members_verified()) total->add_members_verified(m);
  total->set_peer_members(std::max(total->peer_members(), part.peer_members()));
  total->set_event_records_local(total->event_records_local() + part.event_records_local());
  total->set_event_records_peer(total->event_records_peer() + part.event_records_peer());
  total->set_events_differ(total->events_differ() || part.events_differ());
  total->set_event_records_repaired(total->event_records_repaired() +
                                    part.event_records_repaired());
  total->set_tag_definitions_behind(total->tag_definitions_behind() +
                                    part.tag_definitions_behind());
  total->set_tag_definitions_repaired(total->tag_definitions_repaired() +
                                      part.tag_definitions_repaired());
}

absl::StatusOr<v1::VerifyResponse> VerifyAcrossMembers(
    const ServiceEnv& env, const grpc::ServerContext& caller, const v1::VerifyRequest& request,
    const std::function<absl::StatusOr<v1::VerifyResponse>()>& local) {
  std::shared_ptr<const cluster::Placement> placement = env.cluster->placement();
  const std::string self = env.cluster->self_id();
  std::vector<cluster::PlacementMember> others;
  for (const cluster::PlacementMember& m : placement->members()) {
    if (m.id != self) others.push_back(m);
  }
  struct Result {
    absl::StatusOr<v1::VerifyResponse> value = absl::UnknownError("not run");
  };
  std::vector<Result> results(others.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < others.size(); ++i) {
    threads.emplace_back([&, i] {
      const cluster::PlacementMember& m = others[i];
      auto stub = v1::Admin::NewStub(env.member_channels->Get(m.address));
      grpc::ClientContext ctx;
      cluster::MemberChannels::PrepareForwardedCall(caller, &ctx);
      // The shards it is asked for: it refuses if its placement gives it others.
      cluster::AddListingPartScope(*placement, m.id, &ctx);
      v1::VerifyResponse resp;
      grpc::Status st = stub->Verify(&ctx, request, &resp);
      if (st.ok()) {
        results[i].value = std::move(resp);
      } else {
        results[i].value =
            absl::Status(FromGrpcStatus(st).code(),
                         absl::StrCat("member ", m.id, " (", m.address, "): ", st.error_message()));
      }
    });
  }
  absl::StatusOr<v1::VerifyResponse> mine = absl::UnknownError("not run");
  absl::Status own = cluster::RunOwnListingPart(*env.cluster, *placement, "Admin.Verify", [&] {
    mine = local();
    return mine.status();
  });
  if (!own.ok()) mine = own;
  for (std::thread& t : threads) t.join();
  if (!mine.ok()) {
    return absl::Status(mine.status().code(),
                        absl::StrCat("member ", self, ": ", mine.status().message()));
  }
  v1::VerifyResponse total;
  AddVerifyResult(*mine, &total);
  std::vector<std::string> failed;
  for (size_t i = 0; i < others.size(); ++i) {
    if (!results[i].value.ok()) {
      failed.push_back(std::string(results[i].value.status().message()));
      continue;
    }
    AddVerifyResult(*results[i].value, &total);
  }
  if (!failed.empty()) {
    std::string msg = "verify of the whole site incomplete: ";
    for (size_t i = 0; i < failed.size(); ++i) absl::StrAppend(&msg, i ? "; " : "", failed[i]);
    return absl::UnavailableError(msg);
  }
  return total;
}

}  // namespace historian::server
