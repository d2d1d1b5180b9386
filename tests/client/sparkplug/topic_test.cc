#include "client/sparkplug/topic.h"

#include "gtest/gtest.h"

namespace historian::sparkplug {
namespace {

TEST(SparkplugTopic, NodeAndDeviceMessages) {
  absl::StatusOr<Topic> t = ParseTopic("spBv1.0/plant1/NBIRTH/edge1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->type, MessageType::kNBirth);
  EXPECT_EQ(t->group, "plant1");
  EXPECT_EQ(t->node, "edge1");
  EXPECT_EQ(t->device, "");
  t = ParseTopic("spBv1.0/plant1/DDATA/edge1/press2");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->type, MessageType::kDData);
  EXPECT_EQ(t->device, "press2");
  t = ParseTopic("spBv1.0/STATE/historian");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->type, MessageType::kState);
  EXPECT_EQ(t->node, "historian");
}

TEST(SparkplugTopic, OutsideTheNamespace) {
  for (const char* bad :
       {"spAv1.0/g/NDATA/n", "spBv1.0/g", "spBv1.0/g/NDATA", "spBv1.0/g/NDATA/n/d",
        "spBv1.0/g/DDATA/n", "spBv1.0/g/XDATA/n", "spBv1.0//NDATA/n", "spBv1.0/g/DDATA/n/d/e",
        "plant/temp", "spBv1.0/STATE/a/b", ""}) {
    EXPECT_FALSE(ParseTopic(bad).ok()) << bad;
  }
}

TEST(SparkplugTopic, Built) {
  EXPECT_EQ(StateTopic("h1"), "spBv1.0/STATE/h1");
  EXPECT_EQ(NodeCommandTopic("g", "n"), "spBv1.0/g/NCMD/n");
}

}  // namespace
}  // namespace historian::sparkplug
