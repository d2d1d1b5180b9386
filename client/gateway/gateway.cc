// File: gateway.cc
#include "client/gateway/gateway.h"

#include <unistd.h>

#include <cstdio>
#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/core/status_macros.h"
#include "client/gateway/meta_file.h"

namespace historian::client {

namespace v1 = historian::v1;

namespace {

std::string NewClientId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') host[0] = '?';
  std::random_device rd;
  return absl::StrFormat("gw-%s-%08x%08x", host, rd(), rd());
}

}  // namespace

Gateway::Gateway(GatewayOptions options)
    : options_(std::move(options)),
      batcher_(options_.batch_max_samples, options_.batch_max_delay) {}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Open(GatewayOptions options) {
  if (options.batch_max_samples == 0) {
    return absl::InvalidArgumentError("batch_max_samples must be positive");
  }
  std::unique_ptr<Gateway> gateway(new Gateway(std::move(options)));
  RETURN_IF_ERROR(gateway->Init());
  return gateway;
}

absl::Status Gateway::Init() {
  ASSIGN_OR_RETURN(queue_, DiskQueue::Open(options_.queue));
  // The client id the queued sequences belong to.
  const std::string id_path = options_.queue.dir + "/client_id";
  ASSIGN_OR_RETURN(std::optional<std::string> stored, ReadMetaFile(id_path));
  if (stored.has_value()) {
    std::string id(absl::StripAsciiWhitespace(*stored));
    if (!options_.writer.client_id.empty() && options_.writer.client_id != id) {
      return absl::FailedPreconditionError(
          absl::StrCat("queue directory ", options_.queue.dir, " belongs to client id '", id,
                       "', not '", options_.writer.client_id,
                       "': its batch sequences are numbered for that id; use another --queue_dir"));
    }
    client_id_ = id;
  } else {
    client_id_ = options_.writer.client_id.empty() ? NewClientId() : options_.writer.client_id;
    RETURN_IF_ERROR(WriteMetaFile(id_path, client_id_ + "\n"));
  }
  resume_cursor_ = queue_->cursor();
  resume_sequence_ = queue_->cursor_sequence();
  batch_cursor_ = resume_cursor_;

  WriterOptions writer_options = options_.writer;
  writer_options.client_id = client_id_;
  writer_options.on_result = [this](uint64_t sequence, const absl::Status& status,
                                    const v1::WriteAck& ack) { OnResult(sequence, status, ack); };
  ASSIGN_OR_RETURN(writer_, Writer::Start(std::move(writer_options)));
  flush_thread_ = std::thread([this] { FlushLoop(); });
  send_thread_ = std::thread([this] { SendLoop(); });
  return absl::OkStatus();
}

Gateway::~Gateway() { Stop(absl::ZeroDuration()); }

absl::Status Gateway::Add(absl::string_view tag, v1::Sample sample, uint64_t cursor) {
  std::lock_guard<std::mutex> lock(input_mu_);
  if (input_stopped_) return absl::FailedPreconditionError("gateway is stopping");
  // A full batch an earlier flush could not queue goes first; until it is
  // queued no sample is taken (counted: unqueued), so the batch never grows
  // past its size.
  if (batcher_.Full()) {
    if (absl::Status queued = FlushLocked(); !queued.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      ++unqueued_samples_;
      return queued;
    }
  }
  const bool was_empty = batcher_.empty();
  batcher_.Add(tag, std::move(sample));
  batch_cursor_ = cursor;
  if (batcher_.Full()) return FlushLocked();
  if (was_empty) input_cv_.notify_all();  // a new age deadline
  return absl::OkStatus();
}

absl::Status Gateway::Flush() {
  std::lock_guard<std::mutex> lock(input_mu_);
  return FlushLocked();
}

absl::Status Gateway::FlushLocked() {
  if (batcher_.empty()) return absl::OkStatus();
  const size_t samples = batcher_.size();
  // Appended durably before the sender can see it, and taken from memory
  // only then: a batch the queue could not take is kept for the next flush.
  absl::StatusOr<uint64_t> queued = queue_->Append(batcher_.Copy().SerializeAsString(),
                                                   static_cast<uint32_t>(samples), batch_cursor_);
  std::lock_guard<std::mutex> lock(mu_);
  if (!queued.ok()) {
    ++queue_errors_;
    return queued.status();
  }
  batcher_.Clear();
  cv_.notify_all();
  return absl::OkStatus();
}

void Gateway::FlushLoop() {
  std::unique_lock<std::mutex> lock(input_mu_);
  while (!input_stopped_) {
    if (batcher_.Due(absl::Now())) {
      absl::Status s = FlushLocked();
      if (!s.ok()) {
        std::fprintf(stderr,
                     "historian-gateway: cannot queue a batch (kept in memory, retried in 1 s): "
                     "%s\n",
                     s.ToString().c_str());
        input_cv_.wait_for(lock, std::chrono::seconds(1));
      }
      continue;
    }
    const absl::Time deadline = batcher_.Deadline();
    if (deadline == absl::InfiniteFuture()) {
      input_cv_.wait(lock);
    } else {
      input_cv_.wait_until(lock, absl::ToChronoTime(deadline));
    }
  }
}

