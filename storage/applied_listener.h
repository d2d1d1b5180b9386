// File: applied_listener.h
// AppliedListener: told of every log entry as it is applied to memory (an
// acknowledged group commit, or another site's entry applied by
// replication), for live subscriptions (server/subscriptions/).
#ifndef HISTORIAN_STORAGE_APPLIED_LISTENER_H_
#define HISTORIAN_STORAGE_APPLIED_LISTENER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/core/types.h"
#include "storage/codec/chunk_codec.h"

namespace historian {

// The samples of one tag in an applied entry, as they went into the head
// (out-of-range and tombstoned samples left out).
struct AppliedSeries {
  TagId tag;
  std::string_view name;
  const codec::ChunkColumns* cols;
};

// Thread-safety: OnApplied is called with the store's mu held, once per
// applied log entry, in apply order (per origin in sequence order). It must
// be quick, must not block on anything a writer may hold and must not call
// the store. Pointers are valid during the call only.
class AppliedListener {
 public:
  virtual ~AppliedListener() = default;
  // Entry `seq` of `origin` (also entries without samples: the position
  // moves). Not called for the log replay at open nor for repairs.
  virtual void OnApplied(std::string_view origin, uint64_t seq,
                         const std::vector<AppliedSeries>& series) = 0;
  // `origins` are gone from the store (a dropped shard's move origins,
  // storage/commit_log/move_origin.h): no entry of them is applied again,
  // and AppliedSequences no longer names them.
  virtual void OnOriginsForgotten(const std::vector<std::string>& origins) {}
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_APPLIED_LISTENER_H_
