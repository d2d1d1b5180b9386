#include "server/subscriptions/subscribe_reactor.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/fanout_subscribe.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/query_fanout.h"
#include "server/cluster/subscribe_heartbeat.h"
#include "server/cluster/subscribe_token.h"
#include "server/proto_convert.h"
#include "server/status_util.h"
#include "server/stream_limiter.h"
#include "server/subscriptions/batch_wire.h"
#include "server/subscriptions/byte_stream.h"
#include "storage/engine/log_entry.h"

namespace historian::server {
namespace {

// The owner's side of a fanned-out Subscribe part: ABORTED unless this
// member's own placement gives it the shards the coordinator's does
// (cluster::kOwnedShardsMetadataKey; a part without it is not checked).
absl::Status CheckOwnedShards(const cluster::ClusterView& view,
                              const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(cluster::kOwnedShardsMetadataKey);
  if (it == metadata.end()) return absl::OkStatus();
  int64_t revision = 0;
  uint64_t digest = 0;
  if (!cluster::ParseOwnedShardsValue(std::string_view(it->second.data(), it->second.size()),
                                      &revision, &digest)) {
    return absl::InvalidArgumentError(
        absl::StrCat(cluster::kOwnedShardsMetadataKey, ": not <revision>:<hex digest>"));
  }
  std::shared_ptr<const cluster::Placement> own = view.placement();
  if (own != nullptr && cluster::OwnedShardsDigest(*own, view.self_id(), std::nullopt) == digest) {
    return absl::OkStatus();
  }
  return absl::AbortedError(absl::StrCat(
      "Query.Subscribe: the placement changed: member ", view.self_id(), " holds revision ",
      own != nullptr ? own->revision() : 0, ", the coordinator chose its part by revision ",
      revision, ", and they give it other shards; subscribe again with the last resume_token"));
}

constexpr char kMethod[] = "Query.Subscribe";
// About this much sample data per response (and per catch-up log read).
constexpr size_t kResponseBytes = 1 << 20;

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

void AppendColumns(const codec::ChunkColumns& in, codec::ChunkColumns* out) {
  if (out->size() == 0) out->Reset(in.type);
  out->timestamps.insert(out->timestamps.end(), in.timestamps.begin(), in.timestamps.end());
  out->doubles.insert(out->doubles.end(), in.doubles.begin(), in.doubles.end());
  out->ints.insert(out->ints.end(), in.ints.begin(), in.ints.end());
  out->bools.insert(out->bools.end(), in.bools.begin(), in.bools.end());
  out->strings.insert(out->strings.end(), in.strings.begin(), in.strings.end());
  out->qualities.insert(out->qualities.end(), in.qualities.begin(), in.qualities.end());
  out->versions.insert(out->versions.end(), in.versions.begin(), in.versions.end());
}

// Batches grouped per tag and origin, in first-seen order.
class Grouper {
 public:
  void Add(const std::string& tag, const std::string& origin, const codec::ChunkColumns& cols) {
    auto [it, inserted] = index_.try_emplace(std::make_pair(tag, origin), groups_.size());
    if (inserted) groups_.push_back({tag, origin, {}});
    Group& g = groups_[it->second];
    if (g.cols.size() > 0 && g.cols.type != cols.type) {  // a tag re-created with another type
      index_[{tag, origin}] = groups_.size();
      groups_.push_back({tag, origin, {}});
    }
    AppendColumns(cols, &groups_[index_[{tag, origin}]].cols);
  }
  void To(bool columns, v1::SubscribeResponse* out) const {
    for (const Group& g : groups_) {
      v1::SubscribedSamples* ts = out->add_batches();
      ts->set_tag(g.tag);
      ts->set_origin_site(g.origin);
      if (columns) {
        ColumnsToProto(g.cols, ts->mutable_columns());
      } else {
        for (size_t i = 0; i < g.cols.size(); ++i) SampleToProto(g.cols, i, ts->add_samples());
      }
    }
  }
  bool empty() const { return groups_.empty(); }

