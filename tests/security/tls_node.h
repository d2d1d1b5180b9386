// File: tls_node.h
// TlsNode: runs a real historiand (like testutil/NodeProcess) whose gRPC port
// may serve TLS, so readiness is checked over a channel with the given
// credentials. Stops with SIGTERM, kills in the destructor.
#ifndef HISTORIAN_TESTS_SECURITY_TLS_NODE_H_
#define HISTORIAN_TESTS_SECURITY_TLS_NODE_H_

#include <fcntl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/security/security_util.h"
#include "tests/testutil/node_process.h"

namespace historian::testing {

class TlsNode {
 public:
  TlsNode(std::string data_dir, std::vector<std::string> flags)
      : data_dir_(std::move(data_dir)), flags_(std::move(flags)) {}
  ~TlsNode() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  TlsNode(const TlsNode&) = delete;
  TlsNode& operator=(const TlsNode&) = delete;

  // Starts the node; true once a channel with `creds` (and the SSL target
  // name "localhost") connects within 60 s.
  bool Start(std::shared_ptr<grpc::ChannelCredentials> creds) {
    std::string port_file = data_dir_ + ".port";
    std::remove(port_file.c_str());
    std::vector<std::string> argv = {BinDir() + "/server/historiand", "--data_dir=" + data_dir_,
                                     "--listen=127.0.0.1:0", "--port_file=" + port_file,
                                     "--metrics_listen="};
    argv.insert(argv.end(), flags_.begin(), flags_.end());
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // die with the test
      int fd = open(log_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        std::fprintf(stderr, "historiand exited:\n%s\n", ReadTextFile(log_path()).c_str());
        return false;
      }
      std::string text = ReadTextFile(port_file);
      if (!text.empty()) {
        port_ = std::atoi(text.c_str());
        if (Channel(creds)->WaitForConnected(std::chrono::system_clock::now() +
                                             std::chrono::seconds(10))) {
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::fprintf(stderr, "historiand not ready:\n%s\n", ReadTextFile(log_path()).c_str());
    return false;
  }

  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::shared_ptr<grpc::Channel> Channel(std::shared_ptr<grpc::ChannelCredentials> creds) const {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(address(), creds, args);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string log_path() const { return data_dir_ + ".log"; }

 private:
  std::string data_dir_;
  std::vector<std::string> flags_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_SECURITY_TLS_NODE_H_
