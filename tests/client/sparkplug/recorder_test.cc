// Recorder: the Sparkplug primary-host state machine, fed payloads built with
// our .proto (the end-to-end test feeds hand-written bytes).
#include "client/sparkplug/recorder.h"

#include <map>

#include "client/sparkplug/metric_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace historian::sparkplug {
namespace {

namespace v1 = historian::v1;
using ::testing::HasSubstr;

constexpr uint64_t kMs0 = 1795428000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kNs0 = int64_t{1795428000000} * 1000000;
const absl::Time kNow = absl::FromUnixMillis(1795428100000);

Payload::Metric* Add(Payload& p, const std::string& name, uint64_t alias, uint32_t datatype) {
  Payload::Metric* m = p.add_metrics();
  if (!name.empty()) m->set_name(name);
  if (alias != 0) m->set_alias(alias);
  if (datatype != 0) m->set_datatype(datatype);
  return m;
}

Payload NBirth(uint64_t bd_seq) {
  Payload p;
  p.set_timestamp(kMs0);
  p.set_seq(0);
  Add(p, "bdSeq", 0, kInt64)->set_long_value(bd_seq);
  Add(p, "Node Control/Rebirth", 0, kBoolean)->set_boolean_value(false);
  Payload::Metric* t = Add(p, "Temp", 1, kDouble);
  t->set_double_value(180.5);
  auto* props = t->mutable_properties();
  props->add_keys("engUnit");
  props->add_values()->set_string_value("degC");
  props->add_keys("engLow");
  props->add_values()->set_double_value(0);
  props->add_keys("engHigh");
  props->add_values()->set_float_value(400);
  props->add_keys("Description");
  props->add_values()->set_string_value("oven zone 1");
  Add(p, "Count", 2, kUInt32)->set_int_value(7);
  return p;
}

class RecorderTest : public ::testing::Test {
 protected:
  RecorderTest() : recorder_(Options()) {}
  static RecorderOptions Options() {
    RecorderOptions o;
    o.site = "mx";
    return o;
  }
  // Handles one message; returns its samples by tag (the last per tag).
  std::map<std::string, v1::Sample> Send(const std::string& topic, const Payload& p,
                                         absl::Time at = kNow) {
    return SendBytes(topic, p.SerializeAsString(), at);
  }
  std::map<std::string, v1::Sample> SendBytes(const std::string& topic, const std::string& bytes,
                                              absl::Time at = kNow) {
    recorder_.Handle(topic, bytes, at, &out_);
    std::map<std::string, v1::Sample> by_tag;
    for (const RecordedSample& s : out_.samples) by_tag[s.tag] = s.sample;
    return by_tag;
  }
  std::string Log() const {
    std::string all;
    for (const std::string& l : out_.log) all += l + "\n";
    return all;
  }
  Payload Data(uint64_t seq) {
    Payload p;
    p.set_timestamp(kMs0 + 1000);
    p.set_seq(seq);
    return p;
  }

