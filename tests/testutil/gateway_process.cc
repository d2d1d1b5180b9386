// File: gateway_process.cc
#include "tests/testutil/gateway_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/testutil/node_process.h"
#include "tests/testutil/status_line.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {

GatewayProcess::GatewayProcess(std::vector<std::string> args, std::string err_path, Options options)
    : err_path_(std::move(err_path)) {
  int pipe_fds[2] = {-1, -1};
  if (options.stdin_pipe && pipe(pipe_fds) != 0) return;
  std::vector<std::string> argv = {BinDir() + "/client/" + options.binary};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = fork();
  if (pid_ == 0) {
    int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null_fd = open("/dev/null", O_RDWR);
    dup2(options.stdin_pipe ? pipe_fds[0] : null_fd, 0);
    dup2(null_fd, 1);
    dup2(err, 2);
    if (options.stdin_pipe) {
      close(pipe_fds[0]);
      close(pipe_fds[1]);
    }
    std::vector<char*> c_args;
    for (auto& a : argv) c_args.push_back(a.data());
    c_args.push_back(nullptr);
    execv(c_args[0], c_args.data());
    _exit(127);
  }
  if (options.stdin_pipe) {
    close(pipe_fds[0]);
    stdin_fd_ = pipe_fds[1];
  }
}

GatewayProcess::~GatewayProcess() {
  CloseStdin();
  Kill();
}

void GatewayProcess::WriteStdin(const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(stdin_fd_, text.data() + off, text.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void GatewayProcess::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

void GatewayProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

void GatewayProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int GatewayProcess::Terminate(absl::Duration timeout) {
  Signal(SIGTERM);
  return Wait(timeout);
}

int GatewayProcess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  int status = 0;
  if (!WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout)) {
    Kill();
    return -1;
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool GatewayProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string GatewayProcess::err() const {
  std::ifstream in(err_path_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t GatewayProcess::LastStatus(const std::string& key) const {
  return LastStatusValue(err(), key);
}

}  // namespace historian::testing
