// File: api/mqtt/mqtt_connection.h
// How an MQTT client of this project reaches its broker: the URI, a login
// and TLS (ssl://). Shared by the gateway's Sparkplug input
// (`--mqtt_*`, client/sparkplug) and the node's event outlet
// (`--event_mqtt_*`, server/events/outlets), so both take the same
// settings, refuse the same mistakes and explain a refused handshake the
// same way. Flag names in messages are `--<flag_prefix>_tls_ca` etc.
//
// TLS: `tls_ca` is the CA the broker's certificate must chain to (host
// name checked); `tls_cert`/`tls_key` (both or neither) a client
// certificate for brokers that require one.
//
// Thread-safety: functions of their arguments only (ConnectFailureDetail
// opens a connection of its own); safe from any thread.
#ifndef HISTORIAN_API_MQTT_MQTT_CONNECTION_H_
#define HISTORIAN_API_MQTT_MQTT_CONNECTION_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mqtt {
class connect_options;
}

namespace historian::mqtt_connection {

struct MqttConnection {
  std::string uri;  // tcp://host:port, or ssl:// (mqtts://) for TLS
  std::string username;
  std::string password;
  std::string tls_ca, tls_cert, tls_key;
};

bool IsTlsUri(absl::string_view uri);

// INVALID_ARGUMENT for a URI that is not tcp://HOST:PORT or
// ssl://HOST:PORT (mqtt:// and mqtts:// are Paho's other names), TLS files
// on a plain URI, a certificate without its key (or a key without its
// certificate), or a password without a user name; NOT_FOUND for a TLS
// file that cannot be read. Each message names the flag: `broker_flag`
// the URI's ("mqtt" for --mqtt), `flag_prefix` the others' ("mqtt" for
// --mqtt_tls_ca, --mqtt_username, ...).
absl::Status CheckMqttConnection(const MqttConnection& c, absl::string_view broker_flag,
                                 absl::string_view flag_prefix);

// Sets the login and, for a TLS URI, the certificates (the broker's
// verified) on `options`. No TLS error handler: see api/mqtt/tls_probe.h.
void ApplyMqttConnection(const MqttConnection& c, mqtt::connect_options* options);

// What to add to "cannot connect to URI: <Paho's error>". `return_code`
// is Paho's (mqtt::exception::get_return_code(); 0: unknown): a CONNACK
// refusal (1..5) means the broker answered, so TLS worked and 4 or 5 is
// the login. Otherwise, for a TLS URI, OpenSSL's reason from a handshake
// of our own (TlsHandshakeError, bounded by `probe_timeout`: "; TLS:
// ..."), or when that handshake works a hint about client certificates
// (TLS 1.3: a broker refusing ours, or its absence, says so after our side
// of the handshake, and Paho reports only a closed connection); "" for a
// plain URI.
std::string ConnectFailureDetail(const MqttConnection& c, absl::string_view flag_prefix,
                                 int return_code, absl::Duration probe_timeout);

}  // namespace historian::mqtt_connection

#endif  // HISTORIAN_API_MQTT_MQTT_CONNECTION_H_
