// File: site_verify.h
// Admin.Verify of a whole site cluster against a peer site (docs/cluster.md,
// "Between site clusters"). Each member compares the shards it owns with
// every member of the peer site (Replicator::Verify); the member the
// operator called asks all the others (forwarded, one hop) and adds their
// answers up. Together the members own every shard of their site, and every
// peer tag falls in one of them, so the sum covers both sites' data once:
// each member is told the shards it is asked for (listing_scope.h) and
// refuses when its placement gives it others, and the caller's own part
// runs only while its placement is the one it split by. A shard verified
// by nobody (or by two) across a placement change fails the verify.
// A member that does not answer fails the whole verify (UNAVAILABLE naming
// it): a verify never reports "equal" over part of a site.
//
// Thread-safety: stateless; the calls run on threads of their own.
#ifndef HISTORIAN_SERVER_SITE_VERIFY_H_
#define HISTORIAN_SERVER_SITE_VERIFY_H_

#include <functional>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "historian/v1/admin.pb.h"
#include "server/rpc_env.h"

namespace historian::server {

// Adds `part` into `total` (sums; differing tags and members joined).
void AddVerifyResult(const v1::VerifyResponse& part, v1::VerifyResponse* total);

// Runs `local` here and Admin.Verify(request) at every other member of the
// placement in `env.cluster` (with the caller's token and the forwarded
// marker), and adds them up.
absl::StatusOr<v1::VerifyResponse> VerifyAcrossMembers(
    const ServiceEnv& env, const grpc::ServerContext& caller, const v1::VerifyRequest& request,
    const std::function<absl::StatusOr<v1::VerifyResponse>()>& local);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_SITE_VERIFY_H_
