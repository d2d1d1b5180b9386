// File: in_process_pull.h
// PullUntilCaughtUp: one real Replicator at `to` pulling the own log of
// `from` over a real ReplicationService on 127.0.0.1 (both in this
// process), until `to` has applied every entry of it or `timeout` passed.
// No anti-entropy pass runs (only what the log and its range syncs do).
// For tests of the pull path without historiand processes.
#ifndef HISTORIAN_TESTS_TESTUTIL_IN_PROCESS_PULL_H_
#define HISTORIAN_TESTS_TESTUTIL_IN_PROCESS_PULL_H_

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/replication_service.h"
#include "server/replicator.h"
#include "storage/store.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {

struct PullResult {
  bool caught_up = false;             // `to` applied every entry of `from`
  std::vector<v1::PeerStatus> peers;  // the replicator's status at the end
};

inline PullResult PullUntilCaughtUp(Store* from, Store* to,
                                    absl::Duration timeout = absl::Seconds(30)) {
  PullResult result;
  const std::string origin = from->options().site;
  server::ReplicationService service(from);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  EXPECT_TRUE(server != nullptr && port > 0);
  if (server == nullptr || port <= 0) return result;
  server::ReplicatorOptions o;
  o.max_samples_per_second = 0;
  o.anti_entropy_interval = absl::ZeroDuration();
  o.min_backoff = absl::Milliseconds(10);
  o.max_backoff = absl::Milliseconds(100);
  server::Peer peer;
  peer.site = origin;
  peer.address = absl::StrCat("127.0.0.1:", port);
  peer.seeds = {peer.address};
  server::Replicator replicator(to, {peer}, o);
  replicator.Start();
  result.caught_up =
      WaitFor([&] { return to->AppliedSequence(origin) == from->OwnHeadSequence(); }, timeout);
  result.peers = replicator.Status();
  replicator.Stop();
  service.Stop();
  server->Shutdown();
  return result;
}

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_IN_PROCESS_PULL_H_
