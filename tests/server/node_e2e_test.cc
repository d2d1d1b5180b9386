// End to end through a real historiand process on 127.0.0.1: writes over the
// Ingest stream and unary call, reads back, Latest, catalog, validation
// errors, health and reflection.
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "reflection_probe.grpc.pb.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::historian::v1;

class NodeE2ETest : public ::testing::Test {
 protected:
  void StartNode(std::vector<std::string> flags = {}) {
    node_ = std::make_unique<testing::NodeProcess>(dir_.Sub("node"), std::move(flags));
    ASSERT_TRUE(node_->Start());
    channel_ = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    ingest_ = v1::Ingest::NewStub(channel_);
    query_ = v1::Query::NewStub(channel_);
    catalog_ = v1::Catalog::NewStub(channel_);
  }
  void SetUp() override { StartNode(); }

  static void AddDouble(v1::WriteRequest* req, const std::string& tag, int64_t ts, double v) {
    v1::TagSamples* s = nullptr;
    for (auto& series : *req->mutable_series()) {
      if (series.tag() == tag) s = &series;
    }
    if (s == nullptr) {
      s = req->add_series();
      s->set_tag(tag);
    }
    v1::Sample* sample = s->add_samples();
    sample->set_timestamp_ns(ts);
    sample->mutable_value()->set_double_value(v);
  }

  grpc::Status WriteBatch(const v1::WriteRequest& req, v1::WriteAck* ack) {
    grpc::ClientContext ctx;
    return ingest_->WriteBatch(&ctx, req, ack);
  }

  // Reads every sample of `tag` in [start, end), following continuation
  // tokens; returns the number of calls made.
  // With `columns`, asks for ReadResponse.columns and unpacks it (double
  // tags).
  int ReadAll(const std::string& tag, int64_t start, int64_t end, uint64_t limit,
              std::vector<v1::Sample>* out, grpc::Status* status, bool columns = false) {
    v1::ReadRequest req;
    req.add_tags(tag);
    req.set_start_ns(start);
    req.set_end_ns(end);
    req.set_limit(limit);
    req.set_columns(columns);
    int calls = 0;
    while (true) {
      ++calls;
      grpc::ClientContext ctx;
      auto reader = query_->Read(&ctx, req);
      v1::ReadResponse resp;
      std::string token;
      while (reader->Read(&resp)) {
        for (const auto& s : resp.samples()) out->push_back(s);
        const v1::SampleColumns& c = resp.columns();
        uint64_t ts = 0;
        for (int j = 0; j < c.timestamp_deltas_ns_size(); ++j) {
          ts += static_cast<uint64_t>(c.timestamp_deltas_ns(j));
          v1::Sample s;
          s.set_timestamp_ns(static_cast<int64_t>(ts));
          s.mutable_value()->set_double_value(c.double_values(j));
          if (c.qualities_size() > 0) s.set_quality(c.qualities(c.qualities_size() == 1 ? 0 : j));
          out->push_back(s);
        }
        if (columns) {
          EXPECT_EQ(resp.samples_size(), 0);
        }
        if (!resp.continuation_token().empty()) token = resp.continuation_token();
      }
      *status = reader->Finish();
      if (!status->ok() || token.empty()) return calls;
      req.set_continuation_token(token);
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::NodeProcess> node_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ingest::Stub> ingest_;
  std::unique_ptr<v1::Query::Stub> query_;
  std::unique_ptr<v1::Catalog::Stub> catalog_;
};

TEST_F(NodeE2ETest, StreamWriteThenReadBackWithContinuation) {
  grpc::ClientContext ctx;
  auto stream = ingest_->Write(&ctx);
  int64_t ts = 0;
  for (uint64_t batch = 1; batch <= 5; ++batch) {
    v1::WriteRequest req;
    req.set_client_id("gw-test");
    req.set_batch_sequence(batch);
    for (int i = 0; i < 1000; ++i, ++ts)
      AddDouble(&req, "us.line1.temp", ts * 1000000000, ts * 0.1);
    ASSERT_TRUE(stream->Write(req));
    v1::WriteAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.batch_sequence(), batch);
    EXPECT_EQ(ack.accepted_count(), 1000u);
    EXPECT_EQ(ack.rejected_size(), 0);
  }
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());

