// File: writer.cc
#include "client/writer.h"

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <iterator>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/core/bearer_token.h"
#include "api/core/write_stream_metadata.h"
#include "client/batch_slicer.h"
#include "client/cluster/owner_router.h"
#include "client/status_convert.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace historian::client {

namespace v1 = historian::v1;

namespace {

std::string UniqueClientId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') host[0] = '?';
  return absl::StrCat("writer-", host, "-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
}

// What a node says it takes in one Ingest.Write message, from its
// stream's initial metadata; zeros when it says nothing.
NodeWriteLimits LimitsIn(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  auto number = [&](const char* key) -> uint64_t {
    auto it = metadata.find(key);
    uint64_t value = 0;
    if (it == metadata.end() ||
        !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &value)) {
      return 0;
    }
    return value;
  };
  NodeWriteLimits limits;
  limits.max_samples_per_batch = number(kMaxSamplesPerBatchMetadataKey);
  limits.max_message_bytes = number(kMaxMessageBytesMetadataKey);
  return limits;
}

// Errors blamed on the oldest unacked batch: resending it cannot help.
bool IsPermanent(absl::StatusCode code) {
  return code == absl::StatusCode::kInvalidArgument ||
         code == absl::StatusCode::kFailedPrecondition || code == absl::StatusCode::kOutOfRange;
}

}  // namespace

Writer::Writer(WriterOptions options)
    : options_(std::move(options)),
      batcher_(options_.batch_max_samples, options_.batch_max_delay),
      next_sequence_(options_.first_sequence) {}

absl::StatusOr<std::unique_ptr<Writer>> Writer::Start(WriterOptions options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("no server endpoints given");
  for (const std::string& e : options.endpoints) {
    if (e.empty()) return absl::InvalidArgumentError("empty server endpoint");
  }
  if (options.batch_max_samples == 0) {
    return absl::InvalidArgumentError("batch_max_samples must be positive");
  }
  if (options.max_in_flight_batches == 0) {
    return absl::InvalidArgumentError("max_in_flight_batches must be positive");
  }
  if (options.first_sequence == 0) return absl::InvalidArgumentError("first_sequence must be > 0");
  if (options.client_id.empty()) options.client_id = UniqueClientId();
  std::unique_ptr<Writer> writer(new Writer(std::move(options)));
  writer->flush_thread_ = std::thread([w = writer.get()] { w->FlushLoop(); });
  writer->io_thread_ = std::thread([w = writer.get()] {
    if (w->options_.route_to_owners) {
      w->RouteLoop();
    } else {
      w->IoLoop();
    }
  });
  return writer;
}

Writer::~Writer() { Close(absl::ZeroDuration()); }

absl::Status Writer::WaitForRoomLocked(std::unique_lock<std::mutex>& lock) {
  while (true) {
    if (closing_ || abort_) return absl::FailedPreconditionError("writer is closed");
    const size_t batches = BatchesPendingLocked();
    if (batches < options_.max_in_flight_batches) return absl::OkStatus();
    if (options_.backpressure == Backpressure::kFail) {
      return absl::ResourceExhaustedError(
          absl::StrCat(batches, " batches are unacknowledged (max_in_flight_batches)"));
    }
    cv_.wait(lock);
  }
}

void Writer::EnqueueBatchLocked() {
  if (batcher_.empty()) return;
  auto request = std::make_shared<v1::WriteRequest>(batcher_.Take());
  request->set_client_id(options_.client_id);
  request->set_batch_sequence(next_sequence_++);
  pending_.push_back(Pending{.sequence = request->batch_sequence(), .request = std::move(request)});
  cv_.notify_all();
}

