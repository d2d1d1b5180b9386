// End-to-end tests of `historian-gateway --mqtt` (Sparkplug B primary host)
// with real processes: mosquitto (on a free 127.0.0.1 port, persistence on,
// max_queued_messages 0), the gateway, and historiand. One test publishes
// payload bytes written by hand from the specification's field numbers with
// `mosquitto_pub -f`, so our .proto cannot agree with itself on a wrong
// schema; STATE is checked with `mosquitto_sub`. Every wait polls a
// condition with a deadline; no test relies on timing to pass.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/disk_queue.h"
#include "client/historian_client.h"
#include "client/sample_columns.h"
#include "client/sparkplug/metric_value.h"
#include "client/sparkplug/sparkplug_b.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mqtt/client.h"
#include "tests/security/security_util.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/gateway_process.h"
#include "tests/testutil/mosquitto_process.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/status_line.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

namespace v1 = historian::v1;
namespace sp = historian::sparkplug;
using ::historian::testing::BinDir;
using ::historian::testing::GatewayProcess;
using ::historian::testing::MosquittoProcess;
using ::historian::testing::NodeProcess;
using ::historian::testing::RunCommand;
using ::historian::testing::TempDir;
using ::historian::testing::WaitFor;
using ::testing::HasSubstr;

constexpr uint64_t kT0Ms = 1795428000000;  // 2026-11-23T10:00:00Z
int64_t Ns(uint64_t ms) { return static_cast<int64_t>(ms) * 1000000; }

// --- Protobuf wire format by hand (Sparkplug 3.0 payload field numbers) ---

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string VarintField(int field, uint64_t v) { return Varint(field << 3 | 0) + Varint(v); }
std::string BytesField(int field, const std::string& b) {
  return Varint(field << 3 | 2) + Varint(b.size()) + b;
}
std::string DoubleField(int field, double d) {
  char b[8];
  std::memcpy(b, &d, 8);  // little-endian host
  return Varint(field << 3 | 1) + std::string(b, 8);
}
std::string FloatField(int field, float f) {
  char b[4];
  std::memcpy(b, &f, 4);
  return Varint(field << 3 | 5) + std::string(b, 4);
}
// Payload: timestamp = 1, metrics = 2, seq = 3.
// Metric: name = 1, alias = 2, timestamp = 3, datatype = 4, is_historical = 5,
// is_null = 7, properties = 9, int_value = 10, long_value = 11,
// float_value = 12, double_value = 13, boolean_value = 14, string_value = 15,
// bytes_value = 16. PropertySet: keys = 1, values = 2. PropertyValue:
// type = 1, double_value = 6, string_value = 8.
std::string HwMetric(const std::string& name, uint64_t alias, uint32_t datatype,
                     const std::string& value, const std::string& extra = "") {
  std::string m;
  if (!name.empty()) m += BytesField(1, name);
  if (alias != 0) m += VarintField(2, alias);
  if (datatype != 0) m += VarintField(4, datatype);
  return BytesField(2, m + extra + value);
}
std::string HwPayload(uint64_t ts_ms, std::optional<uint64_t> seq, const std::string& metrics) {
  std::string p = VarintField(1, ts_ms) + metrics;
  if (seq.has_value()) p += VarintField(3, *seq);
  return p;
}

// --- Processes ---

std::vector<std::string> GatewayFlags(const MosquittoProcess& broker, const std::string& server,
                                      const std::string& queue_dir) {
  return {"--mqtt",
          broker.uri(),
          "--site",
          "us",
          "--server",
          server,
          "--queue_dir",
          queue_dir,
          "--batch_max_delay",
          "20ms",
          "--status_interval",
          "50ms",
          "--reconnect_max_backoff",
          "300ms",
          "--sparkplug_host_id",
          "h1",
          "--mqtt_client_id",
          "historian-test-gw"};
}

// The retained STATE of host h1, read with mosquitto_sub.
std::string State(const MosquittoProcess& broker) {
  auto r =
      RunCommand({"/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker.port()),
                  "-t", "spBv1.0/STATE/h1", "-C", "1", "-W", "2"});
  return r.out;
}

bool WaitOnline(const MosquittoProcess& broker) {
  return WaitFor([&] { return absl::StrContains(State(broker), "\"online\":true"); },
                 absl::Seconds(30));
}

