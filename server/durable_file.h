// File: durable_file.h
// Small state files that must survive a crash whole: written to a temp file
// beside them, fdatasync'd, renamed over the old one, then the directory
// fsync'd, so after a crash the file holds the old bytes or the new, never
// a mix or nothing (outlet cursors, XSITE_OWNERSHIP, the placement cache,
// the member id).
#ifndef HISTORIAN_SERVER_DURABLE_FILE_H_
#define HISTORIAN_SERVER_DURABLE_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace historian::server {

// Replaces `path`'s contents with `bytes` as above. The temp file is
// `path` + ".tmp". Errors name the step and the file.
absl::Status ReplaceFileDurably(const std::string& path, std::string_view bytes);

// Makes a rename or removal of `file` (in its directory) durable.
absl::Status SyncParentDir(const std::string& file);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_DURABLE_FILE_H_
