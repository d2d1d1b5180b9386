#include "server/cluster/write_hop.h"

#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/cluster/member_channels.h"

namespace historian::cluster {

WriteHop WriteHop::Of(const grpc::ServerContextBase& caller) {
  WriteHop hop;
  hop.forwarded = MemberChannels::IsForwarded(caller);
  if (!hop.forwarded) return hop;
  const auto& metadata = caller.client_metadata();
  if (auto it = metadata.find(kSecondHopMetadataKey); it != metadata.end()) {
    hop.second_hop = std::string_view(it->second.data(), it->second.size()) == "1";
  }
  if (auto it = metadata.find(kRoutedAtRevisionMetadataKey); it != metadata.end()) {
    int64_t revision = 0;
    // An unreadable revision is treated as none: the part is not forwarded on.
    if (absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &revision)) {
      hop.routed_at_revision = revision;
    }
  }
  return hop;
}

void WriteHop::Mark(grpc::ClientContext* call, int64_t revision, bool second_hop) {
  call->AddMetadata(kRoutedAtRevisionMetadataKey, absl::StrCat(revision));
  if (second_hop) call->AddMetadata(kSecondHopMetadataKey, "1");
}

}  // namespace historian::cluster
