// The HTTP/JSON API of a real historiand (--http_listen): every endpoint in
// JSON and CSV, ISO and epoch_ms times, paging of raw reads, calendar
// windows, answers equal to the gRPC service's, errors as {code, message}
// with their HTTP status, the bearer-token roles, and the embedded page.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <bit>
#include <charconv>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/security/security_util.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace v1 = ::historian::v1;

constexpr int64_t kSecond = 1000000000;
// 2026-01-01T00:00:00Z
constexpr int64_t kT0 = int64_t{1767225600} * kSecond;
constexpr char kT0Iso[] = "2026-01-01T00:00:00Z";

constexpr char kReader[] = "reader-token-0123456789";
constexpr char kWriter[] = "writer-token-0123456789";

// A node with --http_listen and an hour of 1 Hz data in h.temp (unit, range,
// description), a Bad-quality sample in h.flow, and a string tag h.state.
class HttpNode {
 public:
  explicit HttpNode(const testing::TempDir& dir, std::vector<std::string> flags = {}) {
    flags.push_back("--http_listen=127.0.0.1:0");
    flags.push_back("--http_port_file=" + dir.Sub("http.port"));
    flags.push_back("--metrics_listen=");
    node_ = std::make_unique<testing::NodeProcess>(dir.Sub("node"), flags);
    started_ = node_->Start();
    if (started_) http_port_ = std::stoi(testing::ReadTextFile(dir.Sub("http.port")));
    channel_ = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
  }
  bool started() const { return started_; }
  int http_port() const { return http_port_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  // Writes the data set; `token` must be a writer's when auth is on.
  bool Fill(const std::string& token = "") {
    auto catalog = v1::Catalog::NewStub(channel_);
    v1::CreateTagRequest create;
    v1::Tag* tag = create.mutable_tag();
    tag->set_name("h.temp");
    tag->set_value_type(v1::VALUE_TYPE_DOUBLE);
    tag->set_unit("degC");
    tag->set_description("Reactor, temperature");
    tag->set_eng_low(0);
    tag->set_eng_high(200);
    (*tag->mutable_attributes())["asset"] = "reactor1";
    v1::Tag created;
    if (!catalog->CreateTag(testing::Ctx(token).get(), create, &created).ok()) return false;
    v1::WriteRequest req;
    auto* temp = req.add_series();
    temp->set_tag("h.temp");
    for (int i = 0; i < 3600; ++i) {
      auto* s = temp->add_samples();
      s->set_timestamp_ns(kT0 + i * kSecond);
      s->mutable_value()->set_double_value(20 + i % 60);
    }
    auto* flow = req.add_series();
    flow->set_tag("h.flow");
    for (int i = 0; i < 3; ++i) {
      auto* s = flow->add_samples();
      s->set_timestamp_ns(kT0 + i * 60 * kSecond);
      s->mutable_value()->set_double_value(1.5 * i);
      if (i == 1) s->set_quality(0x80000000u);
    }
    auto* state = req.add_series();
    state->set_tag("h.state");
    auto* s = state->add_samples();
    s->set_timestamp_ns(kT0);
    s->mutable_value()->set_string_value("run, \"fast\"");
    v1::WriteAck ack;
    auto ingest = v1::Ingest::NewStub(channel_);
    return ingest->WriteBatch(testing::Ctx(token).get(), req, &ack).ok() &&
           ack.rejected_size() == 0;
  }

 private:
  std::unique_ptr<testing::NodeProcess> node_;
  std::shared_ptr<grpc::Channel> channel_;
  bool started_ = false;
  int http_port_ = 0;
};

struct Answer {
  int status = 0;
  std::string content_type;
  std::string body;
  json Json() const { return json::parse(body); }
};

Answer Get(int port, const std::string& path, const httplib::Headers& headers = {}) {
  httplib::Client http("127.0.0.1", port);
  http.set_read_timeout(30, 0);
  auto res = http.Get(path.c_str(), headers);
  if (!res) return {};
  return {res->status, res->get_header_value("Content-Type"), res->body};
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  return lines;
}

class HttpApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    node_ = new HttpNode(*dir_);
    ASSERT_TRUE(node_->started());
    ASSERT_TRUE(node_->Fill());
  }
  static void TearDownTestSuite() {
    delete node_;
    delete dir_;
  }
  static Answer Api(const std::string& path, const httplib::Headers& h = {}) {
    return Get(node_->http_port(), path, h);
  }
  static testing::TempDir* dir_;
  static HttpNode* node_;
};
testing::TempDir* HttpApiTest::dir_ = nullptr;
HttpNode* HttpApiTest::node_ = nullptr;

