#include "server/replication_service.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/cancellation.h"
#include "server/digest.h"
#include "server/logging.h"
#include "server/proto_convert.h"
#include "server/replication_filter.h"
#include "server/status_util.h"
#include "storage/engine/log_entry.h"
#include "storage/engine/version.h"

namespace historian::server {
namespace {
constexpr size_t kMaxPullBytes = 1 << 20;  // per PullResponse
constexpr size_t kFetchPageSamples = 10000;
constexpr size_t kMaxSiteBytes = 64;  // as Store::Open checks --site

// A peer's first PullRequest names a site and a position in our own log that
// exists: at most one past our head. A peer never moves this node's state
// (a position beyond our log used to move our own sequence: a caller could
// pin it at 2^64-1); a node restored from a backup skips sequences itself
// (the HISTORIAN_BACKUP marker, see docs/operations.md).
absl::Status CheckPullStart(const v1::PullRequest& first, const std::string& own_site,
                            uint64_t head) {
  if (first.site().empty() || first.site().size() > kMaxSiteBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("site: ", first.site().size(), " bytes; want 1..", kMaxSiteBytes));
  }
  if (first.shard_move()) {
    // A member of this site's cluster tailing this member's own log for a
    // shard move (docs/cluster.md, "Moving shards", step 4).
    if (first.site() != own_site) {
      return absl::InvalidArgumentError(absl::StrCat("site: '", first.site(),
                                                     "' must be this node's own site ('", own_site,
                                                     "') with shard_move"));
    }
    if (first.member_id().empty()) {
      return absl::InvalidArgumentError("member_id: required with shard_move (the move's target)");
    }
    if (first.filter().shards_size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat("filter: ", first.filter().shards_size(),
                                                     " shards; shard_move tails exactly one"));
    }
  } else if (first.site() == own_site) {
    return absl::InvalidArgumentError(
        absl::StrCat("site: '", first.site(), "' is this node's own site"));
  }
  if (first.member_id().size() > kMaxSiteBytes) {
    return absl::InvalidArgumentError(absl::StrCat("member_id: ", first.member_id().size(),
                                                   " bytes; want at most ", kMaxSiteBytes));
  }
  if (first.from_sequence() == 0) {
    return absl::InvalidArgumentError("from_sequence: must be >= 1");
  }
  if (first.from_sequence() > head + 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "from_sequence: ", first.from_sequence(), " is beyond this node's own log (head ", head,
        "); site '", first.site(),
        "' has applied entries this node does not have (restored without its HISTORIAN_BACKUP "
        "file?); it resumes when the log reaches that point; run `historian verify --peer ",
        first.site(), " --repair` on both nodes to compare the data"));
  }
  return absl::OkStatus();
}
}  // namespace

