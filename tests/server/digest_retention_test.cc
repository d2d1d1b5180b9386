// File: digest_retention_test.cc
// Anti-entropy digests of tags with a retention (server/digest.h): samples
// older than the retention horizon are never compared, since each site's
// retention drops whole chunks on its own schedule and one site may hold
// what the other dropped. Compared: the bucket grid from the second start
// past the horizon. A real Store in a temp dir.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/digest.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian::server {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kHour = 3600 * kSecond;

TEST(DigestRetentionTest, TheFirstComparedBucketIsTheSecondOnTheGridPastTheHorizon) {
  // Horizon at 90 h: buckets of an hour from 0; 91 h is the first past it,
  // 92 h the one compared.
  EXPECT_EQ(FirstComparedBucket(0, kHour, 100 * kHour, 10 * kHour), 92 * kHour);
  // A horizon on the grid: the next start and one more.
  EXPECT_EQ(FirstComparedBucket(0, kHour, 100 * kHour + kHour / 2, 10 * kHour + kHour / 2),
            92 * kHour);
  // A grid not at 0.
  EXPECT_EQ(FirstComparedBucket(kHour / 4, kHour, 100 * kHour, 10 * kHour), 91 * kHour + kHour / 4);
  // No retention, or a horizon before the range: the range's start.
  EXPECT_EQ(FirstComparedBucket(5 * kHour, kHour, 100 * kHour, 0), 5 * kHour);
  EXPECT_EQ(FirstComparedBucket(95 * kHour, kHour, 100 * kHour, 10 * kHour), 95 * kHour);
  // Far past the end of time: no bucket.
  EXPECT_EQ(FirstComparedBucket(INT64_MIN + 1, INT64_MAX / 2, INT64_MAX, 1), INT64_MAX);
}

TEST(DigestRetentionTest, SamplesPastTheRetentionAreNotDigested) {
  testing::TempDir dir;
  const int64_t now = int64_t{1767225600} * kSecond + 100 * kHour;
  StoreOptions o;
  o.path = dir.Sub("store");
  o.site = "us";
  o.sync_writes = false;
  o.now_ns = [&] { return now; };
  auto store = Store::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  for (const std::string name : {"kept.forever", "kept.ten_hours"}) {
    auto tag = (*store)->ResolveTagForWrite(name, ValueType::kDouble);
    ASSERT_TRUE(tag.ok()) << tag.status();
    if (name == "kept.ten_hours") {
      engine::TagInfo update = *tag;
      update.retention_ns = 10 * kHour;
      ASSERT_TRUE((*store)->UpdateTag(update).ok());
    }
    WriteInput in;
    engine::SeriesData s;
    s.tag = tag->id;
    s.cols.Reset(ValueType::kDouble);
    for (int h = 1; h <= 99; ++h) {  // one sample an hour, 99 h back to 1 h back
      s.cols.timestamps.push_back(now - (100 - h) * kHour);
      s.cols.doubles.push_back(h);
      s.cols.qualities.push_back(0);
    }
    in.series.push_back(std::move(s));
    ASSERT_TRUE((*store)->Write(std::move(in)).ok());
  }
  const int64_t start = now - 100 * kHour;
  v1::DigestResponse digests;
  ASSERT_TRUE(ComputeDigests(store->get(), {}, start, now, kHour, &digests).ok());
  ASSERT_EQ(digests.tags_size(), 2);
  for (const v1::TagDigest& t : digests.tags()) {
    if (t.tag().name() == "kept.forever") {
      EXPECT_EQ(t.buckets_size(), 99);
      continue;
    }
    // The horizon is at start + 90 h: buckets from start + 92 h on.
    ASSERT_EQ(t.buckets_size(), 8) << t.tag().name();
    EXPECT_EQ(t.buckets(0).start_ns(), start + 92 * kHour);
  }
}

}  // namespace
}  // namespace historian::server