absl::Status Writer::Append(absl::string_view tag, v1::Sample sample) {
  std::unique_lock<std::mutex> lock(mu_);
  if (closing_ || abort_) return absl::FailedPreconditionError("writer is closed");
  if (batcher_.size() + 1 >= options_.batch_max_samples) {
    // This sample completes the batch, which must then be sent.
    absl::Status room = WaitForRoomLocked(lock);
    if (!room.ok()) return room;
  }
  const bool was_empty = batcher_.empty();
  batcher_.Add(tag, std::move(sample));
  if (batcher_.Full()) {
    EnqueueBatchLocked();
  } else if (was_empty) {
    cv_.notify_all();  // the flush thread learns the new deadline
  }
  return absl::OkStatus();
}

absl::Status Writer::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  if (batcher_.empty()) return absl::OkStatus();
  absl::Status room = WaitForRoomLocked(lock);
  if (!room.ok()) return room;
  EnqueueBatchLocked();
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Writer::Send(v1::WriteRequest request) {
  if (request.slice() != 0) {
    return absl::InvalidArgumentError(
        "slice: set by the writer itself when it cuts a batch over a node's limits; send whole "
        "batches (Close returns a batch being sent as slices whole)");
  }
  std::unique_lock<std::mutex> lock(mu_);
  absl::Status room = WaitForRoomLocked(lock);
  if (!room.ok()) return room;
  request.set_client_id(options_.client_id);
  if (request.batch_sequence() == 0) request.set_batch_sequence(next_sequence_++);
  const uint64_t sequence = request.batch_sequence();
  pending_.push_back(
      Pending{.sequence = sequence,
              .request = std::make_shared<const v1::WriteRequest>(std::move(request))});
  cv_.notify_all();
  return sequence;
}

absl::Status Writer::WaitIdle(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!pending_.empty() || !batcher_.empty()) {
    if (abort_) return absl::CancelledError("writer is closed");
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(pending_.size(), " batches still unacknowledged"));
    }
    cv_.wait_until(lock, absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(1))));
  }
  return absl::OkStatus();
}

std::vector<v1::WriteRequest> Writer::Close(absl::Duration grace) {
  std::lock_guard<std::mutex> close_lock(close_mu_);
  if (closed_) return {};
  closed_ = true;
  std::vector<v1::WriteRequest> unacked;
  {
    std::unique_lock<std::mutex> lock(mu_);
    closing_ = true;
    EnqueueBatchLocked();  // may exceed max_in_flight_batches: we are draining
    cv_.notify_all();
    const absl::Time deadline = absl::Now() + grace;
    while (!pending_.empty() && absl::Now() < deadline) {
      cv_.wait_until(lock, absl::ToChronoTime(deadline));
    }
    abort_ = true;
    if (session_context_ != nullptr) session_context_->TryCancel();
    cv_.notify_all();
  }
  {
    // Unblocks RouteLoop (in an inner Send); their unacked parts are the
    // whole batches still in pending_ (returned below).
    std::lock_guard<std::mutex> lock(inner_mu_);
    inner_closed_ = true;
    for (auto& [key, inner] : inner_) inner->Close(absl::ZeroDuration());
  }
  if (flush_thread_.joinable()) flush_thread_.join();
  if (io_thread_.joinable()) io_thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < pending_.size(); ++i) {
    const Pending& p = pending_[i];
    if (p.slices == nullptr || i == 0 || pending_[i - 1].slices != p.slices) {
      unacked.push_back(*p.request);
      unacked.back().clear_slice();
      continue;
    }
    // The unacked rest of a batch being sent as slices, whole.
    for (const v1::TagSamples& series : p.request->series()) {
      *unacked.back().add_series() = series;
    }
  }
  pending_.clear();
  return unacked;
}

