// File: edge_simulator.cc
#include "client/sparkplug/edge_simulator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "client/sparkplug/metric_value.h"
#include "client/sparkplug/sparkplug_b.pb.h"
#include "client/sparkplug/topic.h"
#include "mqtt/async_client.h"

namespace historian::sparkplug {

namespace {

struct SimMetric {
  std::string name;
  uint32_t datatype;
  std::string unit;
  double low = 0, high = 0;
  std::string description;
};

struct SimDevice {
  std::string name;
  int kind;  // 0 press, 1 oven, 2 counter, 3 conveyor, -1 generic
  std::vector<SimMetric> metrics;
  uint64_t first_alias;
};

std::vector<SimMetric> PlantMetrics(int kind) {
  switch (kind) {
    case 0:
      return {{"Pressure", kFloat, "bar", 0, 250, "hydraulic pressure"},
              {"Strokes", kUInt64, "", 0, 0, "strokes since commissioning"},
              {"Running", kBoolean, "", 0, 0, "motor running"}};
    case 1:
      return {{"Zone1/Temp", kDouble, "degC", 0, 400, "zone 1 temperature"},
              {"Zone2/Temp", kDouble, "degC", 0, 400, "zone 2 temperature"},
              {"Setpoint", kDouble, "degC", 0, 400, "temperature setpoint"},
              {"Door", kBoolean, "", 0, 0, "door open"},
              {"Mode", kString, "", 0, 0, "auto or manual"}};
    case 2:
      return {{"Count", kInt64, "parts", 0, 0, "good parts"},
              {"Rejects", kInt32, "parts", 0, 0, "rejected parts"}};
    default:
      return {{"Speed", kFloat, "m/s", 0, 3, "belt speed"},
              {"Running", kBoolean, "", 0, 0, "belt running"}};
  }
}

const char* KindName(int kind) {
  static const char* kNames[] = {"press", "oven", "counter", "conveyor"};
  return kind < 0 ? "dev" : kNames[kind];
}

// The value of metric `m` of device `d` at `tick`.
void SetValue(const SimDevice& d, size_t m, uint64_t tick, uint64_t seed, Payload::Metric* out) {
  const double t = static_cast<double>(tick);
  const double phase = static_cast<double>((seed * 7919 + d.first_alias) % 1000) / 100.0;
  const double noise = std::sin(t * 12.9898 + phase * 78.233) * 0.5;
  if (d.kind < 0) {
    out->set_double_value(std::round((100 * std::sin(t / 100 + phase + m) + noise) * 100) / 100);
    return;
  }
  const std::string& name = d.metrics[m].name;
  if (name == "Pressure") {
    out->set_float_value(
        static_cast<float>(std::round((120 + 30 * std::sin(t / 50 + phase) + noise) * 100) / 100));
  } else if (name == "Strokes") {
    out->set_long_value(tick * 2 + static_cast<uint64_t>(phase * 1000));
  } else if (name == "Running") {
    out->set_boolean_value((tick / 300 + static_cast<uint64_t>(phase)) % 5 != 0);
  } else if (name == "Zone1/Temp" || name == "Zone2/Temp") {
    const double sp = 180 + 20 * static_cast<double>((tick / 1000) % 3);
    out->set_double_value(std::round((sp + 3 * std::sin(t / 80 + phase + m) + noise) * 10) / 10);
  } else if (name == "Setpoint") {
    out->set_double_value(180 + 20 * static_cast<double>((tick / 1000) % 3));
  } else if (name == "Door") {
    out->set_boolean_value((tick / 200) % 7 == 0);
  } else if (name == "Mode") {
    out->set_string_value((tick / 500) % 4 == 3 ? "manual" : "auto");
  } else if (name == "Count") {
    out->set_long_value(tick * 3);
  } else if (name == "Rejects") {
    out->set_int_value(static_cast<uint32_t>(tick / 17));
  } else {  // Speed
    out->set_float_value(
        static_cast<float>(std::round((1.2 + 0.1 * std::sin(t / 40 + phase)) * 100) / 100));
  }
}

}  // namespace

class EdgeSimulator::Node : public mqtt::callback {
 public:
  Node(const EdgeSimOptions& o, int index)
      : o_(o), name_(absl::StrCat(o.node_prefix, index + 1)), host_online_(o.host_id.empty()) {
    uint64_t alias = 100;
    for (int d = 0; d < o.devices; ++d) {
      SimDevice dev;
      dev.kind = o.metrics_per_device > 0 ? -1 : d % 4;
      dev.name = absl::StrCat(KindName(dev.kind), d / (o.metrics_per_device > 0 ? 1 : 4) + 1);
      if (dev.kind < 0) {
        for (int m = 0; m < o.metrics_per_device; ++m) {
          dev.metrics.push_back({absl::StrCat("v", m), kDouble, "", 0, 0, ""});
        }
      } else {
        dev.metrics = PlantMetrics(dev.kind);
      }
      dev.first_alias = alias;
      alias += dev.metrics.size();
      devices_.push_back(std::move(dev));
    }
  }

