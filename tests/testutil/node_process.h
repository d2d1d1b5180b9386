// File: node_process.h
// NodeProcess: runs a real `historiand` binary as a child process on
// 127.0.0.1 with a port the kernel picks (--listen 127.0.0.1:0 and
// --port_file), waits until it serves, and stops (SIGTERM) or kills
// (SIGKILL) it. The destructor kills a node still running.
//
// Thread-safety: not thread-safe; one test thread drives it.
#ifndef HISTORIAN_TESTS_TESTUTIL_NODE_PROCESS_H_
#define HISTORIAN_TESTS_TESTUTIL_NODE_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace historian::testing {

// Directory of the build tree (HISTORIAN_BIN_DIR, set by ctest).
std::string BinDir();

class NodeProcess {
 public:
  // `data_dir` is the node's --data_dir; `extra_flags` are passed as given.
  NodeProcess(std::string data_dir, std::vector<std::string> extra_flags = {});
  ~NodeProcess();
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  // Starts the node and waits until its gRPC port answers a health check.
  // Returns false (with a message on stderr) if it does not within 60 s.
  bool Start();
  // SIGTERM and wait; returns the exit status (0 on a clean stop).
  int Stop();
  // SIGKILL and wait.
  void Kill();
  // SIGSTOP, and returns once every thread of the node has stopped (a
  // signal is delivered asynchronously: a thread running on another core
  // goes on for a moment after kill() returns). False if it did not stop.
  bool Freeze();

  int port() const { return port_; }
  // The running node's process id (-1 when not running).
  pid_t pid() const { return pid_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& log_path() const { return log_path_; }
  // The flags the next Start() passes (a test drops a test hook between
  // runs).
  std::vector<std::string>* mutable_flags() { return &flags_; }

 private:
  std::string data_dir_;
  std::vector<std::string> flags_;
  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Runs a command line (argv[0] resolved in BinDir() when relative), feeding
// `stdin_text`, and returns its exit code; stdout and stderr are captured.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_text = "");

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_NODE_PROCESS_H_
