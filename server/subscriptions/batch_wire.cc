#include "server/subscriptions/batch_wire.h"

#include <algorithm>
#include <cstring>

#include "historian/v1/query.pb.h"
#include "server/proto_convert.h"
#include "storage/engine/coding.h"

namespace historian::server {
namespace {

// A length-delimited field's key (wire type 2).
constexpr char Key(int field) { return static_cast<char>((field << 3) | 2); }

void PutField(int field, std::string_view bytes, std::string* out) {
  out->push_back(Key(field));
  engine::PutString(bytes, out);
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// A packed varint field of `n` values `f(i)`.
template <typename F>
void PutPackedVarints(int field, size_t n, F f, std::string* out) {
  size_t len = 0;
  for (size_t i = 0; i < n; ++i) len += VarintSize(f(i));
  out->push_back(Key(field));
  engine::PutVarint64(len, out);
  const size_t at = out->size();
  out->resize(at + len);
  char* p = out->data() + at;
  for (size_t i = 0; i < n; ++i) p = engine::EncodeVarint64(p, f(i));
}

// SampleColumns of `cols` (as ColumnsToProto fills it, serialized: fields
// in number order, empty repeated fields left out).
void PutColumns(const codec::ChunkColumns& cols, std::string* out) {
  const size_t n = cols.size();
  if (n == 0) return;
  const int64_t* ts = cols.timestamps.data();
  // Deltas in unsigned arithmetic (wrap, never overflow), sint64 zigzag.
  PutPackedVarints(
      1, n,
      [ts](size_t i) {
        const uint64_t prev = i == 0 ? 0 : static_cast<uint64_t>(ts[i - 1]);
        return engine::ZigZag(static_cast<int64_t>(static_cast<uint64_t>(ts[i]) - prev));
      },
      out);
  switch (cols.type) {
    case ValueType::kDouble: {
      out->push_back(Key(2));
      engine::PutVarint64(n * sizeof(double), out);
      const size_t at = out->size();
      out->resize(at + n * sizeof(double));
      std::memcpy(out->data() + at, cols.doubles.data(), n * sizeof(double));  // little-endian
      break;
    }
    case ValueType::kInt64: {
      const int64_t* v = cols.ints.data();
      PutPackedVarints(
          3, n, [v](size_t i) { return engine::ZigZag(v[i]); }, out);
      break;
    }
    case ValueType::kBool: {
      const uint8_t* v = cols.bools.data();
      PutPackedVarints(
          4, n, [v](size_t i) -> uint64_t { return v[i] != 0 ? 1 : 0; }, out);
      break;
    }
    case ValueType::kString:
      for (const std::string& s : cols.strings) PutField(5, s, out);
      break;
    default:
      break;
  }
  const uint32_t* q = cols.qualities.data();
  if (std::all_of(q, q + n, [&](uint32_t x) { return x == q[0]; })) {
    if (q[0] != 0)
      PutPackedVarints(
          6, 1, [q](size_t) -> uint64_t { return q[0]; }, out);
  } else {
    PutPackedVarints(
        6, n, [q](size_t i) -> uint64_t { return q[i]; }, out);
  }
}

std::string EncodeSamplesBatchField(const std::string& tag, const std::string& origin,
                                    const codec::ChunkColumns& cols) {
  v1::SubscribedSamples batch;
  batch.set_tag(tag);
  batch.set_origin_site(origin);
  batch.mutable_samples()->Reserve(static_cast<int>(cols.size()));
  for (size_t i = 0; i < cols.size(); ++i) SampleToProto(cols, i, batch.add_samples());
  std::string out;
  PutField(1, batch.SerializeAsString(), &out);
  return out;
}

}  // namespace

std::string EncodeBatchField(const std::string& tag, const std::string& origin,
                             const codec::ChunkColumns& cols, bool columns) {
  if (!columns) return EncodeSamplesBatchField(tag, origin, cols);
  // SubscribedSamples: tag (1), origin_site (2), columns (4), framed as a
  // SubscribeResponse.batches field. The columns go to a scratch buffer
  // first (their length precedes them), so `out` is allocated once.
  thread_local std::string columns_bytes;
  columns_bytes.clear();
  PutColumns(cols, &columns_bytes);
  auto field_size = [](size_t len) { return 1 + VarintSize(len) + len; };
  const size_t body = (tag.empty() ? 0 : field_size(tag.size())) +
                      (origin.empty() ? 0 : field_size(origin.size())) +
                      field_size(columns_bytes.size());
  std::string out;
  out.reserve(field_size(body));
  out.push_back(Key(1));
  engine::PutVarint64(body, &out);
  if (!tag.empty()) PutField(1, tag, &out);
  if (!origin.empty()) PutField(2, origin, &out);
  PutField(4, columns_bytes, &out);
  return out;
}

void AppendBatchWire(const SampleBatch& batch, bool columns, std::string* out) {
  const AppliedEntry& e = *batch.entry;
  const AppliedEntry::Series& s = batch.series();
  absl::MutexLock l(&e.wire_mu);
  std::string& wire = s.wire[columns ? 1 : 0];
  if (wire.empty()) wire = EncodeBatchField(s.name, e.origin, s.cols, columns);
  out->append(wire);
}

}  // namespace historian::server