 private:
  struct Group {
    std::string tag;
    std::string origin;
    codec::ChunkColumns cols;
  };
  std::vector<Group> groups_;
  absl::flat_hash_map<std::pair<std::string, std::string>, size_t> index_;
};

// The heartbeat interval a fanned-out part asks for; nullopt: none (not a
// part, or no valid request: the owner then says nothing of heartbeats).
std::optional<absl::Duration> RequestedHeartbeat(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(cluster::kSubscribeHeartbeatMetadataKey);
  if (it == metadata.end()) return std::nullopt;
  return cluster::ParseSubscribeHeartbeatValue(
      std::string_view(it->second.data(), it->second.size()));
}

}  // namespace

SubscribeReactor::SubscribeReactor(const ServiceEnv& env, SubscriptionHub* hub,
                                   grpc::CallbackServerContext* context, bool columns)
    : env_(env), hub_(hub), context_(context), columns_(columns), start_(absl::Now()) {}

grpc::ServerWriteReactor<grpc::ByteBuffer>* SubscribeReactor::Start(
    const ServiceEnv& env, SubscriptionHub* hub, grpc::CallbackServerContext* context,
    const grpc::ByteBuffer* request_bytes) {
  if (hub == nullptr) {
    return new RefusedByteStream(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "Query.Subscribe: not served"));
  }
  v1::SubscribeRequest request;
  grpc::ByteBuffer copy(*request_bytes);  // Deserialize consumes its buffer
  if (!grpc::SerializationTraits<v1::SubscribeRequest>::Deserialize(&copy, &request).ok()) {
    return new RefusedByteStream(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     "Query.Subscribe: the request is not a SubscribeRequest "
                     "(protobuf parse failed)"));
  }
  // In a site cluster: every owner's stream merged (one hop; a forwarded
  // call is answered here, from this node's own data).
  if (auto placement = cluster::FanoutPlacement(env, *context)) {
    return cluster::StartFanoutSubscribe(env, std::move(placement), context, request);
  }
  auto* r = new SubscribeReactor(env, hub, context, request.columns());
  grpc::Status s = r->Begin(request);
  if (!s.ok()) {
    EndRpc(env, context, kMethod, r->start_, s);
    delete r;
    return new RefusedByteStream(s);
  }
  return r;
}

grpc::Status SubscribeReactor::Begin(const v1::SubscribeRequest& request) {
  StreamLimiter::Slot no_slot;
  grpc::Status s = BeginRpc(env_, context_, kMethod, RpcKind::kUnary, &no_slot);
  if (!s.ok()) return s;
  if (request.tags_size() == 0 && request.glob().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("tags, glob: name tags or a glob"));
  }
  if (static_cast<uint32_t>(request.tags_size()) > env_.limits.max_tags_per_latest) {
    return ToGrpcStatus(absl::ResourceExhaustedError(
        absl::StrCat("tags: ", request.tags_size(), " tags, over the limit of ",
                     env_.limits.max_tags_per_latest, " (--max_tags_per_latest)")));
  }
  if (absl::Status g = CheckGlob(request.glob(), env_.limits); !g.ok()) return ToGrpcStatus(g);
  filter_.names.insert(request.tags().begin(), request.tags().end());
  filter_.glob = request.glob();
  // A part of a fanned-out subscription (docs/cluster.md, "Subscribe"):
  // runs only while this member owns the shards the coordinator's placement
  // gives it. Placement changes wait until it is registered (the guard), and
  // one that changes this member's shards ends it (EndForwarded) before
  // anything is routed by the new placement.
  std::optional<cluster::ClusterView::ChangeGuard> guard;
  part_ = env_.cluster != nullptr && cluster::MemberChannels::IsForwarded(*context_);
  if (part_) {
    const cluster::ClusterView* view = env_.cluster;
    filter_.glob_keep = [view](std::string_view name) { return view->OwnsTag(name); };
    guard.emplace(*view);
    if (absl::Status owned = CheckOwnedShards(*view, *context_); !owned.ok()) {
      return ToGrpcStatus(owned);
    }
  }
  std::optional<ResumeToken> token;
  if (!request.resume_token().empty()) {
    absl::StatusOr<ResumeToken> t = DecodeResumeToken(request.resume_token());
    if (!t.ok()) return ToGrpcStatus(t.status());
    token = std::move(*t);
  }
  // The client the per-client limit counts: its token, or its address.
  std::string client = PeerHost(context_->peer());
  if (env_.auth != nullptr) {
    absl::StatusOr<Principal> p = env_.auth->Authorize(*context_, kMethod);
    if (p.ok()) client = p->name;
  }
  // Before Add: from then on the dispatcher may call Ready.
  if (part_) heartbeat_ = RequestedHeartbeat(*context_).value_or(absl::ZeroDuration());
  absl::StatusOr<SubscriptionHub::Id> id =
      hub_->Add(client, filter_, this, token.has_value(),
                columns_ ? BatchForm::kColumnsWire : BatchForm::kCopy, part_);
  guard.reset();
  if (!id.ok()) return ToGrpcStatus(id.status());
  id_ = *id;
  if (heartbeat_ > absl::ZeroDuration()) {
    // Before the first write: it goes out with the initial metadata.
    context_->AddInitialMetadata(cluster::kSubscribeHeartbeatsSentMetadataKey, "1");
    hub_->WakeEvery(id_, heartbeat_);
  }
  if (token.has_value()) {
    absl::MutexLock l(&mu_);
    catching_up_ = true;
    token_issued_ns_ = token->issued_ns;
    cursors_ = token->positions;
    // Origins the token does not name began after it: from their start.
    for (const auto& [origin, seq] : env_.store->AppliedSequences())
      cursors_.try_emplace(origin, 0);
  } else {
    hub_->SetStart(id_, env_.store->AppliedSequences());
  }
  hub_->Kick(id_);
  return grpc::Status::OK;
}

