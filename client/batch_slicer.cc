#include "client/batch_slicer.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/cluster/write_split.h"

namespace historian::client {
namespace {

namespace v1 = historian::v1;

// Kept free under max_message_bytes for what the estimates below leave out.
constexpr uint64_t kByteMargin = 64;

size_t VarintBytes(uint64_t v) {
  size_t n = 1;
  for (; v >= 128; v >>= 7) ++n;
  return n;
}

// Bytes a length-delimited field of `payload` bytes adds to its message
// (field numbers below 16: a one-byte tag).
size_t FieldBytes(size_t payload) { return 1 + VarintBytes(payload) + payload; }

int SamplesOf(const v1::TagSamples& s) {
  return s.samples_size() + s.columns().timestamp_deltas_ns_size();
}

// Whether columns can be cut between samples: exactly one value column,
// with a value per timestamp, and qualities none, one for all, or one per
// sample. Other columns are kept whole (the node rejects each of their
// samples; cutting them could make a piece line up and be stored).
bool CuttableColumns(const v1::SampleColumns& c) {
  const int n = c.timestamp_deltas_ns_size();
  int set = 0;
  int values = 0;
  for (int size : {c.double_values_size(), c.int64_values_size(), c.bool_values_size(),
                   c.string_values_size()}) {
    if (size > 0) ++set, values = size;
  }
  return set == 1 && values == n && (c.qualities_size() <= 1 || c.qualities_size() == n);
}

// At least the bytes sample j of `s` adds to a slice's message.
size_t SampleBytes(const v1::TagSamples& s, int j) {
  if (s.samples_size() > 0) return FieldBytes(s.samples(j).ByteSizeLong());
  const v1::SampleColumns& c = s.columns();
  size_t bytes = 10;  // the timestamp delta (the first of a piece re-based): a varint
  if (c.double_values_size() > 0) bytes += 8;
  if (c.int64_values_size() > 0) bytes += 10;
  if (c.bool_values_size() > 0) bytes += 1;
  if (c.string_values_size() > 0) bytes += FieldBytes(c.string_values(j).size());
  if (c.qualities_size() > 1) bytes += 5;
  return bytes;
}

// At least the bytes a piece of `s` adds besides its samples: the tag, the
// series' and the columns' framing, the packed columns' headers.
size_t SeriesOverheadBytes(const v1::TagSamples& s) { return FieldBytes(s.tag().size()) + 64; }

// Appends samples [begin, end) of `s` to `out`. `base`: the sum of the
// column deltas before `begin` (the timestamp of sample begin - 1), which a
// piece starting later turns into its first, absolute, delta.
void AppendPiece(const v1::TagSamples& s, int begin, int end, uint64_t base, v1::TagSamples* out) {
  out->set_tag(s.tag());
  if (s.samples_size() > 0) {
    out->mutable_samples()->Reserve(end - begin);
    for (int j = begin; j < end; ++j) *out->add_samples() = s.samples(j);
    return;
  }
  const v1::SampleColumns& c = s.columns();
  if (begin == 0 && end == c.timestamp_deltas_ns_size()) {
    *out->mutable_columns() = c;  // whole (also columns that cannot be cut)
    return;
  }
  v1::SampleColumns* piece = out->mutable_columns();
  for (int j = begin; j < end; ++j) {
    // Unsigned sums, as the node adds deltas: a piece decodes to the same
    // timestamps as the whole series.
    const uint64_t delta = static_cast<uint64_t>(c.timestamp_deltas_ns(j));
    piece->add_timestamp_deltas_ns(static_cast<int64_t>(j == begin ? base + delta : delta));
    if (c.double_values_size() > 0) piece->add_double_values(c.double_values(j));
    if (c.int64_values_size() > 0) piece->add_int64_values(c.int64_values(j));
    if (c.bool_values_size() > 0) piece->add_bool_values(c.bool_values(j));
    if (c.string_values_size() > 0) piece->add_string_values(c.string_values(j));
    if (c.qualities_size() > 1) piece->add_qualities(c.qualities(j));
  }
  if (c.qualities_size() == 1) piece->add_qualities(c.qualities(0));
}

std::string LimitsText(const NodeWriteLimits& limits) {
  return absl::StrCat("the node's limits of ", limits.max_samples_per_batch,
                      " samples (--max_samples_per_batch) and ", limits.max_message_bytes,
                      " bytes (--max_message_bytes); 0 = none known");
}

}  // namespace

uint64_t SamplesIn(const v1::WriteRequest& batch) {
  uint64_t n = 0;
  for (const v1::TagSamples& s : batch.series()) n += static_cast<uint64_t>(SamplesOf(s));
  return n;
}

bool OverLimits(const v1::WriteRequest& batch, const NodeWriteLimits& limits) {
  if (limits.max_samples_per_batch > 0 && SamplesIn(batch) > limits.max_samples_per_batch) {
    return true;
  }
  return limits.max_message_bytes > 0 && batch.ByteSizeLong() > limits.max_message_bytes;
}

absl::StatusOr<std::vector<BatchSlice>> SliceBatch(const v1::WriteRequest& batch,
                                                   const NodeWriteLimits& limits) {
  // The node's whole-batch checks (server/write_request.cc, ValidateBatch):
  // such a batch is refused whole, never partly stored.
  for (int i = 0; i < batch.series_size(); ++i) {
    const v1::TagSamples& s = batch.series(i);
    const v1::SampleColumns& c = s.columns();
    if (s.samples_size() > 0 && c.timestamp_deltas_ns_size() > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("series[", i, "]: set samples or columns, not both"));
    }
    if (c.timestamp_deltas_ns_size() == 0 && c.double_values_size() + c.int64_values_size() +
                                                     c.bool_values_size() + c.string_values_size() >
                                                 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("series[", i, "].columns: values without timestamp_deltas_ns"));
    }
  }
  constexpr uint64_t kNone = std::numeric_limits<uint64_t>::max();
  const uint64_t max_samples =
      limits.max_samples_per_batch > 0 ? limits.max_samples_per_batch : kNone;
  const uint64_t max_bytes =
      limits.max_message_bytes > 0
          ? std::max<uint64_t>(limits.max_message_bytes, kByteMargin + 1) - kByteMargin
          : kNone;
  const size_t request_bytes =
      FieldBytes(batch.client_id().size()) + 11 /* batch_sequence */ + 6 /* slice */;

  std::vector<BatchSlice> out;
  BatchSlice current;
  uint64_t samples = 0;
  uint64_t bytes = request_bytes;
  auto close_slice = [&] {
    if (current.request.series_size() == 0) return;
    current.request.set_client_id(batch.client_id());
    current.request.set_batch_sequence(batch.batch_sequence());
    current.request.set_slice(static_cast<uint32_t>(out.size() + 1));
    out.push_back(std::move(current));
    current = BatchSlice();
    samples = 0;
    bytes = request_bytes;
  };
  for (int i = 0; i < batch.series_size(); ++i) {
    const v1::TagSamples& s = batch.series(i);
    const int n = SamplesOf(s);
    const size_t head = SeriesOverheadBytes(s);
    if (n > 0 && s.samples_size() == 0 && !CuttableColumns(s.columns())) {
      const uint64_t whole = head + s.ByteSizeLong();
      if (static_cast<uint64_t>(n) > max_samples || request_bytes + whole > max_bytes) {
        return absl::InvalidArgumentError(
            absl::StrCat("series[", i, "].columns: ", n, " samples in ", whole,
                         " bytes whose columns do not line up (so they cannot be cut) are over ",
                         LimitsText(limits)));
      }
      if (samples + n > max_samples || bytes + whole > max_bytes) close_slice();
      AppendPiece(s, 0, n, 0, current.request.add_series());
      current.origin.push_back({static_cast<uint32_t>(i), 0});
      samples += static_cast<uint64_t>(n);
      bytes += whole;
      continue;
    }
    uint64_t base = 0;  // sum of the column deltas before sample j
    int j = 0;
    do {
      if ((n > 0 && samples >= max_samples) || bytes + head > max_bytes) close_slice();
      size_t piece_bytes = head;
      int end = j;
      while (end < n) {
        const size_t b = SampleBytes(s, end);
        if (samples + static_cast<uint64_t>(end - j) + 1 > max_samples ||
            bytes + piece_bytes + b > max_bytes) {
          break;
        }
        piece_bytes += b;
        ++end;
      }
      if (end == j && n > 0) {
        if (current.request.series_size() == 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "series[", i, "] sample ", j, ": ", request_bytes + head + SampleBytes(s, j),
              " bytes in a message of its own, over ", LimitsText(limits)));
        }
        close_slice();
        continue;
      }
      AppendPiece(s, j, end, base, current.request.add_series());
      current.origin.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(j)});
      samples += static_cast<uint64_t>(end - j);
      bytes += piece_bytes;
      for (int k = j; k < end && s.samples_size() == 0; ++k) {
        base += static_cast<uint64_t>(s.columns().timestamp_deltas_ns(k));
      }
      j = end;
    } while (j < n);
  }
  close_slice();
  return out;
}

v1::WriteAck JoinSliceAcks(uint64_t batch_sequence,
                           const std::vector<std::vector<SliceOrigin>>& origins,
                           const std::vector<uint32_t>& numbers,
                           const std::vector<v1::WriteAck>& acks) {
  const size_t n = std::min({acks.size(), origins.size(), numbers.size()});
  const std::vector<v1::WriteAck> answered(acks.begin(), acks.begin() + static_cast<ptrdiff_t>(n));
  return routing::JoinPieceAcks(batch_sequence, answered, [&](size_t k, v1::RejectedSample* r) {
    if (r->series_index() < origins[k].size()) {
      const SliceOrigin& from = origins[k][r->series_index()];
      r->set_series_index(from.series_index);
      r->set_sample_index(from.first_sample + r->sample_index());
      // The node's reason names the slice's indexes.
      r->set_reason(absl::StrCat("slice ", numbers[k], ": ", r->reason()));
    } else {  // the node named a series the slice does not have: say so
      r->set_reason(absl::StrCat("slice ", numbers[k], ": rejected series_index ",
                                 r->series_index(), " of ", origins[k].size(),
                                 " series: ", r->reason()));
    }
  });
}

}  // namespace historian::client
