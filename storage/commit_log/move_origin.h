// File: move_origin.h
// The origin a shard move's tail applies under on the move's target
// (server/cluster/shard_mover.cc): "move/<shard>/<copy source>". Each copy
// has an origin of its own (the copy source names the source member and
// the copy), so no cursor is reused across copies. The source filters the
// tail to the shard's tags, so an origin's entries hold that shard's tags
// only: Store::DropShard forgets the dropped shard's move origins whole
// (cursor, log range, sealed fences) and fences no other shard's.
#ifndef HISTORIAN_STORAGE_COMMIT_LOG_MOVE_ORIGIN_H_
#define HISTORIAN_STORAGE_COMMIT_LOG_MOVE_ORIGIN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace historian {

inline constexpr std::string_view kMoveOriginPrefix = "move/";

inline std::string MoveTailOrigin(uint32_t shard, std::string_view copy_source) {
  // (This absl's string_view is not std's.)
  return absl::StrCat(absl::string_view(kMoveOriginPrefix.data(), kMoveOriginPrefix.size()), shard,
                      "/", absl::string_view(copy_source.data(), copy_source.size()));
}

// The shard of a move's tail origin; nullopt for any other origin.
inline std::optional<uint32_t> MoveTailOriginShard(std::string_view origin) {
  if (origin.substr(0, kMoveOriginPrefix.size()) != kMoveOriginPrefix) return std::nullopt;
  origin.remove_prefix(kMoveOriginPrefix.size());
  const size_t slash = origin.find('/');
  uint32_t shard = 0;
  if (slash == std::string_view::npos ||
      !absl::SimpleAtoi(absl::string_view(origin.data(), slash), &shard)) {
    return std::nullopt;
  }
  return shard;
}

}  // namespace historian

#endif  // HISTORIAN_STORAGE_COMMIT_LOG_MOVE_ORIGIN_H_