  Recorder recorder_;
  RecorderOutput out_;
};

TEST_F(RecorderTest, NBirthCreatesTagsWithMetadataAndRecordsValues) {
  auto s = Send("spBv1.0/plant/NBIRTH/edge1", NBirth(3));
  ASSERT_EQ(s.count("mx.plant.edge1.Temp"), 1u);
  EXPECT_EQ(s["mx.plant.edge1.Temp"].value().double_value(), 180.5);
  EXPECT_EQ(s["mx.plant.edge1.Temp"].timestamp_ns(), kNs0);
  EXPECT_EQ(s["mx.plant.edge1.Count"].value().int64_value(), 7);
  EXPECT_EQ(s["mx.plant.edge1.bdSeq"].value().int64_value(), 3);
  EXPECT_EQ(s["mx.plant.edge1.Node_Control/Rebirth"].value().bool_value(), false);
  const TagInfo* temp = nullptr;
  for (const TagInfo& t : out_.births) {
    if (t.tag == "mx.plant.edge1.Temp") temp = &t;
  }
  ASSERT_NE(temp, nullptr);
  EXPECT_EQ(temp->type, v1::VALUE_TYPE_DOUBLE);
  EXPECT_EQ(temp->unit, "degC");
  EXPECT_EQ(temp->description, "oven zone 1");
  EXPECT_EQ(temp->eng_low, 0.0);
  EXPECT_EQ(temp->eng_high, 400.0);
  EXPECT_TRUE(out_.rebirths.empty());
}

TEST_F(RecorderTest, DataByAliasAndByNameWithTimestamps) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(0));
  Payload d = Data(1);
  Add(d, "", 1, 0)->set_double_value(181.25);  // by alias, payload time
  Payload::Metric* c = Add(d, "Count", 0, 0);  // by name, own time
  c->set_int_value(8);
  c->set_timestamp(kMs0 + 500);
  auto s = Send("spBv1.0/plant/NDATA/edge1", d);
  EXPECT_EQ(s["mx.plant.edge1.Temp"].value().double_value(), 181.25);
  EXPECT_EQ(s["mx.plant.edge1.Temp"].timestamp_ns(), kNs0 + 1000000000);
  EXPECT_EQ(s["mx.plant.edge1.Count"].value().int64_value(), 8);
  EXPECT_EQ(s["mx.plant.edge1.Count"].timestamp_ns(), kNs0 + 500000000);
  // No timestamp anywhere: the receive time.
  Payload n;
  n.set_seq(2);
  Add(n, "", 1, 0)->set_double_value(1);
  s = Send("spBv1.0/plant/NDATA/edge1", n);
  EXPECT_EQ(s["mx.plant.edge1.Temp"].timestamp_ns(), absl::ToUnixNanos(kNow));
}