// Publishes bytes with mosquitto_pub -f.
void PubFile(const MosquittoProcess& broker, const TempDir& tmp, const std::string& topic,
             const std::string& bytes, int qos = 0) {
  const std::string path = tmp.Sub("payload.bin");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  auto r =
      RunCommand({"/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker.port()),
                  "-t", topic, "-q", std::to_string(qos), "-f", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// Every sample of `tag` at the node, by timestamp.
// Around kT0 by default, else around `around_ns` (one day each way).
std::map<int64_t, v1::Sample> ReadTag(const std::string& address, const std::string& tag,
                                      size_t* count = nullptr, int64_t around_ns = Ns(kT0Ms)) {
  client::ClientOptions options;
  options.endpoints = {address};
  auto c = client::Client::Connect(options);
  std::map<int64_t, v1::Sample> out;
  if (count != nullptr) *count = 0;
  v1::ReadRequest request;
  request.add_tags(tag);
  request.set_start_ns(around_ns - int64_t{86400} * 1000000000);
  request.set_end_ns(around_ns + int64_t{86400} * 1000000000);
  google::protobuf::RepeatedPtrField<v1::Sample> scratch;
  absl::Status s = (*c)->Read(request, [&](const v1::ReadResponse& r) {
    for (const v1::Sample& sample : client::ResponseSamples(r, &scratch)) {
      out[sample.timestamp_ns()] = sample;
      if (count != nullptr) ++*count;
    }
    return absl::OkStatus();
  });
  (void)s;  // a tag not created yet reads as empty/NOT_FOUND
  return out;
}

// A Sparkplug edge node of the test (Paho synchronous client).
class EdgeNode {
 public:
  EdgeNode(const std::string& uri, const std::string& id) : client_(uri, id) {}
  bool Connect() {
    try {
      mqtt::connect_options o;
      o.set_clean_session(true);
      client_.connect(o);
      return true;
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      return false;
    }
  }
  void Subscribe(const std::string& topic) {
    client_.start_consuming();
    client_.subscribe(topic, 1);
  }
  void Publish(const std::string& topic, const sp::Payload& p, int qos) {
    const std::string bytes = p.SerializeAsString();
    client_.publish(topic, bytes.data(), bytes.size(), qos, false);
  }
  // The next received message within `timeout`, or null.
  mqtt::const_message_ptr Next(absl::Duration timeout) {
    mqtt::const_message_ptr msg;
    if (!client_.try_consume_message_for(&msg, absl::ToChronoMilliseconds(timeout))) return nullptr;
    return msg;
  }
  void Disconnect() {
    try {
      client_.disconnect();
    } catch (...) {
    }
  }

 private:
  mqtt::client client_;
};

sp::Payload Birth(uint64_t bd_seq, uint64_t ts_ms, int metrics) {
  sp::Payload p;
  p.set_timestamp(ts_ms);
  p.set_seq(0);
  auto* bd = p.add_metrics();
  bd->set_name("bdSeq");
  bd->set_datatype(sp::kInt64);
  bd->set_long_value(bd_seq);
  for (int i = 0; i < metrics; ++i) {
    auto* m = p.add_metrics();
    m->set_name(absl::StrCat("m", i));
    m->set_alias(static_cast<uint64_t>(i + 1));
    m->set_datatype(sp::kDouble);
    m->set_double_value(-1);
  }
  return p;
}

sp::Payload DataMsg(uint64_t seq, uint64_t ts_ms, int metrics, double base) {
  sp::Payload p;
  p.set_timestamp(ts_ms);
  p.set_seq(seq % 256);
  for (int i = 0; i < metrics; ++i) {
    auto* m = p.add_metrics();
    m->set_alias(static_cast<uint64_t>(i + 1));
    m->set_double_value(base + i);
  }
  return p;
}

// --- Tests ---

TEST(SparkplugE2E, HandWrittenPayloadsEveryTypeDeathsStaleWillAndState) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  MosquittoProcess broker(tmp.Sub("broker"));
  ASSERT_TRUE(broker.Start());
  GatewayProcess gw(GatewayFlags(broker, node.address(), tmp.Sub("q")), tmp.Sub("gw.err"));
  ASSERT_TRUE(WaitOnline(broker)) << gw.err();

  const std::string T = "spBv1.0/plant/";
  // NBIRTH, bdSeq 0.
  const std::string props = BytesField(
      9, BytesField(1, "engUnit") + BytesField(2, VarintField(1, 12) + BytesField(8, "degC")) +
             BytesField(1, "engLow") + BytesField(2, VarintField(1, 10) + DoubleField(6, 0)) +
             BytesField(1, "engHigh") + BytesField(2, VarintField(1, 10) + DoubleField(6, 400)) +
             BytesField(1, "Description") +
             BytesField(2, VarintField(1, 12) + BytesField(8, "oven zone 1")));
  const std::string nbirth =
      HwPayload(kT0Ms, 0,
                HwMetric("bdSeq", 0, 4, VarintField(11, 0)) +
                    HwMetric("Oven/Temp", 1, 10, DoubleField(13, 180.5), props) +
                    HwMetric("Count", 2, 7, VarintField(10, 7)) +
                    HwMetric("Running", 3, 11, VarintField(14, 1)) +
                    HwMetric("Mode", 4, 12, BytesField(15, "auto")) +
                    HwMetric("Offset", 5, 1, VarintField(10, 0xFFFFFFFEu)) +  // Int8 -2
                    HwMetric("Big", 6, 8, VarintField(11, uint64_t{1} << 63)) +
                    HwMetric("When", 7, 13, VarintField(11, kT0Ms - 5)) +
                    HwMetric("Flt", 8, 9, FloatField(12, 1.5f)) +
                    HwMetric("Blob", 9, 17, BytesField(16, "\x01\x02")) +
                    HwMetric("Level", 10, 3, VarintField(10, 0xFFFFFF85u)));  // Int32 -123
  PubFile(broker, tmp, T + "NBIRTH/edge1", nbirth, 1);
  // NDATA by alias; a metric with its own timestamp, a null, a historical one.
  PubFile(broker, tmp, T + "NDATA/edge1",
          HwPayload(kT0Ms + 1000, 1,
                    HwMetric("", 1, 0, DoubleField(13, 181.0)) +
                        HwMetric("", 2, 0, VarintField(10, 8), VarintField(3, kT0Ms + 500)) +
                        HwMetric("", 4, 0, VarintField(7, 1)) +
                        HwMetric("", 3, 0, VarintField(14, 0),
                                 VarintField(3, kT0Ms - 60000) + VarintField(5, 1))));
  // A device: DBIRTH, DDATA by name, DDEATH.
  PubFile(broker, tmp, T + "DBIRTH/edge1/press2",
          HwPayload(kT0Ms + 1500, 2, HwMetric("Pressure", 20, 9, FloatField(12, 2.5f))));
  PubFile(broker, tmp, T + "DDATA/edge1/press2",
          HwPayload(kT0Ms + 2000, 3, HwMetric("Pressure", 0, 0, FloatField(12, 3.5f))));
  PubFile(broker, tmp, T + "DDEATH/edge1/press2", HwPayload(kT0Ms + 3000, 4, ""));
  // A stale will (bdSeq 7) must not mark the live node Bad.
  PubFile(broker, tmp, T + "NDEATH/edge1",
          HwPayload(kT0Ms + 3500, std::nullopt, HwMetric("bdSeq", 0, 4, VarintField(11, 7))));
  // The real NDEATH: the will, whose timestamp is the session's start, so
  // it is recorded at the time the gateway receives it.
  const int64_t death_sent_ns = absl::ToUnixNanos(absl::Now());
  PubFile(broker, tmp, T + "NDEATH/edge1",
          HwPayload(kT0Ms + 4000, std::nullopt, HwMetric("bdSeq", 0, 4, VarintField(11, 0))));

  const std::string P = "us.plant.edge1.";
  std::map<int64_t, v1::Sample> dead;
  ASSERT_TRUE(WaitFor(
      [&] {
        dead = ReadTag(node.address(), P + "Oven/Temp", nullptr, death_sent_ns);
        return !dead.empty() && dead.rbegin()->first >= death_sent_ns;
      },
      absl::Seconds(30)))
      << gw.err();
  EXPECT_EQ(dead.rbegin()->second.quality(), sp::kQualityBadNotConnected);
  const std::map<int64_t, v1::Sample> temp = ReadTag(node.address(), P + "Oven/Temp");
  EXPECT_EQ(temp.size(), 2u);
  EXPECT_EQ(temp.at(Ns(kT0Ms)).value().double_value(), 180.5);
  EXPECT_EQ(temp.at(Ns(kT0Ms + 1000)).value().double_value(), 181.0);
  EXPECT_EQ(temp.count(Ns(kT0Ms + 4000)), 0u) << "recorded at the will's own timestamp";
  EXPECT_EQ(temp.count(Ns(kT0Ms + 3500)), 0u) << "the stale NDEATH was recorded";

  auto count = ReadTag(node.address(), P + "Count");
  EXPECT_EQ(count[Ns(kT0Ms)].value().int64_value(), 7);
  EXPECT_EQ(count[Ns(kT0Ms + 500)].value().int64_value(), 8);
  auto running = ReadTag(node.address(), P + "Running");
  EXPECT_EQ(running[Ns(kT0Ms)].value().bool_value(), true);
  EXPECT_EQ(running.count(Ns(kT0Ms - 60000)), 1u);  // historical, at its own time
  EXPECT_EQ(running[Ns(kT0Ms - 60000)].value().bool_value(), false);
  auto mode = ReadTag(node.address(), P + "Mode");
  EXPECT_EQ(mode[Ns(kT0Ms)].value().string_value(), "auto");
  EXPECT_EQ(mode[Ns(kT0Ms + 1000)].quality(), sp::kQualityBad);  // is_null
  EXPECT_EQ(ReadTag(node.address(), P + "Offset")[Ns(kT0Ms)].value().int64_value(), -2);
  EXPECT_EQ(ReadTag(node.address(), P + "Level")[Ns(kT0Ms)].value().int64_value(), -123);
  EXPECT_EQ(ReadTag(node.address(), P + "Big")[Ns(kT0Ms)].quality(), sp::kQualityBadOutOfRange);
  EXPECT_EQ(ReadTag(node.address(), P + "When")[Ns(kT0Ms)].value().int64_value(),
            static_cast<int64_t>(kT0Ms - 5));
  EXPECT_EQ(ReadTag(node.address(), P + "Flt")[Ns(kT0Ms)].value().double_value(), 1.5);
  EXPECT_TRUE(ReadTag(node.address(), P + "Blob").empty());
  auto pressure = ReadTag(node.address(), P + "press2.Pressure");
  EXPECT_EQ(pressure[Ns(kT0Ms + 1500)].value().double_value(), 2.5);
  EXPECT_EQ(pressure[Ns(kT0Ms + 2000)].value().double_value(), 3.5);
  EXPECT_EQ(pressure[Ns(kT0Ms + 3000)].quality(), sp::kQualityBadNotConnected);

  // BIRTH properties into the catalog.
  client::ClientOptions options;
  options.endpoints = {node.address()};
  auto c = client::Client::Connect(options);
  ASSERT_TRUE(c.ok());
  v1::Tag tag;
  ASSERT_TRUE(WaitFor(
      [&] {
        v1::GetTagRequest get;
        get.set_name(P + "Oven/Temp");
        auto t = (*c)->GetTag(get);
        if (t.ok()) tag = *t;
        return t.ok() && tag.unit() == "degC";
      },
      absl::Seconds(30)))
      << gw.err();
  EXPECT_EQ(tag.value_type(), v1::VALUE_TYPE_DOUBLE);
  EXPECT_EQ(tag.description(), "oven zone 1");
  EXPECT_EQ(tag.eng_low(), 0);
  EXPECT_EQ(tag.eng_high(), 400);

  EXPECT_THAT(gw.err(), HasSubstr("NDEATH with bdSeq 7 does not end the current session"));
  // A clean stop says offline (the will covers a crash; see the restart test).
  EXPECT_EQ(gw.Terminate(absl::Seconds(30)), 0);
  EXPECT_THAT(State(broker), HasSubstr("\"online\":false"));
}

TEST(SparkplugE2E, SeqGapAsksOneRebirthAndRecordsTheHeldData) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  MosquittoProcess broker(tmp.Sub("broker"));
  ASSERT_TRUE(broker.Start());
  std::vector<std::string> flags = GatewayFlags(broker, node.address(), tmp.Sub("q"));
  flags.push_back("--sparkplug_rebirth_min_interval=1h");
  GatewayProcess gw(flags, tmp.Sub("gw.err"));
  ASSERT_TRUE(WaitOnline(broker)) << gw.err();
  EdgeNode edge(broker.uri(), "edge2");
  ASSERT_TRUE(edge.Connect());
  edge.Subscribe("spBv1.0/plant/NCMD/edge2");
  const std::string T = "spBv1.0/plant/";
  edge.Publish(T + "NBIRTH/edge2", Birth(0, kT0Ms, 3), 1);
  edge.Publish(T + "NDATA/edge2", DataMsg(1, kT0Ms + 1000, 3, 10), 1);
  // seq 2 is lost; 3..6 arrive.
  for (uint64_t seq = 3; seq <= 6; ++seq) {
    edge.Publish(T + "NDATA/edge2", DataMsg(seq, kT0Ms + seq * 1000, 3, seq * 10.0), 1);
  }
  mqtt::const_message_ptr ncmd = edge.Next(absl::Seconds(30));
  ASSERT_NE(ncmd, nullptr) << gw.err();
  sp::Payload cmd;
  ASSERT_TRUE(cmd.ParseFromString(ncmd->get_payload_str()));
  ASSERT_EQ(cmd.metrics_size(), 1);
  EXPECT_EQ(cmd.metrics(0).name(), "Node Control/Rebirth");
  EXPECT_TRUE(cmd.metrics(0).boolean_value());
  // The rebirth.
  edge.Publish(T + "NBIRTH/edge2", Birth(1, kT0Ms + 10000, 3), 1);
  std::map<int64_t, v1::Sample> m1;
  ASSERT_TRUE(WaitFor(
      [&] {
        m1 = ReadTag(node.address(), "us.plant.edge2.m1");
        return m1.count(Ns(kT0Ms + 10000)) == 1 && m1.size() >= 7;
      },
      absl::Seconds(30)))
      << gw.err();
  for (uint64_t seq : {1, 3, 4, 5, 6}) {
    EXPECT_EQ(m1[Ns(kT0Ms + seq * 1000)].value().double_value(), (seq == 1 ? 10 : seq * 10.0) + 1)
        << seq;
  }
  // Exactly one request: nothing else arrived (the gateway answers in
  // order, so any second NCMD was sent before the data above was queued).
  EXPECT_EQ(edge.Next(absl::Milliseconds(300)), nullptr);
  EXPECT_EQ(gw.LastStatus("rebirths"), 1);
  edge.Disconnect();
}

TEST(SparkplugE2E, BadInputIsCountedLoggedOnceAndDoesNotStallOtherNodes) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  MosquittoProcess broker(tmp.Sub("broker"));
  ASSERT_TRUE(broker.Start());
  GatewayProcess gw(GatewayFlags(broker, node.address(), tmp.Sub("q")), tmp.Sub("gw.err"));
  ASSERT_TRUE(WaitOnline(broker)) << gw.err();
  EdgeNode edge(broker.uri(), "edge3");
  ASSERT_TRUE(edge.Connect());
  const std::string T = "spBv1.0/plant/";
  edge.Publish(T + "NBIRTH/edge3", Birth(0, kT0Ms, 2), 1);
  edge.Publish(T + "NBIRTH/edge4", Birth(0, kT0Ms, 2), 1);
  for (int twice = 0; twice < 2; ++twice) {
    PubFile(broker, tmp, T + "NDATA/edge3", "not a sparkplug payload \xff\xff\xff", 1);
    PubFile(broker, tmp, T + "NDATA/edge3", std::string(10 << 20, '\x0a'), 1);  // 10 MB
    PubFile(broker, tmp, T + "XDATA/edge3", "x", 1);                            // not a type
    PubFile(broker, tmp, "plant/raw/temp", "21.5", 1);                          // not subscribed
  }
  sp::Payload unknown = DataMsg(1, kT0Ms + 1000, 1, 0);
  unknown.mutable_metrics(0)->set_alias(99);
  edge.Publish(T + "NDATA/edge3", unknown, 1);
  sp::Payload wrong = DataMsg(2, kT0Ms + 2000, 1, 0);
  wrong.mutable_metrics(0)->set_string_value("hot");
  edge.Publish(T + "NDATA/edge3", wrong, 1);
  // Good data of both nodes after all that.
  edge.Publish(T + "NDATA/edge3", DataMsg(3, kT0Ms + 3000, 2, 30), 1);
  edge.Publish(T + "NDATA/edge4", DataMsg(1, kT0Ms + 3000, 2, 40), 1);
  ASSERT_TRUE(WaitFor(
      [&] {
        return ReadTag(node.address(), "us.plant.edge3.m1").count(Ns(kT0Ms + 3000)) == 1 &&
               ReadTag(node.address(), "us.plant.edge4.m1").count(Ns(kT0Ms + 3000)) == 1;
      },
      absl::Seconds(60)))
      << gw.err();
  EXPECT_EQ(ReadTag(node.address(), "us.plant.edge3.m0")[Ns(kT0Ms + 3000)].value().double_value(),
            30);
  EXPECT_EQ(ReadTag(node.address(), "us.plant.edge3.m0").count(Ns(kT0Ms + 2000)), 0u);
  ASSERT_TRUE(WaitFor([&] { return gw.LastStatus("wrong_type") == 1; }, absl::Seconds(10)));
  EXPECT_EQ(gw.LastStatus("bad_payloads"), 4);
  EXPECT_EQ(gw.LastStatus("bad_topics"), 2);
  EXPECT_EQ(gw.LastStatus("unresolved"), 1);
  const std::string err = gw.err();
  auto occurrences = [&](const std::string& s) {
    size_t n = 0;
    for (size_t at = err.find(s); at != std::string::npos; at = err.find(s, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(occurrences("is not a Sparkplug B payload"), 1u) << err;
  EXPECT_EQ(occurrences("bytes refused"), 1u) << err;
  EXPECT_EQ(occurrences("unknown message type"), 1u) << err;
  EXPECT_EQ(occurrences("unknown alias 99"), 1u) << err;
  EXPECT_EQ(occurrences("not of its BIRTH datatype"), 1u) << err;
  EXPECT_TRUE(gw.running());
  edge.Disconnect();
}

// QoS 1 messages; the node is down, then the gateway is killed (-9) with
// data in its queue, messages are published while it is down (the broker
// keeps them for its persistent session, across a broker restart), it
// restarts (asks the edge node for a rebirth, having lost the aliases), and
// then the broker restarts again while the gateway runs.
// Every sample of every message is at the node exactly once.
TEST(SparkplugE2E, GatewayKillNodeDownAndBrokerRestartLoseAndDuplicateNothing) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  const std::string first_address = node.address();
  ASSERT_EQ(node.Stop(), 0);  // down: the gateway queues
  MosquittoProcess broker(tmp.Sub("broker"));
  ASSERT_TRUE(broker.Start());
  auto gw = std::make_unique<GatewayProcess>(GatewayFlags(broker, first_address, tmp.Sub("q")),
                                             tmp.Sub("gw1.err"));
  ASSERT_TRUE(WaitOnline(broker)) << gw->err();

  constexpr int kMetrics = 10;
  std::map<std::string, std::map<int64_t, double>> expected;
  uint64_t seq = 0;
  uint64_t ts = kT0Ms;
  uint64_t bd_seq = 0;
  const std::string T = "spBv1.0/plant/";
  auto birth = [&](EdgeNode& edge) {
    seq = 0;
    ts += 1000;
    edge.Publish(T + "NBIRTH/edge5", Birth(bd_seq++, ts, kMetrics), 1);
    for (int i = 0; i < kMetrics; ++i) expected[absl::StrCat("us.plant.edge5.m", i)][Ns(ts)] = -1;
  };
  auto publish = [&](EdgeNode& edge, int messages) {
    for (int k = 0; k < messages; ++k) {
      ++seq;
      ts += 1000;
      edge.Publish(T + "NDATA/edge5", DataMsg(seq, ts, kMetrics, static_cast<double>(ts)), 1);
      for (int i = 0; i < kMetrics; ++i) {
        expected[absl::StrCat("us.plant.edge5.m", i)][Ns(ts)] = static_cast<double>(ts + i);
      }
    }
  };
  auto edge = std::make_unique<EdgeNode>(broker.uri(), "edge5");
  ASSERT_TRUE(edge->Connect());
  edge->Subscribe(T + "NCMD/edge5");
  birth(*edge);
  publish(*edge, 40);
  // All queued on disk (the node is down), then kill -9.
  const int64_t batch_a = (kMetrics + 1) + 40 * kMetrics;
  ASSERT_TRUE(
      WaitFor([&] { return gw->LastStatus("queue_samples") >= batch_a; }, absl::Seconds(30)))
      << gw->err();
  gw->Kill();
  // The will: STATE offline.
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(State(broker), "\"online\":false"); },
                      absl::Seconds(30)));
  // Published while the gateway is down: kept by the broker for its
  // persistent session, across a broker restart (persistence).
  publish(*edge, 40);
  edge->Disconnect();
  edge.reset();
  broker.Stop();
  ASSERT_TRUE(broker.Start());
  edge = std::make_unique<EdgeNode>(broker.uri(), "edge5");
  ASSERT_TRUE(edge->Connect());
  edge->Subscribe(T + "NCMD/edge5");
  ASSERT_TRUE(node.Start());
  gw = std::make_unique<GatewayProcess>(GatewayFlags(broker, node.address(), tmp.Sub("q")),
                                        tmp.Sub("gw2.err"));
  // It has no session for edge5: it asks for a rebirth and holds the data.
  mqtt::const_message_ptr ncmd = edge->Next(absl::Seconds(30));
  ASSERT_NE(ncmd, nullptr) << gw->err();
  birth(*edge);
  publish(*edge, 20);
  // Broker restart (persistent: sessions, queued and retained messages).
  edge->Disconnect();
  edge.reset();
  broker.Stop();
  ASSERT_TRUE(broker.Start());
  ASSERT_TRUE(WaitOnline(broker)) << gw->err();
  edge = std::make_unique<EdgeNode>(broker.uri(), "edge5");
  ASSERT_TRUE(edge->Connect());
  birth(*edge);  // a real edge node rebirths after its reconnect
  publish(*edge, 20);

  const std::string last_tag = absl::StrCat("us.plant.edge5.m", kMetrics - 1);
  ASSERT_TRUE(WaitFor([&] { return ReadTag(node.address(), last_tag).count(Ns(ts)) == 1; },
                      absl::Seconds(60)))
      << gw->err();
  for (const auto& [tag, samples] : expected) {
    size_t total = 0;
    std::map<int64_t, v1::Sample> got;
    ASSERT_TRUE(WaitFor(
        [&] {
          got = ReadTag(node.address(), tag, &total);
          return got.size() >= samples.size();
        },
        absl::Seconds(30)))
        << tag << " has " << got.size() << " of " << samples.size() << "\n"
        << gw->err();
    EXPECT_EQ(total, got.size()) << tag << ": duplicates";
    EXPECT_EQ(got.size(), samples.size()) << tag;
    for (const auto& [t, v] : samples) {
      ASSERT_EQ(got.count(t), 1u) << tag << " @" << t;
      EXPECT_EQ(got[t].value().double_value(), v) << tag << " @" << t;
    }
  }
  EXPECT_EQ(gw->Terminate(absl::Seconds(30)), 0);
  edge->Disconnect();
}

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Samples by tag and time.
using TagSamples = std::map<std::string, std::map<int64_t, v1::Sample>>;

