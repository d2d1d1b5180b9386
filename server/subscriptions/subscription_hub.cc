#include "server/subscriptions/subscription_hub.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/subscriptions/batch_wire.h"

namespace historian::server {

// One subscription's state, under the hub's mu_.
struct SubscriptionHub::Sub {
  Id id = 0;
  std::string client;
  TagFilter filter;
  SubscriptionSink* sink = nullptr;
  BatchForm form = BatchForm::kCopy;
  // Reading the log: nothing is buffered, `skipped` counts what was not.
  bool catching_up = false;
  uint64_t skipped = 0;
  // Entries at or below these positions were sent already.
  std::map<std::string, uint64_t, std::less<>> start;
  std::deque<SampleBatch> buffer;
  uint64_t buffered_bytes = 0;
  // Dropped by an overflow since the last Take, and their time range.
  bool lagged = false;
  int64_t lost_min_ns = 0;
  int64_t lost_max_ns = 0;
  bool queued = false;  // in ready_
  // Take handed out something the sink is sending: new data does not wake
  // it until it calls Kick.
  bool sending = false;
  // The positions handed out by the last Take.
  std::map<std::string, uint64_t> delivered;
  bool forwarded = false;  // a site cluster's part (EndForwarded)
  absl::Status ended;      // set by EndForwarded
  // WakeEvery's period (zero: none) and when it is next due.
  absl::Duration wake_every = absl::ZeroDuration();
  absl::Time next_wake = absl::InfiniteFuture();
};

namespace {

// The first multiple of `every` (since the Unix epoch) after `now`: the
// subscriptions of one period share their wake times, so the dispatcher
// wakes once per period for all of them, not once for each.
absl::Time NextWakeOnGrid(absl::Time now, absl::Duration every) {
  const int64_t every_ns = std::max<int64_t>(1, absl::ToInt64Nanoseconds(every));
  return absl::FromUnixNanos((absl::ToUnixNanos(now) / every_ns + 1) * every_ns);
}

uint64_t ApproxBytes(const codec::ChunkColumns& cols) {
  uint64_t bytes = 64 + cols.size() * 24;
  for (const std::string& s : cols.strings) bytes += s.size();
  return bytes;
}

void NoteLost(size_t samples, int64_t mn, int64_t mx, bool* lagged, int64_t* lo, int64_t* hi) {
  if (samples == 0) return;
  if (!*lagged) {
    *lagged = true;
    *lo = mn;
    *hi = mx;
    return;
  }
  *lo = std::min(*lo, mn);
  *hi = std::max(*hi, mx);
}

void NoteLost(const codec::ChunkColumns& cols, bool* lagged, int64_t* lo, int64_t* hi) {
  if (cols.size() == 0) return;
  const auto [mn, mx] = std::minmax_element(cols.timestamps.begin(), cols.timestamps.end());
  NoteLost(cols.size(), *mn, *mx, lagged, lo, hi);
}

void NoteLost(const AppliedEntry::Series& s, bool* lagged, int64_t* lo, int64_t* hi) {
  NoteLost(s.samples, s.min_ns, s.max_ns, lagged, lo, hi);
}

}  // namespace

absl::Status ValidateSubscriptionHubOptions(const SubscriptionHubOptions& options) {
  if (options.max_subscriptions < 1 || options.max_subscriptions > 100000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_subscriptions: ", options.max_subscriptions, " is out of range 1..100000"));
  }
  if (options.max_subscriptions_per_client < 1 ||
      options.max_subscriptions_per_client > options.max_subscriptions) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_subscriptions_per_client: ", options.max_subscriptions_per_client,
                     " is out of range 1..--max_subscriptions (", options.max_subscriptions, ")"));
  }
  if (options.buffer_bytes < (64u << 10) || options.buffer_bytes > (1ull << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--subscription_buffer_bytes: ", options.buffer_bytes,
                     " is out of range 65536..1073741824"));
  }
  if (options.catch_up_step_bytes < 1 || options.catch_up_step_bytes > (1ull << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--subscription_catch_up_step_bytes: ", options.catch_up_step_bytes,
                     " is out of range 1..1073741824"));
  }
  return absl::OkStatus();
}

SubscriptionHub::SubscriptionHub(Store* store, SubscriptionHubOptions options)
    : store_(store), options_(options), dispatcher_([this] { Dispatch(); }) {}

SubscriptionHub::~SubscriptionHub() {
  store_->SetAppliedListener(nullptr);
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  dispatcher_.join();
}

