// Freeze evaluation over TZif files. libstdc++ 12 has no std::chrono::tzdb, and setting TZ for
// localtime_r is process-wide, so zones are read here: the transitions and their UTC offsets of
// the 64-bit (v2+) data block. Past the file's last transition the last offset is kept; Debian's
// "fat" zone files list transitions up to 2037 (docs/governance.md).

#include "shipd/config/freeze.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>

namespace shipd {
namespace {

namespace fs = std::filesystem;
using std::chrono::days;
using std::chrono::seconds;
using std::chrono::sys_days;
using std::chrono::year_month_day;

constexpr int64_t kMinuteMs = 60'000;

// UTC offsets of one zone over time.
struct Zone {
  std::vector<int64_t> transitions;  // UTC seconds, ascending
  std::vector<int32_t> offsets;      // offsets[i] applies from transitions[i]
  int32_t initial = 0;               // before the first transition

  int32_t OffsetAt(int64_t utc_s) const {
    auto it = std::upper_bound(transitions.begin(), transitions.end(), utc_s);
    if (it == transitions.begin()) return initial;
    return offsets[static_cast<size_t>(std::distance(transitions.begin(), it) - 1)];
  }
};

int64_t BigEndian(const std::string& data, size_t pos, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i)
    value = (value << 8) | static_cast<unsigned char>(data[pos + i]);
  if (width == 4) return static_cast<int32_t>(static_cast<uint32_t>(value));
  return static_cast<int64_t>(value);
}

Result<Zone> ParseTzif(const std::string& data, const std::string& name) {
  auto bad = [&name](const char* what) {
    return Error(ErrorCode::kInvalid, "timezone " + name + ": " + what);
  };
  auto header = [&](size_t pos, std::array<int64_t, 6>* counts) -> bool {
    if (data.size() < pos + 44 || data.compare(pos, 4, "TZif") != 0) return false;
    for (size_t i = 0; i < 6; ++i) (*counts)[i] = BigEndian(data, pos + 20 + 4 * i, 4);
    return true;
  };
  std::array<int64_t, 6> c{};  // isutcnt isstdcnt leapcnt timecnt typecnt charcnt
  if (!header(0, &c)) return bad("not a TZif file");
  size_t pos = 44;
  size_t time_width = 4;
  if (data[4] >= '2') {  // skip the 32-bit block; read the 64-bit one
    pos += static_cast<size_t>(c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0]);
    if (!header(pos, &c)) return bad("truncated TZif file");
    pos += 44;
    time_width = 8;
  }
  const auto timecnt = static_cast<size_t>(c[3]);
  const auto typecnt = static_cast<size_t>(c[4]);
  if (typecnt == 0 || data.size() < pos + timecnt * (time_width + 1) + typecnt * 6) {
    return bad("truncated TZif file");
  }
  Zone zone;
  const size_t indices = pos + timecnt * time_width;
  const size_t types = indices + timecnt;
  auto offset_of = [&](size_t type) {
    return static_cast<int32_t>(BigEndian(data, types + 6 * type, 4));
  };
  for (size_t i = 0; i < timecnt; ++i) {
    const auto type = static_cast<unsigned char>(data[indices + i]);
    if (type >= typecnt) return bad("transition names an unknown type");
    zone.transitions.push_back(BigEndian(data, pos + i * time_width, time_width));
    zone.offsets.push_back(offset_of(type));
  }
  zone.initial = offset_of(0);
  return zone;
}

Result<std::shared_ptr<const Zone>> LoadZone(std::string_view name) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Zone>, std::less<>> cache;
  std::lock_guard lock(mutex);
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  auto zone = std::make_shared<Zone>();
  if (name != "UTC") {
    const char* tzdir = std::getenv("TZDIR");
    fs::path dir = (tzdir != nullptr && *tzdir != '\0') ? fs::path(tzdir) : "/usr/share/zoneinfo";
    if (name.empty() || name.front() == '/' || name.find("..") != std::string_view::npos) {
      return Error(ErrorCode::kInvalid, "\"" + std::string(name) + "\" is not a timezone name");
    }
    std::ifstream in(dir / name, std::ios::binary);
    if (!in) return Error(ErrorCode::kNotFound, "unknown timezone \"" + std::string(name) + "\"");
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto parsed = ParseTzif(data, std::string(name));
    if (!parsed.ok()) return parsed.error();
    *zone = std::move(*parsed);
  }
  cache.emplace(std::string(name), zone);
  return std::shared_ptr<const Zone>(std::move(zone));
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Whether the cron's day fields accept the day (the rule of CronSchedule::Matches).
bool DayMatches(const CronSchedule& cron, int day_of_month, int day_of_week) {
  const bool dom = cron.days_of_month[static_cast<size_t>(day_of_month)];
  const bool dow = cron.days_of_week[static_cast<size_t>(day_of_week)];
  if (cron.day_of_month_star || cron.day_of_week_star) return dom && dow;
  return dom || dow;
}

