#include "server/http_listener.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace historian::server {

absl::StatusOr<ListenAddress> ParseListenAddress(const char* flag, const std::string& listen) {
  const size_t colon = listen.rfind(':');
  ListenAddress at;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &at.port) || at.port < 0 || at.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", listen, "' is not host:port"));
  }
  at.host = listen.substr(0, colon);
  if (at.host.size() > 2 && at.host.front() == '[' && at.host.back() == ']') {
    at.host = at.host.substr(1, at.host.size() - 2);
  }
  return at;
}

void ReuseAddressOnly(httplib::Server* http) {
  http->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
}

absl::StatusOr<int> BindAndListen(httplib::Server* http, const ListenAddress& at, const char* flag,
                                  const std::string& listen, std::thread* thread) {
  int port = at.port;
  if (port == 0) {
    port = http->bind_to_any_port(at.host);
    if (port <= 0) {
      return absl::UnavailableError(absl::StrCat("--", flag, ": cannot bind ", listen));
    }
  } else if (!http->bind_to_port(at.host, port)) {
    return absl::UnavailableError(
        absl::StrCat("--", flag, ": cannot bind ", listen, " (port in use?)"));
  }
  *thread = std::thread([http] { http->listen_after_bind(); });
  // stop() only acts on a running server: wait until the loop runs.
  for (int i = 0; i < 5000 && !http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return port;
}

}  // namespace historian::server