const std::string kHour = std::string("&start=") + kT0Iso + "&end=2026-01-01T01:00:00Z";

TEST_F(HttpApiTest, TagsWithMetadataInJsonAndCsv) {
  Answer a = Api("/api/v1/tags?glob=h.t*");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_THAT(a.content_type, StartsWith("application/json"));
  json j = a.Json();
  ASSERT_EQ(j["tags"].size(), 1u);
  EXPECT_EQ(j["tags"][0]["name"], "h.temp");
  EXPECT_EQ(j["tags"][0]["unit"], "degC");
  EXPECT_EQ(j["tags"][0]["description"], "Reactor, temperature");
  EXPECT_EQ(j["tags"][0]["value_type"], "double");
  EXPECT_EQ(j["tags"][0]["eng_low"], 0.0);
  EXPECT_EQ(j["tags"][0]["eng_high"], 200.0);
  EXPECT_EQ(j["tags"][0]["attributes"]["asset"], "reactor1");
  EXPECT_EQ(Api("/api/v1/tags?glob=h.*").Json()["tags"].size(), 3u);
  json by_attr = Api("/api/v1/tags?attr=asset%3Dreactor1").Json();
  ASSERT_EQ(by_attr["tags"].size(), 1u);
  EXPECT_EQ(by_attr["tags"][0]["name"], "h.temp");

  Answer csv = Api("/api/v1/tags?glob=h.t*&format=csv");
  ASSERT_EQ(csv.status, 200);
  EXPECT_THAT(csv.content_type, StartsWith("text/csv"));
  EXPECT_EQ(Lines(csv.body), (std::vector<std::string>{
                                 "name,value_type,unit,description,eng_low,eng_high,origin_site",
                                 "h.temp,double,degC,\"Reactor, temperature\",0.0,200.0,local"}));
  Answer accept = Api("/api/v1/tags?glob=h.t*", {{"Accept", "text/csv"}});
  EXPECT_EQ(accept.body, csv.body);
}

TEST_F(HttpApiTest, ReadJsonIsoAndEpochMs) {
  Answer a = Api("/api/v1/read?tags=h.temp" + kHour);
  ASSERT_EQ(a.status, 200) << a.body;
  json j = a.Json();
  ASSERT_EQ(j["series"].size(), 1u);
  EXPECT_EQ(j["series"][0]["tag"], "h.temp");
  ASSERT_EQ(j["series"][0]["samples"].size(), 3600u);
  EXPECT_EQ(j["series"][0]["samples"][0]["time"], kT0Iso);
  EXPECT_EQ(j["series"][0]["samples"][1]["time"], "2026-01-01T00:00:01Z");
  EXPECT_EQ(j["series"][0]["samples"][1]["value"], 21.0);
  EXPECT_EQ(j["series"][0]["samples"][1]["quality"], 0);
  EXPECT_EQ(j["continuation_token"], "");

  json ms = Api("/api/v1/read?tags=h.temp&time_format=epoch_ms&start_ns=" + std::to_string(kT0) +
                "&end_ns=" + std::to_string(kT0 + 2 * kSecond))
                .Json();
  ASSERT_EQ(ms["series"][0]["samples"].size(), 2u);
  EXPECT_EQ(ms["series"][0]["samples"][1]["time"], kT0 / 1000000 + 1000);

  // Strings, Bad quality and several tags in one call.
  json multi = Api("/api/v1/read?tags=h.flow,h.state" + kHour).Json();
  ASSERT_EQ(multi["series"].size(), 2u);
  EXPECT_EQ(multi["series"][0]["samples"][1]["quality"], 0x80000000u);
  EXPECT_EQ(multi["series"][1]["samples"][0]["value"], "run, \"fast\"");
}

