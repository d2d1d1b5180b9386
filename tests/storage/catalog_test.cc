// Catalog (storage/catalog/): lookups by name and id, removal into the
// graveyard, name-ordered scans, the conflict rule of catalog upserts, the
// reservation of names being created, loading from the catalog column
// family, and the tag definition rules. No Store: a record of the test's
// own and a temp RocksDB.
#include "storage/catalog/catalog.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "storage/catalog/tag_rules.h"
#include "storage/engine/rocks_db.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using engine::TagInfo;

// A record with a field of another part, as the store's TagState.
struct Record : CatalogEntry {
  int other = 0;
};

TagInfo Info(const std::string& name, ValueType type = ValueType::kDouble, Version version = 1) {
  TagInfo info;
  info.name = name;
  info.type = type;
  info.id = engine::TagIdFromName(name);
  info.version = version;
  return info;
}

class CatalogTest : public ::testing::Test {
 protected:
  // Adds a tag under mu.
  Record* Add(const TagInfo& info) {
    absl::MutexLock l(&mu_);
    return catalog_.Upsert(info);
  }

  absl::Mutex mu_;
  Catalog<Record> catalog_{mu_};
};

TEST_F(CatalogTest, FindsByNameAndId) {
  Record* a = Add(Info("plant.a"));
  a->other = 7;
  EXPECT_TRUE(catalog_.Has("plant.a"));
  EXPECT_FALSE(catalog_.Has("plant.b"));
  TagInfo info;
  ASSERT_TRUE(catalog_.Lookup("plant.a", &info));
  EXPECT_EQ(info.id, engine::TagIdFromName("plant.a"));
  EXPECT_FALSE(catalog_.Lookup("plant.b", &info));
  EXPECT_TRUE(catalog_.Get("plant.a").ok());
  EXPECT_EQ(catalog_.Get("plant.b").status().message(), "tag 'plant.b' not found");
  absl::MutexLock l(&mu_);
  EXPECT_EQ(catalog_.Find(engine::TagIdFromName("plant.a")), a);
  EXPECT_EQ(catalog_.Find(engine::TagIdFromName("plant.b")), nullptr);
  EXPECT_EQ(catalog_.FindByName("plant.a")->other, 7);
  EXPECT_EQ(catalog_.size(), 1u);
}

TEST_F(CatalogTest, UpsertReplacesTheDefinitionInPlace) {
  Record* a = Add(Info("a", ValueType::kDouble, 1));
  TagInfo newer = Info("a", ValueType::kDouble, 2);
  newer.unit = "bar";
  EXPECT_EQ(Add(newer), a);
  EXPECT_EQ(catalog_.Get("a")->unit, "bar");
}

TEST_F(CatalogTest, RemovedRecordsStayAliveInTheGraveyard) {
  Record* a = Add(Info("a"));
  Add(Info("b"));
  absl::MutexLock l(&mu_);
  EXPECT_EQ(catalog_.Remove("a"), a);
  EXPECT_TRUE(a->deleted());  // still readable
  EXPECT_EQ(a->name(), "a");
  EXPECT_EQ(catalog_.Remove("a"), nullptr);
  EXPECT_EQ(catalog_.FindByName("a"), nullptr);
  EXPECT_EQ(catalog_.Find(engine::TagIdFromName("a")), nullptr);
  EXPECT_EQ(catalog_.size(), 1u);
  size_t seen = 0;
  catalog_.ForEach([&](TagId id, const Record& r) {
    EXPECT_EQ(id, r.id());
    ++seen;
  });
  EXPECT_EQ(seen, 1u);
}

// The record keeps the rarely set fields apart (issue 16): every field of
// the definition comes back as given, with and without them, also after an
// upsert drops them again; and the records and names stay put while
// thousands more are added (the arenas grow by blocks).
TEST_F(CatalogTest, CompactRecordsKeepEveryFieldAndStayPut) {
  TagInfo full = Info("plant.full", ValueType::kInt64, 5);
  full.unit = "kg";
  full.description = std::string(100, 'd');
  full.origin_site = "east";
  full.attributes = {{"area", "north"}, {"line", "7"}};
  full.retention_ns = 1000;
  full.deadband = 0.5;
  full.created_ns = 42;
  full.eng_low = -1;
  full.eng_high = 9;
  full.stale_after_ns = 77;
  Record* f = Add(full);
  TagInfo plain = Info(std::string(engine::kMaxTagNameBytes, 'p'), ValueType::kString, 3);
  plain.origin_site = "east";
  plain.created_ns = 7;
  Record* p = Add(plain);
  std::vector<Record*> more;
  for (int i = 0; i < 5000; ++i) more.push_back(Add(Info("m" + std::to_string(i))));
  EXPECT_EQ(*catalog_.Get("plant.full"), full);
  EXPECT_EQ(*catalog_.Get(plain.name), plain);
  {
    absl::MutexLock l(&mu_);
    EXPECT_EQ(catalog_.FindByName("plant.full"), f);
    EXPECT_EQ(catalog_.Find(plain.id), p);
    EXPECT_EQ(f->exception_deadband(), 0.5);
    EXPECT_EQ(f->retention_ns(), 1000);
    EXPECT_EQ(p->exception_deadband(), 0);
    EXPECT_GT(catalog_.MemoryBytes(), 5002 * sizeof(Record));
  }
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(more[i]->name(), "m" + std::to_string(i));
    ASSERT_EQ(more[i]->id(), engine::TagIdFromName("m" + std::to_string(i)));
  }
  TagInfo cleared = Info("plant.full", ValueType::kInt64, 6);
  cleared.origin_site = "east";
  cleared.created_ns = 42;
  EXPECT_EQ(Add(cleared), f);
  EXPECT_EQ(*catalog_.Get("plant.full"), cleared);
  // Removed and created again: a new record; the old one keeps its name.
  absl::MutexLock l(&mu_);
  EXPECT_EQ(catalog_.Remove("plant.full"), f);
  Record* again = catalog_.Upsert(full);
  EXPECT_NE(again, f);
  EXPECT_EQ(f->name(), "plant.full");
  EXPECT_EQ(catalog_.Find(full.id), again);
  EXPECT_EQ(again->Info(), full);
}