// Every sample in the unacknowledged part of the disk queue in `dir`, read
// while no gateway has it open (after a kill -9): what the gateway had
// accepted and the node had not acknowledged.
TagSamples QueuedSamples(const std::string& dir, size_t* count) {
  TagSamples out;
  *count = 0;
  client::DiskQueueOptions options;
  options.dir = dir;
  auto queue = client::DiskQueue::Open(options);
  EXPECT_TRUE(queue.ok()) << queue.status();
  if (!queue.ok()) return out;
  google::protobuf::RepeatedPtrField<v1::Sample> scratch;
  for (uint64_t next = 0;;) {
    auto entry = (*queue)->ReadFrom(next);
    EXPECT_TRUE(entry.ok()) << entry.status();
    if (!entry.ok() || !entry->has_value()) break;
    v1::WriteRequest batch;
    EXPECT_TRUE(batch.ParseFromString((*entry)->payload));
    for (const v1::TagSamples& series : batch.series()) {
      scratch.Clear();
      client::ColumnsToSamples(series.columns(), &scratch);
      using Samples = google::protobuf::RepeatedPtrField<v1::Sample>;
      for (const Samples* samples : {&series.samples(), static_cast<const Samples*>(&scratch)}) {
        for (const v1::Sample& s : *samples) {
          out[series.tag()][s.timestamp_ns()] = s;
          ++*count;
        }
      }
    }
    next = (*entry)->sequence + 1;
  }
  return out;
}