  std::vector<v1::Sample> samples;
  grpc::Status status;
  int calls = ReadAll("us.line1.temp", 0, ts * 1000000000, 1500, &samples, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(calls, 4);  // 5000 samples at 1500 per call
  ASSERT_EQ(samples.size(), 5000u);
  for (int64_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(samples[i].timestamp_ns(), i * 1000000000);
    ASSERT_EQ(samples[i].value().double_value(), i * 0.1);
  }

  v1::LatestRequest latest;
  latest.set_glob("us.*");
  v1::LatestResponse latest_resp;
  grpc::ClientContext lctx;
  ASSERT_TRUE(query_->Latest(&lctx, latest, &latest_resp).ok());
  ASSERT_EQ(latest_resp.values_size(), 1);
  EXPECT_EQ(latest_resp.values(0).sample().timestamp_ns(), 4999 * int64_t{1000000000});
}

// Read with include_bounds and a limit, paged through: bounds do not count
// toward the limit, each tag's before-bound comes once (on its first page)
// and its after-bound once (on its last), and a page carries a token if and
// only if samples in [start, end) remain.
TEST_F(NodeE2ETest, ReadBoundsComeOnceAndTokenOnlyWhileSamplesRemain) {
  v1::WriteRequest w;
  AddDouble(&w, "rb.a", 5, -1);
  for (int64_t t = 10; t < 20; ++t) AddDouble(&w, "rb.a", t, static_cast<double>(t));
  AddDouble(&w, "rb.a", 25, -2);
  AddDouble(&w, "rb.b", 8, -3);
  for (int64_t t = 10; t < 15; ++t) AddDouble(&w, "rb.b", t, static_cast<double>(t));
  AddDouble(&w, "rb.b", 30, -4);
  AddDouble(&w, "rb.c", 1, -5);  // no samples in range: bounds only
  AddDouble(&w, "rb.c", 40, -6);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(w, &ack).ok());
  const std::map<std::string, int> in_range = {{"rb.a", 10}, {"rb.b", 5}, {"rb.c", 0}};
  for (uint64_t limit : {1, 3, 5, 7, 15, 16}) {
    v1::ReadRequest req;
    for (const char* t : {"rb.a", "rb.b", "rb.c"}) req.add_tags(t);
    req.set_start_ns(10);
    req.set_end_ns(20);
    req.set_limit(limit);
    req.set_include_bounds(true);
    std::map<std::string, int> samples, before, after;
    int total = 0;
    for (int page = 0; page < 100; ++page) {
      grpc::ClientContext ctx;
      auto reader = query_->Read(&ctx, req);
      v1::ReadResponse resp;
      std::string token;
      uint64_t page_samples = 0;
      while (reader->Read(&resp)) {
        for (const auto& s : resp.samples()) {
          if (s.timestamp_ns() < 10) {
            ++before[resp.tag()];
          } else if (s.timestamp_ns() >= 20) {
            ++after[resp.tag()];
          } else {
            ++samples[resp.tag()];
            ++page_samples;
            ++total;
          }
        }
        if (!resp.continuation_token().empty()) token = resp.continuation_token();
      }
      ASSERT_TRUE(reader->Finish().ok());
      EXPECT_LE(page_samples, limit) << "limit " << limit << " page " << page;
      EXPECT_EQ(!token.empty(), total < 15) << "limit " << limit << " page " << page;
      if (token.empty()) break;
      req.set_continuation_token(token);
    }
    for (const auto& [tag, n] : in_range) {
      EXPECT_EQ(samples[tag], n) << tag << " limit " << limit;
      EXPECT_EQ(before[tag], 1) << tag << " limit " << limit;
      EXPECT_EQ(after[tag], 1) << tag << " limit " << limit;
    }
  }
}

