// HeadColumns against plain ChunkColumns: the same samples in, the same
// samples out bit for bit (closed encoded blocks and the raw tail, decimal
// and XOR doubles, delta and delta-of-delta integers, run-length qualities,
// any 64-bit version), and Normalize resolving duplicates like
// engine::Normalize. HeapBytes (what the head bound charges) against the
// heap itself: this binary counts every allocation (operator new below).
#include "storage/engine/head_columns.h"

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <random>

#include "gtest/gtest.h"
#include "storage/engine/columns.h"
#include "tests/testutil/columns_equal.h"

// Every allocation of this binary, counted: the reference HeapBytes is
// checked against. A header in front of each block holds its size.
namespace {
std::atomic<int64_t> g_live_bytes{0};
constexpr size_t kHeader = alignof(std::max_align_t);
void* CountedNew(size_t n) {
  void* p = std::malloc(n + kHeader);
  if (p == nullptr) throw std::bad_alloc();
  *static_cast<size_t*>(p) = n;
  g_live_bytes.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  return static_cast<char*>(p) + kHeader;
}
void CountedDelete(void* q) noexcept {
  if (q == nullptr) return;
  char* p = static_cast<char*>(q) - kHeader;
  g_live_bytes.fetch_sub(static_cast<int64_t>(*reinterpret_cast<size_t*>(p)),
                         std::memory_order_relaxed);
  std::free(p);
}
}  // namespace

