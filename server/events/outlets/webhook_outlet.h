// File: server/events/outlets/webhook_outlet.h
// WebhookOutlet (`--event_webhook URL`, issue 19): POSTs each event's JSON
// body to one URL, in order, at least once, from a disk-backed queue
// (OutletQueue) so what was enqueued survives a restart.
//
// Delivery: one sender thread takes the oldest queued event and POSTs it
// with `Content-Type: application/json` and `Idempotency-Key: <key>`, the
// key given to Enqueue (historiand gives EventChangeKey, "<event id>-<change>",
// event_json.h; the receiver dedupes on it: a crash between a 2xx and the
// ack sends the change again, with the same key). Then:
//   2xx                       delivered: acked (durably) and the next one goes;
//   408, 429, 5xx, 1xx, 3xx, retried after a backoff (initial_backoff,
//   no answer                 doubling up to max_backoff), the same event
//                             first: order is kept (a redirect is not
//                             followed: it is a URL to fix, logged each try);
//   any other status (4xx)    rejected: logged, counted, acked (a receiver
//                             that refuses a body would otherwise stop the
//                             queue for good).
// Enqueue is durable on return (fdatasync); past max_queue_bytes of unsent
// events it refuses with RESOURCE_EXHAUSTED (counted as dropped; the event
// itself stays in the event store).
//
// Thread-safety: Enqueue and stats are thread-safe. mu_ guards the queue,
// the counters and stop_; the sender thread holds it only around queue
// operations, never during a POST.
#ifndef HISTORIAN_SERVER_EVENTS_OUTLETS_WEBHOOK_OUTLET_H_
#define HISTORIAN_SERVER_EVENTS_OUTLETS_WEBHOOK_OUTLET_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/events/outlets/outlet_queue.h"

namespace historian::outlets {

struct WebhookOutletOptions {
  std::string url;        // http://host[:port]/path or https://...
  std::string queue_dir;  // e.g. <data_dir>/event_webhook_queue
  uint64_t max_queue_bytes = uint64_t{256} << 20;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
  absl::Duration timeout = absl::Seconds(10);  // connect and read, per POST
  // Warnings (rejections, queue errors); may be empty.
  std::function<void(std::string_view)> log;
};

struct WebhookOutletStats {
  uint64_t queued = 0;     // unsent events
  uint64_t delivered = 0;  // by this process
  uint64_t attempts = 0;   // POSTs made (delivered + failed)
  uint64_t rejected = 0;   // answered with a non-retryable status
  uint64_t dropped = 0;    // refused by Enqueue (queue full or failing disk)
};

class WebhookOutlet {
 public:
  // Opens the queue (resending what a previous process left) and starts the
  // sender. INVALID_ARGUMENT for a URL it cannot use.
  static absl::StatusOr<std::unique_ptr<WebhookOutlet>> Start(WebhookOutletOptions options);
  // Stops the sender (waits for a POST in flight, at most `timeout`).
  ~WebhookOutlet();
  WebhookOutlet(const WebhookOutlet&) = delete;
  WebhookOutlet& operator=(const WebhookOutlet&) = delete;

  absl::Status Enqueue(std::string_view event_id, std::string_view json) ABSL_LOCKS_EXCLUDED(mu_);
  WebhookOutletStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  WebhookOutlet(WebhookOutletOptions options, std::string scheme_host_port, std::string path,
                std::unique_ptr<OutletQueue> queue);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  void Log(std::string_view msg) const;

  const WebhookOutletOptions options_;
  const std::string scheme_host_port_;
  const std::string path_;
  mutable absl::Mutex mu_;
  std::unique_ptr<OutletQueue> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  WebhookOutletStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread sender_;
};

}  // namespace historian::outlets

#endif  // HISTORIAN_SERVER_EVENTS_OUTLETS_WEBHOOK_OUTLET_H_
