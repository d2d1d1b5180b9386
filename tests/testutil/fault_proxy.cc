#include "tests/testutil/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace historian::testing {
namespace {

int ConnectTo(const std::string& target) {
  size_t colon = target.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(target.substr(colon + 1))));
  inet_pton(AF_INET, target.substr(0, colon).c_str(), &addr.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

FaultProxy::FaultProxy(std::string target) : target_(std::move(target)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(listen_fd_, 64);
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  acceptor_.join();
  close(listen_fd_);
  DropConnections();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void FaultProxy::SetTarget(std::string target) {
  std::lock_guard<std::mutex> l(mu_);
  target_ = std::move(target);
}

void FaultProxy::Cut() {
  mode_ = Mode::kCut;
  DropConnections();
}

void FaultProxy::Blackhole() { mode_ = Mode::kBlackhole; }

void FaultProxy::Heal() { mode_ = Mode::kPass; }

void FaultProxy::DropConnections() {
  std::lock_guard<std::mutex> l(mu_);
  for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
}

void FaultProxy::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int client = accept(listen_fd_, nullptr, nullptr);
    if (client < 0) continue;
    if (mode_ == Mode::kCut) {
      close(client);
      continue;
    }
    std::lock_guard<std::mutex> l(mu_);
    threads_.emplace_back([this, client] { Serve(client); });
  }
}

void FaultProxy::Serve(int client) {
  std::string target;
  {
    std::lock_guard<std::mutex> l(mu_);
    target = target_;
  }
  int upstream = ConnectTo(target);
  if (upstream < 0) {
    close(client);
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    open_fds_.insert(client);
    open_fds_.insert(upstream);
  }
  std::thread back([this, upstream, client] { Pump(upstream, client); });
  Pump(client, upstream);
  back.join();
  {
    std::lock_guard<std::mutex> l(mu_);
    open_fds_.erase(client);
    open_fds_.erase(upstream);
  }
  close(client);
  close(upstream);
}

void FaultProxy::Pump(int from, int to) {
  char buf[65536];
  while (!stop_) {
    pollfd p{from, POLLIN, 0};
    int r = poll(&p, 1, 50);
    if (r == 0) continue;
    if (r < 0) break;
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0) break;
    if (mode_ == Mode::kBlackhole) continue;  // swallowed
    if (mode_ == Mode::kCut) break;
    if (int d = delay_ms_; d > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d));
    for (ssize_t off = 0; off < n;) {
      ssize_t w = send(to, buf + off, n - off, MSG_NOSIGNAL);
      if (w <= 0) {
        n = -1;
        break;
      }
      off += w;
    }
    if (n < 0) break;
  }
  // Wake the other direction too.
  shutdown(from, SHUT_RDWR);
  shutdown(to, SHUT_RDWR);
}

}  // namespace historian::testing