TEST_F(HttpApiTest, ReadPagesWithTheContinuationToken) {
  std::vector<std::string> times;
  std::string token;
  for (int page = 0; page < 10; ++page) {
    std::string path = "/api/v1/read?tags=h.temp&limit=1000" + kHour;
    if (!token.empty()) path += "&continuation_token=" + token;
    Answer a = Api(path);
    ASSERT_EQ(a.status, 200) << a.body;
    json j = a.Json();
    for (const json& s : j["series"][0]["samples"]) times.push_back(s["time"]);
    token = j["continuation_token"];
    if (token.empty()) break;
  }
  EXPECT_TRUE(token.empty());
  ASSERT_EQ(times.size(), 3600u);
  EXPECT_EQ(times.back(), "2026-01-01T00:59:59Z");
}

// 100,000 samples of random doubles (every bit pattern but NaN and the
// infinities, which JSON writes as null) at irregular nanosecond times over
// ~35 days, read back through JSON pages and one CSV answer: every sample,
// in order, its time to the nanosecond and its value bit for bit.
TEST(HttpApiLargeReadTest, EverySampleExactlyThroughJsonPagesAndCsv) {
  testing::TempDir dir;
  HttpNode node(dir);
  ASSERT_TRUE(node.started());
  constexpr int kSamples = 100000;
  std::mt19937_64 rng(16);
  std::vector<int64_t> times;
  std::vector<double> values;
  int64_t t = kT0 - 3 * 86400 * kSecond + 123;  // also times before 2026
  for (int i = 0; i < kSamples; ++i) {
    t += 1 + static_cast<int64_t>(rng() % (60 * kSecond));
    if (i % 7 == 0) t += kSecond - t % kSecond;  // some whole seconds
    times.push_back(t);
    double v;
    do v = std::bit_cast<double>(rng());
    while (!std::isfinite(v));
    if (i % 5 == 0) v = static_cast<double>(static_cast<int64_t>(rng() % 2000) - 1000) / 8;
    values.push_back(v);
  }
  auto ingest = v1::Ingest::NewStub(node.channel());
  for (int first = 0; first < kSamples; first += 10000) {
    v1::WriteRequest req;
    auto* series = req.add_series();
    series->set_tag("big.x");
    for (int i = first; i < first + 10000; ++i) {
      auto* s = series->add_samples();
      s->set_timestamp_ns(times[i]);
      s->mutable_value()->set_double_value(values[i]);
    }
    v1::WriteAck ack;
    ASSERT_TRUE(ingest->WriteBatch(testing::Ctx("").get(), req, &ack).ok());
    ASSERT_EQ(ack.rejected_size(), 0);
  }
  const std::string range =
      "&start_ns=" + std::to_string(times.front()) + "&end_ns=" + std::to_string(times.back() + 1);

  size_t n = 0;
  std::string token;
  int pages = 0;
  do {
    std::string path = "/api/v1/read?tags=big.x&limit=7919" + range;
    if (!token.empty()) path += "&continuation_token=" + token;
    Answer a = Get(node.http_port(), path);
    ASSERT_EQ(a.status, 200) << a.body.substr(0, 300);
    json j = a.Json();
    ASSERT_EQ(j["series"].size(), 1u);
    for (const json& s : j["series"][0]["samples"]) {
      ASSERT_LT(n, times.size());
      absl::Time parsed;
      std::string err;
      ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, s["time"].get<std::string>(), &parsed, &err))
          << s["time"] << ": " << err;
      ASSERT_EQ(absl::ToUnixNanos(parsed), times[n]) << n << " " << s["time"];
      ASSERT_EQ(std::bit_cast<uint64_t>(s["value"].get<double>()),
                std::bit_cast<uint64_t>(values[n]))
          << n << " " << s["value"];
      ASSERT_EQ(s["quality"], 0);
      ++n;
    }
    token = j["continuation_token"];
    ++pages;
  } while (!token.empty() && pages < 100);
  EXPECT_EQ(n, times.size());
  EXPECT_EQ(pages, (kSamples + 7918) / 7919);

  Answer csv = Get(node.http_port(),
                   "/api/v1/read?tags=big.x&format=csv&time_format=epoch_ms&limit=200000" + range);
  ASSERT_EQ(csv.status, 200);
  std::vector<std::string> lines = Lines(csv.body);
  ASSERT_EQ(lines.size(), times.size() + 1);
  EXPECT_EQ(lines[0], "tag,time,value,quality");
  for (size_t i = 0; i < times.size(); ++i) {
    const std::string& line = lines[i + 1];
    const size_t c1 = line.find(','), c2 = line.find(',', c1 + 1), c3 = line.rfind(',');
    ASSERT_EQ(line.substr(0, c1), "big.x");
    const int64_t ms = times[i] / 1000000;  // all positive: rounding down
    ASSERT_EQ(line.substr(c1 + 1, c2 - c1 - 1), std::to_string(ms)) << i;
    double v = 0;
    const auto [end, ec] = std::from_chars(line.data() + c2 + 1, line.data() + c3, v);
    ASSERT_TRUE(ec == std::errc() && end == line.data() + c3) << line;
    ASSERT_EQ(std::bit_cast<uint64_t>(v), std::bit_cast<uint64_t>(values[i])) << line;
    ASSERT_EQ(line.substr(c3 + 1), "0");
  }
}