void Merge(const TagSamples& from, TagSamples* into) {
  for (const auto& [tag, samples] : from) (*into)[tag].insert(samples.begin(), samples.end());
}

// Two simulated edge nodes that honour STATE publish while the node goes
// down and comes back under a running gateway, and while the gateway is
// killed (-9) twice at points chosen by its progress: once with the node up
// and its acknowledgements slowed (batches in flight), once after the node
// went down again while messages flowed (hundreds of samples queued on
// disk). One publishes DDATA at QoS 0 (as the specification says), one at
// QoS 1. After each kill the unacknowledged part of the disk queue is read:
// every sample in it (accepted by the gateway) is at the node exactly once,
// with its value, after the restarts; the gateway resumes each time, and
// both edge nodes' data keeps arriving. After each kill the will says
// offline, the edge nodes buffer, and what they buffered arrives as history
// after the restart, every sample of it.
TEST(SparkplugE2E, GatewayKilledWhileMessagesFlowKeepsEveryAcceptedSampleOnce) {
  TempDir tmp;
  const int node_port = historian::testing::FreePort();
  NodeProcess node(tmp.Sub("data"), {absl::StrCat("--listen=127.0.0.1:", node_port)});
  ASSERT_TRUE(node.Start());
  // The gateway reaches the node through a proxy that can slow the link,
  // so batches are in flight (sent, maybe stored, not acknowledged).
  historian::testing::FaultProxy link(node.address());
  MosquittoProcess broker(tmp.Sub("broker"));
  ASSERT_TRUE(broker.Start());
  const std::string queue_dir = tmp.Sub("q");
  int run = 0;
  auto start_gateway = [&] {
    return std::make_unique<GatewayProcess>(GatewayFlags(broker, link.address(), queue_dir),
                                            tmp.Sub(absl::StrCat("gw", ++run, ".err")));
  };
  auto gw = start_gateway();
  ASSERT_TRUE(WaitOnline(broker)) << gw->err();
  auto sim = [&](const std::string& group, int qos) {
    return std::make_unique<GatewayProcess>(
        std::vector<std::string>{"--mqtt", broker.uri(), "--group", group, "--devices", "1",
                                 "--rate", "50", "--host_id", "h1", "--qos", std::to_string(qos)},
        tmp.Sub(group + ".err"), GatewayProcess::Options{.binary = "historian-sparkplug-sim"});
  };
  auto sim0 = sim("q0", 0);
  auto sim1 = sim("q1", 1);
  const std::vector<std::string> pressure = {"us.q0.edge1.press1.Pressure",
                                             "us.q1.edge1.press1.Pressure"};
  // The node has data of both edge nodes newer than `since`.
  auto both_newer = [&](int64_t since) {
    for (const std::string& tag : pressure) {
      auto got = ReadTag(node.address(), tag, nullptr, since);
      if (got.empty() || got.rbegin()->first <= since) return false;
    }
    return true;
  };
  // After a kill -9: the broker publishes the will (STATE offline), and
  // each edge node has seen it for the `kills`-th time and buffers.
  auto offline_and_buffering = [&](size_t kills) {
    return WaitFor(
        [&] {
          return absl::StrContains(State(broker), "\"online\":false") &&
                 Occurrences(sim0->err(), "offline: buffering DDATA") >= kills &&
                 Occurrences(sim1->err(), "offline: buffering DDATA") >= kills;
        },
        absl::Seconds(30));
  };
  const int64_t t0 = absl::ToUnixNanos(absl::Now());
  ASSERT_TRUE(WaitFor([&] { return both_newer(t0) && gw->LastStatus("acked_samples") >= 300; },
                      absl::Seconds(60)))
      << gw->err();

  // Kill 1: the node is up, acknowledgements are slow, batches are in
  // flight.
  link.SetDelayMs(300);
  ASSERT_TRUE(WaitFor([&] { return gw->LastStatus("queue_samples") >= 100; }, absl::Seconds(60)))
      << gw->err();
  TagSamples accepted;
  size_t queued = 0;
  gw->Kill();
  link.SetDelayMs(0);
  Merge(QueuedSamples(queue_dir, &queued), &accepted);
  std::printf("kill 1: %zu samples unacknowledged in the queue\n", queued);
  ASSERT_GE(queued, 100u);
  ASSERT_TRUE(offline_and_buffering(1));
  gw = start_gateway();
  const int64_t t1 = absl::ToUnixNanos(absl::Now());
  ASSERT_TRUE(WaitFor([&] { return both_newer(t1); }, absl::Seconds(60))) << gw->err();

  // The node goes down while messages flow and comes back: the same
  // gateway queues, then catches up (data newer than the node's return).
  ASSERT_EQ(node.Stop(), 0);
  ASSERT_TRUE(WaitFor([&] { return gw->LastStatus("queue_samples") >= 300; }, absl::Seconds(60)))
      << gw->err();
  ASSERT_TRUE(node.Start());
  const int64_t back = absl::ToUnixNanos(absl::Now());
  ASSERT_TRUE(WaitFor([&] { return both_newer(back); }, absl::Seconds(60))) << gw->err();

  // Down again while messages flow; the gateway queues; kill 2.
  ASSERT_EQ(node.Stop(), 0);
  ASSERT_TRUE(WaitFor([&] { return gw->LastStatus("queue_samples") >= 300; }, absl::Seconds(60)))
      << gw->err();
  gw->Kill();
  Merge(QueuedSamples(queue_dir, &queued), &accepted);
  std::printf("kill 2: %zu samples unacknowledged in the queue\n", queued);
  ASSERT_GE(queued, 300u);
  ASSERT_TRUE(offline_and_buffering(2));

  // The node comes back on its address, the gateway restarts on its queue.
  ASSERT_TRUE(node.Start());
  gw = start_gateway();
  const int64_t t2 = absl::ToUnixNanos(absl::Now());
  ASSERT_TRUE(WaitFor([&] { return both_newer(t2); }, absl::Seconds(60))) << gw->err();
  ASSERT_EQ(sim0->Terminate(absl::Seconds(30)), 0) << sim0->err();
  ASSERT_EQ(sim1->Terminate(absl::Seconds(30)), 0) << sim1->err();
  ASSERT_EQ(gw->Terminate(absl::Seconds(60)), 0) << gw->err();
  EXPECT_THAT(gw->err(), HasSubstr("final queue_batches=0 ")) << gw->err();

  size_t checked = 0;
  for (const auto& [tag, samples] : accepted) {
    size_t total = 0;
    auto got = ReadTag(node.address(), tag, &total, samples.begin()->first);
    EXPECT_EQ(total, got.size()) << tag << ": duplicates";
    for (const auto& [t, s] : samples) {
      auto it = got.find(t);
      ASSERT_NE(it, got.end()) << tag << " @" << t << " was accepted and is missing";
      EXPECT_EQ(it->second.value().SerializeAsString(), s.value().SerializeAsString())
          << tag << " @" << t;
      EXPECT_EQ(it->second.quality(), s.quality()) << tag << " @" << t;
      ++checked;
    }
  }
  EXPECT_GE(checked, 300u);
  // STATE at work: what each edge node buffered while the host was offline
  // (after each kill) it sent as history once the host was back, and every
  // one of those samples is at the node (nothing was sent live meanwhile,
  // so a window holds exactly the buffered samples).
  for (size_t i = 0; i < pressure.size(); ++i) {
    const std::string err = (i == 0 ? sim0 : sim1)->err();
    int windows = 0;
    for (size_t at = err.find("sending "); at != std::string::npos;
         at = err.find("sending ", at + 1)) {
      unsigned long long n = 0, first = 0, last = 0;
      ASSERT_EQ(std::sscanf(err.c_str() + at,
                            "sending %llu buffered DDATA as history, timestamps %llu..%llu ms", &n,
                            &first, &last),
                3)
          << err.substr(at, 120);
      size_t good = 0;
      for (const auto& [t, sample] : ReadTag(node.address(), pressure[i], nullptr, Ns(first))) {
        good += t >= Ns(first) && t <= Ns(last) && sample.quality() == 0;
      }
      EXPECT_EQ(good, n) << pressure[i] << " history " << first << ".." << last;
      ++windows;
    }
    EXPECT_GE(windows, 2) << err;  // one per kill at least
  }
  // What STATE-based protection kept: each edge node's Good Pressure samples
  // against its DDATA count (only reported: a QoS 0 message in the batcher,
  // and a QoS 1 message Paho had acknowledged before our callback queued it,
  // die with a kill -9; docs/gateway.md, "what is lost when").
  for (auto* s : {sim0.get(), sim1.get()}) {
    const int64_t sent = historian::testing::LastStatusValue(s->err(), "messages");
    const std::string& tag = s == sim0.get() ? pressure[0] : pressure[1];
    size_t total = 0;
    size_t good = 0;
    for (const auto& [t, sample] : ReadTag(node.address(), tag, &total, t0)) {
      good += sample.quality() == 0;
    }
    EXPECT_EQ(total, ReadTag(node.address(), tag, nullptr, t0).size()) << tag << ": duplicates";
    EXPECT_LE(static_cast<int64_t>(good), sent) << tag;
    std::printf("%s: %lld DDATA published, %zu recorded\n", tag.c_str(),
                static_cast<long long>(sent), good);
  }
}

