// File: lease_fence.cc
#include "server/cluster/lease_fence.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace historian::cluster {

LeaseFence::LeaseFence(std::function<int64_t()> view_revision)
    : view_revision_(std::move(view_revision)) {}

void LeaseFence::Registered(int64_t lease_id, int64_t revision, Clock::time_point alive_until) {
  absl::MutexLock l(&mu_);
  lease_id_ = lease_id;
  registered_revision_ = revision;
  alive_until_ = alive_until;
  lost_reason_.clear();
}

void LeaseFence::Renewed(int64_t lease_id, Clock::time_point alive_until) {
  absl::MutexLock l(&mu_);
  if (lease_id != lease_id_ || !lost_reason_.empty()) return;
  if (alive_until > alive_until_) alive_until_ = alive_until;
}

void LeaseFence::Lost(int64_t lease_id) {
  absl::MutexLock l(&mu_);
  if (lease_id != lease_id_) return;
  alive_until_ = Clock::time_point::min();
  lost_reason_ = absl::StrCat("its lease ", lease_id, " is gone");
}

absl::Status LeaseFence::CheckHeld(Clock::time_point now) const {
  int64_t lease_id = 0;
  int64_t registered_revision = 0;
  {
    absl::MutexLock l(&mu_);
    if (!lost_reason_.empty()) {
      return absl::UnavailableError(
          absl::StrCat("this member holds no etcd lease (", lost_reason_, "; registering again)"));
    }
    if (now >= alive_until_) {
      const auto ago =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - alive_until_).count();
      return absl::UnavailableError(
          absl::StrCat("this member is cut off from etcd: no keep-alive of its lease ", lease_id_,
                       " was answered in time, so etcd may have expired it ", ago,
                       " ms ago (another node may take its shards over without it)"));
    }
    lease_id = lease_id_;
    registered_revision = registered_revision_;
  }
  const int64_t seen = view_revision_();
  if (seen < registered_revision) {
    return absl::UnavailableError(
        absl::StrCat("this member registered again (lease ", lease_id, ", etcd revision ",
                     registered_revision, ") but its placement view has only seen revision ", seen,
                     " (changes made while it had no lease may not be applied yet)"));
  }
  return absl::OkStatus();
}

}  // namespace historian::cluster
