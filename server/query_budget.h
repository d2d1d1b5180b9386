// File: query_budget.h
// QueryBudget: the node-wide budget of query cells (limits.h) held by the
// Aggregate, Interpolate and Plot calls running now. A call takes its
// cells before it allocates anything and gives them back when it ends; a
// call whose cells do not fit fails at once with RESOURCE_EXHAUSTED naming
// --max_query_cells_in_flight (no queueing: the client retries, and a busy
// node never holds a caller past its deadline).
//
// Thread-safety: safe for concurrent use.
#ifndef HISTORIAN_SERVER_QUERY_BUDGET_H_
#define HISTORIAN_SERVER_QUERY_BUDGET_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace historian::server {

class QueryBudget {
 public:
  // `max_cells` 0: no limit.
  explicit QueryBudget(uint64_t max_cells) : max_(max_cells) {}

  // Cells held by one call; given back when destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : owner_(o.owner_), cells_(o.cells_) { o.owner_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();

   private:
    friend class QueryBudget;
    QueryBudget* owner_ = nullptr;
    uint64_t cells_ = 0;
  };

  // Takes `cells` into *lease; ResourceExhausted when they do not fit
  // beside the cells other calls hold.
  absl::Status Acquire(uint64_t cells, Lease* lease);
  // Cells held now.
  uint64_t InUse() const;

 private:
  const uint64_t max_;
  mutable absl::Mutex mu_;
  uint64_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_QUERY_BUDGET_H_
