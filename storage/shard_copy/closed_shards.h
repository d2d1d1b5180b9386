// File: closed_shards.h
// ClosedShards: the virtual shards whose own writes a store refuses while a
// shard move hands them over (docs/cluster.md, "Moving shards", steps 5 and
// 6). The source closes a shard when the placement flips it away, so every
// own log entry holding the shard is at or below its fence; the target
// closes it before the flip and opens it once it has tailed the source's
// log to that fence, so it stamps no version of the shard before it holds
// everything the source stamped. Kept durably by the store (state CF,
// engine::ShardClosedKey) so a restart refuses the same shards.
//
//   ClosedShards closed;
//   closed.Set(3, 64, "shard 3 is being handed over to us-2");
//   RETURN_IF_ERROR(closed.CheckTag("pump.temp"));  // UNAVAILABLE if in shard 3
//
// Thread-safety: none; the store's mu guards it.
#ifndef HISTORIAN_STORAGE_SHARD_COPY_CLOSED_SHARDS_H_
#define HISTORIAN_STORAGE_SHARD_COPY_CLOSED_SHARDS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace historian::shard_copy {

struct ClosedShard {
  uint32_t num_shards = 0;
  std::string reason;  // why, for the refusal's message
  // A move's target closed it before the flip: own writes wait a moment
  // for the open (the handover takes tens of milliseconds) instead of
  // failing at once. In memory only (not encoded): after a restart they
  // are refused at once until the open.
  bool hold_writes = false;

  bool operator==(const ClosedShard&) const = default;
};

class ClosedShards {
 public:
  void Set(uint32_t shard, ClosedShard closed) { closed_[shard] = std::move(closed); }
  // True when `shard` was closed.
  bool Erase(uint32_t shard) { return closed_.erase(shard) > 0; }
  bool empty() const { return closed_.empty(); }
  const std::map<uint32_t, ClosedShard>& all() const { return closed_; }

  // UNAVAILABLE naming the tag, its shard and the reason when the tag's
  // shard is closed; OK otherwise (at once when nothing is closed).
  absl::Status CheckTag(std::string_view name) const;
  // The closed shard holding tag `name`; nullptr when its shard is open.
  const ClosedShard* ShardOfTag(std::string_view name) const;

  // The state CF value of a closed shard; DataLoss for malformed bytes.
  static std::string Encode(const ClosedShard& closed);
  static absl::StatusOr<ClosedShard> Decode(std::string_view bytes);

 private:
  std::map<uint32_t, ClosedShard> closed_;
};

}  // namespace historian::shard_copy

#endif  // HISTORIAN_STORAGE_SHARD_COPY_CLOSED_SHARDS_H_
