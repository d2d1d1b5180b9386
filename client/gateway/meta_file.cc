// File: meta_file.cc
#include "client/gateway/meta_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "api/core/scoped_fd.h"

namespace historian::client {
namespace {

absl::Status ErrnoError(absl::string_view what, absl::string_view path) {
  const int err = errno;
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

}  // namespace

absl::StatusOr<std::optional<std::string>> ReadMetaFile(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::nullopt;
    return ErrnoError("cannot open", path);
  }
  std::string content;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot read", path);
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
  }
  return content;
}

absl::Status WriteMetaFile(const std::string& path, absl::string_view content) {
  const std::string tmp = path + ".tmp";
  {
    ScopedFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoError("cannot create", tmp);
    const char* p = content.data();
    size_t left = content.size();
    while (left > 0) {
      ssize_t n = write(fd.get(), p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError("cannot write", tmp);
      p += n;
      left -= static_cast<size_t>(n);
    }
    if (fsync(fd.get()) != 0) return ErrnoError("cannot fsync", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("cannot rename", tmp);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  ScopedFd dir_fd(open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || fsync(dir_fd.get()) != 0) return ErrnoError("cannot fsync", dir);
  return absl::OkStatus();
}

}  // namespace historian::client