void Gateway::SendLoop() {
  uint64_t next = queue_->stats().head_sequence;
  while (true) {
    absl::StatusOr<std::optional<DiskQueueEntry>> entry = queue_->ReadFrom(next);
    if (!entry.ok()) {
      std::fprintf(stderr, "historian-gateway: cannot read the queue: %s\n",
                   entry.status().ToString().c_str());
    }
    if (!entry.ok() || !entry->has_value()) {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) return;
      // Woken by an append; the timeout covers the race with it.
      cv_.wait_for(lock, std::chrono::milliseconds(entry.ok() ? 200 : 1000));
      continue;
    }
    DiskQueueEntry& e = **entry;
    v1::WriteRequest request;
    if (!request.ParseFromString(e.payload)) {
      // Cannot happen with a checked CRC; never send garbage.
      std::fprintf(stderr, "historian-gateway: batch %llu does not parse; removed\n",
                   static_cast<unsigned long long>(e.sequence));
      (void)queue_->Ack(e.sequence);
      next = e.sequence + 1;
      continue;
    }
    request.set_batch_sequence(e.sequence);
    absl::StatusOr<uint64_t> sent = writer_->Send(std::move(request));
    if (!sent.ok()) return;  // writer closed
    next = e.sequence + 1;
  }
}

void Gateway::OnResult(uint64_t sequence, const absl::Status& status, const v1::WriteAck& ack) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (status.ok()) {
      ++acked_batches_;
      acked_samples_ += ack.accepted_count();
      if (!ack.duplicate()) stored_samples_ += ack.accepted_count();
      rejected_samples_ += ack.rejected_size();
    } else {
      ++failed_batches_;
    }
  }
  if (!status.ok()) {
    std::fprintf(stderr, "historian-gateway: batch %llu refused by the node, removed: %s\n",
                 static_cast<unsigned long long>(sequence), status.ToString().c_str());
  }
  for (int i = 0; i < ack.rejected_size() && i < 5; ++i) {
    const v1::RejectedSample& r = ack.rejected(i);
    std::fprintf(stderr, "historian-gateway: batch %llu: sample %u of series %u rejected: %s\n",
                 static_cast<unsigned long long>(sequence), r.sample_index(), r.series_index(),
                 r.reason().c_str());
  }
  absl::Status acked = queue_->Ack(sequence);
  if (!acked.ok()) {
    std::fprintf(stderr, "historian-gateway: cannot record the ack of batch %llu: %s\n",
                 static_cast<unsigned long long>(sequence), acked.ToString().c_str());
  }
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

bool Gateway::Drained() const { return queue_->stats().batches == 0; }

bool Gateway::WaitDrained(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!Drained()) {
    if (stopping_ || absl::Now() >= deadline) return false;
    cv_.wait_until(lock,
                   absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Milliseconds(500))));
  }
  return true;
}

void Gateway::Stop(absl::Duration grace) {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  const absl::Time deadline = absl::Now() + grace;
  {
    std::lock_guard<std::mutex> lock(input_mu_);
    absl::Status s = FlushLocked();
    if (!s.ok()) {
      const size_t samples = batcher_.size();
      batcher_.Clear();
      {
        std::lock_guard<std::mutex> lock(mu_);
        unqueued_samples_ += samples;
      }
      std::fprintf(stderr,
                   "historian-gateway: cannot queue the last batch: %zu samples not queued (a "
                   "file input reads them again at the next start; other inputs lost them): %s\n",
                   samples, s.ToString().c_str());
    }
    input_stopped_ = true;
    input_cv_.notify_all();
  }
  if (flush_thread_.joinable()) flush_thread_.join();
  WaitDrained(deadline);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  // Unacked batches stay on disk; the writer's copies are dropped.
  if (writer_ != nullptr) writer_->Close(absl::ZeroDuration());
  if (send_thread_.joinable()) send_thread_.join();
}

GatewayStatus Gateway::status() const {
  GatewayStatus s;
  s.queue = queue_->stats();
  s.writer = writer_->stats();
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.acked_batches = acked_batches_;
    s.acked_samples = acked_samples_;
    s.stored_samples = stored_samples_;
    s.rejected_samples = rejected_samples_;
    s.failed_batches = failed_batches_;
    s.queue_errors = queue_errors_;
    s.unqueued_samples = unqueued_samples_;
  }
  s.lag = s.queue.batches == 0 ? absl::ZeroDuration()
                               : absl::Now() - absl::FromUnixNanos(s.queue.oldest_append_ns);
  return s;
}

std::string Gateway::StatusLine() const {
  const GatewayStatus s = status();
  return absl::StrFormat(
      "queue_batches=%d queue_samples=%d queue_bytes=%d disk_bytes=%d acked_batches=%d "
      "acked_samples=%d "
      "stored_samples=%d rejected_samples=%d failed_batches=%d dropped_batches=%d "
      "dropped_samples=%d queue_errors=%d unqueued_samples=%d lag=%.3fs endpoint=%s "
      "reconnects=%d last_error=\"%s\"",
      s.queue.batches, s.queue.items, s.queue.bytes, s.queue.disk_bytes, s.acked_batches,
      s.acked_samples, s.stored_samples, s.rejected_samples, s.failed_batches,
      s.queue.dropped_batches, s.queue.dropped_items, s.queue_errors, s.unqueued_samples,
      absl::ToDoubleSeconds(s.lag), s.writer.endpoint.empty() ? "-" : s.writer.endpoint,
      s.writer.reconnects,
      s.writer.last_error.ok() ? "" : std::string(s.writer.last_error.message()));
}

}  // namespace historian::client
