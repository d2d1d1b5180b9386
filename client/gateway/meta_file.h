// File: meta_file.h
// Small durable text files in the gateway's queue directory (client id,
// input identity, simulation start). Pure functions over the file system;
// thread-safe as long as two callers do not write the same file.
#ifndef HISTORIAN_CLIENT_GATEWAY_META_FILE_H_
#define HISTORIAN_CLIENT_GATEWAY_META_FILE_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace historian::client {

// The content of `path`, or nullopt when it does not exist.
absl::StatusOr<std::optional<std::string>> ReadMetaFile(const std::string& path);

// Replaces `path` atomically and durably (temp file, fsync, rename, fsync of
// the directory).
absl::Status WriteMetaFile(const std::string& path, absl::string_view content);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_GATEWAY_META_FILE_H_
