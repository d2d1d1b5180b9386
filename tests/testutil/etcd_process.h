// File: etcd_process.h
// EtcdProcess: a real single-member `etcd` (Debian etcd-server, 3.4) as a
// child process on 127.0.0.1, client and peer ports picked once and kept
// across restarts, data in `dir`/data (kept across restarts, removed with
// the test's TempDir). Start() waits until etcd's /health says true. Fast
// Raft timers (heartbeat 10 ms, election 100 ms) so a restart elects itself
// at once and etcd's minimum lease TTL is 1 s.
//
// Thread-safety: not thread-safe; one test thread drives it.
#ifndef HISTORIAN_TESTS_TESTUTIL_ETCD_PROCESS_H_
#define HISTORIAN_TESTS_TESTUTIL_ETCD_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/testutil/node_process.h"

namespace historian::testing {

class EtcdProcess {
 public:
  explicit EtcdProcess(std::string dir);
  // Kills a still running etcd.
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // Starts etcd and waits (at most 30 s) until it reports healthy. False,
  // with a message and the log's tail on stderr, otherwise.
  bool Start();
  // SIGTERM and wait.
  void Stop();
  // SIGKILL and wait.
  void Kill();

  // host:port of the client URL (what EtcdClientOptions::endpoints takes).
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }
  int client_port() const { return client_port_; }
  const std::string& log_path() const { return log_path_; }
  // Runs `etcdctl --endpoints=<endpoint> <args>` (API v3).
  CommandResult Ctl(const std::vector<std::string>& args) const;

 private:
  bool Healthy() const;

  std::string dir_;
  std::string log_path_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_ETCD_PROCESS_H_
