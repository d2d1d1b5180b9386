#include "server/subscriptions/batch_wire.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <utility>

#include "grpcpp/support/slice.h"
#include "historian/v1/query.pb.h"
#include "server/proto_convert.h"
#include "server/subscriptions/byte_stream.h"
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

size_t FieldSize(size_t len) { return 1 + VarintSize(len) + len; }

std::atomic<uint64_t> size_mismatches{0};

template <typename F>
size_t PackedVarintsSize(size_t n, F f) {
  size_t len = 0;
  for (size_t i = 0; i < n; ++i) len += VarintSize(f(i));
  return FieldSize(len);
}

uint64_t TimestampDelta(const int64_t* ts, size_t i) {
  // Deltas in unsigned arithmetic (wrap, never overflow), sint64 zigzag.
  const uint64_t prev = i == 0 ? 0 : static_cast<uint64_t>(ts[i - 1]);
  return engine::ZigZag(static_cast<int64_t>(static_cast<uint64_t>(ts[i]) - prev));
}

bool QualitiesAllEqual(const codec::ChunkColumns& cols) {
  const uint32_t* q = cols.qualities.data();
  return std::all_of(q, q + cols.size(), [&](uint32_t x) { return x == q[0]; });
}

// What PutColumns writes, in bytes (so the field's length can precede the
// columns without writing them to a scratch buffer first).
size_t ColumnsSize(const codec::ChunkColumns& cols) {
  const size_t n = cols.size();
  if (n == 0) return 0;
  const int64_t* ts = cols.timestamps.data();
  size_t size = PackedVarintsSize(n, [ts](size_t i) { return TimestampDelta(ts, i); });
  switch (cols.type) {
    case ValueType::kDouble:
      size += FieldSize(n * sizeof(double));
      break;
    case ValueType::kInt64: {
      const int64_t* v = cols.ints.data();
      size += PackedVarintsSize(n, [v](size_t i) { return engine::ZigZag(v[i]); });
      break;
    }
    case ValueType::kBool:
      size += FieldSize(n);  // one byte per 0 or 1
      break;
    case ValueType::kString:
      for (const std::string& str : cols.strings) size += FieldSize(str.size());
      break;
    default:
      break;
  }
  const uint32_t* q = cols.qualities.data();
  if (QualitiesAllEqual(cols)) {
    if (q[0] != 0) size += FieldSize(VarintSize(q[0]));
  } else {
    size += PackedVarintsSize(n, [q](size_t i) -> uint64_t { return q[i]; });
  }
  return size;
}

