// Write validation (server/write_request.cc) against a real Store in a temp
// dir, without a server: every rejection PrepareWrite makes, with its status
// code and a message that names the field and the limit; and the accepted
// forms (rows and columns, implicit types, conversions between int64 and
// double) as they reach the store.
#include "server/write_request.h"

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "historian/v1/ingest.pb.h"
#include "tests/testutil/temp_dir.h"

namespace historian::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kT0 = int64_t{1700000000} * 1000000000;

v1::Value D(double v) {
  v1::Value x;
  x.set_double_value(v);
  return x;
}
v1::Value I(int64_t v) {
  v1::Value x;
  x.set_int64_value(v);
  return x;
}
v1::Value B(bool v) {
  v1::Value x;
  x.set_bool_value(v);
  return x;
}
v1::Value S(std::string v) {
  v1::Value x;
  x.set_string_value(std::move(v));
  return x;
}
v1::Value Unset() { return v1::Value(); }

struct Row {
  int64_t ts;
  v1::Value value;
  uint32_t quality = 0;
};

// Appends a series in the samples (row) form.
v1::TagSamples* AddRows(v1::WriteRequest* req, const std::string& tag,
                        const std::vector<Row>& rows) {
  v1::TagSamples* s = req->add_series();
  s->set_tag(tag);
  for (const Row& r : rows) {
    v1::Sample* sample = s->add_samples();
    sample->set_timestamp_ns(r.ts);
    *sample->mutable_value() = r.value;
    sample->set_quality(r.quality);
  }
  return s;
}

// Appends a series in the columns form with these deltas; the caller sets
// the value columns.
v1::SampleColumns* AddColumns(v1::WriteRequest* req, const std::string& tag,
                              const std::vector<int64_t>& deltas) {
  v1::TagSamples* s = req->add_series();
  s->set_tag(tag);
  v1::SampleColumns* c = s->mutable_columns();
  for (int64_t d : deltas) c->add_timestamp_deltas_ns(d);
  return c;
}

class WriteRequestTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = Open(dir_.Sub("db"), /*implicit_tags=*/true); }

  static std::unique_ptr<Store> Open(const std::string& path, bool implicit_tags) {
    StoreOptions o;
    o.path = path;
    o.site = "us";
    o.sync_writes = false;
    o.implicit_tags = implicit_tags;
    o.seal_interval = absl::Hours(1);
    o.now_ns = [] { return kT0; };
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  TagId Tag(const std::string& name, ValueType type) {
    auto t = store_->ResolveTagForWrite(name, type);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->id : 0;
  }

  absl::StatusOr<PreparedWrite> Prepare(const v1::WriteRequest& req) {
    return PrepareWrite(req, limits_, store_.get());
  }

  // Prepares `req`, which must be accepted as a batch with exactly one
  // rejected sample, and returns it.
  v1::RejectedSample OneRejected(const v1::WriteRequest& req) {
    auto p = Prepare(req);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return {};
    EXPECT_EQ(p->rejected.size(), 1u);
    return p->rejected.empty() ? v1::RejectedSample() : p->rejected[0];
  }

  static int32_t Code(absl::StatusCode c) { return static_cast<int32_t>(c); }

  testing::TempDir dir_;
  Limits limits_;
  std::unique_ptr<Store> store_;
};

// --- Whole-batch errors ---

TEST_F(WriteRequestTest, TooManySamplesRefusesTheBatch) {
  limits_.max_samples_per_batch = 4;
  v1::WriteRequest req;
  AddRows(&req, "a", {{kT0, D(1)}, {kT0 + 1, D(2)}});
  v1::SampleColumns* c = AddColumns(&req, "b", {kT0, 1});
  c->add_double_values(1);
  c->add_double_values(2);
  ASSERT_TRUE(Prepare(req).ok());  // 4: at the limit
  AddRows(&req, "c", {{kT0, D(1)}});
  auto p = Prepare(req);
  EXPECT_TRUE(absl::IsResourceExhausted(p.status())) << p.status();
  EXPECT_THAT(p.status().message(),
              AllOf(HasSubstr("series"), HasSubstr("5 samples"), HasSubstr("limit of 4"),
                    HasSubstr("--max_samples_per_batch")));
  EXPECT_FALSE(store_->HasTag("c"));
}

TEST_F(WriteRequestTest, LongClientIdRefusesTheBatch) {
  v1::WriteRequest req;
  req.set_client_id(std::string(limits_.max_client_id_bytes, 'g'));
  req.set_batch_sequence(1);
  AddRows(&req, "a", {{kT0, D(1)}});
  ASSERT_TRUE(Prepare(req).ok());
  req.set_client_id(std::string(limits_.max_client_id_bytes + 1, 'g'));
  auto p = Prepare(req);
  EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
  EXPECT_THAT(p.status().message(),
              AllOf(HasSubstr("client_id"), HasSubstr("257 bytes"), HasSubstr("limit of 256"),
                    HasSubstr("--max_client_id_bytes")));
}