absl::StatusOr<SubscriptionHub::Id> SubscriptionHub::Add(const std::string& client,
                                                         TagFilter filter, SubscriptionSink* sink,
                                                         bool catch_up, BatchForm form,
                                                         bool forwarded) {
  absl::MutexLock l(&mu_);
  if (closing_) return absl::UnavailableError("Query.Subscribe: the node is stopping");
  if (subs_.size() >= options_.max_subscriptions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "Query.Subscribe: this node has ", subs_.size(),
        " subscriptions open, the limit (--max_subscriptions ", options_.max_subscriptions, ")"));
  }
  uint32_t& mine = per_client_[client];
  if (mine >= options_.max_subscriptions_per_client) {
    if (mine == 0) per_client_.erase(client);
    return absl::ResourceExhaustedError(
        absl::StrCat("Query.Subscribe: ", client, " has ", mine,
                     " subscriptions open, the limit (--max_subscriptions_per_client ",
                     options_.max_subscriptions_per_client, ")"));
  }
  ++mine;
  auto sub = std::make_unique<Sub>();
  sub->client = client;
  sub->filter = std::move(filter);
  sub->sink = sink;
  sub->form = form;
  sub->catching_up = catch_up;
  sub->forwarded = forwarded;
  const Id id = next_id_++;
  sub->id = id;
  interest_.Add(sub.get(), &sub->filter);
  subs_.emplace(id, std::move(sub));
  store_->SetAppliedListener(this);
  return id;
}

void SubscriptionHub::Remove(Id id) {
  absl::MutexLock l(&mu_);
  auto not_dispatching = [this, id]()
                             ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return dispatching_ != id; };
  mu_.Await(absl::Condition(&not_dispatching));
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  auto pc = per_client_.find(it->second->client);
  if (pc != per_client_.end() && --pc->second == 0) per_client_.erase(pc);
  interest_.Remove(it->second.get());
  periodic_.erase(id);
  subs_.erase(it);
  ready_.erase(std::remove(ready_.begin(), ready_.end(), id), ready_.end());
  if (subs_.empty()) store_->SetAppliedListener(nullptr);
}

void SubscriptionHub::SetStart(Id id, const std::map<std::string, uint64_t>& start) {
  absl::MutexLock l(&mu_);
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  Sub* sub = it->second.get();
  for (const auto& [origin, seq] : start) {
    uint64_t& s = sub->start[origin];
    s = std::max(s, seq);
    uint64_t& d = sub->delivered[origin];
    d = std::max(d, seq);
  }
  std::deque<SampleBatch> kept;
  for (SampleBatch& b : sub->buffer) {
    auto s = sub->start.find(b.origin());
    if (s != sub->start.end() && b.seq() <= s->second) {
      sub->buffered_bytes -= b.series().bytes;
      continue;
    }
    kept.push_back(std::move(b));
  }
  sub->buffer = std::move(kept);
}

uint64_t SubscriptionHub::SkippedWhileCatchingUp(Id id) const {
  absl::MutexLock l(&mu_);
  auto it = subs_.find(id);
  return it == subs_.end() ? 0 : it->second->skipped;
}

bool SubscriptionHub::EndCatchUp(Id id, uint64_t skipped,
                                 const std::map<std::string, uint64_t>& positions) {
  {
    absl::MutexLock l(&mu_);
    auto it = subs_.find(id);
    if (it == subs_.end()) return true;
    if (it->second->skipped != skipped) return false;
    it->second->catching_up = false;
  }
  SetStart(id, positions);
  return true;
}

SubscriptionHub::Taken SubscriptionHub::Take(Id id, size_t max_bytes) {
  Taken t;
  absl::MutexLock l(&mu_);
  auto it = subs_.find(id);
  if (it == subs_.end()) return t;
  Sub* sub = it->second.get();
  if (sub->lagged) {
    t.lagged = true;
    t.lost_min_ns = sub->lost_min_ns;
    t.lost_max_ns = sub->lost_max_ns;
    sub->lagged = false;
  }
  size_t bytes = 0;
  auto take_front = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    SampleBatch& b = sub->buffer.front();
    const uint64_t b_bytes = b.series().bytes;
    bytes += b_bytes;
    sub->buffered_bytes -= b_bytes;
    uint64_t& d = sub->delivered[b.origin()];
    d = std::max(d, b.seq());
    t.batches.push_back(std::move(b));
    sub->buffer.pop_front();
  };
  while (!sub->buffer.empty() && bytes < max_bytes) take_front();
  if (sub->buffer.empty() && !sub->catching_up) {
    // Every entry applied so far that this subscription wants was buffered
    // (and is now taken) or dropped (and reported as lagged).
    for (const auto& [origin, seq] : positions_) {
      uint64_t& d = sub->delivered[origin];
      d = std::max(d, seq);
    }
  }
  t.positions = sub->delivered;
  // A response that ends inside an entry (its other series wait in the
  // buffer) must not count that entry as sent: positions (a resume token)
  // count whole entries, and a resume reads on after them, so the rest
  // would never come. Such a token resends the entry's earlier series.
  if (!sub->buffer.empty() && !t.batches.empty()) {
    const SampleBatch& rest = sub->buffer.front();
    const SampleBatch& last = t.batches.back();
    if (rest.origin() == last.origin() && rest.seq() == last.seq()) {
      t.positions[rest.origin()] = rest.seq() - 1;
    }
  }
  if (t.lagged || !t.batches.empty()) sub->sending = true;
  return t;
}

