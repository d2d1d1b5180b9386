// File: byte_stream.h
// Pieces shared by the server-streaming reactors that write pre-encoded
// responses as raw grpc::ByteBuffers (Query.Subscribe on a node and its
// cluster fan-out).
#ifndef HISTORIAN_SERVER_SUBSCRIPTIONS_BYTE_STREAM_H_
#define HISTORIAN_SERVER_SUBSCRIPTIONS_BYTE_STREAM_H_

#include <string>
#include <utility>

#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/slice.h"
#include "grpcpp/support/status.h"

namespace historian::server {

// A slice that owns `bytes` (no copy).
inline grpc::Slice OwnedSlice(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  return grpc::Slice(
      owned->data(), owned->size(), [](void* p) { delete static_cast<std::string*>(p); }, owned);
}

// The message as one slice that owns it (no copy).
inline grpc::ByteBuffer ToByteBuffer(std::string bytes) {
  grpc::Slice slice = OwnedSlice(std::move(bytes));
  return grpc::ByteBuffer(&slice, 1);
}

// A reactor that only finishes (a refused call); deletes itself when done.
class RefusedByteStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedByteStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_SUBSCRIPTIONS_BYTE_STREAM_H_
