// File: cluster_flags.h
// Parsing of historiand's --cluster_* flags (docs/cluster.md, "Flags").
// Errors are INVALID_ARGUMENT naming the flag and the value. Pure; no
// thread-safety concerns.
#ifndef HISTORIAN_SERVER_CLUSTER_CLUSTER_FLAGS_H_
#define HISTORIAN_SERVER_CLUSTER_CLUSTER_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace historian::cluster {

// --cluster_etcd: "host:port,host:port,..." (empty: not in a cluster, an
// empty list). Each entry needs a host and a port 1..65535; duplicates are
// refused.
absl::StatusOr<std::vector<std::string>> ParseEtcdEndpointsFlag(const std::string& flag);

// The address this node registers (--cluster_advertise): the flag when
// given (host:port, port 1..65535, not a wildcard host), else --listen's
// host with `bound_port` (the port gRPC bound; --listen may say 0). A
// wildcard --listen host (0.0.0.0, [::], empty) needs the flag.
// `bound_port` 0: not bound yet; then a --listen port 0 cannot be resolved
// and the result is "" (known after bind).
absl::StatusOr<std::string> ResolveAdvertiseAddress(const std::string& flag,
                                                    const std::string& listen, int bound_port);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_CLUSTER_FLAGS_H_
