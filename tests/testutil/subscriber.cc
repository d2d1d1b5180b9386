#include "tests/testutil/subscriber.h"

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {

Subscriber::Subscriber(const std::shared_ptr<grpc::Channel>& channel,
                       const v1::SubscribeRequest& request, const std::string& bearer)
    : stub_(v1::Query::NewStub(channel)) {
  if (!bearer.empty()) ctx_.AddMetadata("authorization", "Bearer " + bearer);
  reader_ = stub_->Subscribe(&ctx_, request);
  thread_ = std::thread([this] { Run(); });
}

Subscriber::Subscriber(const std::string& address, const v1::SubscribeRequest& request,
                       const std::string& bearer)
    : Subscriber(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()), request,
                 bearer) {}

Subscriber::~Subscriber() { Cancel(); }

void Subscriber::Run() {
  v1::SubscribeResponse r;
  while (reader_->Read(&r)) {
    std::lock_guard<std::mutex> l(mu_);
    ++responses_;
    for (const auto& b : r.batches()) {
      for (const auto& s : b.samples()) {
        samples_.emplace_back(b.tag(), s.timestamp_ns(), s.value().double_value(), b.origin_site());
      }
    }
    if (r.has_lagged()) lagged_.push_back(r.lagged());
    token_ = r.resume_token();
  }
  grpc::Status st = reader_->Finish();
  std::lock_guard<std::mutex> l(mu_);
  status_ = st;
  done_ = true;
}

void Subscriber::Cancel() {
  if (!thread_.joinable()) return;
  ctx_.TryCancel();
  thread_.join();
}

size_t Subscriber::responses() {
  std::lock_guard<std::mutex> l(mu_);
  return responses_;
}

std::vector<Subscriber::Sample> Subscriber::samples() {
  std::lock_guard<std::mutex> l(mu_);
  return samples_;
}

size_t Subscriber::count() {
  std::lock_guard<std::mutex> l(mu_);
  return samples_.size();
}

std::vector<v1::Lagged> Subscriber::lagged() {
  std::lock_guard<std::mutex> l(mu_);
  return lagged_;
}

std::string Subscriber::token() {
  std::lock_guard<std::mutex> l(mu_);
  return token_;
}

bool Subscriber::done() {
  std::lock_guard<std::mutex> l(mu_);
  return done_;
}

grpc::Status Subscriber::status() {
  std::lock_guard<std::mutex> l(mu_);
  return status_;
}

bool Subscriber::WaitStarted(absl::Duration patience) {
  return WaitFor([&] { return responses() > 0 || done(); }, patience) && !done();
}

}  // namespace historian::testing
