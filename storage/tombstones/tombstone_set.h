// File: tombstone_set.h
// TombstoneSet: the deleted tag incarnations a site knows, and the version
// state around them (docs/consistency.md, "Deleting a tag").
#ifndef HISTORIAN_STORAGE_TOMBSTONES_TOMBSTONE_SET_H_
#define HISTORIAN_STORAGE_TOMBSTONES_TOMBSTONE_SET_H_

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "api/core/types.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/log_entry.h"
#include "storage/engine/rocks_db.h"

namespace historian {

// Tag id -> highest tombstone version (loaded at open and never trimmed:
// every apply path drops samples at or below it), the version floor above
// which new writes are stamped, the highest version applied here, and the
// purges due. Not thread-safe: the store guards it with its mu. The delete
// actions that drop catalog entries, chunks and rollups are the store's.
class TombstoneSet {
 public:
  // At open: tombstone/ and purge/ keys of the state CF. DataLoss on a key
  // or value of the wrong size.
  absl::Status Load(engine::RocksDb* db);

  // The tombstone version of `tag`; 0 when it was never deleted.
  Version Of(TagId tag) const {
    if (tombstones_.empty()) return 0;
    auto it = tombstones_.find(tag);
    return it == tombstones_.end() ? 0 : it->second;
  }
  // How many samples of `in` are above the tombstone of `tag` (all of them
  // when it has none): a live incarnation's, not the deleted one's.
  size_t CountAbove(TagId tag, const codec::ChunkColumns& in) const;
  // The samples of `in` above the tombstone of `tag` into *kept. Returns
  // false (and leaves *kept alone) when none is at or below it.
  bool Drop(TagId tag, const codec::ChunkColumns& in, codec::ChunkColumns* kept) const;
  // A tombstone applied here: raises the tag's, the floor and the highest
  // version seen.
  void Apply(const engine::Tombstone& t);
  // Every tombstone, by tag id.
  std::vector<engine::Tombstone> Sorted() const;

  // NextVersion hands out versions above this (the newest tombstone seen),
  // so a write after a delete always outlives it.
  Version floor() const { return floor_; }
  void RaiseFloor(Version v) { floor_ = std::max(floor_, v); }
  // The highest version of anything applied here (samples, catalog entries,
  // tombstones). A local delete's tombstone is at least this, so it covers
  // every sample the tag holds here, also a peer's of the same second.
  Version max_seen() const { return max_seen_; }
  void NoteVersion(Version v) { max_seen_ = std::max(max_seen_, v); }

  // Tombstones that met a newer incarnation of their tag: samples at or
  // below them may still sit in its chunks until the store purges them.
  void QueuePurge(const engine::Tombstone& t) { purges_due_.push_back(t); }
  // The newest purge queued, taken from the queue; false when none is.
  bool TakePurge(engine::Tombstone* t) {
    if (purges_due_.empty()) return false;
    *t = purges_due_.back();
    purges_due_.pop_back();
    return true;
  }

 private:
  absl::flat_hash_map<TagId, Version> tombstones_;
  Version floor_ = 0;
  Version max_seen_ = 0;
  std::vector<engine::Tombstone> purges_due_;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_TOMBSTONES_TOMBSTONE_SET_H_