TEST_F(HttpApiTest, ReadCsvIsTheImportFormat) {
  Answer a = Api("/api/v1/read?tags=h.temp,h.state&format=csv&start=" + std::string(kT0Iso) +
                 "&end=2026-01-01T00:00:02Z");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_THAT(a.content_type, StartsWith("text/csv"));
  EXPECT_EQ(Lines(a.body), (std::vector<std::string>{"tag,time,value,quality",
                                                     "h.temp,2026-01-01T00:00:00Z,20.0,0",
                                                     "h.temp,2026-01-01T00:00:01Z,21.0,0",
                                                     "h.state,2026-01-01T00:00:00Z,\"run, "
                                                     "\"\"fast\"\"\",0"}));
}

TEST_F(HttpApiTest, AggregateUsesCalendarWindowsAndMatchesGrpc) {
  // From 00:30 with 1 h steps: calendar windows start at 00:30 (clipped)
  // and 01:00; align=start gives 00:30 and 01:30.
  const std::string range = "&start=2026-01-01T00:30:00Z&end=2026-01-01T02:00:00Z";
  Answer a = Api("/api/v1/aggregate?tags=h.temp&step=1h&functions=avg,max,count" + range);
  ASSERT_EQ(a.status, 200) << a.body;
  json j = a.Json();
  EXPECT_EQ(j["functions"], (json{"avg", "max", "count"}));
  ASSERT_EQ(j["series"][0]["windows"].size(), 2u);
  EXPECT_EQ(j["series"][0]["windows"][0]["start"], "2026-01-01T00:30:00Z");
  EXPECT_EQ(j["series"][0]["windows"][1]["start"], "2026-01-01T01:00:00Z");
  EXPECT_EQ(j["series"][0]["windows"][0]["count"], 1800);
  EXPECT_EQ(j["series"][0]["windows"][1]["count"], 0);
  EXPECT_TRUE(j["series"][0]["windows"][1]["avg"].is_null());  // NaN

  // The same request through gRPC.
  auto query = v1::Query::NewStub(node_->channel());
  v1::AggregateRequest req;
  req.add_tags("h.temp");
  req.set_start_ns(kT0 + 1800 * kSecond);
  req.set_end_ns(kT0 + 7200 * kSecond);
  req.set_step_ns(3600 * kSecond);
  req.add_functions(v1::AVG);
  req.add_functions(v1::MAX);
  req.add_functions(v1::COUNT);
  req.set_align(v1::CALENDAR);
  v1::AggregateResponse resp;
  ASSERT_TRUE(query->Aggregate(testing::Ctx("").get(), req, &resp).ok());
  EXPECT_EQ(j["series"][0]["windows"][0]["avg"], resp.series(0).windows(0).values(0));
  EXPECT_EQ(j["series"][0]["windows"][0]["max"], resp.series(0).windows(0).values(1));

  json start = Api("/api/v1/aggregate?tags=h.temp&step=1h&align=start" + range).Json();
  EXPECT_EQ(start["series"][0]["windows"][1]["start"], "2026-01-01T01:30:00Z");

  Answer csv = Api("/api/v1/aggregate?tags=h.temp&step=30m&functions=twa,min&format=csv" + kHour);
  ASSERT_EQ(csv.status, 200) << csv.body;
  std::vector<std::string> lines = Lines(csv.body);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "tag,start,count,twa,min");
  EXPECT_THAT(lines[1], StartsWith("h.temp,2026-01-01T00:00:00Z,1800,"));
}

