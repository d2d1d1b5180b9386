// File: etcd_process.cc
#include "tests/testutil/etcd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/time/time.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {

namespace {

constexpr char kEtcd[] = "/usr/bin/etcd";
constexpr char kEtcdctl[] = "/usr/bin/etcdctl";

// GET http://127.0.0.1:<port><path> with a 1 s socket timeout; the raw
// answer, empty when nothing answered.
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval timeout{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) answer.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return answer;
}

std::string Tail(const std::string& path, size_t bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

}  // namespace

EtcdProcess::EtcdProcess(std::string dir, EtcdTlsFiles tls)
    : dir_(std::move(dir)), tls_(std::move(tls)) {
  std::filesystem::create_directories(dir_);
  log_path_ = dir_ + "/etcd.log";
  client_port_ = FreePort();
  do {
    peer_port_ = FreePort();
  } while (peer_port_ == client_port_);
  if (this->tls()) {
    do {
      metrics_port_ = FreePort();
    } while (metrics_port_ == client_port_ || metrics_port_ == peer_port_);
  }
}

EtcdProcess::~EtcdProcess() { Kill(); }

bool EtcdProcess::Healthy() const {
  return HttpGet(tls() ? metrics_port_ : client_port_, "/health").find("\"health\":\"true\"") !=
         std::string::npos;
}

bool EtcdProcess::Start() {
  if (access(kEtcd, X_OK) != 0) {
    std::fprintf(stderr, "%s missing: apt-get install etcd-server etcd-client\n", kEtcd);
    return false;
  }
  const std::string client_url =
      (tls() ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(client_port_);
  const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::vector<std::string> argv = {
      kEtcd,
      "--name=historian-test",
      "--data-dir=" + dir_ + "/data",
      "--listen-client-urls=" + client_url,
      "--advertise-client-urls=" + client_url,
      "--listen-peer-urls=" + peer_url,
      "--initial-advertise-peer-urls=" + peer_url,
      "--initial-cluster=historian-test=" + peer_url,
      "--initial-cluster-state=new",
      "--heartbeat-interval=10",
      "--election-timeout=100",
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=warn",
  };
  if (tls()) {
    argv.insert(argv.end(),
                {"--cert-file=" + tls_.cert_file, "--key-file=" + tls_.key_file,
                 "--trusted-ca-file=" + tls_.ca_file, "--client-cert-auth",
                 "--listen-metrics-urls=http://127.0.0.1:" + std::to_string(metrics_port_)});
  }
  pid_ = fork();
  if (pid_ == 0) {
    // Die with the test: a test killed by a timeout leaves no etcd behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, 0);
    dup2(log, 1);
    dup2(log, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  bool exited = false;
  const bool healthy = WaitFor(
      [&] {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          exited = true;
          return true;
        }
        return Healthy();
      },
      absl::Seconds(30));
  if (healthy && !exited) return true;
  std::fprintf(stderr, "etcd on %s %s; log %s ends:\n%s\n", endpoint().c_str(),
               exited ? "exited at start" : "not healthy within 30 s", log_path_.c_str(),
               Tail(log_path_, 2000).c_str());
  if (exited) pid_ = -1;
  return false;
}

void EtcdProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void EtcdProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

CommandResult EtcdProcess::Ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {kEtcdctl, "--endpoints=" + endpoint()};
  if (tls()) {
    argv.insert(argv.end(), {"--cacert=" + tls_.ca_file, "--cert=" + tls_.client_cert_file,
                             "--key=" + tls_.client_key_file});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

}  // namespace historian::testing
