// Fan-out queries through a real site cluster (docs/cluster.md, "Queries"):
// one real etcd and three real historiand nodes (ClusterFixture), plus a
// single reference historiand holding the same data written directly. Every
// query type asked of any cluster node must equal the reference node's
// answer, message for message (raw reads paged with small limits across
// owners, each page asked of another node, tokens included); an owner that
// is down makes a query touching it fail with UNAVAILABLE naming its shards;
// forwarded parts carry the caller's token.
#include <algorithm>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/core/tag_shard.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
constexpr int64_t kSecond = 1000000000;
constexpr int64_t kT0 = 1767225600 * kSecond;  // 2026-01-01T00:00:00Z

// Deterministic bytes of a message (maps in key order): equal answers have
// equal bytes, NaN included.
std::string Canon(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

#define EXPECT_SAME(a, b)                                              \
  EXPECT_EQ(Canon(a), Canon(b)) << "cluster:\n"                        \
                                << (a).DebugString() << "reference:\n" \
                                << (b).DebugString()

struct Token {
  std::string value;
};

void Authorize(grpc::ClientContext* ctx, const std::string& token) {
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

// Stubs to one node.
struct Node {
  explicit Node(const std::string& address) {
    auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    ingest = v1::Ingest::NewStub(channel);
    query = v1::Query::NewStub(channel);
    catalog = v1::Catalog::NewStub(channel);
  }
  std::unique_ptr<v1::Ingest::Stub> ingest;
  std::unique_ptr<v1::Query::Stub> query;
  std::unique_ptr<v1::Catalog::Stub> catalog;
  std::string token;

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (v1::Query::Stub::*fn)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    return (query.get()->*fn)(&ctx, req, resp);
  }
  grpc::Status List(const v1::ListTagsRequest& req, v1::ListTagsResponse* resp) {
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    return catalog->ListTags(&ctx, req, resp);
  }
  // Every message of a Read stream, and its status.
  grpc::Status Read(const v1::ReadRequest& req, std::vector<v1::ReadResponse>* out) {
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    auto reader = query->Read(&ctx, req);
    v1::ReadResponse r;
    while (reader->Read(&r)) out->push_back(r);
    return reader->Finish();
  }
};

// The tags and their data: doubles, int64s, bools and strings under a few
// prefixes (for globs), written to the owner of each tag and to the
// reference node.
class ClusterQueryTest : public ::testing::Test {
 protected:
  void StartAll(const std::vector<std::string>& flags, const std::string& write_token = "",
                const std::string& admin_token = "") {
    std::vector<std::string> node_flags = {"--chunk_max_samples=64"};
    node_flags.insert(node_flags.end(), flags.begin(), flags.end());
    testing::ClusterFixtureOptions options;
    options.nodes = 3;
    options.num_shards = 64;
    options.node_flags = node_flags;
    options.token = admin_token;
    cluster_ = std::make_unique<testing::ClusterFixture>(dir_.Sub("cluster"), options);
    ASSERT_TRUE(cluster_->Start());
    std::vector<std::string> ref_flags = node_flags;
    ref_flags.push_back("--site=us");
    reference_ = std::make_unique<testing::NodeProcess>(dir_.Sub("reference"), ref_flags);
    ASSERT_TRUE(reference_->Start());
    ASSERT_TRUE(cluster_->Placement(0, &placement_).ok());
    ASSERT_EQ(placement_.num_shards(), 64u);
    for (int i = 0; i < 3; ++i) nodes_.push_back(std::make_unique<Node>(cluster_->address(i)));
    ref_ = std::make_unique<Node>(reference_->address());
    Populate(write_token);
  }

  // Index of the cluster node (fixture order) owning `tag`.
  int OwnerNode(const std::string& tag) const {
    const uint32_t shard = TagShard(tag, placement_.num_shards());
    const std::string& address =
        placement_.members(static_cast<int>(placement_.shard_owner(shard))).address();
    for (int i = 0; i < cluster_->size(); ++i) {
      if (cluster_->address(i) == address) return i;
    }
    ADD_FAILURE() << "no node at " << address;
    return 0;
  }

  void Write(Node* node, const v1::WriteRequest& req, const std::string& token) {
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    v1::WriteAck ack;
    grpc::Status s = node->ingest->WriteBatch(&ctx, req, &ack);
    ASSERT_TRUE(s.ok()) << s.error_message();
    uint64_t n = 0;
    for (const auto& series : req.series()) n += series.samples_size();
    ASSERT_EQ(ack.accepted_count(), n);
  }

  void Populate(const std::string& token) {
    std::mt19937_64 rng(20);
    for (int area = 0; area < 3; ++area) {
      for (int dev = 0; dev < 12; ++dev) {
        const int kind = dev % 6;  // 0-2 double, 3 int64, 4 bool, 5 string
        const char* suffix = kind < 3 ? "pv" : kind == 3 ? "count" : kind == 4 ? "run" : "state";
        tags_.push_back(absl::StrCat("site.area", area, ".dev", dev, ".", suffix));
        kinds_.push_back(kind);
      }
    }
    std::vector<std::vector<v1::WriteRequest>> per_node(3);
    for (size_t t = 0; t < tags_.size(); ++t) {
      v1::WriteRequest req;
      v1::TagSamples* series = req.add_series();
      series->set_tag(tags_[t]);
      int64_t ts = kT0 + static_cast<int64_t>(rng() % 30) * kSecond;
      const int n = 150 + static_cast<int>(rng() % 200);
      for (int i = 0; i < n; ++i) {
        ts += (1 + static_cast<int64_t>(rng() % 25)) * kSecond;
        if (rng() % 50 == 0) ts += 600 * kSecond;  // a gap
        v1::Sample* s = series->add_samples();
        s->set_timestamp_ns(ts);
        if (rng() % 15 == 0) s->set_quality(0x80000000u);
        switch (kinds_[t]) {
          case 3:
            s->mutable_value()->set_int64_value(static_cast<int64_t>(rng() % 1000));
            break;
          case 4:
            s->mutable_value()->set_bool_value(rng() % 2 == 0);
            break;
          case 5:
            s->mutable_value()->set_string_value(absl::StrCat("state", rng() % 4));
            break;
          default:
            s->mutable_value()->set_double_value(static_cast<double>(rng() % 20000) / 100.0);
        }
      }
      end_ = std::max(end_, ts + kSecond);
      Write(ref_.get(), req, token);
      Write(nodes_[static_cast<size_t>(OwnerNode(tags_[t]))].get(), req, token);
    }
    for (int i = 0; i < 3; ++i) {
      owned_.push_back(0);
      for (const std::string& tag : tags_) owned_.back() += OwnerNode(tag) == i;
    }
  }

  std::vector<std::string> NumericTags() const {
    std::vector<std::string> out;
    for (size_t t = 0; t < tags_.size(); ++t) {
      if (kinds_[t] <= 3) out.push_back(tags_[t]);
    }
    return out;
  }

  // Every page of a paged Read, page k asked of cluster node (first + k) % 3;
  // all messages in order. The reference reads the same pages.
  void ExpectPagedReadEqual(v1::ReadRequest req, int first) {
    std::vector<v1::ReadResponse> cluster_all, ref_all;
    for (int k = 0;; ++k) {
      ASSERT_LT(k, 100000);
      std::vector<v1::ReadResponse> got, want;
      const int n = (first + k) % 3;
      grpc::Status s = nodes_[static_cast<size_t>(n)]->Read(req, &got);
      ASSERT_TRUE(s.ok()) << "node " << n << ": " << s.error_message();
      ASSERT_TRUE(ref_->Read(req, &want).ok());
      ASSERT_EQ(got.size(), want.size()) << "page " << k << " limit " << req.limit();
      for (size_t i = 0; i < got.size(); ++i) EXPECT_SAME(got[i], want[i]);
      cluster_all.insert(cluster_all.end(), got.begin(), got.end());
      ref_all.insert(ref_all.end(), want.begin(), want.end());
      if (got.empty() || got.back().continuation_token().empty()) break;
      req.set_continuation_token(got.back().continuation_token());
    }
    // The pages together hold every sample of the range once, in order.
    uint64_t samples = 0;
    for (const auto& r : cluster_all)
      samples += r.samples_size() + r.columns().timestamp_deltas_ns_size();
    uint64_t ref_samples = 0;
    for (const auto& r : ref_all)
      ref_samples += r.samples_size() + r.columns().timestamp_deltas_ns_size();
    EXPECT_EQ(samples, ref_samples);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ClusterFixture> cluster_;
  std::unique_ptr<testing::NodeProcess> reference_;
  v1::PlacementResponse placement_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unique_ptr<Node> ref_;
  std::vector<std::string> tags_;
  std::vector<int> kinds_;
  std::vector<int> owned_;
  int64_t end_ = 0;
};

TEST_F(ClusterQueryTest, EveryQueryAtEveryNodeEqualsTheReferenceNode) {
  ASSERT_NO_FATAL_FAILURE(StartAll({}));
  // The data is spread: every node owns some of the tags.
  for (int i = 0; i < 3; ++i) EXPECT_GT(owned_[static_cast<size_t>(i)], 3) << "node " << i;
  std::mt19937_64 rng(5);
  std::vector<std::string> shuffled = tags_;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const std::vector<std::string> numeric = NumericTags();
  const int64_t mid = kT0 + (end_ - kT0) / 3;

  for (int n = 0; n < 3; ++n) {
    SCOPED_TRACE(absl::StrCat("asking cluster node ", n));
    Node& node = *nodes_[static_cast<size_t>(n)];
    {  // Latest: named (shuffled, a duplicate), glob, both.
      v1::LatestRequest req;
      for (const auto& t : shuffled) req.add_tags(t);
      req.add_tags(shuffled[0]);
      v1::LatestResponse got, want;
      ASSERT_TRUE(node.Call(&v1::Query::Stub::Latest, req, &got).ok());
      ASSERT_TRUE(ref_->Call(&v1::Query::Stub::Latest, req, &want).ok());
      EXPECT_EQ(got.values_size(), static_cast<int>(tags_.size()) + 1);
      EXPECT_SAME(got, want);
      req.Clear();
      req.set_glob("site.area1.*");
      got.Clear();
      want.Clear();
      ASSERT_TRUE(node.Call(&v1::Query::Stub::Latest, req, &got).ok());
      ASSERT_TRUE(ref_->Call(&v1::Query::Stub::Latest, req, &want).ok());
      EXPECT_EQ(got.values_size(), 12);
      EXPECT_SAME(got, want);
      req.add_tags(shuffled[5]);
      req.set_glob("*.pv");
      got.Clear();
      want.Clear();
      ASSERT_TRUE(node.Call(&v1::Query::Stub::Latest, req, &got).ok());
      ASSERT_TRUE(ref_->Call(&v1::Query::Stub::Latest, req, &want).ok());
      EXPECT_SAME(got, want);
      // An unknown tag is NOT_FOUND, as on one node.
      req.Clear();
      req.add_tags(shuffled[1]);
      req.add_tags("site.nope");
      grpc::Status s = node.Call(&v1::Query::Stub::Latest, req, &got);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    }
    {  // Aggregate: 1-minute windows, many functions, windows and columns.
      v1::AggregateRequest req;
      for (const auto& t : numeric) req.add_tags(t);
      std::shuffle(req.mutable_tags()->begin(), req.mutable_tags()->end(), rng);
      req.set_start_ns(kT0);
      req.set_end_ns(end_);
      req.set_step_ns(60 * kSecond);
      for (auto f : {v1::AVG, v1::MIN, v1::MAX, v1::COUNT, v1::SUM, v1::FIRST, v1::LAST, v1::STDDEV,
                     v1::TIME_WEIGHTED_AVG, v1::DELTA}) {
        req.add_functions(f);
      }
      for (bool columns : {false, true}) {
        req.set_columns(columns);
        v1::AggregateResponse got, want;
        grpc::Status s = node.Call(&v1::Query::Stub::Aggregate, req, &got);
        ASSERT_TRUE(s.ok()) << s.error_message();
        ASSERT_TRUE(ref_->Call(&v1::Query::Stub::Aggregate, req, &want).ok());
        ASSERT_EQ(got.series_size(), static_cast<int>(numeric.size()));
        EXPECT_SAME(got, want);
      }
      // Calendar windows (days in Berlin) and COUNT of every tag, strings too.
      v1::AggregateRequest cal;
      for (const auto& t : shuffled) cal.add_tags(t);
      cal.set_start_ns(kT0 - 2 * 86400 * kSecond);
      cal.set_end_ns(end_ + 86400 * kSecond);
      cal.set_align(v1::CALENDAR);
      cal.set_time_zone("Europe/Berlin");
      cal.set_step_unit(v1::DAY);
      cal.add_functions(v1::COUNT);
      cal.set_columns(true);
      v1::AggregateResponse got, want;
      grpc::Status s = node.Call(&v1::Query::Stub::Aggregate, cal, &got);
      ASSERT_TRUE(s.ok()) << s.error_message();
      ASSERT_TRUE(ref_->Call(&v1::Query::Stub::Aggregate, cal, &want).ok());
      EXPECT_SAME(got, want);
      // A string tag's AVG is refused by its owner as by one node.
      cal.add_functions(v1::AVG);
      grpc::Status bad = node.Call(&v1::Query::Stub::Aggregate, cal, &got);
      grpc::Status ref_bad = ref_->Call(&v1::Query::Stub::Aggregate, cal, &want);
      EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_EQ(bad.error_code(), ref_bad.error_code());
    }
    {  // Plot.
      v1::PlotRequest req;
      for (const auto& t : shuffled) req.add_tags(t);
      req.set_start_ns(mid);
      req.set_end_ns(end_);
      req.set_buckets(37);
      v1::PlotResponse got, want;
      ASSERT_TRUE(node.Call(&v1::Query::Stub::Plot, req, &got).ok());
      ASSERT_TRUE(ref_->Call(&v1::Query::Stub::Plot, req, &want).ok());
      EXPECT_SAME(got, want);
    }
    {  // Interpolate, both methods.
      v1::InterpolateRequest req;
      for (const auto& t : numeric) req.add_tags(t);
      req.set_start_ns(mid);
      req.set_end_ns(end_);
      req.set_step_ns(30 * kSecond);
      for (auto m : {v1::PREVIOUS, v1::LINEAR}) {
        req.set_method(m);
        v1::InterpolateResponse got, want;
        ASSERT_TRUE(node.Call(&v1::Query::Stub::Interpolate, req, &got).ok());
        ASSERT_TRUE(ref_->Call(&v1::Query::Stub::Interpolate, req, &want).ok());
        EXPECT_SAME(got, want);
      }
    }
    {  // ListTags: globs, pages of 1, 7 and 1000, each page from the next node.
      for (const std::string glob : {"", "site.area2.*", "*.dev1?.*"}) {
        for (uint32_t page_size : {1u, 7u, 1000u}) {
          v1::ListTagsRequest req;
          req.set_glob(glob);
          req.set_page_size(page_size);
          int pages = 0;
          std::vector<std::string> listed;
          while (true) {
            v1::ListTagsResponse got, want;
            ASSERT_TRUE(nodes_[static_cast<size_t>((n + pages) % 3)]->List(req, &got).ok());
            ASSERT_TRUE(ref_->List(req, &want).ok());
            ASSERT_EQ(got.tags_size(), want.tags_size());
            for (int i = 0; i < got.tags_size(); ++i) {
              // Created at different moments on the two nodes.
              got.mutable_tags(i)->clear_created_ns();
              want.mutable_tags(i)->clear_created_ns();
              listed.push_back(got.tags(i).name());
            }
            EXPECT_SAME(got, want);
            if (got.next_page_token().empty()) break;
            req.set_page_token(got.next_page_token());
            ASSERT_LT(++pages, 1000);
          }
          if (glob.empty()) {
            EXPECT_EQ(listed.size(), tags_.size());
          }
        }
      }
    }
    {  // Read, paged with small limits across owners; bounds; columns.
      v1::ReadRequest req;
      for (const auto& t : shuffled) req.add_tags(t);
      req.set_start_ns(mid);
      req.set_end_ns(end_ - 300 * kSecond);
      for (uint64_t limit : {1ull, 7ull, 50ull, 333ull, 0ull}) {
        for (bool bounds : {false, true}) {
          if (limit == 1 && n != 0) continue;  // thousands of pages: once is enough
          req.set_limit(limit);
          req.set_include_bounds(bounds);
          req.set_columns(limit == 50);
          SCOPED_TRACE(absl::StrCat("limit ", limit, " bounds ", bounds));
          ExpectPagedReadEqual(req, n);
        }
      }
    }
  }
}

TEST_F(ClusterQueryTest, AnOwnerDownFailsQueriesTouchingItWithUnavailableNamingItsShards) {
  ASSERT_NO_FATAL_FAILURE(StartAll({}));
  const std::string down_id = cluster_->member_id(2);
  cluster_->KillNode(2);
  Node& node = *nodes_[0];
  std::vector<std::string> mine;  // tags of nodes 0 and 1
  for (const auto& t : tags_) {
    if (OwnerNode(t) != 2) mine.push_back(t);
  }
  auto expect_unavailable = [&](const grpc::Status& s, const char* what) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << what << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("member " + down_id), std::string::npos)
        << what << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("shards "), std::string::npos)
        << what << ": " << s.error_message();
  };
  v1::AggregateRequest agg;
  for (const auto& t : NumericTags()) agg.add_tags(t);
  agg.set_start_ns(kT0);
  agg.set_end_ns(end_);
  agg.set_step_ns(60 * kSecond);
  agg.add_functions(v1::AVG);
  v1::AggregateResponse agg_resp;
  expect_unavailable(node.Call(&v1::Query::Stub::Aggregate, agg, &agg_resp), "Aggregate");
  v1::LatestRequest latest;
  latest.set_glob("site.*");
  v1::LatestResponse latest_resp;
  expect_unavailable(node.Call(&v1::Query::Stub::Latest, latest, &latest_resp), "Latest glob");
  v1::PlotRequest plot;
  for (const auto& t : tags_) plot.add_tags(t);
  plot.set_start_ns(kT0);
  plot.set_end_ns(end_);
  plot.set_buckets(10);
  v1::PlotResponse plot_resp;
  expect_unavailable(node.Call(&v1::Query::Stub::Plot, plot, &plot_resp), "Plot");
  v1::InterpolateRequest interp;
  for (const auto& t : NumericTags()) interp.add_tags(t);
  interp.set_start_ns(kT0);
  interp.set_end_ns(end_);
  interp.set_step_ns(60 * kSecond);
  interp.set_method(v1::PREVIOUS);
  v1::InterpolateResponse interp_resp;
  expect_unavailable(node.Call(&v1::Query::Stub::Interpolate, interp, &interp_resp), "Interpolate");
  v1::ListTagsResponse list;
  expect_unavailable(node.List(v1::ListTagsRequest(), &list), "ListTags");
  v1::ReadRequest read;
  for (const auto& t : tags_) read.add_tags(t);
  read.set_start_ns(kT0);
  read.set_end_ns(end_);
  std::vector<v1::ReadResponse> pieces;
  expect_unavailable(node.Read(read, &pieces), "Read");

  // Queries of the live owners' tags still answer, equal to the reference.
  v1::AggregateRequest live = agg;
  live.clear_tags();
  for (const auto& t : mine) live.add_tags(t);
  live.clear_functions();
  live.add_functions(v1::COUNT);
  v1::AggregateResponse got, want;
  ASSERT_TRUE(node.Call(&v1::Query::Stub::Aggregate, live, &got).ok());
  ASSERT_TRUE(ref_->Call(&v1::Query::Stub::Aggregate, live, &want).ok());
  EXPECT_SAME(got, want);

  // Back: the same query answers in full again.
  ASSERT_TRUE(cluster_->StartNode(2));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        agg_resp.Clear();
        return node.Call(&v1::Query::Stub::Aggregate, agg, &agg_resp).ok();
      },
      absl::Seconds(30)));
  ASSERT_TRUE(ref_->Call(&v1::Query::Stub::Aggregate, agg, &want).ok());
  EXPECT_SAME(agg_resp, want);
}

