// File: subscribe_heartbeat.h
// Heartbeats of a fanned-out Query.Subscribe's parts (docs/cluster.md,
// "Subscribe"): after its first response an owner's silence looks the same
// whether it has no new samples or is hung (a stopped process keeps its
// sockets; a wedged handler under a live transport even answers pings).
// The coordinator asks each part for a heartbeat every interval; an owner
// that takes the request says so in its initial metadata and then never
// stays silent much longer than that, so a part silent for
// --cluster_forward_timeout ends the caller's stream UNAVAILABLE naming it.
// Pure functions; no thread-safety concerns.
#ifndef HISTORIAN_SERVER_CLUSTER_SUBSCRIBE_HEARTBEAT_H_
#define HISTORIAN_SERVER_CLUSTER_SUBSCRIBE_HEARTBEAT_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace historian::cluster {

// Request metadata of a part: the interval, in milliseconds.
inline constexpr char kSubscribeHeartbeatMetadataKey[] = "x-historian-subscribe-heartbeat-ms";
// The owner's initial metadata: it sends them (a member of an older version
// does not, and its silence is not taken for a hang).
inline constexpr char kSubscribeHeartbeatsSentMetadataKey[] = "x-historian-subscribe-heartbeats";

// The interval a coordinator asks for: a quarter of the silence it allows.
absl::Duration SubscribeHeartbeatInterval(absl::Duration forward_timeout);
std::string SubscribeHeartbeatValue(absl::Duration interval);
// nullopt when `value` is not a whole count of milliseconds within
// [10 ms, 1 h] (an owner then sends none, and does not say it does).
std::optional<absl::Duration> ParseSubscribeHeartbeatValue(std::string_view value);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_SUBSCRIBE_HEARTBEAT_H_