TEST_F(WriteRequestTest, SamplesAndColumnsInOneSeriesRefuseTheBatch) {
  v1::WriteRequest req;
  AddRows(&req, "ok.new", {{kT0, D(1)}});
  v1::TagSamples* both = AddRows(&req, "both", {{kT0, D(1)}});
  both->mutable_columns()->add_timestamp_deltas_ns(kT0);
  both->mutable_columns()->add_double_values(1);
  auto p = Prepare(req);
  EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
  EXPECT_THAT(p.status().message(),
              AllOf(HasSubstr("series[1]"), HasSubstr("samples or columns, not both")));
  // Nothing of a refused batch is stored: not even its new tags.
  EXPECT_FALSE(store_->HasTag("ok.new"));
  EXPECT_FALSE(store_->HasTag("both"));
}

TEST_F(WriteRequestTest, ColumnValuesWithoutTimestampsRefuseTheBatch) {
  for (int column = 0; column < 4; ++column) {
    SCOPED_TRACE(column);
    v1::WriteRequest req;
    AddRows(&req, "ok.new", {{kT0, D(1)}});
    v1::SampleColumns* c = AddColumns(&req, "cols", {});
    if (column == 0) c->add_double_values(1);
    if (column == 1) c->add_int64_values(1);
    if (column == 2) c->add_bool_values(true);
    if (column == 3) c->add_string_values("x");
    auto p = Prepare(req);
    EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
    EXPECT_THAT(p.status().message(),
                AllOf(HasSubstr("series[1].columns"), HasSubstr("without timestamp_deltas_ns")));
    EXPECT_FALSE(store_->HasTag("ok.new"));
  }
}

// --- A series whose tag cannot be used: every sample rejected ---

TEST_F(WriteRequestTest, BadTagNamesRejectTheirSeries) {
  struct Case {
    std::string name;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"", {"series[1].tag: tag name must be 1..256 bytes, got 0"}},
      {std::string(257, 'a'), {"series[1].tag: tag name must be 1..256 bytes, got 257"}},
      {"bad name", {"series[1].tag: tag name 'bad name' has a character outside [A-Za-z0-9_.:/-]"}},
      {"bad\xc3\xa9",
       {"series[1].tag: tag name 'bad\xc3\xa9' has a character outside [A-Za-z0-9_.:/-]"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::WriteRequest req;
    AddRows(&req, "good", {{kT0, D(1)}});
    AddRows(&req, c.name, {{kT0, D(1)}, {kT0 + 1, D(2)}});
    auto p = Prepare(req);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(p->input.series.size(), 1u);  // the good series is kept
    ASSERT_EQ(p->rejected.size(), 2u);
    for (uint32_t j = 0; j < 2; ++j) {
      const v1::RejectedSample& r = p->rejected[j];
      EXPECT_EQ(r.series_index(), 1u);
      EXPECT_EQ(r.sample_index(), j);
      EXPECT_EQ(r.code(), Code(absl::StatusCode::kInvalidArgument));
      for (const std::string& w : c.words) EXPECT_THAT(r.reason(), HasSubstr(w));
      EXPECT_THAT(r.reason(), Not(HasSubstr("tag: tag:")));  // the field is named once
    }
  }
  // 256 bytes of every allowed character class is a good name.
  v1::WriteRequest req;
  const std::string longest = "Az09_.:/-" + std::string(247, 'x');
  AddRows(&req, longest, {{kT0, D(1)}});
  auto p = Prepare(req);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->rejected.empty()) << p->rejected[0].reason();
  EXPECT_TRUE(store_->HasTag(longest));
}

TEST_F(WriteRequestTest, UnknownTagWithImplicitTagsOffIsNotFound) {
  store_.reset();
  store_ = Open(dir_.Sub("explicit"), /*implicit_tags=*/false);
  ASSERT_NE(store_, nullptr);
  v1::WriteRequest req;
  AddRows(&req, "nope", {{kT0, D(1)}});
  v1::RejectedSample r = OneRejected(req);
  EXPECT_EQ(r.code(), Code(absl::StatusCode::kNotFound));
  EXPECT_THAT(r.reason(),
              AllOf(HasSubstr("series[0].tag"), HasSubstr("'nope'"), HasSubstr("--implicit_tags")));
  EXPECT_FALSE(store_->HasTag("nope"));
}

