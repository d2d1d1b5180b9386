// The pure parts of fan-out queries (server/cluster/query_fanout.h,
// list_merge.h): grouping tags by owner, one status from the parts', and
// merging owners' ListTags pages so that paging a cluster gives exactly the
// pages of a single node holding every tag. End to end through real nodes:
// cluster_query_test.cc.
#include "server/cluster/query_fanout.h"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/cluster/list_merge.h"
#include "server/cluster/subscribe_token.h"
#include "server/subscriptions/resume_token.h"
#include "storage/engine/coding.h"

namespace historian::cluster {
namespace {

Placement ThreeMembers() {
  return *Placement::Balanced("us", 16,
                              {{"a", "127.0.0.1:1"}, {"b", "127.0.0.1:2"}, {"c", "127.0.0.1:3"}});
}

google::protobuf::RepeatedPtrField<std::string> Names(const std::vector<std::string>& v) {
  google::protobuf::RepeatedPtrField<std::string> out;
  for (const auto& s : v) *out.Add() = s;
  return out;
}

TEST(PartsByOwnerTest, EveryPositionOnceAtItsOwner) {
  const Placement p = ThreeMembers();
  std::vector<std::string> tags;
  for (int i = 0; i < 200; ++i) tags.push_back(absl::StrCat("plant.line", i % 7, ".t", i));
  tags.push_back(tags[3]);  // a duplicate keeps both positions
  const auto names = Names(tags);
  const std::vector<OwnerPart> parts = PartsByOwner(p, "b", names);
  std::vector<int> seen(tags.size(), 0);
  for (const OwnerPart& part : parts) {
    EXPECT_EQ(part.self, part.member.id == "b");
    EXPECT_TRUE(std::is_sorted(part.positions.begin(), part.positions.end()));
    std::set<uint32_t> shards;
    for (int pos : part.positions) {
      ++seen[static_cast<size_t>(pos)];
      EXPECT_EQ(p.OwnerOfTag(tags[static_cast<size_t>(pos)]).id, part.member.id);
      shards.insert(p.ShardOfTag(tags[static_cast<size_t>(pos)]));
    }
    EXPECT_EQ(std::vector<uint32_t>(shards.begin(), shards.end()), part.shards);
    google::protobuf::RepeatedPtrField<std::string> selected;
    SelectTags(names, part, &selected);
    ASSERT_EQ(selected.size(), static_cast<int>(part.positions.size()));
  }
  for (int n : seen) EXPECT_EQ(n, 1);
  ASSERT_EQ(parts.size(), 3u);  // member order
  EXPECT_EQ(parts[0].member.id, "a");
  EXPECT_EQ(parts[2].member.id, "c");
}

TEST(PartsForAllOwnersTest, EveryOwnerWithAllItsShards) {
  const Placement p = ThreeMembers();
  const auto names = Names({"x.1"});
  const std::vector<OwnerPart> parts = PartsForAllOwners(p, "a", &names);
  ASSERT_EQ(parts.size(), 3u);
  size_t shards = 0, positions = 0;
  for (const OwnerPart& part : parts) {
    EXPECT_EQ(part.shards, p.ShardsOwnedBy(part.member.id));
    shards += part.shards.size();
    positions += part.positions.size();
  }
  EXPECT_EQ(shards, 16u);
  EXPECT_EQ(positions, 1u);
}

TEST(CombineOutcomesTest, UnreachableOwnerNamesItsShardsAndFailsTheCall) {
  OwnerPart self{{"a", "127.0.0.1:1"}, true, {0}, {0, 3}};
  OwnerPart down{{"b", "127.0.0.1:2"}, false, {1, 2}, {1, 4, 7}};
  OwnerPart fine{{"c", "127.0.0.1:3"}, false, {3}, {2}};
  const absl::Status s =
      CombineOutcomes("Query.Aggregate",
                      {{&self, absl::OkStatus()},
                       {&down, absl::UnavailableError("failed to connect to all addresses")},
                       {&fine, absl::NotFoundError("tag 'x' not found")}},
                      {"a", "c"});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("Query.Aggregate"), std::string::npos) << s;
  EXPECT_NE(s.message().find("member b at 127.0.0.1:2 (shards 1, 4, 7; lease not alive)"),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("failed to connect"), std::string::npos) << s;
  EXPECT_NE(s.message().find("no partial answer"), std::string::npos) << s;
}

TEST(CombineOutcomesTest, TheEarliestTagsFailureWinsAndCancelledPartsDoNot) {
  OwnerPart self{{"a", "127.0.0.1:1"}, true, {5}, {0}};
  OwnerPart b{{"b", "127.0.0.1:2"}, false, {0}, {1}};
  OwnerPart c{{"c", "127.0.0.1:3"}, false, {2}, {2}};
  // b was cancelled because c failed: c's error is reported, unchanged.
  absl::Status s = CombineOutcomes("Query.Plot",
                                   {{&self, absl::OkStatus()},
                                    {&b, absl::CancelledError("cancelled")},
                                    {&c, absl::NotFoundError("tag: 'q' not found")}},
                                   {"a", "b", "c"});
  EXPECT_EQ(s, absl::NotFoundError("tag: 'q' not found"));
  s = CombineOutcomes("Query.Plot",
                      {{&self, absl::InvalidArgumentError("functions: bad")},
                       {&b, absl::OkStatus()},
                       {&c, absl::NotFoundError("tag: 'q' not found")}},
                      {"a", "b", "c"});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);  // position 2 before 5
  // A remote's own failure names the member.
  s = CombineOutcomes("Query.Plot", {{&b, absl::InternalError("boom")}}, {"b"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("member b at 127.0.0.1:2"), std::string::npos) << s;
  EXPECT_TRUE(CombineOutcomes("Query.Plot", {{&b, absl::OkStatus()}}, {}).ok());
}

TEST(ShardListTest, LongListsSayHowManyInAll) {
  EXPECT_EQ(ShardList({1, 2, 3}), "1, 2, 3");
  std::vector<uint32_t> many(40);
  for (uint32_t i = 0; i < 40; ++i) many[i] = i * 3;
  const std::string s = ShardList(many, 4);
  EXPECT_EQ(s, "0, 3, 6, 9, ... (40 shards)");
}

// A model owner: its sorted names, answering a ListTags page as the store
// does, ending early after `cut` tags when cut > 0 (its byte limit).
v1::ListTagsResponse OwnerPage(const std::vector<std::string>& names, const std::string& token,
                               uint32_t page_size, size_t cut) {
  v1::ListTagsResponse page;
  auto it = std::upper_bound(names.begin(), names.end(), token);
  size_t limit = cut > 0 ? std::min<size_t>(cut, page_size) : page_size;
  for (; it != names.end() && static_cast<size_t>(page.tags_size()) < limit; ++it) {
    page.add_tags()->set_name(*it);
  }
  if (it != names.end()) page.set_next_page_token(page.tags(page.tags_size() - 1).name());
  return page;
}

// The single node's page: the first page_size names after the token.
std::vector<std::string> SinglePage(const std::vector<std::string>& all, const std::string& token,
                                    uint32_t page_size, std::string* next) {
  std::vector<std::string> out;
  auto it = std::upper_bound(all.begin(), all.end(), token);
  for (; it != all.end() && out.size() < page_size; ++it) out.push_back(*it);
  *next = it == all.end() ? "" : out.back();
  return out;
}

TEST(MergeListPagesTest, PagingAClusterEqualsPagingOneNode) {
  std::mt19937_64 rng(7);
  for (uint32_t page_size : {1u, 2u, 3u, 7u, 50u, 1000u}) {
    for (int owners : {1, 2, 3, 5}) {
      std::vector<std::vector<std::string>> by_owner(static_cast<size_t>(owners));
      std::vector<std::string> all;
      for (int i = 0; i < 137; ++i) {
        std::string name = absl::StrCat("t", rng() % 100000);
        if (std::find(all.begin(), all.end(), name) != all.end()) continue;
        all.push_back(name);
        by_owner[rng() % static_cast<size_t>(owners)].push_back(name);
      }
      std::sort(all.begin(), all.end());
      for (auto& v : by_owner) std::sort(v.begin(), v.end());
      std::string token;
      std::vector<std::string> listed;
      int pages = 0;
      do {
        std::vector<v1::ListTagsResponse> parts;
        for (const auto& names : by_owner) parts.push_back(OwnerPage(names, token, page_size, 0));
        auto merged = MergeListPages(std::move(parts), page_size, 2 << 20);
        ASSERT_TRUE(merged.ok()) << merged.status();
        std::string want_next;
        const std::vector<std::string> want = SinglePage(all, token, page_size, &want_next);
        std::vector<std::string> got;
        for (const auto& t : merged->tags()) got.push_back(t.name());
        ASSERT_EQ(got, want) << "page " << pages << " size " << page_size;
        ASSERT_EQ(merged->next_page_token(), want_next);
        listed.insert(listed.end(), got.begin(), got.end());
        token = merged->next_page_token();
        ASSERT_LT(++pages, 1000);
      } while (!token.empty());
      EXPECT_EQ(listed, all);
    }
  }
}

TEST(MergeListPagesTest, AnOwnerPageCutShortNeverSkipsOrRepeatsATag) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::vector<std::string>> by_owner(3);
    std::vector<std::string> all;
    for (int i = 0; i < 300; ++i) {
      std::string name = absl::StrCat("n", 1000000 + i * 7 + rng() % 5);
      all.push_back(name);
      by_owner[rng() % 3].push_back(name);
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    for (auto& v : by_owner) {
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
    }
    // A name may be in two owners' lists above only by a dice roll; keep one.
    std::set<std::string> seen;
    for (auto& v : by_owner) {
      std::vector<std::string> kept;
      for (auto& n : v) {
        if (seen.insert(n).second) kept.push_back(n);
      }
      v = kept;
    }
    std::string token;
    std::vector<std::string> listed;
    int pages = 0;
    do {
      std::vector<v1::ListTagsResponse> parts;
      for (const auto& names : by_owner) {
        parts.push_back(OwnerPage(names, token, 40, rng() % 3 == 0 ? 1 + rng() % 10 : 0));
      }
      auto merged = MergeListPages(std::move(parts), 40, 2 << 20);
      ASSERT_TRUE(merged.ok()) << merged.status();
      ASSERT_GT(merged->tags_size(), 0);
      for (const auto& t : merged->tags()) listed.push_back(t.name());
      token = merged->next_page_token();
      ASSERT_LT(++pages, 10000);
    } while (!token.empty());
    EXPECT_EQ(listed, all);
  }
}

