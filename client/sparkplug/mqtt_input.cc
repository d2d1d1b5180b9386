// File: mqtt_input.cc
#include "client/sparkplug/mqtt_input.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/sparkplug/metric_value.h"
#include "client/sparkplug/topic.h"

namespace historian::sparkplug {

namespace {

// Paho throws on misuse and I/O errors; its messages become a Status.
absl::Status FromException(absl::string_view what, const std::exception& e) {
  return absl::UnavailableError(absl::StrCat(what, ": ", e.what()));
}

std::string RebirthPayload() {
  Payload p;
  p.set_timestamp(static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())));
  Payload::Metric* m = p.add_metrics();
  m->set_name("Node Control/Rebirth");
  m->set_datatype(kBoolean);
  m->set_boolean_value(true);
  return p.SerializeAsString();
}

}  // namespace

MqttInput::MqttInput(MqttInputOptions options, SampleSink* sink, CatalogSync* catalog)
    : options_(std::move(options)),
      sink_(sink),
      catalog_(catalog),
      state_timestamp_ms_(absl::ToUnixMillis(absl::Now())),
      recorder_(options_.recorder) {}

absl::StatusOr<std::unique_ptr<MqttInput>> MqttInput::Start(MqttInputOptions options,
                                                            SampleSink* sink,
                                                            CatalogSync* catalog) {
  if (options.host_id.empty()) return absl::InvalidArgumentError("--sparkplug_host_id is empty");
  if (absl::Status s = mqtt_connection::CheckMqttConnection(options.connection, "mqtt", "mqtt");
      !s.ok()) {
    return s;
  }
  if (options.client_id.empty()) options.client_id = "historian-" + options.host_id;
  std::unique_ptr<MqttInput> input(new MqttInput(std::move(options), sink, catalog));
  absl::Status s = input->Connect();
  if (!s.ok()) return s;
  return input;
}

std::string MqttInput::StatePayload(bool online) const {
  // Sparkplug 3.0: the will and the birth carry the same timestamp.
  return absl::StrFormat("{\"online\":%s,\"timestamp\":%d}", online ? "true" : "false",
                         state_timestamp_ms_);
}

absl::Status MqttInput::Connect() {
  try {
    client_ = std::make_unique<mqtt::async_client>(options_.connection.uri, options_.client_id,
                                                   mqtt::create_options(MQTTVERSION_3_1_1),
                                                   /*persistence=*/nullptr);
    client_->set_callback(*this);
    mqtt::connect_options co;
    co.set_mqtt_version(MQTTVERSION_3_1_1);
    co.set_clean_session(options_.clean_session);
    co.set_keep_alive_interval(std::chrono::seconds(30));
    co.set_automatic_reconnect(std::chrono::milliseconds(200), std::chrono::seconds(10));
    co.set_will(mqtt::will_options(StateTopic(options_.host_id), StatePayload(false), 1, true));
    mqtt_connection::ApplyMqttConnection(options_.connection, &co);
    connect_options_ = co;
  } catch (const std::exception& e) {
    return FromException("mqtt connect", e);
  }
  // Paho reconnects by itself only after a connection it had: the first one
  // is retried here until it works.
  connect_thread_ = std::thread([this] { FirstConnectLoop(); });
  return absl::OkStatus();
}

