// File: fault_proxy.h
// FaultProxy: a TCP proxy on 127.0.0.1 between two nodes that can cut,
// blackhole or delay the link, for partition tests (the kernel here has no
// netem).
//
//   FaultProxy proxy("127.0.0.1:7401");   // forwards to the target
//   node_a_flags: --peers=mx=127.0.0.1:<proxy.port()>
//   proxy.Cut();    // drops every connection and refuses new ones
//   proxy.Heal();   // passes traffic again
//
// Thread-safety: the control methods are safe from any thread.
#ifndef HISTORIAN_TESTS_TESTUTIL_FAULT_PROXY_H_
#define HISTORIAN_TESTS_TESTUTIL_FAULT_PROXY_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace historian::testing {

class FaultProxy {
 public:
  enum class Mode { kPass, kCut, kBlackhole };

  // Listens on a kernel-picked port; `target` is host:port.
  explicit FaultProxy(std::string target);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void SetTarget(std::string target);

  // Closes every open connection and refuses new ones until Heal().
  void Cut();
  // Accepts connections but forwards nothing (a silent black hole).
  void Blackhole();
  // Adds `ms` of delay before forwarding each chunk.
  void SetDelayMs(int ms) { delay_ms_ = ms; }
  void Heal();
  // Closes the open connections once (peers see a reset and reconnect).
  void DropConnections();

 private:
  void AcceptLoop();
  void Serve(int client_fd);
  void Pump(int from, int to);

  std::mutex mu_;
  std::string target_;
  std::set<int> open_fds_;
  std::vector<std::thread> threads_;
  std::atomic<Mode> mode_{Mode::kPass};
  std::atomic<int> delay_ms_{0};
  std::atomic<bool> stop_{false};
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
};

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_FAULT_PROXY_H_
