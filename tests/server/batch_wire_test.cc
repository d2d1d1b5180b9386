// The live batches' wire form (server/subscriptions/batch_wire.h) against
// protobuf's own serialization: the hand-written columns encoding must be
// byte for byte what ColumnsToProto + SerializeToString give (random
// columns of every type, out-of-order and extreme timestamps, mixed and
// uniform qualities), and a response made of appended fields must parse
// into the batches in order, with its token and lagged.
#include "server/subscriptions/batch_wire.h"

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "gtest/gtest.h"
#include "historian/v1/query.pb.h"
#include "server/proto_convert.h"

namespace historian::server {
namespace {

codec::ChunkColumns RandomColumns(std::mt19937_64& rng, ValueType type, size_t n) {
  codec::ChunkColumns c;
  c.Reset(type);
  int64_t ts = static_cast<int64_t>(rng());
  const int quality_mode = static_cast<int>(rng() % 3);  // all Good, all one, mixed
  const uint32_t one = static_cast<uint32_t>(rng() % 3 == 0 ? 0x80000000u : rng() % 300);
  for (size_t i = 0; i < n; ++i) {
    switch (rng() % 4) {
      case 0:
        ts = static_cast<int64_t>(rng());  // anywhere, wrapping deltas
        break;
      case 1:
        ts -= static_cast<int64_t>(rng() % 1000);  // backwards
        break;
      default:
        ts += 1000000000;
    }
    if (rng() % 50 == 0)
      ts = rng() % 2 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
    c.timestamps.push_back(ts);
    switch (type) {
      case ValueType::kDouble: {
        const double specials[] = {0.0,   -0.0,    std::nan(""),
                                   1e308, -1e-308, std::numeric_limits<double>::infinity()};
        c.doubles.push_back(rng() % 5 == 0 ? specials[rng() % 6]
                                           : static_cast<double>(rng() % 100000) / 7);
        break;
      }
      case ValueType::kInt64:
        c.ints.push_back(rng() % 3 == 0 ? static_cast<int64_t>(rng())
                                        : static_cast<int64_t>(rng() % 200) - 100);
        break;
      case ValueType::kBool:
        c.bools.push_back(static_cast<uint8_t>(rng() % 2));
        break;
      case ValueType::kString:
        c.strings.push_back(std::string(rng() % 300, static_cast<char>('a' + rng() % 26)));
        break;
      default:
        break;
    }
    c.qualities.push_back(quality_mode == 0   ? 0
                          : quality_mode == 1 ? one
                                              : static_cast<uint32_t>(rng() % 4 == 0 ? rng() : 0));
  }
  return c;
}

TEST(BatchWireTest, ColumnsFormIsByteForByteWhatProtobufWrites) {
  std::mt19937_64 rng(19);
  const ValueType types[] = {ValueType::kDouble, ValueType::kInt64, ValueType::kBool,
                             ValueType::kString};
  for (int round = 0; round < 2000; ++round) {
    const ValueType type = types[rng() % 4];
    const size_t n = rng() % 8 == 0 ? 0 : 1 + rng() % (rng() % 4 == 0 ? 2000 : 60);
    const codec::ChunkColumns cols = RandomColumns(rng, type, n);
    const std::string tag =
        rng() % 10 == 0 ? std::string(200, 't') : "plant.line1.t" + std::to_string(round);
    const std::string origin = rng() % 10 == 0 ? "" : "mx";
    v1::SubscribeResponse want;
    v1::SubscribedSamples* b = want.add_batches();
    b->set_tag(tag);
    b->set_origin_site(origin);
    ColumnsToProto(cols, b->mutable_columns());
    ASSERT_EQ(EncodeBatchField(tag, origin, cols, /*columns=*/true), want.SerializeAsString())
        << "round " << round << " type " << static_cast<int>(type) << " n " << n;
  }
  // Every one was written in place: the size worked out first was exact.
  EXPECT_EQ(ColumnsSizeMismatches(), 0u);
}

TEST(BatchWireTest, SamplesFormParsesToTheSamples) {
  std::mt19937_64 rng(7);
  const codec::ChunkColumns cols = RandomColumns(rng, ValueType::kDouble, 100);
  v1::SubscribeResponse got;
  ASSERT_TRUE(got.ParseFromString(EncodeBatchField("a", "us", cols, /*columns=*/false)));
  ASSERT_EQ(got.batches_size(), 1);
  ASSERT_EQ(got.batches(0).samples_size(), 100);
  for (size_t i = 0; i < cols.size(); ++i) {
    v1::Sample s;
    SampleToProto(cols, i, &s);
    EXPECT_EQ(got.batches(0).samples(static_cast<int>(i)).SerializeAsString(),
              s.SerializeAsString());
  }
}

// Two series of one entry and a second entry of the same tag, appended
// through the shared cache (twice: encoded, then from the cache), then the
// token and lagged behind them: one response, batches in order.
// A held series (as the hub's kCopy form keeps it).
AppliedEntry::Series Held(std::string name, codec::ChunkColumns cols) {
  AppliedEntry::Series s;
  s.name = std::move(name);
  s.samples = cols.size();
  s.cols = std::move(cols);
  return s;
}

TEST(BatchWireTest, AppendedFieldsParseAsOneResponseInOrder) {
  std::mt19937_64 rng(3);
  auto e1 = std::make_shared<AppliedEntry>();
  e1->origin = "us";
  e1->seq = 5;
  e1->series.push_back(Held("a", RandomColumns(rng, ValueType::kDouble, 10)));
  e1->series.push_back(Held("b", RandomColumns(rng, ValueType::kInt64, 3)));
  auto e2 = std::make_shared<AppliedEntry>();
  e2->origin = "mx";
  e2->seq = 9;
  e2->series.push_back(Held("a", RandomColumns(rng, ValueType::kDouble, 4)));
  const SampleBatch batches[] = {{e1, 0}, {e1, 1}, {e2, 0}};
  for (int pass = 0; pass < 2; ++pass) {
    std::string bytes;
    for (const SampleBatch& b : batches) AppendBatchWire(b, /*columns=*/true, &bytes);
    v1::SubscribeResponse tail;
    tail.set_resume_token("token");
    tail.mutable_lagged()->set_start_ns(1);
    tail.mutable_lagged()->set_end_ns(2);
    tail.AppendToString(&bytes);
    v1::SubscribeResponse got;
    ASSERT_TRUE(got.ParseFromString(bytes));
    ASSERT_EQ(got.batches_size(), 3);
    EXPECT_EQ(got.resume_token(), "token");
    EXPECT_EQ(got.lagged().end_ns(), 2);
    for (int i = 0; i < 3; ++i) {
      const SampleBatch& b = batches[i];
      v1::SubscribedSamples want;
      want.set_tag(b.tag());
      want.set_origin_site(b.origin());
      ColumnsToProto(b.cols(), want.mutable_columns());
      EXPECT_EQ(got.batches(i).SerializeAsString(), want.SerializeAsString()) << i;
    }
  }
}

// A series in its entry's columns_wire (as the hub's kColumnsWire form
// keeps it), and a copy of its columns for the expected answer.
void AddWired(AppliedEntry* entry, std::string name, codec::ChunkColumns cols) {
  AppliedEntry::Series& s = entry->series.emplace_back();
  s.name = std::move(name);
  s.samples = cols.size();
  s.columns_wire_offset = entry->columns_wire.size();
  AppendBatchField(s.name, entry->origin, cols, /*columns=*/true, &entry->columns_wire);
  s.columns_wire_size = entry->columns_wire.size() - s.columns_wire_offset;
}

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

// LiveResponse sends slices of the entries' columns_wire (runs merged) and
// copies of the rest, in the batches' order, then the tail: the same bytes
// as appending every batch one by one, whatever the mix. The slices outlive
// the batches and entries they came from.
TEST(BatchWireTest, LiveResponseIsTheBatchesAppendedInOrderThenTheTail) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::shared_ptr<AppliedEntry>> entries;
    for (int e = 0; e < 1 + static_cast<int>(rng() % 3); ++e) {
      auto entry = std::make_shared<AppliedEntry>();
      entry->origin = e % 2 ? "mx" : "us";
      entry->seq = static_cast<uint64_t>(e + 1);
      for (int i = 0; i < 1 + static_cast<int>(rng() % 5); ++i) {
        const std::string name = "t" + std::to_string(i);
        codec::ChunkColumns cols = RandomColumns(rng, ValueType::kDouble, 1 + rng() % 20);
        if (rng() % 3 == 0) {
          entry->series.push_back(Held(name, std::move(cols)));
        } else {
          AddWired(entry.get(), name, std::move(cols));
        }
      }
      entries.push_back(std::move(entry));
    }
    // Every series in entry order, some left out (another subscriber's).
    std::vector<SampleBatch> batches;
    for (const auto& entry : entries) {
      for (size_t i = 0; i < entry->series.size(); ++i) {
        if (rng() % 4 != 0) batches.push_back({entry, i});
      }
    }
    const std::string tail = rng() % 2 ? "" : std::string("\x12\x05token", 7);
    std::string want;
    for (const SampleBatch& b : batches) AppendBatchWire(b, /*columns=*/true, &want);
    want += tail;
    grpc::ByteBuffer sent = LiveResponse(batches, /*columns=*/true, tail);
    batches.clear();
    entries.clear();  // the slices keep what they point into
    ASSERT_EQ(Flatten(sent), want) << "round " << round;
  }
}

}  // namespace
}  // namespace historian::server
