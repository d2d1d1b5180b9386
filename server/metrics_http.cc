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
#include "api/core/status_macros.h"
#include "server/http_listener.h"

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
  ASSIGN_OR_RETURN(const ListenAddress at, ParseListenAddress("metrics_listen", listen));
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
  ReuseAddressOnly(s->http_.get());
  s->http_->Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics->Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s->http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("historiand: see /metrics\n", "text/plain");
  });
  ASSIGN_OR_RETURN(s->port_,
                   BindAndListen(s->http_.get(), at, "metrics_listen", listen, &s->thread_));
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
