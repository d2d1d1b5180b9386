// File: batch_wire.h
// The wire form of Query.Subscribe's live batches: each applied series is
// encoded once per form (samples or columns) as a complete
// `SubscribeResponse.batches` field, cached in its shared AppliedEntry, and
// a response is those fields appended one after the other, then the
// response's own fields (resume token, lagged) serialized behind them.
// Protobuf parses concatenated fields as one message, so the client sees an
// ordinary SubscribeResponse; N streams of one tag encode it once, not N
// times, and no per-stream proto objects are built.
//
// Thread-safety: AppendBatchWire and LiveResponse may be called from any
// thread; an entry's columns_wire is immutable once shared, the lazily
// encoded cache is guarded by the entry's wire_mu.
#ifndef HISTORIAN_SERVER_SUBSCRIPTIONS_BATCH_WIRE_H_
#define HISTORIAN_SERVER_SUBSCRIPTIONS_BATCH_WIRE_H_

#include <string>
#include <string_view>
#include <vector>

#include "grpcpp/support/byte_buffer.h"
#include "server/subscriptions/subscription_hub.h"
#include "storage/codec/chunk_codec.h"

namespace historian::server {

// Appends the `SubscribeResponse.batches` field (tag, length,
// SubscribedSamples) of `cols` of `tag` from `origin`, in the columns form
// or as Sample messages, to `*out`. The columns form is written in place
// (its size worked out first), with one allocation at most.
void AppendBatchField(std::string_view tag, std::string_view origin,
                      const codec::ChunkColumns& cols, bool columns, std::string* out);
// Times AppendBatchField found the columns' size it worked out wrong (a
// bug; each of those was written correctly the slow way). Tests expect 0.
uint64_t ColumnsSizeMismatches();
// The same field as a string of its own.
std::string EncodeBatchField(std::string_view tag, std::string_view origin,
                             const codec::ChunkColumns& cols, bool columns);

// Appends the batches field of `batch` to `*out`: from its entry's
// columns_wire, or encoded on first use and cached (shared by every stream
// sending the same batch in the same form).
void AppendBatchWire(const SampleBatch& batch, bool columns, std::string* out);

// A live response as gRPC sends it: the batches fields of `batches`, in
// order, then `tail` (the response's other fields, serialized). Batches in
// an entry's columns_wire go out as slices of it (runs back to back in one
// entry as one slice), each keeping its entry alive until sent: the sample
// bytes are not copied between OnApplied and the socket.
grpc::ByteBuffer LiveResponse(const std::vector<SampleBatch>& batches, bool columns,
                              std::string tail);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_SUBSCRIPTIONS_BATCH_WIRE_H_