// eng_low, eng_high and stale_after_ns: set by CreateTag, changed by
// UpdateTag (unset clears a range end), listed, kept across a restart, and
// validated with errors naming the field.
TEST_F(NodeE2ETest, TagRangeAndStaleAfterAreStoredUpdatedAndValidated) {
  auto create = [&](v1::Tag tag, v1::Tag* out) {
    v1::CreateTagRequest req;
    *req.mutable_tag() = std::move(tag);
    grpc::ClientContext ctx;
    return catalog_->CreateTag(&ctx, req, out);
  };
  auto get = [&](const std::string& name) {
    v1::GetTagRequest req;
    req.set_name(name);
    v1::Tag out;
    grpc::ClientContext ctx;
    EXPECT_TRUE(catalog_->GetTag(&ctx, req, &out).ok());
    return out;
  };
  v1::Tag tag;
  tag.set_name("rng.level");
  tag.set_value_type(v1::VALUE_TYPE_DOUBLE);
  tag.set_eng_low(-5);
  tag.set_eng_high(95.5);
  tag.set_stale_after_ns(30000000000);
  v1::Tag created;
  ASSERT_TRUE(create(tag, &created).ok());
  EXPECT_EQ(created.eng_low(), -5);
  EXPECT_EQ(created.eng_high(), 95.5);
  EXPECT_EQ(created.stale_after_ns(), 30000000000);
  v1::Tag plain;
  plain.set_name("rng.plain");
  plain.set_value_type(v1::VALUE_TYPE_DOUBLE);
  ASSERT_TRUE(create(plain, &created).ok());
  EXPECT_FALSE(created.has_eng_low());
  EXPECT_FALSE(created.has_eng_high());

  // Invalid values: the error names the field.
  struct Bad {
    std::function<void(v1::Tag*)> set;
    const char* field;
  } bad[] = {
      {[](v1::Tag* t) { t->set_eng_low(std::numeric_limits<double>::infinity()); }, "tag.eng_low"},
      {[](v1::Tag* t) { t->set_eng_high(std::nan("")); }, "tag.eng_high"},
      {[](v1::Tag* t) {
         t->set_eng_low(10);
         t->set_eng_high(10);
       },
       "tag.eng_low"},
      {[](v1::Tag* t) { t->set_stale_after_ns(-1); }, "tag.stale_after_ns"},
  };
  for (const Bad& b : bad) {
    v1::Tag t = plain;
    t.set_name("rng.bad");
    b.set(&t);
    v1::Tag out;
    grpc::Status st = create(t, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << b.field;
    EXPECT_THAT(st.error_message(), ::testing::HasSubstr(b.field));
    v1::UpdateTagRequest up;
    *up.mutable_tag() = get("rng.level");
    b.set(up.mutable_tag());
    grpc::ClientContext ctx;
    st = catalog_->UpdateTag(&ctx, up, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << b.field;
    EXPECT_THAT(st.error_message(), ::testing::HasSubstr(b.field));
  }

  v1::UpdateTagRequest up;
  *up.mutable_tag() = get("rng.level");
  up.mutable_tag()->clear_eng_low();
  up.mutable_tag()->set_eng_high(120);
  up.mutable_tag()->set_stale_after_ns(0);
  v1::Tag updated;
  grpc::ClientContext uctx;
  ASSERT_TRUE(catalog_->UpdateTag(&uctx, up, &updated).ok());
  EXPECT_FALSE(updated.has_eng_low());
  EXPECT_EQ(updated.eng_high(), 120);
  EXPECT_EQ(updated.stale_after_ns(), 0);
  up.mutable_tag()->set_stale_after_ns(7000000000);
  grpc::ClientContext uctx2;
  ASSERT_TRUE(catalog_->UpdateTag(&uctx2, up, &updated).ok());

  auto check = [&] {
    v1::ListTagsRequest list;
    list.set_glob("rng.*");
    v1::ListTagsResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(catalog_->ListTags(&ctx, list, &resp).ok());
    ASSERT_EQ(resp.tags_size(), 2);
    const v1::Tag& level = resp.tags(0);
    EXPECT_EQ(level.name(), "rng.level");
    EXPECT_FALSE(level.has_eng_low());
    EXPECT_TRUE(level.has_eng_high());
    EXPECT_EQ(level.eng_high(), 120);
    EXPECT_EQ(level.stale_after_ns(), 7000000000);
    EXPECT_FALSE(resp.tags(1).has_eng_low());
    EXPECT_EQ(resp.tags(1).stale_after_ns(), 0);
    v1::Tag g = get("rng.level");
    EXPECT_EQ(g.eng_high(), 120);
    EXPECT_EQ(g.stale_after_ns(), 7000000000);
  };
  check();
  ASSERT_EQ(node_->Stop(), 0);
  StartNode();
  check();
}

// A tag's stale_after_ns is the max_gap_ns of TWA and Interpolate when the
// request gives none: its last value stops holding after the gap; a max_gap_ns
// in the request wins.
TEST_F(NodeE2ETest, StaleAfterStopsHoldingTheLastValue) {
  v1::CreateTagRequest create;
  create.mutable_tag()->set_name("st.temp");
  create.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
  create.mutable_tag()->set_stale_after_ns(10);
  v1::Tag created;
  grpc::ClientContext cctx;
  ASSERT_TRUE(catalog_->CreateTag(&cctx, create, &created).ok());
  v1::WriteRequest w;
  AddDouble(&w, "st.temp", 0, 1);
  AddDouble(&w, "st.temp", 150, 5);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(w, &ack).ok());
  auto twa = [&](int64_t max_gap) {
    v1::AggregateRequest req;
    req.add_tags("st.temp");
    req.set_start_ns(0);
    req.set_end_ns(200);
    req.set_step_ns(200);
    req.set_max_gap_ns(max_gap);
    req.add_functions(v1::TIME_WEIGHTED_AVG);
    v1::AggregateResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(query_->Aggregate(&ctx, req, &resp).ok());
    return resp.series(0).windows(0).values(0);
  };
  EXPECT_EQ(twa(0), (1.0 * 10 + 5 * 10) / 20);       // each value holds 10 ns
  EXPECT_EQ(twa(1000), (1.0 * 150 + 5 * 50) / 200);  // the request's gap wins
  v1::InterpolateRequest ireq;
  ireq.add_tags("st.temp");
  ireq.set_start_ns(0);
  ireq.set_end_ns(200);
  ireq.set_step_ns(50);
  ireq.set_method(v1::PREVIOUS);
  v1::InterpolateResponse iresp;
  grpc::ClientContext ictx;
  ASSERT_TRUE(query_->Interpolate(&ictx, ireq, &iresp).ok());
  ASSERT_EQ(iresp.series(0).samples_size(), 4);
  std::vector<bool> has;
  for (const auto& p : iresp.series(0).samples()) has.push_back(p.has_value());
  EXPECT_EQ(has, (std::vector<bool>{true, false, false, true}));
  EXPECT_EQ(iresp.series(0).samples(3).value().double_value(), 5);
}

// A node outside a site cluster answers Cluster.Placement with num_shards 0
// and no members: routers send it everything (docs/cluster.md).
TEST_F(NodeE2ETest, SingleNodePlacementOwnsEverything) {
  v1::PlacementResponse placement;
  grpc::ClientContext ctx;
  grpc::Status status =
      v1::Cluster::NewStub(channel_)->Placement(&ctx, v1::PlacementRequest(), &placement);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(placement.site(), "local");
  EXPECT_EQ(placement.num_shards(), 0u);
  EXPECT_EQ(placement.members_size(), 0);
  EXPECT_EQ(placement.shard_owner_size(), 0);
}

// --twin_map is stored in the node: it survives a restart without the flag,
// `none` clears it, and a malformed one stops the node at start.
TEST_F(NodeE2ETest, TwinMapIsPersistedAndShownByStats) {
  auto twin_map = [&] {
    v1::StatsResponse r;
    grpc::ClientContext ctx;
    EXPECT_TRUE(v1::Admin::NewStub(channel_)->Stats(&ctx, v1::StatsRequest(), &r).ok());
    return r.twin_map();
  };
  EXPECT_EQ(twin_map(), "");
  ASSERT_EQ(node_->Stop(), 0);
  StartNode({"--twin_map=us.=mx."});
  EXPECT_EQ(twin_map(), "us.=mx.");
  ASSERT_EQ(node_->Stop(), 0);
  StartNode();
  EXPECT_EQ(twin_map(), "us.=mx.");
  ASSERT_EQ(node_->Stop(), 0);
  for (const char* bad :
       {"--twin_map=us.", "--twin_map=us.=", "--twin_map=a=a", "--twin_map=us =mx."}) {
    testing::NodeProcess refused(dir_.Sub("node"), {bad});
    EXPECT_FALSE(refused.Start()) << bad;
  }
  StartNode({"--twin_map=none"});
  EXPECT_EQ(twin_map(), "");
}

TEST_F(NodeE2ETest, ColumnsReadReturnsTheSameSamples) {
  // Mixed qualities, an out-of-order sample (it becomes the second), and
  // samples 1000..1499 in time order all Uncertain: with a limit of 500 the
  // third page has one quality for all, the others one per sample.
  v1::WriteRequest req;
  for (int i = 0; i < 3000; ++i) {
    AddDouble(&req, "cr.t", int64_t{i} * 1000 + (i % 7), i * 0.25);
    v1::Sample* s = req.mutable_series(0)->mutable_samples(i);
    if (i >= 999 && i < 1499) {
      s->set_quality(0x40000000);
    } else if (i % 97 == 0) {
      s->set_quality(0x80000000u);
    }
  }
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  v1::WriteRequest late;
  AddDouble(&late, "cr.t", 500, -1.0);
  ASSERT_TRUE(WriteBatch(late, &ack).ok());
  for (uint64_t limit : {uint64_t{0}, uint64_t{500}}) {
    std::vector<v1::Sample> samples, columns;
    grpc::Status s1, s2;
    int calls1 = ReadAll("cr.t", 0, 5'000'000, limit, &samples, &s1);
    int calls2 = ReadAll("cr.t", 0, 5'000'000, limit, &columns, &s2, /*columns=*/true);
    ASSERT_TRUE(s1.ok() && s2.ok()) << s1.error_message() << s2.error_message();
    EXPECT_EQ(calls1, calls2);
    ASSERT_EQ(samples.size(), 3001u);
    ASSERT_EQ(columns.size(), samples.size());
    for (size_t i = 0; i < samples.size(); ++i) {
      EXPECT_EQ(columns[i].timestamp_ns(), samples[i].timestamp_ns()) << i;
      EXPECT_EQ(columns[i].value().double_value(), samples[i].value().double_value()) << i;
      EXPECT_EQ(columns[i].quality(), samples[i].quality()) << i;
    }
  }
}

TEST_F(NodeE2ETest, RetriedBatchIsAcknowledgedButStoredOnce) {
  v1::WriteRequest req;
  req.set_client_id("gw");
  req.set_batch_sequence(1);
  AddDouble(&req, "t", 1, 1.0);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_FALSE(ack.duplicate());
  req.mutable_series(0)->mutable_samples(0)->mutable_value()->set_double_value(99);
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_TRUE(ack.duplicate());
  EXPECT_EQ(ack.accepted_count(), 1u);
  std::vector<v1::Sample> samples;
  grpc::Status status;
  ReadAll("t", 0, 10, 0, &samples, &status);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].value().double_value(), 1.0);
}

