// File: api/mqtt/tls_probe.cc
#include "api/mqtt/tls_probe.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "api/core/scoped_fd.h"

namespace historian::mqtt_connection {
namespace {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct AddrInfoFree {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};

// OpenSSL's queued errors, oldest first, as their reason strings; cleared.
std::string TakeSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    absl::StrAppend(&out, out.empty() ? "" : "; ",
                    reason != nullptr ? reason : absl::StrCat("error ", e).c_str());
  }
  return out;
}

int MillisUntil(absl::Time deadline) {
  return static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
}

// A TCP connection to host:port by `deadline` (every address shares it),
// left non-blocking; -1 if none. (The name lookup itself is the
// resolver's: bounded by its own timeouts, not by `deadline`.)
int ConnectBy(const std::string& host, const std::string& port, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return -1;
  std::unique_ptr<addrinfo, AddrInfoFree> addresses(found);
  for (addrinfo* a = addresses.get(); a != nullptr && MillisUntil(deadline) > 0; a = a->ai_next) {
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    bool connected = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    if (!connected && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int error = 0;
      socklen_t len = sizeof(error);
      connected = poll(&p, 1, MillisUntil(deadline)) == 1 &&
                  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
    }
    if (connected) return fd;
    close(fd);
  }
  return -1;
}

// Blocks SIGPIPE on this thread while it lives (OpenSSL writes to the
// socket with write(): a peer that resets mid-handshake must not kill the
// process), and takes a SIGPIPE raised meanwhile before unblocking.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{0, 0};
      sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_, old_;
};

}  // namespace

std::string TlsHandshakeError(const MqttConnection& c, absl::Duration timeout) {
  if (!IsTlsUri(c.uri)) return "";
  const absl::Time deadline =
      absl::Now() + std::clamp(timeout, absl::Milliseconds(1), absl::Minutes(5));
  // ssl://HOST:PORT, checked by CheckMqttConnection; [v6] in brackets; a
  // path after the port is not the port's.
  absl::string_view rest = absl::string_view(c.uri).substr(c.uri.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  const size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos) return "";
  std::string host(rest.substr(0, colon));
  const std::string port(rest.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }

  ERR_clear_error();
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return absl::StrCat("cannot set up TLS: ", TakeSslErrors());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  // An encrypted key fails here instead of asking on the terminal.
  SSL_CTX_set_default_passwd_cb(ctx.get(), [](char*, int, int, void*) { return 0; });
  const bool trusted =
      c.tls_ca.empty() ? SSL_CTX_set_default_verify_paths(ctx.get()) == 1
                       : SSL_CTX_load_verify_locations(ctx.get(), c.tls_ca.c_str(), nullptr) == 1;
  if (!trusted) {
    return absl::StrCat("cannot load the CA ", c.tls_ca.empty() ? "(system)" : c.tls_ca, ": ",
                        TakeSslErrors());
  }
  if (!c.tls_cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), c.tls_cert.c_str()) != 1) {
      return absl::StrCat("cannot load the client certificate ", c.tls_cert, ": ", TakeSslErrors());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), c.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      return absl::StrCat("cannot use the client key ", c.tls_key, ": ", TakeSslErrors());
    }
  }

  const SigpipeBlock no_sigpipe;
  const ScopedFd socket(ConnectBy(host, port, deadline));
  if (socket.get() < 0) return "";  // unreachable: not a TLS problem
  std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  if (ssl == nullptr) return absl::StrCat("cannot set up TLS: ", TakeSslErrors());
  SSL_set_fd(ssl.get(), socket.get());
  in6_addr ip;
  const bool is_ip =
      inet_pton(AF_INET, host.c_str(), &ip) == 1 || inet_pton(AF_INET6, host.c_str(), &ip) == 1;
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl.get(), host.c_str());
    SSL_set1_host(ssl.get(), host.c_str());
  }
  // The socket is non-blocking: the handshake waits in poll, for the
  // deadline at most (a peer that trickles bytes cannot stretch it).
  int rc = 0, error = 0, saved_errno = 0;
  while (true) {
    errno = 0;
    rc = SSL_connect(ssl.get());
    saved_errno = errno;
    if (rc == 1) {
      SSL_shutdown(ssl.get());
      return "";
    }
    error = SSL_get_error(ssl.get(), rc);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) break;
    pollfd p{socket.get(), static_cast<short>(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    const int wait_ms = MillisUntil(deadline);
    // Out of time: a slow peer says nothing about TLS.
    if (wait_ms <= 0 || poll(&p, 1, wait_ms) <= 0) return "";
  }
  const long verify = SSL_get_verify_result(ssl.get());
  std::string reason = TakeSslErrors();
  if (error == SSL_ERROR_SYSCALL && reason.empty()) {
    if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) return "";
    return "the broker closed the connection during the TLS handshake";
  }
  if (verify != X509_V_OK) {
    absl::StrAppend(&reason, " (", X509_verify_cert_error_string(verify), ")");
  }
  return reason.empty() ? absl::StrCat("TLS handshake failed (OpenSSL error ", error, ")") : reason;
}

}  // namespace historian::mqtt_connection