TEST_F(RecorderTest, EveryDatatype) {
  Payload b;
  b.set_timestamp(kMs0);
  b.set_seq(0);
  Add(b, "bdSeq", 0, kUInt64)->set_long_value(0);
  Add(b, "i8", 0, kInt8)->set_int_value(0xFFFFFFFFu);    // -1, sign-extended
  Add(b, "i8b", 0, kInt8)->set_int_value(0x80);          // -128, in its width
  Add(b, "i16", 0, kInt16)->set_int_value(0xFFFF8000u);  // -32768
  Add(b, "i32", 0, kInt32)->set_int_value(0x80000000u);  // INT32_MIN
  Add(b, "i64", 0, kInt64)->set_long_value(static_cast<uint64_t>(-5));
  Add(b, "u8", 0, kUInt8)->set_int_value(255);
  Add(b, "u16", 0, kUInt16)->set_int_value(65535);
  Add(b, "u32", 0, kUInt32)->set_int_value(4294967295u);
  Add(b, "u64", 0, kUInt64)->set_long_value(uint64_t{1} << 62);
  Add(b, "u64big", 0, kUInt64)->set_long_value(uint64_t{1} << 63);
  Add(b, "f", 0, kFloat)->set_float_value(1.5f);
  Add(b, "d", 0, kDouble)->set_double_value(2.25);
  Add(b, "b", 0, kBoolean)->set_boolean_value(true);
  Add(b, "s", 0, kString)->set_string_value("run");
  Add(b, "t", 0, kText)->set_string_value("long text");
  Add(b, "dt", 0, kDateTime)->set_long_value(kMs0);
  Add(b, "null", 0, kDouble)->set_is_null(true);
  Add(b, "bytes", 0, kBytes)->set_bytes_value("xx");
  Add(b, "ds", 0, kDataSet)->set_dataset_value("");
  Add(b, "tpl", 0, kTemplate)->set_template_value("");
  Add(b, "arr", 0, 22)->set_bytes_value("\x01\x02");  // Int8Array
  auto s = Send("spBv1.0/g/NBIRTH/n", b);
  EXPECT_EQ(s["mx.g.n.i8"].value().int64_value(), -1);
  EXPECT_EQ(s["mx.g.n.i8b"].value().int64_value(), -128);
  EXPECT_EQ(s["mx.g.n.i16"].value().int64_value(), -32768);
  EXPECT_EQ(s["mx.g.n.i32"].value().int64_value(), INT32_MIN);
  EXPECT_EQ(s["mx.g.n.i64"].value().int64_value(), -5);
  EXPECT_EQ(s["mx.g.n.u8"].value().int64_value(), 255);
  EXPECT_EQ(s["mx.g.n.u16"].value().int64_value(), 65535);
  EXPECT_EQ(s["mx.g.n.u32"].value().int64_value(), 4294967295);
  EXPECT_EQ(s["mx.g.n.u64"].value().int64_value(), int64_t{1} << 62);
  EXPECT_EQ(s["mx.g.n.u64"].quality(), kQualityGood);
  EXPECT_EQ(s["mx.g.n.u64big"].quality(), kQualityBadOutOfRange);
  EXPECT_TRUE(s["mx.g.n.u64big"].value().has_int64_value());
  EXPECT_EQ(s["mx.g.n.f"].value().double_value(), 1.5);
  EXPECT_EQ(s["mx.g.n.d"].value().double_value(), 2.25);
  EXPECT_EQ(s["mx.g.n.b"].value().bool_value(), true);
  EXPECT_EQ(s["mx.g.n.s"].value().string_value(), "run");
  EXPECT_EQ(s["mx.g.n.t"].value().string_value(), "long text");
  EXPECT_EQ(s["mx.g.n.dt"].value().int64_value(), static_cast<int64_t>(kMs0));
  EXPECT_EQ(s["mx.g.n.null"].quality(), kQualityBad);
  EXPECT_TRUE(s["mx.g.n.null"].value().has_double_value());
  for (const char* unsupported : {"mx.g.n.bytes", "mx.g.n.ds", "mx.g.n.tpl", "mx.g.n.arr"}) {
    EXPECT_EQ(s.count(unsupported), 0u) << unsupported;
  }
  EXPECT_EQ(recorder_.stats().unsupported, 4u);
  // Unsupported metrics in DATA are counted again, by name.
  Payload d = Data(1);
  Add(d, "bytes", 0, 0)->set_bytes_value("yy");
  Send("spBv1.0/g/NDATA/n", d);
  EXPECT_EQ(recorder_.stats().unsupported, 5u);
}

TEST_F(RecorderTest, HistoricalDataIsRecordedAtItsOwnTime) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(0));
  Payload d = Data(1);
  Payload::Metric* m = Add(d, "", 1, 0);
  m->set_double_value(99);
  m->set_is_historical(true);
  m->set_timestamp(kMs0 - 3600000);
  auto s = Send("spBv1.0/plant/NDATA/edge1", d);
  EXPECT_EQ(s["mx.plant.edge1.Temp"].timestamp_ns(), kNs0 - int64_t{3600} * 1000000000);
  EXPECT_EQ(s["mx.plant.edge1.Temp"].value().double_value(), 99);
}

