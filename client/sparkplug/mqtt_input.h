// File: mqtt_input.h
// MqttInput: the gateway as a Sparkplug B primary host application on an
// MQTT broker (Eclipse Paho C++ async client).
//
// On every connect it subscribes to `spBv1.0/<group>/#` (QoS 1; `+` for all
// groups) and publishes `spBv1.0/STATE/<host_id>` = {"online":true,...}
// (retained, QoS 1); the will, set at connect, is the same with
// "online":false. Each message goes through the Recorder; its samples are
// handed to the SampleSink before the callback returns, and for a QoS 1 or
// 2 message the sink is flushed (durably queued) before it returns. Rebirth
// requests are published as NCMD `Node Control/Rebirth`; BIRTH metadata goes
// to the CatalogSync.
//
// Thread-safety: thread-safe. Paho calls back on its own thread; the
// recorder is guarded by mu_.
#ifndef HISTORIAN_CLIENT_SPARKPLUG_MQTT_INPUT_H_
#define HISTORIAN_CLIENT_SPARKPLUG_MQTT_INPUT_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/sparkplug/catalog_sync.h"
#include "client/sparkplug/recorder.h"
#include "mqtt/async_client.h"

namespace historian::sparkplug {

// Where recorded samples go (the gateway's batcher and disk queue).
class SampleSink {
 public:
  virtual ~SampleSink() = default;
  virtual absl::Status Add(absl::string_view tag, historian::v1::Sample sample) = 0;
  // Makes everything added so far durable.
  virtual absl::Status Flush() = 0;
};

struct MqttInputOptions {
  std::string uri;  // tcp://host:port or ssl://host:port
  std::string client_id;
  std::string username;
  std::string password;
  std::string tls_ca, tls_cert, tls_key;
  // Sparkplug group to record; empty: every group.
  std::string group;
  std::string host_id;
  // false (default): a persistent MQTT session, so the broker keeps QoS 1
  // messages for the gateway while it is away.
  bool clean_session = false;
  RecorderOptions recorder;
};

struct MqttInputStats {
  RecorderStats recorder;
  uint64_t connects = 0;
  uint64_t sink_errors = 0;
  bool connected = false;
};

class MqttInput : public mqtt::callback {
 public:
  // Connects (waiting up to `connect_timeout` for the first connection is
  // not required: Paho reconnects on its own). `sink` and `catalog` (may be
  // null) must outlive the input.
  static absl::StatusOr<std::unique_ptr<MqttInput>> Start(MqttInputOptions options,
                                                          SampleSink* sink, CatalogSync* catalog);
  ~MqttInput() override;

  // Publishes STATE offline and disconnects. Idempotent.
  void Stop();

  MqttInputStats stats() const;
  std::string StatusLine() const;

  // Tells the recorder that a tag has another type at the node.
  void SetKnownType(const std::string& tag, historian::v1::ValueType type);

 private:
  MqttInput(MqttInputOptions options, SampleSink* sink, CatalogSync* catalog);
  absl::Status Connect();
  std::string StatePayload(bool online) const;

  // mqtt::callback
  void connected(const std::string& cause) override;
  void connection_lost(const std::string& cause) override;
  void message_arrived(mqtt::const_message_ptr msg) override;

  const MqttInputOptions options_;
  SampleSink* const sink_;
  CatalogSync* const catalog_;
  const int64_t state_timestamp_ms_;
  std::unique_ptr<mqtt::async_client> client_;
  mqtt::connect_options connect_options_;
  std::thread connect_thread_;  // the first connection
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;

  mutable std::mutex mu_;
  Recorder recorder_;         // guarded by mu_
  RecorderOutput out_;        // guarded by mu_
  uint64_t sink_errors_ = 0;  // guarded by mu_
  std::atomic<uint64_t> connects_{0};
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopped_{false};
};

}  // namespace historian::sparkplug

#endif  // HISTORIAN_CLIENT_SPARKPLUG_MQTT_INPUT_H_