void SubscriptionHub::Kick(Id id) {
  absl::MutexLock l(&mu_);
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  it->second->sending = false;
  MarkReady(it->second.get());
}

void SubscriptionHub::WakeEvery(Id id, absl::Duration every) {
  absl::MutexLock l(&mu_);
  auto it = subs_.find(id);
  if (it == subs_.end() || every <= absl::ZeroDuration()) return;
  Sub* sub = it->second.get();
  sub->wake_every = every;
  sub->next_wake = NextWakeOnGrid(absl::Now(), every);
  periodic_.insert(id);
  next_periodic_wake_ = std::min(next_periodic_wake_, sub->next_wake);
  longest_period_ = std::max(longest_period_, every);
  wakes_changed_ = true;
}

void SubscriptionHub::AwaitDispatcherAsleep() const {
  absl::MutexLock l(&mu_);
  auto asleep = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return dispatcher_asleep_ && ready_.empty();
  };
  mu_.Await(absl::Condition(&asleep));
}

void SubscriptionHub::WakeDuePeriodic(absl::Time now) {
  next_periodic_wake_ = absl::InfiniteFuture();
  for (Id id : periodic_) {
    Sub* sub = subs_.at(id).get();
    // Due, or the clock was stepped back past its period.
    if (sub->next_wake <= now || sub->next_wake > now + sub->wake_every) {
      sub->next_wake = NextWakeOnGrid(now, sub->wake_every);
      MarkReady(sub);
    }
    next_periodic_wake_ = std::min(next_periodic_wake_, sub->next_wake);
  }
}

void SubscriptionHub::MarkReady(Sub* sub) {
  if (sub->queued || sub->sending) return;
  sub->queued = true;
  ready_.push_back(sub->id);
}

void SubscriptionHub::Buffer(Sub* sub, const AppliedSeries& series, std::string_view origin,
                             std::shared_ptr<AppliedEntry>* entry, size_t* index) {
  if (sub->lagged) {
    // Behind already: until it takes the lagged notice, what comes is only
    // added to the lost range (no copies for a subscriber that is stuck).
    NoteLost(*series.cols, &sub->lagged, &sub->lost_min_ns, &sub->lost_max_ns);
    return;
  }
  const uint64_t bytes = ApproxBytes(*series.cols);
  if (sub->buffered_bytes + bytes > options_.buffer_bytes) {
    // A slow subscriber: drop what it has not taken; it is told the range.
    for (const SampleBatch& b : sub->buffer) {
      NoteLost(b.series(), &sub->lagged, &sub->lost_min_ns, &sub->lost_max_ns);
    }
    NoteLost(*series.cols, &sub->lagged, &sub->lost_min_ns, &sub->lost_max_ns);
    sub->buffer.clear();
    sub->buffered_bytes = 0;
    ++overflows_;
    return;
  }
  sub->buffered_bytes += bytes;
  const codec::ChunkColumns& in = *series.cols;
  if (*index == SIZE_MAX) {
    // The first subscription to take this series.
    *index = (*entry)->series.size();
    AppliedEntry::Series& s = (*entry)->series.emplace_back();
    s.name = series.name;
    s.samples = in.size();
    const auto [mn, mx] = std::minmax_element(in.timestamps.begin(), in.timestamps.end());
    s.min_ns = *mn;
    s.max_ns = *mx;
    s.bytes = bytes;
  }
  AppliedEntry::Series& s = (*entry)->series[*index];
  if (sub->form == BatchForm::kColumnsWire) {
    // Not shared yet (streams see the entry only after Take, under mu_).
    if (s.columns_wire_size == 0) {
      std::string& wire = (*entry)->columns_wire;
      s.columns_wire_offset = wire.size();
      AppendBatchField(s.name, origin, in, /*columns=*/true, &wire);
      s.columns_wire_size = wire.size() - s.columns_wire_offset;
    }
  } else if (s.cols.size() == 0) {
    // The one copy, of what a subscriber is sent (not the versions).
    s.cols.type = in.type;
    s.cols.timestamps = in.timestamps;
    s.cols.doubles = in.doubles;
    s.cols.ints = in.ints;
    s.cols.bools = in.bools;
    s.cols.strings = in.strings;
    s.cols.qualities = in.qualities;
  }
  sub->buffer.push_back(SampleBatch{*entry, *index});
}