  absl::Status Connect() {
    try {
      client_ =
          std::make_unique<mqtt::async_client>(o_.uri, absl::StrCat("sim-", o_.group, "-", name_),
                                               mqtt::create_options(MQTTVERSION_3_1_1), nullptr);
      client_->set_callback(*this);
      mqtt::connect_options co;
      co.set_clean_session(true);
      co.set_keep_alive_interval(std::chrono::seconds(30));
      Payload death;
      death.set_timestamp(static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())));
      auto* bd = death.add_metrics();
      bd->set_name("bdSeq");
      bd->set_datatype(kInt64);
      bd->set_long_value(bd_seq_);
      co.set_will(mqtt::will_options(Topic("NDEATH", ""), death.SerializeAsString(), 1, false));
      client_->connect(co)->wait();
      if (!o_.host_id.empty()) client_->subscribe(StateTopic(o_.host_id), 1)->wait();
      client_->subscribe(Topic("NCMD", ""), 1)->wait();
      if (o_.host_id.empty()) rebirth_ = true;
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("mqtt ", o_.uri, ": ", e.what()));
    }
    return absl::OkStatus();
  }

  void Step(uint64_t tick, EdgeSimStats& stats) {
    // Strictly increasing per node, so fast runs (several ticks in one ms)
    // do not overwrite samples: the node keeps one value per tag and time.
    const uint64_t now_ms =
        std::max(static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())), last_ms_ + 1);
    last_ms_ = now_ms;
    const bool online = host_online_.load();
    if (online && rebirth_.exchange(false)) Births(now_ms, stats);
    const bool live = online && born_;
    if (live_ && !live) {
      std::fprintf(stderr, "historian-sparkplug-sim: %s: host %s offline: buffering DDATA\n",
                   name_.c_str(), o_.host_id.c_str());
    }
    live_ = live;
    for (const SimDevice& d : devices_) {
      Payload p;
      p.set_timestamp(now_ms);
      for (size_t m = 0; m < d.metrics.size(); ++m) {
        auto* metric = p.add_metrics();
        metric->set_alias(d.first_alias + m);
        SetValue(d, m, tick, o_.seed, metric);
      }
      stats.metrics += d.metrics.size();
      ++stats.messages;
      if (!online || !born_) {
        // The host is away: keep it, send it as history later.
        ++stats.buffered;
        buffer_.emplace_back(Topic("DDATA", d.name), std::move(p));
        if (buffer_.size() > o_.buffer_max) {
          buffer_.pop_front();
          ++stats.dropped;
        }
        continue;
      }
      Flush();
      Publish(Topic("DDATA", d.name), p);
    }
  }

  void Finish() {
    try {
      if (client_ == nullptr || !client_->is_connected()) return;
      Payload death;
      // After the last DDATA, never at its millisecond (the death's Bad
      // samples would replace its values).
      death.set_timestamp(
          std::max(static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())), last_ms_ + 1));
      auto* bd = death.add_metrics();
      bd->set_name("bdSeq");
      bd->set_datatype(kInt64);
      bd->set_long_value(bd_seq_);
      client_->publish(Topic("NDEATH", ""), death.SerializeAsString(), 1, false)->wait();
      client_->disconnect()->wait();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "historian-sparkplug-sim: %s: %s\n", name_.c_str(), e.what());
    }
  }

 private:
  std::string Topic(absl::string_view type, absl::string_view device) const {
    return absl::StrCat(kNamespace, "/", o_.group, "/", type, "/", name_, device.empty() ? "" : "/",
                        device);
  }

  void Publish(const std::string& topic, Payload& p) {
    p.set_seq(seq_);
    seq_ = (seq_ + 1) % 256;
    const std::string bytes = p.SerializeAsString();
    for (int attempt = 0;; ++attempt) {
      try {
        client_->publish(topic, bytes.data(), bytes.size(), o_.qos, false);
        return;
      } catch (const std::exception& e) {
        // Paho's send buffer is full, or the connection is down: wait.
        if (attempt == 0 || attempt % 1000 == 0) {
          std::fprintf(stderr, "historian-sparkplug-sim: publish: %s; retrying\n", e.what());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  }

  // Buffered DDATA first, as history.
  void Flush() {
    if (!buffer_.empty()) {
      std::fprintf(stderr,
                   "historian-sparkplug-sim: %s: sending %zu buffered DDATA as history, "
                   "timestamps %llu..%llu ms\n",
                   name_.c_str(), buffer_.size(),
                   static_cast<unsigned long long>(buffer_.front().second.timestamp()),
                   static_cast<unsigned long long>(buffer_.back().second.timestamp()));
    }
    while (!buffer_.empty()) {
      auto& [topic, p] = buffer_.front();
      for (auto& m : *p.mutable_metrics()) {
        m.set_is_historical(true);
        m.set_timestamp(p.timestamp());
      }
      Publish(topic, p);
      buffer_.pop_front();
    }
  }

  void Births(uint64_t now_ms, EdgeSimStats& stats) {
    Payload nb;
    nb.set_timestamp(now_ms);
    seq_ = 0;
    auto* bd = nb.add_metrics();
    bd->set_name("bdSeq");
    bd->set_datatype(kInt64);
    bd->set_long_value(bd_seq_);
    auto* rb = nb.add_metrics();
    rb->set_name("Node Control/Rebirth");
    rb->set_datatype(kBoolean);
    rb->set_boolean_value(false);
    Publish(Topic("NBIRTH", ""), nb);
    for (const SimDevice& d : devices_) {
      Payload db;
      db.set_timestamp(now_ms);
      for (size_t m = 0; m < d.metrics.size(); ++m) {
        const SimMetric& sm = d.metrics[m];
        auto* metric = db.add_metrics();
        metric->set_name(sm.name);
        metric->set_alias(d.first_alias + m);
        metric->set_datatype(sm.datatype);
        SetValue(d, m, 0, o_.seed, metric);
        auto* props = metric->mutable_properties();
        if (!sm.unit.empty()) {
          props->add_keys("engUnit");
          props->add_values()->set_string_value(sm.unit);
        }
        if (sm.high > sm.low) {
          props->add_keys("engLow");
          props->add_values()->set_double_value(sm.low);
          props->add_keys("engHigh");
          props->add_values()->set_double_value(sm.high);
        }
        if (!sm.description.empty()) {
          props->add_keys("Description");
          props->add_values()->set_string_value(sm.description);
        }
      }
      Publish(Topic("DBIRTH", d.name), db);
    }
    born_ = true;
    ++stats.births;
  }

  // mqtt::callback (Paho's thread): only atomics.
  void message_arrived(mqtt::const_message_ptr msg) override {
    if (absl::StrContains(msg->get_topic(), "/STATE/")) {
      const std::string text = absl::StrReplaceAll(msg->get_payload_str(), {{" ", ""}});
      const bool online = absl::StrContains(text, "\"online\":true");
      if (online && !host_online_.load()) rebirth_ = true;  // a new host session
      host_online_ = online;
      return;
    }
    Payload cmd;
    if (!cmd.ParseFromString(msg->get_payload_str())) return;
    for (const auto& m : cmd.metrics()) {
      if (m.name() == "Node Control/Rebirth" && m.boolean_value()) rebirth_ = true;
    }
  }

  const EdgeSimOptions& o_;
  const std::string name_;
  std::vector<SimDevice> devices_;
  std::unique_ptr<mqtt::async_client> client_;
  std::atomic<bool> host_online_;
  std::atomic<bool> rebirth_{false};
  uint64_t bd_seq_ = 0;
  uint64_t seq_ = 0;
  uint64_t last_ms_ = 0;
  bool born_ = false;
  bool live_ = false;  // the last Step published DDATA live (not buffered)
  std::deque<std::pair<std::string, Payload>> buffer_;
};

EdgeSimulator::EdgeSimulator(EdgeSimOptions options) : options_(std::move(options)) {
  for (int i = 0; i < options_.nodes; ++i) nodes_.push_back(std::make_unique<Node>(options_, i));
}

EdgeSimulator::~EdgeSimulator() = default;

absl::Status EdgeSimulator::Run() {
  for (auto& n : nodes_) {
    absl::Status s = n->Connect();
    if (!s.ok()) return s;
  }
  EdgeSimStats stats;
  const absl::Time start = absl::Now();
  const absl::Duration period =
      options_.rate > 0 ? absl::Seconds(1) / options_.rate : absl::ZeroDuration();
  for (uint64_t tick = 0; !stop_; ++tick) {
    if (period > absl::ZeroDuration()) {
      const absl::Time due = start + period * static_cast<double>(tick);
      const absl::Time now = absl::Now();
      if (due > now) absl::SleepFor(due - now);
    }
    if (options_.duration > absl::ZeroDuration() && absl::Now() - start >= options_.duration) break;
    for (auto& n : nodes_) n->Step(tick, stats);
    {
      absl::MutexLock lock(&stats_mu_);
      stats_ = stats;
    }
    if (options_.max_messages > 0 && stats.messages >= options_.max_messages) break;
  }
  for (auto& n : nodes_) n->Finish();
  return absl::OkStatus();
}

EdgeSimStats EdgeSimulator::stats() const {
  absl::MutexLock lock(&stats_mu_);
  return stats_;
}

}  // namespace historian::sparkplug