bool SubscribeReactor::Wanted(TagId tag, const engine::LogEntry& entry, std::string* name) {
  auto it = names_.find(tag);
  if (it == names_.end()) {
    std::optional<std::string> n;
    for (const engine::TagInfo& info : entry.catalog_upserts) {
      if (info.id == tag) n = info.name;
    }
    if (!n) {
      absl::StatusOr<std::string> found = env_.store->TagName(tag);
      // A tag gone now (deleted after this entry) is not remembered as
      // unwanted: it may be made again later in the log being read.
      if (!found.ok()) return false;
      n = std::move(*found);
    }
    if (n && !filter_.Matches(*n)) n.reset();
    it = names_.emplace(tag, std::move(n)).first;
  }
  if (!it->second) return false;
  *name = *it->second;
  return true;
}

bool SubscribeReactor::CatchUpStep() {
  Grouper groups;
  size_t bytes = 0;
  // Log bytes read by this step: past the budget the step ends between two
  // log reads and the next one goes on from cursors_.
  const uint64_t budget = hub_->options().catch_up_step_bytes;
  uint64_t scanned = 0;
  while (true) {
    const uint64_t skipped = hub_->SkippedWhileCatchingUp(id_);
    // An origin whose first entry was applied since the token was read (a
    // peer site's first replicated entry) is read from its start too: the
    // hand-over below would otherwise count its entries as sent.
    for (const auto& [origin, seq] : env_.store->AppliedSequences()) {
      cursors_.try_emplace(origin, 0);
    }
    bool read_any = false;
    for (auto& [origin, cursor] : cursors_) {
      while (bytes < kResponseBytes && scanned < budget) {
        OwnLogBatch batch;
        const size_t max_bytes =
            static_cast<size_t>(std::min<uint64_t>(kResponseBytes - bytes, budget - scanned));
        absl::Status s = env_.store->ReadLog(origin, cursor + 1, max_bytes, &batch);
        if (!s.ok()) {
          FinishOnce(ToGrpcStatus(s));
          return false;
        }
        if (batch.gap) {
          // What followed the token is no longer in the log: name the range
          // to re-read, go on from the oldest entry kept.
          v1::Lagged* lagged = response_.mutable_lagged();
          lagged->set_start_ns(lagged->start_ns() == 0
                                   ? token_issued_ns_
                                   : std::min(lagged->start_ns(), token_issued_ns_));
          lagged->set_end_ns(NowNs());
          lagged->set_reason("resume token older than the retained log");
          cursor = batch.first_available - 1;
          read_any = true;
          continue;
        }
        if (batch.records.empty()) break;
        read_any = true;
        for (const auto& [seq, bytes_of_entry] : batch.records) {
          scanned += bytes_of_entry.size();
          engine::LogEntry entry;
          absl::Status d = engine::DecodeLogEntry(bytes_of_entry, &entry);
          if (!d.ok()) {
            FinishOnce(ToGrpcStatus(d));
            return false;
          }
          std::string name;
          for (const engine::SeriesData& series : entry.series) {
            if (series.cols.size() == 0 || !Wanted(series.tag, entry, &name)) continue;
            groups.Add(name, origin, series.cols);
            bytes += series.cols.size() * 24;
          }
          cursor = seq;
        }
      }
      if (bytes >= kResponseBytes || scanned >= budget) break;
    }
    if (!read_any && hub_->EndCatchUp(id_, skipped, cursors_)) catching_up_ = false;
    if (!catching_up_ || bytes >= kResponseBytes || !groups.empty() || response_.has_lagged() ||
        scanned >= budget) {
      break;
    }
  }
  if (catching_up_ && scanned >= budget) hub_->Kick(id_);  // the rest in another step
  groups.To(columns_, &response_);
  const bool send = !groups.empty() || response_.has_lagged() || !flags_.first_sent;
  // Also when the catch-up just ended: the live part starts at cursors_.
  if (send) response_.set_resume_token(EncodeResumeToken({cursors_, NowNs()}));
  return send;
}

