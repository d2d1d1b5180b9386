#include "server/cluster/subscribe_heartbeat.h"

#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace historian::cluster {

absl::Duration SubscribeHeartbeatInterval(absl::Duration forward_timeout) {
  return forward_timeout / 4;
}

std::string SubscribeHeartbeatValue(absl::Duration interval) {
  return absl::StrCat(absl::ToInt64Milliseconds(interval));
}

std::optional<absl::Duration> ParseSubscribeHeartbeatValue(std::string_view value) {
  int64_t ms = 0;
  if (!absl::SimpleAtoi(absl::string_view(value.data(), value.size()), &ms) || ms < 10 ||
      ms > 3600 * 1000)
    return std::nullopt;
  return absl::Milliseconds(ms);
}

}  // namespace historian::cluster
