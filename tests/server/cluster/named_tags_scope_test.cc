// File: named_tags_scope_test.cc
// Requests naming their tags across a placement change (server/cluster/
// named_tags_scope.h). In process: three members with real stores and
// services on 127.0.0.1 (in_process_members.h). A shard moved from b to d;
// b still holds its old data of the shard (the janitor has not dropped it,
// or its drop failed) and d holds the newer. When the coordinator splits a
// request by the placement before the move, b must refuse its part
// (ABORTED) rather than answer Read, Latest, Aggregate, Interpolate, Plot
// or GetTag from the stale data, or take a CreateTag, UpdateTag or
// DeleteTag that d, the owner, never sees. The same when the member asked
// is the one behind. A member without a placement refuses (UNAVAILABLE);
// once all agree, every call answers with the owner's data. The scope's
// End: a part whose shard leaves the member while it answers refuses.
#include "server/cluster/named_tags_scope.h"

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/rpc_env.h"
#include "tests/server/cluster/in_process_members.h"

namespace historian::cluster {
namespace {

// A coordinator's view that gives `first` to the first `reads` reads after
// Rewind(reads) and `then` to every later one: the coordinator sees a move
// while its call runs, as when its watch delivers the flip while the parts
// are out. (A fan-out reads its placement once before it splits; a call
// about one tag twice: before the attempt and to route it.)
class SeesTheMoveDuringTheCall final : public ClusterView {
 public:
  SeesTheMoveDuringTheCall(std::shared_ptr<const Placement> first,
                           std::shared_ptr<const Placement> then)
      : first_(std::move(first)), then_(std::move(then)) {}
  void Rewind(int reads = 1) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    left_ = reads;
  }
  std::shared_ptr<const Placement> placement() const override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return left_-- > 0 ? first_ : then_;
  }
  std::string self_id() const override { return "c"; }
  std::vector<std::string> alive_members() const override { return {"a", "b", "d"}; }

 private:
  const std::shared_ptr<const Placement> first_, then_;
  mutable absl::Mutex mu_;
  mutable int left_ ABSL_GUARDED_BY(mu_) = 0;
};

