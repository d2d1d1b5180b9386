// File: server/events/outlets/event_outlets.h
// EventOutlets: historiand's event outlets (docs/events_outlets.md), built
// from its flags: `--event_webhook` (WebhookOutlet fed through its disk
// queue) and `--event_mqtt_broker` (MqttOutlet), each fed by its own
// EventFeedFollower with a durable cursor under the data dir. Both send
// every change of the node's event feed: own events and those replicated
// from the other site.
//
// Thread-safety: Start, Stop and CollectMetrics may be called from any
// thread; the members are set by Start before any other call and only read
// afterwards (the outlets and followers are thread-safe themselves).
#ifndef HISTORIAN_SERVER_EVENTS_OUTLETS_EVENT_OUTLETS_H_
#define HISTORIAN_SERVER_EVENTS_OUTLETS_EVENT_OUTLETS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/mqtt/mqtt_connection.h"
#include "server/events/outlets/event_feed_follower.h"
#include "server/events/outlets/mqtt_outlet.h"
#include "server/events/outlets/webhook_outlet.h"
#include "server/metrics.h"

namespace historian::outlets {

struct EventOutletsConfig {
  std::string data_dir;
  std::string site;
  std::string webhook_url;  // empty: no webhook
  uint64_t webhook_max_queue_bytes = uint64_t{256} << 20;
  absl::Duration webhook_max_backoff = absl::Seconds(30);
  absl::Duration webhook_timeout = absl::Seconds(10);
  // --event_mqtt_broker (uri; empty: no MQTT outlet), its login and TLS.
  mqtt_connection::MqttConnection mqtt;
  std::string mqtt_topic_prefix;  // empty: historian/<site>/events
  absl::Duration mqtt_timeout = absl::Seconds(10);
};

// INVALID_ARGUMENT naming the flag for a value out of range.
absl::Status ValidateEventOutletsConfig(const EventOutletsConfig& config);

class EventOutlets {
 public:
  // Opens the queues and starts what the config asks for (nothing when
  // both are empty). `store` must outlive Stop.
  static absl::StatusOr<std::unique_ptr<EventOutlets>> Start(Store* store,
                                                             const EventOutletsConfig& config);
  ~EventOutlets();
  EventOutlets(const EventOutlets&) = delete;
  EventOutlets& operator=(const EventOutlets&) = delete;

  // Stops the followers (cursors written) and the outlets. Before the
  // store closes. Idempotent.
  void Stop();
  // historian_event_outlet_* samples (docs/operations.md).
  void CollectMetrics(server::MetricsWriter* w) const;

 private:
  EventOutlets() = default;

  Store* store_ = nullptr;
  std::unique_ptr<WebhookOutlet> webhook_;
  std::unique_ptr<EventFeedFollower> webhook_follower_;
  std::unique_ptr<MqttOutlet> mqtt_;
  std::unique_ptr<EventFeedFollower> mqtt_follower_;
};

}  // namespace historian::outlets

#endif  // HISTORIAN_SERVER_EVENTS_OUTLETS_EVENT_OUTLETS_H_
