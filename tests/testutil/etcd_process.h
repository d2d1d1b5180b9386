// File: etcd_process.h
// EtcdProcess: a real single-member `etcd` (Debian etcd-server, 3.4) as a
// child process on 127.0.0.1, client and peer ports picked once and kept
// across restarts, data in `dir`/data (kept across restarts, removed with
// the test's TempDir). Start() waits until etcd's /health says true. Fast
// Raft timers (heartbeat 10 ms, election 100 ms) so a restart elects itself
// at once and etcd's minimum lease TTL is 1 s.
//
// With EtcdTlsFiles (server certificate and a CA) the client URL is https,
// etcd checks client certificates (--client-cert-auth) and /health is read
// from a separate plain metrics URL; Ctl() passes the client files to
// etcdctl.
//
// Thread-safety: not thread-safe; one test thread drives it.
#ifndef HISTORIAN_TESTS_TESTUTIL_ETCD_PROCESS_H_
#define HISTORIAN_TESTS_TESTUTIL_ETCD_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/testutil/node_process.h"

namespace historian::testing {

// PEM files (e.g. made with tests/security/security_util.h). Empty
// cert_file: plaintext.
struct EtcdTlsFiles {
  std::string ca_file;    // --trusted-ca-file: the CA client certificates must chain to
  std::string cert_file;  // --cert-file (subjectAltName 127.0.0.1)
  std::string key_file;   // --key-file
  // A client certificate signed by ca_file, for Ctl().
  std::string client_cert_file;
  std::string client_key_file;
};

class EtcdProcess {
 public:
  explicit EtcdProcess(std::string dir, EtcdTlsFiles tls = {});
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
  bool tls() const { return !tls_.cert_file.empty(); }
  const EtcdTlsFiles& tls_files() const { return tls_; }
  const std::string& log_path() const { return log_path_; }
  // Runs `etcdctl --endpoints=<endpoint> <args>` (API v3).
  CommandResult Ctl(const std::vector<std::string>& args) const;

 private:
  bool Healthy() const;

  std::string dir_;
  EtcdTlsFiles tls_;
  std::string log_path_;
  int client_port_ = 0;
  int peer_port_ = 0;
  int metrics_port_ = 0;  // TLS only: plain /health
  pid_t pid_ = -1;
};

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_ETCD_PROCESS_H_
