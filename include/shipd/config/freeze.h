// Freeze evaluation: whether an environment's freeze windows (from the pipelines) cover an
// instant and when that freeze ends; plus the instant formats the API and CLI use. Zones are read
// from TZif files under $TZDIR (default /usr/share/zoneinfo) once and cached. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shipd/common/result.h"
#include "shipd/config/pipelines.h"

namespace shipd {

// One freeze in force: [from_ms, until_ms) in UTC milliseconds.
struct FreezeSpan {
  int64_t from_ms = 0;
  int64_t until_ms = 0;
  std::string reason;  // the window's reason; may be empty
};

// Of the windows covering `now_ms`, the one that ends last; nullopt when none covers it. A cron
// window is open for `duration` from each minute its cron matches in its zone's civil time.
std::optional<FreezeSpan> ActiveFreeze(const std::vector<FreezeWindow>& windows, int64_t now_ms);

// The first minute after `after_ms` at which `cron` matches in `zone`'s civil time (a train's
// next departure); nullopt when it never matches (30 February). kNotFound or kInvalid when the
// zone cannot be read.
Result<std::optional<int64_t>> NextCronMatch(const CronSchedule& cron, std::string_view zone,
                                             int64_t after_ms);

// Seconds east of UTC in `zone` at the instant. kNotFound or kInvalid when the zone cannot be read.
Result<std::chrono::seconds> UtcOffset(std::string_view zone, int64_t utc_ms);

// "2026-11-27T18:00:00Z" (whole seconds, UTC).
std::string FormatUtc(int64_t ms);

// "2026-11-27T18:00Z", "2026-11-27T18:00:00Z" or with an offset ("...T19:00+01:00"). kInvalid
// (quoting the text) otherwise.
Result<int64_t> ParseUtc(std::string_view text);

// A civil date-time without offset, "2026-12-24", "2026-12-24T00:00" or "2026-12-24T00:00:00",
// as seconds since the epoch read as if it were UTC.
Result<int64_t> ParseCivil(std::string_view text);

// The UTC instant (ms) of a civil time (as ParseCivil returns) in `zone`. A civil time skipped by
// a DST change maps to the instant the same number of seconds after the change.
Result<int64_t> CivilToUtc(int64_t civil_seconds, std::string_view zone);

}  // namespace shipd
