// File: server/events/outlets/mqtt_outlet.h
// MqttOutlet (`--event_mqtt_broker tcp://HOST:PORT` or ssl://, issue 19): publishes
// one MQTT message per event change, QoS 1, not retained, to
// `<topic_prefix>/<rule>` (docs/events_outlets.md). Publish waits for the
// broker's PUBACK, so the caller (EventFeedFollower) moves its durable
// cursor only past changes the broker has taken: at least once across
// broker outages and node restarts.
//
// Eclipse Paho C++ (libpaho-mqttpp3), as the gateway's Sparkplug input;
// no client persistence (the event feed and its cursor are the queue).
// Login and TLS as the gateway's (api/mqtt/mqtt_connection.h, flags
// --event_mqtt_username, --event_mqtt_password_file, --event_mqtt_tls_*).
//
// Thread-safety: Publish is called by one thread at a time (the follower);
// the counters are atomics, readable from any thread.
#ifndef HISTORIAN_SERVER_EVENTS_OUTLETS_MQTT_OUTLET_H_
#define HISTORIAN_SERVER_EVENTS_OUTLETS_MQTT_OUTLET_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/mqtt/mqtt_connection.h"

namespace mqtt {
class async_client;
}

namespace historian::outlets {

struct MqttOutletOptions {
  mqtt_connection::MqttConnection connection;  // the broker, login, TLS
  std::string client_id;                       // e.g. historian-events-<site>
  std::string topic_prefix;                    // e.g. historian/<site>/events
  absl::Duration timeout = absl::Seconds(10);  // connect, and each PUBACK
};

class MqttOutlet {
 public:
  // Checks the options (INVALID_ARGUMENT or NOT_FOUND naming the
  // --event_mqtt_* flag); does not connect yet (the broker may come later).
  static absl::StatusOr<std::unique_ptr<MqttOutlet>> Create(MqttOutletOptions options);
  ~MqttOutlet();
  MqttOutlet(const MqttOutlet&) = delete;
  MqttOutlet& operator=(const MqttOutlet&) = delete;

  // Connects when not connected, publishes `payload` at QoS 1 to the
  // rule's topic and waits for the PUBACK. UNAVAILABLE when the broker does
  // not answer (retry later); INVALID_ARGUMENT for a topic it refuses.
  absl::Status Publish(const std::string& rule, const std::string& payload);
  // `<topic_prefix>/<rule>` with MQTT's wildcards ('+', '#') in the rule
  // name replaced by '_'.
  std::string Topic(const std::string& rule) const;

  uint64_t published() const { return published_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  explicit MqttOutlet(MqttOutletOptions options);
  absl::Status Connect();

  const MqttOutletOptions options_;
  std::unique_ptr<mqtt::async_client> client_;  // the publishing thread's
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace historian::outlets

#endif  // HISTORIAN_SERVER_EVENTS_OUTLETS_MQTT_OUTLET_H_