TEST_F(ClusterQueryTest, ForwardedPartsCarryTheCallersToken) {
  const std::string reader = "reader-token-0123456789abcdef";
  const std::string writer = "writer-token-0123456789abcdef";
  const std::string admin = "admin-token-0123456789abcdef0";
  const std::string token_file = dir_.Sub("tokens");
  {
    std::ofstream f(token_file);
    f << reader << " reader\n" << writer << " writer\n" << admin << " admin,reader,writer\n";
  }
  ASSERT_NO_FATAL_FAILURE(StartAll({"--token_file=" + token_file}, writer, admin));
  v1::AggregateRequest agg;
  for (const auto& t : NumericTags()) agg.add_tags(t);
  agg.set_start_ns(kT0);
  agg.set_end_ns(end_);
  agg.set_step_ns(60 * kSecond);
  agg.add_functions(v1::AVG);
  ref_->token = reader;
  v1::AggregateResponse want;
  ASSERT_TRUE(ref_->Call(&v1::Query::Stub::Aggregate, agg, &want).ok());
  for (int n = 0; n < 3; ++n) {
    Node& node = *nodes_[static_cast<size_t>(n)];
    node.token = reader;
    v1::AggregateResponse got;
    grpc::Status s = node.Call(&v1::Query::Stub::Aggregate, agg, &got);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_SAME(got, want);
    v1::ListTagsResponse list;
    ASSERT_TRUE(node.List(v1::ListTagsRequest(), &list).ok());
    EXPECT_EQ(list.tags_size(), static_cast<int>(tags_.size()));
    // A bad token is refused; the writer's token has no reader role.
    node.token = "not-a-token-0123456789abcdef";
    EXPECT_EQ(node.Call(&v1::Query::Stub::Aggregate, agg, &got).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    node.token = writer;
    EXPECT_EQ(node.Call(&v1::Query::Stub::Aggregate, agg, &got).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
}

TEST_F(ClusterQueryTest, CatalogCallsAtAnyNodeGoToTheTagsOwner) {
  ASSERT_NO_FATAL_FAILURE(StartAll({}));
  const std::string name = "site.extra.created";
  const int owner = OwnerNode(name);
  Node& asker = *nodes_[static_cast<size_t>((owner + 1) % 3)];
  Node& other = *nodes_[static_cast<size_t>((owner + 2) % 3)];
  auto ctx = [](grpc::ClientContext* c) { Authorize(c, ""); };
  {
    v1::CreateTagRequest req;
    req.mutable_tag()->set_name(name);
    req.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
    req.mutable_tag()->set_unit("bar");
    grpc::ClientContext c;
    ctx(&c);
    v1::Tag created;
    grpc::Status s = asker.catalog->CreateTag(&c, req, &created);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // Stored at the owner: its own listing (a forwarded call answers from
  // local data) shows it; the others' (owned tags only) do not.
  for (int i = 0; i < 3; ++i) {
    v1::ListTagsRequest req;
    req.set_glob("site.extra.*");
    grpc::ClientContext c;
    ctx(&c);
    c.AddMetadata("x-historian-forwarded", "1");
    v1::ListTagsResponse resp;
    ASSERT_TRUE(nodes_[static_cast<size_t>(i)]->catalog->ListTags(&c, req, &resp).ok());
    EXPECT_EQ(resp.tags_size(), i == owner ? 1 : 0) << "node " << i;
  }
  {
    v1::UpdateTagRequest req;
    req.mutable_tag()->set_name(name);
    req.mutable_tag()->set_unit("baz");
    grpc::ClientContext c;
    ctx(&c);
    v1::Tag updated;
    grpc::Status s = other.catalog->UpdateTag(&c, req, &updated);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  for (int i = 0; i < 3; ++i) {
    v1::GetTagRequest req;
    req.set_name(name);
    grpc::ClientContext c;
    ctx(&c);
    v1::Tag tag;
    grpc::Status s = nodes_[static_cast<size_t>(i)]->catalog->GetTag(&c, req, &tag);
    ASSERT_TRUE(s.ok()) << "node " << i << ": " << s.error_message();
    EXPECT_EQ(tag.unit(), "baz");
  }
  {
    v1::DeleteTagRequest req;
    req.set_name(name);
    grpc::ClientContext c;
    ctx(&c);
    v1::DeleteTagResponse resp;
    grpc::Status s = asker.catalog->DeleteTag(&c, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::GetTagRequest req;
  req.set_name(name);
  grpc::ClientContext c;
  ctx(&c);
  v1::Tag tag;
  EXPECT_EQ(other.catalog->GetTag(&c, req, &tag).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace historian
