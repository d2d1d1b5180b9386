// Tests of client/batch_slicer: random batches of both forms and every value
// type cut under random limits must come back sample for sample (tags,
// absolute timestamps, values, qualities, in batch order), each slice within
// the limits; the joined ack names the batch's own indexes.
#include "client/batch_slicer.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace historian::client {
namespace {

namespace v1 = historian::v1;
using ::testing::HasSubstr;

// One sample as the node reads it: series index in the batch, index in the
// series, tag, absolute timestamp, value, quality.
using Flat = std::tuple<uint32_t, uint32_t, std::string, int64_t, std::string, uint32_t>;

std::string ColumnValue(const v1::SampleColumns& c, int j) {
  v1::Value v;
  if (c.double_values_size() > 0) v.set_double_value(c.double_values(j));
  if (c.int64_values_size() > 0) v.set_int64_value(c.int64_values(j));
  if (c.bool_values_size() > 0) v.set_bool_value(c.bool_values(j));
  if (c.string_values_size() > 0) v.set_string_value(c.string_values(j));
  return v.SerializeAsString();
}

// The samples of `request`, series index and sample index shifted by
// `origin` (empty: the batch itself).
void Flatten(const v1::WriteRequest& request, const std::vector<SliceOrigin>& origin,
             std::vector<Flat>* out) {
  for (int k = 0; k < request.series_size(); ++k) {
    const v1::TagSamples& s = request.series(k);
    const uint32_t series = origin.empty() ? k : origin[k].series_index;
    const uint32_t first = origin.empty() ? 0 : origin[k].first_sample;
    for (int j = 0; j < s.samples_size(); ++j) {
      const v1::Sample& x = s.samples(j);
      out->emplace_back(series, first + j, s.tag(), x.timestamp_ns(), x.value().SerializeAsString(),
                        x.quality());
    }
    const v1::SampleColumns& c = s.columns();
    uint64_t ts = 0;
    for (int j = 0; j < c.timestamp_deltas_ns_size(); ++j) {
      ts += static_cast<uint64_t>(c.timestamp_deltas_ns(j));
      const uint32_t quality = c.qualities_size() == 1  ? c.qualities(0)
                               : c.qualities_size() > 1 ? c.qualities(j)
                                                        : 0;
      out->emplace_back(series, first + j, s.tag(), static_cast<int64_t>(ts), ColumnValue(c, j),
                        quality);
    }
  }
}

v1::WriteRequest RandomBatch(std::mt19937_64& rng) {
  v1::WriteRequest batch;
  batch.set_client_id("slicer-test");
  batch.set_batch_sequence(1 + rng() % 1000);
  const int series = 1 + static_cast<int>(rng() % 30);
  for (int i = 0; i < series; ++i) {
    v1::TagSamples* s = batch.add_series();
    s->set_tag(absl::StrCat("t", rng() % 7, std::string(rng() % 30, 'x')));
    const int n = rng() % 8 == 0 ? 0 : static_cast<int>(rng() % 200);
    const int type = static_cast<int>(rng() % 4);
    const int qualities = static_cast<int>(rng() % 3);  // none, one, per sample
    auto string_value = [&] {
      return std::string(rng() % 300, static_cast<char>('a' + rng() % 26));
    };
    if (rng() % 2 == 0) {
      for (int j = 0; j < n; ++j) {
        v1::Sample* x = s->add_samples();
        x->set_timestamp_ns(static_cast<int64_t>(rng() % 4000000000000000000ULL));
        if (type == 0) x->mutable_value()->set_double_value(static_cast<double>(rng() % 1000) / 7);
        if (type == 1) x->mutable_value()->set_int64_value(static_cast<int64_t>(rng()));
        if (type == 2) x->mutable_value()->set_bool_value(rng() % 2 == 0);
        if (type == 3) x->mutable_value()->set_string_value(string_value());
        if (qualities > 0) x->set_quality(static_cast<uint32_t>(rng() % 300));
      }
      continue;
    }
    v1::SampleColumns* c = s->mutable_columns();
    for (int j = 0; j < n; ++j) {
      // Out of order now and then; the first delta absolute.
      const int64_t delta = j == 0 ? static_cast<int64_t>(rng() % 2000000000000000000ULL)
                                   : static_cast<int64_t>(rng() % 2000000000) - 200000000;
      c->add_timestamp_deltas_ns(delta);
      if (type == 0) c->add_double_values(static_cast<double>(rng() % 1000) / 7);
      if (type == 1) c->add_int64_values(static_cast<int64_t>(rng()));
      if (type == 2) c->add_bool_values(rng() % 2 == 0);
      if (type == 3) c->add_string_values(string_value());
      if (qualities == 2) c->add_qualities(static_cast<uint32_t>(rng() % 300));
    }
    if (qualities == 1 && n > 0) c->add_qualities(static_cast<uint32_t>(rng() % 300));
  }
  return batch;
}

TEST(BatchSlicerTest, RandomBatchesComeBackSampleForSampleWithinTheLimits) {
  std::mt19937_64 rng(20261204);
  for (int round = 0; round < 400; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const v1::WriteRequest batch = RandomBatch(rng);
    NodeWriteLimits limits;
    if (rng() % 4 != 0) limits.max_samples_per_batch = 1 + rng() % 300;
    if (rng() % 4 != 0) limits.max_message_bytes = 1000 + rng() % 30000;
    absl::StatusOr<std::vector<BatchSlice>> slices = SliceBatch(batch, limits);
    ASSERT_TRUE(slices.ok()) << slices.status();
    std::vector<Flat> want;
    Flatten(batch, {}, &want);
    std::vector<Flat> got;
    for (size_t k = 0; k < slices->size(); ++k) {
      const BatchSlice& slice = (*slices)[k];
      EXPECT_EQ(slice.request.slice(), k + 1);
      EXPECT_EQ(slice.request.client_id(), batch.client_id());
      EXPECT_EQ(slice.request.batch_sequence(), batch.batch_sequence());
      ASSERT_EQ(slice.origin.size(), static_cast<size_t>(slice.request.series_size()));
      EXPECT_FALSE(OverLimits(slice.request, limits))
          << "slice " << k + 1 << ": " << SamplesIn(slice.request) << " samples, "
          << slice.request.ByteSizeLong() << " bytes";
      EXPECT_GT(slice.request.series_size(), 0);
      Flatten(slice.request, slice.origin, &got);
    }
    EXPECT_TRUE(got == want) << got.size() << " samples in the slices, " << want.size()
                             << " in the batch";
    if (!OverLimits(batch, limits)) continue;
    EXPECT_GT(slices->size(), 1u);
  }
}

TEST(BatchSlicerTest, TheJoinedAckNamesTheBatchsIndexes) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 100; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const v1::WriteRequest batch = RandomBatch(rng);
    NodeWriteLimits limits;
    limits.max_samples_per_batch = 1 + rng() % 100;
    absl::StatusOr<std::vector<BatchSlice>> slices = SliceBatch(batch, limits);
    ASSERT_TRUE(slices.ok()) << slices.status();
    // The node rejects every fifth sample of each slice; the rest count.
    std::vector<std::vector<SliceOrigin>> origins;
    std::vector<uint32_t> numbers;
    std::vector<v1::WriteAck> acks;
    std::vector<std::pair<uint32_t, uint32_t>> want_rejected;
    uint64_t want_accepted = 0;
    for (const BatchSlice& slice : *slices) {
      origins.push_back(slice.origin);
      numbers.push_back(slice.request.slice());
      v1::WriteAck ack;
      ack.set_batch_sequence(batch.batch_sequence());
      ack.set_duplicate(round % 2 == 0);
      int counter = 0;
      for (int k = 0; k < slice.request.series_size(); ++k) {
        const v1::TagSamples& s = slice.request.series(k);
        const int n = s.samples_size() + s.columns().timestamp_deltas_ns_size();
        for (int j = 0; j < n; ++j) {
          if (++counter % 5 != 0) {
            ack.set_accepted_count(ack.accepted_count() + 1);
            ++want_accepted;
            continue;
          }
          v1::RejectedSample* r = ack.add_rejected();
          r->set_series_index(static_cast<uint32_t>(k));
          r->set_sample_index(static_cast<uint32_t>(j));
          r->set_reason(absl::StrCat("series[", k, "].samples[", j, "]: no"));
          want_rejected.emplace_back(slice.origin[k].series_index,
                                     slice.origin[k].first_sample + static_cast<uint32_t>(j));
        }
      }
      acks.push_back(std::move(ack));
    }
    const v1::WriteAck joined = JoinSliceAcks(batch.batch_sequence(), origins, numbers, acks);
    EXPECT_EQ(joined.batch_sequence(), batch.batch_sequence());
    EXPECT_EQ(joined.accepted_count(), want_accepted);
    EXPECT_EQ(joined.duplicate(), round % 2 == 0);
    std::sort(want_rejected.begin(), want_rejected.end());
    ASSERT_EQ(joined.rejected_size(), static_cast<int>(want_rejected.size()));
    for (int i = 0; i < joined.rejected_size(); ++i) {
      EXPECT_EQ(joined.rejected(i).series_index(), want_rejected[i].first);
      EXPECT_EQ(joined.rejected(i).sample_index(), want_rejected[i].second);
      EXPECT_THAT(joined.rejected(i).reason(), HasSubstr("slice "));
    }
  }
}