void MqttInput::FirstConnectLoop() {
  absl::Duration backoff = absl::Milliseconds(200);
  while (!stopped()) {
    try {
      client_->connect(connect_options_)->wait();
      return;
    } catch (const std::exception& e) {
      const auto* paho = dynamic_cast<const mqtt::exception*>(&e);
      const std::string tls = mqtt_connection::ConnectFailureDetail(
          options_.connection, "mqtt", paho != nullptr ? paho->get_return_code() : 0,
          /*probe_timeout=*/absl::Seconds(5));
      std::fprintf(stderr, "historian-gateway: mqtt: cannot connect to %s: %s%s; retrying\n",
                   options_.connection.uri.c_str(), e.what(), tls.c_str());
    }
    absl::MutexLock lock(&stop_mu_);
    if (stop_mu_.AwaitWithTimeout(absl::Condition(&stopped_), backoff)) return;
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

bool MqttInput::stopped() const {
  absl::MutexLock lock(&stop_mu_);
  return stopped_;
}

MqttInput::~MqttInput() { Stop(); }

void MqttInput::Stop() {
  {
    absl::MutexLock lock(&stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (connect_thread_.joinable()) connect_thread_.join();
  try {
    if (client_ != nullptr && client_->is_connected()) {
      // A clean disconnect does not fire the will: say offline ourselves.
      client_->publish(StateTopic(options_.host_id), StatePayload(false), 1, true)
          ->wait_for(std::chrono::seconds(5));
      client_->disconnect()->wait_for(std::chrono::seconds(5));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "historian-gateway: mqtt: disconnect: %s\n", e.what());
  }
  if (client_ != nullptr) client_->disable_callbacks();
  connected_ = false;
  // Held for a rebirth that never came: in memory only, gone with us.
  if (const uint64_t held = stats().recorder.held_now; held > 0) {
    std::fprintf(stderr,
                 "historian-gateway: sparkplug: %llu messages held for a rebirth were never "
                 "recorded (no BIRTH came): lost\n",
                 static_cast<unsigned long long>(held));
  }
}

void MqttInput::connected(const std::string& cause) {
  connected_ = true;
  ++connects_;
  const std::string filter =
      absl::StrCat(kNamespace, "/", options_.group.empty() ? "+" : options_.group, "/#");
  std::fprintf(stderr, "historian-gateway: mqtt: connected to %s; subscribing to %s\n",
               options_.connection.uri.c_str(), filter.c_str());
  try {
    // Subscribe first, then announce (in this order on the connection): no
    // message sent in answer to STATE online can be missed. Never wait for
    // a token here: this is Paho's callback thread.
    client_->subscribe(filter, 1);
    client_->publish(StateTopic(options_.host_id), StatePayload(true), 1, true);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "historian-gateway: mqtt: subscribe/STATE: %s\n", e.what());
  }
}

void MqttInput::connection_lost(const std::string& cause) {
  connected_ = false;
  std::fprintf(stderr, "historian-gateway: mqtt: connection lost (%s); reconnecting\n",
               cause.c_str());
}

void MqttInput::message_arrived(mqtt::const_message_ptr msg) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  const mqtt::binary& payload = msg->get_payload();
  recorder_.Handle(msg->get_topic(), absl::string_view(payload.data(), payload.size()), now, &out_);
  for (const std::string& line : out_.log) {
    std::fprintf(stderr, "historian-gateway: sparkplug: %s\n", line.c_str());
  }
  absl::Status s = absl::OkStatus();
  for (RecordedSample& r : out_.samples) {
    // Every sample is offered, also after a refusal: each one the gateway
    // cannot queue is counted there (unqueued_samples, exit 2).
    absl::Status added = sink_->Add(r.tag, std::move(r.sample));
    if (s.ok()) s = added;
  }
  // A QoS 1/2 message is durable in the queue before we return.
  if (s.ok() && msg->get_qos() > 0 && !out_.samples.empty()) s = sink_->Flush();
  if (!s.ok()) {
    ++sink_errors_;
    std::fprintf(stderr, "historian-gateway: sparkplug: cannot queue samples of %s: %s\n",
                 msg->get_topic().c_str(), s.ToString().c_str());
  }
  if (catalog_ != nullptr) {
    for (const TagInfo& info : out_.births) catalog_->Submit(info);
  }
  for (const auto& [group, node] : out_.rebirths) {
    try {
      client_->publish(NodeCommandTopic(group, node), RebirthPayload(), 0, false);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "historian-gateway: sparkplug: cannot send the rebirth NCMD: %s\n",
                   e.what());
    }
  }
}

void MqttInput::SetKnownType(const std::string& tag, historian::v1::ValueType type) {
  absl::MutexLock lock(&mu_);
  recorder_.SetKnownType(tag, type);
}

MqttInputStats MqttInput::stats() const {
  MqttInputStats s;
  {
    absl::MutexLock lock(&mu_);
    s.recorder = recorder_.stats();
    s.sink_errors = sink_errors_;
  }
  s.connects = connects_.load();
  s.connected = connected_.load();
  return s;
}

std::string MqttInput::StatusLine() const {
  const MqttInputStats s = stats();
  const RecorderStats& r = s.recorder;
  return absl::StrFormat(
      "mqtt=%s messages=%d metrics=%d births=%d deaths=%d stale_deaths=%d rebirths=%d held=%d "
      "held_now=%d bad_topics=%d bad_payloads=%d unresolved=%d wrong_type=%d unsupported=%d "
      "refused=%d",
      s.connected ? "up" : "down", r.messages, r.samples, r.births, r.deaths, r.stale_deaths,
      r.rebirth_requests, r.held_messages, r.held_now, r.bad_topics, r.bad_payloads, r.unresolved,
      r.wrong_type, r.unsupported, r.refused);
}

}  // namespace historian::sparkplug
