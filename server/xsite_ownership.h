// File: xsite_ownership.h
// XsiteOwnership: the shards of this node's own site that every cross-site
// cursor of this node is complete for (docs/cluster.md, "Placement changes
// on either side"): no cursor passed an entry of a peer's log without this
// node applying every series of these shards in it. Kept in
// <data_dir>/XSITE_OWNERSHIP ("num_shards:s1,s2,..."), so a restart knows
// which shards still need a range sync.
//
// The value only shrinks on its own: Lower() runs before a pull stream
// applies entries cut to a smaller set. It grows only through
// BeginChange()/FinishChange(), around a range sync of the shards it adds;
// whatever Lower() cut in between is kept out of the new value.
//
//   std::optional<ShardSet> before = ownership.BeginChange();
//   ... range-sync now's shards not in `before` ...
//   ownership.FinishChange(now);
//
// nullopt means every tag: a single node, or a fresh node whose cursors are
// all 0 (no file).
//
// Thread-safety: thread-safe (mu_); the file is written under mu_, so it
// always holds the last value. One change (Begin..Finish) at a time.
#ifndef HISTORIAN_SERVER_XSITE_OWNERSHIP_H_
#define HISTORIAN_SERVER_XSITE_OWNERSHIP_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/replication_filter.h"

namespace historian::server {

class XsiteOwnership {
 public:
  // Reads `file` (empty: kept in memory only). No file: every tag. An
  // unreadable file: no shard (every owned shard range-syncs; logged).
  explicit XsiteOwnership(std::string file);
  XsiteOwnership(const XsiteOwnership&) = delete;
  XsiteOwnership& operator=(const XsiteOwnership&) = delete;

  std::optional<ShardSet> Get() const ABSL_LOCKS_EXCLUDED(mu_);

  // Entries cut to `cut` (nullopt: whole entries) are about to be applied:
  // the value becomes its intersection with `cut`, written to the file
  // before this returns when it changed. Internal error when the file
  // cannot be written (then nothing may be applied).
  absl::Status Lower(const std::optional<ShardSet>& cut) ABSL_LOCKS_EXCLUDED(mu_);

  // Starts a change: returns the value now, and remembers every Lower()
  // from here on for FinishChange().
  std::optional<ShardSet> BeginChange() ABSL_LOCKS_EXCLUDED(mu_);
  // Sets the value to `now` intersected with what Lower() cut since
  // BeginChange(); REQUIRES: every shard of `now` not in BeginChange()'s
  // value was range-synced after it.
  absl::Status FinishChange(const std::optional<ShardSet>& now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Status Write(const std::optional<ShardSet>& value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string file_;
  mutable absl::Mutex mu_;
  std::optional<ShardSet> value_ ABSL_GUARDED_BY(mu_);
  // What Lower() cut since BeginChange() (nullopt: nothing).
  std::optional<ShardSet> cut_since_ ABSL_GUARDED_BY(mu_);
};

// `a` ∩ `b`, nullopt standing for every tag.
std::optional<ShardSet> IntersectOwnership(const std::optional<ShardSet>& a,
                                           const std::optional<ShardSet>& b);
// True when `filter` (nullopt: whole entries) holds every shard of `owned`
// (nullopt: every tag).
bool FilterCovers(const std::optional<ShardSet>& filter, const std::optional<ShardSet>& owned);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_XSITE_OWNERSHIP_H_
