#include "server/cluster/member_channels.h"

#include <chrono>
#include <string_view>
#include <utility>

#include "api/core/bearer_token.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace historian::cluster {
namespace {

// The InProcessCaller registry.
struct InProcessRegistry {
  absl::Mutex mu;
  absl::flat_hash_map<const grpc::ServerContextBase*, std::string> tokens ABSL_GUARDED_BY(mu);
};

InProcessRegistry& Registry() {
  static InProcessRegistry* registry = new InProcessRegistry();  // never destroyed
  return *registry;
}

}  // namespace

MemberChannels::MemberChannels(std::shared_ptr<grpc::ChannelCredentials> credentials,
                               absl::Duration forward_timeout)
    : credentials_(credentials ? std::move(credentials) : grpc::InsecureChannelCredentials()),
      forward_timeout_(forward_timeout) {}

std::shared_ptr<grpc::Channel> MemberChannels::Get(const std::string& address) {
  absl::MutexLock l(&mu_);
  auto it = channels_.find(address);
  if (it != channels_.end()) return it->second;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // A member back after a restart is reached again quickly.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A silent member (host gone, link cut) ends the streams to it; the nodes
  // accept pings every 500 ms (historiand.cc).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  // Also on a stream that is idle for long (a quiet subscription).
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(address, credentials_, args);
  channels_.emplace(address, channel);
  return channel;
}

void MemberChannels::PrepareForwardedCall(const grpc::ServerContextBase& caller,
                                          grpc::ClientContext* call) {
  const auto& metadata = caller.client_metadata();
  auto auth = metadata.find(kAuthorizationMetadataKey);
  if (auth != metadata.end()) {
    call->AddMetadata(kAuthorizationMetadataKey,
                      std::string(auth->second.data(), auth->second.size()));
  } else if (std::string in_process = InProcessCaller::AuthorizationOf(&caller);
             !in_process.empty()) {
    call->AddMetadata(kAuthorizationMetadataKey, in_process);
  }
  call->AddMetadata(kForwardedMetadataKey, "1");
  call->set_deadline(caller.deadline());
}

void MemberChannels::PrepareForwardedQuery(const grpc::ServerContextBase& caller,
                                           grpc::ClientContext* call) const {
  PrepareForwardedCall(caller, call);
  const auto limit = std::chrono::system_clock::now() +
                     std::chrono::nanoseconds(absl::ToInt64Nanoseconds(forward_timeout_));
  if (call->deadline() > limit) call->set_deadline(limit);
}

namespace {

bool MetadataIsOne(const grpc::ServerContextBase& context, const char* key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(key);
  return it != metadata.end() && std::string_view(it->second.data(), it->second.size()) == "1";
}

}  // namespace

bool MemberChannels::IsForwarded(const grpc::ServerContextBase& context) {
  return MetadataIsOne(context, kForwardedMetadataKey);
}

bool MemberChannels::AsksLocalData(const grpc::ServerContextBase& context) {
  return MetadataIsOne(context, kLocalDataMetadataKey);
}

InProcessCaller::InProcessCaller(const grpc::ServerContextBase* context, std::string authorization)
    : context_(context) {
  InProcessRegistry& r = Registry();
  absl::MutexLock l(&r.mu);
  r.tokens[context] = std::move(authorization);
}

InProcessCaller::~InProcessCaller() {
  InProcessRegistry& r = Registry();
  absl::MutexLock l(&r.mu);
  r.tokens.erase(context_);
}

std::string InProcessCaller::AuthorizationOf(const grpc::ServerContextBase* context) {
  InProcessRegistry& r = Registry();
  absl::MutexLock l(&r.mu);
  auto it = r.tokens.find(context);
  return it == r.tokens.end() ? std::string() : it->second;
}

}  // namespace historian::cluster
