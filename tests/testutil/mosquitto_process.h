// File: mosquitto_process.h
// MosquittoProcess: a real `mosquitto` broker as a child process on
// 127.0.0.1, on a port picked once and kept across restarts, with its own
// config: persistence on (in its directory) and max_queued_messages 0
// (unlimited), so a restart loses no queued or retained message.
//
// Thread-safety: not thread-safe; one test thread drives it.
#ifndef HISTORIAN_TESTS_TESTUTIL_MOSQUITTO_PROCESS_H_
#define HISTORIAN_TESTS_TESTUTIL_MOSQUITTO_PROCESS_H_

#include <sys/types.h>

#include <string>

namespace historian::testing {

class MosquittoProcess {
 public:
  // `extra_config`: more lines for mosquitto.conf (e.g. a password_file).
  explicit MosquittoProcess(std::string dir, std::string extra_config = "");
  ~MosquittoProcess();
  MosquittoProcess(const MosquittoProcess&) = delete;
  MosquittoProcess& operator=(const MosquittoProcess&) = delete;

  // Starts it and waits (bounded) until its port accepts connections.
  bool Start();
  // SIGTERM and wait: it saves its persistence file.
  void Stop();

  int port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  const std::string& log_path() const { return log_path_; }

 private:
  std::string dir_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_MOSQUITTO_PROCESS_H_
