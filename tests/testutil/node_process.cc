#include "tests/testutil/node_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "grpcpp/create_channel.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/credentials.h"

namespace historian::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path, int stdin_fd) {
  pid_t pid = fork();
  if (pid == 0) {
    // Die with the test: a test killed by a timeout leaves no node behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err =
        err_path == out_path ? out : open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (stdin_fd >= 0) dup2(stdin_fd, 0);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::perror("execv");
    _exit(127);
  }
  return pid;
}

std::string Resolve(const std::string& program) {
  if (!program.empty() && program[0] == '/') return program;
  for (const char* sub : {"/server/", "/client/", "/bench/", "/"}) {
    std::string p = BinDir() + sub + program;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return program;
}

}  // namespace

std::string BinDir() {
  if (const char* dir = std::getenv("HISTORIAN_BIN_DIR")) return dir;
  // Tests live in <build>/tests/<area>/: the build dir is two levels up.
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().parent_path().parent_path().string();
}

NodeProcess::NodeProcess(std::string data_dir, std::vector<std::string> extra_flags)
    : data_dir_(std::move(data_dir)), flags_(std::move(extra_flags)) {
  log_path_ = data_dir_ + ".log";
}

NodeProcess::~NodeProcess() { Kill(); }

bool NodeProcess::Start() {
  std::string port_file = data_dir_ + ".port";
  std::remove(port_file.c_str());
  std::vector<std::string> argv = {Resolve("historiand"), "--data_dir=" + data_dir_,
                                   "--listen=127.0.0.1:0", "--port_file=" + port_file};
  argv.insert(argv.end(), flags_.begin(), flags_.end());
  pid_ = Spawn(argv, log_path_, log_path_, -1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      std::fprintf(stderr, "historiand exited early:\n%s\n", ReadFile(log_path_).c_str());
      pid_ = -1;
      return false;
    }
    std::string port_text = ReadFile(port_file);
    if (!port_text.empty()) {
      port_ = std::atoi(port_text.c_str());
      auto channel = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
      if (channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "historiand did not start:\n%s\n", ReadFile(log_path_).c_str());
  return false;
}

int NodeProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void NodeProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool NodeProcess::Freeze() {
  if (pid_ <= 0 || kill(pid_, SIGSTOP) != 0) return false;
  // The parent's waitpid(WUNTRACED) reports the stop once the whole thread
  // group has stopped.
  int status = 0;
  return waitpid(pid_, &status, WUNTRACED) == pid_ && WIFSTOPPED(status);
}

CommandResult RunCommand(const std::vector<std::string>& argv_in, const std::string& stdin_text) {
  std::vector<std::string> argv = argv_in;
  argv[0] = Resolve(argv[0]);
  char out_tmpl[] = "/tmp/historian-cmd-out-XXXXXX";
  char err_tmpl[] = "/tmp/historian-cmd-err-XXXXXX";
  char in_tmpl[] = "/tmp/historian-cmd-in-XXXXXX";
  close(mkstemp(out_tmpl));
  close(mkstemp(err_tmpl));
  int in_fd = mkstemp(in_tmpl);
  if (write(in_fd, stdin_text.data(), stdin_text.size()) < 0) std::perror("write");
  lseek(in_fd, 0, SEEK_SET);
  pid_t pid = Spawn(argv, out_tmpl, err_tmpl, in_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  close(in_fd);
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_tmpl);
  r.err = ReadFile(err_tmpl);
  std::remove(out_tmpl);
  std::remove(err_tmpl);
  std::remove(in_tmpl);
  return r;
}

}  // namespace historian::testing
