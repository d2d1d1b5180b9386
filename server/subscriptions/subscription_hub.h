// File: subscription_hub.h
// SubscriptionHub: fans the samples of every applied log entry (the store's
// AppliedListener) out to the live subscriptions whose tags they are, into
// a bounded buffer per subscription, and wakes each subscription's sink
// from one dispatcher thread. Knows nothing of gRPC: the Query.Subscribe
// reactor (subscribe_reactor.h) is one sink; other streams (events) can
// bring their own hub or sink.
//
// Push, not polling: the dispatcher sleeps on a condition variable until a
// buffer gets data (no timers), so idle subscriptions cost no CPU; with no
// subscription the store's listener is unset (one atomic load per entry).
// A writer never waits for a subscriber: OnApplied only appends references
// to buffers (bounded; past the bound a buffer is dropped and the
// subscription marked lagged with the time range of what it lost). Each
// applied series is copied at most once, however many subscriptions want
// it, and not at all when none wants it or all that do are lagged.
//
// Thread-safety: all state is guarded by mu_. Lock order: the store's mu
// (OnApplied is called under it) before mu_; a sink's own lock before mu_.
// Sinks are called without mu_ held.
#ifndef HISTORIAN_SERVER_SUBSCRIPTIONS_SUBSCRIPTION_HUB_H_
#define HISTORIAN_SERVER_SUBSCRIPTIONS_SUBSCRIPTION_HUB_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/subscriptions/interest_index.h"
#include "server/subscriptions/tag_filter.h"
#include "storage/applied_listener.h"
#include "storage/codec/chunk_codec.h"
#include "storage/store.h"

namespace historian::server {

// How a subscription's batches are held until it takes them.
enum class BatchForm {
  // A copy of the columns (timestamps, values, qualities), encoded when a
  // stream sends them (any form; tests read the columns).
  kCopy,
  // Only Query.Subscribe's columns wire form (batch_wire.h), encoded once
  // under the store's lock straight from the applied columns into the
  // entry's columns_wire: one pass, no allocation per series, no copy to
  // free later.
  kColumnsWire,
};

// The samples of one applied log entry that some subscription wants, held
// once (under the store's lock) and shared, immutable, by every
// subscription's buffer that holds some of them. Only the wire cache
// changes after it is shared (batch_wire.h).
struct AppliedEntry {
  struct Series {
    std::string name;
    size_t samples = 0;
    int64_t min_ns = 0, max_ns = 0;  // the samples' time range
    uint64_t bytes = 0;              // what a buffer charges for it
    codec::ChunkColumns cols;        // empty unless a kCopy subscription took it
    // Per form (0: samples, 1: columns), the encoded batches field; empty
    // until a stream first sends it (guarded by wire_mu). Not used for the
    // columns form when the series is in columns_wire.
    mutable std::string wire[2];
    // Where its columns-form batches field lies in columns_wire (size 0:
    // not there).
    size_t columns_wire_offset = 0;
    size_t columns_wire_size = 0;
  };
  std::string origin;
  uint64_t seq = 0;
  std::vector<Series> series;
  // The columns-form batches fields (batch_wire.h) of the series that
  // kColumnsWire subscriptions took, back to back: one buffer per entry,
  // written under the hub's lock before the entry is shared, immutable
  // after (read without a lock; sent as slices of it).
  std::string columns_wire;
  // Guards every series' wire (set by the first stream to send a form).
  mutable absl::Mutex wire_mu;
};

// One tag's samples from one applied log entry: a reference into the
// shared entry.
struct SampleBatch {
  std::shared_ptr<const AppliedEntry> entry;
  size_t index = 0;  // into entry->series
  const AppliedEntry::Series& series() const { return entry->series[index]; }
  const std::string& tag() const { return series().name; }
  const std::string& origin() const { return entry->origin; }
  uint64_t seq() const { return entry->seq; }
  // Empty for a kColumnsWire subscription's batches.
  const codec::ChunkColumns& cols() const { return series().cols; }
};

// Woken (from the dispatcher thread, without the hub's lock) when its
// subscription has something to take, or when Kick asked for it.
class SubscriptionSink {
 public:
  virtual ~SubscriptionSink() = default;
  virtual void Ready() = 0;
};

struct SubscriptionHubOptions {
  uint32_t max_subscriptions = 1000;            // --max_subscriptions
  uint32_t max_subscriptions_per_client = 100;  // --max_subscriptions_per_client
  uint64_t buffer_bytes = 4 << 20;              // --subscription_buffer_bytes
  // Log bytes one catch-up step of a resumed subscription reads at most
  // (--subscription_catch_up_step_bytes): a subscriber whose tags are rare
  // in a long log reads it over several steps, so it does not hold the
  // dispatcher thread (every other sink's delivery and heartbeats) for all
  // of it.
  uint64_t catch_up_step_bytes = 8 << 20;
};

// InvalidArgument naming the flag (--max_subscriptions, ...) and its range.
absl::Status ValidateSubscriptionHubOptions(const SubscriptionHubOptions& options);

class SubscriptionHub final : public AppliedListener {
 public:
  using Id = uint64_t;