// historian-sparkplug-sim honours STATE: while the gateway is stopped it
// buffers, then sends the buffer as history after new BIRTHs; the node ends
// up with every sample the simulator generated.
TEST(SparkplugE2E, SimulatorHonoursStateAndResendsHistory) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  MosquittoProcess broker(tmp.Sub("broker"));
  ASSERT_TRUE(broker.Start());
  auto gw = std::make_unique<GatewayProcess>(GatewayFlags(broker, node.address(), tmp.Sub("q")),
                                             tmp.Sub("gw1.err"));
  ASSERT_TRUE(WaitOnline(broker)) << gw->err();
  // QoS 1, so the few messages sent between the gateway's offline STATE and
  // the simulator reading it are kept by the broker too.
  GatewayProcess sim({"--mqtt", broker.uri(), "--group", "sim", "--devices", "1", "--rate", "20",
                      "--messages", "120", "--host_id", "h1", "--qos", "1"},
                     tmp.Sub("sim.err"),
                     GatewayProcess::Options{.binary = "historian-sparkplug-sim"});
  const std::string tag = "us.sim.edge1.press1.Pressure";
  const int64_t now = absl::ToUnixNanos(absl::Now());  // the simulator's clock
  ASSERT_TRUE(WaitFor([&] { return ReadTag(node.address(), tag, nullptr, now).size() >= 10; },
                      absl::Seconds(30)))
      << gw->err() << sim.err();
  ASSERT_EQ(gw->Terminate(absl::Seconds(30)), 0);
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(State(broker), "\"online\":false"); },
                      absl::Seconds(30)));
  // Some ticks pass while the host is offline (the assertions below hold
  // however many).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  gw = std::make_unique<GatewayProcess>(GatewayFlags(broker, node.address(), tmp.Sub("q")),
                                        tmp.Sub("gw2.err"));
  ASSERT_EQ(sim.Wait(absl::Seconds(60)), 0) << sim.err();
  // 120 DDATA, one Good Pressure sample each, at distinct times; plus the
  // NDEATH's Bad one at the end.
  std::map<int64_t, v1::Sample> got;
  ASSERT_TRUE(WaitFor(
      [&] {
        got = ReadTag(node.address(), tag, nullptr, now);
        size_t good = 0;
        for (const auto& [t, s] : got) good += s.quality() == 0;
        return good >= 120 && got.size() >= 121;
      },
      absl::Seconds(60)))
      << got.size() << "\n"
      << gw->err() << sim.err();
  size_t good = 0;
  for (const auto& [t, s] : got) good += s.quality() == 0;
  EXPECT_EQ(good, 120u);
  EXPECT_EQ(got.rbegin()->second.quality(), sp::kQualityBadNotConnected);
  std::printf("simulator: %s", sim.err().c_str());
}

