#include "server/metrics_http.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace historian::server {

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, const Metrics* metrics) {
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