WriterStats Writer::stats() const {
  WriterStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
    s.in_flight = BatchesPendingLocked();
    s.buffered_samples = batcher_.size();
  }
  if (options_.route_to_owners) {
    // The streams are the inner writers'.
    std::lock_guard<std::mutex> lock(inner_mu_);
    std::vector<std::string> endpoints;
    for (const auto& [key, inner] : inner_) {
      WriterStats i = inner->stats();
      s.reconnects += i.reconnects;
      s.batches_cut += i.batches_cut;
      s.slices_cut_again += i.slices_cut_again;
      if (!i.endpoint.empty()) endpoints.push_back(i.endpoint);
      if (!i.last_error.ok() && s.last_error.ok() && s.in_flight > 0) s.last_error = i.last_error;
    }
    s.endpoint = absl::StrJoin(endpoints, ",");
  }
  return s;
}

int64_t Writer::placement_revision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return placement_revision_;
}

void Writer::MaybeReadPlacement() {
  if (placement_ != nullptr && absl::Now() - placement_read_at_ < options_.placement_refresh) {
    return;
  }
  if (placement_ == nullptr && absl::Now() - placement_read_at_ < absl::Seconds(1)) {
    return;  // the node did not answer a moment ago: do not ask per batch
  }
  placement_read_at_ = absl::Now();
  ClientOptions o;
  o.endpoints = {options_.endpoints[0]};
  o.token = options_.token;
  o.tls = options_.tls;
  o.timeout = options_.connect_timeout;
  absl::StatusOr<v1::PlacementResponse> read = ReadPlacement(o);
  if (!read.ok() && absl::IsUnimplemented(read.status())) read = v1::PlacementResponse();
  if (!read.ok()) return;  // keep what we hold (or send to the endpoints)
  // A node behind the one we read before, or one without a placement
  // (num_shards 0) while we hold a cluster's, does not undo what we hold.
  if (!routing::ReplacesPlacement(placement_.get(), *read)) return;
  placement_ = std::make_shared<const v1::PlacementResponse>(*std::move(read));
  std::lock_guard<std::mutex> lock(mu_);
  placement_revision_ = placement_->num_shards() == 0 ? -1 : placement_->revision();
}

Writer* Writer::Inner(const std::string& key, std::vector<std::string> endpoints) {
  std::lock_guard<std::mutex> lock(inner_mu_);
  if (inner_closed_) return nullptr;
  auto it = inner_.find(key);
  if (it != inner_.end()) return it->second.get();
  WriterOptions o = options_;
  o.endpoints = std::move(endpoints);
  o.route_to_owners = false;
  o.backpressure = Backpressure::kBlock;
  o.on_result = [this, key](uint64_t sequence, const absl::Status& status,
                            const v1::WriteAck& ack) { OnPartResult(key, sequence, status, ack); };
  absl::StatusOr<std::unique_ptr<Writer>> inner = Writer::Start(std::move(o));
  if (!inner.ok()) return nullptr;  // cannot happen: our options were valid
  Writer* out = inner->get();
  inner_.emplace(key, *std::move(inner));
  return out;
}

