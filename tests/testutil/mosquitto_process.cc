// File: mosquitto_process.cc
#include "tests/testutil/mosquitto_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/testutil/free_port.h"

namespace historian::testing {

namespace {

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

std::string MosquittoBinary() {
  for (const char* p : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "mosquitto";
}

}  // namespace

MosquittoProcess::MosquittoProcess(std::string dir, std::string extra_config)
    : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
  log_path_ = dir_ + "/mosquitto.log";
  port_ = FreePort();
  std::ofstream conf(dir_ + "/mosquitto.conf");
  conf << "listener " << port_ << " 127.0.0.1\n"
       << (extra_config.empty() ? "allow_anonymous true\n" : extra_config) << "persistence true\n"
       << "persistence_location " << dir_ << "/\n"
       << "max_queued_messages 0\n"
       << "log_dest stderr\n";
  // Run as root, mosquitto drops to the `mosquitto` user, which can neither
  // read a 0700 temp directory nor write its persistence file there.
  if (geteuid() == 0) conf << "user root\n";
}

MosquittoProcess::~MosquittoProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool MosquittoProcess::Start() {
  const std::string bin = MosquittoBinary();
  const std::string conf = dir_ + "/mosquitto.conf";
  pid_ = fork();
  if (pid_ == 0) {
    int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, 0);
    dup2(log, 1);
    dup2(log, 2);
    execl(bin.c_str(), bin.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Accepts(port_)) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::fprintf(stderr, "mosquitto exited at start; see %s\n", log_path_.c_str());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "mosquitto did not listen on %d within 20 s\n", port_);
  return false;
}

void MosquittoProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace historian::testing
