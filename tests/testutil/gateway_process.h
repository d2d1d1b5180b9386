// File: gateway_process.h
// GatewayProcess: a `historian-gateway` (or another binary of build/client/,
// e.g. historian-sparkplug-sim) as a child process, optionally fed through a
// stdin pipe; its stderr goes to a file the test reads (status lines
// included, see LastStatus). The destructor kills a process still running.
//
// Thread-safety: not thread-safe; one test thread drives it.
#ifndef HISTORIAN_TESTS_TESTUTIL_GATEWAY_PROCESS_H_
#define HISTORIAN_TESTS_TESTUTIL_GATEWAY_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace historian::testing {

struct GatewayProcessOptions {
  bool stdin_pipe = false;                   // else stdin is /dev/null
  std::string binary = "historian-gateway";  // in BinDir()/client/
};

class GatewayProcess {
 public:
  using Options = GatewayProcessOptions;
  GatewayProcess(std::vector<std::string> args, std::string err_path,
                 GatewayProcessOptions options = GatewayProcessOptions());
  ~GatewayProcess();
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;

  void WriteStdin(const std::string& text);
  void CloseStdin();
  void Signal(int sig);
  // SIGKILL and reap.
  void Kill();
  // SIGTERM, then the exit code (128 + signal when killed by one), or -1
  // when it runs past `timeout` (it is then killed).
  int Terminate(absl::Duration timeout);
  // The exit code, or -1 when it runs past `timeout` (it is then killed).
  int Wait(absl::Duration timeout);
  bool running();

  // Its stderr so far.
  std::string err() const;
  // The value of `key=` in the last status line that has it, or -1.
  int64_t LastStatus(const std::string& key) const;

 private:
  std::string err_path_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
};

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_GATEWAY_PROCESS_H_
