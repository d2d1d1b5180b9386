#include "server/cluster/placement_watcher.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/cluster/placement.h"
#include "server/durable_file.h"
#include "server/logging.h"

namespace historian::cluster {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr char kCacheMagic[] = "historian-placement-cache 1 ";

}  // namespace

PlacementWatcher::PlacementWatcher(const EtcdClient* etcd, PlacementWatcherOptions options)
    : etcd_(etcd), options_(std::move(options)), prefix_(SitePrefix(options_.site)) {
  LoadCache();
  thread_ = std::thread([this] { Run(); });
}

PlacementWatcher::~PlacementWatcher() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  thread_.join();
}

std::shared_ptr<const Placement> PlacementWatcher::placement() const {
  absl::MutexLock l(&mu_);
  return placement_;
}

std::vector<std::string> PlacementWatcher::alive_members() const {
  absl::MutexLock l(&mu_);
  std::vector<std::string> ids;
  ids.reserve(members_.size());
  for (const auto& [id, record] : members_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool PlacementWatcher::PlacementReadFromEtcd() const {
  absl::MutexLock l(&mu_);
  return synced_;
}

absl::Status PlacementWatcher::NoPlacementStatus() const {
  absl::MutexLock l(&mu_);
  if (placement_ != nullptr) return absl::OkStatus();
  if (!synced_) {
    return absl::UnavailableError(absl::StrCat(
        "no placement yet: this node runs in site cluster mode (--cluster_etcd=",
        absl::StrJoin(etcd_->options().endpoints, ","),
        ") but has not read etcd since it started and has no cached placement, so it does not "
        "know which tags are its own; writes are refused until it reads the placement (is etcd "
        "reachable? last error: ",
        last_error_.ToString(), ")"));
  }
  if (config_seen_) {
    return absl::UnavailableError(absl::StrCat(
        "no placement yet: site '", options_.site, "' is a cluster (",
        ClusterConfigKey(options_.site), " exists) but this node holds no valid placement (",
        PlacementKey(options_.site), " absent or refused; last error: ", last_error_.ToString(),
        "); writes are refused until it reads one"));
  }
  return absl::UnavailableError(absl::StrCat(
      "no placement yet: this node runs in site cluster mode but site '", options_.site,
      "' is not a cluster yet (no ", ClusterConfigKey(options_.site),
      "); writes are refused until `historian cluster init` has run (a write stored now could "
      "land on a node that will not own its tag)"));
}

bool PlacementWatcher::WaitForSync(absl::Duration timeout) const {
  absl::MutexLock l(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&synced_), timeout);
}

PlacementWatcher::Stats PlacementWatcher::stats() const {
  absl::MutexLock l(&mu_);
  Stats s;
  s.synced = synced_;
  s.placement_revision = placement_ != nullptr ? placement_->revision() : 0;
  s.placement_updates = placement_updates_;
  s.resyncs = std::max<int64_t>(reads_ - 1, 0);
  s.bad_values = bad_values_;
  s.members_alive = static_cast<int64_t>(members_.size());
  s.last_error = last_error_;
  return s;
}

bool PlacementWatcher::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
  return stop_;
}

std::shared_ptr<const Placement> PlacementWatcher::AcceptPlacement(
    const std::string& value, int64_t mod_revision,
    const std::shared_ptr<const Placement>& current) {
  absl::StatusOr<Placement> decoded = Placement::Decode(value, mod_revision);
  absl::Status problem = decoded.status();
  if (problem.ok() && decoded->site() != options_.site) {
    problem = absl::DataLossError(absl::StrCat("placement names site '", decoded->site(),
                                               "', this node's --site is '", options_.site, "'"));
  }
  if (!problem.ok()) {
    ++bad_values_;
    last_error_ = problem;
    server::LogError("cluster", "placement refused; keeping the last one",
                     {{"key", PlacementKey(options_.site)},
                      {"revision", absl::StrCat(mod_revision)},
                      {"error", problem.ToString()}});
    return nullptr;
  }
  if (current != nullptr && current->revision() == mod_revision) return nullptr;
  return std::make_shared<const Placement>(*std::move(decoded));
}