// A batch the node refuses as a whole on the Ingest.Write stream: to a
// writer that asks for it, the refusal comes in band (WriteAck.refused, after
// the acks of the batches before it), and the stream ends with the reason
// once the writer half-closes, not with CANCELLED.
TEST_F(NodeE2ETest, AStreamRefusalComesInBandAndEndsWithTheReason) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("historian-write-refusals", "1");
  auto stream = ingest_->Write(&ctx);
  v1::WriteRequest good;
  good.set_client_id("gw-r");
  good.set_batch_sequence(1);
  AddDouble(&good, "refusal.t", 1, 1.0);
  v1::WriteRequest bad;
  bad.set_client_id("gw-r");
  bad.set_batch_sequence(2);
  v1::TagSamples* series = bad.add_series();
  series->set_tag("refusal.t");
  series->add_samples()->set_timestamp_ns(2);
  series->mutable_columns()->add_timestamp_deltas_ns(2);
  series->mutable_columns()->add_double_values(2.0);
  ASSERT_TRUE(stream->Write(good));
  ASSERT_TRUE(stream->Write(bad));
  v1::WriteAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_sequence(), 1u);
  EXPECT_FALSE(ack.refused());
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_sequence(), 2u);
  EXPECT_TRUE(ack.refused());
  EXPECT_EQ(ack.accepted_count(), 0u);
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&ack));
  grpc::Status finished = stream->Finish();
  EXPECT_EQ(finished.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(finished.error_message(), HasSubstr("series[0]"));

  std::vector<v1::Sample> samples;
  grpc::Status status;
  ReadAll("refusal.t", 0, 100, 0, &samples, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].timestamp_ns(), 1);
}