void Writer::RouteLoop() {
  while (true) {
    std::shared_ptr<const v1::WriteRequest> request;
    {
      std::unique_lock<std::mutex> lock(mu_);
      Pending* next = nullptr;
      cv_.wait(lock, [&] {
        next = nullptr;
        for (Pending& p : pending_) {
          if (p.sent_at == absl::InfinitePast()) {
            next = &p;
            break;
          }
        }
        return abort_ || next != nullptr || (closing_ && pending_.empty());
      });
      if (abort_ || next == nullptr) return;
      next->sent_at = absl::Now();  // handed to the inner writers
      request = next->request;
    }
    MaybeReadPlacement();
    {
      // Routed by another placement than the batches in flight: wait for
      // them (the class comment; docs/cluster.md, "Across a placement
      // change"). Placements change rarely, so this costs nothing between.
      std::unique_lock<std::mutex> lock(mu_);
      if (placement_revision_ != routed_at_revision_ && !routed_.empty()) {
        ++stats_.placement_waits;
        cv_.wait(lock, [&] { return abort_ || routed_.empty(); });
        if (abort_) return;
      }
      routed_at_revision_ = placement_revision_;
    }
    const uint64_t sequence = request->batch_sequence();
    struct Target {
      std::string key;
      std::vector<std::string> endpoints;
      v1::WriteRequest part;
    };
    std::vector<Target> targets;
    RoutedBatch routed;
    if (placement_ != nullptr && placement_->num_shards() > 0) {
      absl::StatusOr<std::vector<routing::WritePart>> parts =
          routing::SplitWriteByOwner(*request, *placement_);
      if (parts.ok()) {
        for (size_t i = 0; i < parts->size(); ++i) {
          routing::WritePart& part = (*parts)[i];
          const v1::ClusterMember& owner = placement_->members(static_cast<int>(part.owner));
          Target t;
          t.key = owner.address();
          t.endpoints.push_back(owner.address());
          for (const std::string& e : options_.endpoints) {
            if (e != owner.address()) t.endpoints.push_back(e);
          }
          t.part = std::move(part.request);
          routed.part_of[t.key] = i;
          targets.push_back(std::move(t));
        }
        routed.parts = std::move(*parts);
      }
    }
    if (targets.empty()) {  // not a cluster, no placement, or a bad one
      Target t;
      t.key = "";
      t.endpoints = options_.endpoints;
      t.part = *request;
      routing::WritePart whole;
      for (int i = 0; i < request->series_size(); ++i) {
        whole.series_index.push_back(static_cast<uint32_t>(i));
      }
      routed.parts.push_back(std::move(whole));
      routed.part_of[t.key] = 0;
      targets.push_back(std::move(t));
    }
    routed.acks.resize(routed.parts.size());
    routed.remaining = routed.parts.size();
    {
      std::lock_guard<std::mutex> lock(mu_);
      routed_[sequence] = std::move(routed);
    }
    for (Target& t : targets) {
      Writer* inner = Inner(t.key, std::move(t.endpoints));
      if (inner == nullptr) return;  // closing
      // Blocks while that owner has max_in_flight_batches unacked.
      if (!inner->Send(std::move(t.part)).ok()) return;  // closing
    }
  }
}

void Writer::OnPartResult(const std::string& key, uint64_t sequence, const absl::Status& status,
                          const v1::WriteAck& ack) {
  v1::WriteAck joined;
  absl::Status result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = routed_.find(sequence);
    if (it == routed_.end()) return;
    RoutedBatch& b = it->second;
    auto part = b.part_of.find(key);
    if (part == b.part_of.end()) return;
    if (!status.ok()) {
      if (b.error.ok()) b.error = status;
    } else {
      b.acks[part->second] = ack;
    }
    if (--b.remaining > 0) return;
    result = b.error;
    for (auto p = pending_.begin(); p != pending_.end(); ++p) {
      if (p->sequence == sequence) {
        pending_.erase(p);
        break;
      }
    }
    if (result.ok()) {
      joined = routing::JoinWriteAcks(b.parts, b.acks);
      ++stats_.batches_acked;
      stats_.last_error = absl::OkStatus();
      if (joined.duplicate()) {
        ++stats_.batches_duplicate;
      } else {
        stats_.samples_accepted += joined.accepted_count();
      }
      stats_.samples_rejected += joined.rejected_size();
    } else {
      ++stats_.batches_failed;
    }
    routed_.erase(it);
    cv_.notify_all();
  }
  Report(sequence, result, joined);
}

void Writer::FlushLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!closing_ && !abort_) {
    const absl::Time now = absl::Now();
    if (batcher_.Due(now) && BatchesPendingLocked() < options_.max_in_flight_batches) {
      EnqueueBatchLocked();
      continue;
    }
    if (batcher_.empty() || !batcher_.Due(now)) {
      const absl::Time deadline = batcher_.Deadline();
      if (deadline == absl::InfiniteFuture()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, absl::ToChronoTime(deadline));
      }
    } else {
      cv_.wait(lock);  // due but no room: wait for an ack
    }
  }
}