grpc::Status ReplicationService::Pull(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::PullResponse, v1::PullRequest>* stream) {
  v1::PullRequest first;
  if (!stream->Read(&first)) return grpc::Status::OK;
  const uint64_t head = store_->OwnHeadSequence();
  if (absl::Status s = CheckPullStart(first, store_->options().site, head); !s.ok()) {
    return ToGrpcStatus(s);
  }
  const std::string peer = first.site();
  const std::string member = first.member_id();
  // Our member id as the cluster view has it now (it never changes for a
  // running node).
  const std::string self =
      cluster_ != nullptr && cluster_->placement() != nullptr ? cluster_->self_id() : "";
  std::optional<ShardSet> filter;
  if (first.has_filter()) {
    absl::StatusOr<ShardSet> f = ShardSet::FromProto(first.filter());
    if (!f.ok()) return ToGrpcStatus(f.status());
    filter = std::move(*f);
  }
  // A move's tail records no ack (the source's move ack holds its log) and
  // is no peer's link.
  const bool move = first.shard_move();
  if (!move) {
    if (absl::Status s = RecordAck(peer, member, first.from_sequence() - 1); !s.ok()) {
      return ToGrpcStatus(s);
    }
    TrackPull(peer, +1);
  }
  struct Untrack {
    ReplicationService* self;
    const std::string& site;
    bool tracked;
    ~Untrack() {
      if (tracked) self->TrackPull(site, -1);
    }
  } untrack{this, peer, !move};
  // Acks arrive on the same stream; a reader thread records them. An ack
  // beyond what this stream has sent is a lie (it would let the log be
  // trimmed under a real peer): it ends the stream.
  std::atomic<uint64_t> sent{first.from_sequence() - 1};
  std::atomic<uint64_t> bad_ack{0};
  std::thread acks([&] {
    v1::PullRequest req;
    while (stream->Read(&req)) {
      if (req.applied_sequence() > sent.load()) {
        bad_ack = req.applied_sequence();
        break;
      }
      if (!move) RecordAck(peer, member, req.applied_sequence()).IgnoreError();  // known member
    }
  });
  uint64_t from = first.from_sequence();
  OwnLogBatch batch;
  OwnedCache owned_cache;
  v1::PullResponse response;
  grpc::Status status = grpc::Status::OK;
  while (!context->IsCancelled() && !stopping_ && bad_ack.load() == 0) {
    absl::Status s = store_->ReadOwnLog(from, kMaxPullBytes, &batch);
    if (!s.ok()) {
      status = ToGrpcStatus(s);
      break;
    }
    if (batch.gap) {
      response.Clear();
      response.set_site(store_->options().site);
      response.set_member_id(self);
      response.set_gap(true);
      response.set_log_start_sequence(batch.first_available);
      response.set_head_sequence(batch.head_seq);
      stream->Write(response);
      break;
    }
    if (batch.records.empty()) {
      // Caught up: tell the peer (so its lag shows 0) and wait for more.
      response.Clear();
      response.set_site(store_->options().site);
      response.set_member_id(self);
      response.set_head_sequence(batch.head_seq);
      response.set_head_time_ns(batch.head_time_ns);
      if (!stream->Write(response)) break;
      // A move's tail answers more often: its target waits for the fence
      // while the shard's writes are refused (docs/cluster.md, step 6).
      store_->WaitForOwnEntry(from - 1, absl::Milliseconds(move ? 20 : 500));
      continue;
    }
    response.Clear();
    response.set_site(store_->options().site);
    response.set_member_id(self);
    bool corrupt = false;
    for (auto& [seq, bytes] : batch.records) {
      v1::LogRecord* rec = response.add_records();
      rec->set_sequence(seq);
      if (filter.has_value()) {
        // Every record goes, cut down to the puller's shards (maybe empty):
        // its sequence moves the puller's cursor of this member.
        bool changed = false;
        absl::Status fs =
            FilterLogEntry(*store_, *filter, bytes, rec->mutable_entry(), &changed, &owned_cache);
        if (!fs.ok()) {
          status = ToGrpcStatus(
              absl::DataLossError(absl::StrCat("own log entry ", seq, ": ", fs.message())));
          corrupt = true;
          break;
        }
        if (changed) continue;
      }
      rec->set_entry(std::move(bytes));
    }
    if (corrupt) break;
    response.set_head_sequence(batch.head_seq);
    response.set_pending_samples(batch.pending_samples);
    response.set_head_time_ns(batch.head_time_ns);
    from = batch.records.back().first + 1;
    sent = from - 1;
    if (!stream->Write(response)) break;
  }
  if (uint64_t ack = bad_ack.load(); ack != 0) {
    acks.join();  // it has returned (a cancel would hide this status)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("applied_sequence: ", ack,
                                     " is beyond what this stream has sent (", sent.load(), ")"));
  }
  context->TryCancel();  // ends the ack reader's Read
  acks.join();
  return status;
}

grpc::Status ReplicationService::Digest(grpc::ServerContext* context,
                                        const v1::DigestRequest* request,
                                        v1::DigestResponse* response) {
  // Named tags: each once (a list of one name repeated 200,000 times would
  // digest it 200,000 times), at most --max_tags_per_query of them.
  std::set<std::string> unique(request->tags().begin(), request->tags().end());
  if (unique.size() > limits_.max_tags_per_query) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("tags: ", unique.size(), " distinct tags is over the limit of ",
                     limits_.max_tags_per_query, " (--max_tags_per_query)"));
  }
  std::vector<std::string> tags(unique.begin(), unique.end());
  std::optional<ShardSet> filter;
  if (request->has_filter()) {
    absl::StatusOr<ShardSet> f = ShardSet::FromProto(request->filter());
    if (!f.ok()) return ToGrpcStatus(f.status());
    filter = std::move(*f);
  }
  CancellationProbe cancel(context);
  // Read before the digest: every own entry up to it is in it.
  const uint64_t applied = store_->OwnAppliedSequence();
  absl::Status computed = ComputeDigests(
      store_, tags, request->start_ns(), request->end_ns(), request->bucket_ns(), response,
      [&] { return cancel.Cancelled(); }, filter.has_value() ? &*filter : nullptr);
  response->set_applied_sequence(applied);
  return ToGrpcStatus(computed);
}

grpc::Status ReplicationService::Fetch(grpc::ServerContext* context,
                                       const v1::FetchRequest* request,
                                       grpc::ServerWriter<v1::FetchResponse>* writer) {
  absl::StatusOr<engine::TagInfo> tag = store_->GetTag(request->tag());
  if (!tag.ok()) return ToGrpcStatus(tag.status());
  codec::ChunkColumns page;
  int64_t cursor = request->start_ns();
  v1::FetchResponse response;
  while (cursor < request->end_ns()) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    absl::Status s = store_->ReadRaw(tag->id, cursor, request->end_ns(), kFetchPageSamples, &page);
    if (!s.ok()) return ToGrpcStatus(s);
    response.Clear();
    // Read after the page: it holds none of the own entries after it.
    response.set_applied_sequence(store_->OwnAppliedSequence());
    TagToProto(*tag, response.mutable_tag());
    for (size_t i = 0; i < page.size(); ++i) {
      v1::VersionedSample* vs = response.add_samples();
      SampleToProto(page, i, vs->mutable_sample());
      vs->set_version(page.versions[i]);
    }
    if (!writer->Write(response)) return grpc::Status::CANCELLED;
    if (page.size() < kFetchPageSamples) break;
    cursor = page.timestamps.back() + 1;
  }
  return grpc::Status::OK;
}