TEST_F(HttpApiTest, PlotMatchesGrpc) {
  // 1-minute buckets: each h.flow sample in its own.
  Answer a = Api("/api/v1/plot?tags=h.temp,h.flow&buckets=60&time_format=epoch_ms" + kHour);
  ASSERT_EQ(a.status, 200) << a.body;
  json j = a.Json();
  auto query = v1::Query::NewStub(node_->channel());
  v1::PlotRequest req;
  req.add_tags("h.temp");
  req.add_tags("h.flow");
  req.set_start_ns(kT0);
  req.set_end_ns(kT0 + 3600 * kSecond);
  req.set_buckets(60);
  v1::PlotResponse resp;
  ASSERT_TRUE(query->Plot(testing::Ctx("").get(), req, &resp).ok());
  ASSERT_EQ(j["series"].size(), 2u);
  for (int s = 0; s < 2; ++s) {
    ASSERT_EQ(j["series"][s]["samples"].size(), static_cast<size_t>(resp.series(s).samples_size()));
    for (int i = 0; i < resp.series(s).samples_size(); ++i) {
      EXPECT_EQ(j["series"][s]["samples"][i]["time"],
                resp.series(s).samples(i).timestamp_ns() / 1000000);
    }
  }
  EXPECT_EQ(j["series"][1]["samples"][1]["quality"], 0x80000000u);
  Answer csv = Api("/api/v1/plot?tags=h.flow&buckets=60&format=csv" + kHour);
  EXPECT_EQ(Lines(csv.body).size(), 4u);
}

TEST_F(HttpApiTest, LatestByTagsAndGlob) {
  Answer a = Api("/api/v1/latest?tags=h.temp");
  ASSERT_EQ(a.status, 200) << a.body;
  json j = a.Json();
  ASSERT_EQ(j["values"].size(), 1u);
  EXPECT_EQ(j["values"][0]["tag"], "h.temp");
  EXPECT_EQ(j["values"][0]["time"], "2026-01-01T00:59:59Z");
  EXPECT_EQ(j["values"][0]["value"], 20.0 + 3599 % 60);
  EXPECT_EQ(Api("/api/v1/latest?glob=h.*").Json()["values"].size(), 3u);
  Answer csv = Api("/api/v1/latest?tags=h.flow&format=csv");
  EXPECT_EQ(Lines(csv.body), (std::vector<std::string>{"tag,time,value,quality",
                                                       "h.flow,2026-01-01T00:02:00Z,3.0,0"}));
}

TEST_F(HttpApiTest, NodeNamesSiteAndTwinMap) {
  json j = Api("/api/v1/node").Json();
  EXPECT_EQ(j["site"], "local");
  EXPECT_TRUE(j["twin_map"].is_null());
  EXPECT_EQ(j["auth"], false);
}