// The civil minute an instant falls in, in a zone, with what a cron expression looks at.
struct CivilMinute {
  int64_t minute_of_day = 0;
  int minute = 0, hour = 0, day_of_month = 0, month = 0, day_of_week = 0;

  CivilMinute(const Zone& zone, int64_t utc_ms) {
    const int64_t utc_s = FloorDiv(utc_ms, 1000);
    const int64_t local_s = utc_s + zone.OffsetAt(utc_s);
    const int64_t day = FloorDiv(local_s, 86400);
    minute_of_day = (local_s - day * 86400) / 60;
    const year_month_day ymd{sys_days{days{day}}};
    day_of_week = static_cast<int>(((day % 7) + 11) % 7);  // 1970-01-01: Thursday
    hour = static_cast<int>(minute_of_day / 60);
    minute = static_cast<int>(minute_of_day % 60);
    day_of_month = static_cast<int>(static_cast<unsigned>(ymd.day()));
    month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  }
  bool Matches(const CronSchedule& cron) const {
    return cron.Matches(minute, hour, day_of_month, month, day_of_week);
  }
  // Whether no minute of this civil day (or hour) can match: the walks skip it whole.
  bool DayExcluded(const CronSchedule& cron) const {
    return !cron.months[static_cast<size_t>(month)] || !DayMatches(cron, day_of_month, day_of_week);
  }
  bool HourExcluded(const CronSchedule& cron) const {
    return !cron.hours[static_cast<size_t>(hour)];
  }
};

// The latest minute T <= now with T + duration > now at which the cron matches in the zone's
// civil time. Walks back minute by minute, skipping local days and hours that cannot match.
std::optional<int64_t> LatestOpening(const FreezeWindow& window, const Zone& zone, int64_t now_ms) {
  const CronSchedule& cron = window.cron;
  const int64_t earliest = now_ms - window.duration.count();  // exclusive
  int64_t t = FloorDiv(now_ms, kMinuteMs) * kMinuteMs;
  while (t > earliest) {
    const CivilMinute civil(zone, t);
    if (civil.Matches(cron)) return t;
    if (civil.DayExcluded(cron)) {
      t -= (civil.minute_of_day + 1) * kMinuteMs;
    } else if (civil.HourExcluded(cron)) {
      t -= (civil.minute + 1) * kMinuteMs;
    } else {
      t -= kMinuteMs;
    }
  }
  return std::nullopt;
}

// The earliest minute T > after_ms at which the cron matches in the zone's civil time, within
// `horizon_days`. Walks forward, skipping local days and hours that cannot match.
std::optional<int64_t> EarliestOpening(const CronSchedule& cron, const Zone& zone, int64_t after_ms,
                                       int64_t horizon_days) {
  int64_t t = (FloorDiv(after_ms, kMinuteMs) + 1) * kMinuteMs;
  const int64_t end = after_ms + horizon_days * 86'400'000;
  while (t <= end) {
    const CivilMinute civil(zone, t);
    if (civil.Matches(cron)) return t;
    if (civil.DayExcluded(cron)) {
      t += (1440 - civil.minute_of_day) * kMinuteMs;
    } else if (civil.HourExcluded(cron)) {
      t += (60 - civil.minute) * kMinuteMs;
    } else {
      t += kMinuteMs;
    }
  }
  return std::nullopt;
}

std::string Two(int64_t v) { return (v < 10 ? "0" : "") + std::to_string(v); }