class NamedTagsScopeTest : public InProcessMembers {
 protected:
  void SetUp() override {
    InProcessMembers::SetUp();
    for (int n = 0; moved_.empty() || own_.empty() || new_in_moved_.empty(); ++n) {
      const std::string name = absl::StrCat("plant.named.t", n);
      const uint32_t shard = before_->ShardOfTag(name);
      if (shard == kMoved && moved_.empty()) {
        moved_ = name;
      } else if (shard == kMoved && new_in_moved_.empty()) {
        new_in_moved_ = name;
      } else if (shard == 0 && own_.empty()) {
        own_ = name;
      }
    }
    // b's data of the moved shard stopped at the flip; d has what came since.
    WriteSample(kB, moved_, kT0, 1);
    WriteSample(kD, moved_, kT0, 1);
    WriteSample(kD, moved_, kT0 + 1'000'000'000, 2);
    WriteSample(kA, own_, kT0, 7);
  }

  // Each call asked of a (not forwarded): the moved tag, and a's own tag
  // where the call takes several. The status of each, by name.
  std::vector<std::pair<std::string, grpc::Status>> AskEveryCallAtA() {
    return AskEveryCall(ChannelTo(kA));
  }
  // `before(call)` runs before each call.
  std::vector<std::pair<std::string, grpc::Status>> AskEveryCall(
      const std::shared_ptr<grpc::Channel>& channel,
      const std::function<void(const std::string&)>& before = {}) {
    std::vector<std::pair<std::string, grpc::Status>> out;
    auto query = v1::Query::NewStub(channel);
    auto catalog = v1::Catalog::NewStub(channel);
    const int64_t end = kT0 + 2'000'000'000;
    {
      v1::ReadRequest r;
      r.add_tags(moved_);
      r.add_tags(own_);
      r.set_start_ns(kT0);
      r.set_end_ns(end);
      if (before) before("Read");
      grpc::ClientContext c;
      auto reader = query->Read(&c, r);
      v1::ReadResponse piece;
      read_samples_ = 0;
      while (reader->Read(&piece)) {
        if (piece.tag() == moved_) read_samples_ += piece.samples_size();
      }
      out.emplace_back("Read", reader->Finish());
    }
    {
      v1::LatestRequest r;
      r.add_tags(moved_);
      grpc::ClientContext c;
      v1::LatestResponse response;
      if (before) before("Latest");
      out.emplace_back("Latest", query->Latest(&c, r, &response));
      latest_value_ =
          response.values_size() == 1 ? response.values(0).sample().value().double_value() : 0;
    }
    {
      v1::AggregateRequest r;
      r.add_tags(moved_);
      r.add_tags(own_);
      r.set_start_ns(kT0);
      r.set_end_ns(end);
      r.set_step_ns(end - kT0);
      r.add_functions(v1::COUNT);
      grpc::ClientContext c;
      v1::AggregateResponse response;
      if (before) before("Aggregate");
      out.emplace_back("Aggregate", query->Aggregate(&c, r, &response));
    }
    {
      v1::InterpolateRequest r;
      r.add_tags(moved_);
      r.set_start_ns(kT0);
      r.set_end_ns(end);
      r.set_step_ns(500'000'000);
      r.set_method(v1::PREVIOUS);
      grpc::ClientContext c;
      v1::InterpolateResponse response;
      if (before) before("Interpolate");
      out.emplace_back("Interpolate", query->Interpolate(&c, r, &response));
    }
    {
      v1::PlotRequest r;
      r.add_tags(moved_);
      r.set_start_ns(kT0);
      r.set_end_ns(end);
      r.set_buckets(4);
      grpc::ClientContext c;
      v1::PlotResponse response;
      if (before) before("Plot");
      out.emplace_back("Plot", query->Plot(&c, r, &response));
    }
    {
      v1::GetTagRequest r;
      r.set_name(moved_);
      grpc::ClientContext c;
      v1::Tag response;
      if (before) before("GetTag");
      out.emplace_back("GetTag", catalog->GetTag(&c, r, &response));
    }
    return out;
  }

  std::vector<std::pair<std::string, grpc::Status>> ChangeEveryTagAtA() {
    return ChangeEveryTagAt(ChannelTo(kA));
  }
  std::vector<std::pair<std::string, grpc::Status>> ChangeEveryTagAt(
      const std::shared_ptr<grpc::Channel>& channel, const std::function<void()>& before = {}) {
    std::vector<std::pair<std::string, grpc::Status>> out;
    auto catalog = v1::Catalog::NewStub(channel);
    {
      v1::UpdateTagRequest r;
      r.mutable_tag()->set_name(moved_);
      r.mutable_tag()->set_unit("degC");
      grpc::ClientContext c;
      v1::Tag response;
      if (before) before();
      out.emplace_back("UpdateTag", catalog->UpdateTag(&c, r, &response));
    }
    {
      v1::CreateTagRequest r;
      r.mutable_tag()->set_name(new_in_moved_);
      r.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
      grpc::ClientContext c;
      v1::Tag response;
      if (before) before();
      out.emplace_back("CreateTag", catalog->CreateTag(&c, r, &response));
    }
    {
      v1::DeleteTagRequest r;
      r.set_name(moved_);
      grpc::ClientContext c;
      v1::DeleteTagResponse response;
      if (before) before();
      out.emplace_back("DeleteTag", catalog->DeleteTag(&c, r, &response));
    }
    return out;
  }

  std::string moved_;         // in kMoved, at b (stale) and d
  std::string new_in_moved_;  // in kMoved, nowhere yet
  std::string own_;           // in shard 0, a's throughout
  int read_samples_ = 0;
  double latest_value_ = 0;
};

TEST_F(NamedTagsScopeTest, AMemberThatHandedItsShardOnRefusesInsteadOfAnsweringFromItsOldData) {
  // a (the coordinator) has not seen the flip; b and d have. a sends b the
  // moved tag: b's data of it ended at the flip.
  members_[kB].view->Set(after_);
  members_[kD].view->Set(after_);
  for (const auto& [call, s] : AskEveryCallAtA()) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED)
        << call << " answered from b's old data: " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "the placement changed"))
        << call << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "member 'd'"))
        << call << ": " << s.error_message();
  }
  // A change made at b would be acknowledged and never reach d.
  for (const auto& [call, s] : ChangeEveryTagAtA()) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED)
        << call << " was done at b, which no longer owns the tag: " << s.error_message();
  }
  auto at_b = members_[kB].store->GetTag(moved_);
  ASSERT_TRUE(at_b.ok()) << "b deleted the tag: " << at_b.status();
  EXPECT_EQ(at_b->unit, "");
  EXPECT_FALSE(members_[kB].store->GetTag(new_in_moved_).ok()) << "b created the tag";

  // The other way round: a saw the flip, d did not (its view still gives
  // the shard to b): d refuses the part rather than answer as a non-owner.
  members_[kA].view->Set(after_);
  members_[kD].view->Set(before_);
  for (const auto& [call, s] : AskEveryCallAtA()) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << call << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "member 'b'"))
        << call << ": " << s.error_message();
  }

  // Everyone on the new placement: every call is answered with d's data.
  members_[kD].view->Set(after_);
  for (const auto& [call, s] : AskEveryCallAtA()) {
    EXPECT_TRUE(s.ok()) << call << ": " << s.error_message();
  }
  EXPECT_EQ(read_samples_, 2);
  EXPECT_EQ(latest_value_, 2);
  for (const auto& [call, s] : ChangeEveryTagAtA()) {
    EXPECT_TRUE(s.ok()) << call << ": " << s.error_message();
  }
  EXPECT_FALSE(members_[kD].store->GetTag(moved_).ok()) << "the delete did not reach d";
  EXPECT_TRUE(members_[kD].store->GetTag(new_in_moved_).ok()) << "the create did not reach d";
}