TEST_F(HttpApiTest, ErrorsAreJsonWithTheGrpcCodeAndHttpStatus) {
  struct Case {
    std::string path;
    int status;
    std::string code;
    std::string message_part;
  };
  for (const Case& c : std::vector<Case>{
           {"/api/v1/read?tags=nope" + kHour, 404, "NOT_FOUND", "nope"},
           {"/api/v1/read?" + kHour.substr(1), 400, "INVALID_ARGUMENT", "tags"},
           {"/api/v1/read?tags=h.temp&start=yesterday", 400, "INVALID_ARGUMENT", "start"},
           {"/api/v1/read?tags=h.temp&start=now&end=-1h", 400, "INVALID_ARGUMENT", "start_ns"},
           {"/api/v1/read?tags=h.temp&limit=x", 400, "INVALID_ARGUMENT", "limit"},
           {"/api/v1/read?tags=h.temp&continuation_token=%21%21", 400, "INVALID_ARGUMENT",
            "continuation_token"},
           {"/api/v1/aggregate?tags=h.temp&step=1h&functions=median", 400, "INVALID_ARGUMENT",
            "median"},
           {"/api/v1/aggregate?tags=h.temp&step=1h&align=week", 400, "INVALID_ARGUMENT", "align"},
           {"/api/v1/plot?tags=h.temp&buckets=1000000", 400, "INVALID_ARGUMENT", "buckets"},
           {"/api/v1/tags?format=xml", 400, "INVALID_ARGUMENT", "format"},
           {"/api/v1/tags?time_format=ns", 400, "INVALID_ARGUMENT", "time_format"},
           // Not a zone name: a file path, bytes that are no UTF-8 (quoted
           // in the message, which stays JSON), a name too long.
           {"/api/v1/aggregate?tags=h.temp&step=1d&time_zone=/etc/passwd" + kHour, 400,
            "INVALID_ARGUMENT", "time_zone"},
           {"/api/v1/aggregate?tags=h.temp&step=1d&time_zone=%FF" + kHour, 400, "INVALID_ARGUMENT",
            "time_zone"},
           {"/api/v1/aggregate?tags=h.temp&step=1d&time_zone=" + std::string(65, 'A') + kHour, 400,
            "INVALID_ARGUMENT", "time_zone"},
           {"/api/v1/read?tags=h.temp&start=%FF", 400, "INVALID_ARGUMENT", "start"},
       }) {
    Answer a = Api(c.path);
    EXPECT_EQ(a.status, c.status) << c.path << ": " << a.body;
    EXPECT_THAT(a.content_type, StartsWith("application/json")) << c.path;
    json j = json::parse(a.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << c.path << ": " << a.body;
    EXPECT_EQ(j["code"], c.code) << c.path;
    EXPECT_THAT(j["message"].get<std::string>(), HasSubstr(c.message_part)) << c.path;
  }
  // Errors are JSON even when CSV was asked for.
  Answer csv = Api("/api/v1/read?tags=nope&format=csv");
  EXPECT_EQ(csv.status, 404);
  EXPECT_EQ(json::parse(csv.body)["code"], "NOT_FOUND");
}

// Every route is a GET. The body of any other request, Content-Length or
// chunked, is read and discarded, never held (httplib would hold a chunked
// one of any size) and never parsed as a request of its own: one answer
// (413) per such request, even when its body spells out another request.
TEST_F(HttpApiTest, ABodyIsNeverHeldNorParsedAsAnotherRequest) {
  const std::string smuggled = "GET /api/v1/node HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string& request : {
           "POST /api/v1/read HTTP/1.1\r\nHost: x\r\nContent-Length: " +
               std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled,
           "POST /api/v1/read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
               absl::StrCat(absl::Hex(smuggled.size())) + "\r\n" + smuggled + "\r\n0\r\n\r\n",
       }) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(node_->http_port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    timeval tv{60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ASSERT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    // Everything the node answers until it closes the connection.
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) answer.append(buf, n);
    close(fd);
    size_t answers = 0;
    for (size_t pos = 0; (pos = answer.find("HTTP/1.1 ", pos)) != std::string::npos; ++pos) {
      ++answers;
    }
    EXPECT_EQ(answers, 1u) << answer;
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 413")) << answer;
  }
  EXPECT_EQ(Api("/api/v1/tags").status, 200);
}