// --mqtt_username / --mqtt_password_file against a broker that requires a
// login: the right one records, a wrong one is retried and logged, never a
// crash.
TEST(SparkplugE2E, BrokerLogin) {
  TempDir tmp;
  auto r = RunCommand({"/usr/bin/mosquitto_passwd", "-b", "-c", tmp.Sub("passwd"), "gw", "s3cret"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  {
    std::ofstream pw(tmp.Sub("gw.pw"));
    pw << "s3cret\n";
    std::ofstream bad(tmp.Sub("bad.pw"));
    bad << "wrong\n";
  }
  MosquittoProcess broker(tmp.Sub("broker"),
                          "allow_anonymous false\npassword_file " + tmp.Sub("passwd") + "\n");
  ASSERT_TRUE(broker.Start());
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  std::vector<std::string> flags = GatewayFlags(broker, node.address(), tmp.Sub("q1"));
  flags.insert(flags.end(), {"--mqtt_username", "gw", "--mqtt_password_file", tmp.Sub("bad.pw"),
                             "--mqtt_client_id", "bad-login"});
  GatewayProcess refused(flags, tmp.Sub("gw1.err"));
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(refused.err(), "cannot connect"); },
                      absl::Seconds(30)))
      << refused.err();
  EXPECT_TRUE(
      absl::StrContains(refused.err(), "the broker refused the login of --mqtt_username gw"))
      << refused.err();
  EXPECT_TRUE(refused.running());
  flags = GatewayFlags(broker, node.address(), tmp.Sub("q2"));
  flags.insert(flags.end(), {"--mqtt_username", "gw", "--mqtt_password_file", tmp.Sub("gw.pw")});
  GatewayProcess gw(flags, tmp.Sub("gw2.err"));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = RunCommand({"/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p",
                             std::to_string(broker.port()), "-u", "gw", "-P", "s3cret", "-t",
                             "spBv1.0/STATE/h1", "-C", "1", "-W", "2"});
        return absl::StrContains(s.out, "\"online\":true");
      },
      absl::Seconds(30)))
      << gw.err();
  EXPECT_EQ(gw.Terminate(absl::Seconds(30)), 0);
  refused.Kill();
}

