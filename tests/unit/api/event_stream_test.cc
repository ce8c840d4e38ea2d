#include "event_stream.h"  // private header of src/api

#include <gtest/gtest.h>

namespace shipd {
namespace {

using nlohmann::json;

json StepEvent(int64_t id, int64_t promotion) {
  return {{"id", id},
          {"time", 1795000000000},
          {"actor", "system"},
          {"kind", "rollout.step"},
          {"subject", "orders@3.2.0"},
          {"data", {{"promotion", promotion}, {"step", 0}, {"detail", "line one\nline two"}}}};
}

TEST(SseFrame, IdKindAndOneLineOfJson) {
  const std::string frame = SseFrame(StepEvent(7, 3));
  ASSERT_EQ(frame.rfind("id: 7\nevent: rollout.step\ndata: {", 0), 0u) << frame;
  ASSERT_TRUE(frame.ends_with("}\n\n")) << frame;
  const std::string data = frame.substr(frame.find("data: ") + 6);
  EXPECT_EQ(data.find('\n'), data.size() - 2) << "the newline in the detail must be escaped";
  EXPECT_EQ(json::parse(data)["data"]["promotion"], 3);
}

TEST(SseComment, IsIgnoredByClients) { EXPECT_EQ(SseComment("keep-alive"), ": keep-alive\n\n"); }

TEST(EventStreamFilter, EmptyMatchesEverything) {
  EXPECT_TRUE(EventStreamFilter{}.Matches(StepEvent(1, 3)));
  EXPECT_TRUE(EventStreamFilter{}.Matches(json{{"id", 1}, {"kind", "service.registered"}}));
}

TEST(EventStreamFilter, ByPromotion) {
  EventStreamFilter filter;
  filter.promotion = 3;
  EXPECT_TRUE(filter.Matches(StepEvent(1, 3)));
  EXPECT_FALSE(filter.Matches(StepEvent(2, 4)));
  EXPECT_FALSE(
      filter.Matches(json{{"id", 3}, {"kind", "engine.started"}, {"data", json::object()}}));
  EXPECT_FALSE(filter.Matches(json{{"id", 4}, {"kind", "x"}, {"data", "not an object"}}));
}

TEST(EventStreamFilter, ByKindPrefix) {
  EventStreamFilter filter;
  filter.kind_prefix = "rollout.";
  EXPECT_TRUE(filter.Matches(StepEvent(1, 3)));
  EXPECT_FALSE(filter.Matches(json{{"id", 2}, {"kind", "check.failed"}}));
  EXPECT_FALSE(filter.Matches(json{{"id", 3}, {"kind", "rollout"}}));
  EventStreamFilter both = filter;
  both.promotion = 4;
  EXPECT_FALSE(both.Matches(StepEvent(1, 3)));
  EXPECT_TRUE(both.Matches(StepEvent(1, 4)));
}

TEST(ParseLastEventId, NumbersOnly) {
  EXPECT_EQ(ParseLastEventId("42"), 42);
  EXPECT_EQ(ParseLastEventId(" 42 "), 42);
  EXPECT_EQ(ParseLastEventId("0"), 0);
  EXPECT_EQ(ParseLastEventId(""), std::nullopt);
  EXPECT_EQ(ParseLastEventId("abc"), std::nullopt);
  EXPECT_EQ(ParseLastEventId("-1"), std::nullopt);
  EXPECT_EQ(ParseLastEventId("12x"), std::nullopt);
}

}  // namespace
}  // namespace shipd