TEST_F(CatalogTest, ScansInNameOrderAcrossSlices) {
  // More than one slice (256 tags) of catalog_mu.
  for (int i = 999; i >= 0; --i) Add(Info("t" + std::to_string(1000 + i)));
  std::vector<std::string> names;
  EXPECT_FALSE(catalog_.Scan("t1499", nullptr, [&](std::string_view name, const Record&) {
    names.emplace_back(name);
    return true;
  }));
  ASSERT_EQ(names.size(), 500u);
  EXPECT_EQ(names.front(), "t1500");
  EXPECT_EQ(names.back(), "t1999");
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  names.clear();
  EXPECT_FALSE(catalog_.Scan("", nullptr, [&](std::string_view name, const Record&) {
    names.emplace_back(name);
    return names.size() < 3;  // stops the scan
  }));
  EXPECT_EQ(names, (std::vector<std::string>{"t1000", "t1001", "t1002"}));
  // Cancelled between slices.
  size_t visited = 0;
  int polls = 0;
  EXPECT_TRUE(catalog_.Scan(
      "", [&] { return ++polls > 1; },
      [&](std::string_view, const Record&) {
        ++visited;
        return true;
      }));
  EXPECT_EQ(visited, 256u);
}

class CatalogDbTest : public CatalogTest {
 protected:
  void SetUp() override {
    auto db = engine::RocksDb::Open(dir_.Sub("db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
  }
  // PrepareUpserts under mu, the batch written, the accepted ones applied.
  std::vector<TagInfo> Prepare(std::vector<TagInfo> upserts, Version tombstone = 0,
                               Version entry_version = 0) {
    rocksdb::WriteBatch batch;
    absl::MutexLock l(&mu_);
    catalog_.PrepareUpserts(
        &upserts, [&](TagId) { return tombstone; }, &batch, db_->catalog(), entry_version);
    EXPECT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
    for (const TagInfo& info : upserts) catalog_.Upsert(info);
    return upserts;
  }
  uint64_t Conflicts() {
    absl::MutexLock l(&mu_);
    return catalog_.conflicts();
  }

  testing::TempDir dir_;
  std::unique_ptr<engine::RocksDb> db_;
};

// A tie (same version, another content: two changes in one second) goes
// to the upsert when its entry stamped it (the log's order), but not when a
// later entry restates it (a move target's announce of an older content).
TEST_F(CatalogDbTest, ARestatedDefinitionNeverWinsATie) {
  TagInfo updated = Info("a", ValueType::kDouble, 10);
  updated.unit = "bar";
  ASSERT_EQ(Prepare({updated}, 0, /*entry_version=*/10).size(), 1u);
  TagInfo older_content = Info("a", ValueType::kDouble, 10);
  EXPECT_TRUE(Prepare({older_content}, 0, /*entry_version=*/25).empty());
  EXPECT_EQ(catalog_.Get("a")->unit, "bar");
  // Restated and newer than what is held: taken.
  TagInfo newer = Info("a", ValueType::kDouble, 12);
  newer.unit = "psi";
  ASSERT_EQ(Prepare({newer}, 0, /*entry_version=*/25).size(), 1u);
  EXPECT_EQ(catalog_.Get("a")->unit, "psi");
  // Stamped by its own entry: the tie is taken (a later change of the
  // same second in the same log).
  TagInfo same_second = Info("a", ValueType::kDouble, 12);
  same_second.unit = "kPa";
  ASSERT_EQ(Prepare({same_second}, 0, /*entry_version=*/12).size(), 1u);
  EXPECT_EQ(catalog_.Get("a")->unit, "kPa");
  // A restated tag unknown here is created.
  EXPECT_EQ(Prepare({Info("b", ValueType::kDouble, 3)}, 0, /*entry_version=*/25).size(), 1u);
}

TEST_F(CatalogDbTest, UpsertsLastWriterWinsAndConflictsAreCounted) {
  TagInfo a = Info("a", ValueType::kDouble, 10);
  a.created_ns = 5;
  a.origin_site = "east";
  ASSERT_EQ(Prepare({a}).size(), 1u);
  // Newer metadata wins and keeps the creation time and origin.
  TagInfo newer = Info("a", ValueType::kDouble, 20);
  newer.unit = "bar";
  newer.origin_site = "west";
  std::vector<TagInfo> accepted = Prepare({newer});
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].created_ns, 5);
  EXPECT_EQ(accepted[0].origin_site, "east");
  // Older metadata loses, silently.
  EXPECT_TRUE(Prepare({Info("a", ValueType::kDouble, 15)}).empty());
  EXPECT_EQ(Conflicts(), 0u);
  // Another type: the local definition stays, counted.
  EXPECT_TRUE(Prepare({Info("a", ValueType::kInt64, 30)}).empty());
  EXPECT_EQ(Conflicts(), 1u);
  // Another name with the same id: counted.
  TagInfo clash = Info("z", ValueType::kDouble, 30);
  clash.id = a.id;
  EXPECT_TRUE(Prepare({clash}).empty());
  EXPECT_EQ(Conflicts(), 2u);
  // At or below the tag's tombstone: not created again.
  EXPECT_TRUE(Prepare({Info("b", ValueType::kDouble, 7)}, /*tombstone=*/7).empty());
  EXPECT_EQ(catalog_.Get("a")->unit, "bar");

