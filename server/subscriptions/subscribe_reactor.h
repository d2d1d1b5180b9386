// File: subscribe_reactor.h
// SubscribeReactor: one Query.Subscribe stream on gRPC's callback API (no
// thread held while idle). With a resume token it first reads the retained
// log of each origin from the token's positions (the reads peers use),
// then switches to the hub's live buffer without a gap or a duplicate
// (SubscriptionHub::EndCatchUp). A token older than the retained log, and
// a buffer overflow, are answered with `lagged` naming the time range to
// re-read. docs/subscriptions.md. A site cluster's part that asks for
// heartbeats (cluster/subscribe_heartbeat.h) gets one whenever it would
// otherwise stay silent that long.
//
// The method is registered raw (grpc::ByteBuffer): live batches go out as
// the shared, once-encoded fields of batch_wire.h, the rest of the response
// (catch-up batches, token, lagged) serialized from response_ behind them.
//
// Thread-safety: gRPC calls the On* methods and the hub's dispatcher calls
// Ready from other threads; the stream state is guarded by mu_ (taken
// before the hub's lock). Deletes itself in OnDone, after the hub has let
// it go.
#ifndef HISTORIAN_SERVER_SUBSCRIPTIONS_SUBSCRIBE_REACTOR_H_
#define HISTORIAN_SERVER_SUBSCRIPTIONS_SUBSCRIBE_REACTOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "historian/v1/query.pb.h"
#include "server/rpc_env.h"
#include "server/subscriptions/resume_token.h"
#include "server/subscriptions/subscription_hub.h"

namespace historian::server {

class SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                               public SubscriptionSink {
 public:
  // Checks the call and the request, registers the subscription and
  // returns the reactor (gRPC owns it until OnDone); on an error the
  // reactor finishes at once with it.
  // `request` is the serialized SubscribeRequest.
  static grpc::ServerWriteReactor<grpc::ByteBuffer>* Start(const ServiceEnv& env,
                                                           SubscriptionHub* hub,
                                                           grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request);

  void Ready() override ABSL_LOCKS_EXCLUDED(mu_);
  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone() override;

 private:
  SubscribeReactor(const ServiceEnv& env, SubscriptionHub* hub,
                   grpc::CallbackServerContext* context, bool columns);
  // Registers with the hub; the error to finish with otherwise.
  grpc::Status Begin(const v1::SubscribeRequest& request) ABSL_LOCKS_EXCLUDED(mu_);
  // Fills response_ from the log (catch-up). False when there was nothing
  // to send; ends the catch-up when the log is read to its end.
  bool CatchUpStep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes live_ (and response_'s token, lagged) from the hub's buffer.
  // False when nothing to send.
  bool LiveStep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `tag` is wanted, resolving its name once.
  bool Wanted(TagId tag, const engine::LogEntry& entry, std::string* name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishOnce(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ServiceEnv env_;
  SubscriptionHub* const hub_;
  grpc::CallbackServerContext* const context_;
  const bool columns_;
  const absl::Time start_;
  // Set by Begin before the first Ready; constant after.
  SubscriptionHub::Id id_ = 0;
  TagFilter filter_;
  // A part of a site cluster's fanned-out subscription (it checks
  // SubscriptionHub::Ended before sending).
  bool part_ = false;
  // A part's heartbeat interval (zero: none): with nothing else to send it
  // sends a heartbeat when its last write is half of this old.
  absl::Duration heartbeat_ = absl::ZeroDuration();
  int64_t token_issued_ns_ = 0;
  absl::Mutex mu_;
  // Stream state (a write in flight, finished, cancelled, a response sent).
  struct Flags {
    bool writing = false;
    bool finished = false;
    bool cancelled = false;
    bool first_sent = false;
  } flags_ ABSL_GUARDED_BY(mu_);
  // Reading the log: per origin, the last sequence sent.
  bool catching_up_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, uint64_t> cursors_ ABSL_GUARDED_BY(mu_);
  // Names of tag ids seen in the log (nullopt: not wanted or unknown).
  absl::flat_hash_map<TagId, std::optional<std::string>> names_ ABSL_GUARDED_BY(mu_);
  v1::SubscribeResponse response_ ABSL_GUARDED_BY(mu_);
  // Live batches taken from the hub, sent before response_'s fields.
  std::vector<SampleBatch> live_ ABSL_GUARDED_BY(mu_);
  // The message being written (gRPC reads it until OnWriteDone).
  grpc::ByteBuffer out_ ABSL_GUARDED_BY(mu_);
  // When the last write began (kept only with heartbeats).
  absl::Time last_write_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_SUBSCRIPTIONS_SUBSCRIBE_REACTOR_H_