TEST(BatchSlicerTest, ABatchTheNodeRefusesWholeIsNotCut) {
  v1::WriteRequest batch;
  for (int i = 0; i < 3; ++i) {
    v1::TagSamples* s = batch.add_series();
    s->set_tag("a");
    for (int j = 0; j < 10; ++j) s->add_samples()->set_timestamp_ns(j);
  }
  batch.mutable_series(2)->mutable_columns()->add_timestamp_deltas_ns(1);
  NodeWriteLimits limits;
  limits.max_samples_per_batch = 4;
  absl::StatusOr<std::vector<BatchSlice>> slices = SliceBatch(batch, limits);
  EXPECT_EQ(slices.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(slices.status().message(), HasSubstr("series[2]: set samples or columns, not both"));

  batch.mutable_series(2)->clear_samples();
  batch.mutable_series(2)->clear_columns();
  batch.mutable_series(2)->mutable_columns()->add_double_values(1);
  slices = SliceBatch(batch, limits);
  EXPECT_EQ(slices.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(slices.status().message(), HasSubstr("series[2].columns: values without"));
}

// Columns that do not line up are never cut (a piece could line up and be
// stored where the node rejects the whole series): kept whole in a slice of
// their own when they fit, the batch refused when they do not.
TEST(BatchSlicerTest, ColumnsThatDoNotLineUpAreKeptWhole) {
  v1::WriteRequest batch;
  v1::TagSamples* good = batch.add_series();
  good->set_tag("good");
  for (int j = 0; j < 6; ++j) good->add_samples()->set_timestamp_ns(j);
  v1::TagSamples* odd = batch.add_series();
  odd->set_tag("odd");
  for (int j = 0; j < 4; ++j) odd->mutable_columns()->add_timestamp_deltas_ns(1);
  for (int j = 0; j < 3; ++j) odd->mutable_columns()->add_double_values(j);
  NodeWriteLimits limits;
  limits.max_samples_per_batch = 4;
  absl::StatusOr<std::vector<BatchSlice>> slices = SliceBatch(batch, limits);
  ASSERT_TRUE(slices.ok()) << slices.status();
  ASSERT_EQ(slices->size(), 3u);  // good[0..4), good[4..6) (odd does not fit beside it), odd
  const BatchSlice& last = slices->back();
  ASSERT_EQ(last.request.series_size(), 1);
  EXPECT_EQ(last.request.series(0).columns().SerializeAsString(),
            odd->columns().SerializeAsString());
  EXPECT_EQ(last.origin[0].series_index, 1u);
  EXPECT_EQ(last.origin[0].first_sample, 0u);

  limits.max_samples_per_batch = 3;
  slices = SliceBatch(batch, limits);
  EXPECT_EQ(slices.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(slices.status().message(), HasSubstr("series[1].columns: 4 samples"));
}

TEST(BatchSlicerTest, OneSampleOverTheMessageLimitIsRefused) {
  v1::WriteRequest batch;
  v1::TagSamples* s = batch.add_series();
  s->set_tag("big");
  s->add_samples()->mutable_value()->set_string_value(std::string(5000, 'x'));
  s->add_samples()->mutable_value()->set_string_value("small");
  NodeWriteLimits limits;
  limits.max_message_bytes = 4096;
  absl::StatusOr<std::vector<BatchSlice>> slices = SliceBatch(batch, limits);
  EXPECT_EQ(slices.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(slices.status().message(), HasSubstr("series[0] sample 0"));
  EXPECT_THAT(slices.status().message(), HasSubstr("--max_message_bytes"));
}

}  // namespace
}  // namespace historian::client