void PlacementWatcher::InstallPlacement(std::shared_ptr<const Placement> next, bool contiguous) {
  // The listeners (e.g. Subscribe parts whose owners change) run before
  // anything is routed by `next`.
  ChangePlacement(next, contiguous, [&] {
    absl::MutexLock l(&mu_);
    placement_ = next;
    ++placement_updates_;
  });
  for (const PlacementMember& m : next->members()) {
    if (m.id == options_.self_id && !options_.self_address.empty() &&
        m.address != options_.self_address) {
      server::LogError("cluster",
                       "the placement names another address for this member; requests routed "
                       "to it go there",
                       {{"member", m.id},
                        {"placement_address", m.address},
                        {"advertised", options_.self_address}});
    }
  }
  server::LogInfo("cluster", "placement applied",
                  {{"revision", absl::StrCat(next->revision())},
                   {"shards", absl::StrCat(next->num_shards())},
                   {"members", absl::StrCat(next->members().size())},
                   {"owned_here", absl::StrCat(next->ShardsOwnedBy(options_.self_id).size())}});
}

void PlacementWatcher::ApplyConfig(const std::string& value) {
  absl::StatusOr<ClusterConfig> config = DecodeClusterConfig(value);
  absl::Status problem = config.status();
  if (problem.ok() && config->format_version > kClusterFormatVersion) {
    problem = absl::FailedPreconditionError(
        absl::StrCat("cluster format_version ", config->format_version,
                     " is newer than this node understands (", kClusterFormatVersion, ")"));
  }
  if (!problem.ok()) {
    ++bad_values_;
    last_error_ = problem;
    server::LogError("cluster", "cluster config refused",
                     {{"key", ClusterConfigKey(options_.site)}, {"error", problem.ToString()}});
  }
}

absl::StatusOr<int64_t> PlacementWatcher::Resync() {
  absl::StatusOr<EtcdRange> range = etcd_->GetPrefix(prefix_);
  if (!range.ok()) return range.status();
  const std::string placement_key = PlacementKey(options_.site);
  const std::string members_prefix = MembersPrefix(options_.site);
  std::shared_ptr<const Placement> changed;
  {
    absl::MutexLock l(&mu_);
    ++reads_;
    const auto now = std::chrono::steady_clock::now();
    last_read_at_ = now;
    absl::flat_hash_map<std::string, MemberRecord> before = std::move(members_);
    members_.clear();
    bool placement_seen = false;
    for (const EtcdKeyValue& kv : range->kvs) {
      if (kv.key == placement_key) {
        placement_seen = true;
        if (auto p = AcceptPlacement(kv.value, kv.mod_revision, placement_)) changed = p;
      } else if (kv.key == ClusterConfigKey(options_.site)) {
        config_seen_ = true;
        ApplyConfig(kv.value);
      } else if (absl::StartsWith(kv.key, members_prefix)) {
        absl::StatusOr<MemberRecord> record = DecodeMemberRecord(kv.value);
        const std::string id = kv.key.substr(members_prefix.size());
        members_[id] = record.ok() ? *record : MemberRecord{};
        slices_seen_[id] = members_[id].write_slices;
      }
    }
    for (const auto& [id, record] : before) {
      if (members_.count(id) == 0) MarkGoneLocked(id, &record, now);
    }
    for (const auto& [id, record] : members_) gone_.erase(id);
    if (!placement_seen && placement_ != nullptr) {
      server::LogError(
          "cluster",
          "the placement key is absent from etcd (etcd wiped or restored?); keeping "
          "the last placement",
          {{"key", placement_key}, {"revision", absl::StrCat(placement_->revision())}});
    }
  }
  // Installed (listeners first) before the read counts as synced: a node
  // waiting for its first read then serves with this placement. Not
  // contiguous: revisions between the last one seen and this read are
  // unknown (an owner may have moved away and back).
  if (changed != nullptr) {
    InstallPlacement(changed, /*contiguous=*/false);
    WriteCache(changed);
  }
  {
    absl::MutexLock l(&mu_);
    synced_ = true;
    resync_needed_ = false;
    seen_through_revision_ = std::max(seen_through_revision_, range->revision);
  }
  if (changed != nullptr) NotifyListener();
  return range->revision;
}