TEST(MergeListPagesTest, TheByteLimitEndsThePageWithAToken) {
  std::vector<v1::ListTagsResponse> parts(2);
  for (int i = 0; i < 10; ++i) {
    v1::Tag* t = parts[static_cast<size_t>(i % 2)].add_tags();
    t->set_name(absl::StrCat("t", i));
    t->set_description(std::string(100, 'x'));
  }
  auto merged = MergeListPages(std::move(parts), 100, 250);
  ASSERT_TRUE(merged.ok());
  // As on one node: tags are added while the page holds at most 250 bytes.
  EXPECT_EQ(merged->tags_size(), 3);
  EXPECT_EQ(merged->next_page_token(), "t2");
}

TEST(MergeListPagesTest, ABrokenOwnerPageIsAnError) {
  std::vector<v1::ListTagsResponse> parts(1);
  parts[0].add_tags()->set_name("b");
  parts[0].add_tags()->set_name("a");
  EXPECT_EQ(MergeListPages(std::move(parts), 10, 1000).status().code(),
            absl::StatusCode::kInternal);
  std::vector<v1::ListTagsResponse> tokens(1);
  tokens[0].set_next_page_token("x");
  EXPECT_EQ(MergeListPages(std::move(tokens), 10, 1000).status().code(),
            absl::StatusCode::kInternal);
}

