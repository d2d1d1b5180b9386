// File: member_probe.h
// ProbeMember: does the member at an address answer a call now? Used
// before an admin writes a fence for a move's source (Cluster.
// FenceWithoutSource): a source whose etcd lease ran out may only be cut
// off from etcd, alive and still serving.
//
// Thread-safety: thread-safe (MemberChannels is).
#ifndef HISTORIAN_SERVER_CLUSTER_MEMBER_PROBE_H_
#define HISTORIAN_SERVER_CLUSTER_MEMBER_PROBE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/cluster/member_channels.h"

namespace historian::cluster {

// Calls Cluster.Placement at `address` (no token: a refusal is an answer
// too). OK when the member answered anything within `timeout`; otherwise
// UNAVAILABLE or DEADLINE_EXCEEDED as the call failed.
absl::Status ProbeMember(MemberChannels& channels, const std::string& address,
                         absl::Duration timeout);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_MEMBER_PROBE_H_