void Writer::Report(uint64_t sequence, const absl::Status& status, const v1::WriteAck& ack) {
  if (options_.on_result) options_.on_result(sequence, status, ack);
}

void Writer::IoLoop() {
  Backoff backoff(options_.backoff);
  size_t endpoint = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return abort_ || !pending_.empty() || closing_; });
      if (abort_ || pending_.empty()) return;  // pending_ empty here means closing
    }
    Session session = RunSession(options_.endpoints[endpoint]);
    absl::Duration wait = absl::ZeroDuration();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (abort_) return;
      if (session.status.ok() && pending_.empty()) continue;  // drained, WritesDone
      if (!session.status.ok()) stats_.last_error = session.status;
      if (session.got_ack) {
        backoff.Reset();
        endpoint = 0;
      } else if (++endpoint == options_.endpoints.size()) {
        endpoint = 0;
        wait = backoff.Next();
      }
    }
    // The node refused the oldest batch for good, or the session stopped
    // before one it cannot take (every other error is retried, including
    // RESOURCE_EXHAUSTED: too many streams, a full disk).
    const bool permanent = IsPermanent(session.status.code());
    const bool gave_up = (permanent || session.stopped_at_unsendable) && GiveUpOldest(session);
    if (gave_up || permanent) {
      backoff.Reset();
      endpoint = 0;
      continue;
    }
    if (wait > absl::ZeroDuration()) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), [&] { return abort_; });
    }
  }
}

bool Writer::GiveUpOldest(const Session& session) {
  Pending failed;
  absl::Status reason = session.status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.empty()) return false;
    if (!pending_.front().unsendable.ok()) {
      reason = pending_.front().unsendable;  // never sent
    } else if (pending_.front().sent_at == absl::InfinitePast() ||
               !IsPermanent(session.status.code())) {
      return false;
    }
    failed = std::move(pending_.front());
    pending_.pop_front();
    // The batch's other slices go with it.
    while (failed.slices != nullptr && !pending_.empty() &&
           pending_.front().slices == failed.slices) {
      pending_.pop_front();
    }
    ++stats_.batches_failed;
    cv_.notify_all();
  }
  if (failed.slices != nullptr) {
    reason = absl::Status(reason.code(),
                          absl::StrCat("slice ", failed.request->slice(), " of the batch (",
                                       SlicesAcked(*failed.slices),
                                       " slices of it were stored before): ", reason.message()));
  }
  Report(failed.sequence, reason, v1::WriteAck());
  return true;
}

bool Writer::HandleAck(const v1::WriteAck& ack) {
  if (ack.refused()) {
    // The stream's status, after our half-close, tells why.
    std::lock_guard<std::mutex> lock(mu_);
    session_refused_ = true;
    cv_.notify_all();
    return true;
  }
  Pending done;
  v1::WriteAck joined;  // of a batch sent as slices
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.empty() || next_to_send_ == 0 ||
        pending_.front().sequence != ack.batch_sequence()) {
      return false;  // acks come in order, one per sent batch
    }
    done = std::move(pending_.front());
    pending_.pop_front();
    --next_to_send_;
    if (!pending_.empty() && next_to_send_ > 0) pending_.front().sent_at = absl::Now();
    stats_.last_error = absl::OkStatus();  // the node answers again
    if (done.slices != nullptr) {
      SliceGroup& group = *done.slices;
      group.acks[done.slot] = ack;
      if (--group.unacked > 0) {
        cv_.notify_all();
        return true;  // the batch is reported once all of it is acked
      }
      joined = JoinGroupAcks(done.sequence, group);
    }
    const v1::WriteAck& result = done.slices != nullptr ? joined : ack;
    ++stats_.batches_acked;
    if (result.duplicate()) {
      ++stats_.batches_duplicate;
    } else if (done.slices == nullptr) {
      stats_.samples_accepted += result.accepted_count();
    } else {
      for (const auto& slot : done.slices->acks) {  // first deliveries only
        if (slot.has_value() && !slot->duplicate()) {
          stats_.samples_accepted += slot->accepted_count();
        }
      }
    }
    stats_.samples_rejected += result.rejected_size();
    cv_.notify_all();
  }
  Report(done.sequence, absl::OkStatus(), done.slices != nullptr ? joined : ack);
  return true;
}

