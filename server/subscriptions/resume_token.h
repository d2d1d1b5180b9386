// File: resume_token.h
// A subscription's resume token: per origin site, the highest log sequence
// whose matching samples the subscriber has been sent, and the wall-clock
// time the token was made (the start of the range a `lagged` answer names
// when the log no longer holds what follows the token).
//
//   u8 version | varint origins | (string origin | varint seq)* | fixed64 issued_ns
#ifndef HISTORIAN_SERVER_SUBSCRIPTIONS_RESUME_TOKEN_H_
#define HISTORIAN_SERVER_SUBSCRIPTIONS_RESUME_TOKEN_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace historian::server {

struct ResumeToken {
  std::map<std::string, uint64_t> positions;  // origin -> last sequence covered
  int64_t issued_ns = 0;
};

std::string EncodeResumeToken(const ResumeToken& token);
// Errors: InvalidArgument naming resume_token.
absl::StatusOr<ResumeToken> DecodeResumeToken(std::string_view bytes);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_SUBSCRIPTIONS_RESUME_TOKEN_H_
