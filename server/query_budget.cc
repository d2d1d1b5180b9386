#include "server/query_budget.h"

#include "absl/strings/str_cat.h"

namespace historian::server {

QueryBudget::Lease::~Lease() {
  if (owner_ == nullptr) return;
  absl::MutexLock l(&owner_->mu_);
  owner_->in_use_ -= cells_;
}

absl::Status QueryBudget::Acquire(uint64_t cells, Lease* lease) {
  absl::MutexLock l(&mu_);
  if (max_ != 0 && (cells > max_ || in_use_ > max_ - cells)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("query: ", cells, " cells do not fit: running queries hold ", in_use_,
                     " of the node's ", max_, " (--max_query_cells_in_flight); retry later"));
  }
  in_use_ += cells;
  lease->owner_ = this;
  lease->cells_ = cells;
  return absl::OkStatus();
}

uint64_t QueryBudget::InUse() const {
  absl::MutexLock l(&mu_);
  return in_use_;
}

}  // namespace historian::server
