// Store: the Admin entry points of the background maintenance passes
// (storage/maintenance/compactor.h).
#include "storage/store_parts.h"

namespace historian {

absl::Status Store::ApplyRetention() {
  absl::MutexLock pass(&seal_mu_);
  compactor_->seal_mu().AssertHeld();  // the same mutex
  return compactor_->RetentionPass();
}

absl::Status Store::CompactOverlaps() {
  absl::MutexLock pass(&seal_mu_);
  compactor_->seal_mu().AssertHeld();  // the same mutex
  return compactor_->OverlapPass();
}

absl::Status Store::MergeChunks() {
  absl::MutexLock pass(&seal_mu_);
  compactor_->seal_mu().AssertHeld();  // the same mutex
  return compactor_->MergePass(/*force=*/false);
}

}  // namespace historian
