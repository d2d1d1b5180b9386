#include "server/read_token.h"

#include "storage/engine/coding.h"

namespace historian::server {
namespace {
constexpr uint8_t kTokenVersion = 1;
}  // namespace

std::string EncodeReadToken(size_t tag_index, int64_t cursor) {
  std::string token(1, static_cast<char>(kTokenVersion));
  engine::PutVarint64(tag_index, &token);
  engine::PutFixed64(static_cast<uint64_t>(cursor), &token);
  return token;
}

absl::Status DecodeReadToken(const std::string& token, size_t num_tags, int64_t start, int64_t end,
                             size_t* tag_index, int64_t* cursor) {
  engine::Reader r(token);
  uint8_t version = 0;
  uint64_t index = 0, c = 0;
  r.GetByte(&version);
  r.GetVarint64(&index);
  r.GetFixed64(&c);
  *cursor = static_cast<int64_t>(c);
  if (!r.ok() || !r.done() || version != kTokenVersion || index >= num_tags || *cursor < start ||
      *cursor > end) {
    return absl::InvalidArgumentError(
        "continuation_token: not a token of this request (pass it with the same tags, start_ns "
        "and end_ns)");
  }
  *tag_index = index;
  return absl::OkStatus();
}

}  // namespace historian::server