TEST_F(NodeE2ETest, InvalidSamplesAreRejectedWithFieldAndReason) {
  v1::WriteRequest req;
  AddDouble(&req, "good.tag", 1, 1.0);
  AddDouble(&req, "bad tag!", 1, 1.0);
  auto* s = req.mutable_series(0)->add_samples();  // value not set
  s->set_timestamp_ns(2);
  auto* str = req.mutable_series(0)->add_samples();  // string into a double tag
  str->set_timestamp_ns(3);
  str->mutable_value()->set_string_value("x");
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_EQ(ack.accepted_count(), 1u);
  ASSERT_EQ(ack.rejected_size(), 3);
  EXPECT_EQ(ack.rejected(0).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ack.rejected(0).reason(), HasSubstr("series[0].samples[1].value"));
  EXPECT_EQ(ack.rejected(1).code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(ack.rejected(1).reason(), HasSubstr("is double, got string"));
  EXPECT_EQ(ack.rejected(2).series_index(), 1u);
  EXPECT_EQ(ack.rejected(2).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ack.rejected(2).reason(), HasSubstr("series[1].tag"));

  std::string big(5000, 'x');
  v1::WriteRequest long_string;
  auto* ls = long_string.add_series();
  ls->set_tag("s.tag");
  auto* lss = ls->add_samples();
  lss->mutable_value()->set_string_value(big);
  ASSERT_TRUE(WriteBatch(long_string, &ack).ok());
  ASSERT_EQ(ack.rejected_size(), 1);
  EXPECT_THAT(ack.rejected(0).reason(), HasSubstr("over the limit of 4096"));
}

TEST_F(NodeE2ETest, ColumnsFormIsStoredAndCheckedLikeSamples) {
  v1::WriteRequest req;
  // A double tag: 4 samples, one quality for all, the last out of order.
  v1::TagSamples* d = req.add_series();
  d->set_tag("col.double");
  for (int64_t delta : {1000, 1000, 1000, -2500})
    d->mutable_columns()->add_timestamp_deltas_ns(delta);
  for (double v : {1.5, -0.0, 2.25, 7.0}) d->mutable_columns()->add_double_values(v);
  d->mutable_columns()->add_qualities(0x40000000);
  // An int64 series: per-sample qualities.
  v1::TagSamples* n = req.add_series();
  n->set_tag("col.int");
  for (int j = 0; j < 3; ++j) {
    n->mutable_columns()->add_timestamp_deltas_ns(j == 0 ? 10 : 1);
    n->mutable_columns()->add_int64_values(int64_t{1} << (60 + j / 2));
    n->mutable_columns()->add_qualities(j == 1 ? 0x80000000u : 0);
  }
  // Ints into the double tag: 2^53 + 1 is not exact and is rejected alone.
  v1::TagSamples* exact = req.add_series();
  exact->set_tag("col.double");
  exact->mutable_columns()->add_timestamp_deltas_ns(5000);
  exact->mutable_columns()->add_timestamp_deltas_ns(1);
  exact->mutable_columns()->add_int64_values(3);
  exact->mutable_columns()->add_int64_values((int64_t{1} << 53) + 1);
  // Shape errors reject the whole series, naming the column.
  v1::TagSamples* shape = req.add_series();
  shape->set_tag("col.shape");
  shape->mutable_columns()->add_timestamp_deltas_ns(1);
  shape->mutable_columns()->add_timestamp_deltas_ns(1);
  shape->mutable_columns()->add_double_values(1);
  v1::TagSamples* wrong_type = req.add_series();
  wrong_type->set_tag("col.int");
  wrong_type->mutable_columns()->add_timestamp_deltas_ns(100);
  wrong_type->mutable_columns()->add_string_values("x");

  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_EQ(ack.accepted_count(), 4u + 3u + 1u);
  ASSERT_EQ(ack.rejected_size(), 1 + 2 + 1);
  EXPECT_EQ(ack.rejected(0).series_index(), 2u);
  EXPECT_EQ(ack.rejected(0).sample_index(), 1u);
  EXPECT_THAT(ack.rejected(0).reason(), HasSubstr("series[2].columns.int64_values[1]"));
  EXPECT_THAT(ack.rejected(0).reason(), HasSubstr("not exact as a double"));
  EXPECT_EQ(ack.rejected(1).series_index(), 3u);
  EXPECT_EQ(ack.rejected(2).sample_index(), 1u);
  EXPECT_EQ(ack.rejected(1).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ack.rejected(1).reason(),
              HasSubstr("series[3].columns.double_values: 1 values for 2 timestamps"));
  EXPECT_EQ(ack.rejected(3).code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(ack.rejected(3).reason(), HasSubstr("tag 'col.int' is int64, got string"));

  std::vector<v1::Sample> samples;
  grpc::Status status;
  ReadAll("col.double", 0, 10000, 0, &samples, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(samples.size(), 5u);
  const int64_t want_ts[] = {500, 1000, 2000, 3000, 5000};
  const double want_v[] = {7.0, 1.5, -0.0, 2.25, 3.0};
  for (size_t k = 0; k < samples.size(); ++k) {
    EXPECT_EQ(samples[k].timestamp_ns(), want_ts[k]);
    EXPECT_EQ(samples[k].value().double_value(), want_v[k]);
    EXPECT_EQ(samples[k].quality(), k == 4 ? 0u : 0x40000000u);
  }
  EXPECT_TRUE(std::signbit(samples[2].value().double_value()));
  samples.clear();
  ReadAll("col.int", 0, 10000, 0, &samples, &status);
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[1].timestamp_ns(), 11);
  EXPECT_EQ(samples[1].quality(), 0x80000000u);
  EXPECT_EQ(samples[2].value().int64_value(), int64_t{1} << 61);

  // Both forms in one series, and values without timestamps, fail the call.
  v1::WriteRequest both;
  AddDouble(&both, "col.double", 1, 1);
  both.mutable_series(0)->mutable_columns()->add_timestamp_deltas_ns(2);
  both.mutable_series(0)->mutable_columns()->add_double_values(2);
  grpc::Status st = WriteBatch(both, &ack);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("series[0]: set samples or columns, not both"));
  v1::WriteRequest no_ts;
  no_ts.add_series()->set_tag("col.double");
  no_ts.mutable_series(0)->mutable_columns()->add_double_values(2);
  st = WriteBatch(no_ts, &ack);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("values without timestamp_deltas_ns"));
}

