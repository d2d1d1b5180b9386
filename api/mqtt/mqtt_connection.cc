// File: api/mqtt/mqtt_connection.cc
#include "api/mqtt/mqtt_connection.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/mqtt/tls_probe.h"
#include "mqtt/connect_options.h"
#include "mqtt/ssl_options.h"

namespace historian::mqtt_connection {
namespace {

// tcp://HOST:PORT and ssl://HOST:PORT (mqtts:// is Paho's other name).
bool HasHostAndPort(absl::string_view uri) {
  const size_t scheme_end = uri.find("://");
  if (scheme_end == absl::string_view::npos) return false;
  const absl::string_view rest = uri.substr(scheme_end + 3);
  const size_t colon = rest.rfind(':');
  return colon != absl::string_view::npos && colon > 0 && colon + 1 < rest.size();
}

}  // namespace

bool IsTlsUri(absl::string_view uri) {
  return absl::StartsWith(uri, "ssl://") || absl::StartsWith(uri, "mqtts://");
}

absl::Status CheckMqttConnection(const MqttConnection& c, absl::string_view broker_flag,
                                 absl::string_view flag_prefix) {
  const std::string p = std::string(flag_prefix);
  const bool plain = absl::StartsWith(c.uri, "tcp://") || absl::StartsWith(c.uri, "mqtt://");
  if (!(plain || IsTlsUri(c.uri)) || !HasHostAndPort(c.uri)) {
    return absl::InvalidArgumentError(absl::StrCat("--", std::string(broker_flag),
                                                   ": want tcp://HOST:PORT or ssl://HOST:PORT, "
                                                   "got '",
                                                   c.uri, "'"));
  }
  const bool any_tls = !c.tls_ca.empty() || !c.tls_cert.empty() || !c.tls_key.empty();
  if (any_tls && !IsTlsUri(c.uri)) {
    return absl::InvalidArgumentError(absl::StrCat("--", p, "_tls_ca/--", p, "_tls_cert/--", p,
                                                   "_tls_key need an ssl:// broker URI, not ",
                                                   c.uri));
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", p, "_tls_cert and --", p,
                                                   "_tls_key go together (the client "
                                                   "certificate and its key)"));
  }
  if (!c.password.empty() && c.username.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", p, "_password_file needs --", p, "_username"));
  }
  for (const auto& [flag, path] : {std::pair<const char*, const std::string&>{"_tls_ca", c.tls_ca},
                                   {"_tls_cert", c.tls_cert},
                                   {"_tls_key", c.tls_key}}) {
    if (!path.empty() && access(path.c_str(), R_OK) != 0) {
      return absl::NotFoundError(
          absl::StrCat("--", p, flag, " ", path, ": cannot read it: ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

void ApplyMqttConnection(const MqttConnection& c, mqtt::connect_options* options) {
  if (!c.username.empty()) options->set_user_name(c.username);
  if (!c.password.empty()) options->set_password(c.password);
  if (!IsTlsUri(c.uri)) return;
  mqtt::ssl_options ssl;
  if (!c.tls_ca.empty()) ssl.set_trust_store(c.tls_ca);
  if (!c.tls_cert.empty()) ssl.set_key_store(c.tls_cert);
  if (!c.tls_key.empty()) ssl.set_private_key(c.tls_key);
  ssl.set_enable_server_cert_auth(true);
  ssl.set_verify(true);
  options->set_ssl(std::move(ssl));
}

std::string ConnectFailureDetail(const MqttConnection& c, absl::string_view flag_prefix,
                                 int return_code, absl::Duration probe_timeout) {
  const std::string p = std::string(flag_prefix);
  // MQTT 3.1.1 CONNACK: 4 bad user name or password, 5 not authorized.
  if (return_code == 4 || return_code == 5) {
    return c.username.empty()
               ? absl::StrCat("; the broker wants a login (--", p, "_username, --", p,
                              "_password_file)")
               : absl::StrCat("; the broker refused the login of --", p, "_username ", c.username,
                              " (check --", p, "_password_file and its ACL)");
  }
  if (return_code >= 1 && return_code <= 3) return "";  // the broker answered: not TLS
  if (!IsTlsUri(c.uri)) return "";
  const std::string tls_error = TlsHandshakeError(c, probe_timeout);
  if (!tls_error.empty()) return absl::StrCat("; TLS: ", tls_error);
  return c.tls_cert.empty()
             ? absl::StrCat("; if the broker requires a client certificate, give one (--", p,
                            "_tls_cert/--", p, "_tls_key)")
             : absl::StrCat("; if the broker requires a client certificate, it did not accept --",
                            p, "_tls_cert (signed by a CA it trusts?)");
}

}  // namespace historian::mqtt_connection