TEST_F(NamedTagsScopeTest, ACoordinatorThatSeesTheMoveDuringTheCallAsksAgainByIt) {
  // Every member on the new placement; coordinator c (no shards of its
  // own) splits each call by the old one, so b refuses its part; by then
  // c's view has the move, and c asks d instead. The client sees no error.
  for (Member& m : members_) m.view->Set(after_);
  SeesTheMoveDuringTheCall view(before_, after_);
  Member c;
  ASSERT_NO_FATAL_FAILURE(Start("c", &view, &c));
  for (const auto& [call, s] : AskEveryCall(ChannelTo(c), [&](const std::string& call) {
         // A call about one tag reads the placement once more first.
         view.Rewind(call == "GetTag" ? 2 : 1);
       })) {
    EXPECT_TRUE(s.ok()) << call << ": " << s.error_message();
  }
  EXPECT_EQ(read_samples_, 2);
  EXPECT_EQ(latest_value_, 2);
  for (const auto& [call, s] : ChangeEveryTagAt(ChannelTo(c), [&] { view.Rewind(2); })) {
    EXPECT_TRUE(s.ok()) << call << ": " << s.error_message();
  }
  EXPECT_FALSE(members_[kD].store->GetTag(moved_).ok()) << "the delete did not reach d";
  EXPECT_TRUE(members_[kD].store->GetTag(new_in_moved_).ok()) << "the create did not reach d";
  EXPECT_TRUE(members_[kB].store->GetTag(moved_).ok()) << "b took the delete";
  // A listing split by the old placement: b's shards differ; asked again.
  view.Rewind();
  v1::ListTagsRequest list;
  list.set_glob("plant.named.*");
  grpc::ClientContext ctx;
  v1::ListTagsResponse listed;
  grpc::Status s = v1::Catalog::NewStub(ChannelTo(c))->ListTags(&ctx, list, &listed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::set<std::string> names;
  for (const v1::Tag& t : listed.tags()) names.insert(t.name());
  EXPECT_EQ(names, (std::set<std::string>{own_, new_in_moved_}));  // after the changes above
  // A Read that streamed a piece before the refusal (a's tag first) is not
  // asked again: the client has part of it.
  view.Rewind();
  v1::ReadRequest read;
  read.add_tags(own_);
  read.add_tags(moved_);
  read.set_start_ns(kT0);
  read.set_end_ns(kT0 + 2'000'000'000);
  grpc::ClientContext read_ctx;
  auto reader = v1::Query::NewStub(ChannelTo(c))->Read(&read_ctx, read);
  v1::ReadResponse piece;
  int pieces = 0;
  while (reader->Read(&piece)) ++pieces;
  EXPECT_EQ(pieces, 1);
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::ABORTED);
  // A view that does not change (the member is the one behind) is not
  // asked again: the call ends ABORTED.
  StaticClusterView behind("c", before_);
  Member c2;
  ASSERT_NO_FATAL_FAILURE(Start("c2", &behind, &c2));
  for (const auto& [call, s2] : AskEveryCall(ChannelTo(c2))) {
    EXPECT_EQ(s2.error_code(), grpc::StatusCode::ABORTED) << call << ": " << s2.error_message();
  }
  Stop(&c);
  Stop(&c2);
}

TEST_F(NamedTagsScopeTest, TheNewOwnerRefusesEveryReadOfTheShardUntilItOpensIt) {
  // The flip gave the shard to d, whose copy may still lack what the tail
  // has not brought (closed until the fence): every read, GetTag too, is
  // UNAVAILABLE rather than an answer from the incomplete copy.
  for (Member& m : members_) m.view->Set(after_);
  ASSERT_TRUE(
      members_[kD].store->CloseShardToWrites(kMoved, kShards, "taking the shard over").ok());
  for (const auto& [call, s] : AskEveryCallAtA()) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << call << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "taking the shard over"))
        << call << ": " << s.error_message();
  }
  ASSERT_TRUE(members_[kD].store->OpenShardToWrites(kMoved, 0).ok());
  for (const auto& [call, s] : AskEveryCallAtA()) {
    EXPECT_TRUE(s.ok()) << call << ": " << s.error_message();
  }
}