void* operator new(size_t n) { return CountedNew(n); }
void* operator new[](size_t n) { return CountedNew(n); }
void operator delete(void* p) noexcept { CountedDelete(p); }
void operator delete[](void* p) noexcept { CountedDelete(p); }
void operator delete(void* p, size_t) noexcept { CountedDelete(p); }
void operator delete[](void* p, size_t) noexcept { CountedDelete(p); }
// The nothrow forms too (std::stable_sort's temporary buffer uses them):
// AddressSanitizer's runtime replaces them itself, so a block they returned
// would reach CountedDelete without a header.
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return CountedNew(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  try {
    return CountedNew(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p, const std::nothrow_t&) noexcept { CountedDelete(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { CountedDelete(p); }

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

// Values that stress each encoding: decimals at several scales, doubles
// that are not decimals (NaN payloads, -0, infinities, denormals, random
// bits), integer extremes, regular and jittered clocks, versions anywhere
// in 64 bits.
// `flavour` < 9: mostly decimals with that one kind sprinkled in (so a
// block of decimals meets each exception alone); 9: every kind mixed.
double EdgeDouble(std::mt19937_64& rng, int flavour) {
  const int kind = flavour == 9 ? static_cast<int>(rng() % 9) : rng() % 8 == 0 ? flavour : 7;
  switch (kind) {
    case 0:
      return static_cast<double>(static_cast<int64_t>(rng() % 2001) - 1000) / 10;
    case 1:
      return static_cast<double>(static_cast<int64_t>(rng() % 200001)) / 1000;
    case 2:
      return std::bit_cast<double>(rng());  // includes NaNs with payloads
    case 3:
      return -0.0;
    case 4:
      return rng() % 2 ? std::numeric_limits<double>::infinity()
                       : -std::numeric_limits<double>::infinity();
    case 5:
      return std::numeric_limits<double>::denorm_min() * static_cast<double>(rng() % 100);
    case 6:
      return 1e15 + static_cast<double>(rng() % 1000) / 10;
    case 7:
      return 20.0 + static_cast<double>(rng() % 7) * 0.1;
    default:
      return std::bit_cast<double>(std::bit_cast<uint64_t>(1.0) + rng() % 3);
  }
}

int64_t EdgeInt(std::mt19937_64& rng, int64_t prev) {
  switch (rng() % 6) {
    case 0:
      return std::numeric_limits<int64_t>::min();
    case 1:
      return std::numeric_limits<int64_t>::max();
    case 2:
      return static_cast<int64_t>(rng());
    case 3:  // wraps at the int64 ends, on purpose (unsigned: no UB)
      return static_cast<int64_t>(static_cast<uint64_t>(prev) + 1);
    default:
      return static_cast<int64_t>(static_cast<uint64_t>(prev) + rng() % 7 - 3);
  }
}

struct Clock {
  int64_t next;
  int64_t step;
};

codec::ChunkColumns EdgeColumns(std::mt19937_64& rng, ValueType type, size_t n, Clock* clock,
                                Version* version, bool late) {
  codec::ChunkColumns c;
  c.Reset(type);
  int64_t prev_int = 0;
  const int flavour = static_cast<int>(rng() % 10);
  for (size_t i = 0; i < n; ++i) {
    int64_t ts = clock->next;
    clock->next += clock->step + (rng() % 8 == 0 ? static_cast<int64_t>(rng() % 1000) : 0);
    if (late && rng() % 6 == 0) ts -= static_cast<int64_t>(rng() % 300) * clock->step;  // late
    if (late && rng() % 10 == 0 && !c.timestamps.empty()) ts = c.timestamps.back();     // same ts
    if (rng() % 200 == 0)
      ts = rng() % 2 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
    c.timestamps.push_back(ts);
    c.qualities.push_back(rng() % 16 == 0 ? static_cast<uint32_t>(rng()) : 0);
    switch (rng() % 10) {
      case 0:
        *version = rng();
        break;  // anywhere
      case 1:
        *version -= rng() % 5000;
        break;  // backwards
      case 2:
        *version += 256;
        break;
      default:
        break;
    }
    c.versions.push_back(*version);
    switch (type) {
      case ValueType::kDouble:
        c.doubles.push_back(EdgeDouble(rng, flavour));
        break;
      case ValueType::kInt64:
        c.ints.push_back(prev_int = EdgeInt(rng, prev_int));
        break;
      case ValueType::kBool:
        c.bools.push_back(rng() % 5 == 0);
        break;
      default:
        c.strings.push_back(std::string(rng() % 40, static_cast<char>(rng())));
        break;
    }
  }
  return c;
}

TEST(HeadColumnsTest, EdgeValuesRoundTripThroughBlocksBitForBit) {
  std::mt19937_64 rng(29);
  for (ValueType type :
       {ValueType::kDouble, ValueType::kInt64, ValueType::kBool, ValueType::kString}) {
    for (bool late : {false, true}) {
      for (int64_t step : {int64_t{1'000'000'000}, int64_t{1}, int64_t{0}}) {
        SCOPED_TRACE(::testing::Message()
                     << "type " << static_cast<int>(type) << " late " << late << " step " << step);
        HeadColumns head(type);
        if (rng() % 2) head.Reserve(rng() % 500);
        codec::ChunkColumns model;
        model.Reset(type);
        Clock clock{int64_t{1'700'000'000} * 1'000'000'000, step};
        Version version = (Version{1'700'000'000} << 8) | 1;
        for (int round = 0; round < 40; ++round) {
          // Batches of one sample (the live path) and of a few hundred.
          const size_t n = rng() % 3 == 0 ? 1 : 1 + rng() % 300;
          codec::ChunkColumns batch = EdgeColumns(rng, type, n, &clock, &version, late);
          head.Append(batch, 0, batch.size());
          AppendSamples(batch, 0, batch.size(), &model);
          ASSERT_EQ(head.size(), model.size());
          codec::ChunkColumns all;
          all.Reset(type);
          head.CopyAll(&all);
          ExpectSameColumns(all, model);
          if (round % 4 == 3 || !late) {
            head.Normalize();
            Normalize(&model);
            ASSERT_EQ(head.size(), model.size());
            all.Reset(type);
            head.CopyAll(&all);
            ExpectSameColumns(all, model);
            int64_t min_ts = model.timestamps.front();
            EXPECT_EQ(head.MinTimestamp(), min_ts);
            for (int k = 0; k < 6; ++k) {
              // Ranges around samples of the model, block edges included.
              const size_t a = rng() % model.size(), b = rng() % model.size();
              // One before / after a sample, saturating at the int64 ends
              // (the model holds extreme timestamps too).
              int64_t start = model.timestamps[std::min(a, b)];
              if (rng() % 2 && start > std::numeric_limits<int64_t>::min()) --start;
              int64_t end = model.timestamps[std::max(a, b)];
              if (rng() % 2 && end < std::numeric_limits<int64_t>::max()) ++end;
              if (k == 0)
                start = std::numeric_limits<int64_t>::min(), end = model.timestamps.back();
              if (k == 1) end = std::numeric_limits<int64_t>::max();
              if (end < start) std::swap(start, end);
              codec::ChunkColumns got, want;
              got.Reset(type);
              want.Reset(type);
              head.CopyRange(start, end, &got);
              AppendRange(model, start, end, &want);
              ExpectSameColumns(got, want);
              // A page: the first max of the range, whether max ends inside
              // a block, at its edge, in the tail or past the range.
              for (size_t max : {size_t{1}, size_t{63}, size_t{64}, size_t{65},
                                 1 + static_cast<size_t>(rng() % (want.size() + 2))}) {
                codec::ChunkColumns page, first;
                page.Reset(type);
                first.Reset(type);
                head.CopyRange(start, end, &page, max);
                AppendSamples(want, 0, std::min(max, want.size()), &first);
                ExpectSameColumns(page, first);
              }
            }
          }
        }
      }
    }
  }
}

// HeapBytes is what the heads really hold on the heap, exactly, through
// appends of every size, blocks closing, late samples, Normalize and
// Reserve: each change of the heap's live bytes across one of them equals
// the change of HeapBytes. (Reads are left out: they keep thread-local
// scratch columns, which no head owns.) A HeapBytes that missed a column,
// the tail strings or a reset would differ here.
TEST(HeadColumnsTest, HeapBytesIsWhatTheHeapHolds) {
  std::mt19937_64 rng(31);
  {
    // The block encoder's thread-local scratch grows to the largest block
    // it met; grow it once, beyond any block below (64 strings of 60).
    HeadColumns warm(ValueType::kString);
    codec::ChunkColumns big;
    big.Reset(ValueType::kString);
    for (int i = 0; i < 64; ++i) {
      big.timestamps.push_back(static_cast<int64_t>(rng()));
      big.strings.push_back(std::string(60, 'x'));
      big.qualities.push_back(static_cast<uint32_t>(rng()));
      big.versions.push_back(rng());
    }
    warm.Append(big, 0, big.size());
  }
  for (ValueType type :
       {ValueType::kDouble, ValueType::kInt64, ValueType::kBool, ValueType::kString}) {
    for (bool late : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "type " << static_cast<int>(type) << " late " << late);
      auto head = std::make_unique<HeadColumns>(type);
      int64_t charged =
          0;  // starts empty: no heap  // the heap's live bytes across the head's changes
      auto change = [&](auto&& op) {
        const int64_t before = g_live_bytes.load();
        const size_t counted_before = head->HeapBytes();
        op();
        charged += g_live_bytes.load() - before;
        EXPECT_EQ(static_cast<int64_t>(head->HeapBytes()) - static_cast<int64_t>(counted_before),
                  g_live_bytes.load() - before);
      };
      Clock clock{int64_t{1'700'000'000} * 1'000'000'000, 1'000'000'000};
      Version version = (Version{1'700'000'000} << 8) | 1;
      for (int round = 0; round < 60; ++round) {
        const size_t n = rng() % 3 == 0 ? 1 : 1 + rng() % 150;
        codec::ChunkColumns batch = EdgeColumns(rng, type, n, &clock, &version, late);
        const size_t begin = rng() % 4 == 0 ? rng() % batch.size() : 0;
        change([&] { head->Append(batch, begin, batch.size()); });
        if (rng() % 7 == 0) change([&] { head->Normalize(); });
        if (rng() % 11 == 0) change([&] { head->Reserve(rng() % 2000); });
        ASSERT_EQ(static_cast<int64_t>(head->HeapBytes()), charged) << "round " << round;
        if (rng() % 5 == 0) {  // reads change nothing the head owns
          codec::ChunkColumns all;
          all.Reset(type);
          head->CopyAll(&all);
        }
      }
      const int64_t before = g_live_bytes.load();
      head.reset();  // everything it held goes, and nothing else
      EXPECT_EQ(before - g_live_bytes.load(), charged + static_cast<int64_t>(sizeof(HeadColumns)));
    }
  }
}

// A 1 Hz analog tag at 0.1 resolution, one sample per log entry (its own
// version), as in the plant presets: a few bytes a sample, index and raw
// tail included, against 20 in plain columns.
TEST(HeadColumnsTest, RegularAnalogSamplesCostAFewBytes) {
  std::mt19937_64 rng(5);
  HeadColumns head(ValueType::kDouble);
  head.Reserve(3600);
  codec::ChunkColumns one;
  double v = 500;
  for (int i = 0; i < 3600; ++i) {
    one.Reset(ValueType::kDouble);
    one.timestamps.push_back(int64_t{1'700'000'000'000'000'000} + int64_t{i} * 1'000'000'000);
    v = std::round((v + static_cast<double>(static_cast<int>(rng() % 5) - 2) / 10) * 10) / 10;
    one.doubles.push_back(v);
    one.qualities.push_back(0);
    one.versions.push_back((Version{1'700'000'000} + static_cast<Version>(i)) << 8 | 1);
    head.Append(one, 0, 1);
  }
  EXPECT_LE(head.HeapBytes(), size_t{3600} * 4);
}

}  // namespace
}  // namespace historian::engine
