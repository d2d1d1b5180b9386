// File: xsite_peer_departures.h
// PeerDepartures: for each peer site, the count of its members departed
// (PlacementResponse.members_departed) that this node's data is complete
// for: an anti-entropy pass over all time with the site ran after the
// placement showing that count was read (docs/cluster.md, "Placement
// changes on either side"). Kept in <data_dir>/XSITE_PEER_DEPARTURES, one
// "site count" line each, so a node that was down or cut off while a peer
// member came and went still runs the pass once it reads the new count.
//
//   if (departures.Get(site) != placement.members_departed()) { pass; Record }
//
// Thread-safety: thread-safe (mu_); the file is written under mu_.
#ifndef HISTORIAN_SERVER_XSITE_PEER_DEPARTURES_H_
#define HISTORIAN_SERVER_XSITE_PEER_DEPARTURES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace historian::server {

class PeerDepartures {
 public:
  // Reads `file` (empty: kept in memory only). No file, or an unreadable
  // one (logged): no site recorded, so every count differs.
  explicit PeerDepartures(std::string file);
  PeerDepartures(const PeerDepartures&) = delete;
  PeerDepartures& operator=(const PeerDepartures&) = delete;

  // The count recorded for `site`; nullopt: none yet.
  std::optional<uint64_t> Get(const std::string& site) const ABSL_LOCKS_EXCLUDED(mu_);
  // Records `count` for `site`, on disk (fdatasync, rename) before it returns.
  absl::Status Record(const std::string& site, uint64_t count) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::string file_;
  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t> counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_XSITE_PEER_DEPARTURES_H_