grpc::Status ReplicationService::FetchEvents(grpc::ServerContext* context,
                                             const v1::FetchEventsRequest* /*request*/,
                                             grpc::ServerWriter<v1::FetchEventsResponse>* writer) {
  constexpr int kPageRecords = 1000;
  v1::FetchEventsResponse response;
  bool failed = false;
  auto flush = [&] {
    if (response.records_size() == 0) return true;
    failed = context->IsCancelled() || !writer->Write(response);
    response.Clear();
    return !failed;
  };
  absl::Status s = store_->ForEachEventRecord([&](std::string_view key, std::string_view value) {
    v1::EventRecordBytes* r = response.add_records();
    r->set_key(std::string(key));
    r->set_value(std::string(value));
    return response.records_size() < kPageRecords || flush();
  });
  if (!s.ok()) return ToGrpcStatus(s);
  if (failed || !flush()) return grpc::Status::CANCELLED;
  return grpc::Status::OK;
}

absl::Status ReplicationService::RecordAck(const std::string& site, const std::string& member,
                                           uint64_t seq) {
  const std::vector<std::string>& peers = store_->options().peers;
  if (std::find(peers.begin(), peers.end(), site) == peers.end()) {
    return absl::OkStatus();  // not a peer: its acks hold nothing back
  }
  uint64_t lowest = seq;
  {
    absl::MutexLock l(&mu_);
    // The members' acks live in the store (kept across restarts, so the
    // first member to pull after one cannot raise the site's ack past a
    // slower one's; forgotten there when a member leaves the peer's
    // placement: Store::ForgetMemberAcks).
    const std::map<std::string, uint64_t> acks = store_->MemberAcks(site);
    if (!member.empty()) {
      if (!acks.contains(member) && acks.size() >= kMaxMembersPerSite) {
        return absl::ResourceExhaustedError(
            absl::StrCat("member_id: site '", site, "' already has ", acks.size(),
                         " members pulling; at most ", kMaxMembersPerSite));
      }
      store_->SetMemberAcked(site, member, seq);
    }
    // A puller without a member id (a single node) cannot raise the ack
    // past a known member's either.
    for (const auto& [m, a] : acks) {
      if (m != member) lowest = std::min(lowest, a);
    }
  }
  // The site's ack is its slowest member's: the log is kept for all of them.
  store_->SetPeerAcked(site, lowest);
  return absl::OkStatus();
}

void ReplicationService::TrackPull(const std::string& site, int delta) {
  const std::vector<std::string>& peers = store_->options().peers;
  if (std::find(peers.begin(), peers.end(), site) == peers.end()) return;  // not a peer
  absl::MutexLock l(&mu_);
  Outbound& o = outbound_[site];
  const bool was_open = o.open > 0;
  o.open += delta;
  if (was_open == (o.open > 0)) return;
  o.since = absl::Now();
  if (o.open > 0) {
    LogInfo("replication", "peer pulling: link up", {{"peer", site}});
  } else {
    LogWarning("replication", "peer stopped pulling: link down", {{"peer", site}});
  }
}

double ReplicationService::EntryAgeSeconds(uint64_t seq) const {
  OwnLogBatch batch;
  if (!store_->ReadOwnLog(seq, 1, &batch).ok()) return 0;
  // Trimmed already (the peer will catch up by range sync): the oldest kept.
  if (batch.gap && !store_->ReadOwnLog(batch.first_available, 1, &batch).ok()) return 0;
  if (batch.records.empty()) return 0;
  engine::LogEntry entry;
  if (!engine::DecodeLogEntry(batch.records.front().second, &entry).ok()) return 0;
  // A version is a hybrid logical clock: write time in seconds and a site tag.
  const double written = static_cast<double>(engine::VersionSeconds(entry.version));
  return std::max(0.0, absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()) - written);
}

void ReplicationService::FillOutbound(v1::PeerStatus* status) const {
  const uint64_t head = store_->OwnHeadSequence();
  const uint64_t acked = std::min(store_->PeerAcked(status->site()), head);
  status->set_peer_acked_sequence(acked);
  status->set_unacked_entries(head - acked);
  status->set_unacked_age_seconds(head > acked ? EntryAgeSeconds(acked + 1) : 0);
  absl::MutexLock l(&mu_);
  auto it = outbound_.find(status->site());
  if (it == outbound_.end()) return;
  status->set_peer_pulling(it->second.open > 0);
  status->set_peer_pulling_since_unix_ns(absl::ToUnixNanos(it->second.since));
}

}  // namespace historian::server
