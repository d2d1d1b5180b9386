// File: writer.cc
#include "client/writer.h"

#include <unistd.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/core/bearer_token.h"
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

// Metadata asking the node to refuse a batch in band (WriteAck.refused).
constexpr char kRefusalsMetadataKey[] = "historian-write-refusals";

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
    if (pending_.size() < options_.max_in_flight_batches) return absl::OkStatus();
    if (options_.backpressure == Backpressure::kFail) {
      return absl::ResourceExhaustedError(
          absl::StrCat(pending_.size(), " batches are unacknowledged (max_in_flight_batches)"));
    }
    cv_.wait(lock);
  }
}

void Writer::EnqueueBatchLocked() {
  if (batcher_.empty()) return;
  auto request = std::make_shared<v1::WriteRequest>(batcher_.Take());
  request->set_client_id(options_.client_id);
  request->set_batch_sequence(next_sequence_++);
  pending_.push_back({request->batch_sequence(), std::move(request)});
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
  std::unique_lock<std::mutex> lock(mu_);
  absl::Status room = WaitForRoomLocked(lock);
  if (!room.ok()) return room;
  request.set_client_id(options_.client_id);
  if (request.batch_sequence() == 0) request.set_batch_sequence(next_sequence_++);
  const uint64_t sequence = request.batch_sequence();
  pending_.push_back({sequence, std::make_shared<const v1::WriteRequest>(std::move(request))});
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
  for (const Pending& p : pending_) unacked.push_back(*p.request);
  pending_.clear();
  return unacked;
}

WriterStats Writer::stats() const {
  WriterStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
    s.in_flight = pending_.size();
    s.buffered_samples = batcher_.size();
  }
  if (options_.route_to_owners) {
    // The streams are the inner writers'.
    std::lock_guard<std::mutex> lock(inner_mu_);
    std::vector<std::string> endpoints;
    for (const auto& [key, inner] : inner_) {
      WriterStats i = inner->stats();
      s.reconnects += i.reconnects;
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
    if (batcher_.Due(now) && pending_.size() < options_.max_in_flight_batches) {
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
    if (IsPermanent(session.status.code())) {
      // The node refused the oldest unacked batch itself.
      Pending failed;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (pending_.empty() || pending_.front().sent_at == absl::InfinitePast()) continue;
        failed = std::move(pending_.front());
        pending_.pop_front();
        ++stats_.batches_failed;
        cv_.notify_all();
      }
      Report(failed.sequence, session.status, v1::WriteAck());
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

bool Writer::HandleAck(const v1::WriteAck& ack) {
  if (ack.refused()) {
    // The stream's status, after our half-close, tells why.
    std::lock_guard<std::mutex> lock(mu_);
    session_refused_ = true;
    cv_.notify_all();
    return true;
  }
  Pending done;
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
    ++stats_.batches_acked;
    stats_.last_error = absl::OkStatus();  // the node answers again
    if (ack.duplicate()) {
      ++stats_.batches_duplicate;
    } else {
      stats_.samples_accepted += ack.accepted_count();
    }
    stats_.samples_rejected += ack.rejected_size();
    cv_.notify_all();
  }
  Report(done.sequence, absl::OkStatus(), ack);
  return true;
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
  context.AddMetadata(kRefusalsMetadataKey, "1");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (abort_) return session;
    session_context_ = &context;
    session_refused_ = false;
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
    v1::WriteAck ack;
    while (stream->Read(&ack)) {
      if (!HandleAck(ack)) {
        protocol_error = true;
        context.TryCancel();
        break;
      }
      std::lock_guard<std::mutex> lock(mu_);
      session.got_ack = true;
    }
    std::lock_guard<std::mutex> lock(mu_);
    reader_done = true;
    cv_.notify_all();
  });

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
