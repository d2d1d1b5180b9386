#include "server/metrics_http.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace historian::server {
namespace {

// httplib's ThreadPool has as many threads as cores (8 at least): a few
// clients that send half a request header hold all of them, and a scrape
// waits behind them. This pool starts threads as connections need them, up
// to `max_threads`; past that connections queue (each held at most the read
// timeout per idle gap).
class LazyThreadPool final : public httplib::TaskQueue {
 public:
  explicit LazyThreadPool(size_t max_threads) : max_threads_(max_threads) {}
  ~LazyThreadPool() override = default;

  void enqueue(std::function<void()> fn) override {
    absl::MutexLock l(&mu_);
    jobs_.push_back(std::move(fn));
    if (idle_ < jobs_.size() && threads_.size() < max_threads_) {
      threads_.emplace_back([this] { Work(); });
    }
  }

  void shutdown() override {
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
    }
    for (std::thread& t : threads_) t.join();  // only the listen thread adds threads
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> fn;
      {
        absl::MutexLock l(&mu_);
        ++idle_;
        auto ready = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !jobs_.empty() || stopping_; };
        mu_.Await(absl::Condition(&ready));
        --idle_;
        if (jobs_.empty()) return;  // stopping, nothing left
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();
    }
  }

  const size_t max_threads_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // touched by enqueue/shutdown: the listen thread
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, const Metrics* metrics, const MetricsHttpOptions& options) {
  size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_listen: '", listen, "' is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::unique_ptr<MetricsHttpServer> s(new MetricsHttpServer());
  s->http_ = std::make_unique<httplib::Server>();
  const size_t max_threads = options.max_connections == 0 ? 1 : options.max_connections;
  s->http_->new_task_queue = [max_threads] { return new LazyThreadPool(max_threads); };
  // A connection that stalls (half a header, or idle keep-alive) gives its
  // thread back after this long.
  const auto timeout = absl::ToChronoMicroseconds(options.io_timeout);
  s->http_->set_read_timeout(timeout);
  s->http_->set_write_timeout(timeout);
  s->http_->set_keep_alive_timeout(
      std::max<time_t>(1, static_cast<time_t>(absl::ToInt64Seconds(options.io_timeout))));
  // httplib's default sets SO_REUSEPORT: a second node would then share a
  // busy port instead of failing to bind. SO_REUSEADDR only (restarts).
  s->http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  s->http_->Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics->Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s->http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("historiand: see /metrics\n", "text/plain");
  });
  if (port == 0) {
    port = s->http_->bind_to_any_port(host);
    if (port <= 0) {
      return absl::UnavailableError(absl::StrCat("--metrics_listen: cannot bind ", listen));
    }
  } else if (!s->http_->bind_to_port(host, port)) {
    return absl::UnavailableError(
        absl::StrCat("--metrics_listen: cannot bind ", listen, " (port in use?)"));
  }
  s->port_ = port;
  httplib::Server* http = s->http_.get();
  s->thread_ = std::thread([http] { http->listen_after_bind(); });
  // stop() only acts on a running server: wait until the loop runs, so a
  // Stop() right after Start() cannot hang.
  for (int i = 0; i < 5000 && !http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return s;
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (http_ == nullptr) return;
  http_->stop();
  if (thread_.joinable()) thread_.join();
  http_.reset();
}

}  // namespace historian::server
