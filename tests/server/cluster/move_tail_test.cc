// File: move_tail_test.cc
// MoveTail (step 4 of a shard move, server/cluster/move_tail.h) applies
// only the moving shard's series: a source entry may still carry samples
// of a tag the source no longer knows (a shard that moved away from it
// since), and when the target holds that tag now, those samples are not the
// move's. A real Store as the target and a Replication.Pull on 127.0.0.1
// that answers one scripted record.
#include "server/cluster/move_tail.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/replication.grpc.pb.h"
#include "storage/engine/tag_info.h"
#include "storage/engine/version.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian::cluster {
namespace {

constexpr uint32_t kShards = 8;
constexpr uint32_t kMoving = 5;
constexpr int64_t kT0 = int64_t{1795428000} * 1000000000;  // 2026-11-23T10:00:00Z

// A tag name whose shard is (or is not) `shard`.
std::string NameInShard(absl::string_view stem, uint32_t shard, bool in) {
  for (int n = 0;; ++n) {
    std::string name = absl::StrCat(stem, n);
    if ((TagShard(name, kShards) == shard) == in) return name;
  }
}

// Answers the first Pull message with `entry` as the source's entry 1,
// then "caught up"; the stream stays open until the client ends it.
class OneRecordPull final : public v1::Replication::Service {
 public:
  explicit OneRecordPull(std::string entry) : entry_(std::move(entry)) {}

  grpc::Status Pull(grpc::ServerContext* /*context*/,
                    grpc::ServerReaderWriter<v1::PullResponse, v1::PullRequest>* stream) override {
    v1::PullRequest first;
    if (!stream->Read(&first)) return grpc::Status::OK;
    v1::PullResponse r;
    r.set_site("us");
    r.set_member_id("a");
    r.set_head_sequence(1);
    v1::LogRecord* record = r.add_records();
    record->set_sequence(1);
    record->set_entry(entry_);
    if (!stream->Write(r)) return grpc::Status::OK;
    r.clear_records();
    if (!stream->Write(r)) return grpc::Status::OK;
    v1::PullRequest more;
    while (stream->Read(&more)) {
    }
    return grpc::Status::OK;
  }

 private:
  const std::string entry_;
};

engine::SeriesData OneSample(TagId tag, double v, uint64_t version) {
  engine::SeriesData s;
  s.tag = tag;
  s.cols.Reset(ValueType::kDouble);
  s.cols.timestamps.push_back(kT0);
  s.cols.doubles.push_back(v);
  s.cols.qualities.push_back(0);
  s.cols.versions.push_back(version);
  return s;
}

size_t Samples(const Store& store, const std::string& name) {
  auto t = store.GetTag(name);
  if (!t.ok()) return 0;
  codec::ChunkColumns out;
  EXPECT_TRUE(store.ReadRaw(t->id, kT0, kT0 + 1000000000, 0, &out).ok());
  return out.size();
}

TEST(MoveTailTest, AppliesOnlyTheMovingShardsSeries) {
  historian::testing::TempDir dir;
  StoreOptions o;
  o.path = dir.Sub("target");
  o.site = "us";
  o.sync_writes = false;
  auto opened = Store::Open(std::move(o));
  ASSERT_TRUE(opened.ok()) << opened.status();
  Store& target = **opened;

  // The target holds a tag of the moving shard (from the copy) and one of
  // another shard it owns; the entry also creates a tag of the moving shard.
  const std::string moving = NameInShard("plant.move.m", kMoving, true);
  const std::string other = NameInShard("plant.move.o", kMoving, false);
  const std::string created = NameInShard("plant.move.c", kMoving, true);
  auto m = target.ResolveTagForWrite(moving, ValueType::kDouble);
  auto x = target.ResolveTagForWrite(other, ValueType::kDouble);
  ASSERT_TRUE(m.ok() && x.ok());

  engine::LogEntry entry;
  entry.version = engine::MakeVersion(uint64_t{1800000000}, engine::SiteTag("us"));
  engine::TagInfo info;
  info.name = created;
  info.id = engine::TagIdFromName(created);
  info.type = ValueType::kDouble;
  info.version = entry.version;
  entry.catalog_upserts.push_back(info);
  entry.series.push_back(OneSample(m->id, 1, entry.version));
  entry.series.push_back(OneSample(x->id, 2, entry.version));
  entry.series.push_back(OneSample(info.id, 3, entry.version));
  std::string bytes;
  engine::EncodeLogEntry(entry, &bytes);

  OneRecordPull pull(bytes);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&pull);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::Replication::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  v1::PullRequest first;
  first.set_site("us");
  first.set_member_id("b");
  first.set_shard_move(true);
  first.mutable_filter()->set_num_shards(kShards);
  first.mutable_filter()->add_shards(kMoving);
  {
    grpc::ClientContext context;
    MoveTail tail(&target, stub.get(), &context, first, "move/5/a@1");
    ASSERT_TRUE(tail.RunUntil([](const MoveTail::Progress& p) { return p.caught_up; }).ok());
    EXPECT_EQ(tail.progress().applied, 1u);
    EXPECT_EQ(tail.progress().entries_applied, 1u);
    EXPECT_EQ(tail.TakeTagsDefined(), std::vector<TagId>{info.id}) << "the tag the entry created";
    EXPECT_TRUE(tail.TakeTagsDefined().empty()) << "taken once";
  }
  EXPECT_EQ(Samples(target, moving), 1u);
  EXPECT_EQ(Samples(target, created), 1u);
  EXPECT_EQ(Samples(target, other), 0u) << other << " is of shard " << TagShard(other, kShards)
                                        << ", not the moving shard " << kMoving;
  server->Shutdown();
}

}  // namespace
}  // namespace historian::cluster
