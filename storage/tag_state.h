// File: tag_state.h (internal)
// TagState, the one record per tag that the store's parts share, and the
// helpers the store and its glue (StoreApplier, StoreMaintenanceHost) use
// on it. Not part of the public API.
#ifndef HISTORIAN_STORAGE_TAG_STATE_H_
#define HISTORIAN_STORAGE_TAG_STATE_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/catalog/catalog.h"
#include "storage/chunks/chunk_store.h"
#include "storage/engine/key_format.h"
#include "storage/head/head.h"

namespace historian {

// One tag, found by one lookup: its catalog entry (info, deleted:
// storage/catalog/), its head state (buffers, newest sample, deadband:
// storage/head/) and its chunks' state (storage/chunks/).
struct TagState : CatalogEntry, HeadState {
  ChunkState chunk;
};
// Every tag, idle or not, holds one (in the catalog's arena): the bulk of an
// idle tag's memory (bench/README.md, "Idle tags"). Grow it only knowingly.
static_assert(sizeof(TagState) <= 136, "TagState grew: every idle tag pays it");

// Says to the thread-safety analysis that the catalog's and the heads' `mu`
// is `mu` (no code).
inline void PartsShareMu(const absl::Mutex& mu, const Catalog<TagState>& catalog, const Head& heads)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) ABSL_ASSERT_EXCLUSIVE_LOCK(catalog.mu(), heads.mu()) {}

// A big-endian u64 value (state CF values).
inline std::string U64Value(uint64_t v) {
  std::string s;
  engine::PutBigEndian64(v, &s);
  return s;
}

// Above every key of `tag` in the chunks and rollups CFs (24-byte keys that
// start with the tag id), also for the largest id: one byte longer than
// those keys, every byte after the id 0xff.
inline std::string TagKeysEnd(TagId tag) {
  return U64Value(tag) + std::string(engine::kChunkKeySize - engine::kU64Size + 1, '\xff');
}

}  // namespace historian

#endif  // HISTORIAN_STORAGE_TAG_STATE_H_
