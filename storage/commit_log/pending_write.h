// File: pending_write.h
// PendingWrite: one write waiting in the group-commit queue (CommitLog).
#ifndef HISTORIAN_STORAGE_COMMIT_LOG_PENDING_WRITE_H_
#define HISTORIAN_STORAGE_COMMIT_LOG_PENDING_WRITE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "storage/engine/log_entry.h"

namespace historian {

// The origin of repaired samples and catalog entries (Store::ApplyRepair,
// ApplyTombstones): numbered like another origin's entries, never shipped.
inline constexpr char kRepairOrigin[] = "~repair";

// A write waiting in the group-commit queue: an own write (data or catalog
// change; the leader assigns the sequence), or an entry of another origin
// (a peer's write, or a repair) with its sequence given. Owned by the
// writer's thread; the fields after `encoded` change under the store's mu.
struct PendingWrite {
  std::string origin;
  uint64_t seq = 0;         // given for other origins; assigned for own
  bool assign_seq = false;  // own writes and repairs
  std::string client_id;
  uint64_t batch_seq = 0;
  uint64_t dedupe_digest = 0;  // WriteInput::dedupe_digest
  engine::LogEntry entry;
  // An own write's tags of another site's making whose definition it
  // restates (Store::PrepareOwnEntry).
  std::vector<TagId> restated;
  std::string encoded;  // entry bytes, encoded by the writer
  // False while the writer encodes outside the lock after queueing; the
  // leader takes only ready writers from the queue front.
  bool ready = true;
  uint64_t accepted = 0;
  bool done = false;
  bool skipped = false;  // already applied (a replayed replication entry)
  // The event feed position of the entry's first event write (0: none),
  // from the applier's prepare step to its apply step.
  uint64_t event_feed_position = 0;
  absl::Status status;

  // A client batch that the dedupe window remembers.
  bool deduped() const { return !client_id.empty() && batch_seq != 0; }
};

// True when `entry` deletes tags (tombstones, or deletes by name of older
// nodes).
inline bool HasDeletes(const engine::LogEntry& entry) {
  return !entry.tombstones.empty() || !entry.catalog_deletes.empty();
}

}  // namespace historian

#endif  // HISTORIAN_STORAGE_COMMIT_LOG_PENDING_WRITE_H_