void PlacementWatcher::OnEvents(const std::vector<EtcdEvent>& events) {
  const std::string placement_key = PlacementKey(options_.site);
  const std::string members_prefix = MembersPrefix(options_.site);
  // Every placement of the batch, in order: the listeners see each
  // revision (an owner that moves away and back within one batch still
  // ends the Subscribe streams that covered it).
  std::vector<std::shared_ptr<const Placement>> changed;
  {
    absl::MutexLock l(&mu_);
    for (const EtcdEvent& e : events) {
      const bool put = e.type == EtcdEvent::Type::kPut;
      if (e.kv.key == placement_key) {
        if (put) {
          if (auto p = AcceptPlacement(e.kv.value, e.kv.mod_revision,
                                       !changed.empty() ? changed.back() : placement_)) {
            changed.push_back(std::move(p));
          }
        } else {
          ++bad_values_;
          server::LogError("cluster", "the placement key was deleted; keeping the last placement",
                           {{"key", placement_key}, {"revision", absl::StrCat(e.kv.mod_revision)}});
        }
      } else if (e.kv.key == ClusterConfigKey(options_.site)) {
        if (put) {
          config_seen_ = true;
          ApplyConfig(e.kv.value);
        }
      } else if (absl::StartsWith(e.kv.key, members_prefix)) {
        const std::string id = e.kv.key.substr(members_prefix.size());
        if (put) {
          absl::StatusOr<MemberRecord> record = DecodeMemberRecord(e.kv.value);
          members_[id] = record.ok() ? *record : MemberRecord{};
          slices_seen_[id] = members_[id].write_slices;
          gone_.erase(id);
        } else {
          auto it = members_.find(id);
          MarkGoneLocked(id, it != members_.end() ? &it->second : nullptr,
                         std::chrono::steady_clock::now());
          members_.erase(id);
          server::LogWarning("cluster", "member lease ended", {{"member", id}});
        }
      }
    }
  }
  for (const std::shared_ptr<const Placement>& p : changed) {
    InstallPlacement(p, /*contiguous=*/true);
  }
  {
    absl::MutexLock l(&mu_);
    for (const EtcdEvent& e : events) {
      seen_through_revision_ = std::max(seen_through_revision_, e.kv.mod_revision);
    }
  }
  if (!changed.empty()) {
    WriteCache(changed.back());
    NotifyListener();
  }
}

void PlacementWatcher::MarkGoneLocked(const std::string& id, const MemberRecord* record,
                                      std::chrono::steady_clock::time_point now) {
  if (gone_.count(id) > 0) return;  // gone already: the earlier time stays
  gone_[id] = {now, record != nullptr ? record->isolation_fence_ms : 0};
}

absl::StatusOr<MemberAbsence> PlacementWatcher::AbsenceOf(
    const std::string& id, int64_t revision, absl::Duration timeout,
    std::chrono::steady_clock::time_point now) const {
  absl::MutexLock l(&mu_);
  auto seen = [this, revision]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return synced_ && seen_through_revision_ >= revision;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&seen), timeout)) {
    return absl::UnavailableError(absl::StrCat("this node's placement view has seen etcd revision ",
                                               seen_through_revision_, ", not yet ", revision,
                                               " (its watch lags): it cannot tell how long member ",
                                               id, " has been gone; retry"));
  }
  if (members_.count(id) > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("member ", id, " is registered in this node's view"));
  }
  auto it = gone_.find(id);
  const auto since =
      it != gone_.end() ? std::max(it->second.since, *last_read_at_) : *last_read_at_;
  const int64_t fence_ms = it != gone_.end() ? it->second.published_fence_ms : 0;
  return MemberAbsence{
      .gone_for = absl::FromChrono(now - since),
      .published_fence = absl::Milliseconds(fence_ms),
  };
}

bool PlacementWatcher::MemberTakesSlices(const std::string& id) const {
  absl::MutexLock l(&mu_);
  auto it = slices_seen_.find(id);
  return it == slices_seen_.end() || it->second;
}

