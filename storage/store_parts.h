// File: store_parts.h (internal)
// The parts' headers for the store's own files (storage/store*.cc), and
// the store's inline tag lookups. Not part of the public API.
#ifndef HISTORIAN_STORAGE_STORE_PARTS_H_
#define HISTORIAN_STORAGE_STORE_PARTS_H_

#include <string_view>

#include "storage/catalog/catalog.h"
#include "storage/chunks/chunk_store.h"
#include "storage/commit_log/commit_log.h"
#include "storage/commit_log/pending_write.h"
#include "storage/engine/rocks_db.h"
#include "storage/events/events_merge.h"
#include "storage/events/events_part.h"
#include "storage/head/head.h"
#include "storage/maintenance/compactor.h"
#include "storage/maintenance/sealer.h"
#include "storage/out_of_range_samples.h"
#include "storage/own_log/own_log.h"
#include "storage/rollups/rollups.h"
#include "storage/store.h"
#include "storage/store_applier.h"
#include "storage/store_maintenance_host.h"
#include "storage/tag_state.h"
#include "storage/tombstones/tombstone_set.h"

namespace historian {

inline TagState* Store::FindTag(TagId id) const {
  PartsShareMu(mu_, *catalog_, *heads_);
  return catalog_->Find(id);
}

inline TagState* Store::FindTagByName(std::string_view name) const {
  return catalog_->FindByName(name);
}

}  // namespace historian

#endif  // HISTORIAN_STORAGE_STORE_PARTS_H_
