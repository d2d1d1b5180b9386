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
// TLS (ssl://): --mqtt_tls_ca is the CA the broker's certificate must chain
// to (host name checked); --mqtt_tls_cert/--mqtt_tls_key (both or neither) a
// client certificate for brokers that require one. Start() refuses missing
// or unreadable files and TLS flags on a tcp:// URI; a refused handshake is
// logged with OpenSSL's reason, found by a handshake of our own
// (api/mqtt/tls_probe.h; Paho's own error says only "TCP/TLS connect
// failure").
//
// Thread-safety: thread-safe. Paho calls back on its own thread
// (message_arrived, connected, connection_lost);
// Start/Stop/stats/SetKnownType come from the gateway's threads.
//   mu_       guards the recorder, its output buffer and sink_errors_
//             (held while a message is recorded and queued);
//   stop_mu_  guards stopped_ (the first-connect thread waits on it).
// No two of them are held at once. connects_ and connected_ are atomics.
#ifndef HISTORIAN_CLIENT_SPARKPLUG_MQTT_INPUT_H_
#define HISTORIAN_CLIENT_SPARKPLUG_MQTT_INPUT_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "api/mqtt/mqtt_connection.h"
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
  // The broker's URI, login and TLS (flags --mqtt, --mqtt_username, ...).
  mqtt_connection::MqttConnection connection;
  std::string client_id;
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
  // The first connection, retried with backoff until it works or Stop().
  void FirstConnectLoop();
  bool stopped() const;
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

  mutable absl::Mutex mu_;
  Recorder recorder_ ABSL_GUARDED_BY(mu_);
  RecorderOutput out_ ABSL_GUARDED_BY(mu_);
  uint64_t sink_errors_ ABSL_GUARDED_BY(mu_) = 0;

  mutable absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;

  std::atomic<uint64_t> connects_{0};
  std::atomic<bool> connected_{false};
};

}  // namespace historian::sparkplug

#endif  // HISTORIAN_CLIENT_SPARKPLUG_MQTT_INPUT_H_