// ssl:// with --mqtt_tls_ca: the gateway verifies the broker's certificate
// (signed by a test CA made with openssl) and announces itself over TLS.
TEST(SparkplugE2E, TlsToTheBroker) {
  TempDir tmp;
  const std::string pki = tmp.Sub("pki");
  std::filesystem::create_directories(pki);
  ASSERT_TRUE(historian::testing::MakeCa(pki, "ca") &&
              historian::testing::MakeCert(pki, "ca", "broker"))
      << "openssl could not make the test PKI";
  MosquittoProcess broker(tmp.Sub("broker"), "allow_anonymous true\ncafile " + pki +
                                                 "/ca.pem\ncertfile " + pki +
                                                 "/broker.pem\nkeyfile " + pki + "/broker.key\n");
  ASSERT_TRUE(broker.Start());
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  std::vector<std::string> flags = GatewayFlags(broker, node.address(), tmp.Sub("q"));
  flags[1] = "ssl://127.0.0.1:" + std::to_string(broker.port());
  flags.insert(flags.end(), {"--mqtt_tls_ca", pki + "/ca.pem"});
  GatewayProcess gw(flags, tmp.Sub("gw.err"));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = RunCommand({"/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p",
                             std::to_string(broker.port()), "--cafile", pki + "/ca.pem", "-t",
                             "spBv1.0/STATE/h1", "-C", "1", "-W", "2"});
        return absl::StrContains(s.out, "\"online\":true");
      },
      absl::Seconds(30)))
      << gw.err();
  EXPECT_EQ(gw.Terminate(absl::Seconds(30)), 0);
  // A broker certificate from another CA is refused (and retried).
  ASSERT_TRUE(historian::testing::MakeCa(pki, "other-ca"));
  flags.back() = pki + "/other-ca.pem";
  flags[7] = tmp.Sub("q2");  // --queue_dir
  GatewayProcess refused(flags, tmp.Sub("gw2.err"));
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(refused.err(), "cannot connect"); },
                      absl::Seconds(30)))
      << refused.err();
  EXPECT_TRUE(refused.running());
}