TEST_F(RecorderTest, DevicesBirthDataAndDeath) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(0));
  Payload db = Data(1);
  Add(db, "Pressure", 10, kFloat)->set_float_value(2.5f);
  Add(db, "Running", 11, kBoolean)->set_boolean_value(true);
  auto s = Send("spBv1.0/plant/DBIRTH/edge1/press2", db);
  EXPECT_EQ(s["mx.plant.edge1.press2.Pressure"].value().double_value(), 2.5);
  Payload dd = Data(2);
  Add(dd, "", 11, 0)->set_boolean_value(false);
  s = Send("spBv1.0/plant/DDATA/edge1/press2", dd);
  EXPECT_EQ(s["mx.plant.edge1.press2.Running"].value().bool_value(), false);
  // DDEATH: the device's metrics only, Bad "not connected" at its time.
  Payload death = Data(3);
  death.set_timestamp(kMs0 + 5000);
  s = Send("spBv1.0/plant/DDEATH/edge1/press2", death);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s["mx.plant.edge1.press2.Running"].quality(), kQualityBadNotConnected);
  EXPECT_EQ(s["mx.plant.edge1.press2.Running"].timestamp_ns(), kNs0 + int64_t{5000} * 1000000);
  EXPECT_TRUE(s["mx.plant.edge1.press2.Running"].value().has_bool_value());
  EXPECT_EQ(s["mx.plant.edge1.press2.Pressure"].quality(), kQualityBadNotConnected);
}

TEST_F(RecorderTest, NDeathMarksEveryMetricBadAndAStaleOneIsIgnored) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(4));
  Payload db = Data(1);
  Add(db, "Pressure", 10, kFloat)->set_float_value(2.5f);
  Send("spBv1.0/plant/DBIRTH/edge1/press2", db);
  // The will of an older session (bdSeq 3) arrives late: ignored.
  Payload stale;
  Add(stale, "bdSeq", 0, kInt64)->set_long_value(3);
  auto s = Send("spBv1.0/plant/NDEATH/edge1", stale);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(recorder_.stats().stale_deaths, 1u);
  EXPECT_THAT(Log(), HasSubstr("ignored"));
  // The current session's will.
  Payload death;
  Add(death, "bdSeq", 0, kInt64)->set_long_value(4);
  s = Send("spBv1.0/plant/NDEATH/edge1", death, kNow + absl::Seconds(1));
  EXPECT_EQ(s.size(), 5u);  // bdSeq, Rebirth, Temp, Count, press2.Pressure
  for (const auto& [tag, sample] : s) {
    EXPECT_EQ(sample.quality(), kQualityBadNotConnected) << tag;
    EXPECT_EQ(sample.timestamp_ns(), absl::ToUnixNanos(kNow + absl::Seconds(1))) << tag;
  }
  // Data after the death: held, rebirth requested.
  Payload d = Data(2);
  Add(d, "", 1, 0)->set_double_value(1);
  s = Send("spBv1.0/plant/NDATA/edge1", d);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(out_.rebirths.size(), 1u);
}

TEST_F(RecorderTest, SeqGapRequestsOneRebirthHoldsDataAndRecordsItAfterTheBirth) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(0));
  Payload d1 = Data(1);
  Add(d1, "", 1, 0)->set_double_value(1);
  EXPECT_EQ(Send("spBv1.0/plant/NDATA/edge1", d1).size(), 1u);
  // seq 2 is lost.
  int rebirths = 0;
  for (uint64_t seq = 3; seq < 8; ++seq) {
    Payload d = Data(seq);
    Payload::Metric* m = Add(d, "", 1, 0);
    m->set_double_value(static_cast<double>(seq));
    m->set_timestamp(kMs0 + seq * 1000);
    EXPECT_TRUE(Send("spBv1.0/plant/NDATA/edge1", d, kNow + absl::Milliseconds(seq)).empty());
    rebirths += static_cast<int>(out_.rebirths.size());
    if (!out_.rebirths.empty()) {
      EXPECT_EQ(out_.rebirths[0], std::make_pair(std::string("plant"), std::string("edge1")));
    }
  }
  EXPECT_EQ(rebirths, 1);
  // An alias the new BIRTH does not know, and a named one it does not know.
  Payload lost = Data(8);
  Add(lost, "", 77, 0)->set_double_value(1);
  Add(lost, "Gone", 0, kDouble)->set_double_value(1);
  Send("spBv1.0/plant/NDATA/edge1", lost);
  // The rebirth: the held data is recorded with the new session's aliases.
  recorder_.Handle("spBv1.0/plant/NBIRTH/edge1", NBirth(1).SerializeAsString(), kNow, &out_);
  std::map<int64_t, double> temps;
  std::vector<v1::Sample> gone;
  for (const RecordedSample& s : out_.samples) {
    if (s.tag == "mx.plant.edge1.Temp")
      temps[s.sample.timestamp_ns()] = s.sample.value().double_value();
    if (s.tag == "mx.plant.edge1.Gone") gone.push_back(s.sample);
  }
  for (int64_t seq = 3; seq < 8; ++seq) {
    EXPECT_EQ(temps[kNs0 + seq * 1000000000], static_cast<double>(seq)) << seq;
  }
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].quality(), kQualityBad);
  EXPECT_EQ(recorder_.stats().unresolved, 2u);
  EXPECT_THAT(Log(), HasSubstr("alias 77"));
  // And the session goes on from the birth's seq.
  Payload next = Data(1);
  Add(next, "", 1, 0)->set_double_value(42);
  EXPECT_EQ(Send("spBv1.0/plant/NDATA/edge1", next)["mx.plant.edge1.Temp"].value().double_value(),
            42);
}

