// File: http_server.h
// HttpServer: the node's HTTP listener (--http_listen): the JSON/CSV API
// (HttpApi) under /api/v1/ and the trend page at / (page_assets.h), over
// HTTPS when the node has TLS (same certificate; with a CA, client
// certificates are required as on gRPC). Runs cpp-httplib on a background
// thread.
//
// Thread-safety: Start/Stop from one thread; requests run on httplib's
// threads (HttpApi is thread-safe, the page is constant).
#ifndef HISTORIAN_SERVER_HTTP_HTTP_SERVER_H_
#define HISTORIAN_SERVER_HTTP_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/http/http_api.h"
#include "server/rpc_env.h"
#include "server/tls.h"

namespace httplib {
class Server;
}

namespace historian::server::http {

class HttpServer {
 public:
  // Listens on `listen` ("host:port"; port 0 picks one). What `env` points
  // to must outlive the server. InvalidArgument for a bad address or TLS
  // files, Unavailable when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                           const TlsFiles& tls,
                                                           const ServiceEnv& env);
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Stops serving and joins the thread; idempotent.
  void Stop();

 private:
  explicit HttpServer(const ServiceEnv& env);
  HttpApi api_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace historian::server::http

#endif  // HISTORIAN_SERVER_HTTP_HTTP_SERVER_H_
