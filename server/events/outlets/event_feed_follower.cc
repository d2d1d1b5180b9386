// File: server/events/outlets/event_feed_follower.cc
#include "server/events/outlets/event_feed_follower.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/events/outlets/event_json.h"
#include "server/events/outlets/feed_cursor.h"
#include "storage/events/events_part.h"
#include "storage/store.h"

namespace historian::outlets {

absl::StatusOr<std::unique_ptr<EventFeedFollower>> EventFeedFollower::Start(
    Store* store, EventFeedFollowerOptions options) {
  if (!options.deliver) return absl::InvalidArgumentError("event outlet: no deliver function");
  absl::StatusOr<std::optional<uint64_t>> cursor = ReadFeedCursor(options.cursor_path);
  if (!cursor.ok()) return cursor.status();
  const uint64_t head = store->EventFeedHead();
  uint64_t position = head;
  if (cursor->has_value()) {
    position = std::max<uint64_t>(**cursor, 1);
    if (position > head) {
      // The feed restarted below the cursor (a data dir put back from a
      // copy): nothing between them can be told apart; start at the head.
      if (options.log) {
        options.log(absl::StrCat("event ", options.name, ": cursor ", position,
                                 " is past the event feed's head ", head, "; starting at ", head));
      }
      position = head;
    }
  }
  std::unique_ptr<EventFeedFollower> f(new EventFeedFollower(store, std::move(options), position));
  // A first start writes its cursor at once: changes from now on are sent
  // even when the node stops before the first one.
  if (!cursor->has_value() || position != **cursor) {
    if (absl::Status s = WriteFeedCursor(f->options_.cursor_path, position); !s.ok()) return s;
  }
  {
    absl::MutexLock l(&f->mu_);
    f->saved_ = position;
  }
  f->thread_ = std::thread([p = f.get()] { p->Run(); });
  return f;
}

EventFeedFollower::EventFeedFollower(Store* store, EventFeedFollowerOptions options,
                                     uint64_t position)
    : store_(store), options_(std::move(options)) {
  absl::MutexLock l(&mu_);
  stats_.position = position;
}

EventFeedFollower::~EventFeedFollower() { Stop(); }

void EventFeedFollower::Stop() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

EventFeedFollowerStats EventFeedFollower::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

bool EventFeedFollower::stopping() const {
  absl::MutexLock l(&mu_);
  return stop_;
}

void EventFeedFollower::Log(std::string_view msg) const {
  if (options_.log) options_.log(msg);
}

void EventFeedFollower::SaveCursor(uint64_t position) {
  {
    absl::MutexLock l(&mu_);
    if (saved_ == position) return;
  }
  if (absl::Status s = WriteFeedCursor(options_.cursor_path, position); !s.ok()) {
    // The old cursor stays: a restart hands on more again, never less.
    Log(absl::StrCat("event ", options_.name, ": saving the feed cursor: ", s.ToString()));
    return;
  }
  absl::MutexLock l(&mu_);
  saved_ = position;
}

bool EventFeedFollower::Deliver(const events::FeedRecord& change) {
  absl::Duration backoff = options_.initial_backoff;
  absl::StatusOr<events::EventRecord> e = store_->GetEvent(change.event_id);
  while (!e.ok() && !absl::IsNotFound(e.status())) {
    // A read error (I/O, the store busy) is no verdict on the change: it
    // is read again, never skipped.
    Log(absl::StrCat("event ", options_.name, ": reading event ",
                     events::EventIdToString(change.event_id), ": ", e.status().ToString(),
                     "; retrying in ", absl::FormatDuration(backoff)));
    {
      absl::MutexLock l(&mu_);
      ++stats_.retries;
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff)) return false;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
    e = store_->GetEvent(change.event_id);
  }
  if (!e.ok()) {
    Log(absl::StrCat("event ", options_.name, ": reading event ",
                     events::EventIdToString(change.event_id), ": ", e.status().ToString(),
                     "; not sent"));
    absl::MutexLock l(&mu_);
    ++stats_.refused;
    return true;
  }
  EventDelivery d;
  d.change = change;
  d.key = EventChangeKey(change);
  d.rule = e->rule;
  d.json = EventChangeJson(*e, change, options_.site);
  backoff = options_.initial_backoff;
  while (true) {
    absl::Status s = options_.deliver(d);
    absl::MutexLock l(&mu_);
    if (s.ok()) {
      ++stats_.handed;
      return true;
    }
    if (!absl::IsUnavailable(s)) {
      ++stats_.refused;
      Log(absl::StrCat("event ", options_.name, ": ", d.key, " not sent: ", s.message()));
      return true;
    }
    ++stats_.retries;
    Log(absl::StrCat("event ", options_.name, ": ", d.key, ": ", s.message(), "; retrying in ",
                     absl::FormatDuration(backoff)));
    if (mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff)) return false;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void EventFeedFollower::Run() {
  uint64_t position = stats().position;
  while (!stopping()) {
    // A bounded wait, so Stop is seen without a change.
    events::EventChanges c = store_->WaitEventChanges(position, absl::Seconds(1));
    if (stopping()) break;
    if (c.lagged) {
      const uint64_t first = c.changes.empty() ? c.next : c.changes.front().position;
      Log(absl::StrCat("event ", options_.name, ": feed positions ", position, "..", first - 1,
                       " were dropped from the event feed (it keeps the newest 65536 changes) "
                       "before this outlet read them; those changes are not sent (see "
                       "`historian events`)"));
      absl::MutexLock l(&mu_);
      stats_.lost += first - position;
      stats_.position = position = first;
    }
    for (const events::FeedRecord& change : c.changes) {
      // A stop does not wait for the rest of a large batch (each hand-on
      // may wait for a disk sync or a broker's ack): the cursor stays at
      // the first change not handed on.
      if (stopping() || !Deliver(change)) {
        SaveCursor(position);  // not past the change that was not handed on
        return;
      }
      absl::MutexLock l(&mu_);
      stats_.position = position = change.position + 1;
    }
    if (c.changes.empty() && c.next > position) {
      absl::MutexLock l(&mu_);
      stats_.position = position = c.next;
    }
    SaveCursor(position);
    // The node is stopping (Events shut its feed down): later changes are
    // sent after the restart, from the saved cursor; waiting again would
    // return at once and spin.
    if (c.closed) break;
  }
  SaveCursor(position);
}

}  // namespace historian::outlets