int64_t PlacementWatcher::SeenThroughRevision() const {
  absl::MutexLock l(&mu_);
  return seen_through_revision_;
}

void PlacementWatcher::SetPlacementListener(std::function<void()> listener) {
  absl::MutexLock l(&listener_mu_);
  listener_ = std::move(listener);
}

void PlacementWatcher::NotifyListener() {
  absl::MutexLock l(&listener_mu_);
  if (listener_) listener_();
}

void PlacementWatcher::OnWatchFailed(absl::Status reason) {
  server::LogWarning("cluster", "placement watch ended; reading again",
                     {{"prefix", prefix_}, {"error", reason.ToString()}});
  absl::MutexLock l(&mu_);
  last_error_ = std::move(reason);
  resync_needed_ = true;
}

void PlacementWatcher::Run() {
  absl::Duration backoff = kFirstBackoff;
  absl::Time last_logged = absl::InfinitePast();
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stop_) return;
    }
    absl::StatusOr<int64_t> revision = Resync();
    if (!revision.ok()) {
      bool have_placement = false;
      {
        absl::MutexLock l(&mu_);
        last_error_ = revision.status();
        have_placement = placement_ != nullptr;
      }
      if (absl::Now() - last_logged > absl::Seconds(10)) {
        last_logged = absl::Now();
        server::LogError("cluster",
                         have_placement ? "cannot read the cluster from etcd; serving with the "
                                          "last placement, retrying"
                                        : "cannot read the cluster from etcd; NO placement yet "
                                          "(this node takes every tag), retrying",
                         {{"prefix", prefix_}, {"error", revision.status().ToString()}});
      }
      if (SleepUnlessStopped(backoff)) return;
      backoff = std::min(backoff * 2, options_.max_retry_backoff);
      continue;
    }
    backoff = kFirstBackoff;
    EtcdWatchHandlers handlers;
    handlers.on_events = [this](const std::vector<EtcdEvent>& events) { OnEvents(events); };
    handlers.on_failed = [this](absl::Status reason) { OnWatchFailed(std::move(reason)); };
    std::unique_ptr<EtcdWatcher> watcher =
        etcd_->WatchPrefix(prefix_, *revision + 1, std::move(handlers));
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(this, &PlacementWatcher::StoppedOrResyncNeeded));
    }
    watcher.reset();  // joins its thread; handlers no longer run
  }
}

void PlacementWatcher::LoadCache() {
  if (options_.cache_path.empty()) return;
  std::ifstream in(options_.cache_path, std::ios::binary);
  if (!in) return;  // none yet
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  const size_t eol = data.find('\n');
  int64_t revision = 0;
  absl::Status problem;
  if (!absl::StartsWith(data, kCacheMagic) || eol == std::string::npos ||
      !absl::SimpleAtoi(data.substr(sizeof(kCacheMagic) - 1, eol - (sizeof(kCacheMagic) - 1)),
                        &revision)) {
    problem = absl::DataLossError("not a placement cache (bad header)");
  }
  std::shared_ptr<const Placement> cached;
  if (problem.ok()) {
    absl::MutexLock l(&mu_);
    cached = AcceptPlacement(data.substr(eol + 1), revision, placement_);
  }
  if (cached == nullptr) {
    server::LogError("cluster", "placement cache unusable; waiting for etcd",
                     {{"path", options_.cache_path}, {"error", problem.ToString()}});
    return;
  }
  InstallPlacement(std::move(cached), /*contiguous=*/false);
  server::LogInfo("cluster", "placement loaded from the cache until etcd answers",
                  {{"path", options_.cache_path}, {"revision", absl::StrCat(revision)}});
}

void PlacementWatcher::WriteCache(const std::shared_ptr<const Placement>& placement) {
  if (options_.cache_path.empty()) return;
  absl::MutexLock l(&cache_mu_);
  const std::string data =
      absl::StrCat(kCacheMagic, placement->revision(), "\n", placement->Encode());
  if (absl::Status s = server::ReplaceFileDurably(options_.cache_path, data); !s.ok()) {
    server::LogError("cluster", "cannot write the placement cache",
                     {{"path", options_.cache_path}, {"error", s.ToString()}});
  }
}

}  // namespace historian::cluster