TEST_F(RecorderTest, RebirthIsRequestedAgainAfterTheInterval) {
  Payload d = Data(5);
  Add(d, "", 1, 0)->set_double_value(1);
  Send("spBv1.0/plant/NDATA/edge1", d, kNow);  // DATA before any BIRTH
  EXPECT_EQ(out_.rebirths.size(), 1u);
  Send("spBv1.0/plant/NDATA/edge1", d, kNow + absl::Seconds(4));
  EXPECT_EQ(out_.rebirths.size(), 0u);
  Send("spBv1.0/plant/NDATA/edge1", d, kNow + absl::Seconds(5));
  EXPECT_EQ(out_.rebirths.size(), 1u);
  EXPECT_EQ(recorder_.stats().rebirth_requests, 2u);
}

TEST_F(RecorderTest, HeldDeviceDataWaitsForItsDBirth) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(0));
  Payload db = Data(1);
  Add(db, "Pressure", 10, kFloat)->set_float_value(2.5f);
  Send("spBv1.0/plant/DBIRTH/edge1/press2", db);
  Payload gap = Data(9);
  Add(gap, "", 10, 0)->set_float_value(3.5f);
  EXPECT_TRUE(Send("spBv1.0/plant/DDATA/edge1/press2", gap).empty());
  EXPECT_EQ(out_.rebirths.size(), 1u);
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(0));  // a rebirth: the same session
  EXPECT_EQ(out_.samples.size(), 4u);             // the NBIRTH's own values only
  EXPECT_EQ(recorder_.stats().held_now, 1u);
  Payload db2 = Data(1);
  Add(db2, "Pressure", 10, kFloat)->set_float_value(4.5f);
  recorder_.Handle("spBv1.0/plant/DBIRTH/edge1/press2", db2.SerializeAsString(), kNow, &out_);
  ASSERT_EQ(out_.samples.size(), 2u);
  EXPECT_EQ(out_.samples[1].sample.value().double_value(), 3.5);
  EXPECT_EQ(recorder_.stats().unresolved, 0u);
  EXPECT_EQ(recorder_.stats().held_now, 0u);
}

// The will (NDEATH) is stored by the broker at connect, so its timestamp is
// the session's start: the Bad samples go at its receive time instead, after
// the session's data, so the node reads as dead.
TEST_F(RecorderTest, AWillIsRecordedAtItsReceiveTimeNotItsConnectTimestamp) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(4));
  Payload d = Data(1);
  Add(d, "", 1, 0)->set_double_value(1);
  Send("spBv1.0/plant/NDATA/edge1", d, kNow + absl::Seconds(10));
  Payload will;
  will.set_timestamp(kMs0 - 60000);  // built when the node connected
  Add(will, "bdSeq", 0, kInt64)->set_long_value(4);
  auto s = Send("spBv1.0/plant/NDEATH/edge1", will, kNow + absl::Hours(2));
  ASSERT_FALSE(s.empty());
  for (const auto& [tag, sample] : s) {
    EXPECT_EQ(sample.timestamp_ns(), absl::ToUnixNanos(kNow + absl::Hours(2))) << tag;
    EXPECT_EQ(sample.quality(), kQualityBadNotConnected) << tag;
  }
}

