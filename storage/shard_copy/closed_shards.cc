#include "storage/shard_copy/closed_shards.h"

#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "storage/engine/key_format.h"

namespace historian::shard_copy {

const ClosedShard* ClosedShards::ShardOfTag(std::string_view name) const {
  for (const auto& [shard, closed] : closed_) {
    if (TagShard(name, closed.num_shards) == shard) return &closed;
  }
  return nullptr;
}

absl::Status ClosedShards::CheckTag(std::string_view name) const {
  const ClosedShard* closed = ShardOfTag(name);
  if (closed == nullptr) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "tag '", std::string(name), "' (shard ", TagShard(name, closed->num_shards), " of ",
      closed->num_shards, "): ", closed->reason, "; nothing of this write was stored, retry"));
}

// Layout: u64 num_shards (big-endian), then the reason's bytes.
std::string ClosedShards::Encode(const ClosedShard& closed) {
  std::string out;
  engine::PutBigEndian64(closed.num_shards, &out);
  out += closed.reason;
  return out;
}

absl::StatusOr<ClosedShard> ClosedShards::Decode(std::string_view bytes) {
  if (bytes.size() < engine::kU64Size) {
    return absl::DataLossError(
        absl::StrCat("closed shard: ", bytes.size(), " bytes, want at least ", engine::kU64Size));
  }
  const uint64_t num_shards = engine::GetBigEndian64(bytes.data());
  if (num_shards == 0 || num_shards > UINT32_MAX) {
    return absl::DataLossError(absl::StrCat("closed shard: num_shards ", num_shards));
  }
  return ClosedShard{static_cast<uint32_t>(num_shards),
                     std::string(bytes.substr(engine::kU64Size))};
}

}  // namespace historian::shard_copy
