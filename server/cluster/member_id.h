// File: member_id.h
// A node's member id in its site cluster (--cluster_member_id), kept in its
// data dir (<data_dir>/cluster/member_id) so a restart keeps its identity.
//
// Without the flag: the stored id, or, on the first start, one derived from
// the data dir (`<hostname>-<8 hex digits of a hash of the data dir's
// absolute path>`), then stored. With the flag: it must equal the stored id
// (a node never silently changes identity), or is stored when none is.
//
// Pure file operations; not thread-safe (called once at start-up).
#ifndef HISTORIAN_SERVER_CLUSTER_MEMBER_ID_H_
#define HISTORIAN_SERVER_CLUSTER_MEMBER_ID_H_

#include <string>

#include "absl/status/statusor.h"

namespace historian::cluster {

// The directory under the data dir holding the cluster files (member id,
// placement cache); created when missing.
std::string ClusterStateDir(const std::string& data_dir);

// `flag`: the --cluster_member_id value ("" when not given). Errors name the
// flag or the file.
absl::StatusOr<std::string> LoadOrCreateMemberId(const std::string& data_dir,
                                                 const std::string& flag);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_MEMBER_ID_H_
