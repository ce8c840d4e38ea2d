// Freeze windows evaluated at instants: cron windows in their zone (across midnight and both DST
// changes of Europe/Berlin), one-off ranges, and the instant formats of the API.
#include "shipd/config/freeze.h"

#include <gtest/gtest.h>

namespace shipd {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

int64_t At(std::string_view utc) {
  auto parsed = ParseUtc(utc);
  EXPECT_TRUE(parsed.ok()) << utc;
  return parsed.ok() ? *parsed : 0;
}

FreezeWindow Cron(std::string_view cron, std::chrono::milliseconds duration,
                  std::string timezone = "UTC") {
  auto parsed = ParseCron(cron);
  EXPECT_TRUE(parsed.ok()) << cron;
  FreezeWindow window;
  window.cron = parsed.ok() ? *parsed : CronSchedule{};
  window.duration = duration;
  window.timezone = std::move(timezone);
  window.reason = "weekend";
  return window;
}

// The end of the freeze in force, as text, or "open".
std::string EndAt(const std::vector<FreezeWindow>& windows, std::string_view utc) {
  auto freeze = ActiveFreeze(windows, At(utc));
  return freeze ? FormatUtc(freeze->until_ms) : "open";
}

bool HaveBerlin() { return UtcOffset("Europe/Berlin", 0).ok(); }

TEST(FreezeTest, CronWindowInUtcSpansMidnight) {
  const std::vector<FreezeWindow> windows = {Cron("0 22 * * *", hours(4))};
  EXPECT_EQ(EndAt(windows, "2026-11-26T21:59Z"), "open");
  EXPECT_EQ(EndAt(windows, "2026-11-26T22:00Z"), "2026-11-27T02:00:00Z");
  EXPECT_EQ(EndAt(windows, "2026-11-27T01:59:59Z"), "2026-11-27T02:00:00Z");
  EXPECT_EQ(EndAt(windows, "2026-11-27T02:00Z"), "open");
}

TEST(FreezeTest, WeekendWindowInBerlinWinterTime) {
  if (!HaveBerlin()) GTEST_SKIP() << "no zoneinfo for Europe/Berlin";
  const std::vector<FreezeWindow> windows = {Cron("0 18 * * FRI", hours(62), "Europe/Berlin")};
  // Friday 2026-11-27 18:00 CET is 17:00Z; 62 h later is Monday 08:00 CET.
  EXPECT_EQ(EndAt(windows, "2026-11-27T16:59Z"), "open");
  EXPECT_EQ(EndAt(windows, "2026-11-27T17:00Z"), "2026-11-30T07:00:00Z");
  EXPECT_EQ(EndAt(windows, "2026-11-29T12:00Z"), "2026-11-30T07:00:00Z");
  EXPECT_EQ(EndAt(windows, "2026-11-30T07:00Z"), "open");
  auto freeze = ActiveFreeze(windows, At("2026-11-28T00:00Z"));
  ASSERT_TRUE(freeze.has_value());
  EXPECT_EQ(freeze->reason, "weekend");
  EXPECT_EQ(FormatUtc(freeze->from_ms), "2026-11-27T17:00:00Z");
}

TEST(FreezeTest, WindowsFollowBerlinAcrossTheSpringChange) {
  if (!HaveBerlin()) GTEST_SKIP() << "no zoneinfo for Europe/Berlin";
  const std::vector<FreezeWindow> weekend = {Cron("0 18 * * FRI", hours(62), "Europe/Berlin")};
  // Opens at 18:00 CET (17:00Z); the clocks go forward on Sunday; the duration is elapsed time,
  // so it ends at 07:00Z (09:00 CEST).
  EXPECT_EQ(EndAt(weekend, "2027-03-29T06:30Z"), "2027-03-29T07:00:00Z");
  // The next Friday 18:00 is CEST: 16:00Z.
  EXPECT_EQ(EndAt(weekend, "2027-04-02T15:59Z"), "open");
  EXPECT_EQ(EndAt(weekend, "2027-04-02T16:00Z"), "2027-04-05T06:00:00Z");
  // 02:30 does not exist on 2027-03-28 in Berlin: that day's window does not open.
  const std::vector<FreezeWindow> night = {Cron("30 2 * * *", minutes(10), "Europe/Berlin")};
  EXPECT_EQ(EndAt(night, "2027-03-27T01:35Z"), "2027-03-27T01:40:00Z");
  EXPECT_EQ(EndAt(night, "2027-03-28T00:35Z"), "open");
  EXPECT_EQ(EndAt(night, "2027-03-28T01:35Z"), "open");
}

TEST(FreezeTest, AWindowAtARepeatedHourOpensBothTimesInAutumn) {
  if (!HaveBerlin()) GTEST_SKIP() << "no zoneinfo for Europe/Berlin";
  const std::vector<FreezeWindow> night = {Cron("30 2 * * *", minutes(10), "Europe/Berlin")};
  EXPECT_EQ(EndAt(night, "2026-10-25T00:35Z"), "2026-10-25T00:40:00Z");  // 02:30 CEST
  EXPECT_EQ(EndAt(night, "2026-10-25T01:00Z"), "open");
  EXPECT_EQ(EndAt(night, "2026-10-25T01:35Z"), "2026-10-25T01:40:00Z");  // 02:30 CET
}

TEST(FreezeTest, OneOffRangeInItsZone) {
  if (!HaveBerlin()) GTEST_SKIP() << "no zoneinfo for Europe/Berlin";
  FreezeWindow range;
  range.from_civil_s = *ParseCivil("2026-12-24T00:00");
  range.to_civil_s = *ParseCivil("2026-12-27");
  range.timezone = "Europe/Berlin";
  range.reason = "holidays";
  const std::vector<FreezeWindow> windows = {range};
  EXPECT_EQ(EndAt(windows, "2026-12-23T22:59Z"), "open");
  EXPECT_EQ(EndAt(windows, "2026-12-23T23:00Z"), "2026-12-26T23:00:00Z");
  EXPECT_EQ(EndAt(windows, "2026-12-26T23:00Z"), "open");
}

TEST(FreezeTest, OfOverlappingWindowsTheOneEndingLastCounts) {
  const std::vector<FreezeWindow> windows = {Cron("0 22 * * *", hours(4)),
                                             Cron("0 23 * * *", hours(1))};
  EXPECT_EQ(EndAt(windows, "2026-11-26T23:30Z"), "2026-11-27T02:00:00Z");
}

TEST(FreezeTest, OffsetsComeFromTheZoneFile) {
  if (!HaveBerlin()) GTEST_SKIP() << "no zoneinfo for Europe/Berlin";
  EXPECT_EQ(UtcOffset("Europe/Berlin", At("2026-07-01T00:00Z"))->count(), 7200);
  EXPECT_EQ(UtcOffset("Europe/Berlin", At("2026-01-01T00:00Z"))->count(), 3600);
  EXPECT_EQ(UtcOffset("UTC", 0)->count(), 0);
  EXPECT_FALSE(UtcOffset("Europe/Berln", 0).ok());
}

TEST(FreezeTest, InstantsParseAndFormat) {
  EXPECT_EQ(FormatUtc(At("2026-11-27T18:00Z")), "2026-11-27T18:00:00Z");
  EXPECT_EQ(At("2026-11-27T19:00+01:00"), At("2026-11-27T18:00:00Z"));
  EXPECT_EQ(At("2026-11-27T16:30-01:30"), At("2026-11-27T18:00Z"));
  for (std::string_view bad : {"2026-11-27", "2026-11-27T18:00", "2026-13-01T00:00Z",
                               "2026-02-30T00:00Z", "tomorrow", "2026-11-27T25:00Z"}) {
    auto parsed = ParseUtc(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalid);
  }
  EXPECT_FALSE(ParseCivil("2026-12-24T00:00Z").ok());
}

TEST(FreezeTest, LoaderReadsRangesReasonsAndThePolicy) {
  auto pipelines = ParsePipelines(R"(
environments:
  - name: prod
    driver: local
    strategy: direct
    on_freeze: wait
    freeze:
      - { cron: "0 18 * * FRI", duration: 62h, timezone: Europe/Berlin, reason: weekend }
      - { from: "2026-12-24T00:00", to: "2026-12-27T00:00", reason: holidays }
strategies:
  direct: { steps: [] }
drivers:
  local: { type: local }
)",
                                  "test.yaml");
  ASSERT_TRUE(pipelines.ok()) << pipelines.error().message();
  const Environment& prod = pipelines->environments[0];
  EXPECT_EQ(prod.on_freeze, OnFreeze::kWait);
  ASSERT_EQ(prod.freeze.size(), 2u);
  EXPECT_EQ(prod.freeze[0].reason, "weekend");
  EXPECT_EQ(prod.freeze[1].reason, "holidays");
  EXPECT_EQ(prod.freeze[1].timezone, "UTC");
  EXPECT_EQ(EndAt(prod.freeze, "2026-12-25T12:00Z"), "2026-12-27T00:00:00Z");
}

}  // namespace
}  // namespace shipd
