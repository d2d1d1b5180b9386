// File: server/events/outlets/feed_cursor.h
// A durable event-feed cursor for an outlet: the next feed position it has
// not yet handed on (EventsPart's positions are durable, so the cursor means
// the same change after a restart).
//
// File: [u64 position][u32 crc32c of the 8 bytes], replaced by write +
// fdatasync + rename + directory fsync, so a crash leaves the old or the new
// cursor, never a torn one.
//
// Thread-safety: pure functions over one file; callers serialize.
#ifndef HISTORIAN_SERVER_EVENTS_OUTLETS_FEED_CURSOR_H_
#define HISTORIAN_SERVER_EVENTS_OUTLETS_FEED_CURSOR_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace historian::outlets {

// nullopt when the file does not exist; DataLoss when it does not check.
absl::StatusOr<std::optional<uint64_t>> ReadFeedCursor(const std::string& path);
absl::Status WriteFeedCursor(const std::string& path, uint64_t position);

}  // namespace historian::outlets

#endif  // HISTORIAN_SERVER_EVENTS_OUTLETS_FEED_CURSOR_H_