// Data held across a node restart (a new session: another bdSeq) is
// recorded with the aliases it was sent under, not the new session's, which
// here give alias 10 to another metric of the same type.
TEST_F(RecorderTest, HeldDataOfAnEndingSessionIsResolvedWithItsOwnAliases) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(1));
  Payload db = Data(1);
  Add(db, "Temp", 10, kFloat)->set_float_value(20.5f);
  Add(db, "Pressure", 11, kFloat)->set_float_value(2.5f);
  Send("spBv1.0/plant/DBIRTH/edge1/press2", db);
  Payload gap = Data(9);  // seq 2..8 lost: held
  Payload::Metric* m = Add(gap, "", 10, 0);
  m->set_float_value(21.5f);
  m->set_timestamp(kMs0 + 9000);
  EXPECT_TRUE(Send("spBv1.0/plant/DDATA/edge1/press2", gap).empty());
  EXPECT_EQ(recorder_.stats().held_now, 1u);
  // The node restarted with its metrics in another order.
  recorder_.Handle("spBv1.0/plant/NBIRTH/edge1", NBirth(2).SerializeAsString(), kNow, &out_);
  std::map<std::string, v1::Sample> held;
  for (const RecordedSample& r : out_.samples) {
    if (r.sample.timestamp_ns() == kNs0 + int64_t{9000} * 1000000) held[r.tag] = r.sample;
  }
  ASSERT_EQ(held.size(), 1u);
  EXPECT_FLOAT_EQ(held["mx.plant.edge1.press2.Temp"].value().double_value(), 21.5f);
  EXPECT_EQ(recorder_.stats().held_now, 0u);
  Payload db2 = Data(1);
  Add(db2, "Pressure", 10, kFloat)->set_float_value(3.0f);
  Add(db2, "Temp", 11, kFloat)->set_float_value(22.0f);
  auto s = Send("spBv1.0/plant/DBIRTH/edge1/press2", db2);
  EXPECT_EQ(s.size(), 2u) << "the DBIRTH's own values only";
  EXPECT_EQ(recorder_.stats().unresolved, 0u);
}

// Held data of a device the ending session never gave a DBIRTH waits for
// the new session's DBIRTH (it names its metrics again), instead of being
// resolved against maps that never knew the device.
TEST_F(RecorderTest, HeldDataOfADeviceUnbornInTheEndingSessionWaitsForItsNewDBirth) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(1));
  Payload early = Data(1);
  Payload::Metric* m = Add(early, "Level", 0, kDouble);
  m->set_double_value(7.5);
  m->set_timestamp(kMs0 + 2000);
  EXPECT_TRUE(Send("spBv1.0/plant/DDATA/edge1/tank", early).empty());  // no DBIRTH yet: held
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(2));                       // a new session
  EXPECT_EQ(recorder_.stats().unresolved, 0u);
  EXPECT_EQ(recorder_.stats().held_now, 1u);
  Payload db = Data(1);
  Add(db, "Level", 5, kDouble)->set_double_value(8.0);
  recorder_.Handle("spBv1.0/plant/DBIRTH/edge1/tank", db.SerializeAsString(), kNow, &out_);
  bool held_value = false;
  for (const RecordedSample& r : out_.samples) {
    if (r.sample.timestamp_ns() == kNs0 + int64_t{2000} * 1000000) {
      EXPECT_EQ(r.tag, "mx.plant.edge1.tank.Level");
      EXPECT_EQ(r.sample.value().double_value(), 7.5);
      EXPECT_EQ(r.sample.quality(), 0u);
      held_value = true;
    }
  }
  EXPECT_TRUE(held_value) << "the held value was not recorded at the DBIRTH";
  EXPECT_EQ(recorder_.stats().held_now, 0u);
}