TEST(ClusterResumeTokenTest, RoundTripsAndNeverParsesAsASingleNodesToken) {
  ClusterResumeToken token;
  token.members["us-1"] = {server::EncodeResumeToken({{{"us", 7}, {"mx", 3}}, 11}), 0x1234};
  token.members["us-2"] = {std::string("\0\x01"
                                       "binary",
                                       8),
                           UINT64_MAX};
  token.issued_ns = 123456789;
  token.placement_revision = 4242;
  token.placement_since_ns = 98765;
  const std::string bytes = EncodeClusterResumeToken(token);
  EXPECT_FALSE(IsSingleNodeResumeToken(bytes));
  absl::StatusOr<ClusterResumeToken> back = DecodeClusterResumeToken(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->members.size(), 2u);
  for (const auto& [id, m] : token.members) {
    EXPECT_EQ(back->members[id].token, m.token);
    EXPECT_EQ(back->members[id].owned_digest, m.owned_digest);
  }
  EXPECT_EQ(back->issued_ns, token.issued_ns);
  EXPECT_EQ(back->placement_revision, 4242);
  EXPECT_EQ(back->placement_since_ns, 98765);
  EXPECT_TRUE(back->owners_known);
  // Each way round, a token of the other kind is refused, never misread.
  EXPECT_FALSE(server::DecodeResumeToken(bytes).ok());
  const std::string single = token.members["us-1"].token;
  EXPECT_TRUE(IsSingleNodeResumeToken(single));
  EXPECT_EQ(DecodeClusterResumeToken(single).status().code(), absl::StatusCode::kInvalidArgument);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeClusterResumeToken(bytes.substr(0, cut)).ok()) << cut;
  }
}