TEST_F(NodeE2ETest, WholeBatchAndQueryErrorsNameTheField) {
  v1::WriteRequest req;
  for (int i = 0; i < 100001; ++i) AddDouble(&req, "x", i, 0);
  v1::WriteAck ack;
  grpc::Status st = WriteBatch(req, &ack);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(), HasSubstr("over the limit of 100000"));

  std::vector<v1::Sample> samples;
  ReadAll("nope", 0, 10, 0, &samples, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  AddDouble(&(req = v1::WriteRequest()), "x", 1, 0);
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  // [10, 10) is empty (OK, see hardening_test); start above end names the field.
  ReadAll("x", 10, 9, 0, &samples, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("start_ns"));

  v1::CreateTagRequest create;
  create.mutable_tag()->set_name("x");
  create.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
  v1::Tag tag;
  grpc::ClientContext cctx;
  EXPECT_EQ(catalog_->CreateTag(&cctx, create, &tag).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(NodeE2ETest, ExplicitTagsOnlyWhenImplicitCreationIsOff) {
  node_->Stop();
  StartNode({"--implicit_tags=false"});
  v1::WriteRequest req;
  AddDouble(&req, "unknown.tag", 1, 1);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  ASSERT_EQ(ack.rejected_size(), 1);
  EXPECT_EQ(ack.rejected(0).code(), grpc::StatusCode::NOT_FOUND);

  v1::CreateTagRequest create;
  create.mutable_tag()->set_name("unknown.tag");
  create.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
  create.mutable_tag()->set_unit("bar");
  v1::Tag tag;
  grpc::ClientContext cctx;
  ASSERT_TRUE(catalog_->CreateTag(&cctx, create, &tag).ok());
  EXPECT_EQ(tag.origin_site(), "local");
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_EQ(ack.accepted_count(), 1u);

  v1::ListTagsRequest list;
  list.set_glob("unknown.*");
  v1::ListTagsResponse listed;
  grpc::ClientContext lctx;
  ASSERT_TRUE(catalog_->ListTags(&lctx, list, &listed).ok());
  ASSERT_EQ(listed.tags_size(), 1);
  EXPECT_EQ(listed.tags(0).unit(), "bar");
}

TEST_F(NodeE2ETest, GracefulStopSealsAndRestartKeepsData) {
  v1::WriteRequest req;
  for (int i = 0; i < 3000; ++i) AddDouble(&req, "g", i, i);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_EQ(node_->Stop(), 0);
  StartNode();
  std::vector<v1::Sample> samples;
  grpc::Status st;
  ReadAll("g", 0, 3000, 0, &samples, &st);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(samples.size(), 3000u);
}

// Admin.Compact merges the chunks a stop sealed (1,024 samples each at
// most) into one, and every sample stays. The samples are recent, so the
// background merge (for chunks over an hour old) leaves them alone.
TEST_F(NodeE2ETest, CompactMergesSealedChunksAndKeepsEverySample) {
  const int64_t now_ns = absl::ToUnixNanos(absl::Now());
  const int64_t base = now_ns - 10 * int64_t{1000000000};
  v1::WriteRequest req;
  for (int i = 0; i < 3000; ++i) AddDouble(&req, "recent", base + i * int64_t{1000000}, i);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_EQ(node_->Stop(), 0);
  StartNode();
  auto admin = v1::Admin::NewStub(channel_);
  v1::CompactResponse compacted;
  grpc::ClientContext compact_ctx;
  ASSERT_TRUE(admin->Compact(&compact_ctx, v1::CompactRequest(), &compacted).ok());
  v1::StatsResponse stats;
  grpc::ClientContext stats_ctx;
  ASSERT_TRUE(admin->Stats(&stats_ctx, v1::StatsRequest(), &stats).ok());
  EXPECT_EQ(stats.chunks_merged(), 3u);
  std::vector<v1::Sample> samples;
  grpc::Status st;
  ReadAll("recent", base, base + 3000 * int64_t{1000000}, 0, &samples, &st);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(samples.size(), 3000u);
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(samples[i].value().double_value(), i);
}

// --rollup_min_day_samples reaches the store: a day of 60 samples (one hour
// that pays a rollup) gets no day record with the default 2,048 (its hours
// are read raw) and one with 1; 0 is refused naming the flag. Reads give
// every sample either way.
TEST_F(NodeE2ETest, RollupMinDaySamplesFlagSetsWhichDaysGetARecord) {
  const int64_t h = int64_t{3600} * 1000000000, day = 24 * h;
  const int64_t d0 = int64_t{1700000000} * 1000000000 / day * day;  // a UTC day, in the past
  // Writes 60 samples (one a minute) into hour 3 of day `d`, compacts and
  // returns the rollups column family's keys.
  auto day_records = [&](const std::string& tag, int64_t d) -> uint64_t {
    v1::WriteRequest req;
    for (int i = 0; i < 60; ++i) AddDouble(&req, tag, d + 3 * h + i * (h / 60), i);
    v1::WriteAck ack;
    EXPECT_TRUE(WriteBatch(req, &ack).ok());
    auto admin = v1::Admin::NewStub(channel_);
    v1::CompactResponse compacted;
    grpc::ClientContext compact_ctx;
    EXPECT_TRUE(admin->Compact(&compact_ctx, v1::CompactRequest(), &compacted).ok());
    v1::StatsResponse stats;
    grpc::ClientContext stats_ctx;
    EXPECT_TRUE(admin->Stats(&stats_ctx, v1::StatsRequest(), &stats).ok());
    std::vector<v1::Sample> samples;
    grpc::Status st;
    ReadAll(tag, d, d + day, 0, &samples, &st);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(samples.size(), 60u) << tag;
    for (const auto& cf : stats.column_families()) {
      if (cf.name() == "rollups") return cf.estimated_keys();
    }
    ADD_FAILURE() << "no rollups column family in Admin.Stats";
    return 0;
  };
  EXPECT_EQ(day_records("day.default", d0), 0u);
  EXPECT_EQ(node_->Stop(), 0);
  StartNode({"--rollup_min_day_samples=1"});
  EXPECT_EQ(day_records("day.every", d0 + day), 1u);
  EXPECT_EQ(node_->Stop(), 0);
  testing::CommandResult r =
      testing::RunCommand({testing::BinDir() + "/server/historiand",
                           "--data_dir=" + dir_.Sub("bad"), "--rollup_min_day_samples=0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--rollup_min_day_samples"));
}

// Polls Admin.Stats until `done` holds; false after 30 s.
bool AwaitStats(v1::Admin::Stub* admin, const std::function<bool(const v1::StatsResponse&)>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    v1::StatsResponse stats;
    grpc::ClientContext ctx;
    if (admin->Stats(&ctx, v1::StatsRequest(), &stats).ok() && done(stats)) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

// Issue 13 item 1, as reported: a tag written in two hours, stopped (the
// stop seals), restarted, its first sample corrected, stopped, restarted.
// Read with limit 2 came back with the corrected sample only and no
// continuation token: the page counted the overwritten sample.
TEST_F(NodeE2ETest, ReadLimitCountsCorrectedSamplesOnceAfterRestarts) {
  const int64_t h = int64_t{3600} * 1000000000;
  const int64_t t0 = int64_t{1700000000} / 3600 * h;  // an hour boundary, well in the past
  v1::WriteRequest req;
  AddDouble(&req, "two.hours", t0, 1);
  AddDouble(&req, "two.hours", t0 + h, 2);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_EQ(node_->Stop(), 0);
  StartNode();
  v1::WriteRequest fix;
  AddDouble(&fix, "two.hours", t0, 10);
  ASSERT_TRUE(WriteBatch(fix, &ack).ok());
  EXPECT_EQ(node_->Stop(), 0);
  StartNode();
  std::vector<v1::Sample> samples;
  grpc::Status st;
  ReadAll("two.hours", t0, t0 + 2 * h, 2, &samples, &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].value().double_value(), 10);
  EXPECT_EQ(samples[1].value().double_value(), 2);
  // The overlap the stop sealed is rewritten (by the background pass or by
  // Admin.Compact), and a second compaction finds nothing left to rewrite.
  auto admin = v1::Admin::NewStub(channel_);
  auto compact_and_stats = [&](v1::StatsResponse* stats) {
    v1::CompactResponse compacted;
    grpc::ClientContext compact_ctx;
    ASSERT_TRUE(admin->Compact(&compact_ctx, v1::CompactRequest(), &compacted).ok());
    grpc::ClientContext stats_ctx;
    ASSERT_TRUE(admin->Stats(&stats_ctx, v1::StatsRequest(), stats).ok());
  };
  v1::StatsResponse first, second;
  compact_and_stats(&first);
  EXPECT_GT(first.chunks_rewritten(), 0u);
  compact_and_stats(&second);
  EXPECT_EQ(second.chunks_rewritten(), first.chunks_rewritten());
}

// Issue 13 item 1 without a limit (reported as 3000 samples in each of
// hours 0-3, restart, the first 1000 corrected, restart: Read [h0, h4)
// returned 9,000 of 12,000 and no token). Here 12,000 samples of the last
// hour, so no background merge changes the chunks (1,024 samples each, and
// the correction's 1,000 over the first): the first 10,000-sample page held
// 1,000 overwritten samples and came back short. Also in pages of 7
// (--read_page_samples) and after Admin.Compact.
TEST_F(NodeE2ETest, ReadReturnsEverySampleOverCorrectedSealedChunks) {
  const int64_t step = 250000000;  // 4 Hz
  const int64_t t0 = absl::ToUnixNanos(absl::Now()) - int64_t{55} * 60 * 1000000000;
  const int64_t end = t0 + 12000 * step;
  v1::WriteRequest req;
  for (int i = 0; i < 12000; ++i) AddDouble(&req, "four.hours", t0 + i * step, i);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_EQ(node_->Stop(), 0);
  StartNode();
  v1::WriteRequest fix;
  for (int i = 0; i < 1000; ++i) AddDouble(&fix, "four.hours", t0 + i * step, -i);
  ASSERT_TRUE(WriteBatch(fix, &ack).ok());
  EXPECT_EQ(node_->Stop(), 0);
  auto check = [&](const char* when) {
    std::vector<v1::Sample> samples;
    grpc::Status st;
    ReadAll("four.hours", t0, end, 0, &samples, &st);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(samples.size(), 12000u) << when;
    for (int i = 0; i < 12000; ++i) {
      ASSERT_EQ(samples[i].timestamp_ns(), t0 + i * step) << when;
      ASSERT_EQ(samples[i].value().double_value(), i < 1000 ? -i : i) << when;
    }
  };
  StartNode();
  check("after restart");
  EXPECT_EQ(node_->Stop(), 0);
  StartNode({"--read_page_samples=7"});
  check("pages of 7");
  auto admin = v1::Admin::NewStub(channel_);
  v1::CompactResponse compacted;
  grpc::ClientContext compact_ctx;
  ASSERT_TRUE(admin->Compact(&compact_ctx, v1::CompactRequest(), &compacted).ok());
  check("after compaction");
}

// Issue 13 item 2: t = 4000 s sealed, then 3000 s and 15000 s: the rewrite
// joins 3000 s and 4000 s into a chunk wider than any before. Read [3600 s,
// 5000 s) came back empty and Aggregate COUNT gave [1,0,0,1], also after a
// restart.
TEST_F(NodeE2ETest, OverlapRewriteWidensTheChunkSpanForEveryQuery) {
  node_->Stop();
  StartNode({"--head_max_age=1s"});
  const int64_t s = 1000000000;
  auto admin = v1::Admin::NewStub(channel_);
  v1::WriteRequest first;
  AddDouble(&first, "wide", 4000 * s, 4);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(first, &ack).ok());
  ASSERT_TRUE(AwaitStats(admin.get(), [](const v1::StatsResponse& st) {
    return st.chunks_sealed() >= 1 && st.head_samples() == 0;
  }));
  v1::WriteRequest late;
  AddDouble(&late, "wide", 3000 * s, 3);
  AddDouble(&late, "wide", 15000 * s, 15);
  ASSERT_TRUE(WriteBatch(late, &ack).ok());
  ASSERT_TRUE(AwaitStats(admin.get(),
                         [](const v1::StatsResponse& st) { return st.chunks_rewritten() >= 3; }));
  auto check = [&](const char* when) {
    std::vector<v1::Sample> samples;
    grpc::Status st;
    ReadAll("wide", 3600 * s, 5000 * s, 0, &samples, &st);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(samples.size(), 1u) << when;
    EXPECT_EQ(samples[0].timestamp_ns(), 4000 * s) << when;
    v1::AggregateRequest agg;
    agg.add_tags("wide");
    agg.set_start_ns(0);
    agg.set_end_ns(20000 * s);
    agg.set_step_ns(5000 * s);
    agg.add_functions(v1::COUNT);
    agg.set_columns(true);
    v1::AggregateResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(query_->Aggregate(&ctx, agg, &resp).ok());
    ASSERT_EQ(resp.series_size(), 1);
    EXPECT_THAT(resp.series(0).counts(), ::testing::ElementsAre(2, 0, 0, 1)) << when;
    v1::PlotRequest plot;
    plot.add_tags("wide");
    plot.set_start_ns(3600 * s);
    plot.set_end_ns(5000 * s);
    plot.set_buckets(10);
    v1::PlotResponse plotted;
    grpc::ClientContext plot_ctx;
    ASSERT_TRUE(query_->Plot(&plot_ctx, plot, &plotted).ok());
    ASSERT_EQ(plotted.series_size(), 1);
    ASSERT_EQ(plotted.series(0).samples_size(), 1) << when;
    EXPECT_EQ(plotted.series(0).samples(0).timestamp_ns(), 4000 * s) << when;
  };
  check("after the rewrite");
  EXPECT_EQ(node_->Stop(), 0);
  StartNode({"--head_max_age=1s"});
  check("after a restart");
}

// Issue 13 item 12: a timestamp outside 1900..2100 is rejected with
// INVALID_ARGUMENT naming the field and the range (the batch's other samples
// are stored), and the node keeps working across a restart.
TEST_F(NodeE2ETest, TimestampsOutsideTheRangeAreRejected) {
  int i = 0;
  for (int64_t ts : {std::numeric_limits<int64_t>::min(), int64_t{-2208988800} * 1000000000 - 1,
                     int64_t{4102444800} * 1000000000}) {
    v1::WriteRequest req;
    AddDouble(&req, "range", 1000 + i++, 1);
    AddDouble(&req, "range", ts, 2);
    v1::WriteAck ack;
    ASSERT_TRUE(WriteBatch(req, &ack).ok());
    EXPECT_EQ(ack.accepted_count(), 1u) << ts;
    ASSERT_EQ(ack.rejected_size(), 1) << ts;
    EXPECT_EQ(ack.rejected(0).code(), grpc::StatusCode::INVALID_ARGUMENT) << ts;
    EXPECT_THAT(ack.rejected(0).reason(), HasSubstr("series[0].samples[1].timestamp_ns")) << ts;
    EXPECT_THAT(ack.rejected(0).reason(), HasSubstr("1900-01-01T00:00:00Z")) << ts;
  }
  EXPECT_EQ(node_->Stop(), 0);
  StartNode();
  std::vector<v1::Sample> samples;
  grpc::Status st;
  ReadAll("range", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 0,
          &samples, &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(samples.size(), 3u);
}

TEST_F(NodeE2ETest, HealthAndReflectionListTheServices) {
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("");
  grpc::ClientContext ctx;
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel_);
  auto stream = stub->ServerReflectionInfo(&ctx);
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"historian.v1.Ingest", "historian.v1.Query",
                                              "historian.v1.Catalog", "grpc.health.v1.Health"}));
}

}  // namespace
}  // namespace historian
