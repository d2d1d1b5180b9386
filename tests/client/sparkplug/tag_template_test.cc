#include "client/sparkplug/tag_template.h"

#include "gtest/gtest.h"

namespace historian::sparkplug {
namespace {

TEST(SparkplugTagTemplate, DefaultWithAndWithoutDevice) {
  const TagTemplate t = *TagTemplate::Parse(kDefaultTagTemplate);
  EXPECT_EQ(t.Render({"mx", "plant1", "edge1", "press2", "Temp"}), "mx.plant1.edge1.press2.Temp");
  // An empty {device} drops its separator.
  EXPECT_EQ(t.Render({"mx", "plant1", "edge1", "", "Temp"}), "mx.plant1.edge1.Temp");
}

TEST(SparkplugTagTemplate, CharactersOutsideTheSetBecomeUnderscores) {
  const TagTemplate t = *TagTemplate::Parse(kDefaultTagTemplate);
  EXPECT_EQ(t.Render({"mx", "plant 1", "edge#1", "", "Oven/Zone 2 Temp (°C)"}),
            "mx.plant_1.edge_1.Oven/Zone_2_Temp___C_");
  EXPECT_EQ(SanitizeTagName("a-b:c/d.e_f"), "a-b:c/d.e_f");
}

TEST(SparkplugTagTemplate, TrailingEmptyFieldDropsTheSeparatorBefore) {
  const TagTemplate t = *TagTemplate::Parse("{site}/{metric}/{device}");
  EXPECT_EQ(t.Render({"us", "g", "n", "", "m"}), "us/m");
  EXPECT_EQ(t.Render({"us", "g", "n", "d", "m"}), "us/m/d");
}

TEST(SparkplugTagTemplate, OtherOrders) {
  const TagTemplate t = *TagTemplate::Parse("{device}:{metric}@{node}");
  EXPECT_EQ(t.Render({"us", "g", "n", "d", "m"}), "d:m_n");
  EXPECT_EQ(t.Render({"us", "g", "n", "", "m"}), "m_n");
}

TEST(SparkplugTagTemplate, Errors) {
  EXPECT_FALSE(TagTemplate::Parse("{site}.{nodes}.{metric}").ok());
  EXPECT_FALSE(TagTemplate::Parse("{site}.{metric").ok());
  EXPECT_FALSE(TagTemplate::Parse("{site}.{node}").ok());
}

}  // namespace
}  // namespace historian::sparkplug