// A version-2 token (before owners were recorded) still decodes, marked as
// not knowing the owners; an unknown version is refused naming it.
TEST(ClusterResumeTokenTest, AVersion2TokenDecodesWithoutOwners) {
  std::string v2(1, '\x02');
  engine::PutVarint64(1, &v2);
  engine::PutString("us-1", &v2);
  engine::PutString("member-token", &v2);
  engine::PutFixed64(77, &v2);
  absl::StatusOr<ClusterResumeToken> t = DecodeClusterResumeToken(v2);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE(t->owners_known);
  EXPECT_EQ(t->members["us-1"].token, "member-token");
  EXPECT_EQ(t->issued_ns, 77);
  // Version 3: owners, no placement_since_ns (unknown: 0).
  std::string v3(1, '\x03');
  engine::PutVarint64(1, &v3);
  engine::PutString("us-1", &v3);
  engine::PutString("member-token", &v3);
  engine::PutFixed64(0x1234, &v3);
  engine::PutFixed64(77, &v3);
  engine::PutVarint64(12, &v3);
  absl::StatusOr<ClusterResumeToken> t3 = DecodeClusterResumeToken(v3);
  ASSERT_TRUE(t3.ok()) << t3.status();
  EXPECT_TRUE(t3->owners_known);
  EXPECT_EQ(t3->members["us-1"].owned_digest, 0x1234u);
  EXPECT_EQ(t3->placement_revision, 12);
  EXPECT_EQ(t3->placement_since_ns, 0);
  absl::Status v9 = DecodeClusterResumeToken(std::string("\x09", 1)).status();
  EXPECT_EQ(v9.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(v9.message().find("version 9"), std::string::npos) << v9;
}

// The digest says whether a member owns the same covered shards.
TEST(ClusterResumeTokenTest, OwnedShardsDigestChangesOnlyWithTheCoveredOwners) {
  auto make = [](std::vector<uint32_t> owners) {
    return *Placement::Create("us", 4, {{"a", "h:1"}, {"b", "h:2"}}, std::move(owners), 1);
  };
  const Placement p = make({0, 0, 1, 1});
  const Placement moved = make({0, 1, 1, 1});  // shard 1: a -> b
  const std::optional<std::vector<uint32_t>> shard0 = std::vector<uint32_t>{0};
  EXPECT_EQ(OwnedShardsDigest(p, "a", shard0), OwnedShardsDigest(moved, "a", shard0));
  EXPECT_NE(OwnedShardsDigest(p, "a", std::nullopt), OwnedShardsDigest(moved, "a", std::nullopt));
  EXPECT_NE(OwnedShardsDigest(p, "b", std::nullopt), OwnedShardsDigest(moved, "b", std::nullopt));
  EXPECT_NE(OwnedShardsDigest(p, "a", std::nullopt), OwnedShardsDigest(p, "b", std::nullopt));
  EXPECT_NE(OwnedShardsDigest(p, "c", std::nullopt), 0u);
}

}  // namespace
}  // namespace historian::cluster
