// File: server/events/outlets/feed_cursor.cc
#include "server/events/outlets/feed_cursor.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/durable_file.h"
#include "storage/codec/crc32c.h"

namespace historian::outlets {
namespace {

absl::Status Errno(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::optional<uint64_t>> ReadFeedCursor(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<uint64_t>();
    return Errno("open", path);
  }
  char buf[13];
  ssize_t n = pread(fd, buf, sizeof(buf), 0);
  close(fd);
  uint32_t crc = 0;
  if (n == 12) std::memcpy(&crc, buf + 8, 4);
  if (n != 12 || crc != codec::Crc32c(buf, 8)) {
    return absl::DataLossError(absl::StrCat("event feed cursor ", path,
                                            ": not 12 bytes with a matching CRC; remove it to "
                                            "start from the newest event change"));
  }
  uint64_t position = 0;
  std::memcpy(&position, buf, 8);
  return std::optional<uint64_t>(position);
}

absl::Status WriteFeedCursor(const std::string& path, uint64_t position) {
  char buf[12];
  std::memcpy(buf, &position, 8);
  const uint32_t crc = codec::Crc32c(buf, 8);
  std::memcpy(buf + 8, &crc, 4);
  return server::ReplaceFileDurably(path, std::string_view(buf, sizeof(buf)));
}

}  // namespace historian::outlets