  // What Take hands out.
  struct Taken {
    std::vector<SampleBatch> batches;  // in apply order
    // Samples were dropped (buffer overflow) before these: their range.
    bool lagged = false;
    int64_t lost_min_ns = 0;
    int64_t lost_max_ns = 0;
    // Per origin, the position the subscriber is at after these batches.
    std::map<std::string, uint64_t> positions;
  };

  // `store` must outlive the hub. Starts the dispatcher thread.
  SubscriptionHub(Store* store, SubscriptionHubOptions options);
  // Unsets the store's listener and stops the dispatcher. REQUIRES: no
  // subscription left.
  ~SubscriptionHub() override;
  SubscriptionHub(const SubscriptionHub&) = delete;
  SubscriptionHub& operator=(const SubscriptionHub&) = delete;

  // Registers a subscription of `client` (its token or address): from now
  // on matching samples are buffered for it, those of entries at or below
  // `start` (per origin) left out. With `catch_up`, nothing is buffered
  // until EndCatchUp (the subscriber reads the log meanwhile).
  // Errors: ResourceExhausted naming --max_subscriptions or
  // --max_subscriptions_per_client.
  // `forwarded`: a part of a site cluster's fanned-out subscription
  // (EndForwarded ends it).
  absl::StatusOr<Id> Add(const std::string& client, TagFilter filter, SubscriptionSink* sink,
                         bool catch_up, BatchForm form = BatchForm::kCopy, bool forwarded = false)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Unregisters; returns once the dispatcher is not calling its sink.
  void Remove(Id id) ABSL_LOCKS_EXCLUDED(mu_);
  // Entries at or below these positions are not buffered (or taken).
  void SetStart(Id id, const std::map<std::string, uint64_t>& start) ABSL_LOCKS_EXCLUDED(mu_);
  // The count of entries applied and not buffered while catching up: a
  // catch-up may end only when it did not change since its last log read
  // began.
  uint64_t SkippedWhileCatchingUp(Id id) const ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the catch-up when SkippedWhileCatchingUp is still `skipped`
  // (true; `positions`, where the log reads ended, become the start);
  // false: read the log again.
  bool EndCatchUp(Id id, uint64_t skipped, const std::map<std::string, uint64_t>& positions)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Up to about `max_bytes` of buffered batches (and the lag, if any).
  // When it hands out anything, the sink is not woken for new data until
  // its next Kick (it is sending them: one write in flight per stream, what
  // comes meanwhile waits in the buffer and goes out in the next Take).
  Taken Take(Id id, size_t max_bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // Wakes the sink of `id` from the dispatcher (also after a Take).
  void Kick(Id id) ABSL_LOCKS_EXCLUDED(mu_);
  // From now on also wakes the sink of `id` every `every` (> 0) while it is
  // not sending (a part's heartbeat, cluster/subscribe_heartbeat.h).
  void WakeEvery(Id id, absl::Duration every) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns once the dispatcher sleeps with nothing ready (tests: what
  // comes next finds it asleep and must wake it).
  void AwaitDispatcherAsleep() const ABSL_LOCKS_EXCLUDED(mu_);
  // The node is stopping: every sink is woken and sees closing() (its
  // stream should end); Add refuses from now on.
  void CloseAll() ABSL_LOCKS_EXCLUDED(mu_);
  bool closing() const ABSL_LOCKS_EXCLUDED(mu_);
  // This member's shards changed (docs/cluster.md, "Subscribe"): every
  // forwarded subscription open now must end with `status` before it sends
  // anything more; their sinks are woken and Ended() says so. Never blocks
  // for long (a placement listener).
  void EndForwarded(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // OK, or the status the subscription must end with (EndForwarded). A
  // sink checks it after taking or reading what it is about to send.
  absl::Status Ended(Id id) const ABSL_LOCKS_EXCLUDED(mu_);

  // AppliedListener (store's mu held).
  void OnApplied(std::string_view origin, uint64_t seq,
                 const std::vector<AppliedSeries>& series) override ABSL_LOCKS_EXCLUDED(mu_);
  // A dropped shard's move origins: out of the positions and of the resume
  // tokens from now on (a token naming one resumes with nothing of it).
  void OnOriginsForgotten(const std::vector<std::string>& origins) override
      ABSL_LOCKS_EXCLUDED(mu_);

  const SubscriptionHubOptions& options() const { return options_; }
  // Open subscriptions, and batches dropped by overflows since start.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t overflows() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Sub;
  void Dispatch() ABSL_LOCKS_EXCLUDED(mu_);
  void MarkReady(Sub* sub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks ready the periodic subscriptions that are due at `now`, and sets
  // next_periodic_wake_.
  void WakeDuePeriodic(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends a reference to `series` to the buffer of `sub` (adding it to
  // `*entry` in the sub's form first if not yet: `*index` its index
  // there), or drops the buffer when it would pass options_.buffer_bytes.
  void Buffer(Sub* sub, const AppliedSeries& series, std::string_view origin,
              std::shared_ptr<AppliedEntry>* entry, size_t* index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  const SubscriptionHubOptions options_;
  mutable absl::Mutex mu_;
  Id next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<Id, std::unique_ptr<Sub>> subs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> per_client_ ABSL_GUARDED_BY(mu_);
  // Per origin, the newest entry applied while anyone subscribed.
  std::map<std::string, uint64_t, std::less<>> positions_ ABSL_GUARDED_BY(mu_);
  // Subscriptions whose sink is due a Ready call, and the one being called.
  std::deque<Id> ready_ ABSL_GUARDED_BY(mu_);
  // Subscriptions woken every so often (WakeEvery), and the earliest time
  // one is due (a removed one's may pass once more: a spurious wake).
  absl::flat_hash_set<Id> periodic_ ABSL_GUARDED_BY(mu_);
  absl::Time next_periodic_wake_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // The longest period asked for: the dispatcher never sleeps longer, so a
  // wall clock stepped back does not hold the wakes for the step.
  absl::Duration longest_period_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  // WakeEvery moved the wake times: the dispatcher, asleep until the old
  // ones (or for good, with none), wakes to reckon its sleep again.
  bool wakes_changed_ ABSL_GUARDED_BY(mu_) = false;
  bool dispatcher_asleep_ ABSL_GUARDED_BY(mu_) = false;
  Id dispatching_ ABSL_GUARDED_BY(mu_) = 0;
  // Which subscriptions want each tag (interest_index.h).
  InterestIndex<Sub> interest_ ABSL_GUARDED_BY(mu_);
  uint64_t overflows_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::thread dispatcher_;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_SUBSCRIPTIONS_SUBSCRIPTION_HUB_H_
