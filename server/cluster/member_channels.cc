#include "server/cluster/member_channels.h"

#include <string_view>
#include <utility>

#include "api/core/bearer_token.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace historian::cluster {

MemberChannels::MemberChannels(std::shared_ptr<grpc::ChannelCredentials> credentials)
    : credentials_(credentials ? std::move(credentials) : grpc::InsecureChannelCredentials()) {}

std::shared_ptr<grpc::Channel> MemberChannels::Get(const std::string& address) {
  absl::MutexLock l(&mu_);
  auto it = channels_.find(address);
  if (it != channels_.end()) return it->second;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // A member back after a restart is reached again quickly.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
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
  }
  call->AddMetadata(kForwardedMetadataKey, "1");
  call->set_deadline(caller.deadline());
}

bool MemberChannels::IsForwarded(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kForwardedMetadataKey);
  return it != metadata.end() && std::string_view(it->second.data(), it->second.size()) == "1";
}

}  // namespace historian::cluster
