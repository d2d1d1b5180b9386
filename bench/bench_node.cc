// File: bench_node.cc
#include "bench/bench_node.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/proc_status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace historian::bench {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& text, size_t n = 2000) {
  return text.size() <= n ? text : text.substr(text.size() - n);
}

}  // namespace

absl::StatusOr<std::unique_ptr<NodeProcess>> NodeProcess::Start(NodeOptions options) {
  if (options.log_path.empty()) options.log_path = options.data_dir + ".log";
  const std::string port_file = options.data_dir + ".port";
  std::remove(port_file.c_str());
  std::vector<std::string> argv = {options.binary,
                                   "--data_dir=" + options.data_dir,
                                   "--site=" + options.site,
                                   absl::StrCat("--listen=127.0.0.1:", options.port),
                                   "--port_file=" + port_file,
                                   "--metrics_listen="};
  argv.insert(argv.end(), options.extra_flags.begin(), options.extra_flags.end());

  std::unique_ptr<NodeProcess> node(new NodeProcess(std::move(options)));
  const std::string& log_path = node->options_.log_path;
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::perror("execv");
    _exit(127);
  }
  node->pid_ = pid;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      node->pid_ = -1;
      return absl::InternalError(
          absl::StrCat("historiand exited early; log ", log_path, ":\n", Tail(ReadFile(log_path))));
    }
    const std::string port_text = ReadFile(port_file);
    if (!port_text.empty()) {
      node->address_ = absl::StrCat("127.0.0.1:", std::atoi(port_text.c_str()));
      auto channel = grpc::CreateChannel(node->address_, grpc::InsecureChannelCredentials());
      if (channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
        return node;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("historiand did not start in 120 s; log ", log_path));
}

NodeProcess::~NodeProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
}

absl::Status NodeProcess::Stop(int timeout_s) {
  if (pid_ <= 0) return absl::FailedPreconditionError("node not running");
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("historiand did not stop within ", timeout_s, " s"));  // dtor kills it
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("historiand stopped with status ", status, "; log ", options_.log_path));
  }
  return absl::OkStatus();
}

int64_t PeakRssKb(pid_t pid) {
  return ProcStatusKb(absl::StrCat("/proc/", pid, "/status"), "VmHWM:");
}

namespace {

// utime + stime of one /proc stat file, in seconds; 0 when unreadable.
double StatCpuSeconds(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && (fields >> f); ++i) {
    if (i == 14) utime = std::strtoull(f.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(f.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

double CpuSeconds(pid_t pid) {
  return StatCpuSeconds(pid == 0 ? std::string("/proc/self/stat")
                                 : absl::StrCat("/proc/", pid, "/stat"));
}

double BackgroundCpuSeconds(pid_t pid) {
  double total = 0;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    std::ifstream comm_file(task.path() / "comm");
    std::string comm;
    std::getline(comm_file, comm);
    if (comm.rfind("rocksdb:", 0) == 0 || comm == "hist-sealer") {
      total += StatCpuSeconds(task.path() / "stat");
    }
  }
  return total;
}

bool PinToCpu(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  bool ok = true;
  std::error_code ec;
  const std::string tasks = pid == 0 ? "/proc/self/task" : absl::StrCat("/proc/", pid, "/task");
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    const pid_t tid = static_cast<pid_t>(std::strtol(task.path().filename().c_str(), nullptr, 10));
    ok = sched_setaffinity(tid, sizeof(set), &set) == 0 && ok;
  }
  return ok && !ec;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;  // allocated, as du counts
    }
  }
  return total;
}

absl::StatusOr<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  if (port <= 0) return absl::InternalError("no free port");
  return port;
}

std::string DefaultHistoriandPath() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "historiand";
  return (exe.parent_path().parent_path() / "server" / "historiand").string();
}

}  // namespace historian::bench
