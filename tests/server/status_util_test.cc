// Tests for server/status_util.h: the server's absl <-> gRPC status
// conversions and the message cut.
#include "server/status_util.h"

#include <string>

#include "gtest/gtest.h"

namespace historian::server {
namespace {

TEST(StatusUtil, KeepsCodeAndMessageBothWays) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  for (int code = 1; code <= 16; ++code) {
    const absl::Status a(static_cast<absl::StatusCode>(code), "m");
    const grpc::Status g = ToGrpcStatus(a);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(g.error_message(), "m");
    EXPECT_EQ(FromGrpcStatus(g), a);
  }
  const absl::Status s = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "down");
}

TEST(StatusUtil, UnknownCodesBecomeUnknown) {
  EXPECT_EQ(FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(99), "x")).code(),
            absl::StatusCode::kUnknown);
}

TEST(StatusUtil, LongMessagesAreCutForClients) {
  const std::string long_message(2000, 'x');
  const grpc::Status g = ToGrpcStatus(absl::InvalidArgumentError(long_message));
  EXPECT_EQ(g.error_message(), std::string(kMaxStatusMessageBytes, 'x') + "... (1488 more bytes)");
  // Never inside a UTF-8 character: "é" is two bytes, the cut falls between.
  std::string utf8(kMaxStatusMessageBytes - 1, 'a');
  utf8 += "\xC3\xA9tail";
  EXPECT_EQ(TruncateMessage(utf8), std::string(kMaxStatusMessageBytes - 1, 'a') + "... (" +
                                       std::to_string(utf8.size() - 511) + " more bytes)");
}

}  // namespace
}  // namespace historian::server