// SampleColumns of `cols` (as ColumnsToProto fills it, serialized: fields
// in number order, empty repeated fields left out).
void PutColumns(const codec::ChunkColumns& cols, std::string* out) {
  const size_t n = cols.size();
  if (n == 0) return;
  const int64_t* ts = cols.timestamps.data();
  PutPackedVarints(
      1, n, [ts](size_t i) { return TimestampDelta(ts, i); }, out);
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
  if (QualitiesAllEqual(cols)) {
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

void AppendBatchField(std::string_view tag, std::string_view origin,
                      const codec::ChunkColumns& cols, bool columns, std::string* out) {
  if (!columns) {
    out->append(EncodeSamplesBatchField(std::string(tag), std::string(origin), cols));
    return;
  }
  // SubscribedSamples: tag (1), origin_site (2), columns (4), framed as a
  // SubscribeResponse.batches field, written straight into `out`: the
  // columns' size is worked out first, so their length can precede them.
  const size_t columns_size = ColumnsSize(cols);
  const size_t body = (tag.empty() ? 0 : FieldSize(tag.size())) +
                      (origin.empty() ? 0 : FieldSize(origin.size())) + FieldSize(columns_size);
  const size_t start = out->size();
  out->reserve(start + FieldSize(body));
  out->push_back(Key(1));
  engine::PutVarint64(body, out);
  if (!tag.empty()) PutField(1, tag, out);
  if (!origin.empty()) PutField(2, origin, out);
  out->push_back(Key(4));
  engine::PutVarint64(columns_size, out);
  const size_t columns_start = out->size();
  PutColumns(cols, out);
  if (out->size() - columns_start == columns_size) return;
  // ColumnsSize and PutColumns disagree (a bug): never send a malformed
  // message; write it the slow way, the columns to a scratch buffer first.
  size_mismatches.fetch_add(1, std::memory_order_relaxed);
  std::string columns_bytes(out->data() + columns_start, out->size() - columns_start);
  out->resize(start);
  const size_t real_body = (tag.empty() ? 0 : FieldSize(tag.size())) +
                           (origin.empty() ? 0 : FieldSize(origin.size())) +
                           FieldSize(columns_bytes.size());
  out->push_back(Key(1));
  engine::PutVarint64(real_body, out);
  if (!tag.empty()) PutField(1, tag, out);
  if (!origin.empty()) PutField(2, origin, out);
  PutField(4, columns_bytes, out);
}

uint64_t ColumnsSizeMismatches() { return size_mismatches.load(std::memory_order_relaxed); }

std::string EncodeBatchField(std::string_view tag, std::string_view origin,
                             const codec::ChunkColumns& cols, bool columns) {
  std::string out;
  AppendBatchField(tag, origin, cols, columns, &out);
  return out;
}

void AppendBatchWire(const SampleBatch& batch, bool columns, std::string* out) {
  const AppliedEntry& e = *batch.entry;
  const AppliedEntry::Series& s = batch.series();
  if (columns && s.columns_wire_size > 0) {
    out->append(e.columns_wire, s.columns_wire_offset, s.columns_wire_size);
    return;
  }
  absl::MutexLock l(&e.wire_mu);
  std::string& wire = s.wire[columns ? 1 : 0];
  if (wire.empty()) wire = EncodeBatchField(s.name, e.origin, s.cols, columns);
  out->append(wire);
}

}  // namespace historian::server

namespace historian::server {
namespace {

// A slice of `entry`'s columns_wire that keeps the entry alive until gRPC
// has sent it.
grpc::Slice EntrySlice(const std::shared_ptr<const AppliedEntry>& entry, size_t offset,
                       size_t size) {
  auto* owner = new std::shared_ptr<const AppliedEntry>(entry);
  return grpc::Slice(
      const_cast<char*>(entry->columns_wire.data()) + offset, size,
      [](void* p) { delete static_cast<std::shared_ptr<const AppliedEntry>*>(p); }, owner);
}

}  // namespace

grpc::ByteBuffer LiveResponse(const std::vector<SampleBatch>& batches, bool columns,
                              std::string tail) {
  std::vector<grpc::Slice> slices;
  // A run of batches lying back to back in one entry's columns_wire.
  std::shared_ptr<const AppliedEntry> run_entry;
  size_t run_offset = 0, run_size = 0;
  // Batches encoded here (not in an entry's columns_wire), in order.
  std::string copied;
  auto end_run = [&] {
    if (run_size > 0) slices.push_back(EntrySlice(run_entry, run_offset, run_size));
    run_entry.reset();
    run_size = 0;
  };
  auto end_copied = [&] {
    if (!copied.empty()) slices.push_back(OwnedSlice(std::move(copied)));
    copied = std::string();
  };
  for (const SampleBatch& b : batches) {
    const AppliedEntry::Series& s = b.series();
    if (columns && s.columns_wire_size > 0) {
      end_copied();
      if (run_entry == b.entry && run_offset + run_size == s.columns_wire_offset) {
        run_size += s.columns_wire_size;
        continue;
      }
      end_run();
      run_entry = b.entry;
      run_offset = s.columns_wire_offset;
      run_size = s.columns_wire_size;
    } else {
      end_run();
      AppendBatchWire(b, columns, &copied);
    }
  }
  end_run();
  copied.append(tail);
  end_copied();
  if (slices.empty()) slices.emplace_back();  // an empty message
  return grpc::ByteBuffer(slices.data(), slices.size());
}

}  // namespace historian::server
