#include "server/stream_limiter.h"

#include "absl/strings/str_cat.h"

namespace historian::server {

std::string PeerHost(std::string_view peer) {
  size_t colon = peer.find(':');
  std::string_view rest = colon == std::string_view::npos ? peer : peer.substr(colon + 1);
  if (peer.substr(0, colon) == "unix") return std::string(peer);
  size_t port = rest.rfind(':');
  return std::string(port == std::string_view::npos ? rest : rest.substr(0, port));
}

StreamLimiter::Slot& StreamLimiter::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    Release();
    owner_ = o.owner_;
    client_ = std::move(o.client_);
    o.owner_ = nullptr;
  }
  return *this;
}

void StreamLimiter::Slot::Release() {
  if (owner_ == nullptr) return;
  absl::MutexLock l(&owner_->mu_);
  auto it = owner_->open_.find(client_);
  if (it != owner_->open_.end() && --it->second == 0) owner_->open_.erase(it);
  owner_ = nullptr;
}

absl::Status StreamLimiter::Acquire(const std::string& client, Slot* slot) {
  {
    absl::MutexLock l(&mu_);
    uint32_t& n = open_[client];
    if (max_ != 0 && n >= max_) {
      return absl::ResourceExhaustedError(absl::StrCat("this client already has ", n, " open ",
                                                       what_, " streams, the limit is ", max_,
                                                       " (--", flag_, "); close one or wait"));
    }
    ++n;
  }
  *slot = Slot(this, client);
  return absl::OkStatus();
}

uint32_t StreamLimiter::Open(const std::string& client) const {
  absl::MutexLock l(&mu_);
  auto it = open_.find(client);
  return it == open_.end() ? 0 : it->second;
}

}  // namespace historian::server
