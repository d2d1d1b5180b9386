// HeadColumns against plain ChunkColumns: the same samples in, the same
// samples out (run-length qualities, 32-bit version offsets and their wide
// fall back included), and Normalize resolving duplicates like
// engine::Normalize.
#include "storage/engine/head_columns.h"

#include <random>

#include "gtest/gtest.h"
#include "storage/engine/columns.h"
#include "tests/testutil/columns_equal.h"

namespace historian::engine {
namespace {

codec::ChunkColumns RandomColumns(std::mt19937_64& rng, ValueType type, size_t n,
                                  Version version_spread) {
  codec::ChunkColumns c;
  c.Reset(type);
  const Version base = Version{1'700'000'000} << 8;
  for (size_t i = 0; i < n; ++i) {
    c.timestamps.push_back(static_cast<int64_t>(rng() % 50) - 10);
    c.qualities.push_back(rng() % 4 == 0 ? static_cast<uint32_t>(rng()) : 0);
    c.versions.push_back(base + rng() % version_spread);
    switch (type) {
      case ValueType::kDouble:
        c.doubles.push_back(static_cast<double>(rng() % 1000) / 10);
        break;
      case ValueType::kInt64:
        c.ints.push_back(static_cast<int64_t>(rng()));
        break;
      case ValueType::kBool:
        c.bools.push_back(rng() % 2);
        break;
      default:
        c.strings.push_back(std::string(rng() % 20, 'a' + rng() % 26));
        break;
    }
  }
  return c;
}

using ::historian::testing::ExpectSameColumns;

TEST(HeadColumnsTest, MatchesChunkColumnsThroughAppendsNormalizeAndRanges) {
  std::mt19937_64 rng(11);
  for (ValueType type :
       {ValueType::kDouble, ValueType::kInt64, ValueType::kBool, ValueType::kString}) {
    // Narrow versions stay as offsets; a spread of 2^40 forces the wide form.
    for (Version spread : {Version{1}, Version{5000}, Version{1} << 40}) {
      SCOPED_TRACE(::testing::Message()
                   << "type " << static_cast<int>(type) << " spread " << spread);
      HeadColumns head(type);
      codec::ChunkColumns model;
      model.Reset(type);
      for (int round = 0; round < 20; ++round) {
        codec::ChunkColumns batch = RandomColumns(rng, type, 1 + rng() % 30, spread);
        size_t begin = rng() % batch.size();
        head.Append(batch, begin, batch.size());
        AppendSamples(batch, begin, batch.size(), &model);
        codec::ChunkColumns all;
        all.Reset(type);
        head.CopyAll(&all);
        ExpectSameColumns(all, model);
        if (round % 5 == 4) {
          head.Normalize();
          Normalize(&model);
          for (int64_t start : {-20, -3, 0, 17}) {
            codec::ChunkColumns got, want;
            got.Reset(type);
            want.Reset(type);
            head.CopyRange(start, start + 19, &got);
            AppendRange(model, start, start + 19, &want);
            ExpectSameColumns(got, want);
          }
        }
      }
      HeadColumns copy(type);
      copy.Append(head);
      codec::ChunkColumns a, b;
      a.Reset(type);
      b.Reset(type);
      copy.CopyAll(&a);
      head.CopyAll(&b);
      ExpectSameColumns(a, b);
    }
  }
}

TEST(HeadColumnsTest, RegularDoublesCostTwentyBytesASample) {
  HeadColumns head(ValueType::kDouble);
  codec::ChunkColumns batch;
  batch.Reset(ValueType::kDouble);
  for (int i = 0; i < 1024; ++i) {
    batch.timestamps.push_back(int64_t{i} * 1'000'000'000);
    batch.doubles.push_back(20.0 + i % 7);
    batch.qualities.push_back(0);
    batch.versions.push_back((Version{1'700'000'000} + i) << 8 | 1);
  }
  for (int i = 0; i < 1024; ++i) head.Append(batch, i, i + 1);  // one sample per batch
  // Capacity may round up (vector growth); the per-sample cost is 8 + 8 + 4.
  EXPECT_LE(head.HeapBytes(), 1024 * 20 + 64);
}

}  // namespace
}  // namespace historian::engine