// A broker that requires a client certificate (mosquitto
// `require_certificate true`; CA, broker and client certificates made with
// openssl at test time): with --mqtt_tls_cert/--mqtt_tls_key the gateway
// connects and records; without them, with a client certificate of another
// CA, or trusting another CA for the broker, it is refused, says why on
// stderr, and keeps retrying (never a crash).
TEST(SparkplugE2E, TlsClientCertificate) {
  TempDir tmp;
  const std::string pki = tmp.Sub("pki");
  std::filesystem::create_directories(pki);
  using historian::testing::MakeCa;
  using historian::testing::MakeCert;
  ASSERT_TRUE(MakeCa(pki, "ca") && MakeCert(pki, "ca", "broker") && MakeCert(pki, "ca", "gw") &&
              MakeCert(pki, "ca", "edge") && MakeCa(pki, "other-ca") &&
              MakeCert(pki, "other-ca", "stranger"))
      << "openssl could not make the test PKI";
  MosquittoProcess broker(tmp.Sub("broker"),
                          "allow_anonymous true\nrequire_certificate true\ncafile " + pki +
                              "/ca.pem\ncertfile " + pki + "/broker.pem\nkeyfile " + pki +
                              "/broker.key\n");
  ASSERT_TRUE(broker.Start());
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  auto flags = [&](const std::string& queue, std::vector<std::string> tls) {
    std::vector<std::string> f = GatewayFlags(broker, node.address(), tmp.Sub(queue));
    f[1] = "ssl://127.0.0.1:" + std::to_string(broker.port());
    f.insert(f.end(), {"--mqtt_client_id", "gw-" + queue});
    f.insert(f.end(), tls.begin(), tls.end());
    return f;
  };
  // mosquitto_sub / mosquitto_pub with the edge node's certificate.
  const std::vector<std::string> client_tls = {
      "--cafile", pki + "/ca.pem", "--cert", pki + "/edge.pem", "--key", pki + "/edge.key"};
  auto mqtt_cli = [&](const std::string& tool, std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/" + tool, "-h", "127.0.0.1", "-p",
                                     std::to_string(broker.port())};
    argv.insert(argv.end(), client_tls.begin(), client_tls.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  };
  const std::string ca = pki + "/ca.pem";
  // Flags that cannot work stop the gateway at once, saying which.
  for (const auto& [bad, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--mqtt_tls_cert", pki + "/gw.pem"}, "go together"},
           {{"--mqtt_tls_ca", pki + "/missing.pem"}, "--mqtt_tls_ca " + pki + "/missing.pem"},
       }) {
    GatewayProcess refused(flags("q0", bad), tmp.Sub("gw0.err"));
    EXPECT_GT(refused.Wait(absl::Seconds(30)), 0) << refused.err();
    EXPECT_THAT(refused.err(), HasSubstr(says));
  }
  {
    std::vector<std::string> plain = flags("q0", {"--mqtt_tls_ca", ca});
    plain[1] = broker.uri();  // tcp://
    GatewayProcess refused(plain, tmp.Sub("gw0.err"));
    EXPECT_GT(refused.Wait(absl::Seconds(30)), 0) << refused.err();
    EXPECT_THAT(refused.err(), HasSubstr("need an ssl:// broker URI"));
  }
  // Refused: no client certificate; a client certificate of another CA; a
  // broker certificate checked against another CA.
  GatewayProcess no_cert(flags("q1", {"--mqtt_tls_ca", ca}), tmp.Sub("gw1.err"));
  GatewayProcess stranger(
      flags("q2", {"--mqtt_tls_ca", ca, "--mqtt_tls_cert", pki + "/stranger.pem", "--mqtt_tls_key",
                   pki + "/stranger.key"}),
      tmp.Sub("gw2.err"));
  GatewayProcess wrong_ca(flags("q3", {"--mqtt_tls_ca", pki + "/other-ca.pem", "--mqtt_tls_cert",
                                       pki + "/gw.pem", "--mqtt_tls_key", pki + "/gw.key"}),
                          tmp.Sub("gw3.err"));
  for (GatewayProcess* refused : {&no_cert, &stranger, &wrong_ca}) {
    ASSERT_TRUE(WaitFor([&] { return absl::StrContains(refused->err(), "cannot connect"); },
                        absl::Seconds(30)))
        << refused->err();
  }
  // Each says why (OpenSSL's reason when it has one, else what to check).
  EXPECT_THAT(no_cert.err(), HasSubstr("give one (--mqtt_tls_cert/--mqtt_tls_key)"));
  EXPECT_THAT(stranger.err(), HasSubstr("did not accept --mqtt_tls_cert"));
  EXPECT_THAT(wrong_ca.err(), HasSubstr("TLS: ")) << wrong_ca.err();
  EXPECT_THAT(wrong_ca.err(), HasSubstr("certificate verify failed")) << wrong_ca.err();
  // Accepted: the client certificate of the broker's CA.
  GatewayProcess gw(flags("q4", {"--mqtt_tls_ca", ca, "--mqtt_tls_cert", pki + "/gw.pem",
                                 "--mqtt_tls_key", pki + "/gw.key"}),
                    tmp.Sub("gw4.err"));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = mqtt_cli("mosquitto_sub", {"-t", "spBv1.0/STATE/h1", "-C", "1", "-W", "2"});
        return absl::StrContains(s.out, "\"online\":true");
      },
      absl::Seconds(30)))
      << gw.err();
  auto publish = [&](const std::string& topic, const std::string& bytes) {
    const std::string path = tmp.Sub("payload.bin");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    auto r = mqtt_cli("mosquitto_pub", {"-t", topic, "-q", "1", "-f", path});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  };
  publish("spBv1.0/plant/NBIRTH/edge9",
          HwPayload(kT0Ms, 0,
                    HwMetric("bdSeq", 0, 4, VarintField(11, 0)) +
                        HwMetric("Temp", 1, 10, DoubleField(13, 20.5))));
  publish("spBv1.0/plant/NDATA/edge9",
          HwPayload(kT0Ms + 1000, 1, HwMetric("", 1, 0, DoubleField(13, 21.5))));
  std::map<int64_t, v1::Sample> got;
  ASSERT_TRUE(WaitFor(
      [&] {
        got = ReadTag(node.address(), "us.plant.edge9.Temp");
        return got.size() == 2;
      },
      absl::Seconds(30)))
      << gw.err();
  EXPECT_EQ(got[Ns(kT0Ms + 1000)].value().double_value(), 21.5);
  EXPECT_EQ(gw.Terminate(absl::Seconds(30)), 0);
  // The refused ones never announced themselves and are still retrying.
  for (GatewayProcess* refused : {&no_cert, &stranger, &wrong_ca}) {
    EXPECT_TRUE(refused->running()) << refused->err();
    EXPECT_THAT(refused->err(), ::testing::Not(HasSubstr("mqtt: connected")));
  }
}

// A tag that exists at the node with another type: the catalog sync finds
// it, logs it, and the metric is refused from the next BIRTH on; the node
// refuses the samples sent before that one by one. The tag keeps its type.
TEST(SparkplugE2E, BirthThatChangesAnExistingTagsTypeIsRefused) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  client::ClientOptions options;
  options.endpoints = {node.address()};
  auto c = client::Client::Connect(options);
  ASSERT_TRUE(c.ok());
  v1::CreateTagRequest create;
  create.mutable_tag()->set_name("us.plant.edge6.Level");
  create.mutable_tag()->set_value_type(v1::VALUE_TYPE_STRING);
  ASSERT_TRUE((*c)->CreateTag(create).ok());
  MosquittoProcess broker(tmp.Sub("broker"));
  ASSERT_TRUE(broker.Start());
  GatewayProcess gw(GatewayFlags(broker, node.address(), tmp.Sub("q")), tmp.Sub("gw.err"));
  ASSERT_TRUE(WaitOnline(broker)) << gw.err();
  EdgeNode edge(broker.uri(), "edge6");
  ASSERT_TRUE(edge.Connect());
  sp::Payload birth = Birth(0, kT0Ms, 1);
  auto* level = birth.add_metrics();
  level->set_name("Level");
  level->set_alias(50);
  level->set_datatype(sp::kDouble);
  level->set_double_value(1.5);
  edge.Publish("spBv1.0/plant/NBIRTH/edge6", birth, 1);
  ASSERT_TRUE(
      WaitFor([&] { return absl::StrContains(gw.err(), "has type VALUE_TYPE_STRING at the node"); },
              absl::Seconds(30)))
      << gw.err();
  // The next BIRTH refuses the metric; the other one is recorded.
  birth.set_timestamp(kT0Ms + 1000);
  birth.mutable_metrics(0)->set_long_value(1);
  edge.Publish("spBv1.0/plant/NBIRTH/edge6", birth, 1);
  ASSERT_TRUE(WaitFor(
      [&] { return ReadTag(node.address(), "us.plant.edge6.m0").count(Ns(kT0Ms + 1000)) == 1; },
      absl::Seconds(30)))
      << gw.err();
  EXPECT_THAT(gw.err(), HasSubstr("'us.plant.edge6.Level' has another type; refused"));
  EXPECT_TRUE(ReadTag(node.address(), "us.plant.edge6.Level").empty());
  v1::GetTagRequest get;
  get.set_name("us.plant.edge6.Level");
  auto tag = (*c)->GetTag(get);
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(tag->value_type(), v1::VALUE_TYPE_STRING);
  edge.Disconnect();
}

}  // namespace
}  // namespace historian
