#include "server/http/http_server.h"

#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "server/http/http_format.h"
#include "server/http/page_assets.h"
#include "server/http_listener.h"

namespace historian::server::http {
namespace {

// The API reads no request body (every route is a GET); httplib would
// buffer any it is sent.
constexpr size_t kMaxRequestBodyBytes = 64 << 10;

void ServePage(httplib::Server* http) {
  for (size_t i = 0; i < kPageAssetCount; ++i) {
    const PageAsset* a = &kPageAssets[i];
    http->Get(a->path, [a](const httplib::Request&, httplib::Response& res) {
      res.set_content(reinterpret_cast<const char*>(a->data), a->size, a->content_type);
    });
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                              const TlsFiles& tls,
                                                              const ServiceEnv& env) {
  ASSIGN_OR_RETURN(const ListenAddress at, ParseListenAddress("http_listen", listen));
  std::unique_ptr<HttpServer> s(new HttpServer(env));
  if (tls.enabled()) {
    // SSL_write to a client that went away raises SIGPIPE (plain sockets use
    // MSG_NOSIGNAL), whose default action would stop the node.
    signal(SIGPIPE, SIG_IGN);
    auto ssl = std::make_unique<httplib::SSLServer>(tls.cert.c_str(), tls.key.c_str(),
                                                    tls.ca.empty() ? nullptr : tls.ca.c_str());
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError(
          "http_listen: cannot load --tls_cert/--tls_key/--tls_ca for HTTPS");
    }
    s->http_ = std::move(ssl);
  } else {
    s->http_ = std::make_unique<httplib::Server>();
  }
  s->http_->set_read_timeout(std::chrono::seconds(10));
  s->http_->set_write_timeout(std::chrono::seconds(10));
  ReuseAddressOnly(s->http_.get());
  // Every route is a GET: httplib reads (and buffers) a request's body
  // before routing, so one of any size would be held in memory before any
  // token check. One announced over this limit is answered 413 and not
  // kept (docs/http.md).
  s->http_->set_payload_max_length(kMaxRequestBodyBytes);
  // httplib compresses text and JSON answers with brotli at quality 11
  // (about 1 MB/s): a 1 MB plot answer would take a second. Answers go
  // uncompressed. The request object is httplib's own, mutable one.
  s->http_->set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    httplib::Request& r = const_cast<httplib::Request&>(req);
    r.headers.erase("Accept-Encoding");
    if (r.method != "GET" && r.method != "HEAD") {
      // No route takes a body, and httplib holds a chunked one of any size
      // (the limit above counts Content-Length only). Announced as longer
      // than any, whatever follows the headers is read and discarded until
      // the client stops (then 413): never held, never parsed as another
      // request on this connection.
      r.headers.erase("Transfer-Encoding");
      r.headers.erase("Content-Length");
      r.headers.emplace("Content-Length", "4611686018427387904");
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s->api_.Register(s->http_.get());
  ServePage(s->http_.get());
  ASSIGN_OR_RETURN(s->port_, BindAndListen(s->http_.get(), at, "http_listen", listen, &s->thread_));
  return s;
}

HttpServer::HttpServer(const ServiceEnv& env) : api_(env) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (http_ == nullptr) return;
  http_->stop();
  if (thread_.joinable()) thread_.join();
  http_.reset();
}

}  // namespace historian::server::http
