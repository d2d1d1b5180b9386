// File: fanout_part.h
// FanoutPart: one member's forwarded server-streaming Subscribe of a
// fanned-out subscription (Query.Subscribe: fanout_subscribe.cc;
// Events.Subscribe: fanout_event_stream.cc). It reads the member's
// responses one at a time and hands each to its owner, which says whether
// to read on, pause (a slow caller: the owner calls ReadNext later) or stop.
// It holds the call open (AddHold) until it stops reading, so OnDone never
// comes while a paused read may restart.
//
// The owner provides:
//   PartNext TakeResponse(size_t part, Response* msg);  // msg may be swapped out
//   void PartEnded(size_t part, const grpc::Status& status);
//   void PartOpened(size_t part, bool ok);  // optional: the member's headers came
//
// Thread-safety: gRPC calls the reactions on its threads, one at a time per
// part; `context`, `request` and `stub` are set before Begin and not changed
// after.
#ifndef HISTORIAN_SERVER_CLUSTER_FANOUT_PART_H_
#define HISTORIAN_SERVER_CLUSTER_FANOUT_PART_H_

#include <cstddef>
#include <memory>

#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "grpcpp/support/status.h"

namespace historian::cluster {

// What a part does after its owner took a response.
enum class PartNext { kRead, kPause, kStop };

template <typename Stub, typename Request, typename Response, typename Owner>
class FanoutPart final : public grpc::ClientReadReactor<Response> {
 public:
  FanoutPart(Owner* owner, size_t index) : owner_(owner), index_(index) {}

  // Starts the call with `context`, `request` and `stub`.
  void Begin() {
    stub->async()->Subscribe(&context, &request, this);
    this->AddHold();
    this->StartRead(&msg_);
    this->StartCall();
  }
  // Reads the next response (after a pause).
  void ReadNext() { this->StartRead(&msg_); }
  void StopReading() { this->RemoveHold(); }

  void OnReadInitialMetadataDone(bool ok) override {
    if constexpr (requires(Owner * o) { o->PartOpened(size_t{0}, true); }) {
      owner_->PartOpened(index_, ok);
    }
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      StopReading();
      return;
    }
    switch (owner_->TakeResponse(index_, &msg_)) {
      case PartNext::kRead:
        ReadNext();
        break;
      case PartNext::kPause:
        break;  // the owner calls ReadNext once below its bound, or to stop
      case PartNext::kStop:
        StopReading();
        break;
    }
  }
  void OnDone(const grpc::Status& status) override { owner_->PartEnded(index_, status); }

  grpc::ClientContext context;
  Request request;
  std::unique_ptr<Stub> stub;

 private:
  Owner* const owner_;
  const size_t index_;
  Response msg_;  // the read in flight
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_FANOUT_PART_H_
