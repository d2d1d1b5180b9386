#include "server/cluster/subscribe_token.h"

#include "storage/engine/coding.h"

namespace historian::cluster {
namespace {
constexpr uint8_t kVersion = 2;
constexpr uint64_t kMaxMembers = 65536;
}  // namespace

std::string EncodeClusterResumeToken(const ClusterResumeToken& token) {
  std::string out(1, static_cast<char>(kVersion));
  engine::PutVarint64(token.member_tokens.size(), &out);
  for (const auto& [member, member_token] : token.member_tokens) {
    engine::PutString(member, &out);
    engine::PutString(member_token, &out);
  }
  engine::PutFixed64(static_cast<uint64_t>(token.issued_ns), &out);
  return out;
}

absl::StatusOr<ClusterResumeToken> DecodeClusterResumeToken(std::string_view bytes) {
  engine::Reader r(bytes);
  uint8_t version = 0;
  uint64_t n = 0;
  ClusterResumeToken token;
  bool ok = r.GetByte(&version) && version == kVersion && r.GetVarint64(&n) && n <= kMaxMembers;
  for (uint64_t i = 0; ok && i < n; ++i) {
    std::string_view member, member_token;
    ok = r.GetString(&member) && r.GetString(&member_token);
    if (ok) token.member_tokens[std::string(member)] = std::string(member_token);
  }
  uint64_t issued = 0;
  ok = ok && r.GetFixed64(&issued) && r.ok() && r.done();
  if (!ok) {
    return absl::InvalidArgumentError(
        "resume_token: not a token of Query.Subscribe in a site cluster (pass "
        "SubscribeResponse.resume_token as it was received)");
  }
  token.issued_ns = static_cast<int64_t>(issued);
  return token;
}

bool IsSingleNodeResumeToken(std::string_view bytes) {
  return !bytes.empty() && static_cast<uint8_t>(bytes[0]) == 1;
}

}  // namespace historian::cluster
