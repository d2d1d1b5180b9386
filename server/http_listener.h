// File: server/http_listener.h
// What the node's two HTTP listeners (--metrics_listen, --http_listen) share:
// parsing host:port, the socket options, and binding and starting the loop.
#ifndef HISTORIAN_SERVER_HTTP_LISTENER_H_
#define HISTORIAN_SERVER_HTTP_LISTENER_H_

#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace historian::server {

struct ListenAddress {
  std::string host;  // without the brackets of an IPv6 address
  int port = 0;      // 0: any free port
};

// `listen` as host:port. InvalidArgument naming `flag` (e.g. "http_listen").
absl::StatusOr<ListenAddress> ParseListenAddress(const char* flag, const std::string& listen);

// httplib's default sets SO_REUSEPORT: a second node would then share a busy
// port instead of failing to bind. SO_REUSEADDR only (restarts).
void ReuseAddressOnly(httplib::Server* http);

// Binds `http` to `at`, runs its loop on *thread and returns once the loop
// runs (so a stop right after cannot hang), with the bound port.
// Unavailable naming --`flag` and `listen` when the port cannot be bound.
absl::StatusOr<int> BindAndListen(httplib::Server* http, const ListenAddress& at, const char* flag,
                                  const std::string& listen, std::thread* thread);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_HTTP_LISTENER_H_
