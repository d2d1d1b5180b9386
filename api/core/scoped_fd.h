// File: scoped_fd.h
// ScopedFd: owns a file descriptor and closes it on scope exit (-1: none).
//
//   ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
//   if (fd.get() < 0) return ErrnoError(...);
//
// Thread-safety: as an int; one owner.
#ifndef HISTORIAN_API_CORE_SCOPED_FD_H_
#define HISTORIAN_API_CORE_SCOPED_FD_H_

#include <unistd.h>

namespace historian {

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace historian

#endif  // HISTORIAN_API_CORE_SCOPED_FD_H_
