// File: batcher.cc
#include "client/batcher.h"

#include <utility>

#include "client/sample_columns.h"

namespace historian::client {

void Batcher::Add(absl::string_view tag, historian::v1::Sample sample, absl::Time now) {
  if (size_ == 0) first_added_ = now;
  auto [it, inserted] = series_index_.try_emplace(tag, Series{request_.series_size(), 0});
  if (inserted) request_.add_series()->set_tag(std::string(tag));
  AppendSample(std::move(sample), &it->second.last_timestamp_ns,
               request_.mutable_series(it->second.index));
  ++size_;
}

bool Batcher::Due(absl::Time now) const { return size_ > 0 && (Full() || now >= Deadline()); }

absl::Time Batcher::Deadline() const {
  return size_ == 0 ? absl::InfiniteFuture() : first_added_ + max_delay_;
}

historian::v1::WriteRequest Batcher::Take() {
  for (historian::v1::TagSamples& series : *request_.mutable_series()) FinishSeries(&series);
  historian::v1::WriteRequest out = std::move(request_);
  Clear();
  return out;
}

historian::v1::WriteRequest Batcher::Copy() const {
  historian::v1::WriteRequest out = request_;
  for (historian::v1::TagSamples& series : *out.mutable_series()) FinishSeries(&series);
  return out;
}

void Batcher::Clear() {
  request_.Clear();
  series_index_.clear();
  size_ = 0;
  first_added_ = absl::InfiniteFuture();
}

}  // namespace historian::client