v1::WriteAck Writer::JoinGroupAcks(uint64_t sequence, const SliceGroup& group) {
  std::vector<std::vector<SliceOrigin>> origins;
  std::vector<uint32_t> numbers;
  std::vector<v1::WriteAck> acks;
  for (size_t slot = 0; slot < group.acks.size(); ++slot) {
    if (!group.acks[slot].has_value()) continue;  // abandoned: cut again
    origins.push_back(group.origins[slot]);
    numbers.push_back(group.numbers[slot]);
    acks.push_back(*group.acks[slot]);
  }
  return JoinSliceAcks(sequence, origins, numbers, acks);
}

size_t Writer::SlicesAcked(const SliceGroup& group) {
  size_t acked = 0;
  for (const auto& ack : group.acks) acked += ack.has_value() ? 1 : 0;
  return acked;
}

size_t Writer::BatchesPendingLocked() const {
  size_t batches = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    const Pending& p = pending_[i];
    // A batch's slices are consecutive: count its last.
    if (p.slices == nullptr || i + 1 == pending_.size() || pending_[i + 1].slices != p.slices) {
      ++batches;
    }
  }
  return batches;
}

void Writer::FitToNodeLocked(size_t index, const NodeWriteLimits& limits) {
  const bool takes_slices = limits.TakesSlices();
  std::shared_ptr<SliceGroup> group = pending_[index].slices;
  const uint64_t sequence = pending_[index].sequence;
  std::vector<Pending> replacement;
  auto add_slot = [&](v1::WriteRequest request, std::vector<SliceOrigin> origin) {
    Pending slot;
    slot.sequence = sequence;
    slot.slices = group;
    slot.slot = group->origins.size();
    group->numbers.push_back(request.slice());
    slot.request = std::make_shared<const v1::WriteRequest>(std::move(request));
    group->origins.push_back(std::move(origin));
    group->acks.emplace_back();
    ++group->unacked;
    replacement.push_back(std::move(slot));
  };
  size_t end = index + 1;
  pending_[index].unsendable = absl::OkStatus();  // decided anew for each node
  if (group == nullptr) {
    const v1::WriteRequest& whole = *pending_[index].request;
    if (!takes_slices || !OverLimits(whole, limits)) return;
    absl::StatusOr<std::vector<BatchSlice>> cut = SliceBatch(whole, limits);
    if (!cut.ok()) {
      // Not sent: the node cannot take it (nor read it, over its message
      // size); the session stops before it and it is given up.
      pending_[index].unsendable = cut.status();
      return;
    }
    group = std::make_shared<SliceGroup>();
    ++stats_.batches_cut;
    for (BatchSlice& slice : *cut) {
      slice.request.set_slice(group->next_number++);
      add_slot(std::move(slice.request), std::move(slice.origin));
    }
  } else {
    // The rest of the batch not sent yet (its slices are consecutive), at
    // its first slot sent in this session; the later ones were checked
    // with it.
    if (index > 0 && pending_[index - 1].slices == group) return;
    bool fits = true;
    for (end = index; end < pending_.size() && pending_[end].slices == group; ++end) {
      const v1::WriteRequest& r = *pending_[end].request;
      if (takes_slices ? r.slice() == 0 || OverLimits(r, limits) : r.slice() != 0) fits = false;
    }
    if (fits) return;
    stats_.slices_cut_again += end - index;
    v1::WriteRequest rest;
    rest.set_client_id(pending_[index].request->client_id());
    rest.set_batch_sequence(sequence);
    std::vector<SliceOrigin> rest_origin;
    for (size_t k = index; k < end; ++k) {
      const v1::WriteRequest& r = *pending_[k].request;
      const std::vector<SliceOrigin>& origin = group->origins[pending_[k].slot];
      for (int i = 0; i < r.series_size(); ++i) {
        *rest.add_series() = r.series(i);
        rest_origin.push_back(origin[static_cast<size_t>(i)]);
      }
      --group->unacked;  // the slot is abandoned: its ack never comes
    }
    absl::StatusOr<std::vector<BatchSlice>> cut =
        takes_slices ? SliceBatch(rest, limits) : std::vector<BatchSlice>();
    if (takes_slices && cut.ok()) {
      for (BatchSlice& slice : *cut) {
        std::vector<SliceOrigin> composed;
        for (const SliceOrigin& o : slice.origin) {
          const SliceOrigin& from = rest_origin[o.series_index];
          composed.push_back({from.series_index, from.first_sample + o.first_sample});
        }
        slice.request.set_slice(group->next_number++);
        add_slot(std::move(slice.request), std::move(composed));
      }
    } else {
      // A node that takes no slices gets the rest whole (deduplicated as
      // the batch); for one that does, a rest that cannot be cut to its
      // limits is not sent: the batch is given up.
      if (takes_slices) rest.set_slice(group->next_number++);
      add_slot(std::move(rest), std::move(rest_origin));
      if (takes_slices) replacement.back().unsendable = cut.status();
    }
  }
  auto at = pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index),
                           pending_.begin() + static_cast<std::ptrdiff_t>(end));
  pending_.insert(at, std::make_move_iterator(replacement.begin()),
                  std::make_move_iterator(replacement.end()));
}

