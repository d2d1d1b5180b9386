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
// Thread-safety: AppendBatchWire may be called from any thread; the cache
// is guarded by the entry's wire_mu.
#ifndef HISTORIAN_SERVER_SUBSCRIPTIONS_BATCH_WIRE_H_
#define HISTORIAN_SERVER_SUBSCRIPTIONS_BATCH_WIRE_H_

#include <string>

#include "server/subscriptions/subscription_hub.h"
#include "storage/codec/chunk_codec.h"

namespace historian::server {

// `SubscribeResponse.batches` field (tag, length, SubscribedSamples) of
// `cols` of `tag` from `origin`, in the columns form or as Sample messages.
std::string EncodeBatchField(const std::string& tag, const std::string& origin,
                             const codec::ChunkColumns& cols, bool columns);

// Appends the batches field of `batch` to `*out`, encoding it on first use
// (shared by every stream sending the same batch in the same form).
void AppendBatchWire(const SampleBatch& batch, bool columns, std::string* out);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_SUBSCRIPTIONS_BATCH_WIRE_H_
