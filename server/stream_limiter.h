// File: stream_limiter.h
// StreamLimiter: caps the streaming RPCs (Ingest.Write, Query.Read) one
// client holds open at once. A client is its token (authorisation on) or
// its peer IP address (off). Over the cap a new stream fails with
// RESOURCE_EXHAUSTED naming the limit.
//
// Thread-safety: safe for concurrent use.
#ifndef HISTORIAN_SERVER_STREAM_LIMITER_H_
#define HISTORIAN_SERVER_STREAM_LIMITER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace historian::server {

// "ipv4:127.0.0.1:5555" -> "127.0.0.1"; "ipv6:[::1]:5555" -> "[::1]".
std::string PeerHost(std::string_view grpc_peer);

class StreamLimiter {
 public:
  // `max_per_client` 0: no limit. `what` names the streams and `flag` the
  // flag that sets the limit, for the error message.
  explicit StreamLimiter(uint32_t max_per_client, std::string what = "Ingest.Write/Query.Read",
                         std::string flag = "max_streams_per_client")
      : max_(max_per_client), what_(std::move(what)), flag_(std::move(flag)) {}

  // A held stream slot; released when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(StreamLimiter* owner, std::string client) : owner_(owner), client_(std::move(client)) {}
    Slot(Slot&& o) noexcept : owner_(o.owner_), client_(std::move(o.client_)) {
      o.owner_ = nullptr;
    }
    Slot& operator=(Slot&& o) noexcept;
    ~Slot() { Release(); }

   private:
    void Release();
    StreamLimiter* owner_ = nullptr;
    std::string client_;
  };

  // Takes a slot for `client`; ResourceExhausted when it already holds
  // max_per_client streams.
  absl::Status Acquire(const std::string& client, Slot* slot);
  // Streams `client` holds now.
  uint32_t Open(const std::string& client) const;

 private:
  const uint32_t max_;
  const std::string what_;
  const std::string flag_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, uint32_t> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_STREAM_LIMITER_H_
