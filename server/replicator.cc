#include "server/replicator.h"

#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "api/core/bearer_token.h"
#include "grpcpp/create_channel.h"
#include "server/digest.h"
#include "server/logging.h"
#include "server/proto_convert.h"
#include "server/status_util.h"
#include "storage/engine/columns.h"

namespace historian::server {

struct Replicator::PeerState {
  Peer peer;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Replication::Stub> stub;

  // Guarded by Replicator::mu_.
  grpc::ClientContext* active = nullptr;  // the open Pull stream, to cancel
  std::string state = "connecting";
  // When the link last went up or down (connected or not), for Admin.Stats.
  absl::Time state_since = absl::Now();
  uint64_t peer_head = 0;
  uint64_t pending_samples = 0;
  absl::Time caught_up_at = absl::Now();
  bool caught_up = false;
  uint64_t entries_applied = 0;
  uint64_t samples_applied = 0;
  uint64_t range_syncs = 0;
};

namespace {

// What a peer says about its own log must hang together before it moves our
// cursor of it: record sequences rise past our cursor; a gap's log start is
// 1..head+1. (Records may pass the head it reports: entries are shipped once
// durable, the head moves once they are applied.)
absl::Status CheckPullResponse(const v1::PullResponse& resp, uint64_t applied) {
  const uint64_t head = resp.head_sequence();
  if (resp.gap()) {
    if (resp.log_start_sequence() == 0 || resp.log_start_sequence() - 1 > head) {
      return absl::DataLossError(absl::StrCat("peer gap: log_start_sequence ",
                                              resp.log_start_sequence(), " is not in 1..", head,
                                              "+1 (head_sequence)"));
    }
    return absl::OkStatus();
  }
  uint64_t last = applied;
  for (const v1::LogRecord& rec : resp.records()) {
    if (rec.sequence() <= last || rec.sequence() == UINT64_MAX) {
      return absl::DataLossError(absl::StrCat("peer record: sequence ", rec.sequence(),
                                              " is not above ", last,
                                              " (the previous one) or is 2^64-1"));
    }
    last = rec.sequence();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Peer>> ParsePeers(const std::string& flag) {
  std::vector<Peer> peers;
  if (flag.empty()) return peers;
  for (absl::string_view item : absl::StrSplit(flag, ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || parts[0].empty() || parts[1].find(':') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("peers: '", item, "' is not site=host:port"));
    }
    peers.push_back({parts[0], parts[1]});
  }
  return peers;
}

Replicator::Replicator(Store* store, std::vector<Peer> peers, ReplicatorOptions options)
    : store_(store), options_(std::move(options)) {
  auto creds = options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials();
  for (Peer& p : peers) {
    auto state = std::make_unique<PeerState>();
    state->peer = std::move(p);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    // Reconnect quickly after a cut link heals.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    const int keepalive_ms = static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, keepalive_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    state->channel = grpc::CreateCustomChannel(state->peer.address, creds, args);
    state->stub = v1::Replication::NewStub(state->channel);
    peers_.push_back(std::move(state));
  }
  absl::MutexLock l(&mu_);
  throttle_start_ = absl::Now();
}

Replicator::~Replicator() { Stop(); }

void Replicator::Start() {
  for (auto& p : peers_) {
    PeerState* peer = p.get();
    threads_.emplace_back([this, peer] { PullLoop(peer); });
  }
  if (!peers_.empty() && options_.anti_entropy_interval > absl::ZeroDuration()) {
    threads_.emplace_back([this] { AntiEntropyLoop(); });
  }
}

void Replicator::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    for (auto& p : peers_) {
      if (p->active) p->active->TryCancel();
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool Replicator::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

void Replicator::Throttle(uint64_t samples) {
  if (options_.max_samples_per_second == 0) return;
  absl::Duration wait;
  {
    absl::MutexLock l(&mu_);
    throttle_samples_ += samples;
    absl::Time now = absl::Now();
    absl::Duration elapsed = now - throttle_start_;
    absl::Duration due = absl::Seconds(static_cast<double>(throttle_samples_) /
                                       static_cast<double>(options_.max_samples_per_second));
    if (elapsed > absl::Seconds(1)) {  // forget old history
      throttle_start_ = now;
      throttle_samples_ = 0;
    }
    wait = due - elapsed;
  }
  if (wait > absl::ZeroDuration()) SleepUnlessStopped(wait);
}

// Sets `peer`'s state; when the link goes up or down, records the time and
// logs one line (not one per reconnect attempt while it stays down).
void Replicator::SetLinkState(PeerState* peer, std::string state) {
  const bool was_up = peer->state == "connected";
  const bool up = state == "connected";
  if (was_up != up) {
    peer->state_since = absl::Now();
    if (up) {
      LogInfo("replicator", "peer link up", {{"peer", peer->peer.site}});
    } else {
      LogWarning("replicator", "peer link down", {{"peer", peer->peer.site}, {"state", state}});
    }
  }
  peer->state = std::move(state);
}

void Replicator::PullLoop(PeerState* peer) {
  absl::Duration backoff = options_.min_backoff;
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
    }
    absl::Status s = PullOnce(peer);
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
      SetLinkState(peer, absl::StrCat("disconnected: ", s.message()));
      peer->caught_up = false;
    }
    if (s.ok()) {
      backoff = options_.min_backoff;  // a gap was repaired; reconnect now
    } else {
      SleepUnlessStopped(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

absl::Status Replicator::PullOnce(PeerState* peer) {
  const std::string& site = peer->peer.site;
  grpc::ClientContext ctx;
  if (!options_.token.empty()) {
    ctx.AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
  }
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return absl::CancelledError("stopping");
    peer->active = &ctx;
    SetLinkState(peer, "connecting");
  }
  auto stream = peer->stub->Pull(&ctx);
  v1::PullRequest first;
  first.set_site(store_->options().site);
  first.set_from_sequence(store_->AppliedSequence(site) + 1);
  absl::Status result;
  bool gap = false;
  bool stream_ended = false;
  uint64_t gap_start = 0;
  if (stream->Write(first)) {
    v1::PullResponse resp;
    absl::Time last_ack = absl::InfinitePast();
    while (true) {
      if (!stream->Read(&resp)) {
        stream_ended = true;
        break;
      }
      if (resp.site() != site) {
        result = absl::FailedPreconditionError(absl::StrCat(
            "peer at ", peer->peer.address, " is site '", resp.site(), "', expected '", site, "'"));
        ctx.TryCancel();
        break;
      }
      if (absl::Status valid = CheckPullResponse(resp, store_->AppliedSequence(site));
          !valid.ok()) {
        result = valid;
        ctx.TryCancel();
        break;
      }
      if (resp.gap()) {
        gap = true;
        gap_start = resp.log_start_sequence();
        break;
      }
      uint64_t samples = 0;
      for (const v1::LogRecord& rec : resp.records()) {
        absl::StatusOr<uint64_t> n = store_->ApplyReplicated(site, rec.sequence(), rec.entry());
        if (!n.ok()) {
          result = n.status();
          break;
        }
        samples += *n;
        Throttle(*n);  // per entry, so catch-up is smooth, not bursty
      }
      if (!result.ok()) {
        ctx.TryCancel();
        break;
      }
      uint64_t applied = store_->AppliedSequence(site);
      {
        absl::MutexLock l(&mu_);
        SetLinkState(peer, "connected");
        peer->peer_head = resp.head_sequence();
        peer->pending_samples = resp.pending_samples();
        peer->entries_applied += resp.records_size();
        peer->samples_applied += samples;
        bool caught_up = applied >= resp.head_sequence();
        if (caught_up) peer->caught_up_at = absl::Now();
        peer->caught_up = caught_up;
      }
      if (absl::Now() - last_ack > absl::Milliseconds(200) || resp.records_size() == 0) {
        v1::PullRequest ack;
        ack.set_applied_sequence(applied);
        stream->Write(ack);
        last_ack = absl::Now();
      }
    }
  }
  // Cancel only a stream we leave early; one the peer ended carries the
  // peer's own status (e.g. PERMISSION_DENIED for a bad token), kept for
  // the peer's state line.
  if (!result.ok() || gap || !stream_ended) ctx.TryCancel();
  grpc::Status st = stream->Finish();
  {
    absl::MutexLock l(&mu_);
    peer->active = nullptr;
  }
  if (!result.ok()) return result;
  if (gap) {
    // The peer trimmed entries we never applied: compare everything and
    // fetch what differs, then continue from where its log starts now.
    absl::StatusOr<v1::VerifyResponse> v =
        Verify(site, kMinTimestamp, kMaxTimestamp, /*repair=*/true);
    if (!v.ok()) return v.status();
    {
      absl::MutexLock l(&mu_);
      ++peer->range_syncs;
    }
    absl::Status s = store_->AdvanceCursor(site, gap_start - 1);
    LogInfo("replicator", "range sync done",
            {{"peer", site},
             {"samples_repaired", absl::StrCat(v->samples_repaired())},
             {"event_records_repaired", absl::StrCat(v->event_records_repaired())},
             {"status", s.ToString()}});
    return s;
  }
  if (st.ok()) return absl::UnavailableError("stream ended");
  return FromGrpcStatus(st);
}

std::vector<v1::PeerStatus> Replicator::Status() const {
  std::vector<v1::PeerStatus> out;
  absl::MutexLock l(&mu_);
  for (const auto& p : peers_) {
    v1::PeerStatus s;
    s.set_site(p->peer.site);
    s.set_address(p->peer.address);
    s.set_state(p->state);
    s.set_state_since_unix_ns(absl::ToUnixNanos(p->state_since));
    uint64_t applied = store_->AppliedSequence(p->peer.site);
    s.set_applied_sequence(applied);
    s.set_peer_head_sequence(p->peer_head);
    bool behind = !p->caught_up || applied < p->peer_head;
    s.set_lag_samples(behind ? p->pending_samples : 0);
    s.set_lag_seconds(behind ? absl::ToDoubleSeconds(absl::Now() - p->caught_up_at) : 0);
    s.set_entries_applied(p->entries_applied);
    s.set_samples_applied(p->samples_applied);
    s.set_range_syncs(p->range_syncs);
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<v1::VerifyResponse> Replicator::Verify(const std::string& peer_site, int64_t start,
                                                      int64_t end, bool repair) {
  PeerState* peer = nullptr;
  for (auto& p : peers_) {
    if (p->peer.site == peer_site) peer = p.get();
  }
  if (peer == nullptr) {
    return absl::NotFoundError(absl::StrCat("peer_site: '", peer_site, "' is not in --peers"));
  }
  if (start == 0 && end == 0) {
    start = kMinTimestamp;
    end = kMaxTimestamp;
  }
  const int64_t bucket = absl::ToInt64Nanoseconds(options_.digest_bucket);
  v1::DigestRequest req;
  req.set_start_ns(start);
  req.set_end_ns(end);
  req.set_bucket_ns(bucket);
  v1::DigestResponse remote;
  grpc::ClientContext ctx;
  if (!options_.token.empty()) {
    ctx.AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
  }
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  grpc::Status st = peer->stub->Digest(&ctx, req, &remote);
  if (!st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("digest from ", peer_site, ": ", st.error_message()));
  }
  // Deletes first: the peer's tombstones drop deleted tags here (also those
  // whose log entries the peer trimmed), and what they cover is not fetched.
  uint64_t tombstones_applied = 0;
  if (repair && remote.tombstones_size() > 0) {
    std::vector<engine::Tombstone> tombstones;
    for (const v1::TagTombstone& t : remote.tombstones()) {
      tombstones.push_back({t.tag_id(), t.version()});
    }
    absl::StatusOr<uint64_t> n = store_->ApplyTombstones(std::move(tombstones));
    if (!n.ok()) return n.status();
    tombstones_applied = *n;
  }
  std::map<TagId, Version> dead;
  for (const engine::Tombstone& t : store_->Tombstones()) dead[t.tag] = t.version;
  v1::DigestResponse local;
  if (absl::Status s = ComputeDigests(store_, {}, start, end, bucket, &local); !s.ok()) return s;
  DigestMap mine = ToDigestMap(local), theirs = ToDigestMap(remote);
  std::map<std::string, v1::Tag> remote_tags;
  std::map<std::string, Version> remote_versions;
  for (const auto& t : remote.tags()) {
    remote_tags[t.tag().name()] = t.tag();
    remote_versions[t.tag().name()] = t.catalog_version();
  }

  v1::VerifyResponse out;
  out.set_tags_compared(std::max(local.tags_size(), remote.tags_size()));
  std::map<std::string, std::vector<int64_t>> to_fetch;
  std::set<std::string> differing;
  std::set<std::pair<std::string, int64_t>> keys;
  for (const auto& [k, v] : mine) keys.insert(k);
  for (const auto& [k, v] : theirs) keys.insert(k);
  for (const auto& key : keys) {
    auto a = mine.find(key), b = theirs.find(key);
    if (a != mine.end()) out.set_local_samples(out.local_samples() + a->second.first);
    if (b != theirs.end()) out.set_peer_samples(out.peer_samples() + b->second.first);
    bool same = a != mine.end() && b != theirs.end() && a->second == b->second;
    if (same) continue;
    differing.insert(key.first);
    out.set_buckets_differing(out.buckets_differing() + 1);
    if (b != theirs.end()) to_fetch[key.first].push_back(key.second);
  }
  out.set_buckets_compared(keys.size());
  for (const auto& tag : differing) out.add_differing_tags(tag);
  out.set_event_records_local(local.event_records());
  out.set_event_records_peer(remote.event_records());
  out.set_events_differ(local.event_records() != remote.event_records() ||
                        local.events_hash() != remote.events_hash());
  if (!repair) return out;
  if (out.events_differ() && remote.event_records() > 0) {
    absl::StatusOr<uint64_t> n = RepairEvents(peer);
    if (!n.ok()) return n.status();
    out.set_event_records_repaired(*n);
  }

  uint64_t repaired = 0;
  for (const auto& [name, buckets] : to_fetch) {
    engine::TagInfo info = TagFromProto(remote_tags[name]);
    info.id = remote_tags[name].id();
    info.origin_site = remote_tags[name].origin_site();
    info.created_ns = remote_tags[name].created_ns();
    // 0 from a peer that predates catalog versions in digests: it creates a
    // missing tag but never overrides one, nor passes a tombstone.
    info.version = remote_versions[name];
    // An incarnation deleted here (the peer has not applied the tombstone
    // yet): nothing to fetch, ApplyRepair would refuse it.
    if (auto d = dead.find(info.id); d != dead.end() && info.version <= d->second) continue;
    for (int64_t b : buckets) {
      v1::FetchRequest f;
      f.set_tag(name);
      f.set_start_ns(b);
      f.set_end_ns(static_cast<int64_t>(std::min<uint64_t>(
          static_cast<uint64_t>(b) + static_cast<uint64_t>(bucket), static_cast<uint64_t>(end))));
      if (f.end_ns() <= f.start_ns()) f.set_end_ns(end);
      grpc::ClientContext fctx;
      if (!options_.token.empty()) {
        fctx.AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
      }
      auto reader = peer->stub->Fetch(&fctx, f);
      v1::FetchResponse resp;
      engine::SeriesData series;
      series.tag = info.id;
      series.cols.Reset(info.type);
      while (reader->Read(&resp)) {
        for (const auto& vs : resp.samples()) {
          const v1::Sample& s = vs.sample();
          if (ValueKind(s.value()) != info.type) continue;
          series.cols.timestamps.push_back(s.timestamp_ns());
          series.cols.qualities.push_back(s.quality());
          series.cols.versions.push_back(vs.version());
          switch (info.type) {
            case ValueType::kDouble:
              series.cols.doubles.push_back(s.value().double_value());
              break;
            case ValueType::kInt64:
              series.cols.ints.push_back(s.value().int64_value());
              break;
            case ValueType::kBool:
              series.cols.bools.push_back(s.value().bool_value());
              break;
            case ValueType::kString:
              series.cols.strings.push_back(s.value().string_value());
              break;
            default:
              break;
          }
        }
      }
      grpc::Status fs = reader->Finish();
      if (!fs.ok()) {
        return absl::UnavailableError(
            absl::StrCat("fetch from ", peer_site, ": ", fs.error_message()));
      }
      if (series.cols.size() == 0) continue;
      std::vector<engine::SeriesData> batch;
      batch.push_back(std::move(series));
      absl::StatusOr<uint64_t> n = store_->ApplyRepair({info}, std::move(batch));
      if (!n.ok()) return n.status();
      repaired += *n;
    }
  }
  out.set_samples_repaired(repaired);
  if (tombstones_applied > 0) {
    LogInfo("replicator", "applied the peer's tombstones",
            {{"peer", peer_site}, {"tombstones", absl::StrCat(tombstones_applied)}});
  }
  return out;
}

absl::StatusOr<uint64_t> Replicator::RepairEvents(PeerState* peer) {
  // What is here, to merge only the peer's records that differ.
  std::map<std::string, std::string, std::less<>> mine;
  absl::Status s = store_->ForEachEventRecord([&](std::string_view key, std::string_view value) {
    mine.emplace(std::string(key), std::string(value));
    return true;
  });
  if (!s.ok()) return s;
  grpc::ClientContext ctx;
  if (!options_.token.empty()) {
    ctx.AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
  }
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  auto reader = peer->stub->FetchEvents(&ctx, v1::FetchEventsRequest());
  v1::FetchEventsResponse resp;
  std::vector<engine::EventWrite> merge;
  while (reader->Read(&resp)) {
    for (v1::EventRecordBytes& r : *resp.mutable_records()) {
      auto it = mine.find(r.key());
      if (it != mine.end() && it->second == r.value()) continue;
      merge.push_back({std::move(*r.mutable_key()), std::move(*r.mutable_value())});
    }
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("fetch events from ", peer->peer.site, ": ", st.error_message()));
  }
  return store_->MergeEventRecords(std::move(merge));
}

void Replicator::AntiEntropyLoop() {
  while (SleepUnlessStopped(options_.anti_entropy_interval)) {
    int64_t end = absl::GetCurrentTimeNanos();
    int64_t start = end - absl::ToInt64Nanoseconds(options_.anti_entropy_window);
    for (auto& p : peers_) {
      absl::StatusOr<v1::VerifyResponse> v = Verify(p->peer.site, start, end, /*repair=*/true);
      if (!v.ok()) {
        LogWarning("replicator", "anti-entropy failed",
                   {{"peer", p->peer.site}, {"error", v.status().ToString()}});
      } else if (v->buckets_differing() > 0 || v->event_records_repaired() > 0) {
        LogInfo("replicator", "anti-entropy repaired differences",
                {{"peer", p->peer.site},
                 {"buckets_differing", absl::StrCat(v->buckets_differing())},
                 {"samples_repaired", absl::StrCat(v->samples_repaired())},
                 {"event_records_repaired", absl::StrCat(v->event_records_repaired())}});
      }
    }
  }
}

}  // namespace historian::server