TEST_F(HttpApiTest, ServesTheEmbeddedTrendPage) {
  Answer page = Api("/");
  ASSERT_EQ(page.status, 200);
  EXPECT_THAT(page.content_type, StartsWith("text/html"));
  EXPECT_THAT(page.body, HasSubstr("trend.js"));
  for (const char* asset : {"/trend.js", "/trend.css", "/dygraph.min.js", "/dygraph.min.css"}) {
    Answer a = Api(asset);
    EXPECT_EQ(a.status, 200) << asset;
    EXPECT_GT(a.body.size(), 100u) << asset;
  }
  EXPECT_THAT(Api("/dygraph.min.js").body, HasSubstr("Dygraph"));
  EXPECT_EQ(Api("/nothing-here").status, 404);
}

// httplib would compress with brotli at quality 11 (a second per MB).
TEST_F(HttpApiTest, AnswersAreUncompressedAndTimed) {
  httplib::Client http("127.0.0.1", node_->http_port());
  http.set_decompress(false);
  for (const std::string& path : {"/api/v1/read?tags=h.temp" + kHour, std::string("/trend.js")}) {
    auto res = http.Get(path.c_str(), {{"Accept-Encoding", "br, gzip, deflate"}});
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->get_header_value("Content-Encoding"), "") << path;
  }
  auto res = http.Get(("/api/v1/read?tags=h.temp" + kHour).c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["series"][0]["samples"].size(), 3600u);
  EXPECT_THAT(res->get_header_value("Server-Timing"), StartsWith("app;dur="));
}

TEST(HttpAuthTest, SameRolesAsGrpc) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.Sub("tokens"),
                         std::string(kReader) + " reader\n" + kWriter + " writer\n");
  HttpNode node(dir, {"--token_file=" + dir.Sub("tokens")});
  ASSERT_TRUE(node.started());
  ASSERT_TRUE(node.Fill(kWriter));
  auto bearer = [](const std::string& t) {
    return httplib::Headers{{"Authorization", "Bearer " + t}};
  };
  const int port = node.http_port();
  const std::string read = "/api/v1/read?tags=h.temp" + kHour;

  Answer none = Get(port, read);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(json::parse(none.body)["code"], "UNAUTHENTICATED");
  Answer unknown = Get(port, read, bearer("unknown-token-0123456789"));
  EXPECT_EQ(unknown.status, 401);
  Answer writer = Get(port, read, bearer(kWriter));
  EXPECT_EQ(writer.status, 403);
  EXPECT_EQ(json::parse(writer.body)["code"], "PERMISSION_DENIED");
  EXPECT_THAT(writer.body, ::testing::Not(HasSubstr(kWriter)));  // tokens never echoed
  EXPECT_EQ(Get(port, read, bearer(kReader)).status, 200);
  // Catalog.ListTags also allows writers, Query.* and Admin.Stats readers.
  EXPECT_EQ(Get(port, "/api/v1/tags", bearer(kWriter)).status, 200);
  for (const char* path : {"/api/v1/plot?tags=h.temp", "/api/v1/latest?tags=h.temp",
                           "/api/v1/aggregate?tags=h.temp&step=1m", "/api/v1/node"}) {
    EXPECT_EQ(Get(port, path).status, 401) << path;
    EXPECT_EQ(Get(port, path, bearer(kWriter)).status, 403) << path;
    EXPECT_EQ(Get(port, path, bearer(kReader)).status, 200) << path;
  }
  EXPECT_EQ(json::parse(Get(port, "/api/v1/node", bearer(kReader)).body)["auth"], true);
  // The page itself holds no data: it loads without a token, then asks.
  EXPECT_EQ(Get(port, "/").status, 200);
}

TEST(HttpTwinTest, NodeReportsTheTwinPrefixes) {
  testing::TempDir dir;
  HttpNode node(dir, {"--twin_map=us.=mx."});
  ASSERT_TRUE(node.started());
  json j = json::parse(Get(node.http_port(), "/api/v1/node").body);
  EXPECT_EQ(j["twin_map"]["local"], "us.");
  EXPECT_EQ(j["twin_map"]["twin"], "mx.");
}

}  // namespace
}  // namespace historian