// A device born again replaces its metrics: a flapping device neither grows
// the node's maps nor multiplies the Bad samples of its next DDEATH, and
// an alias its new DBIRTH dropped no longer resolves.
TEST_F(RecorderTest, ADBirthReplacesItsDevicesMetrics) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(0));
  uint64_t seq = 1;
  for (int k = 0; k < 5; ++k) {
    Payload db = Data(seq++);
    Add(db, "Pressure", 10, kFloat)->set_float_value(2.5f);
    Add(db, "Running", 11, kBoolean)->set_boolean_value(true);
    if (k == 4) db.mutable_metrics()->RemoveLast();  // the last birth has no Running
    Send("spBv1.0/plant/DBIRTH/edge1/press2", db);
    if (k < 4) Send("spBv1.0/plant/DDEATH/edge1/press2", Data(seq++));
  }
  Payload dd = Data(seq++);
  Add(dd, "", 11, 0)->set_boolean_value(false);
  EXPECT_TRUE(Send("spBv1.0/plant/DDATA/edge1/press2", dd).empty());
  EXPECT_EQ(recorder_.stats().unresolved, 1u);
  recorder_.Handle("spBv1.0/plant/DDEATH/edge1/press2", Data(seq++).SerializeAsString(), kNow,
                   &out_);
  ASSERT_EQ(out_.samples.size(), 1u) << "one Bad sample per metric of the device";
  EXPECT_EQ(out_.samples[0].tag, "mx.plant.edge1.press2.Pressure");
  // The node's own metrics are untouched.
  Payload nd = Data(seq++);
  Add(nd, "", 1, 0)->set_double_value(5);
  EXPECT_EQ(Send("spBv1.0/plant/NDATA/edge1", nd)["mx.plant.edge1.Temp"].value().double_value(), 5);
}

TEST_F(RecorderTest, TwoMetricsMappingToOneTagAreBothRefused) {
  Payload b;
  b.set_seq(0);
  Add(b, "bdSeq", 0, kInt64)->set_long_value(0);
  Add(b, "Zone 1", 1, kDouble)->set_double_value(1);
  Add(b, "Zone#1", 2, kDouble)->set_double_value(2);
  Add(b, "Zone 2", 3, kDouble)->set_double_value(3);
  auto s = Send("spBv1.0/g/NBIRTH/n", b);
  EXPECT_EQ(s.count("mx.g.n.Zone_1"), 0u);
  EXPECT_EQ(s.count("mx.g.n.Zone_2"), 1u);
  EXPECT_THAT(Log(), HasSubstr("several metrics map to the tag 'mx.g.n.Zone_1'"));
  EXPECT_EQ(recorder_.stats().refused, 2u);
  Payload d;
  d.set_seq(1);
  Add(d, "", 1, 0)->set_double_value(5);
  EXPECT_TRUE(Send("spBv1.0/g/NDATA/n", d).empty());
}

TEST_F(RecorderTest, ABirthThatChangesATagsTypeIsRefusedForThatMetric) {
  recorder_.SetKnownType("mx.g.n.Level", v1::VALUE_TYPE_DOUBLE);
  Payload b;
  b.set_seq(0);
  Add(b, "bdSeq", 0, kInt64)->set_long_value(0);
  Add(b, "Level", 1, kString)->set_string_value("high");
  Add(b, "Other", 2, kDouble)->set_double_value(1);
  auto s = Send("spBv1.0/g/NBIRTH/n", b);
  EXPECT_EQ(s.count("mx.g.n.Level"), 0u);
  EXPECT_EQ(s.count("mx.g.n.Other"), 1u);
  EXPECT_THAT(Log(), HasSubstr("has another type; refused"));
  // A later birth of another node with the other type is refused too.
  Payload b2;
  b2.set_seq(0);
  Add(b2, "Other", 1, kBoolean)->set_boolean_value(true);
  s = Send("spBv1.0/g/NBIRTH/n", b2);
  EXPECT_TRUE(s.empty());
}

