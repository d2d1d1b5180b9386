// Writes the seed corpora of the fuzz targets that need binary inputs:
// encoded chunks of every value type (fuzz/corpus/chunk_decode/) and
// serialized WriteRequests (fuzz/corpus/write_request/). Run by
// scripts/fuzz.sh --make-seeds; the output is committed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "historian/v1/ingest.pb.h"
#include "storage/codec/chunk_codec.h"
#include "storage/codec/huffman.h"

namespace {

using historian::ValueType;
using historian::codec::ChunkColumns;

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

ChunkColumns Make(ValueType type, int n) {
  ChunkColumns c;
  c.Reset(type);
  for (int i = 0; i < n; ++i) {
    c.timestamps.push_back(1700000000000000000 + int64_t{i} * 1000000000 + (i % 3) * 17);
    c.qualities.push_back(i % 7 == 0 ? 0x40000000u : 0u);
    c.versions.push_back(static_cast<uint64_t>(1000 + i) << 8);
    switch (type) {
      case ValueType::kDouble:
        c.doubles.push_back(i % 5 == 0 ? std::sin(i) : 21.4 + i * 0.1);
        break;
      case ValueType::kInt64:
        c.ints.push_back(i * i - 50);
        break;
      case ValueType::kBool:
        c.bools.push_back(i % 4 == 0);
        break;
      case ValueType::kString:
        c.strings.push_back(i % 2 ? "running" : "stopped");
        break;
      default:
        break;
    }
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  int written = 0;
  for (auto [type, name] :
       {std::pair{ValueType::kDouble, "double"}, std::pair{ValueType::kInt64, "int64"},
        std::pair{ValueType::kBool, "bool"}, std::pair{ValueType::kString, "string"}}) {
    for (int n : {1, 3, 100}) {
      std::string bytes;
      if (!historian::codec::EncodeChunk(Make(type, n), &bytes).ok()) {
        std::fprintf(stderr, "encode %s/%d failed\n", name, n);
        return 1;
      }
      Write(dir + "/chunk_decode/" + name + "_" + std::to_string(n), bytes);
      ++written;
    }
  }
  // Chunks whose values take the moving-average predictor and the entropy
  // stage: a noisy analog sensor and a counter with a jittery rate.
  {
    ChunkColumns analog = Make(ValueType::kDouble, 512);
    ChunkColumns counter = Make(ValueType::kInt64, 512);
    uint64_t h = 12345;
    int64_t count = 0;
    for (int i = 0; i < 512; ++i) {
      h = h * 6364136223846793005ULL + 1442695040888963407ULL;
      const int noise = static_cast<int>((h >> 33) % 9) - 4;
      analog.doubles[i] = std::round(500 + 50 * std::sin(i / 80.0) + noise) / 10;
      count += 10 + static_cast<int64_t>((h >> 40) % 5);
      counter.ints[i] = count;
    }
    for (auto [cols, name] :
         {std::pair{&analog, "double_entropy_512"}, std::pair{&counter, "int64_entropy_512"}}) {
      std::string bytes;
      if (!historian::codec::EncodeChunk(*cols, &bytes).ok()) return 1;
      Write(dir + "/chunk_decode/" + name, bytes);
      ++written;
    }
    // Entropy-stage bodies for huffman_fuzzer: 2 bytes of count - 1, then
    // the body.
    std::vector<uint64_t> v(300);
    for (size_t i = 0; i < v.size(); ++i) v[i] = i % 17 == 0 ? (h >> (i % 60)) : i % 7;
    std::string bytes = {static_cast<char>((v.size() - 1) & 0xFF),
                         static_cast<char>((v.size() - 1) >> 8)};
    historian::codec::ByteWriter w(&bytes);
    historian::codec::WriteHuffmanIfSmaller(v.data(), v.size(), ~size_t{0}, &w);
    Write(dir + "/huffman/mixed_300", bytes);
  }
  historian::v1::WriteRequest req;
  req.set_client_id("gw-1");
  req.set_batch_sequence(7);
  auto* a = req.add_series();
  a->set_tag("us.line1.press.temp");
  for (int i = 0; i < 3; ++i) {
    auto* s = a->add_samples();
    s->set_timestamp_ns(1700000000000000000 + i);
    s->mutable_value()->set_double_value(21.5 + i);
  }
  auto* b = req.add_series();
  b->set_tag("us.line1.press.state");
  auto* s = b->add_samples();
  s->set_timestamp_ns(1700000000000000000);
  s->mutable_value()->set_string_value("running");
  s->set_quality(0x40000000);
  b->add_samples()->set_timestamp_ns(5);  // no value: rejected
  auto* c = req.add_series();
  c->set_tag("bad tag name!");
  c->add_samples()->mutable_value()->set_bool_value(true);
  Write(dir + "/write_request/mixed", req.SerializeAsString());
  historian::v1::WriteRequest one;
  one.add_series()->set_tag("x");
  one.mutable_series(0)->add_samples()->mutable_value()->set_int64_value(42);
  Write(dir + "/write_request/one_int", one.SerializeAsString());
  // The columns form: a double tag fed int64s (one not exact), and a shape
  // error (fewer values than timestamps).
  historian::v1::WriteRequest cols;
  auto* first = cols.add_series();  // creates the tag as double
  first->set_tag("us.line1.flow");
  first->mutable_columns()->add_timestamp_deltas_ns(1600000000000000000);
  first->mutable_columns()->add_double_values(1.25);
  auto* d = cols.add_series();
  d->set_tag("us.line1.flow");
  for (int64_t delta : {int64_t{1700000000000000000}, int64_t{1000000000}, int64_t{-500000000}}) {
    d->mutable_columns()->add_timestamp_deltas_ns(delta);
  }
  for (int64_t v : {int64_t{3}, (int64_t{1} << 53) + 1, INT64_MAX})
    d->mutable_columns()->add_int64_values(v);
  d->mutable_columns()->add_qualities(0x40000000);
  auto* e = cols.add_series();
  e->set_tag("us.line1.level");
  e->mutable_columns()->add_timestamp_deltas_ns(1);
  e->mutable_columns()->add_timestamp_deltas_ns(1);
  e->mutable_columns()->add_double_values(0.5);
  Write(dir + "/write_request/columns", cols.SerializeAsString());
  std::printf("wrote %d chunk seeds and 3 write request seeds\n", written);
  return 0;
}
