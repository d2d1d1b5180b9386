#include "server/subscriptions/resume_token.h"

#include "storage/engine/coding.h"

namespace historian::server {
namespace {
constexpr uint8_t kVersion = 1;
constexpr uint64_t kMaxOrigins = 1024;
}  // namespace

std::string EncodeResumeToken(const ResumeToken& token) {
  std::string out(1, static_cast<char>(kVersion));
  engine::PutVarint64(token.positions.size(), &out);
  for (const auto& [origin, seq] : token.positions) {
    engine::PutString(origin, &out);
    engine::PutVarint64(seq, &out);
  }
  engine::PutFixed64(static_cast<uint64_t>(token.issued_ns), &out);
  return out;
}

absl::StatusOr<ResumeToken> DecodeResumeToken(std::string_view bytes) {
  engine::Reader r(bytes);
  uint8_t version = 0;
  uint64_t n = 0;
  ResumeToken token;
  bool ok = r.GetByte(&version) && version == kVersion && r.GetVarint64(&n) && n <= kMaxOrigins;
  for (uint64_t i = 0; ok && i < n; ++i) {
    std::string_view origin;
    uint64_t seq = 0;
    ok = r.GetString(&origin) && r.GetVarint64(&seq);
    if (ok) token.positions[std::string(origin)] = seq;
  }
  uint64_t issued = 0;
  ok = ok && r.GetFixed64(&issued) && r.ok() && r.done();
  if (!ok) {
    return absl::InvalidArgumentError(
        "resume_token: not a token of Query.Subscribe (pass SubscribeResponse.resume_token as "
        "it was received)");
  }
  token.issued_ns = static_cast<int64_t>(issued);
  return token;
}

}  // namespace historian::server