// A new tag of a shard closed to own writes (a site cluster handing it over)
// cannot be created now, but can be in a moment: the whole batch is
// refused UNAVAILABLE (the writer retries it whole, under the same
// sequence), and nothing of it is created or stored. Rejecting only that
// series would answer the batch OK: its sequence would then count as
// stored, so the retry would be a duplicate and the series never stored.
TEST_F(WriteRequestTest, ANewTagOfAClosedShardRefusesTheWholeBatch) {
  constexpr uint32_t kShards = 8;
  std::string closed_tag, open_tag;
  for (int i = 0; closed_tag.empty() || open_tag.empty(); ++i) {
    const std::string name = absl::StrCat("handover.t", i);
    (TagShard(name, kShards) == 3 ? closed_tag : open_tag) = name;
  }
  ASSERT_TRUE(store_->CloseShardToWrites(3, kShards, "shard 3 is being handed over to us-2").ok());
  v1::WriteRequest req;
  AddRows(&req, open_tag, {{kT0, D(1)}});
  AddRows(&req, closed_tag, {{kT0, D(2)}});
  auto p = Prepare(req);
  ASSERT_FALSE(p.ok()) << "accepted with " << (p.ok() ? p->rejected.size() : 0) << " rejected";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnavailable) << p.status();
  EXPECT_THAT(
      std::string(p.status().message()),
      AllOf(HasSubstr("series[1].tag"), HasSubstr(closed_tag), HasSubstr("being handed over")));
  EXPECT_FALSE(store_->HasTag(closed_tag));
  EXPECT_FALSE(store_->HasTag(open_tag)) << "a refused batch creates no tags";
  // Once the shard opens, the same batch is stored whole.
  ASSERT_TRUE(store_->OpenShardToWrites(3, 0).ok());
  auto again = Prepare(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->rejected.empty());
  EXPECT_TRUE(store_->HasTag(closed_tag));
}

TEST_F(WriteRequestTest, SeriesWithoutAnyValueOnANewTagIsNotFound) {
  v1::WriteRequest req;
  AddRows(&req, "untyped", {{kT0, Unset()}});
  v1::RejectedSample r = OneRejected(req);
  EXPECT_EQ(r.code(), Code(absl::StatusCode::kNotFound));
  EXPECT_THAT(r.reason(), AllOf(HasSubstr("series[0].tag"), HasSubstr("'untyped'")));
  EXPECT_FALSE(store_->HasTag("untyped"));
}

// --- Rejected samples, row form ---