TEST_F(NamedTagsScopeTest, AMemberWithoutAPlacementRefusesACoordinatorsPart) {
  members_[kA].view->Set(after_);
  members_[kB].view->Set(after_);
  members_[kD].view->Set(nullptr);
  for (const auto& [call, s] : AskEveryCallAtA()) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << call << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "has no placement yet"))
        << call << ": " << s.error_message();
  }
}

TEST_F(NamedTagsScopeTest, APartWhoseShardLeavesTheMemberWhileItAnswersRefuses) {
  // b's own part (asked directly, with member channels: the coordinator's
  // part) of the moved tag, split by the placement before the move.
  server::ServiceEnv env = Env(kB);
  grpc::ServerContext context;
  google::protobuf::RepeatedPtrField<std::string> tags;
  *tags.Add() = moved_;
  int ran = 0;
  EXPECT_TRUE(RunNamedTagsPart(env, context, "Query.Read", tags, [&] {
                ++ran;
                return absl::OkStatus();
              }).ok());
  // The shard left b during the answer (the janitor could drop it under
  // the scan).
  absl::Status s = RunNamedTagsPart(env, context, "Query.Read", tags, [&] {
    ++ran;
    members_[kB].view->Set(after_);
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "shard 5 is no longer this member's")) << s;
  EXPECT_EQ(ran, 2);
  // Gone before the part: not run.
  s = RunNamedTagsPart(env, context, "Query.Read", tags, [&] {
    ++ran;
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_EQ(ran, 2);
  // A change that leaves the part's shards alone does not refuse.
  members_[kB].view->Set(before_);
  EXPECT_TRUE(RunNamedTagsPart(env, context, "Query.Read", tags, [&] {
                members_[kB].view->Set(Make(false, 12));
                return absl::OkStatus();
              }).ok());
  // A part's own failure is its answer.
  members_[kB].view->Set(before_);
  s = RunNamedTagsPart(env, context, "Query.Read", tags,
                       [] { return absl::NotFoundError("no such tag"); });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
}

}  // namespace
}  // namespace historian::cluster
