// File: server/events/outlets/event_feed_follower.h
// EventFeedFollower: hands every change of the store's event feed (raised,
// cleared, acknowledged; own and replicated) to one outlet, in feed order,
// from a durable cursor (feed_cursor.h), so a restart neither skips changes
// nor hands on more than the last batch again (docs/events_outlets.md).
//
// One thread: waits on Store::WaitEventChanges, reads each changed event's
// merged state, builds the body (event_json.h) and calls `deliver`:
//   OK           handed on; the cursor moves past it;
//   UNAVAILABLE  the same change again after a backoff (initial_backoff
//                doubling to max_backoff), later changes wait behind it;
//   other        logged and counted as refused; the cursor moves past it.
// The cursor is written (durably) after each batch and before Stop returns.
// A cursor older than what the feed keeps (EventsPart::Options::
// feed_capacity changes) is logged with the positions lost and counted.
//
// Thread-safety: Stop and stats are thread-safe. mu_ guards stop_ and
// stats_; the thread holds it only to read or update them, never while
// calling `deliver` or the store.
#ifndef HISTORIAN_SERVER_EVENTS_OUTLETS_EVENT_FEED_FOLLOWER_H_
#define HISTORIAN_SERVER_EVENTS_OUTLETS_EVENT_FEED_FOLLOWER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/events/event_record.h"

namespace historian {
class Store;
}

namespace historian::outlets {

struct EventDelivery {
  events::FeedRecord change;
  std::string key;   // EventChangeKey: "<event id>-<change>"
  std::string rule;  // the event's rule (MQTT topics)
  std::string json;  // EventChangeJson
};

struct EventFeedFollowerOptions {
  std::string name;         // "webhook", "mqtt": log lines
  std::string cursor_path;  // its directory must exist
  std::string site;         // this node's --site, in every body
  std::function<absl::Status(const EventDelivery&)> deliver;
  std::function<void(std::string_view)> log;  // warnings; may be empty
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
};

struct EventFeedFollowerStats {
  uint64_t handed = 0;   // changes `deliver` took
  uint64_t refused = 0;  // changes `deliver` refused for good
  uint64_t retries = 0;  // UNAVAILABLE answers
  uint64_t lost = 0;     // feed positions gone before they were read
  uint64_t position = 0;
};

class EventFeedFollower {
 public:
  // Reads the cursor (none: starts at the feed's head, so a new outlet does
  // not resend the history) and starts the thread. `store` must outlive
  // Stop.
  static absl::StatusOr<std::unique_ptr<EventFeedFollower>> Start(Store* store,
                                                                  EventFeedFollowerOptions options);
  ~EventFeedFollower();
  EventFeedFollower(const EventFeedFollower&) = delete;
  EventFeedFollower& operator=(const EventFeedFollower&) = delete;

  // Ends the thread (at most ~1 s, a delivery in flight included) and
  // writes the cursor. Call before the store closes. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  EventFeedFollowerStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  EventFeedFollower(Store* store, EventFeedFollowerOptions options, uint64_t position);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_);
  // Delivers one change, retrying UNAVAILABLE; false when stopped first.
  bool Deliver(const events::FeedRecord& change) ABSL_LOCKS_EXCLUDED(mu_);
  void SaveCursor(uint64_t position) ABSL_LOCKS_EXCLUDED(mu_);
  void Log(std::string_view msg) const;

  Store* const store_;
  const EventFeedFollowerOptions options_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  EventFeedFollowerStats stats_ ABSL_GUARDED_BY(mu_);
  uint64_t saved_ ABSL_GUARDED_BY(mu_) = 0;  // the position in the cursor file
  std::thread thread_;
};

}  // namespace historian::outlets

#endif  // HISTORIAN_SERVER_EVENTS_OUTLETS_EVENT_FEED_FOLLOWER_H_