bool SubscribeReactor::LiveStep() {
  SubscriptionHub::Taken t = hub_->Take(id_, kResponseBytes);
  if (t.lagged) {
    v1::Lagged* lagged = response_.mutable_lagged();
    const int64_t end = t.lost_max_ns == INT64_MAX ? t.lost_max_ns : t.lost_max_ns + 1;
    lagged->set_start_ns(response_.lagged().start_ns() == 0
                             ? t.lost_min_ns
                             : std::min(response_.lagged().start_ns(), t.lost_min_ns));
    lagged->set_end_ns(std::max(response_.lagged().end_ns(), end));
    if (lagged->reason().empty()) lagged->set_reason("buffer overflow");
  }
  // In apply order, one batches field per series of each entry (a tag
  // may have several in one response, in order).
  live_ = std::move(t.batches);
  const bool send = !live_.empty() || response_.has_lagged() || !flags_.first_sent;
  if (send) response_.set_resume_token(EncodeResumeToken({t.positions, NowNs()}));
  return send;
}

void SubscribeReactor::Ready() {
  grpc::ByteBuffer* to_write = nullptr;
  {
    absl::MutexLock l(&mu_);
    if (flags_.finished || flags_.writing || flags_.cancelled) return;
    if (hub_->closing()) {
      FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "Query.Subscribe: the node is stopping; subscribe again with the "
                              "last resume_token"));
      return;
    }
    response_.Clear();
    live_.clear();
    bool send = false;
    if (catching_up_) send = CatchUpStep();
    if (flags_.finished) return;
    if (!catching_up_ && !send) send = LiveStep();
    // A part whose member's shards changed sends nothing read after the
    // change (its positions would pass samples of shards not asked for).
    if (part_) {
      if (absl::Status ended = hub_->Ended(id_); !ended.ok()) {
        FinishOnce(ToGrpcStatus(ended));
        return;
      }
    }
    const bool heartbeats = heartbeat_ > absl::ZeroDuration();
    const absl::Time now = heartbeats ? absl::Now() : absl::InfinitePast();
    if (!send && heartbeats && flags_.first_sent && now - last_write_ >= heartbeat_ / 2) {
      // Half the interval: a write just before a wake does not stretch the
      // silence to twice it.
      response_.Clear();
      response_.set_heartbeat(true);
      send = true;
    }
    if (!send) return;
    flags_.first_sent = true;
    flags_.writing = true;
    last_write_ = now;
    // Fields in any order make one message: the live batches, then the
    // rest (catch-up batches never share a response with live ones).
    out_ = LiveResponse(live_, columns_, response_.SerializeAsString());
    live_.clear();
    to_write = &out_;
  }
  StartWrite(to_write);
}

void SubscribeReactor::OnWriteDone(bool ok) {
  absl::MutexLock l(&mu_);
  flags_.writing = false;
  if (!ok || flags_.cancelled) {
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "Query.Subscribe: stream closed"));
    return;
  }
  hub_->Kick(id_);  // more may have come meanwhile
}

void SubscribeReactor::OnCancel() {
  absl::MutexLock l(&mu_);
  flags_.cancelled = true;
  if (!flags_.writing) {
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "Query.Subscribe: cancelled"));
  }
}

void SubscribeReactor::FinishOnce(const grpc::Status& status) {
  if (flags_.finished) return;
  flags_.finished = true;
  final_status_ = status;
  Finish(status);
}

void SubscribeReactor::OnDone() {
  hub_->Remove(id_);
  grpc::Status status;
  {
    absl::MutexLock l(&mu_);
    status = final_status_;
  }
  EndRpc(env_, context_, kMethod, start_, status);
  delete this;
}

}  // namespace historian::server