TEST_F(WriteRequestTest, UnsetValueIsRejected) {
  Tag("d", ValueType::kDouble);
  v1::WriteRequest req;
  AddRows(&req, "d", {{kT0, D(1)}, {kT0 + 1, Unset()}});
  v1::RejectedSample r = OneRejected(req);
  EXPECT_EQ(r.series_index(), 0u);
  EXPECT_EQ(r.sample_index(), 1u);
  EXPECT_EQ(r.code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(r.reason(), "series[0].samples[1].value: not set");
}

TEST_F(WriteRequestTest, TimestampsOutsideTheRangeAreRejected) {
  for (int64_t ts : {kMinSampleTimestamp - 1, kMaxSampleTimestamp + 1,
                     std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    SCOPED_TRACE(ts);
    v1::WriteRequest req;
    AddRows(&req, "d", {{kT0, D(1)}, {ts, D(2)}});
    v1::RejectedSample r = OneRejected(req);
    EXPECT_EQ(r.sample_index(), 1u);
    EXPECT_EQ(r.code(), Code(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(r.reason(),
                AllOf(HasSubstr("series[0].samples[1].timestamp_ns"), HasSubstr(std::to_string(ts)),
                      HasSubstr(std::to_string(kMinSampleTimestamp)),
                      HasSubstr(std::to_string(kMaxSampleTimestamp))));
  }
  // The bounds themselves are accepted.
  v1::WriteRequest req;
  AddRows(&req, "d", {{kMinSampleTimestamp, D(1)}, {kMaxSampleTimestamp, D(2)}});
  auto p = Prepare(req);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->rejected.empty());
}

TEST_F(WriteRequestTest, ValuesOfAnotherTypeAreRejected) {
  Tag("d", ValueType::kDouble);
  Tag("b", ValueType::kBool);
  Tag("s", ValueType::kString);
  struct Case {
    std::string tag;
    v1::Value value;
    std::string words;
  };
  const std::vector<Case> cases = {
      {"d", B(true), "tag 'd' is double, got bool"},
      {"d", S("1.5"), "tag 'd' is double, got string"},
      {"b", D(1), "tag 'b' is bool, got double"},
      {"b", I(1), "tag 'b' is bool, got int64"},
      {"s", I(1), "tag 's' is string, got int64"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.words);
    v1::WriteRequest req;
    AddRows(&req, c.tag, {{kT0, c.value}});
    v1::RejectedSample r = OneRejected(req);
    EXPECT_EQ(r.code(), Code(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(r.reason(), AllOf(HasSubstr("series[0].samples[0].value"), HasSubstr(c.words)));
  }
}

TEST_F(WriteRequestTest, InexactConversionsAreRejected) {
  Tag("d", ValueType::kDouble);
  Tag("i", ValueType::kInt64);
  const int64_t two53 = int64_t{1} << 53;
  for (int64_t v : {two53 + 1, std::numeric_limits<int64_t>::max()}) {
    SCOPED_TRACE(v);
    v1::WriteRequest req;
    AddRows(&req, "d", {{kT0, I(v)}});
    v1::RejectedSample r = OneRejected(req);
    EXPECT_EQ(r.code(), Code(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(r.reason(),
                AllOf(HasSubstr("series[0].samples[0].value"), HasSubstr(std::to_string(v)),
                      HasSubstr("not exact as a double"), HasSubstr("tag 'd' is double")));
  }
  for (double v : {1.5, 9007199254740994.0, -9007199254740994.0, std::nan(""),
                   std::numeric_limits<double>::infinity()}) {
    SCOPED_TRACE(v);
    v1::WriteRequest req;
    AddRows(&req, "i", {{kT0, D(v)}});
    v1::RejectedSample r = OneRejected(req);
    EXPECT_EQ(r.code(), Code(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(r.reason(),
                AllOf(HasSubstr("series[0].samples[0].value"), HasSubstr("not a whole number"),
                      HasSubstr("+-2^53"), HasSubstr("tag 'i' is int64")));
  }
}

TEST_F(WriteRequestTest, LongStringsAreRejected) {
  v1::WriteRequest req;
  AddRows(&req, "s",
          {{kT0, S(std::string(codec::kMaxStringBytes, 'x'))},
           {kT0 + 1, S(std::string(codec::kMaxStringBytes + 1, 'x'))}});
  v1::RejectedSample r = OneRejected(req);
  EXPECT_EQ(r.sample_index(), 1u);
  EXPECT_EQ(r.code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.reason(), AllOf(HasSubstr("series[0].samples[1].value"), HasSubstr("4097 bytes"),
                                HasSubstr("limit of 4096")));
}

// --- Columns form: shape errors reject the series, value errors a sample ---

TEST_F(WriteRequestTest, ColumnsNeedExactlyOneValueColumn) {
  Tag("d", ValueType::kDouble);
  // On a known tag and on a new one: the reason is the columns' shape (a
  // new tag cannot be typed from them either).
  for (const std::string tag : {"d", "new.cols"}) {
    SCOPED_TRACE(tag);
    v1::WriteRequest req;
    v1::SampleColumns* c = AddColumns(&req, tag, {kT0, 1});
    c->add_double_values(1);
    c->add_double_values(2);
    c->add_int64_values(1);
    c->add_int64_values(2);
    auto p = Prepare(req);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_TRUE(p->input.series.empty());
    ASSERT_EQ(p->rejected.size(), 2u);
    for (const v1::RejectedSample& r : p->rejected) {
      EXPECT_EQ(r.code(), Code(absl::StatusCode::kInvalidArgument)) << r.reason();
      EXPECT_THAT(r.reason(), AllOf(HasSubstr("series[0].columns"),
                                    HasSubstr("exactly one value column must be set")));
    }
    EXPECT_FALSE(store_->HasTag("new.cols"));
  }
}

TEST_F(WriteRequestTest, ColumnLengthsMustMatch) {
  Tag("d", ValueType::kDouble);
  v1::WriteRequest req;
  v1::SampleColumns* c = AddColumns(&req, "d", {kT0, 1, 1});
  c->add_double_values(1);
  c->add_double_values(2);
  auto p = Prepare(req);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->rejected.size(), 3u);
  EXPECT_EQ(p->rejected[0].code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(p->rejected[0].reason(), "series[0].columns.double_values: 2 values for 3 timestamps");

  v1::WriteRequest q;
  c = AddColumns(&q, "d", {kT0, 1, 1});
  for (int k = 0; k < 3; ++k) c->add_double_values(k);
  c->add_qualities(0);
  c->add_qualities(0);
  p = Prepare(q);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->rejected.size(), 3u);
  EXPECT_EQ(p->rejected[2].sample_index(), 2u);
  EXPECT_EQ(p->rejected[0].code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(p->rejected[0].reason(),
              AllOf(HasSubstr("series[0].columns.qualities"), HasSubstr("2 entries"),
                    HasSubstr("0, 1 or one per sample (3)")));
}

TEST_F(WriteRequestTest, ColumnsOfAnotherTypeAreRejected) {
  Tag("d", ValueType::kDouble);
  v1::WriteRequest req;
  v1::SampleColumns* c = AddColumns(&req, "d", {kT0});
  c->add_string_values("x");
  v1::RejectedSample r = OneRejected(req);
  EXPECT_EQ(r.code(), Code(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(r.reason(), "series[0].columns: tag 'd' is double, got string");
}

TEST_F(WriteRequestTest, ColumnValueErrorsRejectOneSample) {
  Tag("d", ValueType::kDouble);
  Tag("i", ValueType::kInt64);
  Tag("s", ValueType::kString);
  v1::WriteRequest req;
  // Timestamps: kT0, then one far below the range (a hostile delta), then
  // back to kT0 + 1.
  const int64_t hostile = std::numeric_limits<int64_t>::min() + 5;
  v1::SampleColumns* c = AddColumns(&req, "d", {kT0, hostile, -hostile + 1});
  c->add_double_values(1);
  c->add_double_values(2);
  c->add_double_values(3);
  c = AddColumns(&req, "d", {kT0 + 10, 1});
  c->add_int64_values(5);
  c->add_int64_values((int64_t{1} << 53) + 1);
  c = AddColumns(&req, "i", {kT0, 1});
  c->add_double_values(7);
  c->add_double_values(7.25);
  c = AddColumns(&req, "s", {kT0, 1});
  c->add_string_values(std::string(codec::kMaxStringBytes + 1, 'x'));
  c->add_string_values("ok");
  auto p = Prepare(req);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->rejected.size(), 4u);
  const v1::RejectedSample& ts = p->rejected[0];
  EXPECT_EQ(ts.series_index(), 0u);
  EXPECT_EQ(ts.sample_index(), 1u);
  EXPECT_EQ(ts.code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ts.reason(), AllOf(HasSubstr("series[0].columns.timestamp_deltas_ns[1]"),
                                 HasSubstr(std::to_string(kMinSampleTimestamp)),
                                 HasSubstr(std::to_string(kMaxSampleTimestamp))));
  const v1::RejectedSample& inexact = p->rejected[1];
  EXPECT_EQ(inexact.series_index(), 1u);
  EXPECT_EQ(inexact.sample_index(), 1u);
  EXPECT_EQ(inexact.code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(inexact.reason(), AllOf(HasSubstr("series[1].columns.int64_values[1]"),
                                      HasSubstr("not exact as a double")));
  const v1::RejectedSample& fraction = p->rejected[2];
  EXPECT_EQ(fraction.series_index(), 2u);
  EXPECT_EQ(fraction.sample_index(), 1u);
  EXPECT_THAT(fraction.reason(), AllOf(HasSubstr("series[2].columns.double_values[1]"),
                                       HasSubstr("7.25"), HasSubstr("+-2^53")));
  const v1::RejectedSample& str = p->rejected[3];
  EXPECT_EQ(str.series_index(), 3u);
  EXPECT_EQ(str.sample_index(), 0u);
  EXPECT_THAT(str.reason(), AllOf(HasSubstr("series[3].columns.string_values[0]"),
                                  HasSubstr("4097 bytes"), HasSubstr("limit of 4096")));
  // The rest goes through, converted.
  ASSERT_EQ(p->input.series.size(), 4u);
  EXPECT_EQ(p->input.series[0].cols.timestamps, (std::vector<int64_t>{kT0, kT0 + 1}));
  EXPECT_EQ(p->input.series[0].cols.doubles, (std::vector<double>{1, 3}));
  EXPECT_EQ(p->input.series[1].cols.doubles, (std::vector<double>{5}));
  EXPECT_EQ(p->input.series[2].cols.ints, (std::vector<int64_t>{7}));
  EXPECT_EQ(p->input.series[3].cols.strings, (std::vector<std::string>{"ok"}));
}

// --- Accepted forms ---

TEST_F(WriteRequestTest, RowsOfEveryTypeCreateTagsOfThatType) {
  v1::WriteRequest req;
  req.set_client_id("gw-1");
  req.set_batch_sequence(42);
  AddRows(&req, "r.d", {{kT0, D(1.5), 0}, {kT0 + 1, D(-0.0), 0x40000000}});
  AddRows(&req, "r.i", {{kT0, I(-7)}, {kT0 - 5, I(std::numeric_limits<int64_t>::max())}});
  AddRows(&req, "r.b", {{kT0, B(true)}, {kT0 + 1, B(false)}});
  AddRows(&req, "r.s", {{kT0, S("")}, {kT0 + 1, S(std::string(codec::kMaxStringBytes, 'z'))}});
  // The first typed value decides: an unset first sample is rejected alone.
  AddRows(&req, "r.late", {{kT0, Unset()}, {kT0 + 1, I(3)}, {kT0 + 2, D(4)}});
  const uint64_t head = store_->OwnHeadSequence();
  auto p = Prepare(req);
  ASSERT_TRUE(p.ok()) << p.status();
  // The five new tags came in one catalog entry.
  EXPECT_EQ(store_->OwnHeadSequence(), head + 1);
  EXPECT_EQ(p->input.client_id, "gw-1");
  EXPECT_EQ(p->input.batch_seq, 42u);
  ASSERT_EQ(p->rejected.size(), 1u);
  EXPECT_EQ(p->rejected[0].series_index(), 4u);
  EXPECT_EQ(p->rejected[0].sample_index(), 0u);
  EXPECT_EQ(p->repeated, 0u);
  ASSERT_EQ(p->input.series.size(), 5u);
  const std::vector<std::pair<std::string, ValueType>> want = {{"r.d", ValueType::kDouble},
                                                               {"r.i", ValueType::kInt64},
                                                               {"r.b", ValueType::kBool},
                                                               {"r.s", ValueType::kString},
                                                               {"r.late", ValueType::kInt64}};
  for (size_t k = 0; k < want.size(); ++k) {
    auto tag = store_->GetTag(want[k].first);
    ASSERT_TRUE(tag.ok()) << want[k].first;
    EXPECT_EQ(tag->type, want[k].second) << want[k].first;
    EXPECT_EQ(p->input.series[k].tag, tag->id);
    EXPECT_EQ(p->input.series[k].cols.type, want[k].second);
  }
  const codec::ChunkColumns& d = p->input.series[0].cols;
  EXPECT_EQ(d.timestamps, (std::vector<int64_t>{kT0, kT0 + 1}));
  EXPECT_EQ(d.doubles[0], 1.5);
  EXPECT_TRUE(std::signbit(d.doubles[1]));
  EXPECT_EQ(d.qualities, (std::vector<uint32_t>{0, 0x40000000}));
  // Rows keep their order (the store sorts).
  EXPECT_EQ(p->input.series[1].cols.timestamps, (std::vector<int64_t>{kT0, kT0 - 5}));
  EXPECT_EQ(p->input.series[1].cols.ints,
            (std::vector<int64_t>{-7, std::numeric_limits<int64_t>::max()}));
  EXPECT_EQ(p->input.series[2].cols.bools, (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(p->input.series[3].cols.strings[1].size(), codec::kMaxStringBytes);
  // r.late is int64: 4.0 is whole, so it converts.
  EXPECT_EQ(p->input.series[4].cols.ints, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(p->input.series[4].cols.timestamps, (std::vector<int64_t>{kT0 + 1, kT0 + 2}));
}

TEST_F(WriteRequestTest, ColumnsDecodeDeltasQualitiesAndTypes) {
  v1::WriteRequest req;
  // Negative deltas: out-of-order samples.
  v1::SampleColumns* c = AddColumns(&req, "c.d", {kT0, 1000, -500, 2000});
  for (double v : {1.0, 2.0, 3.0, 4.0}) c->add_double_values(v);
  c = AddColumns(&req, "c.i", {kT0, 1, 1});
  for (int64_t v : {-1, 0, 1}) c->add_int64_values(v);
  c->add_qualities(0x80000000u);  // one entry: every sample
  c = AddColumns(&req, "c.b", {kT0, 1});
  c->add_bool_values(false);
  c->add_bool_values(true);
  c->add_qualities(1);  // one per sample
  c->add_qualities(2);
  c = AddColumns(&req, "c.s", {kT0});
  c->add_string_values("on");
  auto p = Prepare(req);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->rejected.empty());
  ASSERT_EQ(p->input.series.size(), 4u);
  const codec::ChunkColumns& d = p->input.series[0].cols;
  EXPECT_EQ(store_->GetTag("c.d")->type, ValueType::kDouble);
  EXPECT_EQ(d.timestamps, (std::vector<int64_t>{kT0, kT0 + 1000, kT0 + 500, kT0 + 2500}));
  EXPECT_EQ(d.doubles, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(d.qualities, (std::vector<uint32_t>{0, 0, 0, 0}));  // none: Good
  const codec::ChunkColumns& i = p->input.series[1].cols;
  EXPECT_EQ(store_->GetTag("c.i")->type, ValueType::kInt64);
  EXPECT_EQ(i.ints, (std::vector<int64_t>{-1, 0, 1}));
  EXPECT_EQ(i.qualities, (std::vector<uint32_t>(3, 0x80000000u)));
  const codec::ChunkColumns& b = p->input.series[2].cols;
  EXPECT_EQ(store_->GetTag("c.b")->type, ValueType::kBool);
  EXPECT_EQ(b.bools, (std::vector<uint8_t>{0, 1}));
  EXPECT_EQ(b.qualities, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(store_->GetTag("c.s")->type, ValueType::kString);
  EXPECT_EQ(p->input.series[3].cols.strings, (std::vector<std::string>{"on"}));
}

TEST_F(WriteRequestTest, ExactIntsFeedDoubleTagsAndWholeDoublesIntTags) {
  Tag("d", ValueType::kDouble);
  Tag("i", ValueType::kInt64);
  const int64_t two53 = int64_t{1} << 53;
  v1::WriteRequest req;
  AddRows(&req, "d", {{kT0, I(two53)}, {kT0 + 1, I(-3)}, {kT0 + 2, D(0.5)}});
  AddRows(&req, "i", {{kT0, D(42)}, {kT0 + 1, D(-static_cast<double>(two53))}, {kT0 + 2, I(9)}});
  v1::SampleColumns* c = AddColumns(&req, "d", {kT0 + 10, 1});
  c->add_int64_values(std::numeric_limits<int64_t>::min());  // -2^63 is exact
  c->add_int64_values(12);
  c = AddColumns(&req, "i", {kT0 + 10, 1});
  c->add_double_values(-0.0);
  c->add_double_values(1e15);
  auto p = Prepare(req);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->rejected.empty()) << p->rejected[0].reason();
  ASSERT_EQ(p->input.series.size(), 4u);
  EXPECT_EQ(p->input.series[0].cols.doubles,
            (std::vector<double>{static_cast<double>(two53), -3, 0.5}));
  EXPECT_EQ(p->input.series[1].cols.ints, (std::vector<int64_t>{42, -two53, 9}));
  EXPECT_EQ(p->input.series[2].cols.doubles, (std::vector<double>{-9223372036854775808.0, 12}));
  EXPECT_EQ(p->input.series[3].cols.ints, (std::vector<int64_t>{0, 1000000000000000}));
}

TEST_F(WriteRequestTest, RepeatedTimestampsKeepTheLastSample) {
  v1::WriteRequest req;
  AddRows(&req, "dup", {{kT0, D(1)}, {kT0 + 1, D(2)}, {kT0, D(3)}});
  v1::SampleColumns* c = AddColumns(&req, "dup", {kT0 + 1});
  c->add_double_values(4);
  auto p = Prepare(req);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->repeated, 2u);
  EXPECT_TRUE(p->rejected.empty());
  ASSERT_EQ(p->input.series.size(), 2u);
  EXPECT_EQ(p->input.series[0].cols.timestamps, (std::vector<int64_t>{kT0}));
  EXPECT_EQ(p->input.series[0].cols.doubles, (std::vector<double>{3}));
  EXPECT_EQ(p->input.series[1].cols.doubles, (std::vector<double>{4}));
}

// Two series of one new tag with different types in one batch: the first
// decides the type, the other's samples are rejected as of another type.
TEST_F(WriteRequestTest, ANewTagTakesTheTypeOfItsFirstSeries) {
  v1::WriteRequest req;
  AddRows(&req, "twice", {{kT0, D(1)}});
  AddRows(&req, "twice", {{kT0 + 1, S("x")}});
  v1::SampleColumns* c = AddColumns(&req, "twice", {kT0 + 2});
  c->add_bool_values(true);
  auto p = Prepare(req);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(store_->GetTag("twice")->type, ValueType::kDouble);
  ASSERT_EQ(p->rejected.size(), 2u);
  EXPECT_EQ(p->rejected[0].series_index(), 1u);
  EXPECT_EQ(p->rejected[0].code(), Code(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(p->rejected[0].reason(),
            "series[1].samples[0].value: tag 'twice' is double, got string");
  EXPECT_EQ(p->rejected[1].series_index(), 2u);
  EXPECT_EQ(p->rejected[1].reason(), "series[2].columns: tag 'twice' is double, got bool");
  ASSERT_EQ(p->input.series.size(), 1u);
}

// A batch whose every sample is rejected is acknowledged with 0 accepted.
// A batch_sequence older than the dedupe window fails at FinishWrite with a
// message naming the field and the window.
TEST_F(WriteRequestTest, FinishWriteReportsTheDedupeWindow) {
  auto write = [&](uint64_t seq, v1::Value value) {
    v1::WriteRequest req;
    req.set_client_id("gw");
    req.set_batch_sequence(seq);
    AddRows(&req, "w", {{kT0 + static_cast<int64_t>(seq), value}});
    auto started = StartWrite(req, limits_, store_.get());
    EXPECT_TRUE(started.ok()) << started.status();
    return FinishWrite(std::move(*started), store_.get());
  };
  auto ack = write(1, D(1));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->accepted_count(), 1u);
  ack = write(2, S("no"));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->accepted_count(), 0u);
  EXPECT_EQ(ack->rejected_size(), 1);
  ASSERT_TRUE(write(5000, D(2)).ok());
  ack = write(3, D(3));
  EXPECT_TRUE(absl::IsFailedPrecondition(ack.status())) << ack.status();
  EXPECT_THAT(ack.status().message(),
              AllOf(HasSubstr("batch_sequence"), HasSubstr("dedupe window of 4096")));
}

// The fuzzer's invariant (fuzz/write_request_fuzzer.cc) on random requests,
// in the unit test run: every sample is prepared, rejected or replaced by a
// later one of its tag and timestamp, and no (tag, timestamp) is prepared
// twice.
TEST_F(WriteRequestTest, RandomRequestsAccountForEverySample) {
  std::mt19937_64 rng(15);
  const std::vector<std::string> names = {"r.a", "r.b", "r.c", "r.d", "", "bad name"};
  auto value = [&]() {
    switch (rng() % 6) {
      case 0:
        return D(static_cast<double>(rng() % 5) / (1 + rng() % 2));
      case 1:
        return I(static_cast<int64_t>(rng() % 5) - 2);
      case 2:
        return B(rng() % 2 == 0);
      case 3:
        return S(std::string(rng() % 3, 's'));
      case 4:
        return I(static_cast<int64_t>(rng()));  // mostly not exact as a double
      default:
        return Unset();
    }
  };
  auto timestamp = [&]() -> int64_t {
    return rng() % 20 == 0 ? kMaxSampleTimestamp + 1 : kT0 + static_cast<int64_t>(rng() % 8);
  };
  int prepared = 0;
  for (int round = 0; round < 400; ++round) {
    v1::WriteRequest req;
    uint64_t total = 0;
    const int series = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < series; ++i) {
      const std::string& tag = names[rng() % names.size()];
      const int n = static_cast<int>(rng() % 5);
      total += n;
      if (rng() % 2 == 0) {
        std::vector<Row> rows;
        for (int j = 0; j < n; ++j) rows.push_back({timestamp(), value(), 0});
        AddRows(&req, tag, rows);
        continue;
      }
      std::vector<int64_t> deltas;
      int64_t last = 0;
      for (int j = 0; j < n; ++j) {
        const int64_t ts = timestamp();
        deltas.push_back(ts - last);
        last = ts;
      }
      v1::SampleColumns* c = AddColumns(&req, tag, deltas);
      const int columns = 1 + static_cast<int>(rng() % 8 == 0);  // sometimes two
      for (int k = 0; k < columns; ++k) {
        const uint64_t kind = rng() % 4;
        const int values = n + (rng() % 10 == 0 ? 1 : 0);  // sometimes one too many
        for (int j = 0; j < values; ++j) {
          if (kind == 0) c->add_double_values(static_cast<double>(rng() % 4) / 2);
          if (kind == 1) c->add_int64_values(static_cast<int64_t>(rng() % 4));
          if (kind == 2) c->add_bool_values(rng() % 2 == 0);
          if (kind == 3) c->add_string_values("v");
        }
      }
      if (rng() % 6 == 0) c->add_qualities(1);
    }
    auto p = Prepare(req);
    if (!p.ok()) {
      EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
      continue;
    }
    ++prepared;
    uint64_t kept = 0;
    std::set<std::pair<TagId, int64_t>> stored;
    for (const auto& s : p->input.series) {
      kept += s.cols.size();
      for (int64_t ts : s.cols.timestamps) {
        EXPECT_TRUE(stored.emplace(s.tag, ts).second) << round;
      }
    }
    EXPECT_EQ(kept + p->rejected.size() + p->repeated, total) << round;
    for (const v1::RejectedSample& r : p->rejected) {
      ASSERT_LT(r.series_index(), static_cast<uint32_t>(req.series_size()));
      EXPECT_THAT(r.reason(), HasSubstr(absl::StrCat("series[", r.series_index(), "]")));
    }
  }
  EXPECT_GT(prepared, 300);
}

TEST_F(WriteRequestTest, StartAndFinishWriteAckTheBatch) {
  v1::WriteRequest req;
  req.set_client_id("gw");
  req.set_batch_sequence(7);
  AddRows(&req, "ack", {{kT0, D(1)}, {kT0 + 1, S("x")}, {kT0 + 2, D(3)}});
  auto started = StartWrite(req, limits_, store_.get());
  ASSERT_TRUE(started.ok()) << started.status();
  auto ack = FinishWrite(std::move(*started), store_.get());
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->batch_sequence(), 7u);
  EXPECT_EQ(ack->accepted_count(), 2u);
  EXPECT_FALSE(ack->duplicate());
  ASSERT_EQ(ack->rejected_size(), 1);
  EXPECT_EQ(ack->rejected(0).sample_index(), 1u);
  EXPECT_EQ(ack->rejected(0).code(), Code(absl::StatusCode::kFailedPrecondition));
  codec::ChunkColumns out;
  ASSERT_TRUE(
      store_->ReadRaw(store_->GetTag("ack")->id, kMinTimestamp, kMaxTimestamp, 0, &out).ok());
  EXPECT_EQ(out.timestamps, (std::vector<int64_t>{kT0, kT0 + 2}));
  // A retry is acknowledged with the original count and stores nothing.
  auto again = StartWrite(req, limits_, store_.get());
  ASSERT_TRUE(again.ok());
  ack = FinishWrite(std::move(*again), store_.get());
  ASSERT_TRUE(ack.ok());
  EXPECT_TRUE(ack->duplicate());
  EXPECT_EQ(ack->accepted_count(), 2u);
  // A whole-batch error comes from StartWrite, before anything is queued.
  limits_.max_samples_per_batch = 1;
  EXPECT_TRUE(absl::IsResourceExhausted(StartWrite(req, limits_, store_.get()).status()));
}

}  // namespace
}  // namespace historian::server