Writer::Session Writer::RunSession(const std::string& endpoint) {
  Session session;
  grpc::ChannelArguments args;
  // A fresh channel per session with its own subchannels: no reconnect
  // backoff inherited from an earlier failure; ours applies instead.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxSendMessageSize(-1);
  if (!options_.tls.server_name.empty()) args.SetSslTargetNameOverride(options_.tls.server_name);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      MakeChannelCredentials(options_.tls);
  if (!creds.ok()) {
    session.status = creds.status();
    return session;
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(endpoint, *creds, args);
  // Fails fast on a refused connection (TRANSIENT_FAILURE), instead of
  // waiting out the whole timeout like WaitForConnected would.
  const auto connect_deadline = absl::ToChronoTime(absl::Now() + options_.connect_timeout);
  for (grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
       state != GRPC_CHANNEL_READY; state = channel->GetState(true)) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN ||
        !channel->WaitForStateChange(state, connect_deadline)) {
      session.status = absl::UnavailableError(absl::StrCat("cannot connect to ", endpoint));
      return session;
    }
  }
  std::unique_ptr<v1::Ingest::Stub> stub = v1::Ingest::NewStub(channel);
  grpc::ClientContext context;
  if (!options_.token.empty()) {
    context.AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
  }
  context.AddMetadata(kWriteRefusalsMetadataKey, "1");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (abort_) return session;
    session_context_ = &context;
    session_refused_ = false;
    session_limits_ = NodeWriteLimits();
    session_limits_known_ = false;
    next_to_send_ = 0;
    for (Pending& p : pending_) p.sent_at = absl::InfinitePast();
    if (started_session_) ++stats_.reconnects;
    started_session_ = true;
    stats_.endpoint = endpoint;
  }
  std::unique_ptr<grpc::ClientReaderWriter<v1::WriteRequest, v1::WriteAck>> stream =
      stub->Write(&context);

  bool reader_done = false;
  bool protocol_error = false;
  std::thread reader([&] {
    // A node that knows slices sends its limits at once; an older one sends
    // its initial metadata with the first ack (or the stream's end).
    stream->WaitForInitialMetadata();
    {
      // Only limits said count: a call that failed before any metadata
      // (refused, cancelled) says nothing about the node, and an older
      // node's metadata comes after the sender's wait has given up.
      const NodeWriteLimits said = LimitsIn(context.GetServerInitialMetadata());
      std::lock_guard<std::mutex> lock(mu_);
      if (said.TakesSlices()) {
        session_limits_ = said;
        session_limits_known_ = true;
        cv_.notify_all();
      }
    }
    v1::WriteAck ack;
    while (stream->Read(&ack)) {
      if (!HandleAck(ack)) {
        protocol_error = true;
        context.TryCancel();
        break;
      }
      // A refusal is no sign the node takes writes: a session that got
      // nothing else backs off and fails over like one that got no answer.
      if (ack.refused()) continue;
      std::lock_guard<std::mutex> lock(mu_);
      session.got_ack = true;
    }
    std::lock_guard<std::mutex> lock(mu_);
    reader_done = true;
    cv_.notify_all();
  });

  const absl::Time limits_deadline = absl::Now() + options_.connect_timeout;
  bool writes_done = false;
  bool timed_out = false;
  while (true) {
    std::shared_ptr<const v1::WriteRequest> request;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (true) {
        if (abort_ || reader_done || session_refused_) break;
        if (closing_ && pending_.empty()) break;
        if (next_to_send_ < pending_.size()) break;
        if (!pending_.empty() && next_to_send_ > 0 &&
            absl::Now() - pending_.front().sent_at > options_.ack_timeout) {
          timed_out = true;
          break;
        }
        if (next_to_send_ > 0) {
          cv_.wait_until(lock, absl::ToChronoTime(pending_.front().sent_at + options_.ack_timeout +
                                                  absl::Milliseconds(1)));
        } else {
          cv_.wait(lock);
        }
      }
      if (abort_ || reader_done || timed_out) break;
      if (session_refused_) {
        writes_done = true;  // half-close: the node then ends the stream
        break;
      }
      if (closing_ && pending_.empty()) {
        writes_done = true;
        break;
      }
      if (!session_limits_known_) {
        // Whether a batch is cut, and how, depends on this node's limits
        // (a node that does not send them takes a slice for a retry). It
        // sends them at once; an older node sends nothing before an ack:
        // past the wait it is taken for one that takes no slices.
        cv_.wait_until(lock, absl::ToChronoTime(limits_deadline),
                       [&] { return session_limits_known_ || reader_done || abort_; });
        if (abort_ || reader_done) continue;
        session_limits_known_ = true;
      }
      FitToNodeLocked(next_to_send_, session_limits_);
      if (!pending_[next_to_send_].unsendable.ok()) {
        // Half-close: the node acks what it has, then the batch is given
        // up (IoLoop).
        session.stopped_at_unsendable = true;
        writes_done = true;
        break;
      }
      Pending& p = pending_[next_to_send_];
      p.sent_at = absl::Now();
      request = p.request;
      ++next_to_send_;  // before the write: the ack may come back at once
    }
    if (!stream->Write(*request)) break;
  }
  if (writes_done) {
    stream->WritesDone();
  } else {
    context.TryCancel();
  }
  reader.join();
  absl::Status finish = FromGrpcStatus(stream->Finish());
  {
    std::lock_guard<std::mutex> lock(mu_);
    session_limits_known_ = false;
    session_context_ = nullptr;
    stats_.endpoint.clear();
  }
  if (protocol_error) {
    session.status =
        absl::InternalError(absl::StrCat(endpoint, ": ack out of order; reconnecting"));
  } else if (timed_out) {
    session.status = absl::DeadlineExceededError(
        absl::StrCat(endpoint, ": no ack within ", absl::FormatDuration(options_.ack_timeout)));
  } else if (!finish.ok()) {
    session.status = absl::Status(finish.code(), absl::StrCat(endpoint, ": ", finish.message()));
  } else if (!writes_done) {
    session.status = absl::UnavailableError(absl::StrCat(endpoint, ": stream ended"));
  }
  return session;
}

}  // namespace historian::client
