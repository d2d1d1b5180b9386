// Tests for client/status_convert.h.
#include "client/status_convert.h"

#include "gtest/gtest.h"

namespace historian::client {
namespace {

TEST(StatusConvertTest, KeepsCodeAndMessage) {
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  const absl::Status s = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "down");
  for (int code = 1; code <= 16; ++code) {
    const grpc::Status g(static_cast<grpc::StatusCode>(code), "m");
    EXPECT_EQ(static_cast<int>(FromGrpcStatus(g).code()), code);
    const grpc::Status back = ToGrpcStatus(FromGrpcStatus(g));
    EXPECT_EQ(back.error_code(), g.error_code());
    EXPECT_EQ(back.error_message(), "m");
  }
  EXPECT_EQ(FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(99), "x")).code(),
            absl::StatusCode::kUnknown);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace historian::client