void SubscriptionHub::OnOriginsForgotten(const std::vector<std::string>& origins) {
  absl::MutexLock l(&mu_);
  for (const std::string& origin : origins) {
    positions_.erase(origin);
    for (auto& [id, sub] : subs_) sub->delivered.erase(origin);
  }
}

void SubscriptionHub::OnApplied(std::string_view origin, uint64_t seq,
                                const std::vector<AppliedSeries>& series) {
  absl::MutexLock l(&mu_);
  auto pos = positions_.find(origin);
  if (pos == positions_.end()) pos = positions_.emplace(std::string(origin), 0).first;
  pos->second = std::max(pos->second, seq);
  // Shared by the buffers that take some of this entry's samples; grown
  // (series appended) only here, under mu_, before anyone reads it.
  std::shared_ptr<AppliedEntry> entry;  // made when a first series is buffered
  for (size_t i = 0; i < series.size(); ++i) {
    const AppliedSeries& s = series[i];
    if (s.cols->size() == 0) continue;
    size_t index = SIZE_MAX;  // not yet in the entry
    for (Sub* sub : interest_.Interested(s.tag, s.name)) {
      if (sub->catching_up) {
        ++sub->skipped;
        continue;
      }
      auto start = sub->start.find(origin);
      if (start != sub->start.end() && seq <= start->second) continue;
      if (entry == nullptr) {
        entry = std::make_shared<AppliedEntry>();
        entry->origin = std::string(origin);
        entry->seq = seq;
        // Moving held series on growth would cost as much as the copies.
        entry->series.reserve(series.size() - i);
      }
      Buffer(sub, s, origin, &entry, &index);
      MarkReady(sub);
    }
  }
}

void SubscriptionHub::CloseAll() {
  absl::MutexLock l(&mu_);
  closing_ = true;
  for (const auto& [id, sub] : subs_) {
    sub->sending = false;
    MarkReady(sub.get());
  }
}

void SubscriptionHub::EndForwarded(const absl::Status& status) {
  absl::MutexLock l(&mu_);
  for (const auto& [id, sub] : subs_) {
    if (!sub->forwarded || !sub->ended.ok()) continue;
    sub->ended = status;
    sub->sending = false;
    MarkReady(sub.get());
  }
}

absl::Status SubscriptionHub::Ended(Id id) const {
  absl::MutexLock l(&mu_);
  auto it = subs_.find(id);
  return it == subs_.end() ? absl::OkStatus() : it->second->ended;
}

bool SubscriptionHub::closing() const {
  absl::MutexLock l(&mu_);
  return closing_;
}

size_t SubscriptionHub::size() const {
  absl::MutexLock l(&mu_);
  return subs_.size();
}

uint64_t SubscriptionHub::overflows() const {
  absl::MutexLock l(&mu_);
  return overflows_;
}

void SubscriptionHub::Dispatch() {
  absl::MutexLock l(&mu_);
  auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !ready_.empty() || wakes_changed_;
  };
  while (true) {
    dispatcher_asleep_ = true;
    if (periodic_.empty()) {
      mu_.Await(absl::Condition(&wake));
    } else {
      mu_.AwaitWithTimeout(absl::Condition(&wake),
                           std::min(next_periodic_wake_ - absl::Now(), longest_period_));
    }
    dispatcher_asleep_ = false;
    wakes_changed_ = false;
    if (stopping_) return;
    if (!periodic_.empty()) {
      const absl::Time now = absl::Now();
      if (now >= next_periodic_wake_ || next_periodic_wake_ > now + longest_period_) {
        WakeDuePeriodic(now);
      }
    }
    if (ready_.empty()) continue;
    const Id id = ready_.front();
    ready_.pop_front();
    auto it = subs_.find(id);
    if (it == subs_.end()) continue;
    it->second->queued = false;
    SubscriptionSink* sink = it->second->sink;
    dispatching_ = id;
    mu_.Unlock();
    sink->Ready();
    mu_.Lock();
    dispatching_ = 0;
  }
}

}  // namespace historian::server
