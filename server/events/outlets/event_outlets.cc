// File: server/events/outlets/event_outlets.cc
#include "server/events/outlets/event_outlets.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "server/logging.h"
#include "storage/store.h"

namespace historian::outlets {
namespace {

constexpr uint64_t kMinQueueBytes = uint64_t{1} << 20;
constexpr uint64_t kMaxQueueBytes = uint64_t{1} << 40;

void Warn(std::string_view message) { server::LogWarning("events", message); }

absl::Status MakeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEventOutletsConfig(const EventOutletsConfig& c) {
  if (!c.webhook_url.empty() && !absl::StartsWith(c.webhook_url, "http://") &&
      !absl::StartsWith(c.webhook_url, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--event_webhook: want http://host[:port]/path or https://..., got '", c.webhook_url, "'"));
  }
  if (!c.mqtt.uri.empty()) {
    RETURN_IF_ERROR(
        mqtt_connection::CheckMqttConnection(c.mqtt, "event_mqtt_broker", "event_mqtt"));
  } else if (!c.mqtt.username.empty() || !c.mqtt.password.empty() || !c.mqtt.tls_ca.empty() ||
             !c.mqtt.tls_cert.empty() || !c.mqtt.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--event_mqtt_username/--event_mqtt_password_file/--event_mqtt_tls_*: need "
        "--event_mqtt_broker");
  }
  if (!c.webhook_url.empty()) {
    if (c.webhook_max_queue_bytes < kMinQueueBytes || c.webhook_max_queue_bytes > kMaxQueueBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("--event_webhook_max_queue_bytes: ", c.webhook_max_queue_bytes,
                       " is outside 1 MiB..1 TiB"));
    }
    if (c.webhook_max_backoff < absl::Milliseconds(200) || c.webhook_max_backoff > absl::Hours(1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--event_webhook_max_backoff: ", absl::FormatDuration(c.webhook_max_backoff),
                       " is outside 200ms..1h"));
    }
    if (c.webhook_timeout < absl::Milliseconds(100) || c.webhook_timeout > absl::Minutes(10)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--event_webhook_timeout: ", absl::FormatDuration(c.webhook_timeout),
                       " is outside 100ms..10m"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<EventOutlets>> EventOutlets::Start(
    Store* store, const EventOutletsConfig& config) {
  if (absl::Status s = ValidateEventOutletsConfig(config); !s.ok()) return s;
  std::unique_ptr<EventOutlets> o(new EventOutlets());
  o->store_ = store;
  if (!config.webhook_url.empty()) {
    WebhookOutletOptions wo;
    wo.url = config.webhook_url;
    wo.queue_dir = config.data_dir + "/event_webhook_queue";
    wo.max_queue_bytes = config.webhook_max_queue_bytes;
    wo.max_backoff = config.webhook_max_backoff;
    wo.timeout = config.webhook_timeout;
    wo.log = Warn;
    if (absl::Status s = MakeDir(wo.queue_dir); !s.ok()) return s;
    absl::StatusOr<std::unique_ptr<WebhookOutlet>> w = WebhookOutlet::Start(wo);
    if (!w.ok()) return w.status();
    o->webhook_ = std::move(*w);
    EventFeedFollowerOptions fo;
    fo.name = "webhook";
    fo.cursor_path = wo.queue_dir + "/feed_cursor";
    fo.site = config.site;
    fo.log = Warn;
    fo.max_backoff = config.webhook_max_backoff;
    WebhookOutlet* webhook = o->webhook_.get();
    const uint64_t max_bytes = config.webhook_max_queue_bytes;
    fo.deliver = [webhook, max_bytes](const EventDelivery& d) -> absl::Status {
      absl::Status s = webhook->Enqueue(d.key, d.json);
      if (absl::IsResourceExhausted(s)) {
        // Not dropped: the change waits in the event feed until the
        // receiver has caught up.
        return absl::UnavailableError(
            absl::StrCat("the queue holds --event_webhook_max_queue_bytes=", max_bytes,
                         " of unsent events (is the receiver down?)"));
      }
      if (absl::IsInvalidArgument(s)) return s;  // a body over 16 MiB: never fits
      // A failing disk: try again rather than lose the change.
      return s.ok() ? s : absl::UnavailableError(s.message());
    };
    absl::StatusOr<std::unique_ptr<EventFeedFollower>> f = EventFeedFollower::Start(store, fo);
    if (!f.ok()) return f.status();
    o->webhook_follower_ = std::move(*f);
  }
  if (!config.mqtt.uri.empty()) {
    MqttOutletOptions mo;
    mo.connection = config.mqtt;
    mo.client_id = absl::StrCat("historian-events-", config.site);
    mo.topic_prefix = config.mqtt_topic_prefix.empty()
                          ? absl::StrCat("historian/", config.site, "/events")
                          : config.mqtt_topic_prefix;
    mo.timeout = config.mqtt_timeout;
    absl::StatusOr<std::unique_ptr<MqttOutlet>> m = MqttOutlet::Create(mo);
    if (!m.ok()) return m.status();
    o->mqtt_ = std::move(*m);
    const std::string dir = config.data_dir + "/event_mqtt";
    if (absl::Status s = MakeDir(dir); !s.ok()) return s;
    EventFeedFollowerOptions fo;
    fo.name = "mqtt";
    fo.cursor_path = dir + "/feed_cursor";
    fo.site = config.site;
    fo.log = Warn;
    fo.max_backoff = absl::Seconds(10);
    MqttOutlet* mqtt = o->mqtt_.get();
    fo.deliver = [mqtt](const EventDelivery& d) { return mqtt->Publish(d.rule, d.json); };
    absl::StatusOr<std::unique_ptr<EventFeedFollower>> f = EventFeedFollower::Start(store, fo);
    if (!f.ok()) return f.status();
    o->mqtt_follower_ = std::move(*f);
  }
  return o;
}

EventOutlets::~EventOutlets() { Stop(); }

void EventOutlets::Stop() {
  // Followers first: they call into the outlets.
  if (webhook_follower_) webhook_follower_->Stop();
  if (mqtt_follower_) mqtt_follower_->Stop();
  webhook_.reset();
  mqtt_.reset();
}

void EventOutlets::CollectMetrics(server::MetricsWriter* w) const {
  if (webhook_follower_ == nullptr && mqtt_follower_ == nullptr) return;
  const uint64_t head = store_->EventFeedHead();
  struct Row {
    const char* outlet;
    double queued, posted, failed, rejected, lost;
  };
  std::vector<Row> rows;
  if (webhook_follower_ != nullptr) {
    const WebhookOutletStats s = webhook_ != nullptr ? webhook_->stats() : WebhookOutletStats{};
    const EventFeedFollowerStats f = webhook_follower_->stats();
    rows.push_back({"webhook",
                    static_cast<double>(s.queued + (head > f.position ? head - f.position : 0)),
                    static_cast<double>(s.delivered),
                    static_cast<double>(s.attempts - s.delivered - s.rejected),
                    static_cast<double>(s.rejected + f.refused), static_cast<double>(f.lost)});
  }
  if (mqtt_follower_ != nullptr) {
    const EventFeedFollowerStats f = mqtt_follower_->stats();
    rows.push_back({"mqtt", static_cast<double>(head > f.position ? head - f.position : 0),
                    static_cast<double>(mqtt_ != nullptr ? mqtt_->published() : 0),
                    static_cast<double>(mqtt_ != nullptr ? mqtt_->failed() : 0),
                    static_cast<double>(f.refused), static_cast<double>(f.lost)});
  }
  w->Family("historian_event_outlet_queued", "gauge",
            "Event changes not yet delivered by the outlet (its queue and the feed behind it)");
  for (const Row& r : rows)
    w->Sample("historian_event_outlet_queued", server::Label("outlet", r.outlet), r.queued);
  w->Family("historian_event_outlet_posted_total", "counter",
            "Event changes delivered (webhook 2xx, MQTT PUBACK) by this process");
  for (const Row& r : rows)
    w->Sample("historian_event_outlet_posted_total", server::Label("outlet", r.outlet), r.posted);
  w->Family("historian_event_outlet_failed_total", "counter",
            "Delivery attempts that failed and are retried (no answer, 408/429/5xx, no PUBACK)");
  for (const Row& r : rows)
    w->Sample("historian_event_outlet_failed_total", server::Label("outlet", r.outlet), r.failed);
  w->Family("historian_event_outlet_rejected_total", "counter",
            "Event changes given up: refused by the receiver (other 4xx) or unreadable");
  for (const Row& r : rows)
    w->Sample("historian_event_outlet_rejected_total", server::Label("outlet", r.outlet),
              r.rejected);
  w->Family("historian_event_outlet_lost_total", "counter",
            "Event feed positions dropped before the outlet read them (it fell 65536 changes "
            "behind)");
  for (const Row& r : rows)
    w->Sample("historian_event_outlet_lost_total", server::Label("outlet", r.outlet), r.lost);
}

}  // namespace historian::outlets
