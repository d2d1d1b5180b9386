// File: server/events/outlets/mqtt_outlet.cc
#include "server/events/outlets/mqtt_outlet.h"

#include <chrono>
#include <exception>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "mqtt/async_client.h"

namespace historian::outlets {
namespace {

std::chrono::milliseconds Millis(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MqttOutlet>> MqttOutlet::Create(MqttOutletOptions options) {
  RETURN_IF_ERROR(
      mqtt_connection::CheckMqttConnection(options.connection, "event_mqtt_broker", "event_mqtt"));
  if (options.topic_prefix.empty() || options.client_id.empty()) {
    return absl::InvalidArgumentError("mqtt outlet: empty topic prefix or client id");
  }
  std::unique_ptr<MqttOutlet> outlet(new MqttOutlet(std::move(options)));
  try {
    outlet->client_ = std::make_unique<mqtt::async_client>(outlet->options_.connection.uri,
                                                           outlet->options_.client_id,
                                                           mqtt::create_options(MQTTVERSION_3_1_1),
                                                           /*persistence=*/nullptr);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("--event_mqtt_broker '", outlet->options_.connection.uri, "': ", e.what()));
  }
  return outlet;
}

MqttOutlet::MqttOutlet(MqttOutletOptions options) : options_(std::move(options)) {}

MqttOutlet::~MqttOutlet() {
  try {
    if (client_ != nullptr && client_->is_connected()) {
      client_->disconnect()->wait_for(Millis(options_.timeout));
    }
  } catch (const std::exception&) {
    // Stopping: nothing left to tell the broker.
  }
}

std::string MqttOutlet::Topic(const std::string& rule) const {
  std::string level = rule;
  for (char& c : level) {
    if (c == '+' || c == '#') c = '_';
  }
  return absl::StrCat(options_.topic_prefix, "/", level);
}

absl::Status MqttOutlet::Connect() {
  try {
    mqtt::connect_options co;
    co.set_mqtt_version(MQTTVERSION_3_1_1);
    co.set_clean_session(true);
    co.set_keep_alive_interval(std::chrono::seconds(30));
    co.set_connect_timeout(Millis(options_.timeout));
    mqtt_connection::ApplyMqttConnection(options_.connection, &co);
    if (!client_->connect(co)->wait_for(Millis(options_.timeout))) {
      return absl::UnavailableError(
          absl::StrCat("mqtt: no CONNACK from ", options_.connection.uri, " within ",
                       absl::FormatDuration(options_.timeout),
                       mqtt_connection::ConnectFailureDetail(options_.connection, "event_mqtt",
                                                             /*return_code=*/0, options_.timeout)));
    }
  } catch (const mqtt::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("mqtt: cannot connect to ", options_.connection.uri, ": ", e.what(),
                     mqtt_connection::ConnectFailureDetail(options_.connection, "event_mqtt",
                                                           e.get_return_code(), options_.timeout)));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("mqtt: cannot connect to ", options_.connection.uri, ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status MqttOutlet::Publish(const std::string& rule, const std::string& payload) {
  if (!client_->is_connected()) {
    if (absl::Status s = Connect(); !s.ok()) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
  }
  const std::string topic = Topic(rule);
  try {
    mqtt::delivery_token_ptr token =
        client_->publish(topic, payload.data(), payload.size(), /*qos=*/1, /*retained=*/false);
    if (!token->wait_for(Millis(options_.timeout))) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      return absl::UnavailableError(absl::StrCat("mqtt: no PUBACK from ", options_.connection.uri,
                                                 " for ", topic, " within ",
                                                 absl::FormatDuration(options_.timeout)));
    }
  } catch (const std::exception& e) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    return absl::UnavailableError(
        absl::StrCat("mqtt: publish to ", options_.connection.uri, " (", topic, "): ", e.what()));
  }
  published_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

}  // namespace historian::outlets
