// File: api/mqtt/tls_probe.h
// Why a TLS handshake with an MQTT broker fails, found by a handshake of our
// own with the same CA, client certificate and key as the MQTT client's.
//
// Paho's own channel for that reason (ssl_options::set_error_handler) is not
// used: Paho C++ 1.2.0 (Debian bookworm) hands Paho C a pointer into the
// connect_options copy that async_client::connect takes by value, so every
// later handshake reaches the handler through a destroyed object (upstream
// issue 325, fixed in 1.3.0). A second handshake costs one connection
// attempt, and only after one already failed.
//
// Thread-safety: a pure function; safe from any thread.
#ifndef HISTORIAN_API_MQTT_TLS_PROBE_H_
#define HISTORIAN_API_MQTT_TLS_PROBE_H_

#include <string>

#include "absl/time/time.h"
#include "api/mqtt/mqtt_connection.h"

namespace historian::mqtt_connection {

// For an ssl:// URI: OpenSSL's reason a handshake with the broker fails
// ("certificate verify failed (unable to get local issuer certificate)"),
// checked as Paho checks it (the broker's certificate against `tls_ca`, or
// the system's CAs without one, and its name against the URI's host).
// "" when the handshake succeeds, the broker cannot be reached or does not
// finish the handshake within `timeout` (one deadline for the connection
// and the handshake, clamped to 1 ms..5 min; the host name's lookup is the
// resolver's own), which is not a TLS problem, or the URI is not ssl://.
// SIGPIPE is blocked on the calling thread meanwhile.
std::string TlsHandshakeError(const MqttConnection& c, absl::Duration timeout);

}  // namespace historian::mqtt_connection

#endif  // HISTORIAN_API_MQTT_TLS_PROBE_H_
