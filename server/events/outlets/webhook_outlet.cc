// File: server/events/outlets/webhook_outlet.cc
#include "server/events/outlets/webhook_outlet.h"

#include <httplib.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace historian::outlets {
namespace {

// Whether the change is sent again rather than dropped. A receiver's
// verdict on the payload is a 4xx other than 408/429; a redirect (httplib
// does not follow it: a URL to fix, e.g. http -> https) or an
// informational answer is none, so the change waits.
bool Retryable(int status) {
  return status == 0 || status < 200 || (status >= 300 && status < 400) || status == 408 ||
         status == 429 || status >= 500;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebhookOutlet>> WebhookOutlet::Start(WebhookOutletOptions options) {
  const std::string& url = options.url;
  if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--event_webhook: want http://host[:port]/path or https://..., got '", url, "'"));
  }
  const size_t host_start = url.find("://") + 3;
  const size_t slash = url.find('/', host_start);
  std::string scheme_host_port = url.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  if (scheme_host_port.size() <= host_start) {
    return absl::InvalidArgumentError(absl::StrCat("--event_webhook: no host in '", url, "'"));
  }
  if (options.queue_dir.empty()) return absl::InvalidArgumentError("webhook outlet: no queue_dir");
  absl::StatusOr<std::unique_ptr<OutletQueue>> queue =
      OutletQueue::Open(options.queue_dir, options.max_queue_bytes);
  if (!queue.ok()) return queue.status();
  std::unique_ptr<WebhookOutlet> outlet(new WebhookOutlet(
      std::move(options), std::move(scheme_host_port), std::move(path), std::move(*queue)));
  outlet->sender_ = std::thread([p = outlet.get()] { p->Run(); });
  return outlet;
}

WebhookOutlet::WebhookOutlet(WebhookOutletOptions options, std::string scheme_host_port,
                             std::string path, std::unique_ptr<OutletQueue> queue)
    : options_(std::move(options)),
      scheme_host_port_(std::move(scheme_host_port)),
      path_(std::move(path)),
      queue_(std::move(queue)) {}

WebhookOutlet::~WebhookOutlet() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (sender_.joinable()) sender_.join();
}

void WebhookOutlet::Log(std::string_view msg) const {
  if (options_.log) options_.log(msg);
}

absl::Status WebhookOutlet::Enqueue(std::string_view event_id, std::string_view json) {
  absl::MutexLock l(&mu_);
  absl::StatusOr<uint64_t> seq = queue_->Append(event_id, json);
  if (!seq.ok()) {
    ++stats_.dropped;
    return seq.status();
  }
  return absl::OkStatus();
}

WebhookOutletStats WebhookOutlet::stats() const {
  absl::MutexLock l(&mu_);
  WebhookOutletStats s = stats_;
  s.queued = queue_->size();
  return s;
}

void WebhookOutlet::Run() {
  httplib::Client client(scheme_host_port_);
  const auto timeout = absl::ToChronoMicroseconds(options_.timeout);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    OutletQueueEntry entry;
    {
      absl::MutexLock l(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || queue_->size() > 0; };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      absl::StatusOr<std::optional<OutletQueueEntry>> front = queue_->Front();
      if (front.ok() && front->has_value()) {
        entry = std::move(**front);
      } else {
        Log(absl::StrCat("event webhook: reading the queue: ", front.status().ToString()));
        mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff);
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
    }
    const httplib::Headers headers = {{"Idempotency-Key", entry.event_id}};
    httplib::Result res = client.Post(path_, headers, entry.json, "application/json");
    const int status = res ? res->status : 0;
    absl::MutexLock l(&mu_);
    ++stats_.attempts;
    if (!Retryable(status)) {
      if (status >= 200 && status < 300) {
        ++stats_.delivered;
      } else {
        ++stats_.rejected;
        Log(absl::StrCat("event webhook: ", scheme_host_port_, path_, " rejected event ",
                         entry.event_id, " with HTTP ", status, "; dropped from the outlet"));
      }
      if (absl::Status s = queue_->PopFront(entry.sequence); !s.ok()) {
        // Not acked: it is sent again (at least once), after a backoff (a
        // full disk would otherwise re-POST it in a tight loop).
        Log(absl::StrCat("event webhook: acking event ", entry.event_id, ": ", s.ToString(),
                         "; sending it again in ", absl::FormatDuration(backoff)));
        mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff);
        if (stop_) return;
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      backoff = options_.initial_backoff;
      continue;
    }
    Log(absl::StrCat("event webhook: POST ", scheme_host_port_, path_, " for event ",
                     entry.event_id, " failed (",
                     status == 0 ? httplib::to_string(res.error()) : absl::StrCat("HTTP ", status),
                     "); retrying in ", absl::FormatDuration(backoff)));
    mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff);
    if (stop_) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace historian::outlets
