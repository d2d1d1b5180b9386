// File: subscriber.h
// Subscriber: one Query.Subscribe stream read by a background thread into
// memory, for end-to-end tests (a single node's subscribe_test, the site
// cluster's cluster_subscribe_test). It keeps every response, the samples
// (tag, timestamp, double value, origin site), the `lagged` notices, the
// last resume token and, once the stream ended, its status.
//
//   testing::Subscriber s(channel, request);
//   ASSERT_TRUE(s.WaitStarted(absl::Seconds(30))) << s.status().error_message();
//   WaitFor([&] { return s.count() >= n || s.done(); }, ...);
//
// Thread-safety: thread-safe; the destructor cancels the stream and joins.
#ifndef HISTORIAN_TESTS_TESTUTIL_SUBSCRIBER_H_
#define HISTORIAN_TESTS_TESTUTIL_SUBSCRIBER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "historian/v1/query.grpc.pb.h"

namespace historian::testing {

class Subscriber {
 public:
  // (tag, timestamp, value, origin site) of one sample received.
  using Sample = std::tuple<std::string, int64_t, double, std::string>;

  // Opens the stream (with `bearer` as the bearer token, if not empty).
  Subscriber(const std::shared_ptr<grpc::Channel>& channel, const v1::SubscribeRequest& request,
             const std::string& bearer = "");
  // The same on an insecure channel to `address` (host:port).
  Subscriber(const std::string& address, const v1::SubscribeRequest& request,
             const std::string& bearer = "");
  ~Subscriber();  // Cancel()
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Cancels the stream (if still open) and waits for the reader thread.
  void Cancel();

  size_t responses();
  std::vector<Sample> samples();
  size_t count();  // samples received
  std::vector<v1::Lagged> lagged();
  std::string token();    // of the last response ("" before any)
  bool done();            // the stream ended
  grpc::Status status();  // once done()
  // Waits for the first response (the subscription is live); false when
  // the stream ended first or `patience` passed.
  bool WaitStarted(absl::Duration patience);

 private:
  void Run();

  std::unique_ptr<v1::Query::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
  std::thread thread_;
  std::mutex mu_;
  size_t responses_ = 0;
  std::vector<Sample> samples_;
  std::vector<v1::Lagged> lagged_;
  std::string token_;
  bool done_ = false;
  grpc::Status status_;
};

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_SUBSCRIBER_H_
