// Store: the Admin entry points of the background maintenance passes
// (storage/maintenance/compactor.h).
#include "storage/store_impl.h"

namespace historian {

absl::Status Store::ApplyRetention() {
  absl::MutexLock pass(&impl_->seal_mu);
  impl_->compactor->seal_mu().AssertHeld();  // the same mutex
  return impl_->compactor->RetentionPass();
}

absl::Status Store::CompactOverlaps() {
  absl::MutexLock pass(&impl_->seal_mu);
  impl_->compactor->seal_mu().AssertHeld();  // the same mutex
  return impl_->compactor->OverlapPass();
}

}  // namespace historian