// Reads "YYYY-MM-DD[THH:MM[:SS]]" from the front of `text`; the rest is left in `text`.
std::optional<int64_t> TakeCivil(std::string_view& text) {
  auto number = [&text](size_t width) -> std::optional<int> {
    if (text.size() < width) return std::nullopt;
    int value = 0;
    for (size_t i = 0; i < width; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    text.remove_prefix(width);
    return value;
  };
  auto literal = [&text](char c) {
    if (text.empty() || text.front() != c) return false;
    text.remove_prefix(1);
    return true;
  };
  auto y = number(4);
  if (!y || !literal('-')) return std::nullopt;
  auto mo = number(2);
  if (!mo || !literal('-')) return std::nullopt;
  auto d = number(2);
  if (!d) return std::nullopt;
  const year_month_day ymd{std::chrono::year{*y}, std::chrono::month{static_cast<unsigned>(*mo)},
                           std::chrono::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  int hour = 0, minute = 0, second = 0;
  if (literal('T')) {
    auto h = number(2);
    if (!h || *h > 23 || !literal(':')) return std::nullopt;
    auto m = number(2);
    if (!m || *m > 59) return std::nullopt;
    hour = *h;
    minute = *m;
    if (literal(':')) {
      auto s = number(2);
      if (!s || *s > 59) return std::nullopt;
      second = *s;
    }
  }
  return sys_days{ymd}.time_since_epoch().count() * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace

std::optional<FreezeSpan> ActiveFreeze(const std::vector<FreezeWindow>& windows, int64_t now_ms) {
  std::optional<FreezeSpan> active;
  for (const FreezeWindow& window : windows) {
    std::optional<FreezeSpan> span;
    if (window.from_civil_s && window.to_civil_s) {
      auto from = CivilToUtc(*window.from_civil_s, window.timezone);
      auto to = CivilToUtc(*window.to_civil_s, window.timezone);
      if (from.ok() && to.ok() && *from <= now_ms && now_ms < *to) {
        span = FreezeSpan{*from, *to, window.reason};
      }
    } else {
      auto zone = LoadZone(window.timezone);
      if (!zone.ok()) continue;  // the loader checked the zone; nothing sensible to do here
      if (auto opened = LatestOpening(window, **zone, now_ms)) {
        span = FreezeSpan{*opened, *opened + window.duration.count(), window.reason};
      }
    }
    if (span && (!active || span->until_ms > active->until_ms)) active = std::move(span);
  }
  return active;
}

Result<std::optional<int64_t>> NextCronMatch(const CronSchedule& cron, std::string_view zone,
                                             int64_t after_ms) {
  auto loaded = LoadZone(zone);
  if (!loaded.ok()) return loaded.error();
  // Five years covers every satisfiable schedule (29 February on a given weekday included).
  return EarliestOpening(cron, **loaded, after_ms, 5 * 366);
}

Result<std::chrono::seconds> UtcOffset(std::string_view zone, int64_t utc_ms) {
  auto loaded = LoadZone(zone);
  if (!loaded.ok()) return loaded.error();
  return seconds((*loaded)->OffsetAt(FloorDiv(utc_ms, 1000)));
}

std::string FormatUtc(int64_t ms) {
  const int64_t s = FloorDiv(ms, 1000);
  const int64_t day = FloorDiv(s, 86400);
  const int64_t rest = s - day * 86400;
  const year_month_day ymd{sys_days{days{day}}};
  return std::to_string(static_cast<int>(ymd.year())) + "-" +
         Two(static_cast<unsigned>(ymd.month())) + "-" + Two(static_cast<unsigned>(ymd.day())) +
         "T" + Two(rest / 3600) + ":" + Two(rest / 60 % 60) + ":" + Two(rest % 60) + "Z";
}

Result<int64_t> ParseUtc(std::string_view text) {
  auto invalid = [&text] {
    return Error(ErrorCode::kInvalid, "\"" + std::string(text) +
                                          "\" is not a UTC time like 2026-11-27T18:00Z or "
                                          "2026-11-27T19:00+01:00");
  };
  std::string_view rest = text;
  auto civil = TakeCivil(rest);
  if (!civil || rest.empty() || text.find('T') == std::string_view::npos) return invalid();
  if (rest == "Z") return *civil * 1000;
  if (rest.size() != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':') return invalid();
  const int sign = rest[0] == '+' ? 1 : -1;
  std::string_view hours = rest.substr(1, 2), minutes = rest.substr(4, 2);
  if (!std::all_of(hours.begin(), hours.end(), ::isdigit) ||
      !std::all_of(minutes.begin(), minutes.end(), ::isdigit)) {
    return invalid();
  }
  const int offset = ((hours[0] - '0') * 10 + (hours[1] - '0')) * 3600 +
                     ((minutes[0] - '0') * 10 + (minutes[1] - '0')) * 60;
  return (*civil - sign * offset) * 1000;
}

Result<int64_t> ParseCivil(std::string_view text) {
  std::string_view rest = text;
  auto civil = TakeCivil(rest);
  if (!civil || !rest.empty()) {
    return Error(ErrorCode::kInvalid, "\"" + std::string(text) +
                                          "\" is not a date-time like 2026-12-24T00:00 (civil "
                                          "time, no offset)");
  }
  return *civil;
}

Result<int64_t> CivilToUtc(int64_t civil_seconds, std::string_view zone) {
  auto loaded = LoadZone(zone);
  if (!loaded.ok()) return loaded.error();
  const Zone& z = **loaded;
  // Guess with the offset at the civil time read as UTC, then correct once with the offset in
  // force at the guess.
  const int64_t guess = civil_seconds - z.OffsetAt(civil_seconds);
  return (civil_seconds - z.OffsetAt(guess)) * 1000;
}

}  // namespace shipd