  // What was put loads back into a new catalog.
  absl::Mutex mu2;
  Catalog<Record> loaded(mu2);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->catalog()));
  int calls = 0;
  absl::MutexLock l(&mu2);
  ASSERT_TRUE(loaded.Load(it.get(), [&](Record& r) { r.other = ++calls; }).ok());
  EXPECT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded.FindByName("a")->Info().unit, "bar");
  EXPECT_EQ(loaded.FindByName("a")->other, 1);
}

TEST_F(CatalogTest, ReserveRefusesTakenNamesAndIds) {
  Add(Info("a"));
  absl::MutexLock l(&mu_);
  EXPECT_TRUE(absl::IsAlreadyExists(catalog_.Reserve(Info("a"))));
  TagInfo clash = Info("z");
  clash.id = engine::TagIdFromName("a");
  absl::Status s = catalog_.Reserve(clash);
  EXPECT_TRUE(absl::IsFailedPrecondition(s));
  EXPECT_EQ(s.message(), "tag 'z' has the same id as 'a'; rename it");
  ASSERT_TRUE(catalog_.Reserve(Info("b")).ok());
  EXPECT_TRUE(catalog_.IsCreating("b"));
  catalog_.EndCreating({Info("b")});
  EXPECT_FALSE(catalog_.IsCreating("b"));
}

TEST_F(CatalogTest, ReserveWaitsForACreationOfTheSameName) {
  {
    absl::MutexLock l(&mu_);
    catalog_.BeginCreating("a");
  }
  absl::Status second;
  // Whether it reaches Reserve before or after the creation ends, it finds
  // the tag.
  std::thread t([&] {
    absl::MutexLock l(&mu_);
    second = catalog_.Reserve(Info("a"));
  });
  {
    absl::MutexLock l(&mu_);
    catalog_.Upsert(Info("a"));
    catalog_.EndCreating({Info("a")});
  }
  t.join();
  EXPECT_TRUE(absl::IsAlreadyExists(second)) << second;
}

TEST(TagRulesTest, NewTags) {
  EXPECT_TRUE(ValidateNewTag(Info("a")).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateNewTag(Info(""))));
  EXPECT_EQ(ValidateNewTag(Info("a", ValueType::kUnspecified)).message(),
            "tag.value_type: must be double, int64, bool or string");
  TagInfo bad = Info("a");
  bad.retention_ns = -1;
  EXPECT_EQ(ValidateNewTag(bad).message(), "tag.retention_ns: must be >= 0");
  bad = Info("a", ValueType::kBool);
  bad.deadband = 1;
  EXPECT_EQ(ValidateNewTag(bad).message(),
            "tag.deadband: only double and int64 tags take a deadband");
  bad = Info("a");
  bad.deadband = -1;
  EXPECT_EQ(ValidateNewTag(bad).message(), "tag.deadband: must be a finite number >= 0");
}

TEST(TagRulesTest, UpdatesKeepIdentityAndType) {
  TagInfo cur = Info("a", ValueType::kInt64, 3);
  cur.origin_site = "east";
  TagInfo update;
  update.name = "a";
  update.unit = "m";
  update.deadband = 2;
  EXPECT_TRUE(ValidateTagUpdate(update).ok());
  ASSERT_TRUE(MergeTagUpdate(update, &cur).ok());
  EXPECT_EQ(cur.unit, "m");
  EXPECT_EQ(cur.deadband, 2);
  EXPECT_EQ(cur.origin_site, "east");
  EXPECT_EQ(cur.version, 3u);
  update.type = ValueType::kDouble;
  EXPECT_EQ(MergeTagUpdate(update, &cur).message(),
            "tag.value_type: tag 'a' is int64; the type cannot change");
  update.retention_ns = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateTagUpdate(update)));
}

}  // namespace
}  // namespace historian
