// File: batcher.h
// Batcher: accumulates samples into one WriteRequest, grouped by tag (in the
// compact columns form where a tag's samples share one value kind), and
// says when the batch is due: when it holds `max_samples` samples, or when
// its first sample is older than `max_delay`.
//
// Thread-safety: not thread-safe; the owner serialises calls.
#ifndef HISTORIAN_CLIENT_BATCHER_H_
#define HISTORIAN_CLIENT_BATCHER_H_

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "historian/v1/ingest.pb.h"

namespace historian::client {

class Batcher {
 public:
  // REQUIRES: max_samples > 0, max_delay >= 0.
  Batcher(size_t max_samples, absl::Duration max_delay)
      : max_samples_(max_samples), max_delay_(max_delay) {}

  // Adds one sample; `now` starts the batch's age when it is the first one.
  void Add(absl::string_view tag, historian::v1::Sample sample, absl::Time now = absl::Now());

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // The batch holds max_samples samples.
  bool Full() const { return size_ >= max_samples_; }
  // Non-empty and either full or older than max_delay at `now`.
  bool Due(absl::Time now) const;
  // When the batch becomes due by age; InfiniteFuture() when empty.
  absl::Time Deadline() const;

  // Returns the batch (series only: client_id and batch_sequence unset) and
  // starts an empty one.
  historian::v1::WriteRequest Take();
  // The batch as Take would return it, kept here: for a caller that must
  // store it first and starts an empty one (Clear) only once it is stored.
  historian::v1::WriteRequest Copy() const;
  // Starts an empty batch.
  void Clear();

 private:
  const size_t max_samples_;
  const absl::Duration max_delay_;
  historian::v1::WriteRequest request_;
  struct Series {
    int index;                  // in request_.series
    int64_t last_timestamp_ns;  // for the next timestamp delta
  };
  absl::flat_hash_map<std::string, Series> series_index_;
  size_t size_ = 0;
  absl::Time first_added_ = absl::InfiniteFuture();
};

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_BATCHER_H_
