// File: free_port.cc
#include "tests/testutil/free_port.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <random>
#include <set>

namespace historian::testing {
namespace {

constexpr int kFirstPort = 20000;
constexpr int kLastPort = 32767;  // the ephemeral range starts above
constexpr char kReservationFile[] = "/tmp/historian-test-ports.lock";

bool CanBind(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// The ports this process holds. POSIX record locks belong to the process
// (two threads of it never conflict), so the process keeps its own set; the
// file stays open for the life of the process because closing any fd of it
// would drop every lock the process holds on it.
class PortReservations {
 public:
  PortReservations() {
    const mode_t old_umask = umask(0);  // every user's tests share the file
    fd_ = open(kReservationFile, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    umask(old_umask);
  }

  // True when `port` was free of every test process and is now ours.
  bool Reserve(int port) {
    std::lock_guard<std::mutex> lock(mu_);
    if (getpid() != owner_pid_) {  // a forked child holds none of its parent's locks
      owner_pid_ = getpid();
      held_.clear();
    }
    if (held_.count(port) > 0) return false;
    if (fd_ >= 0) {
      struct flock range {};
      range.l_type = F_WRLCK;
      range.l_whence = SEEK_SET;
      range.l_start = port;
      range.l_len = 1;
      if (fcntl(fd_, F_SETLK, &range) != 0) return false;  // another process's
    }
    // Without the file (unwritable /tmp) ports are only unique within this
    // process, as before the reservations.
    held_.insert(port);
    return true;
  }

 private:
  std::mutex mu_;
  int fd_ = -1;                 // never closed: see the class comment
  pid_t owner_pid_ = getpid();  // guarded by mu_
  std::set<int> held_;          // guarded by mu_
};

PortReservations& Reservations() {
  static auto* reservations = new PortReservations();  // never destroyed
  return *reservations;
}

}  // namespace

int FreePort() {
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(kFirstPort, kLastPort);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port = pick(rng);
    if (!CanBind(port)) continue;
    if (ReservePort(port)) return port;
  }
  return 0;
}

bool ReservePort(int port) { return Reservations().Reserve(port); }

}  // namespace historian::testing
