// Splitting a write batch by cluster owner and joining the owners' acks
// (api/cluster/write_split.h).
#include "api/cluster/write_split.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "gtest/gtest.h"

namespace historian::routing {
namespace {

v1::PlacementResponse ThreeMembers(uint32_t shards) {
  v1::PlacementResponse p;
  p.set_site("us");
  p.set_num_shards(shards);
  for (int m = 0; m < 3; ++m) {
    v1::ClusterMember* member = p.add_members();
    member->set_id(absl::StrCat("us-", m));
    member->set_address(absl::StrCat("127.0.0.1:", 7000 + m));
  }
  for (uint32_t s = 0; s < shards; ++s) p.add_shard_owner(s % 3);
  return p;
}

v1::WriteRequest Batch(int tags) {
  v1::WriteRequest batch;
  batch.set_client_id("gw-1");
  batch.set_batch_sequence(17);
  for (int t = 0; t < tags; ++t) {
    v1::TagSamples* series = batch.add_series();
    series->set_tag(absl::StrCat("us.line1.m", t, ".temp"));
    series->add_samples()->set_timestamp_ns(t);
  }
  return batch;
}

TEST(WriteSplitTest, EverySeriesGoesOnceToItsShardsOwnerInBatchOrder) {
  const v1::PlacementResponse placement = ThreeMembers(256);
  const v1::WriteRequest batch = Batch(1000);
  absl::StatusOr<std::vector<WritePart>> parts = SplitWriteByOwner(batch, placement);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 3u);
  std::set<uint32_t> seen;
  for (const WritePart& part : *parts) {
    EXPECT_EQ(part.request.client_id(), "gw-1");
    EXPECT_EQ(part.request.batch_sequence(), 17u);
    ASSERT_EQ(part.series_index.size(), static_cast<size_t>(part.request.series_size()));
    for (int i = 0; i < part.request.series_size(); ++i) {
      const uint32_t original = part.series_index[i];
      if (i > 0) {
        EXPECT_LT(part.series_index[i - 1], original);
      }  // batch order kept
      EXPECT_TRUE(seen.insert(original).second) << "series " << original << " twice";
      const v1::TagSamples& series = part.request.series(i);
      EXPECT_EQ(series.tag(), batch.series(original).tag());
      EXPECT_EQ(series.samples(0).timestamp_ns(), batch.series(original).samples(0).timestamp_ns());
      EXPECT_EQ(placement.shard_owner(TagShard(series.tag(), 256)), part.owner);
    }
  }
  EXPECT_EQ(seen.size(), 1000u);  // none dropped
}

TEST(WriteSplitTest, PlacementsThatCannotRouteAreRefused) {
  v1::PlacementResponse single;
  single.set_site("us");
  EXPECT_NE(SplitWriteByOwner(Batch(2), single).status().message().find("num_shards is 0"),
            std::string::npos);
  v1::PlacementResponse short_owners = ThreeMembers(4);
  short_owners.mutable_shard_owner()->RemoveLast();
  EXPECT_NE(SplitWriteByOwner(Batch(2), short_owners).status().message().find("shard_owner has 3"),
            std::string::npos);
  v1::PlacementResponse unknown_owner = ThreeMembers(1);
  unknown_owner.set_shard_owner(0, 9);
  EXPECT_NE(SplitWriteByOwner(Batch(2), unknown_owner).status().message().find("owner 9"),
            std::string::npos);
}

TEST(WriteSplitTest, AcksJoinWithOriginalSeriesIndexes) {
  absl::StatusOr<std::vector<WritePart>> parts = SplitWriteByOwner(Batch(30), ThreeMembers(256));
  ASSERT_TRUE(parts.ok());
  std::vector<v1::WriteAck> acks(parts->size());
  uint64_t expected_accepted = 0;
  std::set<uint32_t> rejected_original;
  for (size_t p = 0; p < parts->size(); ++p) {
    acks[p].set_batch_sequence(17);
    acks[p].set_accepted_count(10 + p);
    expected_accepted += 10 + p;
    v1::RejectedSample* r = acks[p].add_rejected();  // the part's last series
    r->set_series_index((*parts)[p].request.series_size() - 1);
    r->set_code(3);
    rejected_original.insert((*parts)[p].series_index.back());
  }
  acks[0].set_duplicate(true);
  v1::WriteAck joined = JoinWriteAcks(*parts, acks);
  EXPECT_EQ(joined.batch_sequence(), 17u);
  EXPECT_EQ(joined.accepted_count(), expected_accepted);
  EXPECT_FALSE(joined.duplicate());  // only one part was a duplicate
  ASSERT_EQ(joined.rejected_size(), 3);
  std::set<uint32_t> got;
  for (int i = 0; i < joined.rejected_size(); ++i) {
    if (i > 0) {
      EXPECT_LT(joined.rejected(i - 1).series_index(), joined.rejected(i).series_index());
    }
    got.insert(joined.rejected(i).series_index());
  }
  EXPECT_EQ(got, rejected_original);

  for (v1::WriteAck& ack : acks) ack.set_duplicate(true);
  EXPECT_TRUE(JoinWriteAcks(*parts, acks).duplicate());
  acks[1].mutable_rejected(0)->set_series_index(999);  // a buggy owner
  v1::WriteAck odd = JoinWriteAcks(*parts, acks);
  bool named = false;
  for (const v1::RejectedSample& r : odd.rejected()) {
    named = named || r.reason().find("rejected series_index 999") != std::string::npos;
  }
  EXPECT_TRUE(named);
}

// W2 (docs/cluster.md): a node without a placement answers num_shards 0; a
// router holding a cluster's placement keeps it, and never goes back to an
// older revision.
TEST(WriteSplitTest, ANodeWithoutAPlacementNeverReplacesAClusterPlacement) {
  v1::PlacementResponse held = ThreeMembers(16);
  held.set_revision(40);
  const v1::PlacementResponse none;  // num_shards 0, revision 0
  EXPECT_TRUE(ReplacesPlacement(nullptr, none));
  EXPECT_TRUE(ReplacesPlacement(nullptr, held));
  EXPECT_FALSE(ReplacesPlacement(&held, none));
  EXPECT_TRUE(ReplacesPlacement(&none, held));  // a site that became a cluster
  v1::PlacementResponse older = held;
  older.set_revision(39);
  EXPECT_FALSE(ReplacesPlacement(&held, older));
  v1::PlacementResponse newer = held;
  newer.set_revision(41);
  EXPECT_TRUE(ReplacesPlacement(&held, newer));
  EXPECT_TRUE(ReplacesPlacement(&held, held));
}

// A part's digest says which slice of the batch it is: the same series in
// any order give the same digest; another set of tags, or another number of
// samples, another one; never 0 (0 is "no digest").
TEST(WriteSplitTest, PartDigestTellsSlicesOfABatchApart) {
  const v1::WriteRequest batch = Batch(6);
  absl::StatusOr<std::vector<WritePart>> parts = SplitWriteByOwner(batch, ThreeMembers(16));
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_GE(parts->size(), 2u);
  std::set<uint64_t> digests;
  for (const WritePart& part : *parts) {
    EXPECT_NE(WritePartDigest(part.request), 0u);
    digests.insert(WritePartDigest(part.request));
  }
  digests.insert(WritePartDigest(batch));
  EXPECT_EQ(digests.size(), parts->size() + 1);  // every slice its own

  v1::WriteRequest reversed = batch;
  std::reverse(reversed.mutable_series()->begin(), reversed.mutable_series()->end());
  EXPECT_EQ(WritePartDigest(reversed), WritePartDigest(batch));
  v1::WriteRequest more = batch;
  more.mutable_series(0)->add_samples()->set_timestamp_ns(99);
  EXPECT_NE(WritePartDigest(more), WritePartDigest(batch));
  EXPECT_NE(WritePartDigest(v1::WriteRequest()), 0u);
}

// Slices a writer cut from one batch (WriteRequest.slice) never share a
// digest, even with equal contents, and keep their index through the
// split by owner (each owner deduplicates its part of each slice).
TEST(WriteSplitTest, SlicesKeepTheirIndexAndNeverShareADigest) {
  v1::WriteRequest first = Batch(6);
  first.set_slice(1);
  v1::WriteRequest second = first;
  second.set_slice(2);
  v1::WriteRequest whole = first;
  whole.set_slice(0);
  EXPECT_NE(WritePartDigest(first), WritePartDigest(second));
  EXPECT_NE(WritePartDigest(first), WritePartDigest(whole));
  EXPECT_EQ(WritePartDigest(first), WritePartDigest(v1::WriteRequest(first)));
  absl::StatusOr<std::vector<WritePart>> parts = SplitWriteByOwner(second, ThreeMembers(16));
  ASSERT_TRUE(parts.ok()) << parts.status();
  for (const WritePart& part : *parts) EXPECT_EQ(part.request.slice(), 2u);
}

}  // namespace
}  // namespace historian::routing
