// Tests for api/core/bearer_token.h: the `authorization: Bearer <token>`
// metadata, formatted and parsed.
#include "api/core/bearer_token.h"

#include "gtest/gtest.h"

namespace historian {
namespace {

TEST(BearerToken, FormatsTheMetadataValue) {
  EXPECT_STREQ(kAuthorizationMetadataKey, "authorization");
  EXPECT_EQ(BearerValue("s3cret"), "Bearer s3cret");
  EXPECT_EQ(BearerValue(""), "Bearer ");
}

TEST(BearerToken, ParsesWhatItFormats) {
  EXPECT_EQ(ParseBearerValue(BearerValue("s3cret")), "s3cret");
  EXPECT_EQ(ParseBearerValue("bearer s3cret"), "s3cret");      // lower-case scheme
  EXPECT_EQ(ParseBearerValue("Bearer  s3cret \t"), "s3cret");  // whitespace stripped
  EXPECT_EQ(ParseBearerValue("Bearer "), "");
}

TEST(BearerToken, RefusesOtherSchemes) {
  EXPECT_EQ(ParseBearerValue(""), std::nullopt);
  EXPECT_EQ(ParseBearerValue("s3cret"), std::nullopt);
  EXPECT_EQ(ParseBearerValue("Basic czNjcmV0"), std::nullopt);
  EXPECT_EQ(ParseBearerValue("Bearer"), std::nullopt);
  EXPECT_EQ(ParseBearerValue("BEARER s3cret"), std::nullopt);
}

}  // namespace
}  // namespace historian
