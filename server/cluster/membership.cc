#include "server/cluster/membership.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/cluster/placement.h"
#include "server/logging.h"

namespace historian::cluster {
namespace {
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(200);

// Raises the site's widest isolation write fence (cluster_keys.h) to
// `fence_ms` unless it is that wide already. Before the member key is put:
// a member whose lease any node saw has its fence covered by the key.
absl::Status RaiseSiteIsolationFence(const EtcdClient& etcd, const std::string& site,
                                     int64_t fence_ms) {
  if (fence_ms <= 0) return absl::OkStatus();
  const std::string key = SiteIsolationFenceKey(site);
  absl::StatusOr<EtcdRange> current = etcd.Get(key);
  if (!current.ok()) return current.status();
  int64_t mod_revision = 0;  // 0: only if absent
  if (!current->kvs.empty()) {
    absl::StatusOr<int64_t> widest = DecodeSiteIsolationFence(key, current->kvs[0].value);
    if (!widest.ok()) {
      // Overwriting could lower it: leave it to the operator.
      return absl::DataLossError(absl::StrCat(widest.status().message(),
                                              "; put max_ms=<the widest "
                                              "--cluster_isolation_write_fence in ms> there"));
    }
    if (*widest >= fence_ms) return absl::OkStatus();
    mod_revision = current->kvs[0].mod_revision;
  }
  absl::StatusOr<EtcdTxnOutcome> put =
      etcd.PutIfModRevision(key, EncodeSiteIsolationFence(fence_ms), mod_revision);
  if (!put.ok()) return put.status();
  if (!put->committed) {
    return absl::AbortedError(
        absl::StrCat(key, " changed while raising it to ", fence_ms, " ms; trying again"));
  }
  return absl::OkStatus();
}

}  // namespace

Membership::Membership(const EtcdClient* etcd, MembershipOptions options)
    : etcd_(etcd),
      options_(std::move(options)),
      key_(MemberKey(options_.site, options_.member_id)),
      thread_([this] { Run(); }) {}

Membership::~Membership() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  thread_.join();
}

bool Membership::registered() const {
  absl::MutexLock l(&mu_);
  return lease_id_ != 0;
}

int64_t Membership::lease_id() const {
  absl::MutexLock l(&mu_);
  return lease_id_;
}

int64_t Membership::registrations() const {
  absl::MutexLock l(&mu_);
  return registrations_;
}

absl::Status Membership::last_error() const {
  absl::MutexLock l(&mu_);
  return last_error_;
}

bool Membership::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
  return stop_;
}

absl::StatusOr<Membership::Registration> Membership::Register(int64_t previous_lease) const {
  absl::StatusOr<EtcdRange> current = etcd_->Get(key_);
  if (!current.ok()) return current.status();
  int64_t mod_revision = 0;  // 0: only if absent
  if (!current->kvs.empty()) {
    const EtcdKeyValue& kv = current->kvs[0];
    absl::StatusOr<MemberRecord> theirs = DecodeMemberRecord(kv.value);
    const bool ours = kv.lease != 0 && kv.lease == previous_lease;
    if (!ours && theirs.ok() && theirs->address != options_.record.address) {
      return absl::FailedPreconditionError(absl::StrCat(
          "member id '", options_.member_id, "' is registered by a live node at ", theirs->address,
          " (key ", key_, ", lease ", kv.lease,
          "); two nodes must not share --cluster_member_id (a copied data dir?). Retrying until "
          "that lease expires"));
    }
    mod_revision = kv.mod_revision;
  }
  if (absl::Status raised =
          RaiseSiteIsolationFence(*etcd_, options_.site, options_.record.isolation_fence_ms);
      !raised.ok()) {
    return raised;
  }
  absl::StatusOr<EtcdLease> lease = etcd_->GrantLease(options_.lease_ttl_seconds);
  if (!lease.ok()) return lease.status();
  absl::StatusOr<EtcdTxnOutcome> put =
      etcd_->PutIfModRevision(key_, EncodeMemberRecord(options_.record), mod_revision, lease->id);
  if (!put.ok() || !put->committed) {
    RevokeQuickly(lease->id);
    if (!put.ok()) return put.status();
    return absl::AbortedError(
        absl::StrCat("member key ", key_, " changed while registering; trying again"));
  }
  return Registration{*lease, put->revision};
}

void Membership::RevokeQuickly(int64_t lease_id) const {
  EtcdClientOptions quick = etcd_->options();
  quick.call_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Create(std::move(quick));
  if (client.ok()) (void)(*client)->RevokeLease(lease_id);  // else it expires after its TTL
}

void Membership::Run() {
  absl::Duration backoff = kFirstBackoff;
  int64_t previous_lease = 0;
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stop_) return;
    }
    absl::StatusOr<Registration> registration = Register(previous_lease);
    if (!registration.ok()) {
      {
        absl::MutexLock l(&mu_);
        last_error_ = registration.status();
      }
      server::LogError("cluster", "cannot register as a member; the node serves on, retrying",
                       {{"member", options_.member_id},
                        {"key", key_},
                        {"retry_in", absl::FormatDuration(backoff)},
                        {"error", registration.status().ToString()}});
      if (SleepUnlessStopped(backoff)) return;
      backoff = std::min(backoff * 2, options_.max_retry_backoff);
      continue;
    }
    backoff = kFirstBackoff;
    const EtcdLease* lease = &registration->lease;
    previous_lease = lease->id;
    uint64_t generation = 0;
    {
      absl::MutexLock l(&mu_);
      generation = ++generation_;
      lost_ = false;
      lease_id_ = lease->id;
      ++registrations_;
    }
    LeaseFence* const fence = options_.fence;
    const int64_t lease_id = lease->id;
    if (fence != nullptr) {
      fence->Registered(lease_id, registration->revision,
                        lease->asked_at + std::chrono::seconds(lease->ttl_seconds));
    }
    std::unique_ptr<LeaseKeeper> keeper = etcd_->KeepAlive(
        *lease,
        [this, generation, fence, lease_id](absl::Status reason) {
          if (fence != nullptr) fence->Lost(lease_id);
          absl::MutexLock l(&mu_);
          if (generation != generation_) return;
          lost_ = true;
          last_error_ = std::move(reason);
        },
        [fence, lease_id](std::chrono::steady_clock::time_point alive_until) {
          if (fence != nullptr) fence->Renewed(lease_id, alive_until);
        });
    server::LogInfo("cluster", "registered as a member",
                    {{"member", options_.member_id},
                     {"address", options_.record.address},
                     {"key", key_},
                     {"lease", absl::StrCat(lease->id)},
                     {"ttl_s", absl::StrCat(lease->ttl_seconds)}});
    bool stopping = false;
    absl::Status reason;
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(this, &Membership::StoppedOrLost));
      stopping = stop_;
      reason = last_error_;
      lease_id_ = 0;
    }
    keeper.reset();
    if (fence != nullptr) fence->Lost(lease_id);
    if (stopping) {
      RevokeQuickly(lease->id);
      return;
    }
    server::LogWarning("cluster", "member lease lost; registering again",
                       {{"member", options_.member_id},
                        {"lease", absl::StrCat(lease->id)},
                        {"error", reason.ToString()}});
  }
}

}  // namespace historian::cluster
