// File: metrics_http.h
// MetricsHttpServer: serves GET /metrics (Prometheus text format) from a
// Metrics registry over plain HTTP on its own port (cpp-httplib), on a
// background thread.
//
// Thread-safety: Start/Stop from one thread; scrapes run on httplib's
// threads and only call Metrics::Render (thread-safe).
#ifndef HISTORIAN_SERVER_METRICS_HTTP_H_
#define HISTORIAN_SERVER_METRICS_HTTP_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/metrics.h"

namespace httplib {
class Server;
}

namespace historian::server {

struct MetricsHttpOptions {
  // Connections served at once (one thread each, started as needed); more
  // wait in a queue. Default: 64.
  uint32_t max_connections = 64;
  // A connection idle this long while sending its request (or between
  // keep-alive requests), or not taking the answer, is closed. Default: 2 s.
  absl::Duration io_timeout = absl::Seconds(2);
};

class MetricsHttpServer {
 public:
  // Listens on `listen` ("host:port"; port 0 picks a free one) and serves
  // `metrics`, which must outlive the server. InvalidArgument for a bad
  // address, Unavailable when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, const Metrics* metrics, const MetricsHttpOptions& options = {});
  ~MetricsHttpServer();  // stops
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }
  // Stops serving and joins the thread; idempotent.
  void Stop();

 private:
  MetricsHttpServer() = default;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_METRICS_HTTP_H_