TEST_F(RecorderTest, BadInputIsCountedAndLoggedOncePerNode) {
  Send("spBv1.0/plant/NBIRTH/edge1", NBirth(0));
  EXPECT_TRUE(SendBytes("spBv1.0/plant/NDATA/edge1", "this is not protobuf \xff\xff").empty());
  EXPECT_THAT(Log(), HasSubstr("not a Sparkplug B payload"));
  SendBytes("spBv1.0/plant/NDATA/edge1", "this is not protobuf \xff\xff");
  EXPECT_TRUE(out_.log.empty());  // once per node and reason
  EXPECT_EQ(recorder_.stats().bad_payloads, 2u);
  SendBytes("plant/line3/temp", "21.5");
  EXPECT_EQ(recorder_.stats().bad_topics, 1u);
  EXPECT_THAT(Log(), HasSubstr("outside spBv1.0"));
  // Too large.
  SendBytes("spBv1.0/plant/NDATA/edge1", std::string(10 << 20, 'x'));
  EXPECT_THAT(Log(), HasSubstr("refused"));
  EXPECT_EQ(recorder_.stats().bad_payloads, 3u);
  // Unknown alias and wrong type in otherwise good data.
  Payload d = Data(1);
  Add(d, "", 99, 0)->set_double_value(1);
  Add(d, "", 1, 0)->set_string_value("hot");
  Add(d, "", 2, 0)->set_int_value(9);
  auto s = Send("spBv1.0/plant/NDATA/edge1", d);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s["mx.plant.edge1.Count"].value().int64_value(), 9);
  EXPECT_EQ(recorder_.stats().unresolved, 1u);
  EXPECT_EQ(recorder_.stats().wrong_type, 1u);
  EXPECT_THAT(Log(), HasSubstr("unknown alias 99"));
  EXPECT_THAT(Log(), HasSubstr("not of its BIRTH datatype"));
  // Another node is not affected.
  Send("spBv1.0/plant/NBIRTH/edge2", NBirth(0));
  EXPECT_EQ(out_.samples.size(), 4u);
}

TEST(RecorderHold, HeldMessagesAreBoundedOldestDropped) {
  RecorderOptions o;
  o.site = "mx";
  o.max_held_messages = 3;
  Recorder recorder(o);
  RecorderOutput out;
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    Payload d;
    d.set_timestamp(kMs0 + seq * 1000);
    d.set_seq(seq);
    Add(d, "Temp", 0, kDouble)->set_double_value(static_cast<double>(seq));
    recorder.Handle("spBv1.0/g/NDATA/n", d.SerializeAsString(), kNow, &out);
  }
  EXPECT_EQ(recorder.stats().held_messages, 5u);
  EXPECT_EQ(recorder.stats().dropped_held, 2u);
  // The BIRTH releases the 3 newest.
  Payload b;
  b.set_seq(0);
  Add(b, "bdSeq", 0, kInt64)->set_long_value(0);
  Add(b, "Temp", 1, kDouble)->set_double_value(0);
  recorder.Handle("spBv1.0/g/NBIRTH/n", b.SerializeAsString(), kNow, &out);
  std::vector<double> temps;
  for (const RecordedSample& s : out.samples) {
    if (s.tag == "mx.g.n.Temp" && s.sample.timestamp_ns() != absl::ToUnixNanos(kNow)) {
      temps.push_back(s.sample.value().double_value());
    }
  }
  EXPECT_EQ(temps, (std::vector<double>{3, 4, 5}));
}

}  // namespace
}  // namespace historian::sparkplug
